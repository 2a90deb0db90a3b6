//! `tai64n`: puts a TAI64N stamp and a space in front of every line
//! (daemontools 0.76). The stamp is taken when the line's first byte is
//! processed. Output is written out before every read of input, so a line
//! that arrives alone is passed on at once. Arguments are ignored; nothing
//! is ever printed on stderr. A read or write error exits 111; EOF exits 0.

use crate::filter;
use crate::tai64::Stamper;

pub fn main(_args: &[&[u8]]) -> i32 {
    let mut line_start = true;
    let mut stamper = Stamper::new();
    filter::run(|mut data, out| {
        while !data.is_empty() {
            if line_start {
                out.extend_from_slice(&stamper.now());
                out.push(b' ');
            }
            match memchr::memchr(b'\n', data) {
                Some(i) => {
                    out.extend_from_slice(&data[..=i]);
                    data = &data[i + 1..];
                    line_start = true;
                }
                None => {
                    out.extend_from_slice(data);
                    data = &[];
                    line_start = false;
                }
            }
        }
    })
}
