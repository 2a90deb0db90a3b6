//! `svwait [-u|-U|-d|-D|-r|-R] [-a|-o] [-t ms] dir ...`: wait until
//! services are up, ready, down, ... — s6-svwait's options and exit codes,
//! plus 102 when a supervise dies (or does not run). The engine, which
//! reacts to supervise's state changes without polling, is `crate::wait`.

use std::time::Duration;

use crate::args::{Getopt, Opt};
use crate::help::Help;
use crate::msg::EXIT_TEMP;
use crate::wait::{Goal, Quorum, Verdict, Waiter};

/// Exit code: timed out (s6-svwait's).
pub const EXIT_TIMEOUT: i32 = 99;
/// Exit code: a supervise died or did not run.
pub const EXIT_DEAD: i32 = 102;
/// The largest count of permanent failures an exit code reports.
const MAX_FAILED: usize = 98;

const HELP: Help = Help {
    prog: "svwait",
    usage: "svwait [-u|-U|-d|-D|-r|-R] [-a|-o] [-t ms] dir ...",
    about: "\
Wait until the services are in a state. It reacts to supervise's state
changes (no polling) and returns at once if the state is already there.

  -u  up: ./run runs (the default)
  -U  up and ready: every readiness source of the service (notification-fd,
      notify-socket, check) said so; a service without source: up, and a
      warning says so
  -d  down: ./run does not run (./finish may)
  -D  down, and ./finish done
  -r  restarted: down at some point (or running another time), then up
  -R  restarted, then up and ready
  -a  all the services (the default); -o any one of them
  -t ms  give up after ms milliseconds (0, the default: never)

The last of -u -U -d -D -r -R counts, and the last of -a -o.

Exit status: 0 reached; 99 timed out; 100 usage; 102 a supervise is not
running or died; 111 a status could not be read; n (at most 98): n services
failed permanently (./finish exited 125) while waited for up.
",
    page: "svwait",
};

/// A number of milliseconds (decimal digits only).
pub fn millis(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 15 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

pub fn main(args: &[&[u8]]) -> i32 {
    HELP.check(args);
    let mut goal = Goal::Up;
    let mut quorum = Quorum::All;
    let mut limit = None;
    let mut opts = Getopt::new(args, b"uUdDrRaot:");
    for o in opts.by_ref() {
        match o {
            Opt::Flag(b'a', _) => quorum = Quorum::All,
            Opt::Flag(b'o', _) => quorum = Quorum::Any,
            Opt::Flag(b't', Some(v)) => match millis(v) {
                Some(0) => limit = None,
                Some(ms) => limit = Some(Duration::from_millis(ms)),
                None => HELP.usage(),
            },
            Opt::Flag(c, None) => match Goal::from_letter(c) {
                Some(g) => goal = g,
                None => HELP.usage(),
            },
            _ => HELP.usage(),
        }
    }
    let dirs = opts.rest();
    if dirs.is_empty() {
        HELP.usage();
    }
    let Ok(mut waiter) = Waiter::new(HELP.prog, dirs, goal, quorum) else {
        return EXIT_TEMP;
    };
    waiter.teardown_aside();
    let verdict = match waiter.wait(limit, None) {
        Ok(v) => v,
        Err(e) => {
            crate::msg::fatal(HELP.prog, &[b"unable to wait"], e);
        }
    };
    waiter.report(verdict);
    match verdict {
        Verdict::Reached => 0,
        Verdict::TimedOut => EXIT_TIMEOUT,
        Verdict::Dead => EXIT_DEAD,
        Verdict::Failed(n) => n.clamp(1, MAX_FAILED) as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds() {
        assert_eq!(millis(b"0"), Some(0));
        assert_eq!(millis(b"30000"), Some(30_000));
        for bad in [&b""[..], b"1.5", b"-1", b"10s", b"9999999999999999"] {
            assert_eq!(millis(bad), None, "{bad:?}");
        }
    }
}
