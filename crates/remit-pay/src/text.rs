//! Free text from the peer (memo, notes, names, descriptions): length-capped, then stripped of
//! control, bidi-override and invisible formatting characters.
//!
//! Bidi overrides let "moc.knab" render as "bank.com" and reorder digits in an amount written in
//! a memo; zero-width characters hide text from a reader and split words past filters; control
//! characters forge line breaks and terminal escapes. None has a legitimate use in a payment
//! memo.

/// Whether `c` is removed from free text: Unicode general category Cc (C0, DEL, C1), the bidi
/// embedding, override and isolate controls (U+202A–U+202E, U+2066–U+2069), the implicit
/// direction marks (U+200E, U+200F, U+061C), zero-width and invisible formatting characters
/// (U+200B–U+200D, U+2060–U+2064, U+FEFF, U+180E, U+00AD) and the line and paragraph
/// separators U+2028/U+2029. `keep_newline` keeps U+000A (multi-line memos).
#[must_use]
pub fn is_stripped(c: char, keep_newline: bool) -> bool {
    if c == '\n' {
        return !keep_newline;
    }
    c.is_control()
        || matches!(
            c,
            '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{061C}'
                | '\u{200B}'..='\u{200D}'
                | '\u{2060}'..='\u{2064}'
                | '\u{FEFF}'
                | '\u{180E}'
                | '\u{00AD}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// Strips every character [`is_stripped`] names.
#[must_use]
pub fn sanitize(text: &str, keep_newline: bool) -> String {
    text.chars()
        .filter(|c| !is_stripped(*c, keep_newline))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_bidi_and_controls() {
        assert_eq!(
            sanitize("pay \u{202E}moc.knab\u{202C}", false),
            "pay moc.knab"
        );
        assert_eq!(sanitize("a\u{2066}b\u{2069}c", false), "abc");
        assert_eq!(sanitize("a\u{200B}b\u{FEFF}c\u{00AD}", false), "abc");
        assert_eq!(sanitize("a\u{1b}[31mb\u{7}\u{85}", false), "a[31mb");
        assert_eq!(sanitize("line\r\nnext", true), "line\nnext");
        assert_eq!(sanitize("line\r\nnext", false), "linenext");
        assert_eq!(sanitize("déjà vu — 12 €", false), "déjà vu — 12 €");
    }
}
