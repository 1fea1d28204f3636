//! Failed anonymous attempts (unknown API tokens, failed sign-ins), tallied per source and
//! written to the audit trail as one summary per source and window. Anyone can send them, so
//! one permanent row each would let hostile traffic grow the trail without bound and queue on
//! its chain lock; past a limit per source the answer is "too many attempts".

use std::collections::BTreeMap;

/// What a failure is about: the audit action and target kind it is summarised under.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Attempt {
    pub action: String,
    pub target_kind: String,
    /// The client's address.
    pub source: String,
}

/// Whether a failed attempt is still answered as a plain failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Counted,
    /// Over the limit for its source in this window.
    Limited,
}

/// One line of the audit trail for a window: how many times, and the last detail seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub attempt: Attempt,
    pub count: u64,
    /// Of those, how many were answered "too many attempts".
    pub limited: u64,
    pub last_detail: Option<String>,
}

/// Where sources beyond [`Tally::max_sources`] are counted together.
pub const OTHER_SOURCES: &str = "(other sources)";

#[derive(Clone, Debug)]
pub struct Tally {
    /// Failures per source per window answered normally.
    limit: u64,
    /// Distinct keys kept per window; the rest share one line.
    max_sources: usize,
    lines: BTreeMap<Attempt, Summary>,
    per_source: BTreeMap<String, u64>,
}

impl Tally {
    pub fn new(limit: u64, max_sources: usize) -> Tally {
        Tally {
            limit,
            max_sources,
            lines: BTreeMap::new(),
            per_source: BTreeMap::new(),
        }
    }

    /// Counts one failure.
    pub fn note(&mut self, mut attempt: Attempt, detail: Option<String>) -> Verdict {
        let seen = self.per_source.len();
        let source_count = match self.per_source.get_mut(&attempt.source) {
            Some(n) => {
                *n += 1;
                *n
            }
            None if seen < self.max_sources => {
                self.per_source.insert(attempt.source.clone(), 1);
                1
            }
            None => {
                attempt.source = OTHER_SOURCES.to_owned();
                let n = self.per_source.entry(attempt.source.clone()).or_insert(0);
                *n += 1;
                *n
            }
        };
        let verdict = if source_count > self.limit {
            Verdict::Limited
        } else {
            Verdict::Counted
        };
        let line = self
            .lines
            .entry(attempt.clone())
            .or_insert_with(|| Summary {
                attempt,
                count: 0,
                limited: 0,
                last_detail: None,
            });
        line.count += 1;
        if verdict == Verdict::Limited {
            line.limited += 1;
        }
        if detail.is_some() {
            line.last_detail = detail;
        }
        verdict
    }

    /// The window's lines, and a fresh window.
    pub fn drain(&mut self) -> Vec<Summary> {
        self.per_source.clear();
        std::mem::take(&mut self.lines).into_values().collect()
    }

    /// Puts back lines a flush could not write, to go out with the next window's.
    pub fn restore(&mut self, lines: Vec<Summary>) {
        for line in lines {
            let entry = self
                .lines
                .entry(line.attempt.clone())
                .or_insert_with(|| Summary {
                    attempt: line.attempt.clone(),
                    count: 0,
                    limited: 0,
                    last_detail: None,
                });
            entry.count += line.count;
            entry.limited += line.limited;
            if entry.last_detail.is_none() {
                entry.last_detail = line.last_detail;
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad_token(source: &str) -> Attempt {
        Attempt {
            action: "token.authenticate".into(),
            target_kind: "ApiToken".into(),
            source: source.into(),
        }
    }

    #[test]
    fn two_hundred_failures_are_one_line_and_the_excess_is_limited() {
        let mut tally = Tally::new(20, 100);
        let verdicts: Vec<Verdict> = (0..200)
            .map(|_| tally.note(bad_token("203.0.113.9"), None))
            .collect();
        assert!(verdicts[..20].iter().all(|v| *v == Verdict::Counted));
        assert!(verdicts[20..].iter().all(|v| *v == Verdict::Limited));
        let lines = tally.drain();
        assert_eq!(lines.len(), 1);
        assert_eq!((lines[0].count, lines[0].limited), (200, 180));
        // A new window starts clean.
        assert!(tally.is_empty());
        assert_eq!(tally.note(bad_token("203.0.113.9"), None), Verdict::Counted);
        // Lines a flush could not write go out with the next window's.
        tally.restore(lines);
        let again = tally.drain();
        assert_eq!((again[0].count, again[0].limited), (201, 180));
    }

    #[test]
    fn sources_beyond_the_cap_share_a_line() {
        let mut tally = Tally::new(5, 2);
        for i in 0..50 {
            tally.note(
                bad_token(&format!("198.51.100.{i}")),
                Some(format!("try {i}")),
            );
        }
        let lines = tally.drain();
        assert_eq!(lines.len(), 3, "{lines:?}");
        let other = lines
            .iter()
            .find(|l| l.attempt.source == OTHER_SOURCES)
            .expect("a shared line");
        assert_eq!(other.count, 48);
        assert_eq!(other.limited, 43);
        assert_eq!(other.last_detail.as_deref(), Some("try 49"));
    }

    #[test]
    fn actions_are_summarised_apart() {
        let mut tally = Tally::new(20, 100);
        tally.note(bad_token("192.0.2.1"), None);
        tally.note(
            Attempt {
                action: "session.sign_in".into(),
                target_kind: String::new(),
                source: "192.0.2.1".into(),
            },
            None,
        );
        assert_eq!(tally.drain().len(), 2);
    }
}
