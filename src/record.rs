//! `supervise/status.json`: supervise's lifecycle record (one JSON object,
//! versioned), its writer, its reader, and the reversible byte escape that
//! every text output of the suite uses for names and paths.
//!
//! supervise writes the record at every transition, right after the
//! 18-byte `supervise/status`, through `status.json.new` + rename, so a
//! reader never sees a half-written file. Its `since.tai64n` is the stamp of
//! the 18-byte record: a reader tells the two files are in step when stamp
//! and pid agree (`Snapshot::in_step`), and that a live supervise wrote them
//! when `supervise/ok` has a reader (`Snapshot::live`, svok's test).
//! doc/status-json.md describes the format field by field.
//!
//! The writer is hand-made (supervise stays small and allocation-light);
//! the reader goes through serde_json, and the unit tests parse what the
//! writer makes with it.

use std::path::Path;

use serde_json::{Map, Value};

use crate::status::{Status, Want};
use crate::tai64::{self, Tai64n};

/// The format version. It changes only when a field changes meaning or
/// disappears; new fields keep it (readers ignore fields they do not know).
pub const VERSION: u64 = 1;

/// The record's path inside a service directory.
pub const FILE: &str = "supervise/status.json";
/// Its name inside the state directory (see `svctl::state_dir_here`).
pub const NAME: &str = "status.json";

// ---- the escape -----------------------------------------------------------

/// The reversible escape for bytes shown as text (names and paths in JSON,
/// metric labels, ...): valid UTF-8 is kept, except `%`, the ASCII control
/// characters and DEL; those and every byte that is not part of valid UTF-8
/// become `%HH` (two uppercase hex digits). `unescape` undoes it exactly.
pub fn escape(bytes: &[u8], out: &mut String) {
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '%' || c.is_ascii_control() {
                push_hex(out, c as u8);
            } else {
                out.push(c);
            }
        }
        for &b in chunk.invalid() {
            push_hex(out, b);
        }
    }
}

/// `escape` into a new string.
pub fn escaped(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    escape(bytes, &mut s);
    s
}

fn push_hex(out: &mut String, b: u8) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(DIGITS[usize::from(b >> 4)] as char);
    out.push(DIGITS[usize::from(b & 15)] as char);
}

/// The bytes `escape` was given; None when `s` holds a `%` that is not
/// followed by two hex digits (either case is accepted).
pub fn unescape(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hi = hex_value(*b.get(i + 1)?)?;
            let lo = hex_value(*b.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

// ---- the record -----------------------------------------------------------

/// What supervise is doing with the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// `./run` runs.
    Up,
    /// Nothing runs and no start is planned.
    Down,
    /// `./run` exited and `./finish` runs.
    Finishing,
    /// `./run` exited; the next start waits for its time (`next_start`).
    Waiting,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Up => "up",
            State::Down => "down",
            State::Finishing => "finishing",
            State::Waiting => "waiting",
        }
    }

    pub fn from_name(s: &str) -> Option<State> {
        [State::Up, State::Down, State::Finishing, State::Waiting]
            .into_iter()
            .find(|st| st.name() == s)
    }
}

/// `up`, `down`, `once`: the names of status.json (and svstat --json).
pub fn want_name(w: Want) -> &'static str {
    match w {
        Want::Up => "up",
        Want::Down => "down",
        Want::Once => "once",
    }
}

fn want_from_name(s: &str) -> Option<Want> {
    [Want::Up, Want::Down, Want::Once]
        .into_iter()
        .find(|w| want_name(*w) == s)
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// exit(CODE).
    Code(i32),
    /// Killed by this signal number.
    Signal(i32),
}

/// The last end of `./run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    pub pid: u32,
    pub ending: Ending,
    pub core_dumped: bool,
    pub at: Tai64n,
    /// supervise ended it because its watchdog expired (no `WATCHDOG=1`
    /// in time): SIGABRT, then KILL if needed.
    pub watchdog: bool,
}

/// The restart delay in force (from the service's `backoff` file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub max: u32,
    pub stable: u32,
    /// Seconds between the last exit and the next start.
    pub delay: u32,
}

/// Why the service is not restarted although it was wanted up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// `./finish` exited 125 (s6's permanent failure).
    pub finish_code: i32,
    pub at: Tai64n,
}

impl Failure {
    pub fn reason(&self) -> String {
        format!("finish exited {}", self.finish_code)
    }
}

/// The readiness sources of a run: the files `notification-fd`,
/// `notify-socket`, `check` of the service directory, as in force when
/// `./run` started. In JSON an array of those names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sources {
    pub notification_fd: bool,
    pub notify_socket: bool,
    pub check: bool,
}

impl Sources {
    pub const NOTIFICATION_FD: &'static str = "notification-fd";
    pub const NOTIFY_SOCKET: &'static str = "notify-socket";
    pub const CHECK: &'static str = "check";

    pub fn is_empty(&self) -> bool {
        !(self.notification_fd || self.notify_socket || self.check)
    }

    /// The names of the sources present, in this order: notification-fd,
    /// notify-socket, check.
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.notification_fd, Self::NOTIFICATION_FD),
            (self.notify_socket, Self::NOTIFY_SOCKET),
            (self.check, Self::CHECK),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }

    /// Adds the source called `name`; false for a name that is none.
    pub fn add(&mut self, name: &str) -> bool {
        match name {
            Self::NOTIFICATION_FD => self.notification_fd = true,
            Self::NOTIFY_SOCKET => self.notify_socket = true,
            Self::CHECK => self.check = true,
            _ => return false,
        }
        true
    }
}

/// Why a run with readiness sources will not become ready (until its
/// next start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadyError {
    /// `./check` did not exit 0 within `timeout-check`.
    CheckTimeout,
    /// `./run` closed its notification descriptor without a newline.
    FdClosed,
}

impl ReadyError {
    pub fn name(self) -> &'static str {
        match self {
            ReadyError::CheckTimeout => "check-timeout",
            ReadyError::FdClosed => "fd-closed",
        }
    }

    pub fn from_name(s: &str) -> Option<ReadyError> {
        [ReadyError::CheckTimeout, ReadyError::FdClosed]
            .into_iter()
            .find(|e| e.name() == s)
    }

    /// For people: `check timed out`.
    pub fn text(self) -> &'static str {
        match self {
            ReadyError::CheckTimeout => "check timed out",
            ReadyError::FdClosed => "notification-fd closed without a newline",
        }
    }
}

/// The content of `supervise/status.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// supervise's argument (the service directory as it was named).
    pub service: Vec<u8>,
    pub supervise_pid: u32,
    pub state: State,
    /// pid of `./run` (0 when it does not run), as in the 18-byte record.
    pub pid: u32,
    /// pid of `./finish` while it runs, else 0.
    pub finish_pid: u32,
    pub want: Want,
    pub paused: bool,
    /// No `down` file in the service directory.
    pub normally_up: bool,
    /// When `./run` last started or ended (bytes 0-11 of the 18-byte record).
    pub since: Tai64n,
    /// Starts since supervise began.
    pub starts: u64,
    /// Starts since the service was last asked up (`svc -u`, `svc -o`, or
    /// supervise's start without a `down` file).
    pub starts_since_up: u64,
    pub last_exit: Option<Exit>,
    /// When the next start is due (only while one is planned).
    pub next_start: Option<Tai64n>,
    pub backoff: Option<Backoff>,
    pub failed: Option<Failure>,
    /// `./run` is a process-group and session leader; signals go to the group.
    pub kill_group: bool,
    /// The cgroup `./run` was started in (the escape applied).
    pub cgroup: Option<Vec<u8>>,
    /// `svc -x` was received: supervise exits once nothing runs.
    pub exiting: bool,
    // ---- readiness (issue 13): all about the current run of `./run`;
    // empty, null or 0 while it does not run ----
    /// When the current run became ready: every source in `ready_sources`
    /// said so. Never set for a run without sources.
    pub ready: Option<Tai64n>,
    /// The readiness sources in force for the current run.
    pub ready_sources: Sources,
    /// The sources that have not said ready yet in the current run.
    pub ready_pending: Sources,
    /// Why the current run will not become ready.
    pub ready_error: Option<ReadyError>,
    /// The last `STATUS=` text sent on the notify socket (the escape applied
    /// in JSON).
    pub status_text: Option<Vec<u8>>,
    /// The pid the service named with `MAINPID=`, else 0.
    pub main_pid: u32,
    /// `RELOADING=1` was received and no `READY=1` since.
    pub reloading: bool,
    /// `STOPPING=1` was received.
    pub stopping: bool,
    /// The watchdog period in microseconds (the `watchdog` file or
    /// `WATCHDOG_USEC=`), 0 when there is no watchdog.
    pub watchdog_usec: u64,
    /// Watchdog timeouts since supervise began (not only this run).
    pub watchdog_timeouts: u64,
}

impl Record {
    /// The 18-byte record that goes with this one.
    pub fn status(&self) -> Status {
        Status {
            stamp: self.since,
            pid: self.pid,
            paused: u8::from(self.paused && self.pid != 0),
            want: self.want.byte(),
        }
    }

    /// The JSON text (one line, newline-terminated) into `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let mut j = Writer::new(out);
        j.begin();
        j.uint("version", VERSION);
        j.bytes("service", &self.service);
        j.uint("supervise_pid", u64::from(self.supervise_pid));
        j.str("state", self.state.name());
        j.uint("pid", u64::from(self.pid));
        j.str("want", want_name(self.want));
        j.bool("paused", self.paused);
        j.bool("normally_up", self.normally_up);
        j.time("since", self.since);
        j.uint("starts", self.starts);
        j.uint("starts_since_up", self.starts_since_up);
        j.key("last_exit");
        match &self.last_exit {
            None => j.null(),
            Some(e) => {
                j.begin();
                j.uint("pid", u64::from(e.pid));
                match e.ending {
                    Ending::Code(c) => {
                        j.int("code", i64::from(c));
                        j.key("signal");
                        j.null();
                        j.key("signal_name");
                        j.null();
                    }
                    Ending::Signal(s) => {
                        j.key("code");
                        j.null();
                        j.int("signal", i64::from(s));
                        j.str("signal_name", &signal_name(s));
                    }
                }
                j.bool("core_dumped", e.core_dumped);
                j.time("at", e.at);
                j.bool("watchdog", e.watchdog);
                j.end();
            }
        }
        j.uint("finish_pid", u64::from(self.finish_pid));
        j.key("next_start");
        match self.next_start {
            None => j.null(),
            Some(t) => j.time_value(t),
        }
        j.key("backoff");
        match &self.backoff {
            None => j.null(),
            Some(b) => {
                j.begin();
                j.uint("max", u64::from(b.max));
                j.uint("stable", u64::from(b.stable));
                j.uint("delay", u64::from(b.delay));
                j.end();
            }
        }
        j.key("failed");
        match &self.failed {
            None => j.null(),
            Some(f) => {
                j.begin();
                j.str("reason", &f.reason());
                j.int("finish_code", i64::from(f.finish_code));
                j.time("at", f.at);
                j.end();
            }
        }
        j.bool("kill_group", self.kill_group);
        j.key("cgroup");
        match &self.cgroup {
            None => j.null(),
            Some(c) => j.bytes_value(c),
        }
        j.bool("exiting", self.exiting);
        j.key("ready");
        match self.ready {
            None => j.null(),
            Some(t) => j.time_value(t),
        }
        j.strs("ready_sources", &self.ready_sources.names());
        j.strs("ready_pending", &self.ready_pending.names());
        j.key("ready_error");
        match self.ready_error {
            None => j.null(),
            Some(e) => j.string(e.name()),
        }
        j.key("status_text");
        match &self.status_text {
            None => j.null(),
            Some(t) => j.bytes_value(t),
        }
        j.uint("main_pid", u64::from(self.main_pid));
        j.bool("reloading", self.reloading);
        j.bool("stopping", self.stopping);
        j.uint("watchdog_usec", self.watchdog_usec);
        j.uint("watchdog_timeouts", self.watchdog_timeouts);
        j.end();
        out.push(b'\n');
    }

    /// Parses a record; the error names the first field that is missing or
    /// malformed. Fields this version does not know are ignored.
    pub fn parse(text: &[u8]) -> Result<Record, BadRecord> {
        let v: Value = serde_json::from_slice(text).map_err(|_| BadRecord("not JSON"))?;
        let o = v.as_object().ok_or(BadRecord("not an object"))?;
        let version = get_u64(o, "version")?;
        if version != VERSION {
            return Err(BadRecord("version"));
        }
        let last_exit = match o.get("last_exit") {
            None | Some(Value::Null) => None,
            Some(Value::Object(e)) => Some(parse_exit(e)?),
            Some(_) => return Err(BadRecord("last_exit")),
        };
        let backoff = match o.get("backoff") {
            None | Some(Value::Null) => None,
            Some(Value::Object(b)) => Some(Backoff {
                max: get_u32(b, "max")?,
                stable: get_u32(b, "stable")?,
                delay: get_u32(b, "delay")?,
            }),
            Some(_) => return Err(BadRecord("backoff")),
        };
        let failed = match o.get("failed") {
            None | Some(Value::Null) => None,
            Some(Value::Object(f)) => Some(Failure {
                finish_code: get_i32(f, "finish_code")?,
                at: get_time(f, "at")?,
            }),
            Some(_) => return Err(BadRecord("failed")),
        };
        let next_start = match o.get("next_start") {
            None | Some(Value::Null) => None,
            Some(t) => Some(parse_time(t).ok_or(BadRecord("next_start"))?),
        };
        let cgroup = opt_bytes(o, "cgroup")?;
        // readiness: absent in records of a supervise before it (defaults)
        let ready = match o.get("ready") {
            None | Some(Value::Null) => None,
            Some(t) => Some(parse_time(t).ok_or(BadRecord("ready"))?),
        };
        let ready_error = match o.get("ready_error") {
            None | Some(Value::Null) => None,
            Some(Value::String(e)) => {
                Some(ReadyError::from_name(e).ok_or(BadRecord("ready_error"))?)
            }
            Some(_) => return Err(BadRecord("ready_error")),
        };
        Ok(Record {
            service: unescape(get_str(o, "service")?).ok_or(BadRecord("service"))?,
            supervise_pid: get_u32(o, "supervise_pid")?,
            state: State::from_name(get_str(o, "state")?).ok_or(BadRecord("state"))?,
            pid: get_u32(o, "pid")?,
            finish_pid: get_u32(o, "finish_pid")?,
            want: want_from_name(get_str(o, "want")?).ok_or(BadRecord("want"))?,
            paused: get_bool(o, "paused")?,
            normally_up: get_bool(o, "normally_up")?,
            since: get_time(o, "since")?,
            starts: get_u64(o, "starts")?,
            starts_since_up: get_u64(o, "starts_since_up")?,
            last_exit,
            next_start,
            backoff,
            failed,
            kill_group: get_bool(o, "kill_group")?,
            cgroup,
            exiting: get_bool(o, "exiting")?,
            ready,
            ready_sources: get_sources(o, "ready_sources")?,
            ready_pending: get_sources(o, "ready_pending")?,
            ready_error,
            status_text: opt_bytes(o, "status_text")?,
            main_pid: opt_u32(o, "main_pid")?,
            reloading: opt_bool(o, "reloading")?,
            stopping: opt_bool(o, "stopping")?,
            watchdog_usec: opt_u64(o, "watchdog_usec")?,
            watchdog_timeouts: opt_u64(o, "watchdog_timeouts")?,
        })
    }
}

/// An optional escaped string (null or absent: None).
fn opt_bytes(o: &Map<String, Value>, k: &'static str) -> Result<Option<Vec<u8>>, BadRecord> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(unescape(s).ok_or(BadRecord(k))?)),
        Some(_) => Err(BadRecord(k)),
    }
}

/// A number added after version 1's first fields: 0 when absent.
fn opt_u64(o: &Map<String, Value>, k: &'static str) -> Result<u64, BadRecord> {
    match o.get(k) {
        None => Ok(0),
        Some(v) => v.as_u64().ok_or(BadRecord(k)),
    }
}

fn opt_u32(o: &Map<String, Value>, k: &'static str) -> Result<u32, BadRecord> {
    u32::try_from(opt_u64(o, k)?).map_err(|_| BadRecord(k))
}

/// A flag added after version 1's first fields: false when absent.
fn opt_bool(o: &Map<String, Value>, k: &'static str) -> Result<bool, BadRecord> {
    match o.get(k) {
        None => Ok(false),
        Some(v) => v.as_bool().ok_or(BadRecord(k)),
    }
}

/// An array of source names (absent: none).
fn get_sources(o: &Map<String, Value>, k: &'static str) -> Result<Sources, BadRecord> {
    let mut s = Sources::default();
    match o.get(k) {
        None => {}
        Some(Value::Array(names)) => {
            for n in names {
                if !s.add(n.as_str().ok_or(BadRecord(k))?) {
                    return Err(BadRecord(k));
                }
            }
        }
        Some(_) => return Err(BadRecord(k)),
    }
    Ok(s)
}

/// A record that could not be read: the field at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadRecord(pub &'static str);

fn field<'a>(o: &'a Map<String, Value>, k: &'static str) -> Result<&'a Value, BadRecord> {
    o.get(k).ok_or(BadRecord(k))
}

fn get_u64(o: &Map<String, Value>, k: &'static str) -> Result<u64, BadRecord> {
    field(o, k)?.as_u64().ok_or(BadRecord(k))
}

fn get_u32(o: &Map<String, Value>, k: &'static str) -> Result<u32, BadRecord> {
    u32::try_from(get_u64(o, k)?).map_err(|_| BadRecord(k))
}

fn get_i32(o: &Map<String, Value>, k: &'static str) -> Result<i32, BadRecord> {
    let v = field(o, k)?.as_i64().ok_or(BadRecord(k))?;
    i32::try_from(v).map_err(|_| BadRecord(k))
}

fn get_bool(o: &Map<String, Value>, k: &'static str) -> Result<bool, BadRecord> {
    field(o, k)?.as_bool().ok_or(BadRecord(k))
}

fn get_str<'a>(o: &'a Map<String, Value>, k: &'static str) -> Result<&'a str, BadRecord> {
    field(o, k)?.as_str().ok_or(BadRecord(k))
}

fn get_time(o: &Map<String, Value>, k: &'static str) -> Result<Tai64n, BadRecord> {
    parse_time(field(o, k)?).ok_or(BadRecord(k))
}

/// A time object `{"tai64n": "@...", "unix": ...}`: the label is what
/// counts (exact); `unix` is there for people and simple tools.
fn parse_time(v: &Value) -> Option<Tai64n> {
    let s = v.as_object()?.get("tai64n")?.as_str()?;
    parse_label(s.as_bytes())
}

/// `@` and 24 hex digits.
pub fn parse_label(s: &[u8]) -> Option<Tai64n> {
    if s.len() != 25 || s[0] != b'@' {
        return None;
    }
    let mut b = [0u8; 12];
    for (i, out) in b.iter_mut().enumerate() {
        let hi = hex_value(s[1 + 2 * i])?;
        let lo = hex_value(s[2 + 2 * i])?;
        *out = hi << 4 | lo;
    }
    Some(Tai64n::unpack(&b))
}

fn parse_exit(e: &Map<String, Value>) -> Result<Exit, BadRecord> {
    let ending = match (e.get("code"), e.get("signal")) {
        (Some(c), Some(Value::Null) | None) if !c.is_null() => Ending::Code(get_i32(e, "code")?),
        (Some(Value::Null) | None, Some(s)) if !s.is_null() => {
            Ending::Signal(get_i32(e, "signal")?)
        }
        _ => return Err(BadRecord("last_exit")),
    };
    Ok(Exit {
        pid: get_u32(e, "pid")?,
        ending,
        core_dumped: get_bool(e, "core_dumped")?,
        at: get_time(e, "at")?,
        watchdog: opt_bool(e, "watchdog")?,
    })
}

/// `SIGTERM` for 15 and so on; `SIG34` for a signal without a name.
pub fn signal_name(sig: i32) -> String {
    match nix::sys::signal::Signal::try_from(sig) {
        Ok(s) => s.as_str().to_string(),
        Err(_) => format!("SIG{sig}"),
    }
}

// ---- the writer ---------------------------------------------------------

/// A minimal JSON writer: objects, keys, strings, integers, booleans,
/// null; commas placed by itself. Strings are written as JSON strings of
/// valid UTF-8 (`bytes` applies `escape` first).
struct Writer<'a> {
    out: &'a mut Vec<u8>,
    /// A value was written at the current level: the next key needs a comma.
    comma: bool,
}

impl<'a> Writer<'a> {
    fn new(out: &'a mut Vec<u8>) -> Writer<'a> {
        Writer { out, comma: false }
    }

    fn begin(&mut self) {
        self.out.push(b'{');
        self.comma = false;
    }

    fn end(&mut self) {
        self.out.push(b'}');
        self.comma = true;
    }

    fn key(&mut self, k: &str) {
        if self.comma {
            self.out.push(b',');
        }
        self.string(k);
        self.out.push(b':');
        self.comma = true;
    }

    fn null(&mut self) {
        self.out.extend_from_slice(b"null");
    }

    fn uint(&mut self, k: &str, v: u64) {
        self.key(k);
        self.out.extend_from_slice(v.to_string().as_bytes());
    }

    fn int(&mut self, k: &str, v: i64) {
        self.key(k);
        self.out.extend_from_slice(v.to_string().as_bytes());
    }

    fn bool(&mut self, k: &str, v: bool) {
        self.key(k);
        self.out
            .extend_from_slice(if v { b"true" as &[u8] } else { b"false" });
    }

    fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        self.string(v);
    }

    /// An array of strings.
    fn strs(&mut self, k: &str, v: &[&str]) {
        self.key(k);
        self.out.push(b'[');
        for (i, s) in v.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.string(s);
        }
        self.out.push(b']');
    }

    fn bytes(&mut self, k: &str, v: &[u8]) {
        self.key(k);
        self.bytes_value(v);
    }

    fn bytes_value(&mut self, v: &[u8]) {
        self.string(&escaped(v));
    }

    fn time(&mut self, k: &str, t: Tai64n) {
        self.key(k);
        self.time_value(t);
    }

    /// `{"tai64n":"@...","unix":SECONDS.MICROSECONDS}`.
    fn time_value(&mut self, t: Tai64n) {
        self.begin();
        self.key("tai64n");
        self.out.push(b'"');
        self.out.extend_from_slice(&t.fmt());
        self.out.push(b'"');
        self.key("unix");
        let secs = tai64::label_to_unix(t.secs);
        let micros = (t.nano / 1000).min(999_999);
        if secs < 0 {
            // Before 1970 (never written by a sane clock): whole seconds.
            self.out.extend_from_slice(secs.to_string().as_bytes());
        } else {
            let s = format!("{secs}.{micros:06}");
            self.out.extend_from_slice(s.as_bytes());
        }
        self.end();
    }

    /// A JSON string: `"` and `\` escaped, control characters as \u00XX.
    fn string(&mut self, s: &str) {
        self.out.push(b'"');
        for &b in s.as_bytes() {
            match b {
                b'"' => self.out.extend_from_slice(b"\\\""),
                b'\\' => self.out.extend_from_slice(b"\\\\"),
                0..=0x1f => {
                    let mut h = [0u8; 2];
                    tai64::hex(&[b], &mut h);
                    self.out.extend_from_slice(b"\\u00");
                    self.out.extend_from_slice(&h);
                }
                _ => self.out.push(b),
            }
        }
        self.out.push(b'"');
    }
}

// ---- reading a service directory ------------------------------------------

/// The 18-byte record and the lifecycle record of one service, read
/// together.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub status: Status,
    /// None: there is no status.json (a supervise that does not write one).
    pub record: Option<Result<Record, BadRecord>>,
    /// A supervise holds `supervise/ok` open (svok's test): the files are
    /// kept up to date. False: they were left by a supervise that is gone.
    pub live: bool,
}

impl Snapshot {
    /// The record, if it is readable and describes the same state as the
    /// 18-byte record (same stamp and pid): the two files are in step.
    pub fn in_step(&self) -> Option<&Record> {
        match &self.record {
            Some(Ok(r)) if r.since == self.status.stamp && r.pid == self.status.pid => Some(r),
            _ => None,
        }
    }
}

/// Why a directory could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadProblem {
    Status(nix::errno::Errno),
    /// The status file is shorter than 18 bytes.
    ShortStatus,
}

/// Reads DIR/supervise/status, DIR/supervise/status.json and tests
/// DIR/supervise/ok. The JSON is read after the 18-byte record; should
/// supervise replace both in between, `in_step` says so, and reading again
/// gives a matching pair.
pub fn read(dir: &Path) -> Result<Snapshot, ReadProblem> {
    let status = crate::svctl::status(dir).map_err(|p| match p {
        crate::svctl::Problem::Sys(nix::errno::Errno::EPROTO) => ReadProblem::ShortStatus,
        crate::svctl::Problem::Sys(e) => ReadProblem::Status(e),
        crate::svctl::Problem::NotRunning => ReadProblem::Status(nix::errno::Errno::ENXIO),
    })?;
    let path = crate::svctl::state_path(dir).join(NAME);
    let record = read_record(path.as_os_str().as_encoded_bytes());
    Ok(Snapshot {
        status,
        record,
        live: crate::svctl::running(dir),
    })
}

/// The most bytes of a record a reader takes: supervise writes well under
/// 1 KiB (a service name and a cgroup path of PATH_MAX each, escaped, stay
/// below it); anything longer is not a record.
pub const MAX_LEN: usize = 64 * 1024;

/// Reads and parses the record at `path` without trusting the file (see
/// `read_text`): None when there is none.
pub fn read_record(path: &[u8]) -> Option<Result<Record, BadRecord>> {
    let mut buf = Vec::new();
    match read_text(path, &mut buf) {
        Ok(None) => None,
        Ok(Some(len)) => Some(Record::parse(&buf[..len])),
        Err(bad) => Some(Err(bad)),
    }
}

/// Reads the record's text at `path` into `buf[..len]` and returns `len`;
/// None when there is no file. `buf` is grown to `MAX_LEN + 1` bytes once
/// (reuse it to read many records without allocating). Opened and read
/// without blocking (a fifo gives `unreadable` or text that does not
/// parse); `too large` past `MAX_LEN`, `unreadable` for read errors (a
/// directory).
pub fn read_text(path: &[u8], buf: &mut Vec<u8>) -> Result<Option<usize>, BadRecord> {
    let fd = match crate::fsio::open_read(path) {
        Ok(fd) => fd,
        Err(nix::errno::Errno::ENOENT) => return Ok(None),
        Err(_) => return Err(BadRecord("unreadable")),
    };
    if buf.len() < MAX_LEN + 1 {
        buf.resize(MAX_LEN + 1, 0);
    }
    // One read: a regular file reads short only at its end, so a read
    // that does not fill MAX_LEN + 1 bytes has it all (a fifo or a device
    // gives what it has, which then does not parse).
    match crate::fsio::read(&fd, &mut buf[..=MAX_LEN]) {
        Ok(n) if n > MAX_LEN => Err(BadRecord("too large")),
        Ok(n) => Ok(Some(n)),
        Err(_) => Err(BadRecord("unreadable")),
    }
}

/// Whole seconds from `from` to `to` (0 if `to` is earlier).
pub fn seconds_between(from: Tai64n, to: Tai64n) -> u64 {
    to.secs.saturating_sub(from.secs)
}

/// A record with every optional part set, for tests.
#[cfg(test)]
pub(crate) fn sample() -> Record {
    Record {
        service: b"web/log".to_vec(),
        supervise_pid: 100,
        state: State::Waiting,
        pid: 0,
        finish_pid: 0,
        want: Want::Up,
        paused: false,
        normally_up: true,
        since: Tai64n::from_unix(1_700_000_000, 123_456),
        starts: 7,
        starts_since_up: 3,
        last_exit: Some(Exit {
            pid: 4242,
            ending: Ending::Signal(11),
            core_dumped: true,
            at: Tai64n::from_unix(1_700_000_000, 123_456),
            watchdog: false,
        }),
        next_start: Some(Tai64n::from_unix(1_700_000_004, 123_456)),
        backoff: Some(Backoff {
            max: 60,
            stable: 60,
            delay: 4,
        }),
        failed: None,
        kill_group: true,
        cgroup: Some(b"/sys/fs/cgroup/a b\xff".to_vec()),
        exiting: false,
        ready: None,
        ready_sources: Sources::default(),
        ready_pending: Sources::default(),
        ready_error: None,
        status_text: None,
        main_pid: 0,
        reloading: false,
        stopping: false,
        watchdog_usec: 0,
        watchdog_timeouts: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: i64, us: u32) -> Tai64n {
        Tai64n::from_unix(s, us)
    }

    fn json(r: &Record) -> Vec<u8> {
        let mut v = Vec::new();
        r.write_json(&mut v);
        v
    }

    #[test]
    fn escape_keeps_utf8_and_marks_the_rest() {
        assert_eq!(escaped(b"plain/name"), "plain/name");
        assert_eq!(escaped("caf\u{e9}".as_bytes()), "caf\u{e9}");
        assert_eq!(escaped(b"100%"), "100%25");
        assert_eq!(escaped(b"a\nb\x7f"), "a%0Ab%7F");
        assert_eq!(escaped(b"\xff\xfe ok \xc3"), "%FF%FE ok %C3");
        assert_eq!(escaped(b"\\\""), "\\\"");
        assert_eq!(unescape("%ff%0a").unwrap(), b"\xff\n");
        assert_eq!(unescape("%"), None);
        assert_eq!(unescape("%4"), None);
        assert_eq!(unescape("%zz"), None);
    }

    proptest! {
        #[test]
        fn escape_round_trips(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let e = escaped(&b);
            prop_assert_eq!(unescape(&e).unwrap(), b);
            prop_assert!(!e.chars().any(|c| c.is_ascii_control()));
        }

        #[test]
        fn any_record_round_trips_through_serde_json(
            service in proptest::collection::vec(any::<u8>(), 0..40),
            pid in any::<u32>(),
            starts in any::<u64>(),
            code in any::<i32>(),
            secs in 0i64..4_000_000_000,
            us in 0u32..1_000_000,
            sig in proptest::option::of(1i32..65),
        ) {
            let mut r = sample();
            r.service = service;
            r.pid = pid;
            r.starts = starts;
            r.since = t(secs, us);
            r.last_exit = Some(Exit {
                pid,
                ending: sig.map_or(Ending::Code(code), Ending::Signal),
                core_dumped: sig.is_some(),
                at: t(secs, us),
                watchdog: sig == Some(6),
            });
            let text = json(&r);
            let v: Value = serde_json::from_slice(&text).unwrap();
            prop_assert_eq!(v["version"].as_u64(), Some(VERSION));
            prop_assert_eq!(Record::parse(&text).unwrap(), r);
        }
    }

    #[test]
    fn sample_round_trips_and_reads_as_documented() {
        let r = sample();
        let text = json(&r);
        assert_eq!(text.last(), Some(&b'\n'));
        assert_eq!(text.iter().filter(|&&c| c == b'\n').count(), 1);
        let v: Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(v["state"], "waiting");
        assert_eq!(v["want"], "up");
        assert_eq!(v["since"]["tai64n"], "@400000006553f10a075bcbf4");
        assert_eq!(v["since"]["unix"].as_f64(), Some(1_700_000_000.123456));
        assert_eq!(v["last_exit"]["signal_name"], "SIGSEGV");
        assert_eq!(v["last_exit"]["code"], Value::Null);
        assert_eq!(v["last_exit"]["core_dumped"], true);
        assert_eq!(v["backoff"]["delay"], 4);
        assert_eq!(v["cgroup"], "/sys/fs/cgroup/a b%FF");
        assert_eq!(Record::parse(&text).unwrap(), r);
        // the 18-byte record that goes with it
        let st = r.status();
        assert_eq!((st.pid, st.want, st.stamp), (0, b'u', r.since));
    }

    #[test]
    fn failure_and_exit_code_forms() {
        let mut r = sample();
        r.state = State::Down;
        r.want = Want::Down;
        r.last_exit = Some(Exit {
            pid: 9,
            ending: Ending::Code(3),
            core_dumped: false,
            at: r.since,
            watchdog: false,
        });
        r.failed = Some(Failure {
            finish_code: 125,
            at: r.since,
        });
        r.next_start = None;
        r.backoff = None;
        r.cgroup = None;
        let text = json(&r);
        let v: Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(v["failed"]["reason"], "finish exited 125");
        assert_eq!(v["last_exit"]["code"], 3);
        assert_eq!(v["last_exit"]["signal"], Value::Null);
        assert_eq!(v["next_start"], Value::Null);
        assert_eq!(Record::parse(&text).unwrap(), r);
    }

    #[test]
    fn parse_rejects_what_it_cannot_trust() {
        let good = String::from_utf8(json(&sample())).unwrap();
        assert_eq!(Record::parse(b"").unwrap_err(), BadRecord("not JSON"));
        assert_eq!(
            Record::parse(b"[1]").unwrap_err(),
            BadRecord("not an object")
        );
        let v2 = good.replace("\"version\":1", "\"version\":2");
        assert_eq!(
            Record::parse(v2.as_bytes()).unwrap_err(),
            BadRecord("version")
        );
        let bad_state = good.replace("\"waiting\"", "\"sleeping\"");
        assert_eq!(
            Record::parse(bad_state.as_bytes()).unwrap_err(),
            BadRecord("state")
        );
        let bad_time = good.replace("@400000006553f10a075bcbf4", "@40000000");
        assert!(Record::parse(bad_time.as_bytes()).is_err());
        // unknown fields are ignored (later versions add some)
        let extra = good.replacen('{', "{\"ready\":{\"x\":1},", 1);
        assert_eq!(Record::parse(extra.as_bytes()).unwrap(), sample());
    }

    #[test]
    fn the_documented_example_parses() {
        let doc = include_str!("../doc/status-json.md");
        let start = doc.find("```json\n").unwrap() + 8;
        let end = start + doc[start..].find("```").unwrap();
        let text = &doc.as_bytes()[start..end];
        let r = Record::parse(text).unwrap();
        assert_eq!(
            (r.state, r.starts, r.service.as_slice()),
            (State::Waiting, 3, &b"web"[..])
        );
        assert_eq!(r.backoff.unwrap().delay, 4);
        assert_eq!(r.next_start.unwrap().secs - r.since.secs, 4);
        assert_eq!(r.since, t(1_700_000_000, 123_456));
        // and what the writer makes of it is the same text
        assert_eq!(json(&r), text);
    }

    /// A ready service with every readiness field set.
    fn ready_sample() -> Record {
        let mut r = sample();
        r.state = State::Up;
        r.pid = 4243;
        r.next_start = None;
        r.backoff = None;
        r.ready = Some(t(1_700_000_001, 5));
        r.ready_sources = Sources {
            notification_fd: true,
            notify_socket: true,
            check: true,
        };
        r.ready_pending = Sources {
            check: true,
            ..Sources::default()
        };
        r.ready_error = Some(ReadyError::CheckTimeout);
        r.status_text = Some(b"50% done \"\xff".to_vec());
        r.main_pid = 4250;
        r.reloading = true;
        r.stopping = true;
        r.watchdog_usec = 5_000_000;
        r.watchdog_timeouts = 2;
        r.last_exit.as_mut().unwrap().watchdog = true;
        r
    }

    #[test]
    fn readiness_fields_round_trip_and_read_as_documented() {
        let r = ready_sample();
        let text = json(&r);
        let v: Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(v["ready"]["unix"].as_f64(), Some(1_700_000_001.000005));
        assert_eq!(
            v["ready_sources"],
            serde_json::json!(["notification-fd", "notify-socket", "check"])
        );
        assert_eq!(v["ready_pending"], serde_json::json!(["check"]));
        assert_eq!(v["ready_error"], "check-timeout");
        assert_eq!(v["status_text"], "50%25 done \"%FF");
        assert_eq!(v["main_pid"], 4250);
        assert_eq!(v["reloading"], true);
        assert_eq!(v["stopping"], true);
        assert_eq!(v["watchdog_usec"], 5_000_000);
        assert_eq!(v["watchdog_timeouts"], 2);
        assert_eq!(v["last_exit"]["watchdog"], true);
        assert_eq!(Record::parse(&text).unwrap(), r);
        // an unready service without sources: empty arrays, nulls
        let text = json(&sample());
        let v: Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(v["ready"], Value::Null);
        assert_eq!(v["ready_sources"], serde_json::json!([]));
        assert_eq!(v["ready_error"], Value::Null);
        assert_eq!(v["status_text"], Value::Null);
        assert_eq!(v["main_pid"], 0);
    }

    #[test]
    fn a_record_without_readiness_fields_reads_with_defaults() {
        // what supervise wrote before readiness existed
        let full = String::from_utf8(json(&sample())).unwrap();
        let cut = full.find(",\"ready\":").unwrap();
        let old = format!("{}}}", &full[..cut]).replace(",\"watchdog\":false", "");
        assert_eq!(Record::parse(old.as_bytes()).unwrap(), sample());
        // what it cannot trust
        for (from, to, field) in [
            (
                "\"ready_sources\":[]",
                "\"ready_sources\":[\"fd\"]",
                "ready_sources",
            ),
            (
                "\"ready_pending\":[]",
                "\"ready_pending\":3",
                "ready_pending",
            ),
            (
                "\"ready_error\":null",
                "\"ready_error\":\"late\"",
                "ready_error",
            ),
            ("\"main_pid\":0", "\"main_pid\":-1", "main_pid"),
            (
                "\"status_text\":null",
                "\"status_text\":\"%\"",
                "status_text",
            ),
        ] {
            let bad = full.replace(from, to);
            assert_eq!(Record::parse(bad.as_bytes()).unwrap_err(), BadRecord(field));
        }
    }

    #[test]
    fn sources_names() {
        let mut s = Sources::default();
        assert!(s.is_empty() && s.names().is_empty());
        assert!(s.add("check") && s.add("notification-fd") && !s.add("nope"));
        assert_eq!(s.names(), vec!["notification-fd", "check"]);
        for e in [ReadyError::CheckTimeout, ReadyError::FdClosed] {
            assert_eq!(ReadyError::from_name(e.name()), Some(e));
        }
    }

    #[test]
    fn labels() {
        let l = t(1_000_000_000, 123_456);
        assert_eq!(parse_label(&l.fmt()), Some(l));
        assert_eq!(parse_label(b"@400000003b9aca0a075bcbfg"), None);
        assert_eq!(parse_label(b"400000003b9aca0a075bcbf4"), None);
        assert_eq!(seconds_between(t(10, 0), t(14, 0)), 4);
        assert_eq!(seconds_between(t(14, 0), t(10, 0)), 0);
    }

    #[test]
    fn json_strings_escape_quotes_backslashes_and_controls() {
        let mut v = Vec::new();
        let mut w = Writer::new(&mut v);
        w.begin();
        w.str("k", "a\"b\\c\u{1}");
        w.end();
        assert_eq!(v, b"{\"k\":\"a\\\"b\\\\c\\u0001\"}");
        let back: Value = serde_json::from_slice(&v).unwrap();
        assert_eq!(back["k"], "a\"b\\c\u{1}");
    }

    #[test]
    fn signal_names() {
        assert_eq!(signal_name(15), "SIGTERM");
        assert_eq!(signal_name(9), "SIGKILL");
        assert_eq!(signal_name(40), "SIG40");
    }
}
