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
//! The writer is hand-made (supervise stays small and allocation-light).
//! svstat and svmetrics read a record per service at every call: the
//! reader first tries a scanner of exactly the writer's layout (`fast`),
//! and on any other text walks serde_json's deserializer without building
//! a `Value`. The unit tests check both against a reader through `Value`
//! on what the writer makes and on that text damaged.

use std::path::Path;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::status::{Status, Want};

mod fast;
pub mod summary;
use crate::tai64::{self, Tai64n};
pub use summary::Summary;

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

/// The value of every hex digit (either case); 0xff for other bytes.
const HEX: [u8; 256] = {
    let mut t = [0xff; 256];
    let mut i = 0;
    while i < 16 {
        t[b"0123456789abcdef"[i] as usize] = i as u8;
        t[b"0123456789ABCDEF"[i] as usize] = i as u8;
        i += 1;
    }
    t
};

fn hex_value(c: u8) -> Option<u8> {
    let v = HEX[usize::from(c)];
    (v < 16).then_some(v)
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

    pub fn from_name(s: &[u8]) -> Option<State> {
        [State::Up, State::Down, State::Finishing, State::Waiting]
            .into_iter()
            .find(|st| st.name().as_bytes() == s)
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

fn want_from_name(s: &[u8]) -> Option<Want> {
    [Want::Up, Want::Down, Want::Once]
        .into_iter()
        .find(|w| want_name(*w).as_bytes() == s)
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
    pub fn add(&mut self, name: impl AsRef<[u8]>) -> bool {
        let name = name.as_ref();
        let source = if name == Self::NOTIFICATION_FD.as_bytes() {
            &mut self.notification_fd
        } else if name == Self::NOTIFY_SOCKET.as_bytes() {
            &mut self.notify_socket
        } else if name == Self::CHECK.as_bytes() {
            &mut self.check
        } else {
            return false;
        };
        *source = true;
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

    pub fn from_name(s: &[u8]) -> Option<ReadyError> {
        [ReadyError::CheckTimeout, ReadyError::FdClosed]
            .into_iter()
            .find(|e| e.name().as_bytes() == s)
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
        // what supervise wrote, in the writer's exact layout: read by hand
        // (its strings checked for UTF-8 on the way)
        if let Some(r) = fast::parse(text) {
            return Ok(r);
        }
        // JSON text is UTF-8: checked once here rather than string by
        // string (the same texts fail, all as `not JSON`)
        let text = std::str::from_utf8(text).map_err(|_| BadRecord("not JSON"))?;
        let mut de = serde_json::Deserializer::from_str(text);
        let mut fields = Fields::default();
        let read = Read(Top(&mut fields))
            .deserialize(&mut de)
            .and_then(|object| de.end().map(|()| object));
        match read.map_err(|_| BadRecord("not JSON"))? {
            Slot::Good(()) => fields.record(),
            _ => Err(BadRecord("not an object")),
        }
    }
}

// ---- the reader -----------------------------------------------------------
//
// `Record::parse` reads the text in one pass of serde_json's deserializer,
// without building a `serde_json::Value`: every value goes through
// `deserialize_any` into a `Shape`, which keeps only what the record needs
// (a number, a flag, a name, an unescaped string, a time label) as a
// `Slot`; keys are matched on a stack copy; what the record does not read
// (unknown fields, the `unix` numbers) is walked and dropped. Nothing is
// judged while reading: the slots are judged afterwards in the order the
// fields were always checked, so the error names the same field as a
// reading through `Value` does (the model in the tests), and any syntax
// error anywhere is `not JSON`. Going through `deserialize_any` for every
// value, skipped ones included, keeps serde_json's checks exactly as
// `Value` has them: escapes of every string, numbers out of range
// (`1e999`), the nesting limit. (serde's `IgnoredAny` would skip faster,
// but serde_json's skipping checks none of those three.) UTF-8 is checked
// once for the whole text. A key given twice counts once, the last time,
// as in `Value`'s map.

/// What one field held, as far as its reader cares.
#[derive(Default)]
enum Slot<T> {
    /// The key was not there.
    #[default]
    Absent,
    Null,
    /// A value of the expected kind.
    Good(T),
    /// Anything else: another kind, a name that is none, a bad escape.
    Bad,
}

impl<T> Slot<T> {
    /// A field that must be there: the value, else `BadRecord(k)`.
    fn required(self, k: &'static str) -> Result<T, BadRecord> {
        match self {
            Slot::Good(v) => Ok(v),
            _ => Err(BadRecord(k)),
        }
    }

    /// A field that may be null or absent (None).
    fn optional(self, k: &'static str) -> Result<Option<T>, BadRecord> {
        match self {
            Slot::Absent | Slot::Null => Ok(None),
            Slot::Good(v) => Ok(Some(v)),
            Slot::Bad => Err(BadRecord(k)),
        }
    }

    /// A field added after version 1's first ones: the default when
    /// absent (null is not accepted).
    fn or_default(self, k: &'static str) -> Result<T, BadRecord>
    where
        T: Default,
    {
        match self {
            Slot::Absent => Ok(T::default()),
            Slot::Good(v) => Ok(v),
            Slot::Null | Slot::Bad => Err(BadRecord(k)),
        }
    }

    /// Neither absent nor null.
    fn is_value(&self) -> bool {
        matches!(self, Slot::Good(_) | Slot::Bad)
    }
}

impl Slot<u64> {
    /// A required number that fits in 32 bits.
    fn required_u32(self, k: &'static str) -> Result<u32, BadRecord> {
        u32::try_from(self.required(k)?).map_err(|_| BadRecord(k))
    }
}

impl Slot<i64> {
    /// A required signed number that fits in 32 bits.
    fn required_i32(self, k: &'static str) -> Result<i32, BadRecord> {
        i32::try_from(self.required(k)?).map_err(|_| BadRecord(k))
    }
}

/// How one kind of field reads a JSON value: each method is one kind of
/// value; those a shape does not override give `Slot::Bad` (null is always
/// `Slot::Null`; numbers with a fraction or an exponent are always bad).
/// Arrays and objects a shape does not look into are walked to their end.
trait Shape: Sized {
    type T;

    fn boolean(self, _b: bool) -> Slot<Self::T> {
        Slot::Bad
    }

    /// An integer >= 0 (serde_json's `as_u64`).
    fn unsigned(self, _n: u64) -> Slot<Self::T> {
        Slot::Bad
    }

    /// An integer < 0.
    fn negative(self, _n: i64) -> Slot<Self::T> {
        Slot::Bad
    }

    /// A string, its escapes undone.
    fn string(self, _s: &str) -> Slot<Self::T> {
        Slot::Bad
    }

    fn object<'de, A: MapAccess<'de>>(self, mut map: A) -> Result<Slot<Self::T>, A::Error> {
        while map.next_key_seed(Read(Skip))?.is_some() {
            map.next_value_seed(Read(Skip))?;
        }
        Ok(Slot::Bad)
    }

    fn array<'de, A: SeqAccess<'de>>(self, mut seq: A) -> Result<Slot<Self::T>, A::Error> {
        while seq.next_element_seed(Read(Skip))?.is_some() {}
        Ok(Slot::Bad)
    }
}

/// Reads one value (any kind) through its shape.
struct Read<S>(S);

impl<'de, S: Shape> DeserializeSeed<'de> for Read<S> {
    type Value = Slot<S::T>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Slot<S::T>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, S: Shape> Visitor<'de> for Read<S> {
    type Value = Slot<S::T>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Slot<S::T>, E> {
        Ok(Slot::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Slot<S::T>, E> {
        Ok(self.0.boolean(b))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Slot<S::T>, E> {
        Ok(self.0.unsigned(n))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Slot<S::T>, E> {
        // serde_json's Number: an i64 >= 0 is a positive integer.
        Ok(match u64::try_from(n) {
            Ok(u) => self.0.unsigned(u),
            Err(_) => self.0.negative(n),
        })
    }

    fn visit_f64<E>(self, _f: f64) -> Result<Slot<S::T>, E> {
        Ok(Slot::Bad)
    }

    fn visit_str<E>(self, s: &str) -> Result<Slot<S::T>, E> {
        Ok(self.0.string(s))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Slot<S::T>, A::Error> {
        self.0.object(map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Slot<S::T>, A::Error> {
        self.0.array(seq)
    }
}

/// A value nobody reads (checked as JSON all the same).
struct Skip;

impl Shape for Skip {
    type T = ();
}

/// `as_u64`.
struct Unsigned;

impl Shape for Unsigned {
    type T = u64;

    fn unsigned(self, n: u64) -> Slot<u64> {
        Slot::Good(n)
    }
}

/// `as_i64`.
struct Signed;

impl Shape for Signed {
    type T = i64;

    fn unsigned(self, n: u64) -> Slot<i64> {
        i64::try_from(n).map_or(Slot::Bad, Slot::Good)
    }

    fn negative(self, n: i64) -> Slot<i64> {
        Slot::Good(n)
    }
}

struct Flag;

impl Shape for Flag {
    type T = bool;

    fn boolean(self, b: bool) -> Slot<bool> {
        Slot::Good(b)
    }
}

/// A string that is one of the names `from_name` knows.
struct Name<T>(fn(&[u8]) -> Option<T>);

impl<T> Shape for Name<T> {
    type T = T;

    fn string(self, s: &str) -> Slot<T> {
        (self.0)(s.as_bytes()).map_or(Slot::Bad, Slot::Good)
    }
}

/// A string with the escape applied (`unescape`).
struct Escaped;

impl Shape for Escaped {
    type T = Vec<u8>;

    fn string(self, s: &str) -> Slot<Vec<u8>> {
        unescape(s).map_or(Slot::Bad, Slot::Good)
    }
}

/// A time label, `@` and 24 hex digits.
struct Label;

impl Shape for Label {
    type T = Tai64n;

    fn string(self, s: &str) -> Slot<Tai64n> {
        parse_label(s.as_bytes()).map_or(Slot::Bad, Slot::Good)
    }
}

/// An array of source names.
struct SourceList;

impl Shape for SourceList {
    type T = Sources;

    fn array<'de, A: SeqAccess<'de>>(self, mut seq: A) -> Result<Slot<Sources>, A::Error> {
        let mut s = Sources::default();
        let mut good = true;
        while let Some(name) = seq.next_element_seed(Read(AddSource(&mut s)))? {
            good &= matches!(name, Slot::Good(()));
        }
        Ok(if good { Slot::Good(s) } else { Slot::Bad })
    }
}

/// One element of a `SourceList`: a source name, added.
struct AddSource<'a>(&'a mut Sources);

impl Shape for AddSource<'_> {
    type T = ();

    fn string(self, s: &str) -> Slot<()> {
        if self.0.add(s) {
            Slot::Good(())
        } else {
            Slot::Bad
        }
    }
}

/// An object key, copied to the stack: the record's keys are short, a
/// longer one is read as "" (which is none of them either).
struct Key {
    len: usize,
    buf: [u8; Key::MAX],
}

impl Key {
    const MAX: usize = 24;

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Shape for Key {
    type T = Key;

    fn string(mut self, s: &str) -> Slot<Key> {
        if s.len() <= Key::MAX {
            self.buf[..s.len()].copy_from_slice(s.as_bytes());
            self.len = s.len();
        }
        Slot::Good(self)
    }
}

/// The next key of `map`, None at the end.
fn next_key<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<Key>, A::Error> {
    let key = map.next_key_seed(Read(Key {
        len: 0,
        buf: [0; Key::MAX],
    }))?;
    // keys are strings: serde_json gives nothing else
    Ok(key.map(|k| match k {
        Slot::Good(k) => k,
        _ => Key {
            len: 0,
            buf: [0; Key::MAX],
        },
    }))
}

/// The value that goes with the key just read.
fn value<'de, A: MapAccess<'de>, S: Shape>(map: &mut A, shape: S) -> Result<Slot<S::T>, A::Error> {
    map.next_value_seed(Read(shape))
}

/// A time object `{"tai64n": "@...", "unix": ...}`: the label is what
/// counts (exact); `unix` is there for people and simple tools.
struct Time;

impl Shape for Time {
    type T = Tai64n;

    fn object<'de, A: MapAccess<'de>>(self, mut map: A) -> Result<Slot<Tai64n>, A::Error> {
        let mut label = Slot::Absent;
        while let Some(k) = next_key(&mut map)? {
            match k.bytes() {
                b"tai64n" => label = value(&mut map, Label)?,
                _ => {
                    value(&mut map, Skip)?;
                }
            }
        }
        Ok(match label {
            Slot::Good(t) => Slot::Good(t),
            _ => Slot::Bad,
        })
    }
}

/// `last_exit`: the object, judged when it ends.
struct ExitObject;

impl Shape for ExitObject {
    type T = Result<Exit, BadRecord>;

    fn object<'de, A: MapAccess<'de>>(self, mut map: A) -> Result<Slot<Self::T>, A::Error> {
        let (mut pid, mut code, mut signal) = (Slot::Absent, Slot::Absent, Slot::Absent);
        let (mut core_dumped, mut at, mut watchdog) = (Slot::Absent, Slot::Absent, Slot::Absent);
        while let Some(k) = next_key(&mut map)? {
            match k.bytes() {
                b"pid" => pid = value(&mut map, Unsigned)?,
                b"code" => code = value(&mut map, Signed)?,
                b"signal" => signal = value(&mut map, Signed)?,
                b"core_dumped" => core_dumped = value(&mut map, Flag)?,
                b"at" => at = value(&mut map, Time)?,
                b"watchdog" => watchdog = value(&mut map, Flag)?,
                _ => {
                    value(&mut map, Skip)?;
                }
            }
        }
        let exit = || {
            // exactly one of code and signal
            let ending = if code.is_value() && !signal.is_value() {
                Ending::Code(code.required_i32("code")?)
            } else if !code.is_value() && signal.is_value() {
                Ending::Signal(signal.required_i32("signal")?)
            } else {
                return Err(BadRecord("last_exit"));
            };
            Ok(Exit {
                pid: pid.required_u32("pid")?,
                ending,
                core_dumped: core_dumped.required("core_dumped")?,
                at: at.required("at")?,
                watchdog: watchdog.or_default("watchdog")?,
            })
        };
        Ok(Slot::Good(exit()))
    }
}

/// `backoff`.
struct BackoffObject;

impl Shape for BackoffObject {
    type T = Result<Backoff, BadRecord>;

    fn object<'de, A: MapAccess<'de>>(self, mut map: A) -> Result<Slot<Self::T>, A::Error> {
        let (mut max, mut stable, mut delay) = (Slot::Absent, Slot::Absent, Slot::Absent);
        while let Some(k) = next_key(&mut map)? {
            match k.bytes() {
                b"max" => max = value(&mut map, Unsigned)?,
                b"stable" => stable = value(&mut map, Unsigned)?,
                b"delay" => delay = value(&mut map, Unsigned)?,
                _ => {
                    value(&mut map, Skip)?;
                }
            }
        }
        let backoff = || {
            Ok(Backoff {
                max: max.required_u32("max")?,
                stable: stable.required_u32("stable")?,
                delay: delay.required_u32("delay")?,
            })
        };
        Ok(Slot::Good(backoff()))
    }
}

/// `failed` (its `reason` is for people: rebuilt from `finish_code`).
struct FailureObject;

impl Shape for FailureObject {
    type T = Result<Failure, BadRecord>;

    fn object<'de, A: MapAccess<'de>>(self, mut map: A) -> Result<Slot<Self::T>, A::Error> {
        let (mut finish_code, mut at) = (Slot::Absent, Slot::Absent);
        while let Some(k) = next_key(&mut map)? {
            match k.bytes() {
                b"finish_code" => finish_code = value(&mut map, Signed)?,
                b"at" => at = value(&mut map, Time)?,
                _ => {
                    value(&mut map, Skip)?;
                }
            }
        }
        let failure = || {
            Ok(Failure {
                finish_code: finish_code.required_i32("finish_code")?,
                at: at.required("at")?,
            })
        };
        Ok(Slot::Good(failure()))
    }
}

/// The record's fields as read, judged by `Fields::record`.
#[derive(Default)]
struct Fields {
    version: Slot<u64>,
    service: Slot<Vec<u8>>,
    supervise_pid: Slot<u64>,
    state: Slot<State>,
    pid: Slot<u64>,
    finish_pid: Slot<u64>,
    want: Slot<Want>,
    paused: Slot<bool>,
    normally_up: Slot<bool>,
    since: Slot<Tai64n>,
    starts: Slot<u64>,
    starts_since_up: Slot<u64>,
    last_exit: Slot<Result<Exit, BadRecord>>,
    next_start: Slot<Tai64n>,
    backoff: Slot<Result<Backoff, BadRecord>>,
    failed: Slot<Result<Failure, BadRecord>>,
    kill_group: Slot<bool>,
    cgroup: Slot<Vec<u8>>,
    exiting: Slot<bool>,
    ready: Slot<Tai64n>,
    ready_sources: Slot<Sources>,
    ready_pending: Slot<Sources>,
    ready_error: Slot<ReadyError>,
    status_text: Slot<Vec<u8>>,
    main_pid: Slot<u64>,
    reloading: Slot<bool>,
    stopping: Slot<bool>,
    watchdog_usec: Slot<u64>,
    watchdog_timeouts: Slot<u64>,
}

/// The record's object, read into the `Fields` it holds (not moved
/// around: they are large).
struct Top<'a>(&'a mut Fields);

impl Shape for Top<'_> {
    type T = ();

    fn object<'de, A: MapAccess<'de>>(self, mut map: A) -> Result<Slot<()>, A::Error> {
        let f = self.0;
        let m = &mut map;
        while let Some(k) = next_key(m)? {
            match k.bytes() {
                b"version" => f.version = value(m, Unsigned)?,
                b"service" => f.service = value(m, Escaped)?,
                b"supervise_pid" => f.supervise_pid = value(m, Unsigned)?,
                b"state" => f.state = value(m, Name(State::from_name))?,
                b"pid" => f.pid = value(m, Unsigned)?,
                b"finish_pid" => f.finish_pid = value(m, Unsigned)?,
                b"want" => f.want = value(m, Name(want_from_name))?,
                b"paused" => f.paused = value(m, Flag)?,
                b"normally_up" => f.normally_up = value(m, Flag)?,
                b"since" => f.since = value(m, Time)?,
                b"starts" => f.starts = value(m, Unsigned)?,
                b"starts_since_up" => f.starts_since_up = value(m, Unsigned)?,
                b"last_exit" => f.last_exit = value(m, ExitObject)?,
                b"next_start" => f.next_start = value(m, Time)?,
                b"backoff" => f.backoff = value(m, BackoffObject)?,
                b"failed" => f.failed = value(m, FailureObject)?,
                b"kill_group" => f.kill_group = value(m, Flag)?,
                b"cgroup" => f.cgroup = value(m, Escaped)?,
                b"exiting" => f.exiting = value(m, Flag)?,
                b"ready" => f.ready = value(m, Time)?,
                b"ready_sources" => f.ready_sources = value(m, SourceList)?,
                b"ready_pending" => f.ready_pending = value(m, SourceList)?,
                b"ready_error" => f.ready_error = value(m, Name(ReadyError::from_name))?,
                b"status_text" => f.status_text = value(m, Escaped)?,
                b"main_pid" => f.main_pid = value(m, Unsigned)?,
                b"reloading" => f.reloading = value(m, Flag)?,
                b"stopping" => f.stopping = value(m, Flag)?,
                b"watchdog_usec" => f.watchdog_usec = value(m, Unsigned)?,
                b"watchdog_timeouts" => f.watchdog_timeouts = value(m, Unsigned)?,
                _ => {
                    value(m, Skip)?;
                }
            }
        }
        Ok(Slot::Good(()))
    }
}

impl Fields {
    /// The record, or the first field (in this order) that is missing or
    /// malformed.
    fn record(self) -> Result<Record, BadRecord> {
        if self.version.required("version")? != VERSION {
            return Err(BadRecord("version"));
        }
        let last_exit = self.last_exit.optional("last_exit")?.transpose()?;
        let backoff = self.backoff.optional("backoff")?.transpose()?;
        let failed = self.failed.optional("failed")?.transpose()?;
        let next_start = self.next_start.optional("next_start")?;
        let cgroup = self.cgroup.optional("cgroup")?;
        // readiness: absent in records of a supervise before it (defaults)
        let ready = self.ready.optional("ready")?;
        let ready_error = self.ready_error.optional("ready_error")?;
        Ok(Record {
            service: self.service.required("service")?,
            supervise_pid: self.supervise_pid.required_u32("supervise_pid")?,
            state: self.state.required("state")?,
            pid: self.pid.required_u32("pid")?,
            finish_pid: self.finish_pid.required_u32("finish_pid")?,
            want: self.want.required("want")?,
            paused: self.paused.required("paused")?,
            normally_up: self.normally_up.required("normally_up")?,
            since: self.since.required("since")?,
            starts: self.starts.required("starts")?,
            starts_since_up: self.starts_since_up.required("starts_since_up")?,
            last_exit,
            next_start,
            backoff,
            failed,
            kill_group: self.kill_group.required("kill_group")?,
            cgroup,
            exiting: self.exiting.required("exiting")?,
            ready,
            ready_sources: self.ready_sources.or_default("ready_sources")?,
            ready_pending: self.ready_pending.or_default("ready_pending")?,
            ready_error,
            status_text: self.status_text.optional("status_text")?,
            main_pid: u32::try_from(self.main_pid.or_default("main_pid")?)
                .map_err(|_| BadRecord("main_pid"))?,
            reloading: self.reloading.or_default("reloading")?,
            stopping: self.stopping.or_default("stopping")?,
            watchdog_usec: self.watchdog_usec.or_default("watchdog_usec")?,
            watchdog_timeouts: self.watchdog_timeouts.or_default("watchdog_timeouts")?,
        })
    }
}

/// A record that could not be read: the field at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadRecord(pub &'static str);

/// `@` and 24 hex digits.
pub fn parse_label(s: &[u8]) -> Option<Tai64n> {
    let s: &[u8; 25] = s.try_into().ok()?;
    if s[0] != b'@' {
        return None;
    }
    let part = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&s[at..at + 8]);
        hex8(b)
    };
    let secs = u64::from(part(1)?) << 32 | u64::from(part(9)?);
    Some(Tai64n {
        secs,
        nano: part(17)?,
    })
}

/// The number 8 hex digits (either case) write; None if a byte is not
/// one. All 8 at once, a byte of a u64 each (bytes below 0x80, so no
/// carry crosses from one to the next).
fn hex8(b: [u8; 8]) -> Option<u32> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    let x = u64::from_be_bytes(b);
    if x & HIGH != 0 {
        return None;
    }
    // bit 7 of each byte: the byte is in lo..=hi
    let within = |lo: u8, hi: u8| {
        (x + ONES * u64::from(0x80 - lo)) & !(x + ONES * u64::from(0x7f - hi)) & HIGH
    };
    let letters = within(b'a', b'f') | within(b'A', b'F');
    if within(b'0', b'9') | letters != HIGH {
        return None;
    }
    // a nibble per byte, then pairs, quads and all eight side by side
    let v = (x & (ONES * 0x0f)) + (letters >> 7) * 9;
    let v = (v | v >> 4) & 0x00ff_00ff_00ff_00ff;
    let v = (v | v >> 8) & 0x0000_ffff_0000_ffff;
    Some((v | v >> 16) as u32)
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
/// None when there is no file. `buf` grows as needed, to `MAX_LEN + 1`
/// bytes at most (reuse it to read many records without allocating).
/// Opened and read without blocking (a fifo gives `unreadable` or text
/// that does not parse); `too large` past `MAX_LEN`, `unreadable` for read
/// errors (a directory).
pub fn read_text(path: &[u8], buf: &mut Vec<u8>) -> Result<Option<usize>, BadRecord> {
    use nix::errno::Errno;
    /// A first read of one page: records are a few hundred bytes.
    const FIRST: usize = 4096;
    let fd = match crate::fsio::open_read(path) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(_) => return Err(BadRecord("unreadable")),
    };
    if buf.len() < FIRST {
        buf.resize(FIRST, 0);
    }
    // A regular file reads short only at its end: a read that does not
    // fill its buffer has it all.
    let mut len = match crate::fsio::read(&fd, &mut buf[..FIRST]) {
        Ok(n) if n < FIRST => return Ok(Some(n)),
        Ok(n) => n,
        Err(_) => return Err(BadRecord("unreadable")),
    };
    if buf.len() < MAX_LEN + 1 {
        buf.resize(MAX_LEN + 1, 0);
    }
    // the rest, to one byte past the limit (a fifo gives what it has,
    // which then does not parse)
    while len <= MAX_LEN {
        match crate::fsio::read(&fd, &mut buf[len..=MAX_LEN]) {
            Ok(0) | Err(Errno::EAGAIN) => break,
            Ok(n) => len += n,
            Err(_) => return Err(BadRecord("unreadable")),
        }
    }
    if len > MAX_LEN {
        return Err(BadRecord("too large"));
    }
    Ok(Some(len))
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

/// The reader as it was first written, through `serde_json::Value`: the
/// model `Record::parse` must agree with (same records, same errors).
#[cfg(test)]
mod model {
    use super::*;
    use serde_json::{Map, Value};

    /// Parses a record through `Value`.
    pub(super) fn parse(text: &[u8]) -> Result<Record, BadRecord> {
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
                Some(ReadyError::from_name(e.as_bytes()).ok_or(BadRecord("ready_error"))?)
            }
            Some(_) => return Err(BadRecord("ready_error")),
        };
        Ok(Record {
            service: unescape(get_str(o, "service")?).ok_or(BadRecord("service"))?,
            supervise_pid: get_u32(o, "supervise_pid")?,
            state: State::from_name(get_str(o, "state")?.as_bytes()).ok_or(BadRecord("state"))?,
            pid: get_u32(o, "pid")?,
            finish_pid: get_u32(o, "finish_pid")?,
            want: want_from_name(get_str(o, "want")?.as_bytes()).ok_or(BadRecord("want"))?,
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

    fn parse_exit(e: &Map<String, Value>) -> Result<Exit, BadRecord> {
        let ending = match (e.get("code"), e.get("signal")) {
            (Some(c), Some(Value::Null) | None) if !c.is_null() => {
                Ending::Code(get_i32(e, "code")?)
            }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

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

    // ---- the reader against the model (the reader through `Value`) ----

    fn any_time() -> impl Strategy<Value = Tai64n> {
        (-1_000_000i64..4_000_000_000, 0u32..1_000_000).prop_map(|(s, us)| t(s, us))
    }

    fn any_sources() -> impl Strategy<Value = Sources> {
        any::<(bool, bool, bool)>().prop_map(|(notification_fd, notify_socket, check)| Sources {
            notification_fd,
            notify_socket,
            check,
        })
    }

    fn any_exit() -> impl Strategy<Value = Exit> {
        (
            any::<u32>(),
            any::<i32>(),
            any::<bool>(),
            any::<bool>(),
            any_time(),
            any::<bool>(),
        )
            .prop_map(|(pid, n, signalled, core_dumped, at, watchdog)| Exit {
                pid,
                ending: if signalled {
                    Ending::Signal(n)
                } else {
                    Ending::Code(n)
                },
                core_dumped,
                at,
                watchdog,
            })
    }

    /// Any record the writer can be given.
    fn any_record() -> impl Strategy<Value = Record> {
        use proptest::collection::vec;
        use proptest::option::of;
        use proptest::sample::select;
        let head = (
            vec(any::<u8>(), 0..24),
            any::<u32>(),
            select(vec![
                State::Up,
                State::Down,
                State::Finishing,
                State::Waiting,
            ]),
            any::<u32>(),
            any::<u32>(),
            select(vec![Want::Up, Want::Down, Want::Once]),
            any::<(bool, bool, bool, bool)>(),
            any_time(),
            any::<u64>(),
            any::<u64>(),
        );
        let middle = (
            of(any_exit()),
            of(any_time()),
            of(any::<(u32, u32, u32)>()),
            of((any::<i32>(), any_time())),
            of(vec(any::<u8>(), 0..24)),
        );
        let readiness = (
            of(any_time()),
            any_sources(),
            any_sources(),
            of(select(vec![ReadyError::CheckTimeout, ReadyError::FdClosed])),
            of(vec(any::<u8>(), 0..24)),
            any::<u32>(),
            any::<(bool, bool)>(),
            any::<u64>(),
            any::<u64>(),
        );
        (head, middle, readiness).prop_map(|(h, m, r)| Record {
            service: h.0,
            supervise_pid: h.1,
            state: h.2,
            pid: h.3,
            finish_pid: h.4,
            want: h.5,
            paused: h.6.0,
            normally_up: h.6.1,
            since: h.7,
            starts: h.8,
            starts_since_up: h.9,
            last_exit: m.0,
            next_start: m.1,
            backoff: m
                .2
                .map(|(max, stable, delay)| Backoff { max, stable, delay }),
            failed: m.3.map(|(finish_code, at)| Failure { finish_code, at }),
            kill_group: h.6.2,
            cgroup: m.4,
            exiting: h.6.3,
            ready: r.0,
            ready_sources: r.1,
            ready_pending: r.2,
            ready_error: r.3,
            status_text: r.4,
            main_pid: r.5,
            reloading: r.6.0,
            stopping: r.6.1,
            watchdog_usec: r.7,
            watchdog_timeouts: r.8,
        })
    }

    /// Values of another kind, numbers at the edges, JSON the reader must
    /// still refuse.
    const TOKENS: &[&str] = &[
        "null",
        "true",
        "0",
        "-0",
        "-1",
        "1.0",
        "1e2",
        "1e999",
        "4294967296",
        "2147483648",
        "9223372036854775808",
        "18446744073709551616",
        "\"\"",
        "\"%\"",
        "\"%4\"",
        "\"up\"",
        "\"check\"",
        "\"fd-closed\"",
        "\"@400000006553f10a075bcbf4\"",
        "\"\\u0041\"",
        "\"\\ud800\"",
        "\"\\u00ff\\\"\"",
        "[]",
        "[\"check\",\"check\"]",
        "[null]",
        "{}",
        "{\"tai64n\":\"@400000006553f10a075bcbf4\",\"unix\":{}}",
        "\"version\":1,",
        "\"st\\u0061te\":\"down\",",
        ",",
        " ",
    ];

    /// One change to a record's text.
    #[derive(Debug, Clone)]
    enum Damage {
        /// Cut the text at this point.
        Truncate(proptest::sample::Index),
        /// Replace a byte.
        Byte(proptest::sample::Index, u8),
        /// Replace up to N bytes (none: insert) with a token.
        Splice(proptest::sample::Index, usize, &'static str),
        /// Replace what follows the Nth colon up to the next comma or
        /// brace (a field's value, mostly) with a token.
        Value(proptest::sample::Index, &'static str),
        /// Remove a `,"key":value` (from one comma to the next).
        Drop(proptest::sample::Index),
        /// Copy a field of another record's text to the start or the end of
        /// this one's object: a key given twice.
        Twice(proptest::sample::Index, bool),
    }

    fn any_damage() -> impl Strategy<Value = Damage> {
        use proptest::sample::{Index, select};
        let byte = prop_oneof![
            any::<u8>(),
            select(b"{}[]\":,-.0123456789eEtfnul\\ \xff".to_vec())
        ];
        prop_oneof![
            any::<Index>().prop_map(Damage::Truncate),
            (any::<Index>(), byte).prop_map(|(i, b)| Damage::Byte(i, b)),
            (any::<Index>(), 0usize..6, select(TOKENS))
                .prop_map(|(i, n, s)| Damage::Splice(i, n, s)),
            (any::<Index>(), select(TOKENS)).prop_map(|(i, s)| Damage::Value(i, s)),
            any::<Index>().prop_map(Damage::Drop),
            (any::<Index>(), any::<bool>()).prop_map(|(i, end)| Damage::Twice(i, end)),
        ]
    }

    /// The positions of `c` in `text`.
    fn places(text: &[u8], c: u8) -> Vec<usize> {
        text.iter()
            .enumerate()
            .filter(|&(_, &b)| b == c)
            .map(|(i, _)| i)
            .collect()
    }

    /// `text` with `damage` done; `other` is another record's text. A
    /// change with no place to go (no colon left, ...) leaves it as it is.
    fn damaged(mut text: Vec<u8>, damage: &Damage, other: &[u8]) -> Vec<u8> {
        let colons = places(&text, b':');
        let commas = places(&text, b',');
        match damage {
            Damage::Truncate(i) => text.truncate(i.index(text.len() + 1)),
            Damage::Byte(i, b) if !text.is_empty() => {
                let i = i.index(text.len());
                text[i] = *b;
            }
            Damage::Splice(i, n, s) => {
                let at = i.index(text.len() + 1);
                let end = (at + n).min(text.len());
                text.splice(at..end, s.bytes());
            }
            Damage::Value(i, s) if !colons.is_empty() => {
                let at = colons[i.index(colons.len())] + 1;
                let len = text[at..].iter().position(|b| b",}".contains(b));
                text.splice(at..at + len.unwrap_or(text.len() - at), s.bytes());
            }
            Damage::Drop(i) if !commas.is_empty() => {
                let at = commas[i.index(commas.len())];
                let len = text[at + 1..].iter().position(|&b| b == b',');
                text.drain(at..at + 1 + len.unwrap_or(0));
            }
            Damage::Twice(i, end) => {
                let theirs = places(other, b',');
                let k = i.index(theirs.len() - 1);
                let field = &other[theirs[k] + 1..theirs[k + 1]];
                match text.iter().rposition(|&b| b == b'}') {
                    Some(close) if *end => {
                        text.splice(close..close, [b",", field].concat());
                    }
                    _ if !text.is_empty() => {
                        text.splice(1..1, [field, b","].concat());
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        text
    }

    proptest! {
        // cheap cases (200,000 take seconds); most damaged texts are not
        // JSON, about one in nine still reads, and every field's error
        // comes up
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn the_reader_agrees_with_the_model_on_written_records(r in any_record()) {
            let text = json(&r);
            prop_assert_eq!(model::parse(&text), Ok(r.clone()));
            prop_assert_eq!(Record::parse(&text), Ok(r));
        }

        #[test]
        fn the_reader_agrees_with_the_model_on_damaged_records(
            r in any_record(),
            other in any_record(),
            damage in proptest::collection::vec(any_damage(), 1..4),
        ) {
            let other = json(&other);
            let mut text = json(&r);
            for d in &damage {
                text = damaged(text, d, &other);
            }
            prop_assert_eq!(Record::parse(&text), model::parse(&text), "text: {}", String::from_utf8_lossy(&text));
        }

        #[test]
        fn the_fast_path_reads_every_written_record_as_the_model(r in any_record()) {
            let text = json(&r);
            prop_assert_eq!(fast::parse(&text).map(Ok), Some(model::parse(&text)));
        }

        #[test]
        fn the_fast_path_reads_damaged_records_as_the_model_or_not_at_all(
            r in any_record(),
            other in any_record(),
            damage in proptest::collection::vec(any_damage(), 1..4),
        ) {
            let other = json(&other);
            let mut text = json(&r);
            for d in &damage {
                text = damaged(text, d, &other);
            }
            // what it takes is UTF-8 (Record::parse checks no more)
            if let Some(fast) = fast::parse(&text) {
                prop_assert!(std::str::from_utf8(&text).is_ok(), "text: {}", String::from_utf8_lossy(&text));
                prop_assert_eq!(Ok(fast), model::parse(&text), "text: {}", String::from_utf8_lossy(&text));
            }
        }
    }

    #[test]
    fn the_fast_path_takes_the_writers_forms_and_nothing_else() {
        for r in [sample(), ready_sample()] {
            let good = String::from_utf8(json(&r)).unwrap();
            assert_eq!(fast::parse(good.as_bytes()), Some(r.clone()));
            // valid records in another layout: left to serde_json, same result
            for other in [
                good.replace(",\"", ", \""),
                good.trim_end().to_string(),
                format!("{good} "),
                good.replace("\"starts\":7", "\"starts\":7.0"),
                good.replacen("{", "{\"x\":1,", 1),
                good.replace("\"want\"", "\"w\\u0061nt\""),
            ] {
                assert_eq!(fast::parse(other.as_bytes()), None, "{other}");
                assert_eq!(
                    Record::parse(other.as_bytes()),
                    model::parse(other.as_bytes()),
                    "{other}"
                );
            }
        }
        // the escape's %HH and JSON's \" and \\ undone
        let mut r = sample();
        r.service = b"a%\"\\\x7f\xff\n\xc3\xa9".to_vec();
        let text = json(&r);
        assert_eq!(fast::parse(&text), Some(r.clone()));
        // a string that is not UTF-8, before or after an escape, in a name
        // or in the escaped bytes: left to serde_json, which refuses it
        let escaped = String::from_utf8(text).unwrap();
        let plain = String::from_utf8(json(&sample())).unwrap();
        for (good, from, to) in [
            (&escaped, "\u{e9}", &b"\xc3"[..]),
            (&escaped, "a%25", b"\xff"),
            (&escaped, "\u{e9}", b"\xe9"),
            (&plain, "web/log", b"web\xfflog"),
            (&plain, "\"waiting\"", b"\"w\xffiting\""),
        ] {
            let bad = good.replacen(from, "@", 1).into_bytes();
            let at = bad.iter().position(|&c| c == b'@').unwrap();
            let bad = [&bad[..at], to, &bad[at + 1..]].concat();
            assert!(std::str::from_utf8(&bad).is_err());
            assert_eq!(fast::parse(&bad), None, "{}", String::from_utf8_lossy(&bad));
            assert_eq!(Record::parse(&bad), Err(BadRecord("not JSON")));
        }
        // the same bytes escaped: read
        r.service = b"\xff\"\xc3".to_vec();
        assert_eq!(fast::parse(&json(&r)), Some(r.clone()));
        // 20 digits: the largest counter read, one more left to serde_json
        r.starts = u64::MAX;
        let max = String::from_utf8(json(&r)).unwrap();
        assert_eq!(fast::parse(max.as_bytes()), Some(r));
        for over in [
            "18446744073709551616",
            "99999999999999999999",
            "184467440737095516150",
        ] {
            let text = max.replace("18446744073709551615", over);
            assert_eq!(fast::parse(text.as_bytes()), None, "{over}");
            assert_eq!(
                Record::parse(text.as_bytes()),
                model::parse(text.as_bytes())
            );
        }
    }

    #[test]
    fn the_reader_agrees_with_the_model_at_the_edges() {
        let check = |text: &[u8], want: &Result<Record, BadRecord>| {
            let shown = String::from_utf8_lossy(text);
            assert_eq!(&model::parse(text), want, "model, {shown}");
            assert_eq!(&Record::parse(text), want, "{shown}");
        };
        let good = String::from_utf8(json(&sample())).unwrap();
        let body = &good[1..good.len() - 2]; // without the braces and newline
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let mut down = sample();
        down.state = State::Down;
        let not_json = Err(BadRecord("not JSON"));
        for (text, want) in [
            // what serde_json refuses inside a field nobody reads
            (format!("{{\"x\":{deep},{body}}}"), &not_json),
            (format!("{{\"x\":\"\u{1}\",{body}}}"), &not_json),
            (format!("{{\"x\":\"\\ud800\",{body}}}"), &not_json),
            (format!("{{{body}}} x"), &not_json),
            (format!("{{{body},}}"), &not_json),
            // what it takes
            (
                format!("{{\"x\":[[{{\"y\":1e300}}]],{body}}}\n \t"),
                &Ok(sample()),
            ),
            (
                format!("{{\"{}\":1,{body}}}", "k".repeat(100)),
                &Ok(sample()),
            ),
            // escaped keys are the same keys; a key given twice counts
            // the last time
            (format!("{{{body},\"st\\u0061te\":\"down\"}}"), &Ok(down)),
            (format!("{{\"state\":\"down\",{body}}}"), &Ok(sample())),
            (format!("{{{body},\"state\":7}}"), &Err(BadRecord("state"))),
            (
                format!("{{{body},\"version\":2}}"),
                &Err(BadRecord("version")),
            ),
            ("null".to_string(), &Err(BadRecord("not an object"))),
            ("[1,{}]".to_string(), &Err(BadRecord("not an object"))),
            ("[1,".to_string(), &not_json),
            ("{}".to_string(), &Err(BadRecord("version"))),
        ] {
            check(text.as_bytes(), want);
        }
        for (from, to, want) in [
            (
                "\"unix\":1700000000.123456",
                "\"unix\":1e999",
                Err("not JSON"),
            ),
            // -0 and 1.0 are not integers (serde_json reads them as floats)
            ("\"pid\":0", "\"pid\":-0", Err("pid")),
            ("\"pid\":0", "\"pid\":0.0", Err("pid")),
            // the first field at fault in the order of the checks
            (
                "\"version\":1",
                "\"version\":null,\"pid\":-1",
                Err("version"),
            ),
            ("\"signal\":11", "\"signal\":null", Err("last_exit")),
            ("\"code\":null", "\"code\":[]", Err("last_exit")),
            ("\"code\":null,\"signal\":11", "\"code\":1.5", Err("code")),
            ("\"signal\":11", "\"signal\":4294967296", Err("signal")),
            ("\"max\":60", "\"max\":-60", Err("max")),
            ("\"cgroup\":\"", "\"cgroup\":\"%", Err("cgroup")),
            (
                "\"ready_pending\":[]",
                "\"ready_pending\":null",
                Err("ready_pending"),
            ),
            (
                "\"watchdog_usec\":0",
                "\"watchdog_usec\":null",
                Err("watchdog_usec"),
            ),
            ("\"since\":{", "\"since\":{\"tai64n\":1,", Ok(())),
            (
                "\"since\":{\"tai64n\"",
                "\"since\":{\"unix\":1,\"x\"",
                Err("since"),
            ),
        ] {
            let want = want.map(|()| sample()).map_err(BadRecord);
            check(good.replacen(from, to, 1).as_bytes(), &want);
        }
        // bytes that are not UTF-8, in a string nobody reads
        let mut text = format!("{{\"x\":\"?\",{body}}}").into_bytes();
        text[6] = 0xff;
        check(&text, &not_json);
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
            assert_eq!(ReadyError::from_name(e.name().as_bytes()), Some(e));
        }
    }

    #[test]
    fn labels() {
        let l = t(1_000_000_000, 123_456);
        assert_eq!(parse_label(&l.fmt()), Some(l));
        assert_eq!(parse_label(b"@400000003b9aca0a075bcbfg"), None);
        assert_eq!(parse_label(b"400000003b9aca0a075bcbf4"), None);
        // every byte in every place: read as its hex digit, or refused
        let good = *b"@0123456789abcdefABCDEF01";
        for at in 1..25 {
            for b in 0..=255u8 {
                let mut s = good;
                s[at] = b;
                let got = parse_label(&s);
                match (b as char).to_digit(16) {
                    Some(d) => {
                        let mut want = parse_label(&good).unwrap();
                        let shift = 4 * (if at < 17 { 16 - at } else { 24 - at });
                        let old = (good[at] as char).to_digit(16).unwrap();
                        if at < 17 {
                            want.secs =
                                want.secs - (u64::from(old) << shift) + (u64::from(d) << shift);
                        } else {
                            want.nano = want.nano - (old << shift) + (d << shift);
                        }
                        assert_eq!(got, Some(want), "{at} {b}");
                    }
                    None => assert_eq!(got, None, "{at} {b}"),
                }
            }
        }
        assert_eq!(seconds_between(t(10, 0), t(14, 0)), 4);
        assert_eq!(seconds_between(t(14, 0), t(10, 0)), 0);
    }

    proptest! {
        /// `parse_label` as a pair of hex digits per byte of the packed
        /// stamp: every digit in either case, any byte anywhere refused.
        #[test]
        fn labels_read_as_bytes_of_the_packed_stamp(
            digits in proptest::collection::vec(
                proptest::sample::select(b"0123456789abcdefABCDEF".to_vec()), 24),
            bad in proptest::option::of((0usize..25, any::<u8>())),
        ) {
            let mut s = [&b"@"[..], &digits].concat();
            if let Some((at, b)) = bad {
                s[at] = b;
            }
            let model = (s[0] == b'@' && s[1..].iter().all(u8::is_ascii_hexdigit)).then(|| {
                let mut b = [0u8; 12];
                for (i, out) in b.iter_mut().enumerate() {
                    let pair = std::str::from_utf8(&s[1 + 2 * i..3 + 2 * i]).unwrap();
                    *out = u8::from_str_radix(pair, 16).unwrap();
                }
                Tai64n::unpack(&b)
            });
            prop_assert_eq!(parse_label(&s), model);
            prop_assert_eq!(parse_label(&s[..24]), None);
        }
    }

    #[test]
    fn record_texts_read_whole_up_to_the_limit() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name).as_os_str().as_bytes().to_vec();
        let mut buf = Vec::new();
        for len in [
            0,
            1,
            534,
            4095,
            4096,
            4097,
            10_000,
            MAX_LEN,
            MAX_LEN + 1,
            200_000,
        ] {
            let text: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            std::fs::write(dir.path().join("f"), &text).unwrap();
            let got = read_text(&path("f"), &mut buf);
            if len > MAX_LEN {
                assert_eq!(got, Err(BadRecord("too large")), "{len}");
            } else {
                assert_eq!(got, Ok(Some(len)), "{len}");
                assert_eq!(buf[..len], text[..], "{len}");
            }
            assert!(buf.len() <= MAX_LEN + 1);
        }
        assert_eq!(read_text(&path("none"), &mut buf), Ok(None));
        std::fs::create_dir(dir.path().join("d")).unwrap();
        assert_eq!(
            read_text(&path("d"), &mut buf),
            Err(BadRecord("unreadable"))
        );
        // a fifo without a writer: nothing, at once
        nix::unistd::mkfifo(
            path("p").as_slice(),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        assert_eq!(read_text(&path("p"), &mut buf), Ok(Some(0)));
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
