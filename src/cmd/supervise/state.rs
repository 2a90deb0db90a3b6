//! supervise's state machine, free of I/O: state x event -> actions.
//!
//! The event loop in `cmd::supervise` feeds it control bytes and reaped
//! children and carries out the returned actions in order (write the status
//! file, signal the service, start it). Keeping the decisions here lets
//! every 0.76 rule be tested without processes.

use nix::sys::signal::Signal;

use crate::control::Command;
use crate::status::{Status, Want};
use crate::tai64::Tai64n;

/// One thing the event loop must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Write the status file (status.new + rename).
    Announce,
    /// kill(pid, sig) on the service.
    Kill(Signal),
    /// Fork and exec `./run`, then sleep one second.
    Start,
}

/// Up to three actions, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Actions {
    list: [Option<Action>; 3],
}

impl Actions {
    fn of(list: &[Action]) -> Actions {
        let mut a = Actions::default();
        for (slot, act) in a.list.iter_mut().zip(list) {
            *slot = Some(*act);
        }
        a
    }
    pub fn iter(&self) -> impl Iterator<Item = Action> + '_ {
        self.list.iter().map_while(|a| *a)
    }
}

/// What happens after the service was reaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterReap {
    /// `svc -x` was pending: leave the main loop now.
    Exit,
    /// want up: start again.
    Restart,
    Stay,
}

#[derive(Debug, Clone)]
pub struct Machine {
    /// pid of `./run`, 0 when not running.
    pub pid: u32,
    pub want: Want,
    pub paused: bool,
    pub exit_requested: bool,
    /// Time of the last pid change.
    pub stamp: Tai64n,
    /// A start failed to fork; retried while want is up (Debian's patch).
    pub fork_failed: bool,
}

impl Machine {
    /// The state at start-up; `down_file` is whether `down` existed.
    pub fn new(down_file: bool, now: Tai64n) -> Machine {
        Machine {
            pid: 0,
            want: if down_file { Want::Down } else { Want::Up },
            paused: false,
            exit_requested: false,
            stamp: now,
            fork_failed: false,
        }
    }

    /// The main loop ends when exit was requested and nothing runs.
    pub fn done(&self) -> bool {
        self.exit_requested && self.pid == 0
    }

    /// The record to write now.
    pub fn status(&self) -> Status {
        Status {
            stamp: self.stamp,
            pid: self.pid,
            paused: u8::from(self.paused && self.pid != 0),
            want: self.want.byte(),
        }
    }

    /// A fork of `./run` succeeded (the caller then announces and sleeps).
    pub fn started(&mut self, pid: u32, now: Tai64n) {
        self.fork_failed = false;
        self.paused = false;
        self.pid = pid;
        self.stamp = now;
    }

    /// A fork of `./run` failed.
    pub fn start_failed(&mut self) {
        self.fork_failed = true;
    }

    /// Whether Debian's retry of a failed fork is due (checked once per
    /// loop iteration, after reaping). Clears the flag when it fires.
    pub fn retry_due(&mut self) -> bool {
        if self.fork_failed && self.want == Want::Up && self.pid == 0 {
            self.fork_failed = false;
            return true;
        }
        false
    }

    /// The service was reaped. The caller announces first, then acts on
    /// the result.
    pub fn reaped(&mut self, now: Tai64n) -> AfterReap {
        self.pid = 0;
        self.stamp = now;
        if self.exit_requested {
            AfterReap::Exit
        } else if self.want == Want::Up {
            AfterReap::Restart
        } else {
            AfterReap::Stay
        }
    }

    /// One control byte.
    pub fn control(&mut self, byte: u8) -> Actions {
        use Action::*;
        let running = self.pid != 0;
        match Command::from_byte(byte) {
            Command::Up => {
                self.want = Want::Up;
                if running {
                    Actions::of(&[Announce])
                } else {
                    Actions::of(&[Announce, Start])
                }
            }
            Command::Down => {
                self.want = Want::Down;
                if running {
                    self.paused = false;
                    Actions::of(&[Kill(Signal::SIGTERM), Kill(Signal::SIGCONT), Announce])
                } else {
                    Actions::of(&[Announce])
                }
            }
            Command::Once => {
                self.want = Want::Once;
                if running {
                    Actions::of(&[Announce])
                } else {
                    Actions::of(&[Announce, Start])
                }
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

    fn acts(a: Actions) -> Vec<Action> {
        a.iter().collect()
    }

    #[test]
    fn startup_want_follows_down_file() {
        assert_eq!(Machine::new(false, t(1)).want, Want::Up);
        let m = Machine::new(true, t(1));
        assert_eq!(m.want, Want::Down);
        assert_eq!(m.status().encode()[17], b'd');
        assert_eq!(m.status().pid, 0);
    }

    #[test]
    fn up_starts_only_when_stopped() {
        let mut m = Machine::new(true, t(1));
        assert_eq!(acts(m.control(b'u')), vec![Announce, Start]);
        m.started(42, t(2));
        assert_eq!(acts(m.control(b'u')), vec![Announce]);
    }

    #[test]
    fn down_sends_term_then_cont_and_clears_pause() {
        let mut m = Machine::new(false, t(1));
        m.started(42, t(2));
        assert_eq!(acts(m.control(b'p')), vec![Announce, Kill(Signal::SIGSTOP)]);
        assert_eq!(m.status().paused, 1);
        assert_eq!(
            acts(m.control(b'd')),
            vec![Kill(Signal::SIGTERM), Kill(Signal::SIGCONT), Announce]
        );
        assert!(!m.paused);
        assert_eq!(m.status().want, b'd');
        assert_eq!(m.reaped(t(3)), AfterReap::Stay);
    }

    #[test]
    fn du_is_a_restart() {
        // svc -du: d signals, u (read before the child died) only sets want.
        let mut m = Machine::new(false, t(1));
        m.started(42, t(2));
        m.control(b'd');
        assert_eq!(acts(m.control(b'u')), vec![Announce]);
        assert_eq!(m.reaped(t(3)), AfterReap::Restart);
    }

    #[test]
    fn once_runs_without_restart() {
        let mut m = Machine::new(true, t(1));
        assert_eq!(acts(m.control(b'o')), vec![Announce, Start]);
        m.started(7, t(2));
        assert_eq!(m.status().want, 0);
        assert_eq!(m.reaped(t(3)), AfterReap::Stay);
    }

    #[test]
    fn signals_only_when_running_and_never_announce() {
        let mut m = Machine::new(false, t(1));
        for &b in b"ahktiq12" {
            assert!(acts(m.control(b)).is_empty());
        }
        m.started(9, t(2));
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
            assert_eq!(acts(m.control(b)), vec![Kill(sig)]);
        }
        assert!(acts(m.control(b'l')).is_empty());
        assert!(acts(m.control(b'?')).is_empty());
    }

    #[test]
    fn pause_on_stopped_service_keeps_byte_zero_until_start() {
        let mut m = Machine::new(true, t(1));
        assert_eq!(acts(m.control(b'p')), vec![Announce]);
        assert!(m.paused);
        assert_eq!(m.status().paused, 0);
        m.started(5, t(2));
        assert!(!m.paused);
    }

    #[test]
    fn exit_waits_for_the_service() {
        let mut m = Machine::new(false, t(1));
        m.started(5, t(2));
        assert_eq!(acts(m.control(b'x')), vec![Announce]);
        assert!(!m.done());
        assert_eq!(m.reaped(t(3)), AfterReap::Exit);
        assert!(m.done());
        let mut m = Machine::new(true, t(1));
        m.control(b'x');
        assert!(m.done());
    }

    #[test]
    fn fork_retry_only_when_want_up() {
        let mut m = Machine::new(false, t(1));
        m.start_failed();
        assert!(m.retry_due());
        assert!(!m.retry_due());
        m.start_failed();
        m.control(b'd');
        assert!(!m.retry_due());
    }
}
