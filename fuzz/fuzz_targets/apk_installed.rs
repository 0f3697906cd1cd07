//! apk's installed database (`/lib/apk/db/installed`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rootwasm::inventory::apk::{INSTALLED, packages};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for p in packages(&text, INSTALLED) {
        assert!(!p.name.is_empty() && !p.version.is_empty(), "{p:?}");
        assert_eq!(p.ecosystem.as_str(), "apk");
    }
});
