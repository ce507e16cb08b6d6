//! Unix milliseconds to calendar fields, for reports; no time-zone database
//! needed, only a fixed UTC offset.

pub(crate) const MS_PER_DAY: i64 = 86_400_000;

/// Calendar fields of a moment, shifted by `offset_minutes` from UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// 0 = Sunday … 6 = Saturday.
    pub weekday: u32,
}

pub(crate) fn civil(ms: i64, offset_minutes: i32) -> Civil {
    let local = ms.saturating_add(i64::from(offset_minutes) * 60_000);
    let days = local.div_euclid(MS_PER_DAY);
    let ms_of_day = local.rem_euclid(MS_PER_DAY);
    let secs = ms_of_day / 1000;
    let (year, month, day) = civil_from_days(days);
    // Every value below is reduced modulo a small bound, so the narrowing
    // conversions cannot truncate.
    Civil {
        year,
        month,
        day,
        hour: (secs / 3600) as u32,
        minute: (secs / 60 % 60) as u32,
        second: (secs % 60) as u32,
        // 1970-01-01 was a Thursday (4).
        weekday: (days + 4).rem_euclid(7) as u32,
    }
}

/// Howard Hinnant's `civil_from_days`: proleptic Gregorian date of a day
/// count from 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `20240301T120000Z` (UTC): a moment for a file name (no `:`).
pub fn compact_utc(ms: i64) -> String {
    let c = civil(ms, 0);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// `2024-03-01T12:00:00Z` (UTC).
pub(crate) fn rfc3339(ms: i64) -> String {
    let c = civil(ms, 0);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(-1000), "1969-12-31T23:59:59Z");
        // 2023-11-14 was a Tuesday.
        assert_eq!(civil(1_700_000_000_000, 0).weekday, 2);
        // Eight hours east it is already Wednesday 06:13.
        let c = civil(1_700_000_000_000, 480);
        assert_eq!((c.weekday, c.hour, c.minute), (3, 6, 13));
    }
}
