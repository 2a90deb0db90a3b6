//! tai64nlocal's conversion, shared by tai64nlocal and svlog: a TAI64N
//! label at the start of a line becomes local time,
//! `YYYY-MM-DD HH:MM:SS.NNNNNNNNN`, exactly as daemontools 0.76 prints it
//! (the label is read as the reference's 96-bit shift register, so labels
//! of unusual lengths convert the same way). Where the C library cannot
//! convert the time (the reference then crashes) the label is copied
//! through unchanged.

use super::UNIX_EPOCH_LABEL;
use crate::sys;

/// Digits of an unconvertible label kept for copying it through.
const LABEL_KEEP: usize = 64 * 1024;

/// The label being parsed: the 96-bit shift register of the reference
/// (seconds wrap modulo 2^64, nanoseconds keep the last 8 digits).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Label {
    pub secs: u64,
    pub nano: u32,
}

impl Label {
    /// Shifts in one hex digit value.
    pub fn push(&mut self, v: u8) {
        self.secs = (self.secs << 4).wrapping_add(u64::from(self.nano >> 28));
        self.nano = ((self.nano & 0x0fff_ffff) << 4) + u32::from(v);
    }
}

/// The value of a lowercase hex digit; anything else ends a label.
pub fn hexval(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Formats the date part `Y-MM-DD HH:MM:SS.` for Unix time `t` into
/// `out`; None when the C library cannot convert it.
pub fn format_date(t: i64, out: &mut Vec<u8>) -> Option<()> {
    let tm = sys::localtime(t)?;
    // The reference prints (unsigned long)(1900 + tm_year) with int
    // arithmetic: negative years wrap to 2^64 + year.
    let tm_year = (tm.year - 1900) as i32;
    let year = 1900i32.wrapping_add(tm_year) as i64 as u64;
    push_date_time(out, year, 1, &tm, b' ');
    Some(())
}

/// Appends `YEAR-MM-DD?HH:MM:SS.` (`?` = `sep`), the year (given as the
/// number to print) zero-padded to `year_width` digits.
pub fn push_date_time(
    out: &mut Vec<u8>,
    year: u64,
    year_width: usize,
    tm: &sys::LocalTime,
    sep: u8,
) {
    push_decimal(out, year, year_width);
    for (before, v) in [
        (b'-', tm.mon),
        (b'-', tm.mday),
        (sep, tm.hour),
        (b':', tm.min),
        (b':', tm.sec),
    ] {
        out.push(before);
        push_decimal(out, u64::from(v), 2);
    }
    out.push(b'.');
}

/// Appends `v` in decimal, zero-padded to at least `width` digits.
pub fn push_decimal(out: &mut Vec<u8>, mut v: u64, width: usize) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for _ in (tmp.len() - i)..width {
        out.push(b'0');
    }
    out.extend_from_slice(&tmp[i..]);
}

/// The converter, fed with blocks of input.
pub struct Converter {
    state: State,
    label: Label,
    /// The digits of the label being parsed (for the fallback).
    digits: Vec<u8>,
    /// Cache: the last converted second and its formatted date.
    cached_secs: Option<u64>,
    cached_date: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    LineStart,
    Label,
    Copy,
}

impl Default for Converter {
    fn default() -> Self {
        Converter::new()
    }
}

impl Converter {
    pub fn new() -> Converter {
        Converter {
            state: State::LineStart,
            label: Label::default(),
            digits: Vec::with_capacity(64),
            cached_secs: None,
            cached_date: Vec::with_capacity(64),
        }
    }

    /// Converts `data`, appending to `out`. A label still open at the end
    /// waits for more input (and is dropped if none comes).
    pub fn feed(&mut self, mut data: &[u8], out: &mut Vec<u8>) {
        while let Some(&c) = data.first() {
            match self.state {
                State::LineStart => {
                    if c == b'@' {
                        self.state = State::Label;
                        self.label = Label::default();
                        self.digits.clear();
                        data = &data[1..];
                    } else {
                        self.state = State::Copy;
                    }
                }
                State::Copy => match memchr::memchr(b'\n', data) {
                    Some(i) => {
                        out.extend_from_slice(&data[..=i]);
                        data = &data[i + 1..];
                        self.state = State::LineStart;
                    }
                    None => {
                        out.extend_from_slice(data);
                        data = &[];
                    }
                },
                State::Label => {
                    let n = data.iter().position(|&c| hexval(c).is_none());
                    let digits = &data[..n.unwrap_or(data.len())];
                    for &d in digits {
                        self.label.push(hexval(d).unwrap_or(0));
                    }
                    let room = LABEL_KEEP.saturating_sub(self.digits.len());
                    self.digits
                        .extend_from_slice(&digits[..digits.len().min(room)]);
                    data = &data[digits.len()..];
                    if n.is_some() {
                        // The terminating byte stays in `data` and is copied.
                        self.emit_label(out);
                        self.state = State::Copy;
                    }
                }
            }
        }
    }

    fn emit_label(&mut self, out: &mut Vec<u8>) {
        let secs = self.label.secs;
        if self.cached_secs != Some(secs) {
            self.cached_date.clear();
            let t = secs.wrapping_sub(UNIX_EPOCH_LABEL) as i64;
            if format_date(t, &mut self.cached_date).is_none() {
                // The reference crashes here; copy the label through.
                self.cached_secs = None;
                out.push(b'@');
                out.extend_from_slice(&self.digits);
                return;
            }
            self.cached_secs = Some(secs);
        }
        out.extend_from_slice(&self.cached_date);
        push_decimal(out, u64::from(self.label.nano), 9);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn conv(input: &[u8]) -> Vec<u8> {
        let mut c = Converter::new();
        let mut out = Vec::new();
        c.feed(input, &mut out);
        out
    }

    #[test]
    fn label_register() {
        let mut l = Label::default();
        for &c in b"4000000037c219bf2ef02e94" {
            l.push(hexval(c).unwrap());
        }
        assert_eq!(l.secs, 0x4000000037c219bf);
        assert_eq!(l.nano, 0x2ef02e94);
        // 8 more digits: the old nanoseconds move into the seconds.
        for &c in b"ffffffff" {
            l.push(hexval(c).unwrap());
        }
        assert_eq!(l.secs, 0x37c219bf2ef02e94);
        assert_eq!(l.nano, 0xffffffff);
    }

    #[test]
    fn decimal_padding() {
        let mut v = Vec::new();
        push_decimal(&mut v, 5, 2);
        push_decimal(&mut v, 4294967295, 9);
        push_decimal(&mut v, 0, 9);
        push_decimal(&mut v, 18446744073709550417, 1);
        assert_eq!(v, b"05429496729500000000018446744073709550417".to_vec());
    }

    #[test]
    fn non_label_lines_pass_and_labels_stop_at_non_hex() {
        assert_eq!(conv(b"abc @4000\n\nx"), b"abc @4000\n\nx".to_vec());
        // A label cut off by the end of input waits (and is then dropped).
        assert_eq!(conv(b"a\n@4000000037c2"), b"a\n".to_vec());
    }

    #[test]
    fn huge_unconvertible_label_keeps_its_first_64k_digits() {
        // Zeros: seconds 0 is far before any representable year.
        let mut input = b"@".to_vec();
        input.extend(std::iter::repeat_n(b'0', LABEL_KEEP + 10));
        input.extend(b" x\n");
        let mut want = b"@".to_vec();
        want.extend(std::iter::repeat_n(b'0', LABEL_KEEP));
        want.extend(b" x\n");
        assert_eq!(conv(&input), want);
    }

    #[test]
    fn split_feeding_is_the_same() {
        let input = b"@4000000037c219bf2ef02e94 mark\nplain\n@400000000000000a00000000X\n";
        let whole = conv(input);
        for cut in 0..input.len() {
            let mut c = Converter::new();
            let mut out = Vec::new();
            c.feed(&input[..cut], &mut out);
            c.feed(&input[cut..], &mut out);
            assert_eq!(out, whole, "cut at {cut}");
        }
    }

    #[test]
    fn unconvertible_labels_pass_through() {
        assert_eq!(conv(b"@\n"), b"@\n".to_vec());
        assert_eq!(conv(b"@1f x\n"), b"@1f x\n".to_vec());
        assert_eq!(
            conv(b"@4000000037C219bf x\n"),
            b"@4000000037C219bf x\n".to_vec()
        );
    }

    proptest! {
        #[test]
        fn never_panics_and_keeps_plain_lines(input in prop::collection::vec(any::<u8>(), 0..300)) {
            let out = conv(&input);
            if !input.contains(&b'@') {
                prop_assert_eq!(out, input);
            }
        }

        #[test]
        fn any_hex_label_never_panics(digits in "[0-9a-f]{0,40}", tail in "[ -~]{0,5}") {
            let input = format!("@{digits}{tail}\n");
            let out = conv(input.as_bytes());
            prop_assert!(out.ends_with(b"\n"));
        }
    }
}
