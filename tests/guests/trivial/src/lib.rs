//! The smallest useful recipe: writes one file. Used by the benchmarks and
//! the journal tests.

use rootwasm_sdk::{Check, Context, Recipe, Report, Result};

struct Trivial;

const PATH: &str = "/etc/rootwasm-trivial";

impl Recipe for Trivial {
    fn check(cx: &mut Context) -> Result<Check> {
        Ok(if cx.exists(PATH)? {
            Check::fixed("marker present")
        } else {
            Check::vulnerable("marker absent")
        })
    }
    fn apply(cx: &mut Context) -> Result<Report> {
        cx.write_file(PATH, b"patched\n", 0o644)?;
        Ok(Report {
            fixed: vec!["TEST-0000-0001".into()],
            ..Report::default()
        })
    }
}

rootwasm_sdk::export_recipe!(Trivial);
