//! softlimit's options and numbers: every option with its argument, the
//! resources it sets and the soft limit it asks for, against sgetopt's
//! rules and scan_ulong's arithmetic (`=` is the hard limit; digits only,
//! the empty string being 0, modulo 2^64; never above the hard limit).
//!
//! Input: 8 bytes of hard limit (little-endian), then the arguments after
//! `softlimit`, separated by NUL bytes.

#![no_main]

use daemontools::args::{Getopt, Opt};
use daemontools::cmd::softlimit::{resources, soft_value};
use libfuzzer_sys::fuzz_target;

#[path = "../models/getopt.rs"]
mod getopt;

const SPEC: &[u8] = b"a:c:d:f:l:m:o:p:r:s:t:";

fn model_value(arg: &[u8], hard: u64) -> Option<u64> {
    if arg == b"=" {
        return Some(hard);
    }
    let mut v: u128 = 0;
    for &c in arg {
        if !c.is_ascii_digit() {
            return None;
        }
        v = (v * 10 + u128::from(c - b'0')) % (1u128 << 64);
    }
    Some((v as u64).min(hard))
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let hard = u64::from_le_bytes(data[..8].try_into().unwrap());
    let args = getopt::argv(b"softlimit", &data[8..]);
    let mut opts = Getopt::new(&args, SPEC).quiet();
    let got: Vec<getopt::Parsed> = opts
        .by_ref()
        .map(|o| match o {
            Opt::Flag(letter, value) => Ok((letter, value)),
            Opt::Bad => Err(0),
        })
        .collect();
    let (want, want_ind) = getopt::sgetopt(&args, SPEC);
    assert_eq!(opts.rest(), &args[want_ind..]);
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        match (g, w) {
            (Ok(g), Ok(w)) => assert_eq!(g, w),
            (Err(_), Err(_)) => {}
            _ => panic!("{g:?} vs {w:?}"),
        }
        if let Ok((letter, value)) = g {
            assert!(!resources(*letter).is_empty());
            let value = value.expect("every letter takes a number");
            assert_eq!(soft_value(value, hard), model_value(value, hard));
        }
    }
});
