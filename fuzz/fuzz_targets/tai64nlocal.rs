//! tai64nlocal's stamp reader, differential: the converter, fed in pieces,
//! against the conversion done by calendar arithmetic (TZ=UTC0, so local
//! time is UTC and needs no zone data).
//!
//! Input: a byte giving the piece size (the converter is fed in pieces of
//! that many bytes plus one), then the text to convert.

#![no_main]

use daemontools::tai64::local::Converter;
use libfuzzer_sys::fuzz_target;

/// Digits of a label kept when the label cannot be converted (the
/// converter's LABEL_KEEP).
const LABEL_KEEP: usize = 64 * 1024;

/// Year, month, day of a day count from 1970-01-01 (proleptic Gregorian;
/// Howard Hinnant's civil_from_days), in wide integers.
fn civil(days: i128) -> (i128, i128, i128) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (era * 400 + yoe + i128::from(m <= 2), m, d)
}

/// One label's text: `YYYY-MM-DD HH:MM:SS.NNNNNNNNN` as the reference
/// prints it, or None where the C library cannot convert (the year - 1900
/// does not fit an int).
fn convert(digits: &[u8]) -> Option<String> {
    // A 96-bit shift register: seconds are the high 64 bits, nanoseconds
    // the low 32.
    let mut reg: u128 = 0;
    for &c in digits {
        let v = (c as char).to_digit(16).expect("hex digit");
        reg = ((reg << 4) | u128::from(v)) & ((1u128 << 96) - 1);
    }
    let (secs, nano) = ((reg >> 32) as u64, reg as u32);
    // TAI64 label to Unix time: minus 2^62 + 10, as a signed 64-bit number.
    let t = i128::from(secs.wrapping_sub((1u64 << 62) + 10) as i64);
    let (days, rem) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let (y, m, d) = civil(days);
    let tm_year = i32::try_from(y - 1900).ok()?;
    // The reference prints (unsigned long)(1900 + tm_year), int arithmetic.
    let year = tm_year.wrapping_add(1900) as i64 as u64;
    Some(format!(
        "{year}-{m:02}-{d:02} {:02}:{:02}:{:02}.{nano:09}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    ))
}

/// The whole input converted line by line.
fn model(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let line_end = rest
            .iter()
            .position(|&c| c == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let (line, next) = rest.split_at(line_end);
        rest = next;
        let Some(label) = line.strip_prefix(b"@") else {
            out.extend_from_slice(line);
            continue;
        };
        let n = label
            .iter()
            .position(|c| !matches!(c, b'0'..=b'9' | b'a'..=b'f'));
        let Some(n) = n else {
            // The input ends inside the label: it is dropped.
            break;
        };
        match convert(&label[..n]) {
            Some(text) => out.extend_from_slice(text.as_bytes()),
            None => {
                out.push(b'@');
                out.extend_from_slice(&label[..n.min(LABEL_KEEP)]);
            }
        }
        out.extend_from_slice(&label[n..]);
    }
    out
}

fuzz_target!(
    init: {
        // SAFETY: set once, before any thread of the target runs or reads
        // the environment.
        unsafe { std::env::set_var("TZ", "UTC0") };
    },
    |data: &[u8]| {
        let Some((&size, input)) = data.split_first() else {
            return;
        };
        let mut conv = Converter::new();
        let mut out = Vec::new();
        for piece in input.chunks(usize::from(size) + 1) {
            conv.feed(piece, &mut out);
        }
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&model(input))
        );
        assert_eq!(out, model(input));
    }
);
