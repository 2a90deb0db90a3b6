//! Points in time, and the stamps svlog recognises at the start of a log
//! line: multilog's TAI64N label (`@` + 24 lowercase hex digits), an
//! RFC 3339 stamp with an offset (`2026-12-01T21:39:40.123456+00:00`, the
//! readable stamps of issue 16 §2) and svlogd's `-tt` UTC stamp
//! (`2026-12-01_21:39:40.12345`). A stamp ends at a space, a tab or the end
//! of the line. Lines are never changed by this: it only finds their time.

use crate::tai64::{self, utc};

/// A point in time: Unix seconds and nanoseconds, ordered. Labels keep
/// their nanosecond field as written, even where it is 10^9 or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp {
    pub secs: i64,
    pub nano: u32,
}

impl Stamp {
    pub const MIN: Stamp = Stamp {
        secs: i64::MIN,
        nano: 0,
    };
    pub const MAX: Stamp = Stamp {
        secs: i64::MAX,
        nano: u32::MAX,
    };

    pub fn new(secs: i64, nano: u32) -> Stamp {
        Stamp { secs, nano }
    }

    /// The time of a TAI64N label (daemontools' fixed 10 s offset).
    pub fn from_label(secs: u64, nano: u32) -> Stamp {
        Stamp {
            secs: tai64::label_to_unix(secs),
            nano,
        }
    }

    /// This time moved by `nanos` (saturating at MIN and MAX).
    pub fn add_nanos(self, nanos: i128) -> Stamp {
        let total = i128::from(self.secs) * 1_000_000_000 + i128::from(self.nano.min(999_999_999));
        let t = total.saturating_add(nanos);
        let secs = t.div_euclid(1_000_000_000);
        if secs > i128::from(i64::MAX) {
            return Stamp::MAX;
        }
        if secs < i128::from(i64::MIN) {
            return Stamp::MIN;
        }
        Stamp {
            secs: secs as i64,
            nano: t.rem_euclid(1_000_000_000) as u32,
        }
    }
}

/// The value of a lowercase hex digit.
fn hexval(c: u8) -> Option<u64> {
    match c {
        b'0'..=b'9' => Some(u64::from(c - b'0')),
        b'a'..=b'f' => Some(u64::from(c - b'a' + 10)),
        _ => None,
    }
}

/// The label of a name or line starting with `@` + exactly 24 lowercase
/// hex digits (the 25th byte, if any, must not be one).
pub fn label(b: &[u8]) -> Option<Stamp> {
    if b.first() != Some(&b'@') || b.len() < 25 {
        return None;
    }
    if b.get(25).and_then(|&c| hexval(c)).is_some() {
        return None;
    }
    let mut secs = 0u64;
    for &c in &b[1..17] {
        secs = secs << 4 | hexval(c)?;
    }
    let mut nano = 0u64;
    for &c in &b[17..25] {
        nano = nano << 4 | hexval(c)?;
    }
    Some(Stamp::from_label(secs, nano as u32))
}

/// A fixed number of ASCII digits as a number.
pub fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    b.iter().try_fold(0u32, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

/// `YYYY-MM-DD?HH:MM:SS` at the start of `b` with `sep` as `?`, checked
/// (seconds up to 60 for a leap second). Returns the civil time.
pub fn civil_prefix(b: &[u8], seps: &[u8]) -> Option<utc::Civil> {
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !seps.contains(&b[10]) {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let c = utc::Civil {
        year: i64::from(digits(&b[0..4])?),
        mon: digits(&b[5..7])?,
        mday: digits(&b[8..10])?,
        hour: digits(&b[11..13])?,
        min: digits(&b[14..16])?,
        sec: digits(&b[17..19])?,
    };
    valid(&c).then_some(c)
}

/// Whether a civil time names a real date and time of day.
pub fn valid(c: &utc::Civil) -> bool {
    (1..=12).contains(&c.mon)
        && c.mday >= 1
        && c.mday <= utc::days_in_month(c.year, c.mon)
        && c.hour < 24
        && c.min < 60
        && c.sec <= 60
}

/// A fraction `.ddd` at the start of `b`: (nanoseconds, bytes used).
/// Digits past the ninth are read and dropped. Without a `.`: (0, 0).
pub fn fraction(b: &[u8]) -> Option<(u32, usize)> {
    if b.first() != Some(&b'.') {
        return Some((0, 0));
    }
    let n = b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    let mut nano = 0u32;
    for i in 0..9 {
        let d = if i < n { u32::from(b[1 + i] - b'0') } else { 0 };
        nano = nano * 10 + d;
    }
    Some((nano, 1 + n))
}

/// A UTC offset `Z`, `z`, `+HH:MM` or `-HH:MM` at the start of `b`:
/// (seconds east of UTC, bytes used).
pub fn offset(b: &[u8]) -> Option<(i64, usize)> {
    match b.first()? {
        b'Z' | b'z' => Some((0, 1)),
        &s @ (b'+' | b'-') => {
            if b.len() < 6 || b[3] != b':' {
                return None;
            }
            let h = digits(&b[1..3])?;
            let m = digits(&b[4..6])?;
            if h > 23 || m > 59 {
                return None;
            }
            let secs = i64::from(h * 3600 + m * 60);
            Some((if s == b'-' { -secs } else { secs }, 6))
        }
        _ => None,
    }
}

/// Whether a stamp may end before byte `c` (or at the end of the line).
fn ends_stamp(c: Option<&u8>) -> bool {
    matches!(c, None | Some(b' ') | Some(b'\t') | Some(b'\n'))
}

/// An RFC 3339 stamp with offset, or svlogd's `-tt` UTC stamp, at the
/// start of `b`, followed by a space, a tab or the end of the line.
pub fn readable(b: &[u8]) -> Option<Stamp> {
    let c = civil_prefix(b, b"Tt_")?;
    let svlogd = b[10] == b'_';
    let (nano, flen) = fraction(&b[19..])?;
    let mut at = 19 + flen;
    let mut east = 0;
    if !svlogd {
        let (e, olen) = offset(&b[at..])?;
        east = e;
        at += olen;
    }
    if !ends_stamp(b.get(at)) {
        return None;
    }
    Some(Stamp::new(utc::unix(&c)? - east, nano))
}

/// The time stamp at the start of a line (given its first bytes), if it
/// has one.
pub fn of_line(head: &[u8]) -> Option<Stamp> {
    match head.first()? {
        b'@' => label(head),
        b'0'..=b'9' => readable(head),
        _ => None,
    }
}

/// How many bytes of a line `of_line` may look at: enough for the longest
/// stamp it accepts plus the byte after it.
pub const HEAD: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        let s = of_line(b"@4000000037c219bf2ef02e94 hello").unwrap();
        assert_eq!(s, Stamp::new(935467445, 0x2ef02e94));
        assert_eq!(of_line(b"@4000000037c219bf2ef02e94"), Some(s));
        assert_eq!(of_line(b"@4000000037c219bf2ef02e94\n"), Some(s));
        // 25 digits, uppercase, short: not a multilog stamp
        assert_eq!(of_line(b"@4000000037c219bf2ef02e940 x"), None);
        assert_eq!(of_line(b"@4000000037C219bf2ef02e94 x"), None);
        assert_eq!(of_line(b"@4000000037c219bf2ef02e9 x"), None);
        assert_eq!(of_line(b"plain line"), None);
        assert_eq!(of_line(b""), None);
    }

    #[test]
    fn readable_stamps() {
        let base = Stamp::new(1_796_083_200 + 21 * 3600 + 39 * 60 + 40, 123_456_000);
        // 2026-12-01T21:39:40.123456Z
        assert_eq!(of_line(b"2026-12-01T21:39:40.123456Z x"), Some(base));
        assert_eq!(of_line(b"2026-12-01T21:39:40.123456+00:00 x"), Some(base));
        assert_eq!(
            of_line(b"2026-12-01T22:39:40.123456+01:00 x"),
            Some(base),
            "offsets are east of UTC"
        );
        assert_eq!(of_line(b"2026-12-01T16:09:40.123456-05:30\tx"), Some(base));
        assert_eq!(
            of_line(b"2026-12-01_21:39:40.12345 x").unwrap().nano,
            123_450_000
        );
        assert_eq!(
            of_line(b"2026-12-01T21:39:40Z").unwrap(),
            Stamp::new(base.secs, 0)
        );
        // no offset, bad date, glued text, sagredo's local stamps: none
        for bad in [
            &b"2026-12-01T21:39:40.123456 x"[..],
            b"2026-02-30T21:39:40Z x",
            b"2026-12-01T24:00:00Z x",
            b"2026-12-01T21:39:40Zx",
            b"2026-12-01 21:39:40.123456 x",
            b"2026-12-01T21:39:40.Z x",
            b"2026-12-01T21:39:40+1:00 x",
            b"2026-12-01_21:39:40.123+01:00 x",
            b"12345",
        ] {
            assert_eq!(of_line(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn moving() {
        let s = Stamp::new(10, 500);
        assert_eq!(s.add_nanos(-1_000), Stamp::new(9, 999_999_500));
        assert_eq!(s.add_nanos(i128::MAX), Stamp::MAX);
        assert_eq!(s.add_nanos(i128::MIN), Stamp::MIN);
        assert!(Stamp::MIN < s && s < Stamp::MAX);
    }
}
