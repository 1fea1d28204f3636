//! Which `Host` headers Berth answers to (against DNS rebinding: a name an attacker controls,
//! pointed at Berth's address, must not get pages that carry a visitor's session).

/// Whether `host_header` (`name`, `name:port`, `[v6]:port`) is one of `allowed`. An entry
/// without a port allows every port of that name; names compare case-insensitively. An empty
/// list allows every host.
pub fn allowed(allowed: &[String], host_header: &str) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let header = host_header.trim().to_ascii_lowercase();
    let name = if let Some(rest) = header.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, _)) => format!("[{v6}]"),
            None => return false,
        }
    } else {
        match header.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name.to_owned(),
            Some(_) => return false,
            None => header.clone(),
        }
    };
    if name.is_empty() {
        return false;
    }
    allowed.iter().any(|entry| {
        let entry = entry.to_ascii_lowercase();
        entry == header || entry == name
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn names_match_with_any_port_unless_the_entry_names_one() {
        let loopback = list(&["127.0.0.1", "localhost", "[::1]"]);
        assert!(allowed(&loopback, "127.0.0.1:3000"));
        assert!(allowed(&loopback, "LOCALHOST:8080"));
        assert!(allowed(&loopback, "[::1]:3000"));
        assert!(!allowed(&loopback, "evil.example.com:3000"));
        assert!(!allowed(&loopback, "127.0.0.1.evil.example.com"));
        assert!(!allowed(&loopback, ""));
        assert!(!allowed(&loopback, ":3000"));
        let pinned = list(&["berth.example.com:8443"]);
        assert!(allowed(&pinned, "berth.example.com:8443"));
        assert!(!allowed(&pinned, "berth.example.com:9999"));
        assert!(!allowed(&pinned, "berth.example.com"));
        assert!(allowed(&[], "anything:1"), "no list: every host");
    }
}
