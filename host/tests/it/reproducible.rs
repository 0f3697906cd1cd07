//! Every recipe's committed component is what its source builds to, so a
//! reviewer can audit the Rust and trust the pinned wasm. Shared components
//! (crates without recipe.toml) must rebuild to the bytes every recipe that
//! uses them pins.

use crate::support::*;

#[test]
fn recipes_rebuild_to_their_pinned_hash() {
    let recipes = repo().join("recipes");
    let mut checked = 0;
    for entry in std::fs::read_dir(&recipes).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.join("Cargo.toml").exists() {
            continue;
        }
        let built = rootwasm::recipe_build::build_component(&dir).unwrap();
        let sha = rootwasm::journal::Sha256Hex::of(&built);
        let rebuild = format!("run `rootwasm recipe build {}`", dir.display());
        if dir.join("recipe.toml").exists() {
            let recipe = rootwasm::recipe::Recipe::load(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            assert_eq!(
                sha.as_str(),
                recipe.manifest.component.sha256,
                "{}: source builds to {sha}, recipe.toml pins another; {rebuild}",
                dir.display(),
            );
        } else {
            let committed = std::fs::read(dir.join(rootwasm::recipe_build::SHARED_COMPONENT))
                .unwrap_or_else(|e| panic!("{}: {e}; {rebuild}", dir.display()));
            assert!(
                committed == built,
                "{}: committed component differs from its source; {rebuild}",
                dir.display()
            );
            // Every recipe that uses it pins this hash (Recipe::load checks the pin).
            let rel = format!("../{}/", dir.file_name().unwrap().to_string_lossy());
            let mut users = 0;
            for r in std::fs::read_dir(&recipes).unwrap() {
                let r = r.unwrap().path();
                if !r.join("recipe.toml").exists() {
                    continue;
                }
                let recipe = rootwasm::recipe::Recipe::load(&r)
                    .unwrap_or_else(|e| panic!("{}: {e}; {rebuild}", r.display()));
                if recipe.manifest.component.path.starts_with(&rel) {
                    assert_eq!(
                        recipe.manifest.component.sha256,
                        sha.as_str(),
                        "{}",
                        r.display()
                    );
                    users += 1;
                }
            }
            assert!(users >= 1, "{}: no recipe uses it", dir.display());
        }
        checked += 1;
    }
    assert!(checked >= 3);
}
