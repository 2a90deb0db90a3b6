//! `svc [-udopchaitkxq12] [-wu|-wU|-wd|-wD|-wr|-wR [-T ms]] dir ...`:
//! send control bytes to supervise; with `-w`, then wait until every
//! service is in that state (s6-svc's options, `crate::wait`'s engine).

use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::Signal;

use crate::args::{Getopt, Opt};
use crate::control::{self, SVC_LETTERS};
use crate::fsio;
use crate::msg::{self, EXIT_TEMP, EXIT_USAGE, Line};
use crate::sys;
use crate::wait::{Goal, Quorum, Verdict, Waiter};

const PROG: &str = "svc";

/// `-w` and `-T` misused (other bad options get 0.76's option list).
const WAIT_USAGE: &str =
    "svc: usage: svc [-udopchaitkxq12] [-wu|-wU|-wd|-wD|-wr|-wR] [-T ms] dir ...";

/// How sending to one directory went.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sent {
    Ok,
    NotRunning,
    Failed,
}

pub fn main(args: &[&[u8]]) -> i32 {
    let _ = sys::ignore(Signal::SIGPIPE);
    let mut cmds = Vec::with_capacity(control::MAX_COMMANDS);
    let mut spec = SVC_LETTERS.to_vec();
    spec.extend_from_slice(b"w:T:");
    let mut wait = None;
    let mut limit = None;
    let mut opts = Getopt::new(args, &spec);
    for o in opts.by_ref() {
        match o {
            Opt::Flag(b'w', Some(v)) => match v {
                [c] => match Goal::from_letter(*c) {
                    Some(g) => wait = Some(g),
                    None => Line::bare().s(WAIT_USAGE).exit(EXIT_USAGE),
                },
                _ => Line::bare().s(WAIT_USAGE).exit(EXIT_USAGE),
            },
            Opt::Flag(b'T', Some(v)) => match crate::cmd::svwait::millis(v) {
                Some(0) => limit = None,
                Some(ms) => limit = Some(Duration::from_millis(ms)),
                None => Line::bare().s(WAIT_USAGE).exit(EXIT_USAGE),
            },
            Opt::Flag(letter, _) => control::add_command(&mut cmds, letter),
            Opt::Bad => Line::bare().s(control::SVC_USAGE).exit(EXIT_USAGE),
        }
    }
    let dirs = opts.rest();
    // A directory without supervise gets the commands (and 0.76's
    // warning) but no wait: exit 100, as s6-svc.
    let unsupervised =
        |d: &&[u8]| !crate::svctl::running(std::path::Path::new(std::ffi::OsStr::from_bytes(d)));
    let no_supervise = wait.is_some() && dirs.iter().any(unsupervised);
    if no_supervise {
        wait = None;
    }
    // Set up before the commands go, so no transition is missed.
    let waiter = match wait {
        None => None,
        Some(goal) => match Waiter::new(PROG, dirs, goal, Quorum::All) {
            Ok(w) => Some(w),
            Err(_) => return EXIT_TEMP,
        },
    };
    // Opened even when there is no directory: 0.76 fails the same way.
    let here = fsio::open_read(b".")
        .unwrap_or_else(|e| msg::fatal(PROG, &[b"unable to open current directory"], e));
    let mut worst = Sent::Ok;
    for dir in dirs {
        match send(dir, &cmds) {
            Sent::Ok => {}
            Sent::NotRunning if worst == Sent::Ok => worst = Sent::NotRunning,
            Sent::NotRunning => {}
            Sent::Failed => worst = Sent::Failed,
        }
        if let Err(e) = nix::unistd::fchdir(&here) {
            msg::fatal(PROG, &[b"unable to set directory"], e);
        }
    }
    let Some(mut waiter) = waiter else {
        return if no_supervise { EXIT_USAGE } else { 0 };
    };
    // s6-svc's codes: a command that could not be sent is not waited for
    match worst {
        Sent::Ok => {}
        Sent::NotRunning => return EXIT_USAGE,
        Sent::Failed => return EXIT_TEMP,
    }
    waiter.teardown_aside();
    let verdict = match waiter.wait(limit, None) {
        Ok(v) => v,
        Err(e) => msg::fatal(PROG, &[b"unable to wait"], e),
    };
    waiter.report(verdict);
    match verdict {
        Verdict::Reached => 0,
        Verdict::TimedOut | Verdict::Failed(_) => 1,
        Verdict::Dead => crate::cmd::svwait::EXIT_DEAD,
    }
}

fn send(dir: &[u8], cmds: &[u8]) -> Sent {
    if let Err(e) = nix::unistd::chdir(dir) {
        msg::warn(PROG, &[b"unable to chdir to ", dir], Some(e));
        return Sent::Failed;
    }
    let fd = match fsio::open_write(&crate::svctl::state_file_here("control")) {
        Ok(fd) => fd,
        Err(Errno::ENXIO) => {
            msg::warn(
                PROG,
                &[b"unable to control ", dir, b": supervise not running"],
                None,
            );
            return Sent::NotRunning;
        }
        Err(e) => {
            msg::warn(PROG, &[b"unable to control ", dir], Some(e));
            return Sent::Failed;
        }
    };
    let _ = fsio::ndelay_off(&fd);
    // One write(2) (retried on EINTR and after a partial write); none at all
    // for an empty command string, so nothing can fail then.
    if let Err(e) = fsio::write_all(&fd, cmds) {
        msg::warn(PROG, &[b"error writing commands to ", dir], Some(e));
        return Sent::Failed;
    }
    Sent::Ok
}
