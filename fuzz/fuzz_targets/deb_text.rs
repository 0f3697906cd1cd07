//! The text formats of a Debian system: deb822 stanzas (control files,
//! `/var/lib/dpkg/status`), `debian/changelog` and `md5sums`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rootwasm_deb::control::paragraphs;
use rootwasm_deb::{Stanza, changelog, md5sums};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    if let Ok(ps) = paragraphs(&text) {
        for (range, st) in &ps {
            // A stanza written back must read back as itself, and its byte
            // range must hold exactly that stanza (status rewrites rely on it).
            let again = Stanza::parse_all(&st.to_text()).expect("written stanza parses");
            assert_eq!(again, [st.clone()], "to_text round trip");
            let alone = paragraphs(&text[range.clone()]).expect("range parses");
            assert_eq!(alone.len(), 1, "range {range:?}");
            assert_eq!(&alone[0].1, st, "range {range:?}");
            let _ = Stanza::parse_all(&st.to_dpkg_text()).expect("dpkg text parses");
        }
    }

    for e in changelog::parse(&text) {
        for id in e.cves() {
            assert!(id.starts_with("CVE-"), "{id}");
        }
        let _ = e.iso_date();
    }

    if let Ok(sums) = md5sums::parse(&text) {
        // What rootwasm writes into info/<pkg>.md5sums must parse back.
        let written = md5sums::format(&sums);
        let back = md5sums::parse(&written).expect("written md5sums parse");
        assert_eq!(back, sums, "md5sums round trip");
    }
});
