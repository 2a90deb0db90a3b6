//! Readiness of one run of `./run`, free of I/O: which sources it has
//! (`notification-fd`, `notify-socket`, `check`), which have said ready,
//! when all of them had, what the notify socket told (`STATUS=`,
//! `MAINPID=`, `RELOADING=1`, `STOPPING=1`), when `./check` runs next and
//! when the watchdog expires. Also the parser of notify datagrams
//! (systemd's sd_notify protocol), fuzzed in
//! fuzz/fuzz_targets/notify_message.rs.
//!
//! `state::Machine` owns one `Readiness` per run: begun at each start,
//! dropped at each end, so a restarted service is not ready until it
//! says so again.

use super::state::Now;
use crate::record::{ReadyError, Sources};
use crate::tai64::Tai64n;

/// Longest notify datagram accepted (systemd's limit, PIPE_BUF).
pub const MAX_DATAGRAM: usize = 4096;
/// `check-interval` default, milliseconds.
pub const CHECK_INTERVAL_DEFAULT: u32 = 250;
/// `timeout-check` default, milliseconds.
pub const TIMEOUT_CHECK_DEFAULT: u32 = 60_000;

/// Who may send on the notify socket (the `notify-socket` file's content).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    /// `./run`'s pid and the pid it named with `MAINPID=` (systemd's
    /// NotifyAccess=main).
    #[default]
    Main,
    /// Any process of the service (NotifyAccess=all).
    All,
}

/// One readiness source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Fd,
    Socket,
    Check,
}

fn slot(s: &mut Sources, which: Source) -> &mut bool {
    match which {
        Source::Fd => &mut s.notification_fd,
        Source::Socket => &mut s.notify_socket,
        Source::Check => &mut s.check,
    }
}

/// What the service directory says at a start (only the sources that
/// could be set up: a pipe made, a socket bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Setup {
    pub sources: Sources,
    pub access: Access,
    /// Milliseconds between two runs of `./check`.
    pub check_interval: u32,
    /// Milliseconds after the start until `./check` is given up; None: no
    /// limit.
    pub check_limit: Option<u32>,
    /// The `watchdog` file, in microseconds; 0: none.
    pub watchdog_usec: u64,
}

/// What the event loop must do after a readiness event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outcome {
    /// The record changed (write status.json).
    pub changed: bool,
    /// Every source has now said ready.
    pub became_ready: bool,
    /// The watchdog expired (or `WATCHDOG=trigger`).
    pub watchdog: bool,
    /// This error was just recorded: the run will not be ready.
    pub error: Option<ReadyError>,
}

/// What is due at a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Due {
    pub start_check: bool,
    /// The check runs past `timeout-check`: kill it.
    pub kill_check: bool,
    pub outcome: Outcome,
}

/// The readiness of the current run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Readiness {
    pub sources: Sources,
    pub pending: Sources,
    /// When every source had said ready.
    pub at: Option<Tai64n>,
    pub error: Option<ReadyError>,
    pub status_text: Option<Vec<u8>>,
    pub main_pid: u32,
    pub reloading: bool,
    pub stopping: bool,
    pub access: Access,
    /// pid of the running `./check`, else 0.
    pub check_pid: u32,
    check_next: Option<u64>,
    check_until: Option<u64>,
    check_interval: u64,
    /// The watchdog period; 0: none.
    pub watchdog_usec: u64,
    watchdog_due: Option<u64>,
}

/// Milliseconds of a watchdog period, rounded up, at least 1.
fn period_ms(usec: u64) -> u64 {
    usec.div_ceil(1000).max(1)
}

impl Readiness {
    /// The readiness of a run started at `now`.
    pub fn begin(setup: Setup, now: Now) -> Readiness {
        let mut r = Readiness {
            sources: setup.sources,
            pending: setup.sources,
            access: setup.access,
            check_interval: u64::from(setup.check_interval.max(1)),
            ..Readiness::default()
        };
        if setup.sources.check {
            r.check_next = Some(now.mono);
            r.check_until = setup.check_limit.map(|ms| now.mono + u64::from(ms));
        }
        r.set_watchdog(setup.watchdog_usec, now);
        r
    }

    fn set_watchdog(&mut self, usec: u64, now: Now) {
        self.watchdog_usec = usec;
        self.watchdog_due = (usec > 0).then(|| now.mono + period_ms(usec));
    }

    /// `source` said ready.
    pub fn said(&mut self, source: Source, now: Now) -> Outcome {
        let pending = slot(&mut self.pending, source);
        if !*pending {
            return Outcome::default();
        }
        *pending = false;
        let became_ready = self.pending.is_empty() && self.at.is_none();
        if became_ready {
            self.at = Some(now.wall);
        }
        Outcome {
            changed: true,
            became_ready,
            ..Outcome::default()
        }
    }

    /// The notification descriptor was closed (or failed) before a
    /// newline: this run will not be ready.
    pub fn fd_closed(&mut self) -> Outcome {
        if !self.pending.notification_fd || self.error.is_some() {
            return Outcome::default();
        }
        self.error = Some(ReadyError::FdClosed);
        Outcome {
            changed: true,
            error: self.error,
            ..Outcome::default()
        }
    }

    /// Whether a datagram from `sender` is the service's: Some(true) from
    /// `./run` (`run_pid`) or the `MAINPID=` process; None when only the
    /// process tree can tell (`all`); Some(false) otherwise.
    pub fn accepts(&self, sender: u32, run_pid: u32) -> Option<bool> {
        if sender != 0 && (sender == run_pid || sender == self.main_pid) {
            return Some(true);
        }
        match self.access {
            Access::Main => Some(false),
            Access::All => None,
        }
    }

    /// A datagram from an accepted sender.
    pub fn message(&mut self, m: &Message, now: Now) -> Outcome {
        let mut o = Outcome::default();
        if let Some(text) = m.status
            && self.status_text.as_deref() != Some(text)
        {
            self.status_text = Some(text.to_vec());
            o.changed = true;
        }
        if let Some(pid) = m.main_pid
            && self.main_pid != pid
        {
            self.main_pid = pid;
            o.changed = true;
        }
        if m.reloading && !self.reloading {
            self.reloading = true;
            o.changed = true;
        }
        if m.stopping && !self.stopping {
            self.stopping = true;
            o.changed = true;
        }
        if let Some(usec) = m.watchdog_usec {
            if usec != self.watchdog_usec {
                o.changed = true;
            }
            self.set_watchdog(usec, now);
        }
        if m.watchdog_ping && self.watchdog_usec > 0 {
            self.watchdog_due = Some(now.mono + period_ms(self.watchdog_usec));
        }
        if m.ready {
            if self.reloading {
                self.reloading = false;
                o.changed = true;
            }
            let s = self.said(Source::Socket, now);
            o.changed |= s.changed;
            o.became_ready = s.became_ready;
        }
        if m.watchdog_trigger {
            self.watchdog_due = None;
            o.watchdog = true;
        }
        o
    }

    /// The watchdog stops (the service is being stopped).
    pub fn stop_watchdog(&mut self) {
        self.watchdog_due = None;
    }

    /// The service was continued after a pause: a full period from now.
    pub fn continued(&mut self, now: Now) {
        if self.watchdog_due.is_some() {
            self.watchdog_due = Some(now.mono + period_ms(self.watchdog_usec));
        }
    }

    /// The next deadline; the watchdog does not run while `paused`.
    pub fn deadline(&self, paused: bool) -> Option<u64> {
        let watchdog = self.watchdog_due.filter(|_| !paused);
        let checking = self.pending.check && self.error.is_none();
        let next = self.check_next.filter(|_| checking && self.check_pid == 0);
        let until = self.check_until.filter(|_| checking);
        [watchdog, next, until].into_iter().flatten().min()
    }

    /// What is due at `now`.
    pub fn tick(&mut self, now: Now, paused: bool) -> Due {
        let mut d = Due::default();
        if !paused && self.watchdog_due.is_some_and(|t| t <= now.mono) {
            self.watchdog_due = None;
            d.outcome.watchdog = true;
        }
        if !self.pending.check || self.error.is_some() {
            return d;
        }
        if self.check_until.is_some_and(|t| t <= now.mono) {
            self.check_until = None;
            self.check_next = None;
            self.error = Some(ReadyError::CheckTimeout);
            d.outcome.changed = true;
            d.outcome.error = self.error;
            d.kill_check = self.check_pid != 0;
        } else if self.check_pid == 0 && self.check_next.is_some_and(|t| t <= now.mono) {
            self.check_next = None;
            d.start_check = true;
        }
        d
    }

    pub fn check_started(&mut self, pid: u32) {
        self.check_pid = pid;
    }

    /// `./check` could not be forked: try again after the interval.
    pub fn check_failed(&mut self, now: Now) {
        self.check_next = Some(now.mono + self.check_interval);
    }

    /// `./check` ended; `ok`: it exited 0.
    pub fn check_ended(&mut self, ok: bool, now: Now) -> Outcome {
        self.check_pid = 0;
        if ok {
            self.check_until = None;
            return self.said(Source::Check, now);
        }
        if self.pending.check && self.error.is_none() {
            self.check_next = Some(now.mono + self.check_interval);
        }
        Outcome::default()
    }
}

// ---- the sd_notify protocol ----------------------------------------------

/// What one notify datagram says (systemd's keys that supervise acts on).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message<'a> {
    /// `READY=1`.
    pub ready: bool,
    /// `RELOADING=1`.
    pub reloading: bool,
    /// `STOPPING=1`.
    pub stopping: bool,
    /// `STATUS=` (the last one in the datagram).
    pub status: Option<&'a [u8]>,
    /// `MAINPID=` (a positive pid).
    pub main_pid: Option<u32>,
    /// `WATCHDOG=1`.
    pub watchdog_ping: bool,
    /// `WATCHDOG=trigger`.
    pub watchdog_trigger: bool,
    /// `WATCHDOG_USEC=`.
    pub watchdog_usec: Option<u64>,
    /// `BARRIER=1` (its descriptor is closed on receipt, as it must be).
    pub barrier: bool,
    /// `FDSTORE=1` (not supported: the descriptors are closed).
    pub fdstore: bool,
    /// Lines that are not `KEY=VALUE`, and known keys with a value that
    /// means nothing (`MAINPID=x`, `WATCHDOG=2`).
    pub bad: u32,
}

/// A decimal number without sign or blanks, at most 20 digits.
fn decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 20 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Parses a datagram: `KEY=VALUE` lines separated by newlines (the last
/// newline optional); keys are upper-case letters, digits and `_`;
/// unknown keys are ignored (systemd's rule); `READY=0` and the like mean
/// nothing.
pub fn parse_message(datagram: &[u8]) -> Message<'_> {
    let mut m = Message::default();
    for line in datagram.split(|&c| c == b'\n') {
        if line.is_empty() {
            continue;
        }
        let Some(eq) = memchr::memchr(b'=', line) else {
            m.bad += 1;
            continue;
        };
        let (key, value) = (&line[..eq], &line[eq + 1..]);
        let key_ok = !key.is_empty()
            && key
                .iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_');
        if !key_ok {
            m.bad += 1;
            continue;
        }
        let flag = value == b"1";
        let known = match key {
            b"READY" => {
                m.ready |= flag;
                true
            }
            b"RELOADING" => {
                m.reloading |= flag;
                true
            }
            b"STOPPING" => {
                m.stopping |= flag;
                true
            }
            b"BARRIER" => {
                m.barrier |= flag;
                true
            }
            b"FDSTORE" => {
                m.fdstore |= flag;
                true
            }
            b"STATUS" => {
                m.status = Some(value);
                continue;
            }
            b"MAINPID" => match decimal(value) {
                Some(p) if p > 0 && p <= i32::MAX as u64 => {
                    m.main_pid = Some(p as u32);
                    continue;
                }
                _ => false,
            },
            b"WATCHDOG" => match value {
                b"1" => {
                    m.watchdog_ping = true;
                    continue;
                }
                b"trigger" => {
                    m.watchdog_trigger = true;
                    continue;
                }
                _ => false,
            },
            b"WATCHDOG_USEC" => match decimal(value) {
                Some(u) => {
                    m.watchdog_usec = Some(u);
                    continue;
                }
                None => false,
            },
            _ => continue,
        };
        // a flag key with a value other than 1 (READY=0) is ignored;
        // a bad number or watchdog word is counted
        if !known {
            m.bad += 1;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(ms: u64) -> Now {
        Now {
            wall: Tai64n::from_unix((ms / 1000) as i64, (ms % 1000) as u32 * 1000),
            mono: ms,
        }
    }

    fn sources(fd: bool, socket: bool, check: bool) -> Sources {
        Sources {
            notification_fd: fd,
            notify_socket: socket,
            check,
        }
    }

    fn setup(s: Sources) -> Setup {
        Setup {
            sources: s,
            check_interval: 250,
            check_limit: Some(1000),
            ..Setup::default()
        }
    }

    #[test]
    fn no_source_is_never_ready() {
        let mut r = Readiness::begin(Setup::default(), at(0));
        assert_eq!(r.deadline(false), None);
        assert_eq!(r.said(Source::Fd, at(1)), Outcome::default());
        assert_eq!(r.at, None);
    }

    #[test]
    fn ready_when_every_source_said_so_in_any_order() {
        let mut r = Readiness::begin(setup(sources(true, true, false)), at(0));
        let o = r.said(Source::Socket, at(5));
        assert!(o.changed && !o.became_ready);
        assert_eq!(r.pending, sources(true, false, false));
        // the same source twice changes nothing
        assert_eq!(r.said(Source::Socket, at(6)), Outcome::default());
        let o = r.said(Source::Fd, at(7));
        assert!(o.became_ready);
        assert_eq!(r.at, Some(at(7).wall));
        assert!(r.pending.is_empty());
    }

    #[test]
    fn fd_closed_without_a_newline_is_an_error_once() {
        let mut r = Readiness::begin(setup(sources(true, false, false)), at(0));
        assert!(r.fd_closed().changed);
        assert_eq!(r.error, Some(ReadyError::FdClosed));
        assert!(!r.fd_closed().changed);
        // after a newline, a close is no error
        let mut r = Readiness::begin(setup(sources(true, false, false)), at(0));
        r.said(Source::Fd, at(1));
        assert!(!r.fd_closed().changed);
        assert_eq!(r.error, None);
    }

    #[test]
    fn check_polls_until_it_succeeds() {
        let mut r = Readiness::begin(setup(sources(false, false, true)), at(100));
        assert_eq!(r.deadline(false), Some(100));
        let d = r.tick(at(100), false);
        assert!(d.start_check);
        r.check_started(7);
        // while it runs: only the overall limit
        assert_eq!(r.deadline(false), Some(1100));
        assert!(!r.tick(at(200), false).start_check);
        assert_eq!(r.check_ended(false, at(200)), Outcome::default());
        assert_eq!(r.deadline(false), Some(450));
        assert!(!r.tick(at(449), false).start_check);
        assert!(r.tick(at(450), false).start_check);
        r.check_started(8);
        assert_eq!(r.check_ended(false, at(500)), Outcome::default());
        assert!(r.tick(at(750), false).start_check);
        r.check_started(9);
        let o = r.check_ended(true, at(800));
        assert!(o.became_ready);
        assert_eq!(r.check_pid, 0);
        assert_eq!(r.deadline(false), None);
        assert_eq!(r.tick(at(5000), false), Due::default());
    }

    #[test]
    fn check_past_its_limit_is_killed_and_recorded() {
        let mut r = Readiness::begin(setup(sources(false, false, true)), at(0));
        r.tick(at(0), false);
        r.check_started(7);
        let d = r.tick(at(1000), false);
        assert!(d.kill_check && d.outcome.changed && !d.start_check);
        assert_eq!(r.error, Some(ReadyError::CheckTimeout));
        // the killed check's end schedules nothing
        r.check_ended(false, at(1001));
        assert_eq!(r.deadline(false), None);
        // between two runs: recorded, nothing to kill
        let mut r = Readiness::begin(setup(sources(false, false, true)), at(0));
        r.tick(at(0), false);
        r.check_started(7);
        r.check_ended(false, at(900));
        let d = r.tick(at(1000), false);
        assert!(!d.kill_check && !d.start_check && d.outcome.changed);
        // no limit
        let mut s = setup(sources(false, false, true));
        s.check_limit = None;
        let mut r = Readiness::begin(s, at(0));
        r.tick(at(0), false);
        r.check_started(1);
        assert_eq!(r.deadline(false), None);
    }

    #[test]
    fn a_fork_failure_retries_after_the_interval() {
        let mut r = Readiness::begin(setup(sources(false, false, true)), at(0));
        assert!(r.tick(at(0), false).start_check);
        r.check_failed(at(0));
        assert_eq!(r.deadline(false), Some(250));
    }

    #[test]
    fn watchdog_expires_unless_pinged_and_not_while_paused() {
        let mut s = setup(sources(false, true, false));
        s.watchdog_usec = 2_000_500; // rounds up to 2001 ms
        let mut r = Readiness::begin(s, at(0));
        assert_eq!(r.deadline(false), Some(2001));
        let ping = parse_message(b"WATCHDOG=1");
        r.message(&ping, at(1500));
        assert_eq!(r.deadline(false), Some(3501));
        assert_eq!(r.deadline(true), None);
        assert!(!r.tick(at(3501), true).outcome.watchdog, "paused");
        r.continued(at(4000));
        assert_eq!(r.deadline(false), Some(6001));
        assert!(!r.tick(at(6000), false).outcome.watchdog);
        assert!(r.tick(at(6001), false).outcome.watchdog);
        assert_eq!(r.deadline(false), None, "fires once");
        // a new period from the daemon; 0 switches it off
        let m = parse_message(b"WATCHDOG_USEC=1000000");
        assert!(r.message(&m, at(7000)).changed);
        assert_eq!(r.deadline(false), Some(8000));
        r.message(&parse_message(b"WATCHDOG_USEC=0"), at(7100));
        assert_eq!(r.deadline(false), None);
        // a ping without a watchdog does nothing
        r.message(&ping, at(7200));
        assert_eq!(r.deadline(false), None);
        // trigger
        let o = r.message(&parse_message(b"WATCHDOG=trigger"), at(7300));
        assert!(o.watchdog);
        // stopping the service stops it
        let mut r = Readiness::begin(s, at(0));
        r.stop_watchdog();
        assert_eq!(r.deadline(false), None);
        r.continued(at(10));
        assert_eq!(r.deadline(false), None);
    }

    #[test]
    fn messages_update_the_run() {
        let mut r = Readiness::begin(setup(sources(false, true, false)), at(0));
        let o = r.message(&parse_message(b"STATUS=starting\nMAINPID=42\n"), at(1));
        assert!(o.changed && !o.became_ready);
        assert_eq!(r.status_text.as_deref(), Some(&b"starting"[..]));
        assert_eq!(r.main_pid, 42);
        // the same again changes nothing
        let o = r.message(&parse_message(b"STATUS=starting"), at(2));
        assert!(!o.changed);
        let o = r.message(&parse_message(b"READY=1\nSTATUS=up"), at(3));
        assert!(o.became_ready && o.changed);
        assert_eq!(r.at, Some(at(3).wall));
        let o = r.message(&parse_message(b"RELOADING=1"), at(4));
        assert!(o.changed && r.reloading);
        let o = r.message(&parse_message(b"READY=1"), at(5));
        assert!(o.changed && !o.became_ready && !r.reloading);
        assert_eq!(r.at, Some(at(3).wall), "ready since the first READY=1");
        assert!(r.message(&parse_message(b"STOPPING=1"), at(6)).changed);
        assert!(r.stopping);
    }

    #[test]
    fn who_may_send() {
        let mut r = Readiness::begin(setup(sources(false, true, false)), at(0));
        assert_eq!(r.accepts(10, 10), Some(true));
        assert_eq!(r.accepts(11, 10), Some(false));
        assert_eq!(r.accepts(0, 0), Some(false));
        r.main_pid = 11;
        assert_eq!(r.accepts(11, 10), Some(true));
        r.access = Access::All;
        assert_eq!(r.accepts(12, 10), None);
    }

    #[test]
    fn parser_follows_sd_notify() {
        let m = parse_message(b"READY=1\nSTATUS=Serving 4 clients\nMAINPID=4711\n");
        assert!(m.ready);
        assert_eq!(m.status, Some(&b"Serving 4 clients"[..]));
        assert_eq!(m.main_pid, Some(4711));
        assert_eq!(m.bad, 0);
        let m = parse_message(b"WATCHDOG=1");
        assert!(m.watchdog_ping && !m.ready);
        let m = parse_message(b"WATCHDOG_USEC=5000000\nX_FOO=bar\nERRNO=2");
        assert_eq!((m.watchdog_usec, m.bad), (Some(5_000_000), 0));
        let m = parse_message(b"BARRIER=1");
        assert!(m.barrier);
        let m = parse_message(b"FDSTORE=1\nFDNAME=x");
        assert!(m.fdstore);
        // READY=0 means nothing; bad values and lines are counted
        let m = parse_message(b"READY=0\nMAINPID=0\nMAINPID=x\nWATCHDOG=2\ngarbage\nlow=1\n=1");
        assert_eq!(
            m,
            Message {
                bad: 6,
                ..Message::default()
            }
        );
        assert_eq!(
            parse_message(b"MAINPID=99999999999999999999999").main_pid,
            None
        );
        assert_eq!(parse_message(b"MAINPID=2147483648").main_pid, None);
        assert_eq!(parse_message(b"").bad, 0);
        // STATUS keeps everything up to the newline, the last one wins
        let m = parse_message(b"STATUS=a=b \xff\nSTATUS=\n");
        assert_eq!(m.status, Some(&b""[..]));
    }

    proptest! {
        #[test]
        fn parser_never_panics_and_status_is_one_line(
            d in proptest::collection::vec(any::<u8>(), 0..300)
        ) {
            let m = parse_message(&d);
            if let Some(s) = m.status {
                prop_assert!(!s.contains(&b'\n'));
            }
            if let Some(p) = m.main_pid {
                prop_assert!(p > 0 && p <= i32::MAX as u32);
            }
        }

        #[test]
        fn keys_survive_any_neighbours(
            before in "[A-Z_]{1,8}=[ -~]{0,10}",
            pid in 1u32..=i32::MAX as u32,
        ) {
            let d = format!("{before}\nMAINPID={pid}\nREADY=1");
            let m = parse_message(d.as_bytes());
            prop_assert_eq!(m.main_pid, Some(pid));
            prop_assert!(m.ready);
        }
    }
}
