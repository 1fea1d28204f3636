//! Kubernetes resource quantities (`500m`, `1.5Gi`, `2e3`, `128974848`) as plain numbers, and
//! the percentages quota views show.
//!
//! Values are kept as `f64` in base units (cores, bytes, counts): quota views need ratios and
//! readable figures, not the API server's exact canonical form, and 53 bits hold every quantity
//! a cluster realistically carries to the byte.

/// A quantity in base units: cores for CPU, bytes for memory and storage, plain counts.
pub fn parse(text: &str) -> Result<f64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("a quantity may not be empty".to_owned());
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let invalid = || format!("{text:?} is not a quantity (examples: 500m, 1.5Gi, 2e3, 10)");
    if number.is_empty() || number == "+" || number == "-" {
        return Err(invalid());
    }
    let base: f64 = number.parse().map_err(|_| invalid())?;
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0_f64.powi(2),
        "Gi" => 1024.0_f64.powi(3),
        "Ti" => 1024.0_f64.powi(4),
        "Pi" => 1024.0_f64.powi(5),
        "Ei" => 1024.0_f64.powi(6),
        exp if exp.starts_with(['e', 'E']) => {
            let power: i32 = exp[1..].parse().map_err(|_| invalid())?;
            10f64.powi(power)
        }
        _ => return Err(invalid()),
    };
    let value = base * factor;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(value)
}

/// What a quota resource measures, which decides how its figures read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Cores,
    Bytes,
    Count,
}

impl Unit {
    /// The unit of a `ResourceQuota` key such as `requests.cpu` or `count/deployments.apps`.
    pub fn of_resource(resource: &str) -> Unit {
        if resource.ends_with("cpu") {
            Unit::Cores
        } else if resource.ends_with("memory") || resource.ends_with("storage") {
            Unit::Bytes
        } else {
            Unit::Count
        }
    }
}

/// A figure for people: `250m`, `1.5`, `512Mi`, `2Gi`, `12`.
pub fn format(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Cores if value != 0.0 && value < 1.0 => format!("{}m", (value * 1000.0).round()),
        Unit::Cores | Unit::Count => trim(value),
        Unit::Bytes => {
            const STEPS: [(&str, f64); 4] = [
                ("Ti", 1_099_511_627_776.0),
                ("Gi", 1_073_741_824.0),
                ("Mi", 1_048_576.0),
                ("Ki", 1024.0),
            ];
            STEPS
                .iter()
                .find(|(_, size)| value >= *size)
                .map(|(suffix, size)| format!("{}{suffix}", trim(value / size)))
                .unwrap_or_else(|| trim(value))
        }
    }
}

fn trim(value: f64) -> String {
    let rounded = (value * 100.0).round() / 100.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded}")
    }
}

/// Used as a share of hard, in percent; `None` when hard is zero (nothing may be used).
pub fn percent(used: f64, hard: f64) -> Option<f64> {
    (hard > 0.0).then(|| used / hard * 100.0)
}

/// How a quota bar is coloured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Pressure {
    Normal,
    /// At or above 80 %: the seeds' threshold for "ask for more before it bites".
    Near,
    /// At or above 100 %: new pods will be refused.
    Full,
}

pub fn pressure(percent: Option<f64>) -> Pressure {
    match percent {
        Some(p) if p >= 100.0 => Pressure::Full,
        Some(p) if p >= 80.0 => Pressure::Near,
        Some(_) => Pressure::Normal,
        // Hard zero: anything at all is over.
        None => Pressure::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn parses_the_forms_the_api_server_accepts() {
        let cases = [
            ("500m", 0.5),
            ("2", 2.0),
            ("1.5", 1.5),
            ("1.5Gi", 1.5 * 1024.0 * 1024.0 * 1024.0),
            ("128974848", 128_974_848.0),
            ("129e6", 129e6),
            ("2e3", 2000.0),
            ("123Mi", 123.0 * 1024.0 * 1024.0),
            ("1k", 1000.0),
            ("1Ki", 1024.0),
            ("100n", 1e-7),
            ("0", 0.0),
            ("+3", 3.0),
            (" 4 ", 4.0),
        ];
        for (text, want) in cases {
            let got = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(close(got, want), "{text}: got {got}, want {want}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_quantity() {
        for text in ["", "m", "1.5X", "abc", "1Gib", "--1", "-1", "1e", "Gi"] {
            assert!(parse(text).is_err(), "{text:?} should be refused");
        }
    }

    #[test]
    fn formats_figures_for_people() {
        assert_eq!(format(0.25, Unit::Cores), "250m");
        assert_eq!(format(1.5, Unit::Cores), "1.5");
        assert_eq!(format(0.0, Unit::Cores), "0");
        assert_eq!(format(512.0 * 1024.0 * 1024.0, Unit::Bytes), "512Mi");
        assert_eq!(format(2.0 * 1024.0 * 1024.0 * 1024.0, Unit::Bytes), "2Gi");
        assert_eq!(format(100.0, Unit::Bytes), "100");
        assert_eq!(format(12.0, Unit::Count), "12");
    }

    #[test]
    fn units_follow_the_quota_key() {
        assert_eq!(Unit::of_resource("requests.cpu"), Unit::Cores);
        assert_eq!(Unit::of_resource("limits.memory"), Unit::Bytes);
        assert_eq!(Unit::of_resource("requests.storage"), Unit::Bytes);
        assert_eq!(Unit::of_resource("pods"), Unit::Count);
        assert_eq!(Unit::of_resource("count/deployments.apps"), Unit::Count);
    }

    #[test]
    fn pressure_turns_at_80_and_100_percent() {
        assert_eq!(pressure(percent(1.0, 2.0)), Pressure::Normal);
        assert_eq!(pressure(percent(0.8, 1.0)), Pressure::Near);
        assert_eq!(
            pressure(percent(
                parse("1.6Gi").unwrap_or(0.0),
                parse("2Gi").unwrap_or(1.0)
            )),
            Pressure::Near
        );
        assert_eq!(pressure(percent(2.0, 2.0)), Pressure::Full);
        assert_eq!(pressure(percent(3.0, 2.0)), Pressure::Full);
        assert_eq!(pressure(percent(0.0, 0.0)), Pressure::Full);
    }
}
