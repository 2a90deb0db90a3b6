//! multilog's script parser against a model written from its definition.
//!
//! Input: the script's arguments separated by NUL bytes (an argument can
//! hold any byte but NUL, as in argv). Every pattern is also prepared for
//! matching, as multilog does at start-up. Arguments starting with a
//! letter of issue 16's actions (`Z L R C M g D 1`, fuzzed in
//! `multilog_actions`) are left out: the rest is a 0.76 script.

#![no_main]

use daemontools::cmd::multilog::pattern::{AnyOf, Pattern, Skips};
use daemontools::cmd::multilog::script::{self, Action, Script, Settings};
use libfuzzer_sys::fuzz_target;

/// A decimal prefix, modulo 2^64 (daemontools' scan_ulong), in wide
/// arithmetic.
fn decimal_prefix(s: &[u8]) -> u64 {
    let mut v: u128 = 0;
    for &c in s.iter().take_while(|c| c.is_ascii_digit()) {
        v = (v * 10 + u128::from(c - b'0')) % (1u128 << 64);
    }
    v as u64
}

/// The script as 0.76 reads it: each argument's first byte picks the
/// action; `s`, `n` and `!` change what later directories get.
fn model<'a>(args: &[&'a [u8]]) -> Script<'a> {
    let mut s = Script::default();
    s.stamps.tai = matches!(args.first(), Some(a) if a.starts_with(b"t"));
    let (mut size, mut num, mut processor) = (99999u64, 10u64, None);
    for &arg in args {
        match arg.first() {
            Some(b'+') => s.actions.push(Action::Select(&arg[1..])),
            Some(b'-') => s.actions.push(Action::Deselect(&arg[1..])),
            Some(b'e') => s.actions.push(Action::Alert),
            Some(b'=') => {
                s.actions.push(Action::Status(s.status.len()));
                s.status.push(&arg[1..]);
            }
            Some(b's') => size = decimal_prefix(&arg[1..]).clamp(4096, 16_777_215),
            Some(b'n') => num = decimal_prefix(&arg[1..]).max(2),
            Some(b'!') => processor = Some(&arg[1..]),
            Some(b'.' | b'/') => {
                s.actions.push(Action::Dir(s.dirs.len()));
                s.dirs.push((
                    arg,
                    Settings {
                        size,
                        num,
                        processor,
                        ..Settings::default()
                    },
                ));
            }
            _ => {}
        }
    }
    s
}

fuzz_target!(|data: &[u8]| {
    let args: Vec<&[u8]> = if data.is_empty() {
        Vec::new()
    } else {
        data.split(|&c| c == 0)
            .filter(|a| !a.first().is_some_and(|c| b"ZLRCMgD1".contains(c)))
            .collect()
    };
    let parsed = script::parse(&args).expect("0.76 scripts are accepted");
    assert_eq!(parsed, model(&args));
    // Prepare the patterns (each alone and all as one set).
    let mut skips = Skips::new();
    let pats: Vec<Pattern> = parsed
        .actions
        .iter()
        .filter_map(|a| match *a {
            Action::Select(p) | Action::Deselect(p) => Some(Pattern::new(p, &mut skips)),
            _ => None,
        })
        .collect();
    let set = AnyOf::new(pats);
    skips.reset();
    let _ = set.any(b"a line", &mut skips);
});
