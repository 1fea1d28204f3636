//! CSV fields for exports people open in spreadsheets.

/// One CSV field: quoted when it holds a separator, a quote or a line break, and a cell a
/// spreadsheet would run as a formula (OWASP's rule: a leading `=`, `+`, `-`, `@`, tab or
/// carriage return) is prefixed with `'` so it is shown as text.
pub fn field(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v.to_owned()
    };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_become_text_and_separators_are_quoted() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(
            field("=HYPERLINK(\"http://x/\",\"y\")"),
            "\"'=HYPERLINK(\"\"http://x/\"\",\"\"y\"\")\""
        );
        for lead in ["+1", "-1+cmd", "@SUM(A1)", "\tx", "\rx"] {
            assert!(
                field(lead).trim_start_matches('"').starts_with('\''),
                "{lead:?}"
            );
        }
    }
}
