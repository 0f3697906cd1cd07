//! `history` and `diff` verify before they show, and what they show from an
//! image or journal reaches the terminal escaped.

use crate::review::{Fixture, artifact_layer, blob_path, json, replace_blob};
use crate::support::*;

const JOURNAL: &str = "application/vnd.dev.rootwasm.journal.v1+json";

#[test]
fn review_verbs_flag_forged_journals_and_escape_what_they_show() {
    let f = Fixture::new();
    let public = f.public.to_str().unwrap().to_owned();
    // The honest image: verified, exit 0, no warning.
    for verb in ["history", "diff"] {
        let o = rootwasm(&[verb, &f.image(&f.out), "--key", &public]);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{verb}: {out}{err}");
        assert!(!err.contains("UNVERIFIED"), "{verb}: {err}");
    }

    // A consistent forgery whose journal carries terminal escapes and bidi
    // overrides in a path and a recipe name.
    let copy = f.copy("forged-escapes");
    let jdigest = artifact_layer(&copy, JOURNAL, 0);
    let mut j = json(&blob_path(&copy, &jdigest));
    let mut hit = false;
    for e in j["entries"].as_array_mut().unwrap() {
        let p = e["path"].as_str().unwrap().to_owned();
        if p.ends_with("requests/sessions.py") {
            e["path"] = format!("{p}\x1b[2J\u{202e}yp.lave").into();
            e["before"] = serde_json::Value::Null;
            e["recipe"] = "evil\x1b]0;owned\x07\u{9b}31m".into();
            hit = true;
        }
    }
    assert!(hit, "the fixture journal changes sessions.py");
    replace_blob(&copy, &jdigest, &serde_json::to_vec_pretty(&j).unwrap());

    for verb in ["history", "diff"] {
        let o = rootwasm(&[verb, &f.image(&copy), "--key", &public]);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{verb}: {out}{err}");
        assert!(err.contains("did NOT verify"), "{verb}: {err}");
        assert!(
            err.contains("FAIL journal"),
            "{verb} names the failed check: {err}"
        );
        assert!(err.contains("UNVERIFIED"), "{verb}: {err}");
        for raw in ['\x1b', '\u{202e}', '\u{9b}', '\x07'] {
            assert!(
                !out.contains(raw) && !err.contains(raw),
                "{verb} printed {raw:?} raw: {out}{err}"
            );
        }
    }
    let o = rootwasm(&["diff", &f.image(&copy), "--key", &public]);
    let (out, _) = text(&o);
    assert!(out.contains("sessions.py\\x1b[2J\\u{202e}yp.lave"), "{out}");
    assert!(out.contains("[evil\\x1b]0;owned\\x07\\x9b31m]"), "{out}");

    // An extra signature changes no signed claim, but rootwasm makes one only.
    let copy = f.copy("extra-signature");
    let edigest = artifact_layer(&copy, "application/vnd.in-toto+json", 0);
    let mut env = json(&blob_path(&copy, &edigest));
    env["signatures"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({ "keyid": "bogus", "sig": "AAAA" }));
    replace_blob(&copy, &edigest, &serde_json::to_vec(&env).unwrap());
    let o = rootwasm(&["verify", &f.image(&copy), "--key", &public]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        out.lines().any(|l| l.starts_with("FAIL")
            && l.contains("signatures")
            && l.contains("2 signatures")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("ok") && l.contains("signature ")),
        "{out}"
    );

    // Another key: the signature check fails, and the verbs say so.
    let other = f.dir.join("other.pem");
    assert!(
        rootwasm(&["key", "generate", other.to_str().unwrap()])
            .status
            .success()
    );
    let other_pub = f.dir.join("other.pem.pub.pem");
    let o = rootwasm(&[
        "history",
        &f.image(&f.out),
        "--json",
        "--key",
        other_pub.to_str().unwrap(),
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(err.contains("FAIL signature"), "{err}");
    serde_json::from_str::<serde_json::Value>(&out).expect("--json output stays JSON");
}
