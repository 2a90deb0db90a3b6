//! multilog's script parser with issue 16's actions (`Z L R C M g D 1`,
//! which check their argument). The input is the script, arguments
//! separated by NUL bytes. Nothing may panic; an accepted script keeps
//! every setting in its bounds, and its stamps are written at their
//! announced length for any time; a refused one names one of its own
//! arguments, of a letter that checks its argument; a script without
//! those letters is always accepted (0.76 refuses nothing).
#![no_main]

use daemontools::cmd::multilog::script::{self, MAX_HEAD};
use daemontools::cmd::multilog::stamp::Heads;
use daemontools::tai64::utc;

const CHECKED: &[u8] = b"ZLRCMgD";

fn fixed_zone(t: i64) -> Option<utc::Civil> {
    Some(utc::civil(t.checked_sub(9000)?))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let args: Vec<&[u8]> = data.split(|&c| c == 0).collect();
    match script::parse(&args) {
        Ok(s) => {
            let dirs = args
                .iter()
                .filter(|a| matches!(a.first(), Some(b'.' | b'/')))
                .count();
            assert_eq!(s.dirs.len(), dirs);
            for (_, d) in &s.dirs {
                assert!((script::SIZE_MIN..=script::BIG_SIZE_MAX).contains(&d.size));
                assert!(d.num >= script::NUM_MIN);
                assert!(d.cap == 0 || d.cap >= d.size);
                assert!(d.gzip <= 9);
            }
            assert!(s.stamps.len() <= MAX_HEAD);
            let mut heads = Heads::with_zone(&s.stamps, fixed_zone);
            let secs = data
                .iter()
                .fold(0i64, |t, &c| t.wrapping_mul(257).wrapping_add(i64::from(c)));
            let mut out = [0u8; MAX_HEAD];
            heads.at(secs, (secs.rem_euclid(1_000_000)) as u32, &mut out);
            assert_eq!(heads.len(), s.stamps.len());
        }
        Err(e) => {
            assert!(args.iter().any(|a| std::ptr::eq(*a, e.arg)));
            assert!(e.arg.first().is_some_and(|c| CHECKED.contains(c)));
        }
    }
    let classic: Vec<&[u8]> = args
        .iter()
        .copied()
        .filter(|a| !a.first().is_some_and(|c| CHECKED.contains(c)))
        .collect();
    assert!(script::parse(&classic).is_ok());
});
