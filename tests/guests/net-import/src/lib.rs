//! A recipe that tries to phone home. Using `std::net` makes the component
//! import `wasi:sockets`; the host must refuse to load it.

use rootwasm_sdk::{Check, Context, Recipe, Report, Result};

struct NetImport;

impl Recipe for NetImport {
    fn check(_: &mut Context) -> Result<Check> {
        Ok(Check::vulnerable("always"))
    }
    fn apply(_: &mut Context) -> Result<Report> {
        let reached = std::net::TcpStream::connect("127.0.0.1:9").is_ok();
        Ok(Report {
            notes: vec![format!("reached: {reached}")],
            ..Report::default()
        })
    }
}

rootwasm_sdk::export_recipe!(NetImport);
