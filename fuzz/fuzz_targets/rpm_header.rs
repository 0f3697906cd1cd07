//! rpm header blobs (the `Packages.blob` column of rpmdb.sqlite); input
//! that starts like a SQLite file goes through the whole database reader.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rootwasm::inventory::rpmdb;

fuzz_target!(|data: &[u8]| {
    if data.starts_with(b"SQLite format 3\0") {
        let _ = rpmdb::read(data, "/var/lib/rpm/rpmdb.sqlite");
        return;
    }
    if let Ok(Some(p)) = rpmdb::fuzz_header(data) {
        assert_eq!(p.ecosystem.as_str(), "rpm");
        assert!(p.version.contains('-'), "{p:?}");
    }
});
