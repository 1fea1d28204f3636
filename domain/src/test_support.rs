//! Helpers the unit tests of several modules share.

use std::collections::BTreeMap;

/// A map of strings from literal pairs: quota amounts, labels, query parameters.
pub fn pairs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}
