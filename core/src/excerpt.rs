//! Quoting input in error messages without echoing all of it.
//!
//! Input from the bus, files or the network may be megabytes long and full
//! of control characters. An error message quotes at most
//! [`EXCERPT_CHARS`] characters of it, escaped.

/// Most characters of an argument an error reply quotes.
pub const EXCERPT_CHARS: usize = 64;

/// `text` for an error reply: at most [`EXCERPT_CHARS`] characters, control
/// and other special characters escaped, in quotes; when cut, with its size.
pub fn excerpt(text: &str) -> String {
    excerpt_of(text, text.len())
}

/// The start `text` of something `len` bytes long, as [`excerpt`] shows it.
pub fn excerpt_of(text: &str, len: usize) -> String {
    let end = text.char_indices().nth(EXCERPT_CHARS).map_or(text.len(), |(i, _)| i);
    let head = &text[..end];
    if end < text.len() || len > text.len() {
        format!("{:?}… ({len} bytes)", head)
    } else {
        // Exactly as `{:?}` shows it.
        format!("{head:?}")
    }
}

/// `name` as an error message shows it: as it is when it is short and
/// plain, else as an [`excerpt`].
pub fn shown(name: &str) -> String {
    if name.chars().nth(EXCERPT_CHARS).is_none() && !name.chars().any(char::is_control) {
        name.to_owned()
    } else {
        excerpt(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_short_and_escaped() {
        assert_eq!(excerpt("Europe/Berlin"), "\"Europe/Berlin\"");
        assert_eq!(excerpt("a\u{1}b\n"), "\"a\\u{1}b\\n\"");
        let long = "\u{1}".repeat(6 << 20);
        let e = excerpt(&long);
        assert!(e.len() < 1024 && e.ends_with("(6291456 bytes)"), "{}", e.len());
        assert_eq!(excerpt(&"é".repeat(100)).chars().filter(|c| *c == 'é').count(), EXCERPT_CHARS);
        assert_eq!(shown("time.nist.gov"), "time.nist.gov");
        assert_eq!(shown("a\tb"), "\"a\\tb\"");
        assert_eq!(excerpt_of("abc", 10), "\"abc\"… (10 bytes)");
        assert_eq!(excerpt("it's \"x\""), format!("{:?}", "it's \"x\""));
    }
}
