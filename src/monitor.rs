//! A service directory read for machines: what `svstat --json`,
//! `svstat --prometheus` and svmetrics report.
//!
//! A directory is read as svstat reads it — the `down` file, a live
//! supervise (svok's test on `supervise/ok`), the 18-byte `status` — plus
//! the lifecycle record `status.json` when it is in step with `status`;
//! both from `supervise/summary` when supervise keeps one (64 bytes that
//! hold them: one small file instead of two, one of them JSON). The state
//! files are found as `svctl::StateDirs` says (SUPERVISEDIR).
//! Nothing is reported from the files of a supervise that is gone: they
//! are stale (a service "up" in them may have died long ago). Every
//! problem becomes `View::error`, in svstat's words; what could still be
//! read is kept, the rest is unknown (None). Files are read with bounds
//! (65 bytes of `summary`, 18 of `status`, `record::MAX_LEN` of
//! `status.json`), without
//! blocking on fifos, so a broken tree costs no more than a good one.

use std::collections::HashMap;
use std::ffi::CStr;
use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::Mode;

use crate::fsio;
use crate::msg::errstr;
use crate::record::{self, BadRecord, Record, State, Summary, summary};
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
    /// What is reported of the lifecycle record, only when it is in step
    /// with `status`.
    pub record: Option<Summary>,
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

impl Observed {
    /// Nothing read yet (to be filled by `Reader::observe_into`).
    pub fn new() -> Observed {
        Observed {
            service: View::unread(Vec::new()),
            log: None,
            logdir: None,
        }
    }
}

impl Default for Observed {
    fn default() -> Observed {
        Observed::new()
    }
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

/// Readiness, the one place it is decided for JSON and metrics (as svwait
/// -U decides it): a service that is known not to be up is not ready; one
/// that is up is ready when its run has no readiness source (its record
/// lists none, or its supervise keeps no record), else once supervise has
/// recorded that every source said so (the record's `ready`).
pub fn ready(state: Option<State>, record: Option<&Summary>) -> Option<bool> {
    match state? {
        State::Up => Some(record.is_none_or(|r| !r.has_sources || r.ready)),
        State::Down | State::Finishing | State::Waiting => Some(false),
    }
}

/// Unix seconds of a TAI64N stamp, to the millisecond.
pub fn unix_seconds(t: Tai64n) -> f64 {
    tai64::label_to_unix(t.secs) as f64 + f64::from(t.nano / 1_000_000) / 1000.0
}

/// rustc's FxHash: a fast hasher for the caches keyed by service paths and
/// names (keys from the tree being read, not from the network).
#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap_or_default()));
        }
        let mut last = [0u8; 8];
        let rest = chunks.remainder();
        last[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(last) ^ rest.len() as u64);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A HashMap with `FxHasher`.
pub type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;

/// Reads service directories, reusing its buffers. A directory's status
/// and record are taken from `supervise/summary` when supervise keeps one
/// (see `record::summary`), else read from `status` and `status.json`. With a cache (a
/// long-running reader, svmetrics) a `status.json` whose text has not
/// changed since the last read is not parsed again: the text itself is
/// read every time and compared byte for byte, so nothing stale is ever
/// reported.
pub struct Reader {
    dirs: svctl::StateDirs,
    /// Scratch path.
    path: Vec<u8>,
    /// The state directory being read.
    state: Vec<u8>,
    /// The last record's text (`record::MAX_LEN + 1` bytes, allocated once).
    text: Vec<u8>,
    /// Scratch path of a logger.
    log_dir: Vec<u8>,
    /// The state directory's path when the directory was opened.
    fallback: Vec<u8>,
    cache: Option<FastMap<Vec<u8>, Cached>>,
    /// Bumped by `end_round`; entries not used in a round are dropped.
    round: u64,
}

struct Cached {
    text: Vec<u8>,
    record: Record,
    round: u64,
}

/// Where the state files of the directory being read are opened from.
#[derive(Clone, Copy)]
enum At<'a> {
    /// Under the directory's descriptor, as `supervise/NAME` (the state
    /// directory is `supervise`: no `SUPERVISEDIR`).
    Dir(BorrowedFd<'a>),
    /// `STATE/NAME`, STATE the state directory's path.
    State(&'a [u8]),
}

/// A state file: its path under the service directory when the state
/// directory is `supervise`, and its name in the state directory.
struct StateFile {
    under: &'static CStr,
    name: &'static str,
}

const OK: StateFile = StateFile {
    under: c"supervise/ok",
    name: "ok",
};
const STATUS: StateFile = StateFile {
    under: c"supervise/status",
    name: "status",
};
const SUMMARY: StateFile = StateFile {
    under: c"supervise/summary",
    name: summary::NAME,
};

impl Reader {
    /// A reader for one pass (svstat).
    pub fn new() -> Reader {
        Reader {
            dirs: svctl::StateDirs::from_env(),
            path: Vec::with_capacity(256),
            state: Vec::with_capacity(256),
            text: Vec::new(),
            log_dir: Vec::with_capacity(256),
            fallback: Vec::new(),
            cache: None,
            round: 0,
        }
    }

    /// A reader that keeps the parsed records of the services it read in
    /// the last round (svmetrics: one round per scrape).
    pub fn with_cache() -> Reader {
        Reader {
            cache: Some(FastMap::default()),
            ..Reader::new()
        }
    }

    /// Ends a round: forgets the records of services not read since the
    /// last call (removed services), so the cache stays as large as the
    /// tree.
    pub fn end_round(&mut self) {
        let round = self.round;
        if let Some(c) = &mut self.cache {
            c.retain(|_, e| e.round == round);
        }
        self.round += 1;
    }

    /// `base/name` into the scratch path.
    fn path(&mut self, base: &[u8], name: &str) -> &[u8] {
        self.path.clear();
        self.path.extend_from_slice(base);
        self.path.push(b'/');
        self.path.extend_from_slice(name.as_bytes());
        &self.path
    }

    /// The directory opened for the `*at` calls (no path built per file),
    /// when its state directory is `supervise` under it; None
    /// otherwise, and when it cannot be opened (then it is read by path,
    /// which says why).
    fn open_dir(&self, dir: &[u8]) -> Option<OwnedFd> {
        if !self.dirs.is_default() {
            return None;
        }
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        nix::fcntl::open(dir, flags, Mode::empty()).ok()
    }

    /// Reads a service directory, its logger and its log directory.
    /// `name` is what the service is called; its logger is `NAME/log`.
    pub fn observe(&mut self, dir: &[u8], name: Vec<u8>) -> Observed {
        let mut o = Observed {
            service: View::unread(name),
            log: None,
            logdir: None,
        };
        self.observe_in(dir, &mut o);
        o
    }

    /// `observe` into `o`, which is made over (its buffers kept, its name
    /// now `name`): a reader of many directories reuses one `Observed`.
    pub fn observe_into(&mut self, dir: &[u8], name: &[u8], o: &mut Observed) {
        o.service.reset();
        o.service.name.clear();
        o.service.name.extend_from_slice(name);
        o.logdir = None;
        self.observe_in(dir, o);
    }

    /// `observe` into `o`, whose `service` is unread.
    fn observe_in(&mut self, dir: &[u8], o: &mut Observed) {
        let fd = self.open_dir(dir);
        self.view_in(dir, fd.as_ref().map(AsFd::as_fd), &mut o.service);
        // the logger: `log` if it is a directory (opened, or stat'ed when
        // the service directory was not opened)
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let (log_fd, is_dir) = match &fd {
            Some(fd) => match nix::fcntl::openat(fd, c"log", flags, Mode::empty()) {
                Ok(log) => (Some(log), true),
                Err(_) => (None, false),
            },
            None => match nix::sys::stat::stat(self.path(dir, "log")) {
                Ok(st) => (None, st.st_mode & libc::S_IFMT == libc::S_IFDIR),
                Err(_) => (None, false),
            },
        };
        drop(fd);
        if !is_dir {
            o.log = None;
            return;
        }
        let mut log_dir = std::mem::take(&mut self.log_dir);
        log_dir.clear();
        log_dir.extend_from_slice(dir);
        log_dir.extend_from_slice(b"/log");
        let log = o.log.get_or_insert_with(|| View::unread(Vec::new()));
        log.reset();
        log.name.clear();
        log.name.extend_from_slice(&o.service.name);
        if !log.name.ends_with(b"/") {
            log.name.push(b'/');
        }
        log.name.extend_from_slice(b"log");
        self.view_in(&log_dir, log_fd.as_ref().map(AsFd::as_fd), log);
        log_dir.extend_from_slice(b"/main");
        o.logdir = log_sizes(Path::new(OsStr::from_bytes(&log_dir)));
        self.log_dir = log_dir;
    }

    /// Reads one supervised directory.
    pub fn view(&mut self, dir: &[u8], name: Vec<u8>) -> View {
        let mut v = View::unread(name);
        let fd = self.open_dir(dir);
        self.view_in(dir, fd.as_ref().map(AsFd::as_fd), &mut v);
        v
    }

    /// `view` into `v`, `fd` the directory opened (see `open_dir`).
    fn view_in(&mut self, dir: &[u8], fd: Option<BorrowedFd>, v: &mut View) {
        let mut state = std::mem::take(&mut self.state);
        let at = match fd {
            Some(fd) => At::Dir(fd),
            None => {
                self.dirs.put(dir, &mut state);
                At::State(&state)
            }
        };
        self.read_dir(dir, at, v);
        self.state = state;
    }

    /// `view` from the `down` file on.
    fn read_dir(&mut self, dir: &[u8], at: At, v: &mut View) {
        let down = match at {
            At::Dir(fd) => nix::sys::stat::fstatat(fd, c"down", AtFlags::empty()),
            At::State(_) => nix::sys::stat::stat(self.path(dir, "down")),
        };
        match down {
            Ok(_) => v.normally_up = Some(false),
            Err(Errno::ENOENT) => v.normally_up = Some(true),
            Err(e) => return self.unreadable(dir, v, "unable to stat down: ", e),
        }
        let write = OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        match self.open_state(at, &OK, write) {
            Ok(_) => v.supervise_running = true,
            Err(Errno::ENXIO) => return v.fail("supervise not running", None),
            Err(e) => return self.unreadable(dir, v, "unable to open supervise/ok: ", e),
        }
        let read = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        // the summary of both files, when supervise keeps one
        if let Ok(fd) = self.open_state(at, &SUMMARY, read) {
            let mut b = [0u8; summary::LEN + 1];
            if let Ok(n) = fsio::read(&fd, &mut b)
                && let Some(s) = Summary::decode(&b[..n])
            {
                v.status = Some(s.status);
                v.record = Some(s);
                return;
            }
        }
        // status, then the record; once more if supervise replaced them in
        // between (it writes status first)
        for _ in 0..2 {
            let st = match self
                .open_state(at, &STATUS, read)
                .and_then(svctl::read_status)
            {
                Ok(st) => st,
                Err(Errno::EPROTO) => {
                    return v.fail("unable to read supervise/status: bad format", None);
                }
                Err(e) => return v.fail("unable to open supervise/status: ", Some(e)),
            };
            v.status = Some(st);
            v.error = None;
            let mut state = std::mem::take(&mut self.fallback);
            let state_dir = match at {
                At::State(s) => s,
                At::Dir(_) => {
                    self.dirs.put(dir, &mut state);
                    &state
                }
            };
            let record = self.record(state_dir, st);
            self.fallback = state;
            match record {
                // a supervise that keeps no record (0.76)
                None => return,
                Some(Err(bad)) => {
                    v.error = Some(format!("bad status.json ({})", bad.0));
                    return;
                }
                Some(Ok(Some(s))) => {
                    v.record = Some(s);
                    return;
                }
                Some(Ok(None)) => v.error = Some("status.json not in step".to_string()),
            }
        }
    }

    /// Opens a state file.
    fn open_state(&mut self, at: At, file: &StateFile, flags: OFlag) -> Result<OwnedFd, Errno> {
        match at {
            At::Dir(fd) => nix::fcntl::openat(fd, file.under, flags, Mode::empty()),
            At::State(state) => nix::fcntl::open(self.path(state, file.name), flags, Mode::empty()),
        }
    }

    /// A problem found before the status was read: when the directory
    /// itself cannot be entered, svstat's `unable to chdir` says so.
    fn unreadable(&mut self, dir: &[u8], v: &mut View, what: &str, e: Errno) {
        match nix::sys::stat::stat(dir) {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {
                if nix::unistd::access(dir, nix::unistd::AccessFlags::X_OK).is_ok() {
                    return v.fail(what, Some(e));
                }
                v.normally_up = None;
                v.fail("unable to chdir: ", Some(Errno::EACCES))
            }
            Ok(_) => {
                v.normally_up = None;
                v.fail("unable to chdir: ", Some(Errno::ENOTDIR))
            }
            Err(e) => {
                v.normally_up = None;
                v.fail("unable to chdir: ", Some(e))
            }
        }
    }

    /// The record `status.json` in the state directory `state`, parsed or
    /// from the cache; None when there is none. Its summary with `status`
    /// when it is in step with it (Ok(None) when not).
    fn record(
        &mut self,
        state: &[u8],
        status: Status,
    ) -> Option<Result<Option<Summary>, BadRecord>> {
        let path = {
            self.path(state, record::NAME);
            std::mem::take(&mut self.path)
        };
        let read = record::read_text(&path, &mut self.text);
        let len = match read {
            Ok(None) => {
                self.path = path;
                return None;
            }
            Ok(Some(len)) => len,
            Err(bad) => {
                self.path = path;
                return Some(Err(bad));
            }
        };
        let text = &self.text[..len];
        let round = self.round;
        let summary = |r: &Record| {
            (r.since == status.stamp && r.pid == status.pid).then(|| Summary::new(r, status))
        };
        let Some(cache) = &mut self.cache else {
            self.path = path;
            return Some(Record::parse(text).map(|r| summary(&r)));
        };
        if let Some(hit) = cache.get_mut(path.as_slice())
            && hit.text == text
        {
            hit.round = round;
            let s = summary(&hit.record);
            self.path = path;
            return Some(Ok(s));
        }
        let parsed = Record::parse(text);
        let s = parsed.as_ref().map(summary).map_err(|bad| *bad);
        if let Ok(r) = parsed {
            let entry = Cached {
                text: text.to_vec(),
                record: r,
                round,
            };
            cache.insert(path.clone(), entry);
        }
        self.path = path;
        Some(s)
    }
}

impl Default for Reader {
    fn default() -> Reader {
        Reader::new()
    }
}

impl View {
    /// A directory called `name`, nothing known of it yet.
    fn unread(name: Vec<u8>) -> View {
        View {
            name,
            supervise_running: false,
            normally_up: None,
            status: None,
            record: None,
            error: None,
        }
    }

    /// Nothing known of it any more (its name kept).
    fn reset(&mut self) {
        self.supervise_running = false;
        self.normally_up = None;
        self.status = None;
        self.record = None;
        self.error = None;
    }

    fn fail(&mut self, what: &str, e: Option<Errno>) {
        let mut s = what.to_string();
        if let Some(e) = e {
            s.push_str(errstr(e));
        }
        self.error = Some(s);
    }
}

/// Reads one supervised directory (see `Reader::view`).
pub fn view(dir: &Path, name: Vec<u8>) -> View {
    Reader::new().view(dir.as_os_str().as_bytes(), name)
}

/// Reads a service directory, its logger and its log directory (see
/// `Reader::observe`).
pub fn observe(dir: &Path, name: Vec<u8>) -> Observed {
    Reader::new().observe(dir.as_os_str().as_bytes(), name)
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
            v.record = Some(Summary::new(&r, status.unwrap_or(r.status())));
        }
        v
    }

    #[test]
    fn ready_as_svwait_judges_it() {
        let st = Status {
            stamp: Tai64n::from_unix(1_700_000_000, 0),
            pid: 5,
            paused: 0,
            want: b'u',
        };
        assert_eq!(with(None, None).ready(), None);
        // up under a supervise without a record (0.76): up means ready
        assert_eq!(with(None, Some(st)).ready(), Some(true));
        let down = Status { pid: 0, ..st };
        assert_eq!(with(None, Some(down)).ready(), Some(false));
        assert_eq!(with(Some(State::Waiting), Some(down)).ready(), Some(false));
        assert_eq!(
            with(Some(State::Finishing), Some(down)).ready(),
            Some(false)
        );
        // up, no readiness source: ready
        let mut v = with(Some(State::Up), Some(st));
        assert_eq!(v.ready(), Some(true));
        // up with a source that has not said so yet: not ready
        let mut r = record::sample();
        r.state = State::Up;
        r.ready = None;
        r.ready_sources.notification_fd = true;
        r.ready_pending.notification_fd = true;
        v.record = Some(Summary::new(&r, st));
        assert_eq!(v.ready(), Some(false));
        r.ready_pending = record::Sources::default();
        r.ready = Some(Tai64n::from_unix(1_700_000_001, 0));
        v.record = Some(Summary::new(&r, st));
        assert_eq!(v.ready(), Some(true));
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
