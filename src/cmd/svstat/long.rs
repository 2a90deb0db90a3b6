//! `svstat --long dir ...`: 0.76's line followed by what
//! `supervise/status.json` adds, one line per directory:
//!
//! `DIR: down 2 seconds, normally up, want up, started 7 times, last exit 1, next start in 4 seconds`
//!
//! Exit code: 0 when every directory had a running supervise and a
//! readable status; 1 otherwise (the line says why); 111 when the current
//! directory cannot be opened or returned to.

use super::{Problem, StateFiles, read_here};
use crate::fsio;
use crate::msg::{self, errstr};
use crate::record::{self, Ending, Record, State};
use crate::status::Status;
use crate::sys;
use crate::tai64::Tai64n;

const PROG: &str = "svstat";

pub fn main(dirs: &[&[u8]]) -> i32 {
    let here = fsio::open_read(b".")
        .unwrap_or_else(|e| msg::fatal(PROG, &[b"unable to open current directory"], e));
    let mut code = 0;
    let state = StateFiles::from_env();
    for dir in dirs {
        let mut line = Vec::with_capacity(160);
        line.extend_from_slice(dir);
        line.extend_from_slice(b": ");
        if !describe(&mut line, dir, state) {
            code = 1;
        }
        line.push(b'\n');
        // SIGPIPE ends us on a closed pipe, as it ends the 0.76 form
        let _ = msg::write_all(sys::StdFd::OUT, &line);
        if let Err(e) = nix::unistd::fchdir(&here) {
            msg::fatal(PROG, &[b"unable to set directory"], e);
        }
    }
    code
}

/// Appends the text for `dir`; false when it is a problem report.
fn describe(out: &mut Vec<u8>, dir: &[u8], state: StateFiles) -> bool {
    if let Err(e) = nix::unistd::chdir(dir) {
        return problem(out, ("unable to chdir: ", Some(errstr(e))));
    }
    let (mut st, mut normally_up) = match read_here(state) {
        Ok(v) => v,
        Err(p) => return problem(out, p),
    };
    let mut rec = lifecycle(state);
    if matches!(&rec, Ok(Some(r)) if !in_step(r, &st)) {
        // supervise replaced both files between our two reads: once more
        (st, normally_up) = match read_here(state) {
            Ok(v) => v,
            Err(p) => return problem(out, p),
        };
        rec = lifecycle(state);
    }
    out.extend_from_slice(&st.describe(normally_up, sys::unix_time()));
    match rec {
        Ok(None) => {}
        Ok(Some(r)) if in_step(&r, &st) => extras(out, &r, Tai64n::now()),
        Ok(Some(_)) => out.extend_from_slice(b", status.json not in step"),
        Err(field) => {
            out.extend_from_slice(b", bad status.json (");
            out.extend_from_slice(field.as_bytes());
            out.push(b')');
        }
    }
    true
}

fn problem(out: &mut Vec<u8>, (what, detail): Problem) -> bool {
    out.extend_from_slice(what.as_bytes());
    if let Some(d) = detail {
        out.extend_from_slice(d.as_bytes());
    }
    false
}

fn in_step(r: &Record, st: &Status) -> bool {
    r.since == st.stamp && r.pid == st.pid
}

/// The record in the current directory: None if there is none (a
/// supervise that does not write it); Err names what is wrong with it.
fn lifecycle(state: StateFiles) -> Result<Option<Record>, &'static str> {
    match record::read_record(&state.path(record::NAME)) {
        None => Ok(None),
        Some(r) => r.map(Some).map_err(|b| b.0),
    }
}

/// Readiness: `ready 4 seconds` or `not ready (waiting for check)`, then
/// what the notify socket said and the watchdog.
fn readiness(put: &mut impl FnMut(&str), r: &Record, now: Tai64n) {
    if !r.ready_sources.is_empty() {
        match (r.ready, r.ready_error) {
            (Some(t), _) => put(&format!(
                ", ready {} seconds",
                record::seconds_between(t, now)
            )),
            (None, Some(e)) => put(&format!(", not ready ({})", e.text())),
            (None, None) => put(&format!(
                ", not ready (waiting for {})",
                r.ready_pending.names().join(", ")
            )),
        }
    }
    if r.reloading {
        put(", reloading");
    }
    if r.stopping {
        put(", stopping");
    }
    if let Some(t) = &r.status_text {
        put(&format!(", status \"{}\"", record::escaped(t)));
    }
    if r.main_pid != 0 && r.main_pid != r.pid {
        put(&format!(", main pid {}", r.main_pid));
    }
    if r.watchdog_usec > 0 {
        put(&format!(", watchdog {} ms", r.watchdog_usec.div_ceil(1000)));
    }
    if r.watchdog_timeouts > 0 {
        put(&format!(", {} watchdog timeouts", r.watchdog_timeouts));
    }
}

/// The parts after 0.76's text, in this order: readiness, finishing,
/// starts, last exit, next start, failure, exiting.
fn extras(out: &mut Vec<u8>, r: &Record, now: Tai64n) {
    let mut put = |s: &str| out.extend_from_slice(s.as_bytes());
    readiness(&mut put, r, now);
    if r.state == State::Finishing {
        put(&format!(", finishing (pid {})", r.finish_pid));
    }
    put(&format!(", started {} times", r.starts));
    if r.starts_since_up != r.starts {
        put(&format!(" ({} since up)", r.starts_since_up));
    }
    if let Some(e) = &r.last_exit {
        match e.ending {
            Ending::Code(c) => put(&format!(", last exit {c}")),
            Ending::Signal(s) => put(&format!(", last killed by {}", record::signal_name(s))),
        }
        if e.core_dumped {
            put(" (core dumped)");
        }
        if e.watchdog {
            put(" (watchdog)");
        }
    }
    if let Some(t) = r.next_start {
        put(&format!(
            ", next start in {} seconds",
            record::seconds_between(now, t)
        ));
    }
    if let Some(f) = &r.failed {
        put(&format!(", failed ({})", f.reason()));
    }
    if r.exiting {
        put(", exiting");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Exit, Failure};

    fn t(s: i64) -> Tai64n {
        Tai64n::from_unix(s, 0)
    }

    /// Waiting 4 s after the 7th run exited 1 at t(100).
    fn rec() -> Record {
        let mut r = record::sample();
        r.since = t(100);
        r.starts_since_up = 7;
        r.last_exit = Some(Exit {
            pid: 5,
            ending: Ending::Code(1),
            core_dumped: false,
            at: t(100),
            watchdog: false,
        });
        r.next_start = Some(t(106));
        r
    }

    fn text(r: &Record, now: i64) -> String {
        let mut v = Vec::new();
        extras(&mut v, r, t(now));
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn the_issue_example() {
        assert_eq!(
            text(&rec(), 102),
            ", started 7 times, last exit 1, next start in 4 seconds"
        );
    }

    #[test]
    fn readiness_parts() {
        let mut r = rec();
        r.state = State::Up;
        r.pid = 9;
        r.next_start = None;
        r.ready_sources.notification_fd = true;
        r.ready_sources.check = true;
        r.ready_pending = r.ready_sources;
        assert_eq!(
            text(&r, 102),
            ", not ready (waiting for notification-fd, check), started 7 times, last exit 1"
        );
        r.ready_error = Some(crate::record::ReadyError::CheckTimeout);
        assert!(text(&r, 102).starts_with(", not ready (check timed out),"));
        r.ready = Some(t(98));
        r.status_text = Some(b"serving \"all\"\n".to_vec());
        r.main_pid = 12;
        r.reloading = true;
        r.watchdog_usec = 2_500;
        r.watchdog_timeouts = 2;
        r.last_exit.as_mut().unwrap().ending = Ending::Signal(6);
        r.last_exit.as_mut().unwrap().watchdog = true;
        assert_eq!(
            text(&r, 102),
            ", ready 4 seconds, reloading, status \"serving \"all\"%0A\", main pid 12, \
             watchdog 3 ms, 2 watchdog timeouts, started 7 times, last killed by SIGABRT \
             (watchdog)"
        );
        // the main pid is not repeated when it is ./run
        r.main_pid = 9;
        assert!(!text(&r, 102).contains("main pid"));
    }

    #[test]
    fn every_part() {
        let mut r = rec();
        r.state = State::Finishing;
        r.finish_pid = 77;
        r.starts_since_up = 2;
        r.last_exit = Some(Exit {
            pid: 5,
            ending: Ending::Signal(11),
            core_dumped: true,
            at: t(100),
            watchdog: false,
        });
        r.next_start = None;
        r.failed = Some(Failure {
            finish_code: 125,
            at: t(101),
        });
        r.exiting = true;
        assert_eq!(
            text(&r, 200),
            ", finishing (pid 77), started 7 times (2 since up), last killed by SIGSEGV \
             (core dumped), failed (finish exited 125), exiting"
        );
        // a next start already due reads 0 seconds
        let r = rec();
        assert!(text(&r, 300).ends_with("next start in 0 seconds"));
    }
}
