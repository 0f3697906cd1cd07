//! Every recipe's committed component is what its source builds to, so a
//! reviewer can audit the Rust and trust the pinned wasm.

use crate::support::*;

#[test]
fn recipes_rebuild_to_their_pinned_hash() {
    let mut checked = 0;
    for entry in std::fs::read_dir(repo().join("recipes")).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.join("Cargo.toml").exists() {
            continue;
        }
        let recipe = rootwasm::manifest::Recipe::load(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let built = rootwasm::recipe_build::build_component(&dir).unwrap();
        let sha = rootwasm::journal::Sha256Hex::of(&built);
        assert_eq!(
            sha.0,
            recipe.manifest.component.sha256,
            "{}: source builds to {sha}, recipe.toml pins another; run `rootwasm recipe build {}`",
            dir.display(),
            dir.display()
        );
        checked += 1;
    }
    assert!(checked >= 1);
}
