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
        let path = path.trim_start_matches(' ');
        if sum.len() != 32 || !sum.bytes().all(|b| b.is_ascii_hexdigit()) || path.is_empty() {
            return Err(err(format!("md5sums line {}: malformed", n + 1)));
        }
        out.push((format!("/{}", path.trim_start_matches('/')), sum.to_owned()));
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
}
