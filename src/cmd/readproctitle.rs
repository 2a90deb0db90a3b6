//! `readproctitle io errors: ...........`: shows the most recent bytes of
//! its input in its own argument area, where `ps` sees them. The last
//! argument is the window: it is filled with dots, its first three stay
//! dots, and the rest always holds the latest input bytes (NUL bytes
//! skipped). Exit 0 at end of input, 100 without a window of at least five
//! bytes, 111 on a read error; never a message.

use crate::fsio;
use crate::sys::StdFd;

pub fn main(args: &[&[u8]], last: Option<&mut [u8]>) -> i32 {
    if args.len() < 2 {
        return 100;
    }
    let Some(title) = last else {
        return 100;
    };
    title.fill(b'.');
    if title.len() < 5 {
        return 100;
    }
    let mut buf = [0u8; 4096];
    loop {
        match fsio::read(StdFd::IN, &mut buf) {
            Ok(0) => return 0,
            Ok(n) => feed(title, &buf[..n]),
            Err(_) => return 111,
        }
    }
}

/// Appends `input` to the window `title[3..]`: the same result as shifting
/// it left one place per non-NUL byte and storing the byte at the end.
pub fn feed(title: &mut [u8], input: &[u8]) {
    let win = &mut title[3..];
    let w = win.len();
    let bytes: Vec<u8> = input.iter().copied().filter(|&b| b != 0).collect();
    let k = bytes.len();
    if k >= w {
        win.copy_from_slice(&bytes[k - w..]);
    } else if k > 0 {
        win.copy_within(k.., 0);
        win[w - k..].copy_from_slice(&bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The reference's one-byte-at-a-time shift.
    fn feed_slow(title: &mut [u8], input: &[u8]) {
        for &b in input {
            if b == 0 {
                continue;
            }
            let n = title.len();
            title.copy_within(4..n, 3);
            title[n - 1] = b;
        }
    }

    #[test]
    fn reference_example() {
        // LAST = 10 dots, input `AB\0C\nDEFGHIJKLMN` → `...HIJKLMN`
        let mut t = *b"..........";
        feed(&mut t, b"AB\0C\nDEFGHIJKLMN");
        assert_eq!(&t, b"...HIJKLMN");
    }

    proptest! {
        #[test]
        fn chunked_equals_bytewise(len in 5usize..40, chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..60), 0..8)) {
            let mut a = vec![b'.'; len];
            let mut b = a.clone();
            for c in &chunks {
                feed(&mut a, c);
                feed_slow(&mut b, c);
            }
            prop_assert_eq!(a, b);
        }
    }
}
