//! A `.deb`: the ar reader, gz/xz/zst control and data tars, the tar
//! entries and the control stanza (`rootwasm_deb::Deb`), then everything a
//! recipe reads from a parsed package.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rootwasm_deb::{Deb, Limits, Stanza, md5sums};

/// Small limits: a bomb is refused in milliseconds.
const LIMITS: Limits = Limits {
    max_unpacked_bytes: 16 << 20,
    max_entries: 10_000,
};

fuzz_target!(|data: &[u8]| {
    let _ = Deb::parse_control(data, &LIMITS);
    let Ok(deb) = Deb::parse(data, &LIMITS) else {
        return;
    };
    let _ = (
        deb.package(),
        deb.version(),
        deb.architecture(),
        deb.info_name(),
    );
    for c in deb.conffiles() {
        let _ = deb.entry(&c);
    }
    if let Some(m) = deb.control_files.get("md5sums") {
        let _ = md5sums::parse(&String::from_utf8_lossy(m));
    }
    // The stanza dpkg's status gets must parse back to the same fields.
    let text = deb.control.to_dpkg_text();
    let back = Stanza::parse_all(&text).expect("rootwasm's own stanza parses");
    assert_eq!(back.len(), 1, "{text:?}");
    for e in &deb.data {
        assert!(
            e.path.starts_with('/') && !e.path.contains("/../"),
            "{:?}",
            e.path
        );
    }
});
