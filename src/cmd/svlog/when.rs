//! The times `--since` and `--until` take, as journalctl takes them
//! (systemd.time(7)):
//!
//! - `YYYY-MM-DD HH:MM:SS` in local time; the seconds may be left out
//!   (`HH:MM`), may carry a fraction (`HH:MM:SS.123`), the time may be left
//!   out (midnight), and `T` may stand for the space;
//! - the same followed by a zone, `Z`, ` UTC`, `+HH:MM`, `-HH:MM` or
//!   `+HHMM` (RFC 3339 with an offset, `2026-12-01T21:39:40+01:00`);
//! - `HH:MM[:SS]` alone: that time today (local);
//! - `now`, `today`, `yesterday`, `tomorrow` (the last three at midnight);
//! - relative to now: `-10min`, `+1h`, `-1h 30min`, `10min ago`, with the
//!   units of systemd (`us`, `ms`, `s`, `min`/`m`, `h`, `d`, `w`, `M`
//!   months of 30.44 days, `y` years of 365.25 days, and their long names);
//!   a number without a unit is seconds;
//! - `@SECONDS[.FRACTION]` since the Unix epoch, or a TAI64N label as
//!   multilog writes it (`@` + 24 hex digits).
//!
//! Parsing is pure ([`parse`]); turning the result into a point in time
//! ([`resolve`]) takes the current time and a local-time function, so tests
//! and the fuzz target can use UTC. A local time that falls twice (the
//! hour when clocks go back) means the earlier instant; one that does not
//! exist (the hour skipped when clocks go forward) means the instant the
//! offset before the change gives, as mktime(3) does.

use super::stamp::{self, Stamp, civil_prefix, digits, fraction};
use crate::tai64::utc::{self, Civil};

/// A parsed time, not yet placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// An absolute instant (a zone or offset was given, or `@...`).
    At(Stamp),
    /// A local date and time.
    Local(Civil, u32),
    /// A local time of day, today.
    TimeToday(u32, u32, u32, u32),
    /// Local midnight, this many days from today.
    Midnight(i64),
    /// Now, moved by this many nanoseconds.
    FromNow(i128),
}

const NS: i128 = 1_000_000_000;

/// The units of systemd.time(7), in nanoseconds.
fn unit(name: &[u8]) -> Option<i128> {
    Some(match name {
        b"" | b"s" | b"sec" | b"second" | b"seconds" => NS,
        b"us" | b"usec" | b"\xc2\xb5s" => 1_000,
        b"ms" | b"msec" => 1_000_000,
        b"m" | b"min" | b"minute" | b"minutes" => 60 * NS,
        b"h" | b"hr" | b"hour" | b"hours" => 3600 * NS,
        b"d" | b"day" | b"days" => 86_400 * NS,
        b"w" | b"week" | b"weeks" => 7 * 86_400 * NS,
        b"M" | b"month" | b"months" => 2_629_800 * NS,
        b"y" | b"year" | b"years" => 31_557_600 * NS,
        _ => return None,
    })
}

fn is_unit_byte(c: u8) -> bool {
    c.is_ascii_alphabetic() || c >= 0x80
}

/// A span such as `1h 30min` or `2.5d`, in nanoseconds.
pub fn span(mut b: &[u8]) -> Option<i128> {
    let mut total: i128 = 0;
    b = trim(b);
    if b.is_empty() {
        return None;
    }
    while !b.is_empty() {
        let int_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
        if int_len == 0 || int_len > 20 {
            return None;
        }
        let mut whole: i128 = 0;
        for &c in &b[..int_len] {
            whole = whole * 10 + i128::from(c - b'0');
        }
        b = &b[int_len..];
        let mut frac_digits: &[u8] = b"";
        if b.first() == Some(&b'.') {
            let n = b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            frac_digits = &b[1..1 + n.min(18)];
            b = &b[1 + n..];
        }
        b = trim_start(b);
        let ulen = b.iter().take_while(|&&c| is_unit_byte(c)).count();
        let u = unit(&b[..ulen])?;
        b = trim_start(&b[ulen..]);
        let mut frac: i128 = 0;
        let mut scale: i128 = 1;
        for &c in frac_digits {
            frac = frac * 10 + i128::from(c - b'0');
            scale *= 10;
        }
        let part = whole.checked_mul(u)?.checked_add(frac * u / scale)?;
        total = total.checked_add(part)?;
        if total > i128::from(i64::MAX) * NS {
            return None;
        }
    }
    Some(total)
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

fn trim(b: &[u8]) -> &[u8] {
    let b = trim_start(b);
    let n = b
        .iter()
        .rev()
        .take_while(|c| c.is_ascii_whitespace())
        .count();
    &b[..b.len() - n]
}

/// `HH:MM[:SS[.FRACTION]]` at the start of `b`: (h, m, s, nano, bytes used).
fn time_of_day(b: &[u8]) -> Option<(u32, u32, u32, u32, usize)> {
    if b.len() < 5 || b[2] != b':' {
        return None;
    }
    let h = digits(&b[0..2])?;
    let m = digits(&b[3..5])?;
    let (mut s, mut nano, mut used) = (0, 0, 5);
    if b.get(5) == Some(&b':') {
        s = digits(b.get(6..8)?)?;
        let (n, flen) = fraction(&b[8..])?;
        nano = n;
        used = 8 + flen;
    }
    (h < 24 && m < 60 && s <= 60).then_some((h, m, s, nano, used))
}

/// A zone after a time: `Z`, `z`, `UTC`, `+HH:MM`, `-HH:MM`, `+HHMM`,
/// `+HH`; spaces before it allowed. Seconds east of UTC.
fn zone(b: &[u8]) -> Option<i64> {
    let b = trim_start(b);
    match b {
        b"Z" | b"z" | b"UTC" | b"utc" | b"GMT" => return Some(0),
        _ => {}
    }
    let (&sign, rest) = b.split_first()?;
    if sign != b'+' && sign != b'-' {
        return None;
    }
    let (h, m) = match rest.len() {
        2 => (digits(rest)?, 0),
        4 => (digits(&rest[..2])?, digits(&rest[2..])?),
        5 if rest[2] == b':' => (digits(&rest[..2])?, digits(&rest[3..])?),
        _ => return None,
    };
    if h > 23 || m > 59 {
        return None;
    }
    let east = i64::from(h * 3600 + m * 60);
    Some(if sign == b'-' { -east } else { east })
}

/// `@SECONDS[.FRACTION]` (possibly negative) or `@` + a 24-digit label.
fn epoch(b: &[u8]) -> Option<Stamp> {
    if let Some(s) = stamp::label(b) {
        return Some(s);
    }
    let rest = &b[1..];
    let (neg, rest) = match rest.first() {
        Some(b'-') => (true, &rest[1..]),
        _ => (false, rest),
    };
    let n = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 || n > 18 {
        return None;
    }
    let secs: i64 = std::str::from_utf8(&rest[..n]).ok()?.parse().ok()?;
    let (nano, flen) = fraction(&rest[n..])?;
    if n + flen != rest.len() {
        return None;
    }
    let at = Stamp::new(secs, nano);
    Some(if neg {
        Stamp::new(0, 0).add_nanos(-(i128::from(secs) * NS + i128::from(nano)))
    } else {
        at
    })
}

/// Parses a `--since`/`--until` argument.
pub fn parse(arg: &[u8]) -> Option<When> {
    let b = trim(arg);
    match b {
        b"now" => return Some(When::FromNow(0)),
        b"today" => return Some(When::Midnight(0)),
        b"yesterday" => return Some(When::Midnight(-1)),
        b"tomorrow" => return Some(When::Midnight(1)),
        _ => {}
    }
    match b.first()? {
        b'+' => return Some(When::FromNow(span(&b[1..])?)),
        b'-' => return Some(When::FromNow(-span(&b[1..])?)),
        b'@' => return Some(When::At(epoch(b)?)),
        _ => {}
    }
    if let Some(rest) = b.strip_suffix(b"ago")
        && rest.last().is_some_and(u8::is_ascii_whitespace)
    {
        return Some(When::FromNow(-span(rest)?));
    }
    if b.len() >= 10 && b[4] == b'-' {
        return date_time(b);
    }
    let (h, m, s, nano, used) = time_of_day(b)?;
    (used == b.len()).then_some(When::TimeToday(h, m, s, nano))
}

/// `YYYY-MM-DD[( |T)HH:MM[:SS[.F]]][ZONE]`.
fn date_time(b: &[u8]) -> Option<When> {
    // Reuse the line-stamp reader for the date by padding a midnight time.
    let mut probe = [0u8; 19];
    probe[..10].copy_from_slice(&b[..10]);
    probe[10..].copy_from_slice(b"T00:00:00");
    let mut c = civil_prefix(&probe, b"T")?;
    let mut nano = 0;
    let mut rest = &b[10..];
    if let Some((&sep, after)) = rest.split_first()
        && (sep == b' ' || sep == b'T' || sep == b't')
    {
        let after = trim_start(after);
        if let Some((h, m, s, n, used)) = time_of_day(after) {
            (c.hour, c.min, c.sec, nano) = (h, m, s, n);
            rest = &after[used..];
        }
    }
    if rest.iter().all(u8::is_ascii_whitespace) {
        return Some(When::Local(c, nano));
    }
    let east = zone(rest)?;
    let t = utc::unix(&c)?.checked_sub(east)?;
    Some(When::At(Stamp::new(t, nano)))
}

/// Unix time of a local civil time, with `local` converting Unix time to
/// local civil time (see the module notes for gaps and overlaps).
pub fn local_to_unix(c: &Civil, local: &dyn Fn(i64) -> Option<Civil>) -> Option<i64> {
    let naive = utc::unix(c)?;
    let offset_at = |t: i64| -> Option<i64> { utc::unix(&local(t)?)?.checked_sub(t) };
    let before = offset_at(naive.checked_sub(86_400)?)?;
    let after = offset_at(naive.checked_add(86_400)?)?;
    let fits = [before, after]
        .into_iter()
        .filter_map(|off| naive.checked_sub(off))
        .filter(|&t| local(t).as_ref() == Some(c))
        .min();
    fits.or_else(|| naive.checked_sub(before))
}

/// Places `w` in time, given the current time and the local-time function.
pub fn resolve(w: &When, now: Stamp, local: &dyn Fn(i64) -> Option<Civil>) -> Option<Stamp> {
    let today = || -> Option<Civil> { local(now.secs) };
    match *w {
        When::At(s) => Some(s),
        When::FromNow(d) => Some(now.add_nanos(d)),
        When::Local(c, nano) => Some(Stamp::new(local_to_unix(&c, local)?, nano)),
        When::TimeToday(hour, min, sec, nano) => {
            let t = today()?;
            let c = Civil {
                hour,
                min,
                sec,
                ..t
            };
            Some(Stamp::new(local_to_unix(&c, local)?, nano))
        }
        When::Midnight(days) => {
            let t = today()?;
            let day = utc::days_from_civil(t.year, t.mon, t.mday).checked_add(days)?;
            let (year, mon, mday) = utc::civil_from_days(day);
            let c = Civil {
                year,
                mon,
                mday,
                hour: 0,
                min: 0,
                sec: 0,
            };
            Some(Stamp::new(local_to_unix(&c, local)?, 0))
        }
    }
}

/// The C library's local time (for [`resolve`]).
pub fn system_local(t: i64) -> Option<Civil> {
    crate::sys::localtime(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn utc_local(t: i64) -> Option<Civil> {
        Some(utc::civil(t))
    }

    /// A zone one hour east, two hours east from 2026-03-29 01:00 UTC to
    /// 2026-10-25 01:00 UTC (Central European rules for 2026).
    fn cet(t: i64) -> Option<Civil> {
        let summer = (1_774_746_000..1_792_890_000).contains(&t);
        Some(utc::civil(t + if summer { 7200 } else { 3600 }))
    }

    const NOW: Stamp = Stamp {
        secs: 1_796_161_180, // 2026-12-01T21:39:40Z
        nano: 500,
    };

    fn at(arg: &str, local: &dyn Fn(i64) -> Option<Civil>) -> Option<Stamp> {
        resolve(&parse(arg.as_bytes())?, NOW, local)
    }

    #[test]
    fn absolute_local_and_zoned() {
        let s = |secs| Some(Stamp::new(secs, 0));
        assert_eq!(at("2026-12-01 21:39:40", &utc_local), s(NOW.secs));
        assert_eq!(at("2026-12-01 22:39:40", &cet), s(NOW.secs));
        assert_eq!(at("2026-12-01T22:39:40", &cet), s(NOW.secs));
        assert_eq!(at("2026-12-01 22:39", &cet), s(NOW.secs - 40));
        assert_eq!(at("2026-12-01", &utc_local), s(1_796_083_200));
        assert_eq!(at("2026-12-01T21:39:40Z", &cet), s(NOW.secs));
        assert_eq!(at("2026-12-01T23:39:40+02:00", &cet), s(NOW.secs));
        assert_eq!(at("2026-12-01 16:39:40 -0500", &cet), s(NOW.secs));
        assert_eq!(at("2026-12-01 21:39:40 UTC", &cet), s(NOW.secs));
        assert_eq!(
            at("2026-12-01 21:39:40.25 UTC", &cet),
            Some(Stamp::new(NOW.secs, 250_000_000))
        );
        assert_eq!(at("21:39:40", &utc_local), s(NOW.secs));
        assert_eq!(at("22:39", &cet), s(NOW.secs - 40));
    }

    #[test]
    fn words_and_relative() {
        assert_eq!(at("now", &cet), Some(NOW));
        assert_eq!(at("today", &utc_local), Some(Stamp::new(1_796_083_200, 0)));
        assert_eq!(
            at("yesterday", &utc_local),
            Some(Stamp::new(1_796_083_200 - 86_400, 0))
        );
        assert_eq!(at("today", &cet), Some(Stamp::new(1_796_083_200 - 3600, 0)));
        assert_eq!(at("-10min", &cet), Some(Stamp::new(NOW.secs - 600, 500)));
        assert_eq!(at("+1h", &cet), Some(Stamp::new(NOW.secs + 3600, 500)));
        assert_eq!(
            at("-1h 30min", &cet),
            Some(Stamp::new(NOW.secs - 5400, 500))
        );
        assert_eq!(
            at("10 min ago", &cet),
            Some(Stamp::new(NOW.secs - 600, 500))
        );
        assert_eq!(at("-2.5d", &cet), Some(Stamp::new(NOW.secs - 216_000, 500)));
        assert_eq!(at("-30", &cet), Some(Stamp::new(NOW.secs - 30, 500)));
        assert_eq!(at("-1M", &cet), Some(Stamp::new(NOW.secs - 2_629_800, 500)));
        assert_eq!(at("-1m", &cet), Some(Stamp::new(NOW.secs - 60, 500)));
        assert_eq!(
            at("-1500ms", &cet),
            Some(Stamp::new(NOW.secs - 2, 500_000_500))
        );
    }

    #[test]
    fn epochs() {
        assert_eq!(at("@1000000000", &cet), Some(Stamp::new(1_000_000_000, 0)));
        assert_eq!(
            at("@1000000000.5", &cet),
            Some(Stamp::new(1_000_000_000, 500_000_000))
        );
        assert_eq!(
            at("@400000003b9aca0a075bcbf4", &cet),
            Some(Stamp::new(1_000_000_000, 123_456_500))
        );
        assert_eq!(at("@-1", &cet), Some(Stamp::new(-1, 0)));
    }

    #[test]
    fn daylight_saving_edges() {
        // 2026-10-25 02:30 happens twice in CET: the earlier (summer) one.
        assert_eq!(
            at("2026-10-25 02:30:00", &cet),
            Some(Stamp::new(1_792_888_200, 0))
        );
        // 2026-03-29 02:30 does not exist: the winter offset places it at
        // 01:30 UTC, which reads 03:30 summer time.
        assert_eq!(
            at("2026-03-29 02:30:00", &cet),
            Some(Stamp::new(1_774_747_800, 0))
        );
    }

    #[test]
    fn rejected() {
        for bad in [
            "",
            " ",
            "soon",
            "2026-13-01",
            "2026-02-30 10:00",
            "2026-12-01 25:00",
            "2026-12-01 21:39:40 +25:00",
            "2026-12-01 21:39:40 CET",
            "-",
            "-10 parsecs",
            "+",
            "10min",
            "ago",
            "@",
            "@x",
            "@1.",
            "1:2:3",
            "-99999999999999999999y",
            "2026-12-01x",
            "21:39:40 junk",
            "@4000000037c219bf2ef02e9x",
        ] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(arg in prop::collection::vec(any::<u8>(), 0..40), now in any::<i64>()) {
            if let Some(w) = parse(&arg) {
                let _ = resolve(&w, Stamp::new(now, 0), &utc_local);
                let _ = resolve(&w, Stamp::new(now, 0), &cet);
            }
        }

        #[test]
        fn rfc3339_round_trip(t in 0i64..253_402_300_799, nano in 0u32..1_000_000_000) {
            let mut v = Vec::new();
            utc::push_rfc3339(&mut v, t, nano).unwrap();
            let w = parse(&v).unwrap();
            prop_assert_eq!(resolve(&w, NOW, &cet), Some(Stamp::new(t, nano)));
            prop_assert_eq!(stamp::of_line(&v), Some(Stamp::new(t, nano)));
        }

        #[test]
        fn local_round_trip(t in 0i64..4_000_000_000) {
            // Every instant's local reading maps back to an instant with
            // the same reading (the earlier one in an overlap).
            let c = cet(t).unwrap();
            let back = local_to_unix(&c, &cet).unwrap();
            prop_assert_eq!(cet(back), Some(c));
            prop_assert!(back <= t);
        }
    }
}
