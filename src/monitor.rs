//! A service directory read for machines: what `svstat --json`,
//! `svstat --prometheus` and svmetrics report.
//!
//! A directory is read as svstat reads it — the `down` file, a live
//! supervise (svok's test on `supervise/ok`), the 18-byte `status` — plus
//! the lifecycle record `status.json` when it is in step with `status`.
//! The state files are found with `svctl::state_path` (SUPERVISEDIR).
//! Nothing is reported from the files of a supervise that is gone: they
//! are stale (a service "up" in them may have died long ago). Every
//! problem becomes `View::error`, in svstat's words; what could still be
//! read is kept, the rest is unknown (None). Files are read with bounds
//! (18 bytes of `status`, `record::MAX_LEN` of `status.json`), without
//! blocking on fifos, so a broken tree costs no more than a good one.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;

use crate::fsio;
use crate::msg::errstr;
use crate::record::{self, Record, State};
use crate::status::{Status, Want};
use crate::svctl;
use crate::tai64::{self, Tai64n};

/// One supervised directory (a service, or its `log/`).
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// What the directory is called in the output: the argument as given
    /// (svstat), or the name under the scanned directory (svmetrics).
    pub name: Vec<u8>,
    /// A supervise holds `supervise/ok` open.
    pub supervise_running: bool,
    /// No `down` file (None: the directory could not be read).
    pub normally_up: Option<bool>,
    /// The 18-byte record, read only from a live supervise.
    pub status: Option<Status>,
    /// The lifecycle record, only when it is in step with `status`.
    pub record: Option<Record>,
    /// What went wrong, in svstat's words (`supervise not running`,
    /// `unable to read supervise/status: bad format`, `bad status.json
    /// (state)`, ...).
    pub error: Option<String>,
}

/// A service as reported: the service, its logger (when `DIR/log` is a
/// directory) and the sizes of its log directory (`DIR/log/main`).
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub service: View,
    pub log: Option<View>,
    pub logdir: Option<LogSizes>,
}

/// The files of a multilog directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogSizes {
    /// Bytes in `current` (0 while it is being rotated).
    pub current_bytes: u64,
    /// Rotated files (`@TAI64N.s`, `.u`, also gzipped).
    pub rotated_files: u64,
    pub rotated_bytes: u64,
}

impl View {
    /// The state: `up`, `down`, `finishing`, `waiting` (from the record
    /// when there is one in step, else from the 18-byte record: up or
    /// down); None when unknown.
    pub fn state(&self) -> Option<State> {
        if let Some(r) = &self.record {
            return Some(r.state);
        }
        let st = self.status.as_ref()?;
        Some(if st.pid != 0 { State::Up } else { State::Down })
    }

    /// `./run` runs under a live supervise.
    pub fn up(&self) -> bool {
        self.state() == Some(State::Up)
    }

    /// pid of `./run` (0: none), when known.
    pub fn pid(&self) -> Option<u32> {
        self.status.map(|s| s.pid)
    }

    pub fn want(&self) -> Option<Want> {
        if let Some(r) = &self.record {
            return Some(r.want);
        }
        match self.status?.want {
            b'u' => Some(Want::Up),
            b'd' => Some(Want::Down),
            0 => Some(Want::Once),
            _ => None,
        }
    }

    pub fn paused(&self) -> Option<bool> {
        self.status.map(|s| s.pid != 0 && s.paused != 0)
    }

    /// When the state last changed (`./run` started or ended).
    pub fn since(&self) -> Option<Tai64n> {
        self.status.map(|s| s.stamp)
    }

    /// Whole seconds in the current state at `now` (as svstat counts).
    pub fn seconds(&self, now: Tai64n) -> Option<u64> {
        self.since().map(|t| record::seconds_between(t, now))
    }

    pub fn starts(&self) -> Option<u64> {
        self.record.as_ref().map(|r| r.starts)
    }

    pub fn last_exit(&self) -> Option<&record::Exit> {
        self.record.as_ref()?.last_exit.as_ref()
    }

    /// Whether the service is ready: see `ready`.
    pub fn ready(&self) -> Option<bool> {
        ready(self.state(), self.record.as_ref())
    }
}

/// Readiness, the one place it is decided for JSON and metrics: a service
/// that is known not to be up is not ready; one that is up is ready once
/// supervise has recorded readiness. The record does not carry readiness
/// yet (issue 13 adds it), so an up service's readiness is unknown (None)
/// until then: wire the record's field in here.
pub fn ready(state: Option<State>, record: Option<&Record>) -> Option<bool> {
    let _ = record;
    match state? {
        State::Up => None,
        State::Down | State::Finishing | State::Waiting => Some(false),
    }
}

/// Unix seconds of a TAI64N stamp, to the millisecond.
pub fn unix_seconds(t: Tai64n) -> f64 {
    tai64::label_to_unix(t.secs) as f64 + f64::from(t.nano / 1_000_000) / 1000.0
}

/// `dir/name` as a path.
fn join(dir: &Path, name: &str) -> std::path::PathBuf {
    dir.join(name)
}

/// Reads one supervised directory.
pub fn view(dir: &Path, name: Vec<u8>) -> View {
    let mut v = View {
        name,
        supervise_running: false,
        normally_up: None,
        status: None,
        record: None,
        error: None,
    };
    let fail = |v: &mut View, what: &str, e: Option<Errno>| {
        let mut s = what.to_string();
        if let Some(e) = e {
            s.push_str(errstr(e));
        }
        v.error = Some(s);
    };
    match nix::sys::stat::stat(dir) {
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {}
        Ok(_) => {
            fail(&mut v, "unable to chdir: ", Some(Errno::ENOTDIR));
            return v;
        }
        Err(e) => {
            fail(&mut v, "unable to chdir: ", Some(e));
            return v;
        }
    }
    match nix::sys::stat::stat(&join(dir, "down")) {
        Ok(_) => v.normally_up = Some(false),
        Err(Errno::ENOENT) => v.normally_up = Some(true),
        Err(e) => {
            fail(&mut v, "unable to stat down: ", Some(e));
            return v;
        }
    }
    let state = svctl::state_path(dir);
    match fsio::open_write(state.join("ok").as_os_str().as_bytes()) {
        Ok(_) => v.supervise_running = true,
        Err(Errno::ENXIO) => {
            fail(&mut v, "supervise not running", None);
            return v;
        }
        Err(e) => {
            fail(&mut v, "unable to open supervise/ok: ", Some(e));
            return v;
        }
    }
    // status, then status.json; once more if supervise replaced both in
    // between (it writes status first)
    for _ in 0..2 {
        let st = match svctl::status_file(&state.join("status")) {
            Ok(st) => st,
            Err(svctl::Problem::Sys(Errno::EPROTO)) => {
                fail(&mut v, "unable to read supervise/status: bad format", None);
                return v;
            }
            Err(svctl::Problem::Sys(e)) => {
                fail(&mut v, "unable to open supervise/status: ", Some(e));
                return v;
            }
            Err(svctl::Problem::NotRunning) => {
                fail(&mut v, "supervise not running", None);
                return v;
            }
        };
        v.status = Some(st);
        v.error = None;
        match record::read_record(state.join(record::NAME).as_os_str().as_bytes()) {
            // a supervise that keeps no record (0.76)
            None => return v,
            Some(Err(bad)) => {
                v.error = Some(format!("bad status.json ({})", bad.0));
                return v;
            }
            Some(Ok(r)) if r.since == st.stamp && r.pid == st.pid => {
                v.record = Some(r);
                return v;
            }
            Some(Ok(_)) => v.error = Some("status.json not in step".to_string()),
        }
    }
    v
}

/// Reads a service directory, its logger and its log directory.
/// `name` is what the service is called; its logger is `NAME/log`.
pub fn observe(dir: &Path, name: Vec<u8>) -> Observed {
    let log_dir = dir.join("log");
    let log = match nix::sys::stat::stat(&log_dir) {
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {
            let mut log_name = name.clone();
            if !log_name.ends_with(b"/") {
                log_name.push(b'/');
            }
            log_name.extend_from_slice(b"log");
            Some(view(&log_dir, log_name))
        }
        _ => None,
    };
    let logdir = log.as_ref().and_then(|_| log_sizes(&log_dir.join("main")));
    Observed {
        service: view(dir, name),
        log,
        logdir,
    }
}

/// A rotated file of a multilog directory: `@` + 24 hex digits + `.s` or
/// `.u`, possibly with `.gz` (svlog(8)'s names).
fn is_rotated(name: &[u8]) -> bool {
    let (stem, rest) = name.split_at(name.len().min(27));
    stem.len() == 27
        && stem[0] == b'@'
        && stem[1..25].iter().all(u8::is_ascii_hexdigit)
        && (stem[25..] == *b".s" || stem[25..] == *b".u")
        && (rest.is_empty() || rest == b".gz")
}

/// The sizes of the log directory `dir` (one that holds `current` or
/// multilog's `lock`); None if it is not one or cannot be listed.
pub fn log_sizes(dir: &Path) -> Option<LogSizes> {
    let current = std::fs::metadata(dir.join("current"));
    if current.is_err() && std::fs::symlink_metadata(dir.join("lock")).is_err() {
        return None;
    }
    let mut sizes = LogSizes {
        current_bytes: current.map_or(0, |m| m.len()),
        ..LogSizes::default()
    };
    for entry in std::fs::read_dir(dir).ok()? {
        let Ok(entry) = entry else { continue };
        if !is_rotated(entry.file_name().as_bytes()) {
            continue;
        }
        // a file rotated away or compressed meanwhile is skipped
        if let Ok(md) = entry.metadata() {
            sizes.rotated_files += 1;
            sizes.rotated_bytes += md.len();
        }
    }
    Some(sizes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_names() {
        assert!(is_rotated(b"@400000006553f10a075bcbf4.s"));
        assert!(is_rotated(b"@400000006553f10a075bcbf4.u"));
        assert!(is_rotated(b"@400000006553f10a075bcbf4.s.gz"));
        assert!(!is_rotated(b"@400000006553f10a075bcbf4.s.tmp"));
        assert!(!is_rotated(b"@400000006553f10a075bcbf4.x"));
        assert!(!is_rotated(b"@40000000.s"));
        assert!(!is_rotated(b"current"));
        assert!(!is_rotated(b""));
        assert!(!is_rotated(b"@400000006553f10a075bcbfg.s"));
    }

    fn with(state: Option<State>, status: Option<Status>) -> View {
        let mut v = View {
            name: b"x".to_vec(),
            supervise_running: true,
            normally_up: Some(true),
            status,
            record: None,
            error: None,
        };
        if let Some(s) = state {
            let mut r = record::sample();
            r.state = s;
            v.record = Some(r);
        }
        v
    }

    #[test]
    fn ready_is_false_when_not_up_and_unknown_when_up() {
        let st = Status {
            stamp: Tai64n::from_unix(1_700_000_000, 0),
            pid: 5,
            paused: 0,
            want: b'u',
        };
        assert_eq!(with(None, None).ready(), None);
        assert_eq!(with(None, Some(st)).ready(), None);
        let down = Status { pid: 0, ..st };
        assert_eq!(with(None, Some(down)).ready(), Some(false));
        assert_eq!(with(Some(State::Waiting), Some(down)).ready(), Some(false));
        assert_eq!(
            with(Some(State::Finishing), Some(down)).ready(),
            Some(false)
        );
    }

    #[test]
    fn state_and_want_from_the_18_bytes_without_a_record() {
        let st = Status {
            stamp: Tai64n::from_unix(1_700_000_000, 250_000),
            pid: 0,
            paused: 1,
            want: 0,
        };
        let v = with(None, Some(st));
        assert_eq!(v.state(), Some(State::Down));
        assert_eq!(v.want(), Some(Want::Once));
        // byte 16 counts only while something runs, as in svstat
        assert_eq!(v.paused(), Some(false));
        assert_eq!(unix_seconds(st.stamp), 1_700_000_000.25);
        assert_eq!(v.seconds(Tai64n::from_unix(1_700_000_007, 0)), Some(7));
        let odd = Status { want: b'?', ..st };
        assert_eq!(with(None, Some(odd)).want(), None);
        assert_eq!(with(None, None).state(), None);
    }
}
