//! The reader of `supervise/summary` (svstat --json/--prometheus,
//! svmetrics): any bytes either are no summary or one that writes back
//! exactly those bytes (every byte has one meaning), and what it reports
//! makes sense: a last exit only with its flag, and the 18-byte status in
//! it decodes as the status reader decodes it.
//!
//! Input: the file's bytes (a summary is 64 of them).

#![no_main]

use daemontools::record::{Summary, summary};
use daemontools::status::{self, Status};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(s) = Summary::decode(data) else {
        return;
    };
    assert_eq!(data.len(), summary::LEN);
    assert_eq!(s.encode().as_slice(), data);
    let rec: [u8; status::LEN] = data[8..8 + status::LEN].try_into().unwrap();
    assert_eq!(s.status, Status::decode(&rec));
    assert_eq!(s.last_exit.is_some(), data[28] & 4 != 0);
    if let Some(e) = s.last_exit {
        assert!(e.at.nano < 1_000_000_000);
    }
});
