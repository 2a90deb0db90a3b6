//! multilog's matcher, differential: `pattern::matches`, prepared
//! `Pattern`s sharing a `Skips` cache and `AnyOf` sets must all agree with
//! the matcher's definition taken byte by byte, on plain lines and on
//! `t`-stamped windows.
//!
//! Input: a control byte (low 3 bits + 1: how many patterns), then
//! newline-separated pieces: the patterns, then the lines (a multilog line
//! never holds a newline; any other byte, NUL included, may occur).

#![no_main]

use daemontools::cmd::multilog::pattern::{self, AnyOf, Pattern, Skips};
use daemontools::tai64::Tai64n;
use libfuzzer_sys::fuzz_target;

/// The definition, byte by byte: `*` then byte `d` skips to the first `d`
/// of the line (not consuming it), a final `*` matches the rest, any other
/// byte must equal the next line byte, and the whole line must be used.
fn model(pattern: &[u8], line: &[u8]) -> bool {
    let (mut p, mut l) = (0, 0);
    while p < pattern.len() {
        let ch = pattern[p];
        p += 1;
        if ch == b'*' {
            let Some(&d) = pattern.get(p) else {
                return true;
            };
            while l < line.len() && line[l] != d {
                l += 1;
            }
            if l == line.len() {
                return false;
            }
        } else {
            if l == line.len() || line[l] != ch {
                return false;
            }
            l += 1;
        }
    }
    l == line.len()
}

/// A `t` window: a stamp (from the line's bytes, so it varies), a space,
/// the line.
fn stamped(line: &[u8]) -> Vec<u8> {
    let h = line.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut w = Tai64n {
        secs: h,
        nano: (h >> 17) as u32,
    }
    .fmt()
    .to_vec();
    w.push(b' ');
    w.extend_from_slice(line);
    w
}

/// Checks every way of matching `pats` against `lines` (windows), with a
/// fresh cache from `new_skips`.
fn check(pats: &[&[u8]], lines: &[Vec<u8>], new_skips: fn() -> Skips) {
    let mut skips = new_skips();
    let prepared: Vec<Pattern> = pats.iter().map(|p| Pattern::new(p, &mut skips)).collect();
    let mut set_skips = new_skips();
    let set = AnyOf::new(
        pats.iter()
            .map(|p| Pattern::new(p, &mut set_skips))
            .collect(),
    );
    for line in lines {
        skips.reset();
        let mut any = false;
        for (p, c) in pats.iter().zip(&prepared) {
            let want = model(p, line);
            any |= want;
            assert_eq!(pattern::matches(p, line), want, "matches {p:?} {line:?}");
            assert_eq!(c.matches(line, &mut skips), want, "Pattern {p:?} {line:?}");
        }
        set_skips.reset();
        assert_eq!(
            set.any(line, &mut set_skips),
            any,
            "AnyOf {pats:?} {line:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let k = usize::from(control & 7) + 1;
    let mut pieces = rest.split(|&c| c == b'\n');
    let pats: Vec<&[u8]> = pieces.by_ref().take(k).collect();
    let lines: Vec<Vec<u8>> = pieces.map(<[u8]>::to_vec).collect();
    check(&pats, &lines, Skips::new);
    let windows: Vec<Vec<u8>> = lines.iter().map(|l| stamped(l)).collect();
    check(&pats, &windows, Skips::for_stamped_lines);
});
