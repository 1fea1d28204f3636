//! Cursor pagination for lists that grow without bound (requests, changes): the cursor names
//! the last row a client saw, newest first, so a page stays put while new rows arrive.

/// How many rows a page holds when the client does not say, and at most.
pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// Where the next page starts: after the row created at `at_us` (microseconds since the epoch)
/// with id `id`, in the order (created, id) both descending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub at_us: i64,
    pub id: String,
}

impl Cursor {
    /// An opaque token for a URL: hex, so it needs no escaping and invites no editing.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.at_us, self.id)
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub fn decode(token: &str) -> Result<Self, String> {
        let bad = || "cursor is not one this list gave: start again without it".to_owned();
        if !token.len().is_multiple_of(2) || token.len() > 512 {
            return Err(bad());
        }
        let bytes = (0..token.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(token.get(i..i + 2).unwrap_or(""), 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let (at, id) = text.split_once('.').ok_or_else(bad)?;
        let at_us = at.parse::<i64>().map_err(|_| bad())?;
        if id.is_empty() {
            return Err(bad());
        }
        Ok(Cursor {
            at_us,
            id: id.to_owned(),
        })
    }
}

/// The page size a client asked for, within bounds.
pub fn limit(asked: Option<i64>) -> Result<i64, String> {
    match asked {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(format!("limit must be 1 to {MAX_LIMIT}, not {n}")),
    }
}

/// One page of rows and where the next one starts, if there may be one.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

impl<T> Page<T> {
    /// `rows` as fetched with one more than `limit`: the extra row only says there is more.
    pub fn of(mut rows: Vec<T>, limit: i64, cursor_of: impl Fn(&T) -> Cursor) -> Self {
        let limit = usize::try_from(limit).unwrap_or(0);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = if more {
            rows.last().map(cursor_of)
        } else {
            None
        };
        Page { items: rows, next }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_page_with_more_behind_it_says_where_to_go_on() {
        let cursor = |n: &i64| Cursor {
            at_us: *n,
            id: n.to_string(),
        };
        let page = Page::of(vec![5, 4, 3], 2, cursor);
        assert_eq!(page.items, vec![5, 4]);
        assert_eq!(page.next, Some(cursor(&4)));
        let last = Page::of(vec![2, 1], 2, cursor);
        assert_eq!(last.next, None);
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(limit(None), Ok(DEFAULT_LIMIT));
        assert_eq!(limit(Some(200)), Ok(200));
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(2_147_483_648)).is_err());
    }

    #[test]
    fn foreign_cursors_are_refused() {
        for token in ["", "zz", "abc", "2e", "31322e", &"a".repeat(600)] {
            assert!(Cursor::decode(token).is_err(), "{token:?}");
        }
    }

    proptest! {
        #[test]
        fn a_cursor_survives_its_round_trip(at_us in any::<i64>(), id in "[a-z0-9.-]{1,40}") {
            let cursor = Cursor { at_us, id };
            prop_assert_eq!(Cursor::decode(&cursor.encode()), Ok(cursor));
        }
    }
}
