//! The stamps multilog puts in front of every line: `t`'s TAI64N label
//! and the readable RFC 3339 stamps of `Z` (UTC, `2026-12-01T21:39:40.123456Z`)
//! and `L` (local time with its offset, `2026-12-01T22:39:40.123456+01:00`),
//! each followed by a space, all of one clock reading.
//!
//! The fraction is the clock's microseconds (daemontools reads the clock
//! to the microsecond), cut or padded with zeros to the digits asked for;
//! the label carries the same microsecond (and daemontools' 500 ns).
//! A local time is shown with its offset from UTC; where that offset is
//! not a whole number of minutes (local mean time before a zone had
//! standard time), or the C library cannot convert the time, the stamp
//! shows UTC as `+00:00` instead: the same instant, the same length. Every
//! head of a script has the same length.

use super::script::{MAX_HEAD, Readable, Stamps, Zone};
use crate::sys;
use crate::tai64::local::{push_date_time, push_decimal};
use crate::tai64::{Stamper, Tai64n, utc};

/// The range RFC 3339 can show: 0000-01-01T00:00:00 to 9999-12-31T23:59:59.
const FIRST_SECOND: i64 = -62_167_219_200;
const LAST_SECOND: i64 = 253_402_300_799;

/// Local time: the C library's, or a fixed rule in tests.
pub type LocalFn = fn(i64) -> Option<utc::Civil>;

/// One readable stamp, with the text of the last second it showed.
#[derive(Debug)]
struct Clock {
    r: Readable,
    tz: LocalFn,
    /// The second `date` shows.
    secs: Option<i64>,
    /// `YYYY-MM-DDTHH:MM:SS` of that second.
    date: Vec<u8>,
    /// `Z` or `+HH:MM`, then the space.
    zone: Vec<u8>,
}

impl Clock {
    fn new(r: Readable, tz: LocalFn) -> Clock {
        Clock {
            r,
            tz,
            secs: None,
            date: Vec::with_capacity(24),
            zone: Vec::with_capacity(8),
        }
    }

    /// Sets `date` and `zone` for second `t`.
    fn set_second(&mut self, t: i64) {
        let t = t.clamp(FIRST_SECOND, LAST_SECOND);
        self.secs = Some(t);
        self.date.clear();
        self.zone.clear();
        let (civil, east) = match self.r.zone {
            Zone::Utc => (utc::civil(t), None),
            Zone::Local => match local(t, self.tz) {
                Some((c, east)) => (c, Some(east)),
                None => (utc::civil(t), Some(0)),
            },
        };
        push_date_time(&mut self.date, civil.year as u64, 4, &civil, b'T');
        self.date.pop(); // the point, added with the fraction
        match east {
            None => self.zone.push(b'Z'),
            Some(east) => {
                self.zone.push(if east < 0 { b'-' } else { b'+' });
                let m = east.unsigned_abs() / 60;
                push_decimal(&mut self.zone, m / 60, 2);
                self.zone.push(b':');
                push_decimal(&mut self.zone, m % 60, 2);
            }
        }
        self.zone.push(b' ');
    }

    /// Writes the stamp of `secs` + `micros` and its space to `out`,
    /// returning the length.
    fn write(&mut self, secs: i64, micros: u32, out: &mut [u8]) -> usize {
        if self.secs != Some(secs) {
            self.set_second(secs);
        }
        let mut n = self.date.len();
        out[..n].copy_from_slice(&self.date);
        let digits = usize::from(self.r.digits);
        if digits > 0 {
            let mut frac = Vec::with_capacity(9);
            push_decimal(&mut frac, u64::from(micros) * 1000, 9);
            out[n] = b'.';
            out[n + 1..n + 1 + digits].copy_from_slice(&frac[..digits]);
            n += 1 + digits;
        }
        out[n..n + self.zone.len()].copy_from_slice(&self.zone);
        n + self.zone.len()
    }
}

/// Local time of `t` and its offset east of UTC in seconds, if the C
/// library converts it and the offset is whole minutes within a day.
fn local(t: i64, tz: LocalFn) -> Option<(utc::Civil, i64)> {
    let c = tz(t)?;
    let east = utc::unix(&c)?.checked_sub(t)?;
    (east % 60 == 0 && east.abs() < 86_400 && (0..=9999).contains(&c.year)).then_some((c, east))
}

/// The stamps of a script, ready to be written in front of lines.
#[derive(Debug)]
pub struct Heads {
    tai: Option<Stamper>,
    clocks: Vec<Clock>,
    len: usize,
}

impl Heads {
    pub fn new(stamps: &Stamps) -> Heads {
        Heads::with_zone(stamps, sys::localtime)
    }

    /// Heads whose local time comes from `tz`.
    pub fn with_zone(stamps: &Stamps, tz: LocalFn) -> Heads {
        Heads {
            tai: stamps.tai.then(Stamper::new),
            clocks: stamps
                .readable
                .iter()
                .flatten()
                .map(|&r| Clock::new(r, tz))
                .collect(),
            len: stamps.len(),
        }
    }

    /// The length of every head (0: no stamps).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes the head of the current time to `out[..len]`.
    #[inline]
    pub fn now(&mut self, out: &mut [u8; MAX_HEAD]) {
        let (secs, micros) = sys::gettimeofday();
        self.at(secs, micros, out);
    }

    /// Writes the head of Unix time `secs` + `micros` to `out[..len]`.
    pub fn at(&mut self, secs: i64, micros: u32, out: &mut [u8; MAX_HEAD]) {
        let mut n = 0;
        if let Some(st) = &mut self.tai {
            out[..25].copy_from_slice(&st.fmt(Tai64n::from_unix(secs, micros)));
            out[25] = b' ';
            n = 26;
        }
        for c in &mut self.clocks {
            n += c.write(secs, micros, &mut out[n..]);
        }
        debug_assert_eq!(n, self.len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::multilog::script::parse;
    use crate::cmd::svlog::stamp::{Stamp, of_line};
    use proptest::prelude::*;

    /// A zone an hour east of UTC, two in summer (April to September).
    fn dst(t: i64) -> Option<utc::Civil> {
        let c = utc::civil(t.checked_add(3600)?);
        let summer = (4..=9).contains(&c.mon);
        Some(utc::civil(t.checked_add(if summer {
            7200
        } else {
            3600
        })?))
    }

    /// Newfoundland: 2:30 west.
    fn st_johns(t: i64) -> Option<utc::Civil> {
        Some(utc::civil(t.checked_sub(9000)?))
    }

    /// Local mean time 19:32 east (Amsterdam before 1937), and a zone the
    /// C library cannot convert.
    fn lmt(t: i64) -> Option<utc::Civil> {
        Some(utc::civil(t.checked_add(1172)?))
    }

    fn broken(_: i64) -> Option<utc::Civil> {
        None
    }

    fn heads(script: &[&str], tz: LocalFn) -> Heads {
        let v: Vec<&[u8]> = script.iter().map(|a| a.as_bytes()).collect();
        Heads::with_zone(&parse(&v).unwrap().stamps, tz)
    }

    fn head(h: &mut Heads, secs: i64, micros: u32) -> String {
        let mut out = [0u8; MAX_HEAD];
        h.at(secs, micros, &mut out);
        String::from_utf8(out[..h.len()].to_vec()).unwrap()
    }

    #[test]
    fn utc_stamps() {
        let mut h = heads(&["t", "Z"], broken);
        assert_eq!(
            head(&mut h, 1_000_000_000, 123_456),
            "@400000003b9aca0a075bcbf4 2001-09-09T01:46:40.123456Z "
        );
        let mut h = heads(&["Z3"], broken);
        assert_eq!(
            head(&mut h, 1_000_000_000, 123_456),
            "2001-09-09T01:46:40.123Z "
        );
        let mut h = heads(&["Z9"], broken);
        assert_eq!(head(&mut h, -1, 5), "1969-12-31T23:59:59.000005000Z ");
        let mut h = heads(&["Z0"], broken);
        assert_eq!(head(&mut h, 0, 999_999), "1970-01-01T00:00:00Z ");
        // Out of RFC 3339's range: the nearest second it can show.
        assert_eq!(head(&mut h, i64::MAX, 0), "9999-12-31T23:59:59Z ");
        assert_eq!(head(&mut h, i64::MIN, 0), "0000-01-01T00:00:00Z ");
    }

    #[test]
    fn local_stamps_carry_their_offset() {
        let mut h = heads(&["L"], dst);
        // Winter (+01:00) and summer (+02:00); the cached second changes.
        assert_eq!(
            head(&mut h, 1_796_161_180, 42),
            "2026-12-01T22:39:40.000042+01:00 "
        );
        assert_eq!(
            head(&mut h, 1_783_000_000, 42),
            "2026-07-02T15:46:40.000042+02:00 "
        );
        let mut h = heads(&["t", "L1", "Z2"], st_johns);
        assert_eq!(
            head(&mut h, 1_000_000_000, 123_456),
            "@400000003b9aca0a075bcbf4 2001-09-08T23:16:40.1-02:30 2001-09-09T01:46:40.12Z "
        );
        // An offset of 19:32, or no local time: UTC, as +00:00.
        for tz in [lmt as LocalFn, broken] {
            let mut h = heads(&["L0"], tz);
            assert_eq!(head(&mut h, 0, 0), "1970-01-01T00:00:00+00:00 ");
        }
    }

    #[test]
    fn the_c_library_zone_gives_a_stamp_of_the_same_instant() {
        let mut h = Heads::new(&parse(&[&b"L"[..]]).unwrap().stamps);
        let text = head(&mut h, 1_796_161_180, 7);
        assert_eq!(text.len(), h.len());
        assert_eq!(
            of_line(text.as_bytes()),
            Some(Stamp::new(1_796_161_180, 7000))
        );
    }

    proptest! {
        #[test]
        fn every_head_has_its_length_and_reads_back(
            secs in -62_000_000_000i64..250_000_000_000,
            micros in 0u32..1_000_000,
            zd in 0u8..10,
            ld in 0u8..10,
            tai in any::<bool>(),
            zone in 0usize..3,
        ) {
            let z = format!("Z{zd}");
            let l = format!("L{ld}");
            let mut script = vec![l.as_str(), z.as_str()];
            if tai {
                script.insert(0, "t");
            }
            let tz = [dst as LocalFn, st_johns, lmt][zone];
            let mut h = heads(&script, tz);
            let text = head(&mut h, secs, micros);
            prop_assert_eq!(text.len(), h.len());
            let cut = |digits: u8| {
                let keep = 10u32.pow(9 - u32::from(digits));
                micros * 1000 / keep * keep
            };
            // svlog finds the time of the first stamp, and of each.
            let mut rest = text.as_bytes();
            if tai {
                prop_assert_eq!(of_line(rest), Some(Stamp::new(secs, micros * 1000 + 500)));
                rest = &rest[26..];
            }
            prop_assert_eq!(of_line(rest), Some(Stamp::new(secs, cut(ld))));
            let space = rest.iter().position(|&c| c == b' ').unwrap();
            prop_assert_eq!(of_line(&rest[space + 1..]), Some(Stamp::new(secs, cut(zd))));
        }
    }
}
