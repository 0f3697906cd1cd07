//! The comparators against each ecosystem's own implementation.

use crate::support::*;
use rootwasm::version::{Ecosystem, compare};
use std::cmp::Ordering;
use std::io::Write;
use std::process::{Command, Stdio};

/// A small deterministic generator, so failures reproduce.
pub struct Lcg(pub u64);
impl Lcg {
    pub fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

pub fn pairs(versions: &[String], n: usize) -> Vec<(String, String)> {
    let mut r = Lcg(42);
    (0..n)
        .map(|_| {
            (
                versions[r.next(versions.len())].clone(),
                versions[r.next(versions.len())].clone(),
            )
        })
        .collect()
}

#[test]
fn debian_versions_agree_with_dpkg() {
    // Real versions: every package installed on this machine, plus generated
    // variations on the rules that matter (epochs, tildes, revisions, +debNuM).
    let out = Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}\\n"])
        .output()
        .unwrap();
    let mut versions: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    versions.sort();
    versions.dedup();
    assert!(
        versions.len() > 100,
        "only {} installed versions",
        versions.len()
    );
    for base in ["1.0", "1.0.1", "2.5.0", "10", "1.0a", "1.0.0"] {
        for epoch in ["", "1:", "2:"] {
            for suffix in [
                "",
                "~rc1",
                "~~",
                "+b1",
                "-1",
                "-1+deb12u2",
                "-1+deb12u10",
                "-1~bpo12+1",
                "-0ubuntu1.2",
            ] {
                versions.push(format!("{epoch}{base}{suffix}"));
            }
        }
    }
    let ps = pairs(&versions, 1500);
    let mut disagreements = Vec::new();
    for (a, b) in &ps {
        let dpkg = |op: &str| {
            Command::new("dpkg")
                .args(["--compare-versions", a, op, b])
                .status()
                .unwrap()
                .success()
        };
        let want = if dpkg("lt") {
            Ordering::Less
        } else if dpkg("gt") {
            Ordering::Greater
        } else {
            Ordering::Equal
        };
        let got = compare(Ecosystem::Deb, a, b).unwrap();
        if got != want {
            disagreements.push(format!("{a} vs {b}: dpkg {want:?}, rootwasm {got:?}"));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} pairs disagree:\n{}",
        disagreements.len(),
        ps.len(),
        disagreements.join("\n")
    );
}

#[test]
fn pep440_versions_agree_with_packaging() {
    let mut versions = Vec::new();
    for release in [
        "0.1", "1.0", "1.0.0", "1.0.1", "1.1", "2.30.0", "2.31.0", "10.0",
    ] {
        for epoch in ["", "1!"] {
            for pre in ["", "a1", "b2", "rc1", "rc10", ".alpha3", "c1"] {
                for post in ["", ".post1", ".post0", "-1"] {
                    for dev in ["", ".dev0", ".dev5"] {
                        versions.push(format!("{epoch}{release}{pre}{post}{dev}"));
                    }
                }
            }
        }
    }
    versions.extend(
        [
            "1.0+local",
            "1.0+local.1",
            "1.0+abc.5",
            "1.0+5",
            "v1.0",
            "1.0.0.0.0",
            "1.0.POST2",
            "1.0-r1",
        ]
        .map(String::from),
    );
    let ps = pairs(&versions, 4000);
    let python = std::env::var("ROOTWASM_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut oracle = Command::new(python);
    oracle.arg(repo().join("tests/python/pep440_oracle.py"));
    agree(Ecosystem::Pypi, &ps, oracle, "packaging");
}

#[test]
fn npm_versions_agree_with_node_semver() {
    let mut versions = Vec::new();
    for core in [
        "0.0.1", "0.1.0", "1.0.0", "1.2.3", "1.10.0", "2.0.0", "10.20.30",
    ] {
        for pre in [
            "",
            "-alpha",
            "-alpha.1",
            "-alpha.beta",
            "-beta.2",
            "-beta.11",
            "-rc.1",
            "-0",
            "-1.2.3",
            "-x-y",
        ] {
            for build in ["", "+build.5", "+001"] {
                versions.push(format!("{core}{pre}{build}"));
            }
        }
    }
    let ps = pairs(&versions, 4000);
    let mut oracle = Command::new("node");
    oracle
        .arg(repo().join("tests/node/semver_oracle.js"))
        .arg(repo().join("tests/fixtures/npm-app/rootfs/app/node_modules/semver"));
    agree(Ecosystem::Npm, &ps, oracle, "node-semver");
}

#[test]
fn gem_versions_agree_with_rubygems() {
    let mut versions = Vec::new();
    for core in [
        "0", "1", "1.0", "1.0.0", "1.2", "2.2.8", "2.2.8.1", "2.2.22", "10.0.1",
    ] {
        for pre in [
            "", ".a", ".a1", ".b.2", ".rc1", ".pre.1", "-rc1", ".0.a", "a",
        ] {
            versions.push(format!("{core}{pre}"));
        }
    }
    let ps = pairs(&versions, 4000);
    let mut oracle = Command::new("/usr/bin/ruby");
    oracle.arg(repo().join("tests/ruby/gem_version_oracle.rb"));
    agree(Ecosystem::Gem, &ps, oracle, "RubyGems");
}

/// Feed `pairs` to `oracle` (one "A<TAB>B" per line, answers -1/0/1/error)
/// and require rootwasm to give the same answer for every pair.
pub fn agree(eco: Ecosystem, ps: &[(String, String)], mut oracle: Command, name: &str) {
    let mut child = oracle
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let input: String = ps.iter().map(|(a, b)| format!("{a}\t{b}\n")).collect();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the {name} oracle failed (is it installed by scripts/setup.sh?)"
    );
    let answers: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(answers.len(), ps.len());
    let mut disagreements = Vec::new();
    for ((a, b), want) in ps.iter().zip(&answers) {
        let got = match compare(eco, a, b) {
            Ok(Ordering::Less) => "-1",
            Ok(Ordering::Equal) => "0",
            Ok(Ordering::Greater) => "1",
            Err(_) => "error",
        };
        if got != want {
            disagreements.push(format!("{a} vs {b}: {name} {want}, rootwasm {got}"));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} pairs disagree:\n{}",
        disagreements.len(),
        ps.len(),
        disagreements.join("\n")
    );
}
