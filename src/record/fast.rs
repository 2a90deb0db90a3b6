//! The fast path of `Record::parse`: a scanner of exactly the text
//! `Record::write_json` makes (its key order, no whitespace, its number and
//! string forms, its escapes) and nothing else. On any other text, and on a
//! text it would have to refuse, it gives None and serde_json's reader
//! decides; so whatever it accepts must read as that reader (and the model
//! in the tests) reads it, which the unit tests of `record` check. svstat
//! and svmetrics read one record per service at every call: this takes a
//! fraction of the instructions of serde_json's walk.

use super::{Backoff, Ending, Exit, Failure, ReadyError, Record, Sources, State, VERSION};
use super::{hex_value, parse_label, want_from_name};
use crate::tai64::Tai64n;

/// The record in `text` if it has the writer's exact layout and reads
/// without fault; None otherwise (the caller then reads it the slow way).
/// Whatever it accepts is valid UTF-8: outside strings it takes only
/// ASCII, and each string is checked (so the caller need not check the
/// whole text first).
pub(super) fn parse(text: &[u8]) -> Option<Record> {
    let mut s = Scan { b: text, i: 0 };
    s.lit(b"{\"version\":")?;
    if s.uint()? != VERSION {
        return None;
    }
    s.lit(b",\"service\":")?;
    let service = s.escaped()?;
    s.lit(b",\"supervise_pid\":")?;
    let supervise_pid = s.u32()?;
    s.lit(b",\"state\":")?;
    let state = State::from_name(s.name()?)?;
    s.lit(b",\"pid\":")?;
    let pid = s.u32()?;
    s.lit(b",\"want\":")?;
    let want = want_from_name(s.name()?)?;
    s.lit(b",\"paused\":")?;
    let paused = s.flag()?;
    s.lit(b",\"normally_up\":")?;
    let normally_up = s.flag()?;
    s.lit(b",\"since\":")?;
    let since = s.time()?;
    s.lit(b",\"starts\":")?;
    let starts = s.uint()?;
    s.lit(b",\"starts_since_up\":")?;
    let starts_since_up = s.uint()?;
    s.lit(b",\"last_exit\":")?;
    let last_exit = s.or_null(Scan::exit)?;
    s.lit(b",\"finish_pid\":")?;
    let finish_pid = s.u32()?;
    s.lit(b",\"next_start\":")?;
    let next_start = s.or_null(Scan::time)?;
    s.lit(b",\"backoff\":")?;
    let backoff = s.or_null(Scan::backoff)?;
    s.lit(b",\"failed\":")?;
    let failed = s.or_null(Scan::failure)?;
    s.lit(b",\"kill_group\":")?;
    let kill_group = s.flag()?;
    s.lit(b",\"cgroup\":")?;
    let cgroup = s.or_null(Scan::escaped)?;
    s.lit(b",\"exiting\":")?;
    let exiting = s.flag()?;
    s.lit(b",\"ready\":")?;
    let ready = s.or_null(Scan::time)?;
    s.lit(b",\"ready_sources\":")?;
    let ready_sources = s.sources()?;
    s.lit(b",\"ready_pending\":")?;
    let ready_pending = s.sources()?;
    s.lit(b",\"ready_error\":")?;
    let ready_error = s.or_null(|s| ReadyError::from_name(s.name()?))?;
    s.lit(b",\"status_text\":")?;
    let status_text = s.or_null(Scan::escaped)?;
    s.lit(b",\"main_pid\":")?;
    let main_pid = s.u32()?;
    s.lit(b",\"reloading\":")?;
    let reloading = s.flag()?;
    s.lit(b",\"stopping\":")?;
    let stopping = s.flag()?;
    s.lit(b",\"watchdog_usec\":")?;
    let watchdog_usec = s.uint()?;
    s.lit(b",\"watchdog_timeouts\":")?;
    let watchdog_timeouts = s.uint()?;
    s.lit(b"}\n")?;
    if s.i != text.len() {
        return None;
    }
    Some(Record {
        service,
        supervise_pid,
        state,
        pid,
        finish_pid,
        want,
        paused,
        normally_up,
        since,
        starts,
        starts_since_up,
        last_exit,
        next_start,
        backoff,
        failed,
        kill_group,
        cgroup,
        exiting,
        ready,
        ready_sources,
        ready_pending,
        ready_error,
        status_text,
        main_pid,
        reloading,
        stopping,
        watchdog_usec,
        watchdog_timeouts,
    })
}

/// Whether a string's bytes are UTF-8, as JSON text must be (the bytes
/// around the strings the scanner takes are ASCII, so the text is UTF-8
/// when its strings are).
fn utf8(bytes: &[u8]) -> bool {
    bytes.is_ascii() || std::str::from_utf8(bytes).is_ok()
}

/// A cursor over the text.
struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// These exact bytes (a constant: compared in a few wide loads).
    fn lit<const N: usize>(&mut self, l: &[u8; N]) -> Option<()> {
        let here: &[u8; N] = self.b.get(self.i..self.i + N)?.try_into().ok()?;
        if here == l {
            self.i += N;
            Some(())
        } else {
            None
        }
    }

    /// The bytes up to the next `"` (not taken), which must be there.
    fn until_quote(&mut self) -> Option<&'a [u8]> {
        let rest = self.b.get(self.i..)?;
        let len = memchr::memchr(b'"', rest)?;
        self.i += len;
        Some(&rest[..len])
    }

    /// `null` (None) or what `value` reads.
    #[inline(always)]
    fn or_null<T>(&mut self, value: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.peek()? == b'n' {
            self.lit(b"null")?;
            Some(None)
        } else {
            value(self).map(Some)
        }
    }

    /// The digits of a number as the writer writes it (`to_string`): no
    /// leading zero but in `0` itself, at most 20 of them; and their
    /// value when it fits in 64 bits.
    #[inline(always)]
    fn number(&mut self) -> Option<(&'a [u8], Option<u64>)> {
        let rest = self.b.get(self.i..)?;
        let mut n = 0u64;
        let mut len = 0;
        for &c in rest {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            n = n.wrapping_mul(10).wrapping_add(u64::from(d));
            len += 1;
        }
        let d = &rest[..len];
        if len == 0 || len > 20 || (d[0] == b'0' && len > 1) {
            return None;
        }
        self.i += len;
        // up to 19 digits: below 10^19 < 2^64, no wrap
        if len == 20 {
            let checked = d.iter().try_fold(0u64, |n, &c| {
                n.checked_mul(10)?.checked_add(u64::from(c - b'0'))
            });
            return Some((d, checked));
        }
        Some((d, Some(n)))
    }

    fn digits(&mut self) -> Option<&'a [u8]> {
        self.number().map(|(d, _)| d)
    }

    /// An integer >= 0 that fits in 64 bits.
    #[inline(always)]
    fn uint(&mut self) -> Option<u64> {
        self.number()?.1
    }

    #[inline(always)]
    fn u32(&mut self) -> Option<u32> {
        u32::try_from(self.uint()?).ok()
    }

    /// An integer that fits in 32 bits, signed (`-0` is not one: serde_json
    /// reads it as a float).
    fn i32(&mut self) -> Option<i32> {
        if self.peek()? == b'-' {
            self.i += 1;
            let n = self.uint()?;
            if n == 0 {
                return None;
            }
            i32::try_from(-i64::try_from(n).ok()?).ok()
        } else {
            i32::try_from(self.uint()?).ok()
        }
    }

    #[inline(always)]
    fn flag(&mut self) -> Option<bool> {
        match self.peek()? {
            b't' => self.lit(b"true").map(|()| true),
            _ => self.lit(b"false").map(|()| false),
        }
    }

    /// The bytes of a string up to its first `"`: a name (`up`,
    /// `check-timeout`, ...) when they are one (a name has no escape, so
    /// a string with one, or that is not UTF-8, matches none).
    #[inline(always)]
    fn name(&mut self) -> Option<&'a [u8]> {
        self.lit(b"\"")?;
        let s = self.until_quote()?;
        self.i += 1;
        Some(s)
    }

    /// A string the writer made of bytes (`escape`, then JSON's `\"` and
    /// `\\`): the bytes, both escapes undone.
    fn escaped(&mut self) -> Option<Vec<u8>> {
        self.lit(b"\"")?;
        let mut out = Vec::new();
        let start = self.i;
        let span = self.until_quote()?;
        // most names have nothing to undo
        if !span.iter().any(|&c| c < 0x20 || c == b'%' || c == b'\\') {
            self.i += 1;
            out.extend_from_slice(span);
            return utf8(span).then_some(out);
        }
        self.i = start;
        out.reserve(span.len());
        loop {
            let c = self.peek()?;
            self.i += 1;
            match c {
                b'"' => return utf8(&self.b[start..self.i - 1]).then_some(out),
                b'\\' => match self.peek()? {
                    e @ (b'"' | b'\\') => {
                        self.i += 1;
                        out.push(e);
                    }
                    _ => return None,
                },
                b'%' => {
                    let hi = hex_value(self.peek()?)?;
                    self.i += 1;
                    let lo = hex_value(self.peek()?)?;
                    self.i += 1;
                    out.push(hi << 4 | lo);
                }
                0..=0x1f => return None,
                _ => out.push(c),
            }
        }
    }

    /// `{"tai64n":"@...","unix":N}`: N as the writer writes it, whole
    /// seconds when negative, else with six decimals.
    fn time(&mut self) -> Option<Tai64n> {
        self.lit(b"{\"tai64n\":\"")?;
        let t = parse_label(self.b.get(self.i..self.i + 25)?)?;
        self.i += 25;
        self.lit(b"\",\"unix\":")?;
        if self.peek()? == b'-' {
            self.i += 1;
            if self.uint()? == 0 {
                return None;
            }
        } else {
            self.digits()?;
            self.lit(b".")?;
            let start = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.i += 1;
            }
            if self.i - start != 6 {
                return None;
            }
        }
        self.lit(b"}")?;
        Some(t)
    }

    /// `last_exit`, in either of its two forms.
    fn exit(&mut self) -> Option<Exit> {
        self.lit(b"{\"pid\":")?;
        let pid = self.u32()?;
        self.lit(b",\"code\":")?;
        let ending = if self.peek()? == b'n' {
            self.lit(b"null,\"signal\":")?;
            let sig = self.i32()?;
            self.lit(b",\"signal_name\":\"SIG")?;
            // `SIGTERM`, `SIG40`, `SIG-1`: nothing reads it
            while self
                .peek()
                .is_some_and(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'-')
            {
                self.i += 1;
            }
            self.lit(b"\"")?;
            Ending::Signal(sig)
        } else {
            let code = self.i32()?;
            self.lit(b",\"signal\":null,\"signal_name\":null")?;
            Ending::Code(code)
        };
        self.lit(b",\"core_dumped\":")?;
        let core_dumped = self.flag()?;
        self.lit(b",\"at\":")?;
        let at = self.time()?;
        self.lit(b",\"watchdog\":")?;
        let watchdog = self.flag()?;
        self.lit(b"}")?;
        Some(Exit {
            pid,
            ending,
            core_dumped,
            at,
            watchdog,
        })
    }

    fn backoff(&mut self) -> Option<Backoff> {
        self.lit(b"{\"max\":")?;
        let max = self.u32()?;
        self.lit(b",\"stable\":")?;
        let stable = self.u32()?;
        self.lit(b",\"delay\":")?;
        let delay = self.u32()?;
        self.lit(b"}")?;
        Some(Backoff { max, stable, delay })
    }

    fn failure(&mut self) -> Option<Failure> {
        self.lit(b"{\"reason\":\"finish exited ")?;
        // for people: rebuilt from finish_code
        while self.peek().is_some_and(|c| c.is_ascii_digit() || c == b'-') {
            self.i += 1;
        }
        self.lit(b"\",\"finish_code\":")?;
        let finish_code = self.i32()?;
        self.lit(b",\"at\":")?;
        let at = self.time()?;
        self.lit(b"}")?;
        Some(Failure { finish_code, at })
    }

    /// An array of source names.
    fn sources(&mut self) -> Option<Sources> {
        self.lit(b"[")?;
        let mut s = Sources::default();
        if self.peek()? == b']' {
            self.i += 1;
            return Some(s);
        }
        loop {
            if !s.add(self.name()?) {
                return None;
            }
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(s);
                }
                _ => return None,
            }
        }
    }
}
