use super::*;

/// An image made of a few files.
#[derive(Default)]
struct Mem(BTreeMap<String, Vec<u8>>);

impl Facts for Mem {
    fn kind(&mut self, path: &str, _follow: bool) -> Option<Kind> {
        if self.0.contains_key(path) {
            Some(Kind::File)
        } else if self.0.keys().any(|k| k.starts_with(&format!("{path}/"))) {
            Some(Kind::Dir)
        } else {
            None
        }
    }
    fn read(&mut self, path: &str) -> Option<Vec<u8>> {
        self.0.get(path).cloned()
    }
    fn readlink(&mut self, _path: &str) -> Option<String> {
        None
    }
    fn read_dir(&mut self, _path: &str) -> Vec<String> {
        Vec::new()
    }
    fn meta(&mut self, path: &str) -> Option<(u32, u32, u32)> {
        self.0.contains_key(path).then_some((0o644, 0, 0))
    }
}

fn upgrade(old: &str, postinst: &str) -> Upgrade {
    Upgrade {
        package: "p".into(),
        arch: "amd64".into(),
        old_version: old.into(),
        new_version: "3.0".into(),
        new_scripts: [("postinst".to_owned(), postinst.to_owned())].into(),
        ..Default::default()
    }
}

#[test]
fn a_version_gate_decides() {
    let s = "#!/bin/sh\nset -e\n# Automatically added by dh_installdeb\ndpkg-maintscript-helper rm_conffile /etc/p.conf 1.0\\~ -- \"$@\"\n# End automatically added section\n";
    let plan = evaluate(&upgrade("2.0", s), &mut Mem::default()).unwrap();
    assert!(plan.effects.is_empty());
    assert!(
        plan.notes[0].contains("acts only when upgrading from 1.0~ or older"),
        "{:?}",
        plan.notes
    );
    let e = evaluate(&upgrade("0.9", s), &mut Mem::default()).unwrap_err();
    assert!(e.0.contains("acts on this upgrade"), "{e}");
    assert!(
        e.0.contains("4: dpkg-maintscript-helper rm_conffile"),
        "{e}"
    );
}

#[test]
fn effects_behind_an_unknown_condition_are_refused_with_the_lines() {
    let mut img = Mem::default();
    img.0.insert("/etc/z".into(), b"x".to_vec());
    img.0.insert("/etc/y".into(), b"y".to_vec());
    let s = "#!/bin/sh\nif [ \"$1\" = configure ]; then\n  if grep -q x /etc/y; then\n    rm -f /etc/z\n  fi\nfi\n";
    let e = evaluate(&upgrade("2.0", s), &mut img).unwrap_err();
    assert!(e.0.contains("would remove /etc/z under a condition"), "{e}");
    assert!(e.0.contains("4:     rm -f /etc/z"), "{e}");
    // Known conditions run: `$1` is configure, the file is there.
    let s = "#!/bin/sh\nif [ \"$1\" = configure ] && [ -f /etc/z ]; then rm -f /etc/z; fi\n";
    let plan = evaluate(&upgrade("2.0", s), &mut img).unwrap();
    assert_eq!(plan.effects, vec![Effect::Remove("/etc/z".into())]);
}

#[test]
fn services_and_debconf_are_no_ops_with_notes() {
    let s = "#!/bin/sh\nset -e\n. /usr/share/debconf/confmodule\ndb_get p/q || true\nif [ -d /run/systemd/system ]; then\n  systemctl restart p\nfi\ndeb-systemd-invoke restart p.service >/dev/null || true\n";
    let plan = evaluate(&upgrade("2.0", s), &mut Mem::default()).unwrap();
    assert!(plan.effects.is_empty());
    assert!(
        plan.notes.iter().any(|n| n.contains("deb-systemd-invoke")),
        "{:?}",
        plan.notes
    );
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("debconf asks nothing")),
        "{:?}",
        plan.notes
    );
}
