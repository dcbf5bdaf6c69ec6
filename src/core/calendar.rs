//! UTC days for budgets and reports: epoch milliseconds ↔ `YYYY-MM-DD`, ISO weeks (review
//! periods), and the time bounds `/v1/usage` accepts. Budgets reset at 00:00 UTC, whatever the
//! replica's time zone.
//!
//! The date arithmetic is Howard Hinnant's `days_from_civil` / `civil_from_days`
//! (<https://howardhinnant.github.io/date_algorithms.html>), exact over the proleptic Gregorian
//! calendar, so no date crate is needed for it.

/// Milliseconds in one UTC day.
pub const DAY_MS: i64 = 86_400_000;

/// The UTC day number (days since 1970-01-01) of an epoch-milliseconds instant.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// The first millisecond of a UTC day.
pub fn day_start_ms(day: i64) -> i64 {
    day * DAY_MS
}

/// `YYYY-MM-DD` of a UTC day number.
pub fn date_of_day(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The ISO 8601 week (`2026-W48`) of an epoch-milliseconds instant, in UTC. The week belongs
/// to the year of its Thursday.
pub fn iso_week(ms: i64) -> String {
    let day = day_of(ms);
    // 1970-01-01 was a Thursday: Monday-based weekday 3.
    let weekday = (day + 3).rem_euclid(7);
    let thursday = day - weekday + 3;
    let year = date_of_day(thursday)
        .get(..4)
        .and_then(|y| y.parse::<i64>().ok())
        .unwrap_or(1970);
    let jan1 = parse_instant(&format!("{year:04}-01-01")).map_or(0, |ms| ms / DAY_MS);
    let week = (thursday - jan1) / 7 + 1;
    format!("{year:04}-W{week:02}")
}

/// Parses a time bound: epoch milliseconds (`1767225600000`), a UTC date (`2025-11-03`, its
/// midnight) or an RFC 3339 UTC instant (`2025-11-03T14:00:00Z`, fractions of a second allowed).
pub fn parse_instant(text: &str) -> Result<i64, String> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse::<i64>()
            .map_err(|_| format!("{text:?} is too large for epoch milliseconds"));
    }
    let bad = || {
        format!(
            "{text:?} is not epoch milliseconds, a date (2025-11-03) or a UTC time (2025-11-03T14:00:00Z)"
        )
    };
    let (date, time) = match t.split_once(['T', 't', ' ']) {
        Some((d, rest)) => (d, Some(rest)),
        None => (t, None),
    };
    let mut parts = date.splitn(3, '-');
    let (y, m, d) = match (parts.next(), parts.next(), parts.next()) {
        (Some(y), Some(m), Some(d)) if y.len() == 4 && m.len() == 2 && d.len() == 2 => (
            y.parse::<i64>().map_err(|_| bad())?,
            m.parse::<u32>().map_err(|_| bad())?,
            d.parse::<u32>().map_err(|_| bad())?,
        ),
        _ => return Err(bad()),
    };
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return Err(bad());
    }
    let mut ms = days_from_civil(y, m, d) * DAY_MS;
    if let Some(time) = time {
        let time = time
            .strip_suffix(['Z', 'z'])
            .or_else(|| time.strip_suffix("+00:00"))
            .ok_or_else(|| format!("{text:?}: give the time in UTC (ending in Z)"))?;
        let (hms, frac) = match time.split_once('.') {
            Some((hms, frac)) => (hms, Some(frac)),
            None => (time, None),
        };
        let fields: Vec<&str> = hms.split(':').collect();
        if fields.len() != 3 || fields.iter().any(|f| f.len() != 2) {
            return Err(bad());
        }
        let num = |s: &str, max: i64| {
            s.parse::<i64>()
                .ok()
                .filter(|v| (0..=max).contains(v))
                .ok_or_else(bad)
        };
        ms += num(fields[0], 23)? * 3_600_000
            + num(fields[1], 59)? * 60_000
            + num(fields[2], 59)? * 1000;
        if let Some(frac) = frac {
            if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let millis: String = frac.chars().chain("000".chars()).take(3).collect();
            ms += millis.parse::<i64>().map_err(|_| bad())?;
        }
    }
    Ok(ms)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_and_start_at_midnight() {
        assert_eq!(date_of_day(0), "1970-01-01");
        assert_eq!(day_of(DAY_MS - 1), 0);
        assert_eq!(day_of(DAY_MS), 1);
        assert_eq!(day_of(-1), -1);
        // 2024-02-29 exists; 2025-11-03 is day 20395.
        assert_eq!(date_of_day(day_of(1_709_164_800_000)), "2024-02-29");
        assert_eq!(date_of_day(20_395), "2025-11-03");
        assert_eq!(day_start_ms(20_395), 1_762_128_000_000);
    }

    #[test]
    fn dates_and_days_round_trip_over_centuries() {
        for day in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
    }

    #[test]
    fn time_bounds_accept_millis_dates_and_utc_instants() {
        assert_eq!(parse_instant("1762128000000").unwrap(), 1_762_128_000_000);
        assert_eq!(parse_instant("2025-11-03").unwrap(), 1_762_128_000_000);
        assert_eq!(
            parse_instant("2025-11-03T01:02:03.5Z").unwrap(),
            1_762_128_000_000 + 3_723_500
        );
        assert_eq!(
            parse_instant("2025-11-03T00:00:00+00:00").unwrap(),
            1_762_128_000_000
        );
    }

    #[test]
    fn malformed_or_zoned_time_bounds_are_refused() {
        for bad in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-02-29",
            "2026-11-3",
            "2025-11-03T25:00:00Z",
            "2025-11-03T10:00:00-03:00",
            "2025-11-03T10:00Z",
        ] {
            assert!(parse_instant(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn iso_weeks_follow_the_thursday_rule() {
        let at = |d: &str| parse_instant(d).unwrap();
        assert_eq!(iso_week(at("2026-11-27")), "2026-W48");
        // 2021-01-03 (Sunday) belongs to the last week of 2020.
        assert_eq!(iso_week(at("2021-01-03")), "2020-W53");
        // 2024-12-30 (Monday) starts 2025-W01.
        assert_eq!(iso_week(at("2024-12-30")), "2025-W01");
        assert_eq!(iso_week(at("1970-01-01")), "1970-W01");
    }
}
