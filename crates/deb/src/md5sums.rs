//! `md5sums` files: `<md5>  <path relative to />` per line, as in a
//! package's control.tar and in `/var/lib/dpkg/info/<pkg>.md5sums`.

use crate::{Error, err};

/// Parse into `(absolute path, md5)` pairs, in file order.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, Error> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (sum, path) = line
            .split_once(' ')
            .ok_or_else(|| err(format!("md5sums line {}: expected `<md5>  <path>`", n + 1)))?;
        let path = path.trim_start_matches(' ').trim_start_matches('/');
        if sum.len() != 32 || !sum.bytes().all(|b| b.is_ascii_hexdigit()) || path.is_empty() {
            return Err(err(format!("md5sums line {}: malformed", n + 1)));
        }
        // `format` could not write these back as read: a leading space is
        // taken for the separator, a trailing CR for a CRLF line end.
        if path.starts_with(' ') || path.ends_with('\r') {
            return Err(err(format!(
                "md5sums line {}: the path {path:?} starts with a space or ends with a carriage return",
                n + 1
            )));
        }
        out.push((format!("/{path}"), sum.to_owned()));
    }
    Ok(out)
}

/// Write pairs back in dpkg's format (two spaces, no leading slash).
pub fn format(entries: &[(String, String)]) -> String {
    let mut out = String::new();
    for (path, sum) in entries {
        out.push_str(sum);
        out.push_str("  ");
        out.push_str(path.trim_start_matches('/'));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        let t = "377868520d0f9534a21f0f64bdb47862  lib/x86_64-linux-gnu/libexpat.so.1.8.10\n";
        let p = super::parse(t).unwrap();
        assert_eq!(p[0].0, "/lib/x86_64-linux-gnu/libexpat.so.1.8.10");
        assert_eq!(super::format(&p), t);
        assert!(super::parse("zz  x\n").is_err());
    }

    /// Found by `fuzz/deb_text` (docs/fuzzing.md): a path ending in CR was
    /// written back with one CR fewer. Every accepted line must round-trip.
    #[test]
    fn paths_that_cannot_be_written_back_are_refused() {
        let sum = "377868520d0f9534a21f0f64bdb47862";
        for bad in ["x\r", "x\r\r", "/", "//", "/ x", " / y"] {
            let line = format!("{sum}  {bad}");
            let e = super::parse(&line).unwrap_err();
            assert!(e.0.contains("line 1"), "{bad:?}: {e}");
        }
        // What is accepted is written back and read back unchanged.
        let p = super::parse(&format!("{sum}  /usr/x\r\n{sum} a\rb\n")).unwrap();
        assert_eq!(
            p,
            [("/usr/x".into(), sum.into()), ("/a\rb".into(), sum.into())]
        );
        assert_eq!(super::parse(&super::format(&p)).unwrap(), p);
    }
}
