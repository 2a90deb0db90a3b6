//! supervise/status.json's reader and the shared byte escape: any bytes,
//! no panic; a record that parses writes back to the same record; the
//! escape round-trips.
#![no_main]

use daemontools::record::{Record, escaped, parse_label, unescape};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = Record::parse(data) {
        let mut out = Vec::new();
        r.write_json(&mut out);
        assert_eq!(Record::parse(&out).unwrap(), r);
    }
    assert_eq!(unescape(&escaped(data)).unwrap(), data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = unescape(s);
    }
    if let Some(t) = parse_label(data) {
        assert_eq!(&t.fmt()[..], data.to_ascii_lowercase());
    }
});
