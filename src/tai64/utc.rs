//! The proleptic Gregorian calendar in UTC without the C library: Unix
//! seconds to and from a civil date and time, and RFC 3339 stamps
//! (`2026-12-01T21:39:40.123456500Z`). Used by svlog's `--utc` display and
//! its time parser; pure functions, valid for every i64 day count.

use super::local::{push_date_time, push_decimal};

/// A civil date and time (the same fields as the C library's local time).
pub type Civil = crate::sys::LocalTime;

/// Days from 1970-01-01 to the given date (months 1-12; days are not
/// checked against the month, so day 0 or 32 count on as arithmetic).
pub fn days_from_civil(year: i64, mon: u32, mday: u32) -> i64 {
    // Shift the year to start in March, so the leap day comes last.
    let y = if mon <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(mon);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(mday) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of day `z` counted from 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let mday = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let mon = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(mon <= 2);
    (year, mon, mday)
}

/// Whether `year` is a leap year.
pub fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// The number of days in a month (1-12) of `year`.
pub fn days_in_month(year: i64, mon: u32) -> u32 {
    match mon {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Unix seconds `t` as a UTC date and time.
pub fn civil(t: i64) -> Civil {
    let days = t.div_euclid(86_400);
    let rem = t.rem_euclid(86_400) as u32;
    let (year, mon, mday) = civil_from_days(days);
    Civil {
        year,
        mon,
        mday,
        hour: rem / 3600,
        min: rem / 60 % 60,
        sec: rem % 60,
    }
}

/// Unix seconds of a civil date and time read as UTC (None on overflow).
pub fn unix(c: &Civil) -> Option<i64> {
    days_from_civil(c.year, c.mon, c.mday)
        .checked_mul(86_400)?
        .checked_add(i64::from(c.hour) * 3600 + i64::from(c.min) * 60 + i64::from(c.sec))
}

/// Appends the RFC 3339 UTC form of Unix time `secs` + `nano`,
/// `YYYY-MM-DDTHH:MM:SS.NNNNNNNNNZ`. None (nothing appended) when the year
/// is outside 0000-9999 or `nano` is not below 10^9, which RFC 3339
/// cannot express.
pub fn push_rfc3339(out: &mut Vec<u8>, secs: i64, nano: u32) -> Option<()> {
    let c = civil(secs);
    if !(0..=9999).contains(&c.year) || nano >= 1_000_000_000 {
        return None;
    }
    push_date_time(out, c.year as u64, 4, &c, b'T');
    push_decimal(out, u64::from(nano), 9);
    out.push(b'Z');
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(days_from_civil(0, 1, 1)), (0, 1, 1));
        let c = civil(1_000_000_000);
        assert_eq!(
            (c.year, c.mon, c.mday, c.hour, c.min, c.sec),
            (2001, 9, 9, 1, 46, 40)
        );
        assert_eq!(unix(&c), Some(1_000_000_000));
        assert_eq!(days_in_month(1900, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
    }

    #[test]
    fn rfc3339() {
        let mut v = Vec::new();
        push_rfc3339(&mut v, 1_000_000_000, 123_456_500).unwrap();
        assert_eq!(v, b"2001-09-09T01:46:40.123456500Z".to_vec());
        v.clear();
        push_rfc3339(&mut v, -1, 0).unwrap();
        assert_eq!(v, b"1969-12-31T23:59:59.000000000Z".to_vec());
        assert!(push_rfc3339(&mut v, i64::MAX, 0).is_none());
        assert!(push_rfc3339(&mut v, 0, 1_000_000_000).is_none());
        assert!(push_rfc3339(&mut v, -62_167_219_201, 0).is_none());
    }

    proptest! {
        #[test]
        fn round_trip(t in -400_000_000_000i64..400_000_000_000) {
            let c = civil(t);
            prop_assert_eq!(unix(&c), Some(t));
            prop_assert!(c.mday >= 1 && c.mday <= days_in_month(c.year, c.mon));
        }
    }
}
