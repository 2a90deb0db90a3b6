//! `svc [-udopchaitkxq12] dir ...`: send control bytes to supervise.

use nix::errno::Errno;
use nix::sys::signal::Signal;

use crate::args::{Getopt, Opt};
use crate::control::{self, SVC_LETTERS};
use crate::fsio;
use crate::msg::{self, EXIT_USAGE, Line};
use crate::sys;

const PROG: &str = "svc";

pub fn main(args: &[&[u8]]) -> i32 {
    let _ = sys::ignore(Signal::SIGPIPE);
    let mut cmds = Vec::with_capacity(control::MAX_COMMANDS);
    let mut opts = Getopt::new(args, SVC_LETTERS);
    for o in opts.by_ref() {
        match o {
            Opt::Flag(letter, _) => control::add_command(&mut cmds, letter),
            Opt::Bad => Line::bare().s(control::SVC_USAGE).exit(EXIT_USAGE),
        }
    }
    let dirs = opts.rest();
    // Opened even when there is no directory: 0.76 fails the same way.
    let here = fsio::open_read(b".")
        .unwrap_or_else(|e| msg::fatal(PROG, &[b"unable to open current directory"], e));
    for dir in dirs {
        send(dir, &cmds);
        if let Err(e) = nix::unistd::fchdir(&here) {
            msg::fatal(PROG, &[b"unable to set directory"], e);
        }
    }
    0
}

fn send(dir: &[u8], cmds: &[u8]) {
    if let Err(e) = nix::unistd::chdir(dir) {
        return msg::warn(PROG, &[b"unable to chdir to ", dir], Some(e));
    }
    let fd = match fsio::open_write(&crate::svctl::state_file_here("control")) {
        Ok(fd) => fd,
        Err(Errno::ENXIO) => {
            return msg::warn(
                PROG,
                &[b"unable to control ", dir, b": supervise not running"],
                None,
            );
        }
        Err(e) => return msg::warn(PROG, &[b"unable to control ", dir], Some(e)),
    };
    let _ = fsio::ndelay_off(&fd);
    // One write(2) (retried on EINTR and after a partial write); none at all
    // for an empty command string, so nothing can fail then.
    if let Err(e) = fsio::write_all(&fd, cmds) {
        msg::warn(PROG, &[b"error writing commands to ", dir], Some(e));
    }
}
