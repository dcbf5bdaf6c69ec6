//! RFC 3339 UTC timestamps for registry records, from the crate's clock and calendar.

use crate::core::calendar::{DAY_MS, date_of_day, day_of};

/// `2026-12-06T23:08:30.123Z` for an epoch-milliseconds instant.
pub(crate) fn rfc3339(ms: i64) -> String {
    let in_day = ms.rem_euclid(DAY_MS);
    let (h, m, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    format!(
        "{}T{h:02}:{m:02}:{s:02}.{milli:03}Z",
        date_of_day(day_of(ms))
    )
}

/// Now, as [`rfc3339`].
pub(crate) fn now() -> String {
    rfc3339(crate::core::now_ms())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instant_prints_as_utc_rfc3339_with_milliseconds() {
        let ms = crate::core::calendar::parse_instant("2026-12-06T23:08:30Z").unwrap() + 123;
        assert_eq!(rfc3339(ms), "2026-12-06T23:08:30.123Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
    }
}
