//! Peer-supplied text made safe to print: what a client sends (a method
//! name, a device serial number, an event name) can hold terminal escape
//! sequences, newlines that forge log lines, or megabytes. [`Escaped`]
//! shows such text with every control character escaped (`\n`, `\u{1b}`)
//! and cut to a bound, for logs and for the CLI's text output.

use std::fmt;

/// The default bound, in characters, on peer-supplied text in a log line.
pub const LOG_CHARS: usize = 128;

/// Whether `c` must not reach a terminal or a log line raw: C0 and C1
/// controls, DEL, and the Unicode bidirectional overrides and isolates
/// that reorder what is shown.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Whether `text` has a character [`is_unsafe_char`] refuses.
pub fn has_unsafe_chars(text: &str) -> bool {
    text.chars().any(is_unsafe_char)
}

/// `text`, shown with its unsafe characters escaped and cut after `max`
/// characters (then `…` and how many more there were).
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a> {
    text: &'a str,
    max: usize,
}

impl<'a> Escaped<'a> {
    /// `text` cut at [`LOG_CHARS`].
    pub fn new(text: &'a str) -> Self {
        Escaped {
            text,
            max: LOG_CHARS,
        }
    }

    /// `text` cut at `max` characters.
    pub fn with_max(text: &'a str, max: usize) -> Self {
        Escaped { text, max }
    }
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (shown, c) in self.text.chars().enumerate() {
            if shown == self.max {
                let rest = self.text.chars().skip(self.max).count();
                return write!(f, "…(+{rest} chars)");
            }
            match c {
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                '\\' => f.write_str("\\\\")?,
                c if is_unsafe_char(c) => write!(f, "\\u{{{:x}}}", c as u32)?,
                c => fmt::Write::write_char(f, c)?,
            }
        }
        Ok(())
    }
}

/// `text` escaped and cut at `max` characters, as a string.
pub fn escape(text: &str, max: usize) -> String {
    Escaped::with_max(text, max).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_plain_text_kept() {
        assert_eq!(escape("SN-1 Ünï", 100), "SN-1 Ünï");
        assert_eq!(
            escape("a\u{1b}[2Jb\nc\u{0}\u{7f}\u{9b}", 100),
            "a\\u{1b}[2Jb\\nc\\u{0}\\u{7f}\\u{9b}"
        );
        assert_eq!(escape("x\u{202e}y", 100), "x\\u{202e}y");
        assert_eq!(escape("back\\slash", 100), "back\\\\slash");
        assert!(has_unsafe_chars("a\tb"));
        assert!(!has_unsafe_chars("plain serial 123"));
    }

    #[test]
    fn long_text_is_cut() {
        let long = "m".repeat(65_536);
        let shown = Escaped::new(&long).to_string();
        assert!(shown.len() < 200, "{}", shown.len());
        assert!(shown.ends_with(&format!("…(+{} chars)", 65_536 - LOG_CHARS)));
        assert_eq!(escape("abc", 3), "abc");
    }
}
