//! svc's option bytes: the command string svc writes for any command
//! line, against sgetopt's rules and svc's (each letter once, in order of
//! first appearance, 20 at most); and what supervise makes of every byte.
//!
//! Input: the arguments after `svc`, separated by NUL bytes.

#![no_main]

use daemontools::args::{Getopt, Opt};
use daemontools::control::{self, Command, SVC_LETTERS};
use libfuzzer_sys::fuzz_target;

#[path = "../models/getopt.rs"]
mod getopt;

fuzz_target!(|data: &[u8]| {
    let args = getopt::argv(b"svc", data);
    // What svc does: collect the letters; an unknown one is a usage error.
    let mut cmds = Vec::new();
    let mut bad = false;
    let mut opts = Getopt::new(&args, SVC_LETTERS).quiet();
    for o in opts.by_ref() {
        match o {
            Opt::Flag(letter, None) => control::add_command(&mut cmds, letter),
            Opt::Flag(_, Some(_)) => panic!("svc's letters take no argument"),
            Opt::Bad => bad = true,
        }
    }
    let (want_opts, want_ind) = getopt::sgetopt(&args, SVC_LETTERS);
    assert_eq!(opts.rest(), &args[want_ind..]);
    assert_eq!(bad, want_opts.iter().any(Result::is_err));
    let mut want_cmds: Vec<u8> = Vec::new();
    for letter in want_opts.iter().filter_map(|o| o.ok()).map(|(l, _)| l) {
        if want_cmds.len() < 20 && !want_cmds.contains(&letter) {
            want_cmds.push(letter);
        }
    }
    assert_eq!(cmds, want_cmds);
    // supervise: each of svc's letters means something, any other byte is
    // ignored.
    for &b in data {
        assert_eq!(
            Command::from_byte(b) == Command::Ignore,
            !SVC_LETTERS.contains(&b),
            "{b}"
        );
    }
});
