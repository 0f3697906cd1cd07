//! Terminal-safe text: every string that comes from an image, a journal or a
//! recipe goes through here before it is printed as text.
//!
//! A file name, package name or file content can hold escape sequences that
//! clear the screen, hide lines or move the cursor, and bidi controls that
//! reorder what a reviewer reads. They are shown as escapes instead: C0
//! controls, DEL and C1 as `\xNN` (`\t` and `\n` where the caller keeps lines),
//! bidi and other invisible format characters as `\u{NNNN}`, and bytes that
//! are not UTF-8 as `\xNN`. `--json` output needs none of this: serde escapes
//! control characters, and a JSON reader is not a terminal.

use std::fmt::Write;

/// Which whitespace stays as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// Nothing: one field on one line (names, paths, versions).
    Nothing,
    /// Tabs: one line of file content.
    Tabs,
    /// Newlines and tabs: a multi-line message we composed (errors, logs).
    Lines,
}

/// `s` with every control, bidi and invisible format character escaped.
pub fn safe(s: &str) -> String {
    escape_str(s, Keep::Nothing)
}

/// Like [`safe`], keeping what `keep` says.
pub fn escape_str(s: &str, keep: Keep) -> String {
    let mut out = String::with_capacity(s.len());
    push_str(&mut out, s, keep);
    out
}

/// `bytes` as text: UTF-8 where it is, `\xNN` where it is not, escaped as [`escape_str`].
pub fn escape_bytes(bytes: &[u8], keep: Keep) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        push_str(&mut out, chunk.valid(), keep);
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

fn push_str(out: &mut String, s: &str, keep: Keep) {
    for c in s.chars() {
        match c {
            '\t' if keep != Keep::Nothing => out.push(c),
            '\n' if keep == Keep::Lines => out.push(c),
            c if dangerous(c) => {
                let n = c as u32;
                if n < 0x100 {
                    let _ = write!(out, "\\x{n:02x}");
                } else {
                    let _ = write!(out, "\\u{{{n:04x}}}");
                }
            }
            c => out.push(c),
        }
    }
}

/// Characters a terminal acts on or that change how the text around them reads.
fn dangerous(c: char) -> bool {
    c.is_control() // C0, DEL, C1
        || matches!(c as u32,
            0x061c            // Arabic letter mark
            | 0x200b..=0x200f // zero-width spaces and joiners, LRM, RLM
            | 0x2028 | 0x2029 // line and paragraph separators
            | 0x202a..=0x202e // bidi embeddings and overrides
            | 0x2060..=0x2064 // word joiner, invisible operators
            | 0x2066..=0x2069 // bidi isolates
            | 0xfeff          // BOM, zero-width no-break space
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_controls_bidi_and_invalid_utf8() {
        assert_eq!(safe("pkg\x1b[2Jname"), "pkg\\x1b[2Jname");
        assert_eq!(safe("a\u{9b}31mb"), "a\\x9b31mb");
        assert_eq!(safe("x\u{202e}gnp.exe"), "x\\u{202e}gnp.exe");
        assert_eq!(safe("\u{2066}a\u{2069}"), "\\u{2066}a\\u{2069}");
        assert_eq!(safe("line\nnext\r\x07\x7f"), "line\\x0anext\\x0d\\x07\\x7f");
        assert_eq!(safe("naïve ✓"), "naïve ✓");
        assert_eq!(
            escape_bytes(b"ok\xff\xfe\x1b]0;title\x07", Keep::Nothing),
            "ok\\xff\\xfe\\x1b]0;title\\x07"
        );
        assert_eq!(escape_bytes(b"\tindent", Keep::Tabs), "\tindent");
        assert_eq!(escape_str("a\nb\x1bc", Keep::Lines), "a\nb\\x1bc");
    }
}
