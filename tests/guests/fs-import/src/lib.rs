//! A recipe that reaches for the host filesystem through WASI. Calling
//! `std::fs` makes the component import `wasi:filesystem`; the host must
//! refuse to load it.

use rootwasm_sdk::{Check, Context, Recipe, Report, Result};

struct FsImport;

impl Recipe for FsImport {
    fn check(_: &mut Context) -> Result<Check> {
        Ok(Check::vulnerable("always"))
    }
    fn apply(_: &mut Context) -> Result<Report> {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        Ok(Report {
            notes: vec![passwd],
            ..Report::default()
        })
    }
}

rootwasm_sdk::export_recipe!(FsImport);
