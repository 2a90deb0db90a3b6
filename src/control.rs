//! The control protocol: single bytes written by svc into
//! `supervise/control` and what supervise does with each.

use nix::sys::signal::Signal;

/// svc's option letters: 0.76's `udopchaitkx` plus the sigq12 patch's
/// `q`, `1`, `2`.
pub const SVC_LETTERS: &[u8] = b"udopchaitkxq12";

/// The most bytes svc sends in one write.
pub const MAX_COMMANDS: usize = 20;

/// svc's usage text (the sigq12 version, since we accept those options).
pub const SVC_USAGE: &str = "svc options: u up, d down, o once, x exit, p pause, c continue, h hup, a alarm, i interrupt, t term, k kill, q quit, 1 SIGUSR1, 2 SIGUSR2";

/// Adds `letter` to the command string unless it is already there or the
/// string is full (first appearance wins, order kept, 20 bytes at most).
pub fn add_command(cmds: &mut Vec<u8>, letter: u8) {
    if cmds.len() < MAX_COMMANDS && !cmds.contains(&letter) {
        cmds.push(letter);
    }
}

/// What one control byte asks of supervise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Up,
    Down,
    Once,
    Pause,
    Continue,
    Exit,
    /// Send a signal to the service if it runs (a h k t i, q 1 2).
    Signal(Signal),
    /// Unknown bytes are ignored (newer svc versions send `l`, `+`, ...).
    Ignore,
}

impl Command {
    pub fn from_byte(b: u8) -> Command {
        match b {
            b'u' => Command::Up,
            b'd' => Command::Down,
            b'o' => Command::Once,
            b'p' => Command::Pause,
            b'c' => Command::Continue,
            b'x' => Command::Exit,
            b'a' => Command::Signal(Signal::SIGALRM),
            b'h' => Command::Signal(Signal::SIGHUP),
            b'k' => Command::Signal(Signal::SIGKILL),
            b't' => Command::Signal(Signal::SIGTERM),
            b'i' => Command::Signal(Signal::SIGINT),
            b'q' => Command::Signal(Signal::SIGQUIT),
            b'1' => Command::Signal(Signal::SIGUSR1),
            b'2' => Command::Signal(Signal::SIGUSR2),
            _ => Command::Ignore,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_and_cap() {
        let mut c = Vec::new();
        for &l in b"dudxukk" {
            add_command(&mut c, l);
        }
        assert_eq!(c, b"duxk");
        let mut c = Vec::new();
        for l in 0..40u8 {
            add_command(&mut c, l);
        }
        assert_eq!(c.len(), MAX_COMMANDS);
    }

    #[test]
    fn every_letter_has_a_meaning() {
        for &l in SVC_LETTERS {
            assert_ne!(Command::from_byte(l), Command::Ignore, "{}", l as char);
        }
        assert_eq!(Command::from_byte(b'l'), Command::Ignore);
        assert_eq!(Command::from_byte(b'+'), Command::Ignore);
    }
}
