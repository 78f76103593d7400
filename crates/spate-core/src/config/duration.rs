//! Durations written as Flink writes them: `100 ms`, `5s`, `1 min`, a bare number is
//! milliseconds.

use std::time::Duration;

use super::InvalidValue;

/// Parses a duration in Flink's syntax (`TimeUtils.parseDuration`).
pub fn parse_duration(text: &str) -> Result<Duration, InvalidValue> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(format!("'{text}' does not start with a number (examples: 500 ms, 10 s, 1 min)").into());
    }
    let amount: u64 = number.parse().map_err(|_| format!("'{number}' is too large"))?;
    let unit = unit.trim().to_ascii_lowercase();
    let nanos_per_unit: u64 = match unit.as_str() {
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1_000_000,
        "ns" | "nano" | "nanos" | "nanosecond" | "nanoseconds" => 1,
        "us" | "µs" | "micro" | "micros" | "microsecond" | "microseconds" => 1_000,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000_000_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000_000_000,
        "h" | "hour" | "hours" => 3_600_000_000_000,
        "d" | "day" | "days" => 86_400_000_000_000,
        other => {
            return Err(format!("unknown time unit '{other}' (use ns, us, ms, s, min, h or d)").into());
        }
    };
    let nanos = amount.checked_mul(nanos_per_unit).ok_or_else(|| format!("'{text}' is too large"))?;
    Ok(Duration::from_nanos(nanos))
}

/// Formats a duration the way it would be written in a config file.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if d.subsec_nanos() % 1_000_000 != 0 {
        format!("{} ns", d.as_nanos())
    } else if ms % 60_000 == 0 && ms > 0 {
        format!("{} min", ms / 60_000)
    } else if ms % 1000 == 0 && ms > 0 {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flink_durations() {
        assert_eq!(parse_duration("100").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration("100 ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("1 min").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("2 HOURS").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration(" 7 us ").unwrap(), Duration::from_micros(7));
    }

    #[test]
    fn rejects_bad_durations() {
        assert!(parse_duration("fast").unwrap_err().expected().contains("does not start with a number"));
        assert!(parse_duration("10 parsecs").unwrap_err().expected().contains("unknown time unit"));
        assert!(parse_duration("-5 s").is_err());
        assert!(parse_duration("99999999999999999999 d").is_err());
    }

    #[test]
    fn formats_round_trip() {
        for d in [Duration::from_millis(5), Duration::from_secs(3), Duration::from_secs(120), Duration::from_nanos(7)] {
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
    }
}
