//! The `rootwasm` command. Each verb is a thin file in `cli/` over the library.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::dispatch(args) {
        Ok(code) => code,
        // `rootwasm diff | head`: a closed pipe is the reader's choice, not an error.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            // Errors quote names and bytes from images and journals.
            let msg = cli::text::escape_str(&cli::message(&e), cli::text::Keep::Lines);
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
    }
}
