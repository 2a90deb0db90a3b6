//! The parsers of supervise's settings files (down-signal, timeout-kill,
//! timeout-finish, timeout-notify, backoff): any bytes, no panic, and what
//! they accept is well-formed.
#![no_main]

use daemontools::cmd::supervise::settings::{parse_backoff, parse_millis, parse_signal};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(ms) = parse_millis(data) {
        // what was accepted is the number on the first line
        let line = data.split(|&c| c == b'\n').next().unwrap();
        let text = std::str::from_utf8(line.trim_ascii()).unwrap();
        assert_eq!(text.parse::<u64>().unwrap(), u64::from(ms));
    }
    if let Some(sig) = parse_signal(data) {
        assert!((sig as i32) > 0 && (sig as i32) < 65);
    }
    if let Some(b) = parse_backoff(data) {
        assert!(b.max >= 1);
    }
});
