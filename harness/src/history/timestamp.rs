//! RFC 3339 timestamps as a run folder gives them. The history orders runs by
//! `started_at` as text, so only a real timestamp, rewritten in the one form a run writes
//! (`YYYY-MM-DDTHH:MM:SSZ`, UTC), may be stored: anything else would sort above or below
//! every real run.

/// How far ahead of this host's clock a run may claim to have started: lab hosts' clocks
/// drift, but a run dated days ahead would stay "newest" until that day.
pub const ALLOWED_CLOCK_SKEW_S: i64 = 24 * 3600;

/// Parses an RFC 3339 timestamp (`2026-01-01T03:00:00Z`, `2026-01-01t04:00:00.5+01:00`)
/// into seconds since the epoch (fractions dropped). Refuses dates before 1970.
pub fn parse_rfc3339(text: &str) -> Result<i64, &'static str> {
    const EXPECTED: &str = "is not an RFC 3339 timestamp like 2026-01-01T03:00:00Z";
    let b = text.as_bytes();
    if b.len() < 20 || b.len() > 40 || !text.is_ascii() {
        return Err(EXPECTED);
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, &'static str> {
        let part = &b[range];
        if part.iter().all(u8::is_ascii_digit) {
            Ok(part.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
        } else {
            Err(EXPECTED)
        }
    };
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(EXPECTED);
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &b[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(EXPECTED);
        }
        rest = &fraction[digits..];
    }
    let offset_s = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return Err(EXPECTED);
            }
            let hours = i64::from(h1 - b'0') * 10 + i64::from(h2 - b'0');
            let minutes = i64::from(m1 - b'0') * 10 + i64::from(m2 - b'0');
            if hours > 23 || minutes > 59 {
                return Err("has an offset out of range");
            }
            let s = hours * 3600 + minutes * 60;
            if *sign == b'+' { s } else { -s }
        }
        _ => return Err(EXPECTED),
    };
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err("is not a date of the calendar");
    }
    // 60 is a leap second, which RFC 3339 allows; it is stored as the second before.
    if hour > 23 || minute > 59 || second > 60 {
        return Err("is not a time of day");
    }
    let secs =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second.min(59)
            - offset_s;
    if secs < 0 {
        return Err("is before 1970");
    }
    Ok(secs)
}

/// `text` checked as a run's start: an RFC 3339 timestamp no further ahead of `now_s`
/// than [`ALLOWED_CLOCK_SKEW_S`], rewritten as UTC `YYYY-MM-DDTHH:MM:SSZ`.
pub fn normalized_start(text: &str, now_s: i64) -> Result<String, String> {
    let secs = parse_rfc3339(text).map_err(str::to_string)?;
    if secs > now_s + ALLOWED_CLOCK_SKEW_S {
        return Err(format!(
            "is more than a day ahead of this host's clock ({}): a run cannot start in the \
             future (check the clock of the host that made the folder)",
            crate::report::rfc3339(u64::try_from(now_s).unwrap_or(0))
        ));
    }
    Ok(crate::report::rfc3339(secs as u64))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_timestamps_parse_and_normalise_to_utc() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_rfc3339("2000-03-01T00:00:00Z"), Ok(951_868_800));
        let now = 2_000_000_000;
        assert_eq!(
            normalized_start("2026-01-01T03:00:00Z", now).unwrap(),
            "2026-01-01T03:00:00Z"
        );
        assert_eq!(
            normalized_start("2026-01-01t04:00:00.123+01:00", now).unwrap(),
            "2026-01-01T03:00:00Z"
        );
        assert_eq!(
            normalized_start("2025-12-31T22:30:00-04:30", now).unwrap(),
            "2026-01-01T03:00:00Z"
        );
        assert_eq!(
            normalized_start("2024-02-29T00:00:00Z", now).unwrap(),
            "2024-02-29T00:00:00Z"
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "yesterday",
            "9999",
            "zzzz-01-01T00:00:00Z",
            "2026-01-01 03:00:00Z",
            "2026-01-01T03:00:00",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-01-32T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T03:00:00.Z",
            "2026-01-01T03:00:00+1:00",
            "2026-01-01T03:00:00+24:00",
            "1969-12-31T23:59:59Z",
            "2026-01-01T03:00:00Z\n",
            "２０２６-01-01T03:00:00Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad:?}");
        }
        let now = 1_767_236_400; // 2026-01-01T03:00:00Z
        assert!(normalized_start("2026-01-02T03:00:00Z", now).is_ok());
        let ahead = normalized_start("9999-12-31T23:59:59Z", now).unwrap_err();
        assert!(ahead.contains("ahead of this host's clock"), "{ahead}");
    }
}
