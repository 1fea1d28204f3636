//! Characters free text may not carry: control characters (NUL breaks Postgres text, the rest
//! hide what a reviewer reads) and the invisible format characters that reorder or hide text
//! (bidirectional overrides such as U+202E, zero-width spaces and joiners, the BOM).

/// Whether `c` has no place in free text; `\n` is allowed where multi-line text is.
pub fn forbidden(c: char, newline_ok: bool) -> bool {
    (c.is_control() && !(newline_ok && c == '\n'))
        || matches!(c,
            '\u{00AD}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}')
}

/// Whether `text` holds any character [`forbidden`] in it.
pub fn has_forbidden(text: &str, newline_ok: bool) -> bool {
    text.chars().any(|c| forbidden(c, newline_ok))
}

/// At most `max` characters of `text`, for quoting what a caller sent back to them.
/// `text` as a URL query value: everything but unreserved characters percent-encoded.
pub fn query_value(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_and_control_characters_are_caught() {
        for bad in [
            "a\u{0}b",
            "a\u{7}",
            "\u{202E}evil",
            "pay\u{200B}ments",
            "\u{FEFF}x",
        ] {
            assert!(has_forbidden(bad, true), "{bad:?}");
        }
        assert!(!has_forbidden("line one\nline two, ünïcode, 日本語", true));
        assert!(has_forbidden("line one\nline two", false));
    }
}
