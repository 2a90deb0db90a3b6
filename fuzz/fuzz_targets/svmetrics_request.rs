//! svmetrics' request heads (cmd::svmetrics::http::parse) on any bytes:
//! nothing panics, a head read whole lies within the bytes and the limit,
//! and the head alone reads the same as the head with what follows it.
#![no_main]

use daemontools::cmd::svmetrics::http::{Head, parse};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&limit, buf)) = data.split_first() else {
        return;
    };
    let max = usize::from(limit) * 16 + 1;
    match parse(buf, max) {
        Head::Done(r, n) => {
            assert!(n <= buf.len() && n <= max);
            assert_eq!(parse(&buf[..n], max), Head::Done(r, n));
        }
        Head::TooLarge => assert!(buf.len() >= max),
        Head::Incomplete => assert!(buf.len() < max),
        Head::Bad | Head::Version => {}
    }
});
