//! The optional files of a service directory that shape its lifecycle,
//! their parsers (pure: fuzzed in fuzz/fuzz_targets/lifecycle_settings.rs),
//! and reading them with one warning per bad content.
//!
//! | file | content | default |
//! |---|---|---|
//! | `down-signal` | a signal name (`TERM`, `SIGTERM`, `term`) or number | TERM |
//! | `timeout-kill` | milliseconds; 0: never | 0 |
//! | `timeout-finish` | milliseconds; 0: no limit | 5000 |
//! | `timeout-notify` | milliseconds, at least 1 | 10000 |
//! | `backoff` | `MAX [STABLE]`, seconds (MAX at least 1) | none |
//! | `notification-fd` | a descriptor number | none |
//! | `notify-socket` | empty, `main` or `all` | (absent: no socket) |
//! | `watchdog` | milliseconds; 0: none | none |
//! | `check-interval` | milliseconds, at least 1 | 250 |
//! | `timeout-check` | milliseconds; 0: no limit | 60000 |
//!
//! As s6 reads its files, only the first line counts; surrounding blanks
//! are allowed. supervise reads them when it needs them (at `svc -d`, when
//! `./run` or `./finish` ends), so an edit takes effect without a restart.

use std::str::FromStr;

use nix::errno::Errno;
use nix::sys::signal::Signal;

use super::readiness::{Access, CHECK_INTERVAL_DEFAULT, TIMEOUT_CHECK_DEFAULT};
use crate::fsio;
use crate::msg::Line;

/// Longest content looked at; a first line longer than this is invalid.
const MAX_READ: usize = 128;

pub const TIMEOUT_FINISH_DEFAULT: u32 = 5000;
pub const TIMEOUT_NOTIFY_DEFAULT: u32 = 10_000;

/// The first line of `text`, without surrounding blanks; None if the line
/// is longer than we read.
fn first_line(text: &[u8]) -> Option<&[u8]> {
    let line = match memchr::memchr(b'\n', text) {
        Some(i) => &text[..i],
        None if text.len() >= MAX_READ => return None,
        None => text,
    };
    Some(line.trim_ascii())
}

/// A decimal number of at most 10 digits that fits a u32.
fn number(word: &[u8]) -> Option<u32> {
    if word.is_empty() || word.len() > 10 || !word.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = word.iter().fold(0u64, |v, &d| v * 10 + u64::from(d - b'0'));
    u32::try_from(v).ok()
}

/// `timeout-kill`, `timeout-finish`, `timeout-notify`: milliseconds.
pub fn parse_millis(text: &[u8]) -> Option<u32> {
    number(first_line(text)?)
}

/// `down-signal`: a name with or without `SIG` (any case) or a number.
pub fn parse_signal(text: &[u8]) -> Option<Signal> {
    let word = first_line(text)?;
    let bare = match word.get(..3) {
        Some(p) if p.eq_ignore_ascii_case(b"SIG") => &word[3..],
        _ => word,
    };
    if let Some(n) = number(bare) {
        return Signal::try_from(i32::try_from(n).ok()?).ok();
    }
    if bare.is_empty() || bare.len() > 8 || !bare.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    let mut name = String::from("SIG");
    name.extend(bare.iter().map(|c| c.to_ascii_uppercase() as char));
    Signal::from_str(&name).ok()
}

/// `notification-fd`: a descriptor number (s6: any unsigned number).
pub fn parse_fd(text: &[u8]) -> Option<i32> {
    i32::try_from(number(first_line(text)?)?).ok()
}

/// `notify-socket`: who may send (systemd's NotifyAccess): empty or
/// `main` for the main process only, `all` for every process of the
/// service.
pub fn parse_access(text: &[u8]) -> Option<Access> {
    match first_line(text)? {
        b"" | b"main" => Some(Access::Main),
        b"all" => Some(Access::All),
        _ => None,
    }
}

/// The `backoff` file: the longest delay and how long a run must last for
/// the delay to start over, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub max: u32,
    pub stable: u32,
}

/// `MAX [STABLE]`: MAX at least 1; STABLE defaults to MAX (0 allowed:
/// every restart then waits one second).
pub fn parse_backoff(text: &[u8]) -> Option<Backoff> {
    let mut words = first_line(text)?
        .split(|c| c.is_ascii_whitespace())
        .filter(|w| !w.is_empty());
    let max = number(words.next()?)?;
    let stable = match words.next() {
        Some(w) => number(w)?,
        None => max,
    };
    if max == 0 || words.next().is_some() {
        return None;
    }
    Some(Backoff { max, stable })
}

/// What was last warned about for one file, so that a bad content is
/// reported once, and again only after it changed.
struct Memo {
    name: &'static str,
    said: Vec<u8>,
}

/// Reads the settings files of the service directory (the current
/// directory) and warns once per bad content as `supervise: warning: ...`.
pub struct Files<'a> {
    /// supervise's argument, for the messages.
    dir: &'a [u8],
    memos: Vec<Memo>,
}

/// What reading one file gave.
enum Content {
    Missing,
    Text(Vec<u8>),
    Error(Errno),
}

impl<'a> Files<'a> {
    pub fn new(dir: &'a [u8]) -> Files<'a> {
        Files {
            dir,
            memos: Vec::new(),
        }
    }

    fn read(name: &str) -> Content {
        let fd = match fsio::open_read(name.as_bytes()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Content::Missing,
            Err(e) => return Content::Error(e),
        };
        let mut buf = [0u8; MAX_READ];
        let mut len = 0;
        while len < buf.len() {
            match nix::unistd::read(&fd, &mut buf[len..]) {
                Ok(0) | Err(Errno::EAGAIN) => break,
                Ok(n) => len += n,
                Err(Errno::EINTR) => {}
                Err(e) => return Content::Error(e),
            }
        }
        Content::Text(buf[..len].to_vec())
    }

    /// Emits `line` about `name` unless `key` is what was said last time.
    fn warn_once(&mut self, name: &'static str, key: &[u8], line: Line) {
        match self.memos.iter_mut().find(|m| m.name == name) {
            Some(m) if m.said == key => return,
            Some(m) => m.said = key.to_vec(),
            None => self.memos.push(Memo {
                name,
                said: key.to_vec(),
            }),
        }
        line.emit();
    }

    /// `supervise: warning: ` and the first part of a message.
    fn line(&self) -> Line {
        Line::new("supervise", "warning")
    }

    /// The file is fine (or gone): a later bad content warns again.
    fn forget(&mut self, name: &'static str) {
        self.memos.retain(|m| m.name != name);
    }

    /// Reads and parses `name`; missing: None; bad or unreadable: one
    /// warning ending in `using` (what the default means), then None.
    fn setting<T>(
        &mut self,
        name: &'static str,
        parse: impl Fn(&[u8]) -> Option<T>,
        what: &str,
        using: &str,
    ) -> Option<T> {
        match Files::read(name) {
            Content::Missing => {
                self.forget(name);
                None
            }
            Content::Text(t) => match parse(&t) {
                Some(v) => {
                    self.forget(name);
                    Some(v)
                }
                None => {
                    let l = self.line().s(what).s(" in ").b(self.dir).s("/");
                    self.warn_once(name, &t, l.s(name).s(": ").s(using));
                    None
                }
            },
            Content::Error(e) => {
                // (a key no file content can equal: contents are UTF-8
                // or anything, but never this 5-byte marker + errno)
                let mut key = b"\0err:".to_vec();
                key.extend_from_slice(&(e as i32).to_le_bytes());
                let l = self.line().s("unable to read ").b(self.dir).s("/").s(name);
                self.warn_once(name, &key, l.err(e).s(": ").s(using));
                None
            }
        }
    }

    /// The signal `svc -d` sends.
    pub fn down_signal(&mut self) -> Signal {
        self.setting("down-signal", parse_signal, "bad signal", "using TERM")
            .unwrap_or(Signal::SIGTERM)
    }

    /// Milliseconds after `svc -d` until KILL; 0: never.
    pub fn timeout_kill(&mut self) -> u32 {
        self.setting("timeout-kill", parse_millis, "bad number", "never killing")
            .unwrap_or(0)
    }

    /// Limit on `./finish` in milliseconds; None: no limit.
    pub fn timeout_finish(&mut self) -> Option<u32> {
        let ms = self
            .setting(
                "timeout-finish",
                parse_millis,
                "bad number",
                "using 5000 ms",
            )
            .unwrap_or(TIMEOUT_FINISH_DEFAULT);
        (ms != 0).then_some(ms)
    }

    /// Limit on one run of `./notify` in milliseconds.
    pub fn timeout_notify(&mut self) -> u32 {
        let positive = |t: &[u8]| parse_millis(t).filter(|&ms| ms > 0);
        self.setting("timeout-notify", positive, "bad number", "using 10000 ms")
            .unwrap_or(TIMEOUT_NOTIFY_DEFAULT)
    }

    /// The restart policy; None: 0.76's (at once, at most once a second).
    pub fn backoff(&mut self) -> Option<Backoff> {
        self.setting(
            "backoff",
            parse_backoff,
            "bad MAX [STABLE]",
            "restarting as without it",
        )
    }

    /// The descriptor number `./run` gets its notification pipe on; None
    /// without a (usable) `notification-fd` file.
    pub fn notification_fd(&mut self) -> Option<i32> {
        let fd = self.setting(
            "notification-fd",
            parse_fd,
            "bad descriptor number",
            "running without it",
        )?;
        let limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map_or(1024, |(soft, _)| soft);
        if u64::try_from(fd).unwrap_or(0) >= limit {
            let l = self.line().s("descriptor ").s(&fd.to_string());
            let l = l.s(" in ").b(self.dir).s("/notification-fd");
            let l = l.s(" is beyond the limit of open files: running without it");
            self.warn_once("notification-fd", &fd.to_le_bytes(), l);
            return None;
        }
        Some(fd)
    }

    /// Who may send on the notify socket; None: no `notify-socket` file.
    pub fn notify_socket(&mut self) -> Option<Access> {
        if !Files::flag("notify-socket") {
            return None;
        }
        let access = self.setting(
            "notify-socket",
            parse_access,
            "bad access (main or all)",
            "using main",
        );
        Some(access.unwrap_or(Access::Main))
    }

    /// The `watchdog` period in microseconds; 0: none.
    pub fn watchdog_usec(&mut self) -> u64 {
        let ms = self.setting("watchdog", parse_millis, "bad number", "no watchdog");
        u64::from(ms.unwrap_or(0)) * 1000
    }

    /// Milliseconds between two runs of `./check`.
    pub fn check_interval(&mut self) -> u32 {
        let positive = |t: &[u8]| parse_millis(t).filter(|&ms| ms > 0);
        self.setting("check-interval", positive, "bad number", "using 250 ms")
            .unwrap_or(CHECK_INTERVAL_DEFAULT)
    }

    /// How long after a start `./check` may take to succeed, in ms; None:
    /// no limit.
    pub fn timeout_check(&mut self) -> Option<u32> {
        let ms = self
            .setting(
                "timeout-check",
                parse_millis,
                "bad number",
                "using 60000 ms",
            )
            .unwrap_or(TIMEOUT_CHECK_DEFAULT);
        (ms != 0).then_some(ms)
    }

    /// Whether the script `name` (`finish`, `notify`) is to be run: it
    /// exists and is an executable file. One that exists but is not
    /// executable is ignored with a warning (once).
    pub fn script(&mut self, name: &'static str) -> bool {
        match nix::sys::stat::stat(name) {
            Err(_) => {
                self.forget(name);
                false
            }
            Ok(st) => {
                let file = st.st_mode & libc::S_IFMT == libc::S_IFREG;
                if file && st.st_mode & 0o111 != 0 {
                    self.forget(name);
                    return true;
                }
                let key = st.st_mode.to_le_bytes();
                let l = self.line().b(self.dir).s("/").s(name);
                self.warn_once(name, &key, l.s(" is not executable: ignored"));
                false
            }
        }
    }

    /// Whether the flag file `name` (`kill-group`, `cgroup`) exists.
    pub fn flag(name: &str) -> bool {
        nix::unistd::access(name, nix::unistd::AccessFlags::F_OK).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn millis() {
        assert_eq!(parse_millis(b"5000\n"), Some(5000));
        assert_eq!(parse_millis(b"  250 \r\nignored"), Some(250));
        assert_eq!(parse_millis(b"0"), Some(0));
        assert_eq!(parse_millis(b"4294967295"), Some(u32::MAX));
        for bad in [
            &b""[..],
            b"\n",
            b"4294967296",
            b"-1",
            b"1.5",
            b"12 ms",
            b"0x10",
            b"00000000001",
        ] {
            assert_eq!(parse_millis(bad), None, "{bad:?}");
        }
        assert_eq!(parse_millis(&[b'1'; 200]), None);
    }

    #[test]
    fn signals_as_s6_names_them() {
        assert_eq!(parse_signal(b"TERM\n"), Some(Signal::SIGTERM));
        assert_eq!(parse_signal(b"SIGHUP"), Some(Signal::SIGHUP));
        assert_eq!(parse_signal(b"sigusr1"), Some(Signal::SIGUSR1));
        assert_eq!(parse_signal(b"quit"), Some(Signal::SIGQUIT));
        assert_eq!(parse_signal(b"9"), Some(Signal::SIGKILL));
        assert_eq!(parse_signal(b"SIG2"), Some(Signal::SIGINT));
        assert_eq!(parse_signal(b" WINCH \n"), Some(Signal::SIGWINCH));
        for bad in [
            &b""[..],
            b"0",
            b"65",
            b"TERMINATE",
            b"SIG",
            b"SIGSIGTERM",
            b"TE RM",
            b"\xffTERM",
        ] {
            assert_eq!(parse_signal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn backoff_max_and_stable() {
        assert_eq!(
            parse_backoff(b"60\n"),
            Some(Backoff {
                max: 60,
                stable: 60
            })
        );
        assert_eq!(
            parse_backoff(b" 30\t300 \n"),
            Some(Backoff {
                max: 30,
                stable: 300
            })
        );
        assert_eq!(parse_backoff(b"8 0"), Some(Backoff { max: 8, stable: 0 }));
        for bad in [&b""[..], b"0", b"0 10", b"x", b"1 2 3", b"-5", b"60s"] {
            assert_eq!(parse_backoff(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn readiness_files() {
        assert_eq!(parse_fd(b"3\n"), Some(3));
        assert_eq!(parse_fd(b" 0 "), Some(0));
        assert_eq!(parse_fd(b"2147483647"), Some(i32::MAX));
        for bad in [&b"abc"[..], b"", b"-1", b"3 4", b"2147483648", b"3x"] {
            assert_eq!(parse_fd(bad), None, "{bad:?}");
        }
        assert_eq!(parse_access(b""), Some(Access::Main));
        assert_eq!(parse_access(b"main\n"), Some(Access::Main));
        assert_eq!(parse_access(b" all \nrest"), Some(Access::All));
        assert_eq!(parse_access(b"exec"), None);
        assert_eq!(parse_access(b"ALL"), None);
    }

    proptest! {
        #[test]
        fn parsers_never_panic(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_millis(&b);
            let _ = parse_signal(&b);
            let _ = parse_fd(&b);
            let _ = parse_access(&b);
            if let Some(bo) = parse_backoff(&b) {
                prop_assert!(bo.max >= 1);
            }
        }

        #[test]
        fn numbers_round_trip(n in any::<u32>()) {
            prop_assert_eq!(parse_millis(format!("{n}\n").as_bytes()), Some(n));
        }
    }
}
