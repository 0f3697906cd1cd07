//! Recipe runtime benchmarks: cold compile, warm-cache run, journaling cost.
//!
//! Run: `cargo bench -p rootwasm --bench runtime`. Every figure is printed
//! next to a peer measured in the same run, as a ratio.

use rootwasm::recipe::Recipe;
use rootwasm::rootfs::DirRoot;
use rootwasm::run::{Outcome, RunOptions, run};
use rootwasm::sandbox::{ComponentCache, Sandbox, SandboxOptions};
use rootwasm::scope::Scope;
use rootwasm::session::{Phase, Session, SessionLimits};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn p90(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() * 9 / 10]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn trivial_recipe(dir: &Path) -> PathBuf {
    let wasm =
        rootwasm::recipe_build::build_component(&repo().join("tests/guests/trivial")).unwrap();
    let d = dir.join("trivial");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("recipe.wasm"), &wasm).unwrap();
    let toml = format!(
        "id = \"trivial\"\ntype = \"backport\"\nsummary = \"bench\"\n[[fixes]]\nid = \"TEST-0000-0001\"\nseverity = \"low\"\npublished = \"2024-01-01\"\n[target]\necosystem = \"generic\"\npackage = \"x\"\naffected = \"*\"\n[component]\npath = \"recipe.wasm\"\nsha256 = \"{}\"\n[capabilities]\nwrite = [\"/etc/rootwasm-trivial\"]\n",
        rootwasm::journal::Sha256Hex::of(&wasm)
    );
    std::fs::write(d.join("recipe.toml"), toml).unwrap();
    d
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let root_dir = tmp.path().join("root");
    std::fs::create_dir_all(root_dir.join("etc")).unwrap();
    let root = Arc::new(DirRoot::open(&root_dir).unwrap());
    let trivial = Recipe::load(&trivial_recipe(tmp.path())).unwrap();
    let requests = Recipe::load(&repo().join("recipes/requests-cve-2023-32681")).unwrap();
    let opts = RunOptions::default();

    // 1. Cold compile: an empty cache each time.
    println!("## cold compile (empty cache, Cranelift)");
    for (name, r) in [
        ("trivial", &trivial),
        ("requests-cve-2023-32681", &requests),
    ] {
        let mut times = Vec::new();
        for i in 0..5 {
            let cache = ComponentCache::new(tmp.path().join(format!("cold-{name}-{i}")));
            let sb = Sandbox::new(SandboxOptions {
                cache,
                ceilings: Default::default(),
            })
            .unwrap();
            let t = Instant::now();
            sb.load(r).unwrap();
            times.push(t.elapsed());
        }
        println!(
            "{name} ({} KiB wasm): median {}",
            r.component.len() / 1024,
            ms(median(times))
        );
    }

    // 2. Warm cache: load from the on-disk cache, instantiate, check/apply/check.
    println!("\n## warm cache: load + instantiate + check, apply, check (trivial recipe)");
    let cache = ComponentCache::new(tmp.path().join("warm"));
    let sb = Sandbox::new(SandboxOptions {
        cache: cache.clone(),
        ceilings: Default::default(),
    })
    .unwrap();
    sb.load(&trivial).unwrap();
    let mut full = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let r = run(&sb, &trivial, root.clone(), &opts);
        full.push(t.elapsed());
        assert!(
            matches!(r.outcome, Outcome::Applied { .. }),
            "{:?}",
            r.outcome
        );
    }
    // The peer: spawning a trivial process (what a rebuild-based tool pays per step).
    let mut spawn = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        std::process::Command::new("true").status().unwrap();
        spawn.push(t.elapsed());
    }
    let (m, s) = (median(full.clone()), median(spawn));
    println!(
        "rootwasm run (trivial): median {} p90 {}",
        ms(m),
        ms(p90(full))
    );
    println!(
        "peer `true` process spawn: median {} -> ratio {:.2}",
        ms(s),
        m.as_secs_f64() / s.as_secs_f64()
    );

    // 3. The real recipe, warm, against GNU patch doing the same edit unsandboxed.
    println!("\n## requests backport, warm cache, vs `patch`");
    let fixture = repo().join("tests/fixtures/requests-2.30.0/rootfs");
    let req_root = tmp.path().join("req");
    assert!(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(&fixture)
            .arg(&req_root)
            .status()
            .unwrap()
            .success()
    );
    let req_view = Arc::new(DirRoot::open(&req_root).unwrap());
    sb.load(&requests).unwrap();
    let mut ours = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let r = run(&sb, &requests, req_view.clone(), &opts);
        ours.push(t.elapsed());
        assert!(matches!(r.outcome, Outcome::Applied { .. }));
    }
    let site = req_root.join("usr/local/lib/python3.11/site-packages");
    let patch_file = repo().join("recipes/requests-cve-2023-32681/cve-2023-32681.patch");
    let mut peer = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let ok = std::process::Command::new("patch")
            .args(["--dry-run", "-s", "-p1", "-d"])
            .arg(&site)
            .arg("-i")
            .arg(&patch_file)
            .status()
            .unwrap()
            .success();
        peer.push(t.elapsed());
        assert!(ok);
    }
    let (a, b) = (median(ours), median(peer));
    println!(
        "rootwasm run (check, apply, check; journal + RECORD): median {}",
        ms(a)
    );
    println!(
        "peer `patch --dry-run -p1`: median {} -> ratio {:.2}",
        ms(b),
        a.as_secs_f64() / b.as_secs_f64()
    );

    // 4. Journaling: staged, scoped, journaled writes vs plain writes to disk.
    println!("\n## journaling overhead: 1000 x 4 KiB files");
    let scope = Scope::new(&["/**".into()], &["/**".into()]).unwrap();
    let limits = SessionLimits {
        max_written: 1 << 30,
        max_read: 1 << 30,
    };
    let data: Vec<Vec<u8>> = (0..1000u32).map(|i| i.to_le_bytes().repeat(1024)).collect();
    let mut staged = Vec::new();
    let mut plain = Vec::new();
    let mut commits = Vec::new();
    for round in 0..5 {
        let d = tmp.path().join(format!("j{round}"));
        std::fs::create_dir_all(d.join("data")).unwrap();
        let view = Arc::new(DirRoot::open(&d).unwrap());
        let t = Instant::now();
        let mut s = Session::new(view.clone(), scope.clone(), "bench", limits);
        s.set_phase(Phase::Apply);
        for (i, b) in data.iter().enumerate() {
            s.write_file(&format!("/data/f{i}"), b.clone(), 0o644)
                .unwrap();
        }
        let changes = s.finish();
        staged.push(t.elapsed());
        let t = Instant::now();
        rootwasm::commit::commit(&view, &changes.entries, &changes.blobs).unwrap();
        commits.push(t.elapsed());
        let p = tmp.path().join(format!("p{round}"));
        std::fs::create_dir_all(&p).unwrap();
        let t = Instant::now();
        for (i, b) in data.iter().enumerate() {
            std::fs::write(p.join(format!("f{i}")), b).unwrap();
        }
        plain.push(t.elapsed());
    }
    let (st, pl, co) = (median(staged), median(plain), median(commits));
    println!(
        "stage + journal (in memory, sha256 per file): median {}",
        ms(st)
    );
    println!("commit of that journal to disk: median {}", ms(co));
    println!(
        "peer plain std::fs::write: median {} -> stage+journal+commit / plain = {:.2}",
        ms(pl),
        (st + co).as_secs_f64() / pl.as_secs_f64()
    );
}
