//! Command-line verbs.

mod apply;
mod explore;
mod key;
mod limits;
mod recipe;
mod registry;
mod review;
mod run;
mod sbom;
mod scan;
mod serve;
pub(crate) mod text;

use clap::{Parser, Subcommand};

/// An error and its causes, joined with ": ", without repeating a cause
/// that the message before it already ends with (an I/O error shown both in
/// a message and as its source read "Not a directory: Not a directory").
pub fn message(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for c in e.chain() {
        let s = c.to_string();
        if msg.ends_with(&s) {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&s);
    }
    msg
}
use std::process::ExitCode;

/// Patch vulnerable packages in container images, in place, with sandboxed recipes.
#[derive(Parser, Debug)]
#[command(name = "rootwasm", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Patch an image: run the recipes that apply and add one layer with their changes.
    Apply(apply::ApplyArgs),
    /// Write an SBOM (CycloneDX 1.6 or SPDX 2.3 JSON) of an image.
    Sbom(sbom::SbomArgs),
    /// List what is installed in an image and what each recipe says about it.
    Scan(scan::ScanArgs),
    /// Run one recipe against a directory tree (dry run unless --commit).
    Run(run::RunArgs),
    /// Work on recipes.
    #[command(subcommand)]
    Recipe(recipe::RecipeCommand),
    /// Print a document attached to a patched image (sbom, spdx, vex, provenance, journal).
    Attestation(review::AttestationArgs),
    /// Show the patches of an image: CVEs, when, how, versions, recipe and results.
    History(review::HistoryArgs),
    /// Show every recorded change: unified diffs for text, size/hash/mode otherwise.
    Diff(review::DiffArgs),
    /// Rebuild the patch layer from the base layers and the journal, and compare digests.
    Replay(review::Target),
    /// Check the signature, subject, layers, and that the journal explains the patch layer.
    Verify(review::VerifyArgs),
    /// Write the Patch Explorer page: one self-contained HTML file per patched image.
    Explore(explore::ExploreArgs),
    /// Serve the evidence of a directory of patched images over HTTP (read-only, bearer tokens).
    Serve(serve::ServeArgs),
    /// The key that signs provenance.
    #[command(subcommand)]
    Key(key::KeyCommand),
}

/// Run the chosen verb. `Ok` carries the exit code for outcomes the verb reports itself.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Apply(a) => apply::run(a),
        Command::Run(a) => run::run(a),
        Command::Sbom(a) => sbom::run(a),
        Command::Scan(a) => scan::run(a),
        Command::Recipe(c) => recipe::run(c),
        Command::Key(c) => key::run(c),
        Command::Attestation(a) => review::attestation(a),
        Command::History(a) => review::history(a),
        Command::Diff(a) => review::diff(a),
        Command::Replay(t) => review::replay(t),
        Command::Verify(a) => review::verify(a),
        Command::Explore(a) => explore::run(a),
        Command::Serve(a) => serve::run(a),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::from_raw_os_error(20);
        let inner = rootwasm::image::ImageError::io("/out/index.json")(io);
        let e = anyhow::Error::new(inner).context("writing oci:/out");
        let m = super::message(&e);
        assert_eq!(m.matches("os error 20").count(), 1, "{m}");
        assert!(m.starts_with("writing oci:/out: /out/index.json: "), "{m}");
    }
}
