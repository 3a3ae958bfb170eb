//! Byte sizes as Elasticsearch spells them (`50gb`, binary multiples), both ways.

/// Parses `512b`, `10kb`, `50gb`, `1.5tb` (case-insensitive; `k`/`m`/`g`/`t` alone work
/// too). Units are binary, as in Elasticsearch: `1kb` is 1024 bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid size {text:?}: expected a number and a unit, e.g. 50gb"))?;
    let shift = match unit.trim() {
        "" | "b" => 0,
        "k" | "kb" => 10,
        "m" | "mb" => 20,
        "g" | "gb" => 30,
        "t" | "tb" => 40,
        "p" | "pb" => 50,
        _ => {
            return Err(format!(
                "invalid size {text:?}: unit must be one of b, kb, mb, gb, tb, pb"
            ))
        }
    };
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("size {text:?} is out of range"));
    }
    Ok(bytes.round() as u64)
}

/// `1.2gb`, `340kb`, `17b`: one decimal above 1 kb.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["b", "kb", "mb", "gb", "tb", "pb"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}b")
    } else {
        format!("{value:.1}{}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_binary_units() {
        assert_eq!(parse_size("50gb"), Ok(50 << 30));
        assert_eq!(parse_size("1KB"), Ok(1024));
        assert_eq!(parse_size("1.5m"), Ok(1_572_864));
        assert_eq!(parse_size("17"), Ok(17));
        for bad in ["", "gb", "1zb", "-1gb", "1..2kb"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_format_compactly() {
        assert_eq!(format_size(17), "17b");
        assert_eq!(format_size(1536), "1.5kb");
        assert_eq!(format_size(50 << 30), "50.0gb");
    }
}
