//! Command-line verbs.

mod apply;
mod recipe;
mod run;
mod sbom;
mod scan;

use clap::{Parser, Subcommand};
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
}

/// Run the chosen verb. `Ok` carries the exit code for outcomes the verb reports itself.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Apply(a) => apply::run(a),
        Command::Run(a) => run::run(a),
        Command::Sbom(a) => sbom::run(a),
        Command::Scan(a) => scan::run(a),
        Command::Recipe(c) => recipe::run(c),
    }
}
