//! Versions of a document that must not be overwritten blindly (the prices, the access policy):
//! the tag a reader is given (`ETag`) and the precondition a writer sends back (`If-Match`).

use sha2::{Digest, Sha256};

/// A strong version tag of `bytes`, quoted as an `ETag` is: 64 bits of SHA-256.
pub fn tag(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// What a writer expects the current version to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// `*`: any version will do, as long as there is one.
    Any,
    /// One of these tags.
    OneOf(Vec<String>),
}

impl Precondition {
    /// Reads an `If-Match` header's value. An entity tag is quoted (or `*`): anything else is a
    /// malformed header, not a stale one, and gets its own message.
    pub fn parse(header: &str) -> Result<Self, String> {
        let tags: Vec<&str> = header.split(',').map(str::trim).collect();
        let quoted = |t: &&str| t.len() >= 2 && t.starts_with('"') && t.ends_with('"');
        if tags.is_empty() || !tags.iter().all(|t| *t == "*" || quoted(t)) {
            return Err(
                "If-Match must be the ETag the resource was read with (quoted), or *".to_owned(),
            );
        }
        if tags.contains(&"*") {
            return Ok(Precondition::Any);
        }
        Ok(Precondition::OneOf(
            tags.into_iter().map(str::to_owned).collect(),
        ))
    }

    /// Whether the version tagged `current` is one the writer expects.
    pub fn holds(&self, current: &str) -> bool {
        match self {
            Precondition::Any => true,
            Precondition::OneOf(tags) => tags.iter().any(|t| t == current),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_follows_the_bytes() {
        assert_eq!(tag(b"prices v1"), tag(b"prices v1"));
        assert_ne!(tag(b"prices v1"), tag(b"prices v2"));
        let t = tag(b"x");
        assert!(
            t.starts_with('"') && t.ends_with('"') && t.len() == 18,
            "{t}"
        );
    }

    #[test]
    fn the_current_version_or_any_holds() {
        let current = tag(b"prices v2");
        for (sent, holds) in [
            (current.clone(), true),
            ("*".to_owned(), true),
            (format!("{}, {current}", tag(b"old")), true),
            (tag(b"prices v1"), false),
        ] {
            let p = Precondition::parse(&sent).expect("well formed");
            assert_eq!(p.holds(&current), holds, "{sent:?}");
        }
    }

    #[test]
    fn a_malformed_header_is_not_a_stale_one() {
        for sent in ["", "abc", "\"", "W/", "\"a\", b"] {
            assert!(Precondition::parse(sent).is_err(), "{sent:?}");
        }
    }
}
