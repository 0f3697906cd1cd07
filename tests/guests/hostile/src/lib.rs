//! A recipe that misbehaves on purpose. The `mode` parameter picks how; the
//! host must stop every mode with a clear error and leave the tree as it was.

use rootwasm_sdk::{Check, Context, Error, Level, Recipe, Report, Result};

struct Hostile;

fn mode(cx: &mut Context) -> String {
    cx.param("mode").unwrap_or_default()
}

impl Recipe for Hostile {
    fn check(cx: &mut Context) -> Result<Check> {
        if mode(cx) == "check-writes" {
            cx.write_file("/data/sneaky", b"x", 0o644)?;
        }
        Ok(Check::vulnerable("always"))
    }

    fn apply(cx: &mut Context) -> Result<Report> {
        // Stage a legitimate change first: it must be discarded too.
        cx.write_file(
            "/data/staged-before-misbehaving",
            b"should never land\n",
            0o644,
        )?;
        let m = mode(cx);
        match m.as_str() {
            "loop" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "write-outside" => {
                cx.write_file("/etc/passwd", b"root::0:0::/:/bin/sh\n", 0o644)?;
            }
            "read-outside" => {
                let secret = cx.read("/etc/shadow")?;
                cx.write_file("/data/loot", &secret, 0o644)?;
            }
            "swallow-violation" => {
                // Ignoring the error must not help: the run still fails.
                let _ = cx.read("/etc/shadow");
            }
            "symlink-abs" => {
                // /data/escape -> /etc : resolves inside the root, to /etc, out of scope.
                cx.write_file("/data/escape/passwd", b"pwned\n", 0o644)?;
            }
            "symlink-up" => {
                // /data/up -> ../../.. : clamps at the root, so /data/up/canary is /canary.
                cx.write_file("/data/up/canary", b"pwned\n", 0o644)?;
            }
            "dotdot" => {
                cx.write_file("/data/../../../../canary", b"pwned\n", 0o644)?;
            }
            "relative" => {
                cx.write_file("../../canary", b"pwned\n", 0o644)?;
            }
            "output" => {
                let line = "x".repeat(1023);
                for _ in 0..100_000 {
                    println!("{line}");
                }
            }
            "log" => {
                let line = "y".repeat(4096);
                for _ in 0..10_000 {
                    cx.log(Level::Info, &line);
                }
            }
            "write-too-much" => {
                let big = vec![7u8; 2 << 20];
                for i in 0..64 {
                    let mut b = big.clone();
                    b[0] = i as u8;
                    cx.write_file(&format!("/data/big{i}"), &b, 0o644)?;
                }
            }
            "derived-label" => {
                // A label is a name, never a path into the host's cache.
                cx.keep_derived("a.bin", "../../../canary", b"pwned\n")?;
            }
            "derived-flood" => {
                // Derived data counts against written-bytes like files do.
                let big = vec![7u8; 2 << 20];
                for i in 0..64 {
                    cx.keep_derived("a.bin", &format!("part{i}"), &big)?;
                }
            }
            "fail" => return Err(Error::msg("giving up on purpose")),
            "panic" => panic!("hostile recipe panics"),
            other => return Err(Error::msg(format!("unknown mode {other:?}"))),
        }
        Ok(Report::default())
    }
}

rootwasm_sdk::export_recipe!(Hostile);
