//! runit's view of a service (opt-in: a `runit-view` file): besides
//! 0.76's files, supervise keeps what runit's runsv keeps, so that runit's
//! `sv` reads and drives it (doc/supervise.8.md, "runit's view"):
//! - `supervise/status`: 20 bytes instead of 18. Bytes 0–17 stay exactly
//!   daemontools 0.76's record (0.76's svstat reads only those); byte 18
//!   is runit's "got TERM" (a TERM, or the down signal, was sent to
//!   `./run` and it has not exited yet), byte 19 its state: 0 down, 1 run,
//!   2 finish.
//! - `supervise/stat`: runsv's one-line text (`run`, `down`, `finish`,
//!   then `, paused`, `, got TERM`, and unless down `, want down` or
//!   `, want exit`).
//! - `supervise/pid`: the pid of `./run` (of `./finish` while it runs) and
//!   a newline; empty when nothing runs.
//!
//! Pure: what the files say, from the machine's state; supervise writes
//! them (file.new + rename, as runsv does).

use crate::record::State;
use crate::status::Want;

/// The file in the service directory that turns the view on; a log
/// service (`DIR/log`) also follows `DIR/runit-view`.
pub const FILE: &str = "runit-view";

/// What the view is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    pub state: State,
    pub pid: u32,
    pub finish_pid: u32,
    pub paused: bool,
    pub want: Want,
    pub exiting: bool,
    /// A TERM (or the down signal) went to the current `./run`.
    pub got_term: bool,
}

/// The runit files' contents.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Files {
    /// Bytes 18 and 19 of `status`.
    pub tail: [u8; 2],
    pub stat: String,
    pub pid: String,
}

impl Facts {
    fn runit_state(&self) -> u8 {
        match self.state {
            State::Up => 1,
            State::Finishing => 2,
            State::Down | State::Waiting => 0,
        }
    }

    pub fn files(&self) -> Files {
        let state = self.runit_state();
        let got_term = self.got_term && self.pid != 0;
        let mut stat = String::from(match state {
            1 => "run",
            2 => "finish",
            _ => "down",
        });
        if self.paused && self.pid != 0 {
            stat.push_str(", paused");
        }
        if got_term {
            stat.push_str(", got TERM");
        }
        if state != 0 {
            if self.exiting {
                stat.push_str(", want exit");
            } else if self.want != Want::Up {
                stat.push_str(", want down");
            }
        }
        stat.push('\n');
        let shown = match state {
            1 => self.pid,
            2 => self.finish_pid,
            _ => 0,
        };
        let pid = if shown == 0 {
            String::new()
        } else {
            format!("{shown}\n")
        };
        Files {
            tail: [u8::from(got_term), state],
            stat,
            pid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            state: State::Up,
            pid: 5153,
            finish_pid: 0,
            paused: false,
            want: Want::Up,
            exiting: false,
            got_term: false,
        }
    }

    fn stat(f: Facts) -> String {
        f.files().stat
    }

    // the lines runsv 2.1.2 writes in the same situations
    // (/work/notes/peers-status-logs.md 1.1)
    #[test]
    fn stat_lines_as_runsv_writes_them() {
        assert_eq!(stat(facts()), "run\n");
        let paused = Facts {
            paused: true,
            ..facts()
        };
        assert_eq!(stat(paused), "run, paused\n");
        let once = Facts {
            want: Want::Once,
            ..facts()
        };
        assert_eq!(stat(once), "run, want down\n");
        let term = Facts {
            got_term: true,
            ..facts()
        };
        assert_eq!(stat(term), "run, got TERM\n");
        let finishing = Facts {
            state: State::Finishing,
            pid: 0,
            finish_pid: 77,
            want: Want::Down,
            ..facts()
        };
        assert_eq!(stat(finishing), "finish, want down\n");
        let down = Facts {
            state: State::Down,
            pid: 0,
            want: Want::Down,
            ..facts()
        };
        assert_eq!(stat(down), "down\n");
        let exiting = Facts {
            exiting: true,
            want: Want::Down,
            ..facts()
        };
        assert_eq!(stat(exiting), "run, want exit\n");
    }

    #[test]
    fn status_tail_and_pid_file() {
        let up = facts().files();
        assert_eq!((up.tail, up.pid.as_str()), ([0, 1], "5153\n"));
        let term = Facts {
            got_term: true,
            ..facts()
        }
        .files();
        assert_eq!(term.tail, [1, 1]);
        let finishing = Facts {
            state: State::Finishing,
            pid: 0,
            finish_pid: 77,
            got_term: true,
            ..facts()
        }
        .files();
        assert_eq!((finishing.tail, finishing.pid.as_str()), ([0, 2], "77\n"));
        for state in [State::Down, State::Waiting] {
            let down = Facts {
                state,
                pid: 0,
                ..facts()
            }
            .files();
            assert_eq!((down.tail, down.pid.as_str()), ([0, 0], ""));
            assert_eq!(down.stat, "down\n");
        }
    }
}
