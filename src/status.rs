//! The 18-byte `supervise/status` record and svstat's reading of it.
//!
//! | bytes | content |
//! |---|---|
//! | 0-11 | TAI64N of the last pid change (start-up, fork, reap) |
//! | 12-15 | pid of `./run`, little-endian, 0 when not running |
//! | 16 | 1 if paused and pid != 0 |
//! | 17 | want: `u`, `d`, or 0 (once) |
//!
//! Readers take one read(2) of 18 bytes and ignore anything beyond, so
//! longer records written by extensions stay readable.

use crate::tai64::{self, Tai64n};

pub const LEN: usize = 18;

/// What supervise wants the service to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Up,
    Down,
    /// `svc -o`: run once, no restart.
    Once,
}

impl Want {
    pub fn byte(self) -> u8 {
        match self {
            Want::Up => b'u',
            Want::Down => b'd',
            Want::Once => 0,
        }
    }
}

/// A decoded status record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub stamp: Tai64n,
    pub pid: u32,
    /// Byte 16 as stored (non-zero means paused).
    pub paused: u8,
    /// Byte 17 as stored.
    pub want: u8,
}

impl Status {
    pub fn encode(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[..12].copy_from_slice(&self.stamp.pack());
        b[12..16].copy_from_slice(&self.pid.to_le_bytes());
        b[16] = self.paused;
        b[17] = self.want;
        b
    }

    pub fn decode(b: &[u8; LEN]) -> Status {
        let mut st = [0u8; 12];
        st.copy_from_slice(&b[..12]);
        let mut pid = [0u8; 4];
        pid.copy_from_slice(&b[12..16]);
        Status {
            stamp: Tai64n::unpack(&st),
            pid: u32::from_le_bytes(pid),
            paused: b[16],
            want: b[17],
        }
    }

    /// svstat's text after `DIR: `: `up (pid N) S seconds` or
    /// `down S seconds`, then the `, normally ...`, `, paused` and
    /// `, want ...` parts. `now` is the current Unix time in seconds.
    pub fn describe(&self, normally_up: bool, now: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        self.describe_pieces(normally_up, now, |p| out.extend_from_slice(p));
        out
    }

    /// The same text, handed to `put` in the pieces svstat 0.76 buffers
    /// one by one (so that its output buffer flushes at the same points).
    pub fn describe_pieces(&self, normally_up: bool, now: i64, mut put: impl FnMut(&[u8])) {
        let now_label = tai64::UNIX_EPOCH_LABEL.wrapping_add(now as u64);
        let secs = now_label.saturating_sub(self.stamp.secs);
        // The C code passes the difference through a double.
        let secs = secs as f64 as u64;
        let mut num = [0u8; 20];
        if self.pid != 0 {
            put(b"up (pid ");
            put(decimal(u64::from(self.pid), &mut num));
            put(b") ");
        } else {
            put(b"down ");
        }
        put(decimal(secs, &mut num));
        put(b" seconds");
        if self.pid != 0 && !normally_up {
            put(b", normally down");
        }
        if self.pid == 0 && normally_up {
            put(b", normally up");
        }
        if self.pid != 0 && self.paused != 0 {
            put(b", paused");
        }
        if self.pid == 0 && self.want == b'u' {
            put(b", want up");
        }
        if self.pid != 0 && self.want == b'd' {
            put(b", want down");
        }
    }
}

/// `n` in decimal, written at the end of `buf`; returns the digits.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_record() {
        let hex = "400000006b03281d33640f2c5218000001".to_string() + "75";
        let bytes: Vec<u8> = (0..LEN)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let b: [u8; LEN] = bytes.try_into().unwrap();
        let s = Status::decode(&b);
        assert_eq!(s.pid, 6226);
        assert_eq!(s.paused, 1);
        assert_eq!(s.want, b'u');
        assert_eq!(s.stamp.secs, 0x400000006b03281d);
        assert_eq!(s.encode(), b);
        let now = tai64::label_to_unix(s.stamp.secs) + 2;
        assert_eq!(
            s.describe(true, now),
            b"up (pid 6226) 2 seconds, paused".to_vec()
        );
    }

    fn st(pid: u32, paused: u8, want: u8, age: i64) -> (Status, i64) {
        let now = 1_700_000_000;
        (
            Status {
                stamp: Tai64n::from_unix(now - age, 5),
                pid,
                paused,
                want,
            },
            now,
        )
    }

    #[test]
    fn every_suffix_in_order() {
        let (s, now) = st(12345, 1, b'd', 17);
        assert_eq!(
            s.describe(false, now),
            b"up (pid 12345) 17 seconds, normally down, paused, want down".to_vec()
        );
        let (s, now) = st(0, 0, b'u', 1);
        assert_eq!(
            s.describe(true, now),
            b"down 1 seconds, normally up, want up".to_vec()
        );
        let (s, now) = st(0, 1, b'd', 2);
        assert_eq!(s.describe(false, now), b"down 2 seconds".to_vec());
        let (s, now) = st(5887, 0, 0, 0);
        assert_eq!(
            s.describe(false, now),
            b"up (pid 5887) 0 seconds, normally down".to_vec()
        );
    }

    #[test]
    fn decimals() {
        let mut b = [0u8; 20];
        assert_eq!(decimal(0, &mut b), b"0");
        assert_eq!(decimal(1234567, &mut b), b"1234567");
        assert_eq!(decimal(u64::MAX, &mut b), u64::MAX.to_string().as_bytes());
    }

    #[test]
    fn pieces_follow_svstat() {
        let (s, now) = st(12345, 1, b'd', 17);
        let mut pieces = Vec::new();
        s.describe_pieces(false, now, |p| pieces.push(p.to_vec()));
        let want: Vec<&[u8]> = vec![
            b"up (pid ",
            b"12345",
            b") ",
            b"17",
            b" seconds",
            b", normally down",
            b", paused",
            b", want down",
        ];
        assert_eq!(pieces, want);
    }

    #[test]
    fn future_stamp_clamps_to_zero() {
        let (s, now) = st(0, 0, b'd', -100);
        assert_eq!(s.describe(false, now), b"down 0 seconds".to_vec());
    }
}
