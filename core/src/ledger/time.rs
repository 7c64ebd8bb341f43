//! PostgreSQL timestamps (microseconds since 2000-01-01 UTC) to and from ISO 8601 text.
//!
//! The form is `YYYY-MM-DDTHH:MM:SS.ffffffZ` in the proleptic Gregorian calendar. Years
//! outside 0000–9999 use ISO 8601's expanded form (`+10000-…`, `-0001-…` for 2 BC,
//! astronomical numbering), so every `i64` has a text and the text parses back to it;
//! PostgreSQL's `infinity` and `-infinity` (i64::MAX and i64::MIN) keep those names.

/// 2000-01-01 00:00:00 UTC as seconds since the Unix epoch.
pub const POSTGRES_EPOCH_UNIX_SECONDS: i64 = 946_684_800;

const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: i64 = 86_400;
const POSTGRES_EPOCH_UNIX_DAYS: i64 = POSTGRES_EPOCH_UNIX_SECONDS / SECONDS_PER_DAY;
/// Years longer than this cannot come from an `i64` of microseconds (≈ ±292,277 years),
/// and refusing them early keeps the day arithmetic far from overflow.
const MAX_YEAR_DIGITS: usize = 9;

/// ISO 8601 UTC text of a PostgreSQL timestamp, e.g. `2026-11-22T06:15:01.123456Z`.
pub fn timestamp_to_iso(micros: i64) -> String {
    let mut out = String::with_capacity(27);
    write_timestamp_iso(micros, &mut out);
    out
}

/// Appends [`timestamp_to_iso`] of `micros` to `out`.
pub fn write_timestamp_iso(micros: i64, out: &mut String) {
    use std::fmt::Write as _;
    match micros {
        i64::MAX => return out.push_str("infinity"),
        i64::MIN => return out.push_str("-infinity"),
        _ => {}
    }
    let seconds = micros.div_euclid(MICROS_PER_SECOND);
    let fraction = micros.rem_euclid(MICROS_PER_SECOND);
    let days = seconds.div_euclid(SECONDS_PER_DAY);
    let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY);
    let (year, month, day) = civil_from_days(days + POSTGRES_EPOCH_UNIX_DAYS);
    // Writing to a String cannot fail.
    let _ = match year {
        0..=9999 => write!(out, "{year:04}"),
        10000.. => write!(out, "+{year}"),
        _ => write!(out, "-{:04}", -year),
    };
    let _ = write!(
        out,
        "-{month:02}-{day:02}T{:02}:{:02}:{:02}.{fraction:06}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    );
}

/// Parses ISO 8601 UTC text as written by [`timestamp_to_iso`]; the fraction may have
/// 1 to 6 digits or be left out. `None` for anything else, including dates that do not
/// exist and instants an `i64` of microseconds cannot hold.
pub fn timestamp_from_iso(text: &str) -> Option<i64> {
    match text {
        "infinity" => return Some(i64::MAX),
        "-infinity" => return Some(i64::MIN),
        _ => {}
    }
    let bytes = text.as_bytes();
    let (negative, expanded, rest) = match bytes.first()? {
        b'+' => (false, true, &bytes[1..]),
        b'-' => (true, true, &bytes[1..]),
        _ => (false, false, bytes),
    };
    let year_len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let year_len_ok = if expanded { (4..=MAX_YEAR_DIGITS).contains(&year_len) } else { year_len == 4 };
    if !year_len_ok {
        return None;
    }
    let year_abs = digits(&rest[..year_len])?;
    let year = if negative { -year_abs } else { year_abs };
    let rest = &rest[year_len..];
    // Fixed layout after the year: -MM-DDTHH:MM:SS
    if rest.len() < 15 || rest[0] != b'-' || rest[3] != b'-' || rest[6] != b'T' || rest[9] != b':' || rest[12] != b':' {
        return None;
    }
    let month = digits(&rest[1..3])?;
    let day = digits(&rest[4..6])?;
    let hour = digits(&rest[7..9])?;
    let minute = digits(&rest[10..12])?;
    let second = digits(&rest[13..15])?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let rest = &rest[15..];
    let (fraction, rest) = match rest.first() {
        Some(b'.') => {
            let len = rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
            if !(1..=6).contains(&len) {
                return None;
            }
            let scale = 10i64.pow(6 - len as u32);
            (digits(&rest[1..=len])? * scale, &rest[1 + len..])
        }
        _ => (0, rest),
    };
    if rest != b"Z" {
        return None;
    }
    let days = i128::from(days_from_civil(year, month, day) - POSTGRES_EPOCH_UNIX_DAYS);
    let seconds = days * i128::from(SECONDS_PER_DAY) + i128::from(hour * 3600 + minute * 60 + second);
    let micros = seconds * i128::from(MICROS_PER_SECOND) + i128::from(fraction);
    // The two extremes spell the infinities; a finite text must not land on them.
    i64::try_from(micros).ok().filter(|m| *m != i64::MAX && *m != i64::MIN)
}

/// Value of a run of ASCII digits (at most `MAX_YEAR_DIGITS` long, so no overflow).
fn digits(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || bytes.len() > MAX_YEAR_DIGITS {
        return None;
    }
    bytes.iter().try_fold(0i64, |acc, b| b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0')))
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's algorithms (chrono-compatible "days from civil"), proleptic Gregorian,
// days relative to 1970-01-01; exact for any year this module accepts.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400);
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        let cases: &[(i64, &str)] = &[
            (0, "2000-01-01T00:00:00.000000Z"),
            (1, "2000-01-01T00:00:00.000001Z"),
            (-1, "1999-12-31T23:59:59.999999Z"),
            // 1970-01-01 is 10957 days before the PostgreSQL epoch.
            (-946_684_800_000_000, "1970-01-01T00:00:00.000000Z"),
            (848_729_701_123_456, "2026-11-23T06:15:01.123456Z"),
            (36_370_598_400_000_000, "3152-07-16T00:00:00.000000Z"),
            (5_097_600_000_000, "2000-02-29T00:00:00.000000Z"),
            (-63_113_904_000_000_000, "0000-01-01T00:00:00.000000Z"),
            (-63_145_440_000_000_000, "-0001-01-01T00:00:00.000000Z"),
            (252_455_616_000_000_000, "+10000-01-01T00:00:00.000000Z"),
            (i64::MAX, "infinity"),
            (i64::MIN, "-infinity"),
        ];
        for (micros, text) in cases {
            assert_eq!(timestamp_to_iso(*micros), *text, "{micros}");
            assert_eq!(timestamp_from_iso(text), Some(*micros), "{text}");
        }
    }

    #[test]
    fn every_finite_extreme_round_trips() {
        for micros in [i64::MIN + 1, i64::MAX - 1, -86_400_000_000 * 146_097, 86_400_000_000 * 146_097 - 1] {
            let text = timestamp_to_iso(micros);
            assert_eq!(timestamp_from_iso(&text), Some(micros), "{text}");
        }
        let mut micros: i64 = -1_000_000_000_000_000_000;
        while micros < 1_000_000_000_000_000_000 {
            let text = timestamp_to_iso(micros);
            assert_eq!(timestamp_from_iso(&text), Some(micros), "{text}");
            micros += 7_777_777_777_777_777;
        }
    }

    #[test]
    fn shorter_fractions_are_accepted() {
        assert_eq!(timestamp_from_iso("2000-01-01T00:00:01Z"), Some(1_000_000));
        assert_eq!(timestamp_from_iso("2000-01-01T00:00:01.5Z"), Some(1_500_000));
        assert_eq!(timestamp_from_iso("2000-01-01T00:00:01.000120Z"), Some(1_000_120));
    }

    #[test]
    fn malformed_texts_are_refused() {
        for text in [
            "",
            "Z",
            "2000-01-01",
            "2000-01-01 00:00:00Z",
            "2000-01-01T00:00:00",
            "2000-01-01T00:00:00+00:00",
            "2000-01-01T00:00:00.Z",
            "2000-01-01T00:00:00.1234567Z",
            "2000-13-01T00:00:00Z",
            "2000-00-01T00:00:00Z",
            "2001-02-29T00:00:00Z",
            "2000-04-31T00:00:00Z",
            "2000-01-01T24:00:00Z",
            "2000-01-01T00:60:00Z",
            "2000-01-01T00:00:60Z",
            "10000-01-01T00:00:00Z",
            "+999999999-01-01T00:00:00Z",
            "-999999999-01-01T00:00:00Z",
            "+1234567890-01-01T00:00:00Z",
            "２０００-01-01T00:00:00Z",
            "2000-01-01T00:00:00Zjunk",
            "Infinity",
        ] {
            assert_eq!(timestamp_from_iso(text), None, "{text}");
        }
    }
}
