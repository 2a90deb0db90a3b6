//! The status-record reader (svstat, svctl): any 18 bytes decode, encode
//! back to the same bytes, and describe as the reference's svstat prints
//! them (a model written from svstat.c's logic), in the pieces 0.76 buffers.
//!
//! Input: 18 bytes of `supervise/status`, then 8 bytes of the current Unix
//! time (little-endian, any value) and a byte whose low bit says whether
//! the service is normally up (no `down` file).

#![no_main]

use daemontools::status::{self, Status};
use libfuzzer_sys::fuzz_target;

fn model(rec: &[u8; 18], normally_up: bool, now: i64) -> String {
    let when = u64::from_be_bytes(rec[..8].try_into().unwrap());
    let pid = u32::from_le_bytes(rec[12..16].try_into().unwrap());
    let (paused, want) = (rec[16], rec[17]);
    // tai_now: 2^62 + 10 + now; a stamp in the future counts as now; the
    // difference goes through a double (tai_approx).
    let now_label = ((1u64 << 62) + 10).wrapping_add(now as u64);
    let when = when.min(now_label);
    let age = now_label - when;
    let mut s = if pid != 0 {
        format!("up (pid {pid}) ")
    } else {
        "down ".to_string()
    };
    s += &format!("{} seconds", age as f64 as u64);
    if pid != 0 && !normally_up {
        s += ", normally down";
    }
    if pid == 0 && normally_up {
        s += ", normally up";
    }
    if pid != 0 && paused != 0 {
        s += ", paused";
    }
    if pid == 0 && want == b'u' {
        s += ", want up";
    }
    if pid != 0 && want == b'd' {
        s += ", want down";
    }
    s
}

fuzz_target!(|data: &[u8]| {
    if data.len() < status::LEN + 9 {
        return;
    }
    let rec: [u8; status::LEN] = data[..status::LEN].try_into().unwrap();
    let now = i64::from_le_bytes(data[status::LEN..status::LEN + 8].try_into().unwrap());
    let normally_up = data[status::LEN + 8] & 1 == 1;
    let st = Status::decode(&rec);
    assert_eq!(st.encode(), rec);
    let text = st.describe(normally_up, now);
    assert_eq!(
        String::from_utf8(text.clone()).unwrap(),
        model(&rec, normally_up, now)
    );
    let mut joined = Vec::new();
    st.describe_pieces(normally_up, now, |p| {
        assert!(!p.is_empty());
        joined.extend_from_slice(p);
    });
    assert_eq!(joined, text);
});
