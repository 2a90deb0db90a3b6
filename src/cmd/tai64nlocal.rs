//! `tai64nlocal`: turns a TAI64N label at the start of a line into local
//! time, `YYYY-MM-DD HH:MM:SS.NNNNNNNNN` (daemontools 0.76). Lines not
//! starting with `@` pass unchanged. Arguments are ignored; nothing is ever
//! printed on stderr. EOF exits 0 (a label cut off by EOF is dropped); a
//! read or write error exits 111.
//!
//! Difference from 0.76: where the C library cannot convert the time (the
//! reference then crashes), the label is copied through unchanged.

use crate::filter;
use crate::tai64::local::Converter;

pub fn main(_args: &[&[u8]]) -> i32 {
    let mut conv = Converter::new();
    filter::run(|data, out| conv.feed(data, out))
}
