//! apk and rpm version comparison.
//!
//! rpm has an oracle on this machine (librpm through Debian's python3-rpm),
//! so rpm versions are checked pair by pair against it. apk has none (Debian
//! packages no apk-tools), so apk versions are checked against expected
//! orderings of real aports versions and, on thousands of generated pairs,
//! against a slow reference written here from apk-tools' rules in a
//! different shape (a structure parsed from the outside in, then compared as
//! a key list), plus the order properties a sort needs.

use crate::support::*;
use crate::versions::{Lcg, agree, pairs};
use rootwasm::version::{Ecosystem, compare};
use std::cmp::Ordering;
use std::process::Command;

/// Chains of real Alpine versions, each strictly increasing by apk-tools' rules.
const APK_CHAINS: &[&[&str]] = &[
    // busybox, openssl 3, apache2
    &["1.36.1-r2", "1.36.1-r28", "1.36.1-r29", "1.37.0-r0"],
    &["3.1.4-r5", "3.1.4-r6", "3.1.5-r0", "3.1.7-r0", "3.3.0-r0"],
    &["2.4.57-r0", "2.4.58-r1", "2.4.62-r0"],
    // openssh: the portable _p suffix is post-release.
    &["9.6-r0", "9.6_p1-r0", "9.6_p1-r1", "9.7_p1-r0", "9.8_p1-r0"],
    &[
        "1.2.3_alpha1-r0",
        "1.2.3_beta2-r0",
        "1.2.3_pre1-r0",
        "1.2.3_rc1-r0",
        "1.2.3_rc2-r0",
        "1.2.3-r0",
        "1.2.3_p1-r0",
    ],
    &[
        "2.0_beta3-r1",
        "2.0-r0",
        "2.0_cvs1-r0",
        "2.0_svn1-r0",
        "2.0_git20230101-r0",
        "2.0_hg1-r0",
        "2.0_p1-r0",
    ],
    // ca-certificates, musl, ncurses, zlib
    &["20240226-r0", "20240226-r1", "20250127-r0"],
    &["1.2.4_git20230717-r4", "1.2.4_git20230717-r5", "1.2.5-r0"],
    &["6.4_p20231125-r0", "6.4_p20240420-r0", "6.5_p20240601-r0"],
    &["1.2.13-r1", "1.3-r2", "1.3.1-r0"],
    // A snapshot of 1.0 sorts after 1.0 itself, before 1.0.1.
    &[
        "1.0-r0",
        "1.0_git20230101-r0",
        "1.0_git20230315-r0",
        "1.0.1-r0",
    ],
    // openssl 1.1 letter releases: the letter beats no letter, a number beats a letter.
    &[
        "1.1.1-r0",
        "1.1.1t-r0",
        "1.1.1u-r0",
        "1.1.1w-r1",
        "1.1.2-r0",
    ],
    // Perl-style fractions: a leading zero makes the part a string.
    &["1.07-r0", "1.09-r0", "1.1-r0", "1.10-r0"],
    &["0.9.12-r0", "0.10.0-r0", "0.10.0-r1"],
    // Commit hashes sit between suffixes and the revision.
    &["1.5.0~0a1b2c-r0", "1.5.0~ff00-r0", "1.5.0_p1-r0"],
];

const APK_EQUAL: &[(&str, &str)] = &[
    ("1.0-r0", "1.0-r00"),
    ("01.2-r0", "1.2-r0"),
    ("1.0_p01", "1.0_p1"),
    ("3.1.4-r5", "3.1.4-r5"),
];

#[test]
fn apk_real_versions_order_as_apk_tools_rules_say() {
    for chain in APK_CHAINS {
        for (i, a) in chain.iter().enumerate() {
            for b in &chain[i + 1..] {
                assert_eq!(
                    compare(Ecosystem::Apk, a, b).unwrap(),
                    Ordering::Less,
                    "{a} < {b}"
                );
                assert_eq!(
                    compare(Ecosystem::Apk, b, a).unwrap(),
                    Ordering::Greater,
                    "{b} > {a}"
                );
            }
        }
    }
    for (a, b) in APK_EQUAL {
        assert_eq!(
            compare(Ecosystem::Apk, a, b).unwrap(),
            Ordering::Equal,
            "{a} = {b}"
        );
    }
    // apk-tools rejects two letters (old OpenSSL's 0.9.8zh), unknown suffixes
    // and anything after the revision.
    for bad in ["0.9.8zh-r0", "1.0_foo1-r0", "1.0-r1-r2", "1.0-1", "v1.0"] {
        let e = compare(Ecosystem::Apk, bad, "1.0-r0")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an apk version"), "{bad}: {e}");
    }
}

// The reference: a version as a structure, parsed from the right.
#[derive(Debug)]
struct Parts {
    nums: Vec<String>,
    letter: Option<char>,
    suffixes: Vec<(String, Option<String>)>,
    hash: Option<String>,
    rev: Option<String>,
}

const RANKS: [&str; 10] = [
    "alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg", "p",
];

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())
}

fn parts(v: &str) -> Option<Parts> {
    let (rest, rev) = match v.rfind("-r") {
        Some(i) => (&v[..i], Some(v[i + 2..].to_owned())),
        None => (v, None),
    };
    if rev.as_deref().is_some_and(|r| !digits(r)) || rest.contains('-') {
        return None;
    }
    let (rest, hash) = match rest.split_once('~') {
        Some((r, h)) => (r, Some(h.to_owned())),
        None => (rest, None),
    };
    if hash
        .as_deref()
        .is_some_and(|h| h.is_empty() || !h.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')))
    {
        return None;
    }
    let mut pieces = rest.split('_');
    let head = pieces.next()?;
    let mut suffixes = Vec::new();
    for p in pieces {
        let name_len = p.bytes().take_while(u8::is_ascii_lowercase).count();
        let (name, num) = p.split_at(name_len);
        if name.is_empty() || !RANKS.contains(&name) || (!num.is_empty() && !digits(num)) {
            return None;
        }
        suffixes.push((name.to_owned(), (!num.is_empty()).then(|| num.to_owned())));
    }
    let (head, letter) = match head.chars().last() {
        Some(c) if c.is_ascii_lowercase() => (&head[..head.len() - 1], Some(c)),
        _ => (head, None),
    };
    let nums: Vec<String> = head.split('.').map(str::to_owned).collect();
    if !nums.iter().all(|n| digits(n)) {
        return None;
    }
    Some(Parts {
        nums,
        letter,
        suffixes,
        hash,
        rev,
    })
}

/// A key part: a class (deciding alone when classes differ) and a value.
#[derive(Debug)]
enum Val {
    Num(u128),
    /// A later number: numeric unless either side has a leading zero.
    Frac(String),
    Str(String),
}

fn keys(p: &Parts) -> Vec<(u8, Val)> {
    // When classes differ the lower class is the lower version: a pre-release
    // suffix, then the end, revision, hash, suffix number, post suffix, letter, number.
    let mut k = vec![(9, Val::Num(p.nums[0].parse().unwrap()))];
    k.extend(p.nums[1..].iter().map(|n| (7, Val::Frac(n.clone()))));
    k.extend(p.letter.map(|c| (6, Val::Str(c.to_string()))));
    for (name, num) in &p.suffixes {
        let rank = RANKS.iter().position(|r| r == name).unwrap();
        k.push((if rank < 4 { 0 } else { 5 }, Val::Num(rank as u128)));
        k.extend(num.as_ref().map(|n| (4, Val::Num(n.parse().unwrap()))));
    }
    k.extend(p.hash.as_ref().map(|h| (3, Val::Str(h.clone()))));
    k.extend(p.rev.as_ref().map(|r| (2, Val::Num(r.parse().unwrap()))));
    k.push((1, Val::Num(0)));
    k
}

fn reference(a: &str, b: &str) -> Option<Ordering> {
    let (ka, kb) = (keys(&parts(a)?), keys(&parts(b)?));
    for ((ca, va), (cb, vb)) in ka.iter().zip(&kb) {
        let o = ca.cmp(cb).then_with(|| match (va, vb) {
            (Val::Num(x), Val::Num(y)) => x.cmp(y),
            (Val::Frac(x), Val::Frac(y)) if x.starts_with('0') || y.starts_with('0') => x.cmp(y),
            (Val::Frac(x), Val::Frac(y)) => x.parse::<u128>().unwrap().cmp(&y.parse().unwrap()),
            (Val::Str(x), Val::Str(y)) => x.cmp(y),
            _ => unreachable!("same class, same value type"),
        });
        if o != Ordering::Equal {
            return Some(o);
        }
    }
    Some(Ordering::Equal)
}

fn generated_apk_versions(n: usize) -> Vec<String> {
    let mut r = Lcg(11);
    let mut out = Vec::new();
    for _ in 0..n {
        let mut one = |xs: &[&'static str]| xs[r.next(xs.len())];
        let mut v = one(&["0", "1", "2", "10", "01", "20240226"]).to_owned();
        for _ in 0..one(&["0", "1", "2", "3"]).parse::<usize>().unwrap() {
            v.push('.');
            v.push_str(one(&["0", "1", "2", "9", "10", "00", "01", "010", "09"]));
        }
        v.push_str(one(&["", "", "", "a", "b", "z"]));
        for _ in 0..one(&["0", "0", "1", "1", "2"]).parse::<usize>().unwrap() {
            v.push('_');
            v.push_str(one(&[
                "alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p",
            ]));
            v.push_str(one(&["", "1", "2", "10", "01", "20230101"]));
        }
        v.push_str(one(&["", "", "", "", "~0a1b", "~ff", "~0a1c"]));
        v.push_str(one(&["", "-r0", "-r1", "-r2", "-r10", "-r29"]));
        out.push(v);
    }
    out.extend(
        APK_CHAINS
            .iter()
            .flat_map(|c| c.iter().map(|s| s.to_string())),
    );
    out.sort();
    out.dedup();
    out
}

#[test]
fn apk_agrees_with_the_reference_and_orders_totally() {
    let versions = generated_apk_versions(600);
    let ps = pairs(&versions, 20_000);
    let mut disagreements = Vec::new();
    for (a, b) in &ps {
        let want =
            reference(a, b).unwrap_or_else(|| panic!("generated an invalid version: {a} or {b}"));
        let got = compare(Ecosystem::Apk, a, b).unwrap();
        if got != want {
            disagreements.push(format!("{a} vs {b}: reference {want:?}, rootwasm {got:?}"));
        }
        assert_eq!(
            compare(Ecosystem::Apk, b, a).unwrap(),
            got.reverse(),
            "antisymmetry: {a} {b}"
        );
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} pairs disagree:\n{}",
        disagreements.len(),
        ps.len(),
        disagreements[..disagreements.len().min(40)].join("\n")
    );
    // Transitivity: after sorting, every earlier version is <= every later one.
    let mut sorted = versions.clone();
    sorted.sort_by(|a, b| compare(Ecosystem::Apk, a, b).unwrap());
    for i in 0..sorted.len() {
        for j in i + 1..sorted.len() {
            assert_ne!(
                compare(Ecosystem::Apk, &sorted[i], &sorted[j]).unwrap(),
                Ordering::Greater,
                "{} sorted before {}",
                sorted[i],
                sorted[j]
            );
        }
    }
    // Broken variants of valid versions are refused by both.
    let mut r = Lcg(3);
    for v in versions.iter().take(300) {
        let i = r.next(v.len() + 1);
        let junk = ["-", "_", ".", "~", "Z", "_x", "--r1", "-r"][r.next(8)];
        let bad = format!("{}{junk}{}", &v[..i], &v[i..]);
        let ours = compare(Ecosystem::Apk, &bad, "1").is_ok();
        assert_eq!(
            ours,
            parts(&bad).is_some(),
            "{bad:?}: rootwasm valid={ours}"
        );
    }
}

/// Real RPM EVRs (Fedora, RHEL, SUSE) and generated ones around `~` and `^`.
fn rpm_versions() -> Vec<String> {
    let mut v: Vec<String> = [
        "1:3.0.7-27.el9",
        "1:3.0.7-28.el9_4",
        "3.0.7-27.el9",
        "2.34-100.el9_4.2",
        "2.34-83.el9_3.7",
        "5.2.15-2.fc39",
        "1:1.1.1k-12.el8_9",
        "4.18.0-513.24.1.el8_9",
        "4.18.0-553.el8_10",
        "0.9.6-0.1.rc1.fc40",
        "0.9.6-1.fc40",
        "2.9.14-5.el9_3",
        "1:1.2.13-5.el9",
        "1.2.13-5.el9",
        "3.0.9-1^20230101git.fc38",
        "1.0~rc1-1",
        "1.0-1",
        "1.0^post1-1",
        "1.0.1-1",
        "2:8.2.2637-20.el9_1",
        "7.76.1-29.el9_4.1",
        "2.4.57-8.el9",
        "2.4.57-11.el9_4.1",
        "15.6-150600.3.1",
        "3.11.9-150600.1.1",
        "20230311-4.el9",
        "2024.2.69_v8.0.303-91.4.el9_4",
        "1.8.8-4.3.fc37",
        "0.187-4.fc38",
        "3.6.2-1.el9.0.1",
        "9.0-1.el9",
        "1.0a-1",
        "1.0.a-1",
        "1.0",
        "1.0~",
        "1.0^",
        "1.0~~-1",
        "1.0~rc1^git2-1",
        "1.0^git1~pre-1",
        "10-1",
        "9-1",
        "1.010-1",
        "1.01-1",
        "1.001-1",
    ]
    .map(String::from)
    .to_vec();
    for base in ["1.0", "1.0.1", "2.5.0", "1.0a", "1.0.0"] {
        for epoch in ["", "1:", "2:"] {
            for tail in [
                "",
                "~rc1",
                "~rc1^1",
                "^20240101git",
                "^git1~1",
                "~~",
                ".a",
                "_1",
            ] {
                for rel in ["", "-1", "-1.el9", "-1.el9_4", "-2~beta.fc40", "-0.1^a"] {
                    v.push(format!("{epoch}{base}{tail}{rel}"));
                }
            }
        }
    }
    // Real-looking versions from this Debian machine (those rpm could parse the same way).
    if let Ok(o) = Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}\\n"])
        .output()
    {
        v.extend(
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| l.matches('-').count() <= 1 && l.matches(':').count() <= 1)
                .map(str::to_owned),
        );
    }
    v.sort();
    v.dedup();
    v
}

#[test]
fn rpm_versions_agree_with_librpm() {
    let versions = rpm_versions();
    assert!(versions.len() > 500, "{} versions", versions.len());
    let ps = pairs(&versions, 6000);
    // Debian's own python3 carries python3-rpm (scripts/setup.sh --tests installs it).
    let mut oracle = Command::new("/usr/bin/python3");
    oracle.arg(repo().join("tests/python/rpm_oracle.py"));
    agree(Ecosystem::Rpm, &ps, oracle, "librpm (python3-rpm)");
}
