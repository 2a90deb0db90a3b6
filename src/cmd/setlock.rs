//! `setlock [-nNxX] file program [arg ...]`: run program holding an
//! exclusive flock(2) on file. The lock descriptor is inherited by the
//! program (no close-on-exec), so the lock lasts as long as it and every
//! descendant keep the descriptor open.

use crate::args::{Getopt, Opt};
use crate::exec::Command;
use crate::fsio;
use crate::msg;

const PROG: &str = "setlock";

fn usage() -> ! {
    msg::usage(PROG, "setlock [ -nNxX ] file program [ arg ... ]")
}

pub fn main(args: &[&[u8]]) -> i32 {
    let mut wait = true;
    let mut quiet = false;
    let mut opts = Getopt::new(args, b"nNxX");
    for o in opts.by_ref() {
        match o {
            Opt::Flag(b'n', _) => wait = false,
            Opt::Flag(b'N', _) => wait = true,
            Opt::Flag(b'x', _) => quiet = true,
            Opt::Flag(b'X', _) => quiet = false,
            _ => usage(),
        }
    }
    let [file, program @ ..] = opts.rest() else {
        usage()
    };
    if program.is_empty() {
        usage();
    }
    let fd = match fsio::open_append(file) {
        Ok(fd) => fd,
        Err(_) if quiet => return 0,
        Err(e) => msg::fatal(PROG, &[b"unable to open ", file], e),
    };
    // Kept alive (and open) through the exec below.
    let _lock = match fsio::lock_ex(fd, wait) {
        Ok(lock) => lock,
        Err(_) if quiet => return 0,
        Err(e) => msg::fatal(PROG, &[b"unable to lock ", file], e),
    };
    Command::with_current_env(program).run_or_die(PROG)
}
