//! `rootwasm recipe ...`

use anyhow::Context;
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum RecipeCommand {
    /// Build a recipe crate into a wasm component and pin its sha256 in recipe.toml.
    Build {
        /// The recipe directory (holds Cargo.toml and recipe.toml).
        dir: PathBuf,
    },
}

pub fn run(c: RecipeCommand) -> anyhow::Result<ExitCode> {
    match c {
        RecipeCommand::Build { dir } => {
            let sha = rootwasm::recipe_build::build_recipe(&dir)
                .with_context(|| format!("building recipe {}", dir.display()))?;
            // Loading it back checks that the manifest is valid and the pin matches.
            let recipe = rootwasm::manifest::Recipe::load(&dir)?;
            println!(
                "{}: component {} sha256 {sha}",
                recipe.manifest.id, recipe.manifest.component.path
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
