//! Kubernetes resource quantities ("500m", "1.5", "128Mi", "1G"): parsed to plain numbers
//! (cores, bytes, counts) and written back in the canonical short forms.

/// Parses a quantity; `None` when it is not one.
pub fn parse(text: &str) -> Option<f64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let suffixes: [(&str, f64); 15] = [
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Ti", 1024f64.powi(4)),
        ("Pi", 1024f64.powi(5)),
        ("Ei", 1024f64.powi(6)),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    for (suffix, factor) in suffixes {
        if let Some(number) = text.strip_suffix(suffix) {
            // "1e3" ends in no suffix; "5E" would be exa, which no one uses for a count.
            return number.parse::<f64>().ok().map(|n| n * factor);
        }
    }
    text.parse::<f64>().ok()
}

/// Parses a JSON quantity, which may be a string or a bare number.
pub fn of(value: &serde_json::Value) -> Option<f64> {
    match value {
        serde_json::Value::String(s) => parse(s),
        serde_json::Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// Whether a resource name measures bytes (memory, storage) rather than cores or counts.
pub fn is_bytes(resource: &str) -> bool {
    resource.contains("memory") || resource.contains("storage")
}

/// The canonical text of `value` for `resource`: millicores for CPU, binary suffixes for bytes.
pub fn format(resource: &str, value: f64) -> String {
    if is_bytes(resource) {
        format_bytes(value)
    } else if resource.contains("cpu") {
        format_cpu(value)
    } else {
        format!("{}", value.round() as i64)
    }
}

pub fn format_cpu(cores: f64) -> String {
    let millis = (cores * 1000.0).round() as i64;
    if millis % 1000 == 0 {
        format!("{}", millis / 1000)
    } else {
        format!("{millis}m")
    }
}

pub fn format_bytes(bytes: f64) -> String {
    let bytes = bytes.round() as i64;
    for (suffix, factor) in [
        ("Ti", 1i64 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ] {
        if bytes != 0 && bytes % factor == 0 {
            return format!("{}{suffix}", bytes / factor);
        }
    }
    format!("{bytes}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_forms() {
        assert_eq!(parse("500m"), Some(0.5));
        assert_eq!(parse("2"), Some(2.0));
        assert_eq!(parse("0.25"), Some(0.25));
        assert_eq!(parse("128Mi"), Some(134_217_728.0));
        assert_eq!(parse("1G"), Some(1e9));
        assert_eq!(parse("1e3"), Some(1000.0));
        assert_eq!(parse("10n"), Some(10e-9));
        assert_eq!(parse("lots"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn formats_canonically() {
        assert_eq!(format("requests.cpu", 0.5), "500m");
        assert_eq!(format("cpu", 2.0), "2");
        assert_eq!(format("requests.memory", 1024.0 * 1024.0 * 1024.0), "1Gi");
        assert_eq!(format("limits.memory", 1536.0 * 1024.0 * 1024.0), "1536Mi");
        assert_eq!(format("pods", 3.0), "3");
        assert_eq!(format("requests.storage", 0.0), "0");
    }
}
