//! Time and its text forms in the S3 API, in one place: RFC 7231 dates for headers (`Date`,
//! `Last-Modified`), ISO 8601 with milliseconds for XML (`LastModified`, `CreationDate`), and
//! SigV4's `yyyymmddThhmmssZ`. One pair of calendar conversions (Howard Hinnant's algorithms,
//! proleptic Gregorian) serves them all.

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// `Tue, 29 Aug 2017 22:36:03 GMT`
pub(crate) fn http_date(ms: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_millis(ms))
}

/// Parses an HTTP date (all three RFC 7231 forms) into milliseconds since the epoch.
pub(crate) fn parse_http_date(text: &str) -> Option<u64> {
    let time = httpdate::parse_http_date(text.trim()).ok()?;
    Some(time.duration_since(UNIX_EPOCH).ok()?.as_millis() as u64)
}

/// `2017-08-29T22:36:03.613Z`
pub(crate) fn iso8601(ms: u64) -> String {
    String::from_utf8_lossy(&iso8601_bytes(ms)).into_owned()
}

/// `iso8601` into a fixed buffer, without allocating (listings format thousands per page).
/// Years past 9999 are clamped: S3 timestamps are four-digit years.
pub(crate) fn iso8601_bytes(ms: u64) -> [u8; 24] {
    let seconds = ms / 1000;
    let days = (seconds / 86_400) as i64;
    let second_of_day = (seconds % 86_400) as u32;
    let (year, month, day) = civil_from_days(days);
    let year = year.clamp(0, 9999) as u32;
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, value: u32, width: usize| {
        let mut value = value;
        for index in (at..at + width).rev() {
            out[index] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, year, 4);
    put(5, month, 2);
    put(8, day, 2);
    put(11, second_of_day / 3600, 2);
    put(14, second_of_day / 60 % 60, 2);
    put(17, second_of_day % 60, 2);
    put(20, (ms % 1000) as u32, 3);
    out
}

/// `iso8601_bytes` for many timestamps in a row (a listing page): the calendar date is
/// computed once per distinct day, which was a fifth of a page's encoding time.
#[derive(Default)]
pub(crate) struct Iso8601Days {
    /// The day of `date` (days since the epoch), and its `YYYY-MM-DD` bytes.
    cached: Option<(u64, [u8; 10])>,
}

impl Iso8601Days {
    pub(crate) fn format(&mut self, ms: u64) -> [u8; 24] {
        let day = ms / 86_400_000;
        let date = match self.cached {
            Some((cached_day, date)) if cached_day == day => date,
            _ => {
                let mut date = [0u8; 10];
                date.copy_from_slice(&iso8601_bytes(ms)[..10]);
                self.cached = Some((day, date));
                date
            }
        };
        let mut out = *b"0000-00-00T00:00:00.000Z";
        out[..10].copy_from_slice(&date);
        let second_of_day = ((ms / 1000) % 86_400) as u32;
        let two = |value: u32| [b'0' + (value / 10) as u8, b'0' + (value % 10) as u8];
        out[11..13].copy_from_slice(&two(second_of_day / 3600));
        out[14..16].copy_from_slice(&two(second_of_day / 60 % 60));
        out[17..19].copy_from_slice(&two(second_of_day % 60));
        let millis = (ms % 1000) as u32;
        out[20..23].copy_from_slice(&[
            b'0' + (millis / 100) as u8,
            b'0' + (millis / 10 % 10) as u8,
            b'0' + (millis % 10) as u8,
        ]);
        out
    }
}

/// `yyyymmddThhmmssZ` (SigV4's `x-amz-date`) → milliseconds since the epoch.
pub(crate) fn parse_amz_date(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<u32>().ok();
    let (year, month, day) = (number(0..4)?, number(4..6)?, number(6..8)?);
    let (hour, minute, second) = (number(9..11)?, number(11..13)?, number(13..15)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    let seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    u64::try_from(seconds).ok().map(|s| s * 1000)
}

/// Milliseconds since the epoch → `yyyymmddThhmmssZ`.
pub(crate) fn amz_date(ms: u64) -> String {
    let iso = iso8601_bytes(ms);
    // 2017-08-29T22:36:03.613Z → 20170829T223603Z
    let picked: Vec<u8> = [0..4, 5..7, 8..10, 10..11, 11..13, 14..16, 17..19]
        .into_iter()
        .flat_map(|range| iso[range].iter().copied())
        .chain(std::iter::once(b'Z'))
        .collect();
    String::from_utf8_lossy(&picked).into_owned()
}

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = i64::from(if month > 2 { month - 3 } else { month + 9 });
    let day_of_year = (153 * month_index + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The civil date of a day since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

thread_local! {
    /// The `Date` header value of the current second, formatted once per second per core.
    static DATE_CACHE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Calls `f` with the current `Date` header value.
pub(crate) fn with_current_http_date<R>(f: impl FnOnce(&str) -> R) -> R {
    let now_seconds = now_ms() / 1000;
    DATE_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != now_seconds {
            *cache = (now_seconds, http_date(now_seconds * 1000));
        }
        f(&cache.1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_day_cache_formats_exactly_as_iso8601_bytes() {
        let mut days = Iso8601Days::default();
        // Runs of nearby instants (cache hits), day boundaries, leap days, far past and future.
        let mut instants =
            vec![0, 999, 86_399_999, 86_400_000, 951_782_400_000, 253_402_300_799_999, 400_000_000_000_000];
        let mut ms = 1_764_000_000_000u64;
        for step in 0..5000u64 {
            ms += step * 7_919 % 3_600_000;
            instants.push(ms);
        }
        for ms in instants {
            assert_eq!(days.format(ms), iso8601_bytes(ms), "{ms}");
        }
    }

    #[test]
    fn formats_match_s3() {
        // 2017-08-29T22:36:03.613Z, the object in Alluxio's walkthrough.
        let ms = 1_504_046_163_613;
        assert_eq!(iso8601(ms), "2017-08-29T22:36:03.613Z");
        assert_eq!(http_date(ms), "Tue, 29 Aug 2017 22:36:03 GMT");
        assert_eq!(parse_http_date("Tue, 29 Aug 2017 22:36:03 GMT"), Some(1_504_046_163_000));
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn amz_dates_round_trip() {
        assert_eq!(parse_amz_date("20130524T000000Z"), Some(1_369_353_600_000));
        assert_eq!(amz_date(1_369_353_600_000), "20130524T000000Z");
        assert_eq!(amz_date(1_504_046_163_613), "20170829T223603Z");
        assert_eq!(parse_amz_date("2013-05-24"), None);
        assert_eq!(parse_amz_date("20131324T000000Z"), None);
    }

    #[test]
    fn calendar_conversions_are_inverse() {
        for days in (-800_000..800_000).step_by(997) {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days);
        }
    }
}
