//! supervise's state machine, free of I/O: state x event -> actions.
//!
//! The event loop in `cmd::supervise` feeds it control bytes, reaped
//! children and the passing of time, and carries out the returned actions
//! in order (write the status files, signal the service, start it, start
//! or kill `./finish`, notify). Keeping the decisions here lets every 0.76
//! rule and every lifecycle rule be tested without processes.
//!
//! Times: `Now::wall` is the TAI64N of the records; `Now::mono` counts
//! milliseconds on the monotonic clock and drives every deadline.

use nix::sys::signal::Signal;

use super::notify::{Event, Kind, Script};
use super::settings;
use crate::control::Command;
use crate::record::{self, Ending, Exit, Failure, Record, State};
use crate::status::{Status, Want};
use crate::tai64::Tai64n;

/// The current time on both clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub wall: Tai64n,
    pub mono: u64,
}

impl Now {
    /// `ms` milliseconds later.
    pub fn after(&self, ms: u64) -> Now {
        let total = u64::from(self.wall.nano) + (ms % 1000) * 1_000_000;
        Now {
            wall: Tai64n {
                secs: self.wall.secs + ms / 1000 + total / 1_000_000_000,
                nano: (total % 1_000_000_000) as u32,
            },
            mono: self.mono + ms,
        }
    }
}

/// One thing the event loop must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Write supervise/status (and then supervise/status.json).
    Announce,
    /// kill(2) `./run` (its process group in kill-group mode).
    Kill(Signal),
    /// Fork and exec `./run` (then call `started`), then sleep one second.
    Start,
    /// Fork and exec `./finish CODE SIGNAL DIR` (then `finish_started`).
    StartFinish { code: i32, signal: i32 },
    /// SIGKILL to `./finish` and its process group.
    KillFinish,
    /// Kill every process of the service's cgroup.
    KillCgroup,
    /// Tell `./notify`.
    Notify(Event),
    /// Tell `./notify` that `./finish` started (its pid is known once
    /// StartFinish has been carried out).
    NotifyFinishStarted,
}

/// Up to eight actions, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Actions {
    list: [Option<Action>; 8],
}

impl Actions {
    fn of(list: &[Action]) -> Actions {
        let mut a = Actions::default();
        for act in list {
            a.push(*act);
        }
        a
    }
    fn push(&mut self, act: Action) {
        let slot = self.list.iter_mut().find(|s| s.is_none());
        *slot.expect("at most eight actions") = Some(act);
    }
    pub fn iter(&self) -> impl Iterator<Item = Action> + '_ {
        self.list.iter().map_while(|a| *a)
    }
}

/// How `./run` or `./finish` ended, as waitpid reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Death {
    pub ending: Ending,
    pub core_dumped: bool,
}

impl Death {
    pub fn exited(code: i32) -> Death {
        Death {
            ending: Ending::Code(code),
            core_dumped: false,
        }
    }
    pub fn killed(sig: i32, core_dumped: bool) -> Death {
        Death {
            ending: Ending::Signal(sig),
            core_dumped,
        }
    }

    /// s6's `./finish` arguments: (exit code or 256, signal number or 0).
    fn finish_args(&self) -> (i32, i32) {
        match self.ending {
            Ending::Code(c) => (c, 0),
            Ending::Signal(s) => (256, s),
        }
    }

    fn event(&self, script: Script, pid: u32) -> Event {
        let (kind, code) = match self.ending {
            Ending::Code(c) => (Kind::Exit, c),
            Ending::Signal(s) => (Kind::Killed, s),
        };
        Event {
            script,
            kind,
            pid,
            code,
        }
    }
}

/// What the service directory says when `./run` has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AfterRun {
    /// An executable `finish` exists.
    pub finish: bool,
    pub backoff: Option<settings::Backoff>,
}

/// What the service directory says when `svc -d` arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnDown {
    pub signal: Signal,
    /// Milliseconds until KILL; 0: never.
    pub timeout_kill: u32,
}

impl Default for OnDown {
    fn default() -> OnDown {
        OnDown {
            signal: Signal::SIGTERM,
            timeout_kill: 0,
        }
    }
}

/// How `./run` was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StartMode {
    /// Session and process-group leader; signals go to the group.
    pub group: bool,
    /// In its own cgroup.
    pub contained: bool,
}

#[derive(Debug, Clone)]
pub struct Machine {
    /// pid of `./run`, 0 when not running.
    pub pid: u32,
    /// pid of `./finish`, 0 when not running.
    pub finish_pid: u32,
    pub want: Want,
    pub paused: bool,
    pub exit_requested: bool,
    /// Time of the last pid change of `./run`.
    pub stamp: Tai64n,
    /// How the current (or last) `./run` was started.
    pub mode: StartMode,
    /// The next start: None, none planned; Some(None) as soon as nothing
    /// runs; Some(Some(t)) at t (a backoff delay, or Debian's retry of a
    /// failed fork).
    planned: Option<Option<Now>>,
    started_at: u64,
    pub starts: u64,
    pub starts_since_up: u64,
    pub last_exit: Option<Exit>,
    /// The delay in force, when a `backoff` file was in force at the last
    /// exit.
    pub backoff: Option<record::Backoff>,
    /// Seconds the next backoff delay lasts.
    next_delay: u32,
    kill_at: Option<u64>,
    finish_kill_at: Option<u64>,
    pub failed: Option<Failure>,
}

impl Machine {
    /// The state at start-up; `down_file` is whether `down` existed.
    pub fn new(down_file: bool, now: Tai64n) -> Machine {
        Machine {
            pid: 0,
            finish_pid: 0,
            want: if down_file { Want::Down } else { Want::Up },
            paused: false,
            exit_requested: false,
            stamp: now,
            mode: StartMode::default(),
            planned: None,
            started_at: 0,
            starts: 0,
            starts_since_up: 0,
            last_exit: None,
            backoff: None,
            next_delay: 1,
            kill_at: None,
            finish_kill_at: None,
            failed: None,
        }
    }

    /// The main loop ends when exit was requested and nothing runs.
    pub fn done(&self) -> bool {
        self.exit_requested && self.pid == 0 && self.finish_pid == 0
    }

    /// The 18-byte record to write now.
    pub fn status(&self) -> Status {
        Status {
            stamp: self.stamp,
            pid: self.pid,
            paused: u8::from(self.paused && self.pid != 0),
            want: self.want.byte(),
        }
    }

    pub fn state(&self) -> State {
        if self.pid != 0 {
            State::Up
        } else if self.finish_pid != 0 {
            State::Finishing
        } else if self.planned.is_some() && !self.exit_requested {
            State::Waiting
        } else {
            State::Down
        }
    }

    /// The lifecycle record; the caller fills in what the machine does not
    /// know (service name, supervise's pid, the down file, the cgroup).
    pub fn record(&self) -> Record {
        Record {
            service: Vec::new(),
            supervise_pid: 0,
            state: self.state(),
            pid: self.pid,
            finish_pid: self.finish_pid,
            want: self.want,
            paused: self.paused && self.pid != 0,
            normally_up: true,
            since: self.stamp,
            starts: self.starts,
            starts_since_up: self.starts_since_up,
            last_exit: self.last_exit,
            next_start: match self.planned {
                Some(Some(t)) if !self.exit_requested => Some(t.wall),
                _ => None,
            },
            backoff: self.backoff,
            failed: self.failed,
            kill_group: self.mode.group,
            cgroup: None,
            exiting: self.exit_requested,
            // readiness (issue 13) fills these in
            ready: None,
            ready_sources: Default::default(),
            ready_pending: Default::default(),
            ready_error: None,
            status_text: None,
            main_pid: 0,
            reloading: false,
            stopping: false,
            watchdog_usec: 0,
            watchdog_timeouts: 0,
        }
    }

    /// The earliest deadline (monotonic ms) the loop must wake up for.
    pub fn deadline(&self) -> Option<u64> {
        let kill = self.kill_at.filter(|_| self.pid != 0);
        let finish = self.finish_kill_at.filter(|_| self.finish_pid != 0);
        let start = match self.planned {
            Some(Some(t)) if self.pid == 0 && self.finish_pid == 0 => Some(t.mono),
            _ => None,
        };
        [kill, finish, start].into_iter().flatten().min()
    }

    /// A fork of `./run` succeeded (the caller then carries out the
    /// actions and sleeps a second).
    pub fn started(&mut self, pid: u32, now: Now, mode: StartMode) -> Actions {
        self.paused = false;
        self.pid = pid;
        self.stamp = now.wall;
        self.mode = mode;
        self.planned = None;
        self.kill_at = None;
        self.failed = None;
        self.started_at = now.mono;
        self.starts += 1;
        self.starts_since_up += 1;
        let ev = Event {
            script: Script::Run,
            kind: Kind::Start,
            pid,
            code: 0,
        };
        Actions::of(&[Action::Announce, Action::Notify(ev)])
    }

    /// A fork of `./run` failed (after Debian's 60-second pause): retried
    /// at once while the service is wanted up.
    pub fn start_failed(&mut self) {
        if self.want == Want::Up {
            self.planned = Some(None);
        }
    }

    /// `./run` ended.
    pub fn run_ended(&mut self, death: Death, now: Now, dir: AfterRun) -> Actions {
        let pid = self.pid;
        self.pid = 0;
        self.stamp = now.wall;
        self.kill_at = None;
        self.last_exit = Some(Exit {
            pid,
            ending: death.ending,
            core_dumped: death.core_dumped,
            at: now.wall,
            watchdog: false,
        });
        self.planned = None;
        self.backoff = None;
        if !self.exit_requested && self.want == Want::Up {
            self.planned = Some(dir.backoff.map(|b| self.backoff_delay(b, now)));
        }
        let mut a = Actions::default();
        if self.mode.contained {
            a.push(Action::KillCgroup);
        }
        if dir.finish {
            let (code, signal) = death.finish_args();
            a.push(Action::StartFinish { code, signal });
        }
        a.push(Action::Announce);
        a.push(Action::Notify(death.event(Script::Run, pid)));
        if dir.finish {
            a.push(Action::NotifyFinishStarted);
        }
        a
    }

    /// The time of the next start under `b`: the delay doubles from one
    /// second up to MAX, and starts over after a run of STABLE seconds.
    fn backoff_delay(&mut self, b: settings::Backoff, now: Now) -> Now {
        let ran = now.mono.saturating_sub(self.started_at);
        if ran >= u64::from(b.stable) * 1000 {
            self.next_delay = 1;
        }
        let delay = self.next_delay.clamp(1, b.max);
        self.next_delay = delay.saturating_mul(2).min(b.max);
        self.backoff = Some(record::Backoff {
            max: b.max,
            stable: b.stable,
            delay,
        });
        now.after(u64::from(delay) * 1000)
    }

    /// `./finish` was forked; `limit` in ms (None: no limit).
    pub fn finish_started(&mut self, pid: u32, now: Now, limit: Option<u32>) {
        self.finish_pid = pid;
        self.finish_kill_at = limit.map(|ms| now.mono + u64::from(ms));
    }

    /// `./finish` ended. Exit 125 is a permanent failure: want down, no
    /// restart, the record says why.
    pub fn finish_ended(&mut self, death: Death, now: Now) -> Actions {
        let pid = self.finish_pid;
        self.finish_pid = 0;
        self.finish_kill_at = None;
        let ev = death.event(Script::Finish, pid);
        if death.ending != Ending::Code(125) {
            return Actions::of(&[Action::Announce, Action::Notify(ev)]);
        }
        self.want = Want::Down;
        self.planned = None;
        self.failed = Some(Failure {
            finish_code: 125,
            at: now.wall,
        });
        let failed = Event {
            script: Script::Run,
            kind: Kind::Failed,
            pid: self.last_exit.map_or(0, |e| e.pid),
            code: 125,
        };
        Actions::of(&[Action::Announce, Action::Notify(ev), Action::Notify(failed)])
    }

    /// Deadlines that have passed: KILL after `timeout-kill`, `./finish`
    /// past `timeout-finish`, a planned start.
    pub fn tick(&mut self, now: Now) -> Actions {
        let mut a = Actions::default();
        if self.pid != 0 && self.kill_at.is_some_and(|t| t <= now.mono) {
            self.kill_at = None;
            a.push(if self.mode.contained {
                Action::KillCgroup
            } else {
                Action::Kill(Signal::SIGKILL)
            });
        }
        if self.finish_pid != 0 && self.finish_kill_at.is_some_and(|t| t <= now.mono) {
            self.finish_kill_at = None;
            a.push(Action::KillFinish);
        }
        if self.pid == 0 && self.finish_pid == 0 && !self.exit_requested {
            let due = match self.planned {
                Some(None) => true,
                Some(Some(t)) => t.mono <= now.mono,
                None => false,
            };
            if due {
                self.planned = None;
                a.push(Action::Start);
            }
        }
        a
    }

    /// The service was asked up (or once) while it was wanted down: the
    /// count of starts since then begins again, and so does the backoff.
    fn asked_up(&mut self) {
        if self.want == Want::Down {
            self.starts_since_up = 0;
            self.next_delay = 1;
        }
        self.failed = None;
    }

    /// `u` or `o`: start now unless `./run` or `./finish` runs (then at
    /// once after `./finish`).
    fn up_or_once(&mut self, want: Want) -> Actions {
        self.asked_up();
        self.want = want;
        if self.pid != 0 {
            return Actions::of(&[Action::Announce]);
        }
        if self.finish_pid != 0 {
            self.planned = Some(None);
            return Actions::of(&[Action::Announce]);
        }
        self.planned = None;
        Actions::of(&[Action::Announce, Action::Start])
    }

    /// One control byte; `down` is read from the service directory for `d`.
    pub fn control(&mut self, byte: u8, now: Now, down: impl FnOnce() -> OnDown) -> Actions {
        use Action::*;
        let running = self.pid != 0;
        match Command::from_byte(byte) {
            Command::Up => self.up_or_once(Want::Up),
            Command::Once => self.up_or_once(Want::Once),
            Command::Down => {
                self.want = Want::Down;
                self.planned = None;
                if !running {
                    return Actions::of(&[Announce]);
                }
                self.paused = false;
                let d = down();
                if d.timeout_kill > 0 && self.kill_at.is_none() {
                    self.kill_at = Some(now.mono + u64::from(d.timeout_kill));
                }
                Actions::of(&[Kill(d.signal), Kill(Signal::SIGCONT), Announce])
            }
            Command::Pause => {
                self.paused = true;
                if running {
                    Actions::of(&[Announce, Kill(Signal::SIGSTOP)])
                } else {
                    Actions::of(&[Announce])
                }
            }
            Command::Continue => {
                self.paused = false;
                if running {
                    Actions::of(&[Announce, Kill(Signal::SIGCONT)])
                } else {
                    Actions::of(&[Announce])
                }
            }
            Command::Exit => {
                self.exit_requested = true;
                Actions::of(&[Announce])
            }
            Command::Signal(sig) if running => Actions::of(&[Kill(sig)]),
            Command::Signal(_) | Command::Ignore => Actions::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;

    fn t(s: i64) -> Tai64n {
        Tai64n::from_unix(s, 0)
    }

    fn at(s: u64) -> Now {
        Now {
            wall: Tai64n::from_unix(s as i64, 0),
            mono: s * 1000,
        }
    }

    fn acts(a: Actions) -> Vec<Action> {
        a.iter().collect()
    }

    fn ctl(m: &mut Machine, b: u8) -> Vec<Action> {
        acts(m.control(b, at(0), OnDown::default))
    }

    fn start(m: &mut Machine, pid: u32, now: Now) {
        m.started(pid, now, StartMode::default());
    }

    fn plain() -> AfterRun {
        AfterRun::default()
    }

    /// Runs the loop's `tick` and says whether it starts the service.
    fn starts_now(m: &mut Machine, now: Now) -> bool {
        acts(m.tick(now)).contains(&Start)
    }

    fn run_event(kind: Kind, pid: u32, code: i32) -> Action {
        Notify(Event {
            script: Script::Run,
            kind,
            pid,
            code,
        })
    }

    // ---- 0.76 ----

    #[test]
    fn startup_want_follows_down_file() {
        assert_eq!(Machine::new(false, t(1)).want, Want::Up);
        let m = Machine::new(true, t(1));
        assert_eq!(m.want, Want::Down);
        assert_eq!(m.status().encode()[17], b'd');
        assert_eq!(m.status().pid, 0);
        assert_eq!(m.state(), State::Down);
    }

    #[test]
    fn up_starts_only_when_stopped() {
        let mut m = Machine::new(true, t(1));
        assert_eq!(ctl(&mut m, b'u'), vec![Announce, Start]);
        assert_eq!(
            acts(m.started(42, at(2), StartMode::default())),
            vec![Announce, run_event(Kind::Start, 42, 0)]
        );
        assert_eq!(ctl(&mut m, b'u'), vec![Announce]);
    }

    #[test]
    fn down_sends_term_then_cont_and_clears_pause() {
        let mut m = Machine::new(false, t(1));
        start(&mut m, 42, at(2));
        assert_eq!(ctl(&mut m, b'p'), vec![Announce, Kill(Signal::SIGSTOP)]);
        assert_eq!(m.status().paused, 1);
        assert_eq!(
            ctl(&mut m, b'd'),
            vec![Kill(Signal::SIGTERM), Kill(Signal::SIGCONT), Announce]
        );
        assert!(!m.paused);
        assert_eq!(m.status().want, b'd');
        m.run_ended(Death::killed(15, false), at(3), plain());
        assert!(!starts_now(&mut m, at(3)));
        assert_eq!(m.state(), State::Down);
    }

    #[test]
    fn du_is_a_restart() {
        // svc -du: d signals, u (read before the child died) only sets want.
        let mut m = Machine::new(false, t(1));
        start(&mut m, 42, at(2));
        ctl(&mut m, b'd');
        assert_eq!(ctl(&mut m, b'u'), vec![Announce]);
        m.run_ended(Death::killed(15, false), at(3), plain());
        assert!(starts_now(&mut m, at(3)));
    }

    #[test]
    fn once_runs_without_restart() {
        let mut m = Machine::new(true, t(1));
        assert_eq!(ctl(&mut m, b'o'), vec![Announce, Start]);
        start(&mut m, 7, at(2));
        assert_eq!(m.status().want, 0);
        m.run_ended(Death::exited(0), at(3), plain());
        assert!(!starts_now(&mut m, at(3)));
    }

    #[test]
    fn signals_only_when_running_and_never_announce() {
        let mut m = Machine::new(false, t(1));
        for &b in b"ahktiq12" {
            assert!(ctl(&mut m, b).is_empty());
        }
        start(&mut m, 9, at(2));
        let expect = [
            (b'a', Signal::SIGALRM),
            (b'h', Signal::SIGHUP),
            (b'k', Signal::SIGKILL),
            (b't', Signal::SIGTERM),
            (b'i', Signal::SIGINT),
            (b'q', Signal::SIGQUIT),
            (b'1', Signal::SIGUSR1),
            (b'2', Signal::SIGUSR2),
        ];
        for (b, sig) in expect {
            assert_eq!(ctl(&mut m, b), vec![Kill(sig)]);
        }
        assert!(ctl(&mut m, b'l').is_empty());
        assert!(ctl(&mut m, b'?').is_empty());
    }

    #[test]
    fn pause_on_stopped_service_keeps_byte_zero_until_start() {
        let mut m = Machine::new(true, t(1));
        assert_eq!(ctl(&mut m, b'p'), vec![Announce]);
        assert!(m.paused);
        assert_eq!(m.status().paused, 0);
        start(&mut m, 5, at(2));
        assert!(!m.paused);
    }

    #[test]
    fn exit_waits_for_the_service() {
        let mut m = Machine::new(false, t(1));
        start(&mut m, 5, at(2));
        assert_eq!(ctl(&mut m, b'x'), vec![Announce]);
        assert!(!m.done());
        m.run_ended(Death::exited(0), at(3), plain());
        assert!(m.done());
        assert!(!starts_now(&mut m, at(3)));
        let mut m = Machine::new(true, t(1));
        ctl(&mut m, b'x');
        assert!(m.done());
    }

    #[test]
    fn fork_retry_only_when_want_up() {
        let mut m = Machine::new(false, t(1));
        m.start_failed();
        assert!(starts_now(&mut m, at(2)));
        assert!(!starts_now(&mut m, at(2)));
        m.start_failed();
        ctl(&mut m, b'd');
        assert!(!starts_now(&mut m, at(2)));
    }

    #[test]
    fn plain_exit_restarts_at_once_and_records_the_exit() {
        let mut m = Machine::new(false, t(1));
        start(&mut m, 5, at(2));
        assert_eq!(
            acts(m.run_ended(Death::exited(3), at(4), plain())),
            vec![Announce, run_event(Kind::Exit, 5, 3)]
        );
        assert_eq!(m.status().pid, 0);
        assert_eq!(m.status().stamp, t(4));
        assert_eq!(m.state(), State::Waiting);
        assert_eq!(m.deadline(), None);
        assert!(starts_now(&mut m, at(4)));
        let e = m.last_exit.unwrap();
        assert_eq!((e.pid, e.ending, e.at), (5, Ending::Code(3), t(4)));
        // a signal and its core dump
        start(&mut m, 6, at(5));
        let a = acts(m.run_ended(Death::killed(11, true), at(6), plain()));
        assert_eq!(a[1], run_event(Kind::Killed, 6, 11));
        let e = m.last_exit.unwrap();
        assert_eq!((e.ending, e.core_dumped), (Ending::Signal(11), true));
    }

    // ---- counts ----

    #[test]
    fn starts_are_counted_since_supervise_and_since_asked_up() {
        let mut m = Machine::new(false, t(1));
        for pid in 1..=4 {
            start(&mut m, pid, at(u64::from(pid)));
            m.run_ended(Death::exited(1), at(u64::from(pid)), plain());
        }
        assert_eq!((m.starts, m.starts_since_up), (4, 4));
        ctl(&mut m, b'u'); // already wanted up: no reset
        assert_eq!(m.starts_since_up, 4);
        ctl(&mut m, b'd');
        ctl(&mut m, b'u');
        start(&mut m, 9, at(9));
        assert_eq!((m.starts, m.starts_since_up), (5, 1));
        let r = m.record();
        assert_eq!((r.starts, r.starts_since_up, r.pid), (5, 1, 9));
        assert_eq!(r.state, State::Up);
    }

    // ---- finish ----

    #[test]
    fn finish_gets_s6_arguments_and_runs_before_the_restart() {
        let mut m = Machine::new(false, t(1));
        start(&mut m, 5, at(2));
        let dir = AfterRun {
            finish: true,
            backoff: None,
        };
        assert_eq!(
            acts(m.run_ended(Death::exited(3), at(3), dir)),
            vec![
                StartFinish { code: 3, signal: 0 },
                Announce,
                run_event(Kind::Exit, 5, 3),
                NotifyFinishStarted
            ]
        );
        m.finish_started(77, at(3), Some(5000));
        assert_eq!(m.state(), State::Finishing);
        // the 18-byte record says down since the exit
        assert_eq!((m.status().pid, m.status().stamp), (0, t(3)));
        assert!(!starts_now(&mut m, at(4)));
        assert_eq!(m.deadline(), Some(8000));
        // signals are not sent to ./finish
        assert!(ctl(&mut m, b't').is_empty());
        let a = acts(m.finish_ended(Death::exited(0), at(4)));
        assert_eq!(
            a,
            vec![
                Announce,
                Notify(Event {
                    script: Script::Finish,
                    kind: Kind::Exit,
                    pid: 77,
                    code: 0
                })
            ]
        );
        assert!(starts_now(&mut m, at(4)));
        // killed by a signal: 256 and the signal number
        start(&mut m, 6, at(5));
        let a = acts(m.run_ended(Death::killed(15, false), at(6), dir));
        assert_eq!(
            a[0],
            StartFinish {
                code: 256,
                signal: 15
            }
        );
    }

    #[test]
    fn finish_past_its_limit_is_killed_and_no_limit_means_none() {
        let mut m = Machine::new(false, t(1));
        start(&mut m, 5, at(2));
        let dir = AfterRun {
            finish: true,
            backoff: None,
        };
        m.run_ended(Death::exited(0), at(3), dir);
        m.finish_started(77, at(3), Some(200));
        assert!(
            acts(m.tick(Now {
                mono: 3199,
                ..at(3)
            }))
            .is_empty()
        );
        assert_eq!(
            acts(m.tick(Now {
                mono: 3200,
                ..at(3)
            })),
            vec![KillFinish]
        );
        assert!(acts(m.tick(at(9))).is_empty(), "killed once");
        m.finish_ended(Death::killed(9, false), at(9));
        assert!(starts_now(&mut m, at(9)));
        start(&mut m, 6, at(10));
        m.run_ended(Death::exited(0), at(11), dir);
        m.finish_started(78, at(11), None);
        assert_eq!(m.deadline(), None);
    }

    #[test]
    fn exit_waits_for_finish() {
        let mut m = Machine::new(false, t(1));
        start(&mut m, 5, at(2));
        ctl(&mut m, b'd');
        ctl(&mut m, b'x');
        let dir = AfterRun {
            finish: true,
            backoff: None,
        };
        m.run_ended(Death::killed(15, false), at(3), dir);
        m.finish_started(77, at(3), Some(5000));
        assert!(!m.done());
        m.finish_ended(Death::exited(0), at(4));
        assert!(m.done());
    }

    #[test]
    fn up_during_finish_starts_after_it() {
        let mut m = Machine::new(false, t(1));
        start(&mut m, 5, at(2));
        ctl(&mut m, b'd');
        let dir = AfterRun {
            finish: true,
            backoff: None,
        };
        m.run_ended(Death::killed(15, false), at(3), dir);
        m.finish_started(77, at(3), None);
        assert_eq!(ctl(&mut m, b'u'), vec![Announce]);
        assert!(!starts_now(&mut m, at(4)));
        m.finish_ended(Death::exited(0), at(5));
        assert!(starts_now(&mut m, at(5)));
        // once, likewise
        start(&mut m, 6, at(6));
        ctl(&mut m, b'd');
        m.run_ended(Death::killed(15, false), at(7), dir);
        m.finish_started(78, at(7), None);
        assert_eq!(ctl(&mut m, b'o'), vec![Announce]);
        m.finish_ended(Death::exited(0), at(8));
        assert!(starts_now(&mut m, at(8)));
    }

    #[test]
    fn finish_exit_125_is_a_permanent_failure() {
        let mut m = Machine::new(false, t(1));
        start(&mut m, 5, at(2));
        let dir = AfterRun {
            finish: true,
            backoff: None,
        };
        m.run_ended(Death::exited(1), at(3), dir);
        m.finish_started(77, at(3), Some(5000));
        let a = acts(m.finish_ended(Death::exited(125), at(4)));
        assert_eq!(a[0], Announce);
        assert_eq!(a[2], run_event(Kind::Failed, 5, 125));
        assert_eq!(m.want, Want::Down);
        assert_eq!(m.status().want, b'd');
        assert_eq!(m.state(), State::Down);
        assert!(!starts_now(&mut m, at(100)));
        let f = m.record().failed.unwrap();
        assert_eq!((f.finish_code, f.at), (125, t(4)));
        // svc -u starts at once and clears the failure
        assert_eq!(ctl(&mut m, b'u'), vec![Announce, Start]);
        start(&mut m, 6, at(101));
        assert_eq!(m.record().failed, None);
        assert_eq!(m.starts_since_up, 1);
    }

    // ---- backoff ----

    fn backoff(max: u32, stable: u32) -> AfterRun {
        AfterRun {
            finish: false,
            backoff: Some(settings::Backoff { max, stable }),
        }
    }

    /// Crashes `n` times right after each start; returns the delays.
    fn crash_loop(m: &mut Machine, n: usize, dir: AfterRun, clock: &mut u64) -> Vec<u32> {
        let mut delays = Vec::new();
        for _ in 0..n {
            let due = m.deadline().unwrap_or(*clock);
            *clock = due.max(*clock);
            let now = Now {
                wall: Tai64n::from_unix((*clock / 1000) as i64, 0),
                mono: *clock,
            };
            assert!(starts_now(m, now), "start due at {clock}");
            m.started(1, now, StartMode::default());
            m.run_ended(Death::exited(1), now, dir);
            let b = m.backoff.unwrap();
            assert_eq!(m.state(), State::Waiting);
            let next = m.record().next_start.unwrap();
            assert_eq!(next.secs - now.wall.secs, u64::from(b.delay));
            assert!(!starts_now(
                m,
                Now {
                    mono: *clock + u64::from(b.delay) * 1000 - 1,
                    ..now
                }
            ));
            delays.push(b.delay);
        }
        delays
    }

    #[test]
    fn backoff_doubles_up_to_max() {
        let mut m = Machine::new(false, t(0));
        m.planned = Some(None);
        let mut clock = 0;
        assert_eq!(
            crash_loop(&mut m, 7, backoff(10, 60), &mut clock),
            vec![1, 2, 4, 8, 10, 10, 10]
        );
    }

    #[test]
    fn backoff_starts_over_after_a_stable_run_and_after_down_up() {
        let mut m = Machine::new(false, t(0));
        m.planned = Some(None);
        let mut clock = 0;
        assert_eq!(
            crash_loop(&mut m, 3, backoff(60, 30), &mut clock),
            vec![1, 2, 4]
        );
        // a run of 30 s: the delay starts over
        clock = m.deadline().unwrap();
        let now = Now {
            wall: Tai64n::from_unix((clock / 1000) as i64, 0),
            mono: clock,
        };
        assert!(starts_now(&mut m, now));
        m.started(1, now, StartMode::default());
        m.run_ended(Death::exited(1), now.after(30_000), backoff(60, 30));
        assert_eq!(m.backoff.unwrap().delay, 1);
        clock += 30_000;
        assert_eq!(
            crash_loop(&mut m, 2, backoff(60, 30), &mut clock),
            vec![2, 4]
        );
        // svc -d, svc -u: at once, and from one second again
        ctl(&mut m, b'd');
        assert_eq!(m.state(), State::Down);
        assert_eq!(ctl(&mut m, b'u'), vec![Announce, Start]);
        m.started(2, at(1000), StartMode::default());
        m.run_ended(Death::exited(1), at(1000), backoff(60, 30));
        assert_eq!(m.backoff.unwrap().delay, 1);
    }

    #[test]
    fn up_while_waiting_starts_at_once() {
        let mut m = Machine::new(false, t(0));
        start(&mut m, 1, at(1));
        m.run_ended(Death::exited(1), at(1), backoff(60, 60));
        m.started(2, at(2), StartMode::default());
        m.run_ended(Death::exited(1), at(2), backoff(60, 60));
        assert_eq!(m.backoff.unwrap().delay, 2);
        assert_eq!(m.deadline(), Some(4000));
        assert_eq!(ctl(&mut m, b'u'), vec![Announce, Start]);
        assert_eq!(m.record().next_start, None);
        // down while waiting: nothing planned any more
        start(&mut m, 3, at(3));
        m.run_ended(Death::exited(1), at(3), backoff(60, 60));
        ctl(&mut m, b'd');
        assert_eq!(m.deadline(), None);
        assert_eq!(m.state(), State::Down);
        assert!(!starts_now(&mut m, at(1000)));
    }

    #[test]
    fn backoff_and_finish_together() {
        let mut m = Machine::new(false, t(0));
        start(&mut m, 1, at(1));
        let dir = AfterRun {
            finish: true,
            backoff: Some(settings::Backoff { max: 8, stable: 8 }),
        };
        m.run_ended(Death::exited(1), at(1), dir);
        m.finish_started(50, at(1), Some(5000));
        // the finish limit is the deadline while it runs
        assert_eq!(m.deadline(), Some(6000));
        assert_eq!(m.record().next_start, Some(t(2)));
        m.finish_ended(
            Death::exited(0),
            Now {
                mono: 1500,
                ..at(1)
            },
        );
        assert!(!starts_now(
            &mut m,
            Now {
                mono: 1500,
                ..at(1)
            }
        ));
        assert_eq!(m.deadline(), Some(2000));
        assert!(starts_now(&mut m, at(2)));
    }

    // ---- stopping ----

    #[test]
    fn down_signal_and_timeout_kill() {
        let mut m = Machine::new(false, t(0));
        start(&mut m, 5, at(1));
        let d = OnDown {
            signal: Signal::SIGHUP,
            timeout_kill: 300,
        };
        assert_eq!(
            acts(m.control(b'd', at(2), || d)),
            vec![Kill(Signal::SIGHUP), Kill(Signal::SIGCONT), Announce]
        );
        assert_eq!(m.deadline(), Some(2300));
        // a second svc -d does not postpone the kill
        m.control(b'd', at(3), || d);
        assert_eq!(m.deadline(), Some(2300));
        // svc -t stays TERM
        assert_eq!(ctl(&mut m, b't'), vec![Kill(Signal::SIGTERM)]);
        assert!(
            acts(m.tick(Now {
                mono: 2299,
                ..at(2)
            }))
            .is_empty()
        );
        assert_eq!(
            acts(m.tick(Now {
                mono: 2300,
                ..at(2)
            })),
            vec![Kill(Signal::SIGKILL)]
        );
        assert!(acts(m.tick(at(10))).is_empty());
        m.run_ended(Death::killed(9, false), at(10), plain());
        assert_eq!(m.deadline(), None);
    }

    #[test]
    fn timeout_kill_is_dropped_when_the_service_ends_in_time() {
        let mut m = Machine::new(false, t(0));
        start(&mut m, 5, at(1));
        m.control(b'd', at(2), || OnDown {
            signal: Signal::SIGTERM,
            timeout_kill: 5000,
        });
        m.run_ended(Death::killed(15, false), at(3), plain());
        ctl(&mut m, b'u');
        start(&mut m, 6, at(4));
        // the old deadline does not hit the new process
        assert_eq!(m.deadline(), None);
        assert!(acts(m.tick(at(100))).is_empty());
    }

    #[test]
    fn contained_service_is_ended_through_its_cgroup() {
        let mut m = Machine::new(false, t(0));
        let mode = StartMode {
            group: true,
            contained: true,
        };
        m.started(5, at(1), mode);
        assert!(m.record().kill_group);
        m.control(b'd', at(2), || OnDown {
            signal: Signal::SIGTERM,
            timeout_kill: 100,
        });
        assert_eq!(
            acts(m.tick(Now {
                mono: 2100,
                ..at(2)
            })),
            vec![KillCgroup]
        );
        // what is left when ./run ends is killed
        let a = acts(m.run_ended(Death::killed(9, false), at(3), plain()));
        assert_eq!(a[0], KillCgroup);
    }

    #[test]
    fn now_after_carries_nanoseconds() {
        let n = Now {
            wall: Tai64n {
                secs: 10,
                nano: 900_000_500,
            },
            mono: 5,
        };
        let l = n.after(1_250);
        assert_eq!((l.wall.secs, l.wall.nano, l.mono), (12, 150_000_500, 1_255));
    }
}
