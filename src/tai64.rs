//! TAI64N labels as daemontools makes them: label = 2^62 + 10 + Unix
//! seconds (a fixed 10 s TAI-UTC offset, no leap-second table), nanoseconds
//! = microseconds * 1000 + 500. Packed big-endian in 12 bytes; printed as
//! `@` and 24 lowercase hex digits.

use crate::sys;

pub mod local;
pub mod utc;

/// 2^62 + 10: the label of Unix time 0.
pub const UNIX_EPOCH_LABEL: u64 = 0x400000000000000a;

/// A TAI64N stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Tai64n {
    pub secs: u64,
    pub nano: u32,
}

impl Tai64n {
    /// The current time, read with gettimeofday like the C programs.
    pub fn now() -> Tai64n {
        let (s, us) = sys::gettimeofday();
        Tai64n::from_unix(s, us)
    }

    /// The stamp daemontools makes for Unix seconds + microseconds.
    pub fn from_unix(secs: i64, usec: u32) -> Tai64n {
        Tai64n {
            secs: UNIX_EPOCH_LABEL.wrapping_add(secs as u64),
            nano: usec * 1000 + 500,
        }
    }

    /// The 12-byte packed form.
    pub fn pack(&self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..8].copy_from_slice(&self.secs.to_be_bytes());
        b[8..].copy_from_slice(&self.nano.to_be_bytes());
        b
    }

    pub fn unpack(b: &[u8; 12]) -> Tai64n {
        let mut s = [0u8; 8];
        s.copy_from_slice(&b[..8]);
        let mut n = [0u8; 4];
        n.copy_from_slice(&b[8..]);
        Tai64n {
            secs: u64::from_be_bytes(s),
            nano: u32::from_be_bytes(n),
        }
    }

    /// The 25-byte external form `@` + 24 lowercase hex digits.
    pub fn fmt(&self) -> [u8; 25] {
        let mut out = [b'@'; 25];
        hex(&self.pack(), &mut out[1..]);
        out
    }
}

/// Lowercase hex of `src` into `dst` (which must be twice as long).
pub fn hex(src: &[u8], dst: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in src.iter().enumerate() {
        dst[2 * i] = DIGITS[(b >> 4) as usize];
        dst[2 * i + 1] = DIGITS[(b & 15) as usize];
    }
}

/// Eight lowercase hex digits of `v`, computed without a table (used for
/// every stamp of multilog `t` and tai64n).
pub fn hex8(v: u32) -> [u8; 8] {
    // Spread the eight nibbles into the eight bytes, most significant
    // first, then turn each into its digit.
    let x = u64::from(v);
    let x = ((x & 0xffff_0000) << 16) | (x & 0xffff);
    let x = ((x & 0x0000_ff00_0000_ff00) << 8) | (x & 0x0000_00ff_0000_00ff);
    let x = ((x & 0x00f0_00f0_00f0_00f0) << 4) | (x & 0x000f_000f_000f_000f);
    let letters = ((x + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    (x + 0x3030_3030_3030_3030 + letters * u64::from(b'a' - b'0' - 10)).to_be_bytes()
}

/// Makes external-form stamps of the current time quickly: the 17-byte
/// `@` + seconds part is reused while the second does not change.
#[derive(Debug, Default)]
pub struct Stamper {
    secs: u64,
    prefix: [u8; 17],
}

impl Stamper {
    pub fn new() -> Stamper {
        Stamper::default()
    }

    /// `Tai64n::now().fmt()`, faster.
    #[inline]
    pub fn now(&mut self) -> [u8; 25] {
        self.fmt(Tai64n::now())
    }

    /// `t.fmt()`, faster for a run of stamps within the same second.
    #[inline]
    pub fn fmt(&mut self, t: Tai64n) -> [u8; 25] {
        if t.secs != self.secs || self.prefix[0] != b'@' {
            self.secs = t.secs;
            self.prefix[0] = b'@';
            self.prefix[1..9].copy_from_slice(&hex8((t.secs >> 32) as u32));
            self.prefix[9..].copy_from_slice(&hex8(t.secs as u32));
        }
        let mut out = [0u8; 25];
        out[..17].copy_from_slice(&self.prefix);
        out[17..].copy_from_slice(&hex8(t.nano));
        out
    }
}

/// Seconds of a label as Unix time (wrapping, like the C code).
pub fn label_to_unix(secs: u64) -> i64 {
    secs.wrapping_sub(UNIX_EPOCH_LABEL) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_stamp() {
        // gettimeofday shim 1000000000 s + 123456 us gave this stamp.
        let t = Tai64n::from_unix(1_000_000_000, 123_456);
        assert_eq!(&t.fmt(), b"@400000003b9aca0a075bcbf4");
        assert_eq!(Tai64n::unpack(&t.pack()), t);
    }

    #[test]
    fn stamp_of_a_known_time() {
        let t = Tai64n::from_unix(935467445, 787492);
        assert_eq!(&t.fmt(), b"@4000000037c219bf2ef02e94");
        assert_eq!(label_to_unix(t.secs), 935467445);
    }

    #[test]
    fn fast_hex_and_stamper_agree() {
        for v in [
            0u32,
            1,
            9,
            10,
            15,
            16,
            0x12345678,
            0x9abcdef0,
            u32::MAX,
            0x075bcbf4,
        ] {
            let mut want = [0u8; 8];
            hex(&v.to_be_bytes(), &mut want);
            assert_eq!(hex8(v), want);
        }
        let mut st = Stamper::new();
        for (s, us) in [
            (1_000_000_000, 123_456),
            (1_000_000_000, 999_999),
            (1_000_000_001, 0),
            (0, 0),
        ] {
            let t = Tai64n::from_unix(s, us);
            assert_eq!(st.fmt(t), t.fmt());
        }
        let t = Tai64n { secs: 0, nano: 0 };
        assert_eq!(Stamper::new().fmt(t), t.fmt());
    }

    #[test]
    fn now_is_recent() {
        let t = Tai64n::now();
        assert!(label_to_unix(t.secs) > 1_600_000_000);
        assert_eq!(t.nano % 1000, 500);
    }
}
