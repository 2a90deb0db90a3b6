//! svlog's time parsing: `--since`/`--until` arguments (when::parse and
//! resolve) and the stamps at the start of log lines (stamp::of_line).
//! Nothing may panic, and every instant the parser accepts that RFC 3339
//! can express must read back the same from its RFC 3339 form, both as an
//! argument and as a line stamp.
#![no_main]

use daemontools::cmd::svlog::stamp::{self, Stamp};
use daemontools::cmd::svlog::when;
use daemontools::tai64::utc;

fn utc_local(t: i64) -> Option<utc::Civil> {
    Some(utc::civil(t))
}

/// A zone with a daylight-saving hour every year (March to October).
fn dst_local(t: i64) -> Option<utc::Civil> {
    let c = utc::civil(t.checked_add(3600)?);
    let summer = (4..=9).contains(&c.mon);
    Some(utc::civil(t.checked_add(if summer { 7200 } else { 3600 })?))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = stamp::of_line(data);
    let Some(w) = when::parse(data) else { return };
    let now = Stamp::new(1_796_161_180, 500);
    for local in [utc_local as fn(i64) -> Option<utc::Civil>, dst_local] {
        let Some(t) = when::resolve(&w, now, &local) else { continue };
        let mut text = Vec::new();
        if utc::push_rfc3339(&mut text, t.secs, t.nano).is_some() {
            let back = when::parse(&text).and_then(|w| when::resolve(&w, now, &local));
            assert_eq!(back, Some(t), "{}", String::from_utf8_lossy(&text));
            assert_eq!(stamp::of_line(&text), Some(t));
        }
    }
});
