//! The Prometheus text exposition format (version 0.0.4) of services read
//! by `monitor`: `svstat --prometheus` prints it, svmetrics serves it.
//!
//! Every family has one HELP and one TYPE line before its samples, and all
//! samples of a family are together. No sample carries a timestamp (the
//! node_exporter textfile collector rejects a whole file for one). Label
//! values are the service names through `record::escape` (valid UTF-8 kept;
//! `%`, control characters and bytes that are not UTF-8 become `%HH`) and
//! then the format's quoting of `\` and `"`: both steps are reversible, so
//! two services never share a series, and the text is always valid UTF-8
//! without newlines.

use std::hash::Hasher;
use std::rc::Rc;

use crate::monitor::{FastMap, FxHasher, LogSizes, Observed, View};
use crate::record::{Ending, escape};
use crate::status::Want;
use crate::tai64::{self, Tai64n};

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A sample's value.
enum Num {
    Int(i64),
    /// Unix seconds with milliseconds.
    Time(Tai64n),
}

impl From<bool> for Num {
    fn from(b: bool) -> Num {
        Num::Int(i64::from(b))
    }
}

impl From<u64> for Num {
    fn from(n: u64) -> Num {
        Num::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<i32> for Num {
    fn from(n: i32) -> Num {
        Num::Int(i64::from(n))
    }
}

/// A family of samples, one per supervised directory.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    value: fn(&View) -> Option<Num>,
}

/// The per-directory families (services and their loggers alike).
const SERVICE_FAMILIES: &[Family] = &[
    Family {
        name: "daemontools_service_up",
        kind: "gauge",
        help: "Whether ./run runs under a live supervise (1) or not (0).",
        value: |v| Some(v.up().into()),
    },
    Family {
        name: "daemontools_service_ready",
        kind: "gauge",
        help: "Whether the service is up and ready (up, for one without readiness source).",
        value: |v| v.ready().map(Num::from),
    },
    Family {
        name: "daemontools_service_want_up",
        kind: "gauge",
        help: "Whether supervise wants the service up (0 for down and for once).",
        value: |v| v.want().map(|w| (w == Want::Up).into()),
    },
    Family {
        name: "daemontools_service_normally_up",
        kind: "gauge",
        help: "Whether the service directory has no down file.",
        value: |v| v.normally_up.map(Num::from),
    },
    Family {
        name: "daemontools_service_paused",
        kind: "gauge",
        help: "Whether the service is paused (svc -p).",
        value: |v| v.paused().map(Num::from),
    },
    Family {
        name: "daemontools_service_state_change_timestamp_seconds",
        kind: "gauge",
        help: "Unix time when ./run last started or ended.",
        value: |v| v.since().map(Num::Time),
    },
    Family {
        name: "daemontools_service_starts_total",
        kind: "counter",
        help: "Starts of ./run since supervise began.",
        value: |v| v.starts().map(Num::from),
    },
    Family {
        name: "daemontools_service_last_exit_code",
        kind: "gauge",
        help: "Exit code of the last ./run that exited (absent after a signal).",
        value: |v| match v.last_exit()?.ending {
            Ending::Code(c) => Some(c.into()),
            Ending::Signal(_) => None,
        },
    },
    Family {
        name: "daemontools_service_last_exit_signal",
        kind: "gauge",
        help: "Signal number that ended the last ./run, 0 if it exited.",
        value: |v| match v.last_exit()?.ending {
            Ending::Code(_) => Some(0.into()),
            Ending::Signal(s) => Some(s.into()),
        },
    },
    Family {
        name: "daemontools_supervise_running",
        kind: "gauge",
        help: "Whether a supervise runs on the directory (svok).",
        value: |v| Some(v.supervise_running.into()),
    },
    Family {
        name: "daemontools_service_status_readable",
        kind: "gauge",
        help: "Whether the status files of a live supervise were read without a problem.",
        value: |v| Some(v.error.is_none().into()),
    },
];

/// A family of the log directories.
struct LogFamily {
    name: &'static str,
    help: &'static str,
    value: fn(&LogSizes) -> u64,
}

const LOG_FAMILIES: &[LogFamily] = &[
    LogFamily {
        name: "daemontools_log_current_bytes",
        help: "Size of the log directory's current file.",
        value: |s| s.current_bytes,
    },
    LogFamily {
        name: "daemontools_log_rotated_files",
        help: "Number of rotated files in the log directory.",
        value: |s| s.rotated_files,
    },
    LogFamily {
        name: "daemontools_log_rotated_bytes",
        help: "Total size of the rotated files in the log directory.",
        value: |s| s.rotated_bytes,
    },
];

/// A name that is its own label value: printable ASCII other than `%`,
/// `\` and `"` (most service names).
fn plain(name: &[u8]) -> bool {
    name.iter().all(|&c| PLAIN[usize::from(c)])
}

/// The bytes `plain` allows.
const PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = b' ';
    while c < 0x7f {
        t[c as usize] = !matches!(c, b'%' | b'\\' | b'"');
        c += 1;
    }
    t
};

/// A label value, quoted: `"` + the escaped name + `"`.
pub fn label_value(name: &[u8], out: &mut String) {
    if plain(name)
        && let Ok(name) = std::str::from_utf8(name)
    {
        out.push('"');
        out.push_str(name);
        out.push('"');
        return;
    }
    let mut text = String::with_capacity(name.len());
    escape(name, &mut text);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            // escape() leaves no control character; kept for the format's sake
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// What every sample line of a directory has between the family's name
/// and the value: `{service=LABEL} `.
fn labels_of(name: &[u8], out: &mut String) {
    out.push_str("{service=");
    label_value(name, out);
    out.push_str("} ");
}

/// `labels_of` as bytes (valid UTF-8 all the same), a plain name without
/// a pass to prove it.
fn labels_into(name: &[u8], out: &mut Vec<u8>) {
    if plain(name) {
        out.reserve(name.len() + 13);
        out.extend_from_slice(b"{service=\"");
        out.extend_from_slice(name);
        out.extend_from_slice(b"\"} ");
    } else {
        let mut text = String::new();
        labels_of(name, &mut text);
        out.extend_from_slice(text.as_bytes());
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    for part in [
        "# HELP ",
        name,
        " ",
        help,
        "\n# TYPE ",
        name,
        " ",
        kind,
        "\n",
    ] {
        out.push_str(part);
    }
}

/// Number of per-directory families: the service families, then the log
/// directory families.
const PARTS: usize = SERVICE_FAMILIES.len() + LOG_FAMILIES.len();

/// The one family whose value is a time (seconds with milliseconds).
const TIME_FAMILY: usize = 5;
const _: () = assert!(SERVICE_FAMILIES.len() > TIME_FAMILY);

/// No sample of that family (no value the families give is this low).
const ABSENT: i64 = i64::MIN;

/// The values of one directory's samples, family by family: what its lines
/// say, in a few bytes (a scrape keeps one per directory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Samples {
    /// Per family: the integer, or for `TIME_FAMILY` the Unix seconds;
    /// `ABSENT` for none.
    values: [i64; PARTS],
    /// The milliseconds of `TIME_FAMILY`'s value.
    ms: u16,
}

impl Samples {
    fn of(view: &View, sizes: Option<&LogSizes>) -> Samples {
        let mut s = Samples {
            values: [ABSENT; PARTS],
            ms: 0,
        };
        s.fill(view, sizes);
        s
    }

    /// The values of `view`, family by family, in place.
    #[inline(always)]
    fn fill(&mut self, view: &View, sizes: Option<&LogSizes>) {
        for (i, f) in SERVICE_FAMILIES.iter().enumerate() {
            self.values[i] = match (f.value)(view) {
                None => ABSENT,
                Some(Num::Int(n)) => n,
                Some(Num::Time(t)) => {
                    self.ms = (t.nano / 1_000_000).min(999) as u16;
                    tai64::label_to_unix(t.secs)
                }
            };
        }
        if let Some(sizes) = sizes {
            for (i, f) in LOG_FAMILIES.iter().enumerate() {
                let n = (f.value)(sizes);
                self.values[SERVICE_FAMILIES.len() + i] = i64::try_from(n).unwrap_or(i64::MAX);
            }
        }
    }

    /// The sample line of family `i`, if there is one: `NAME` + `labels`
    /// (see `labels_of`) + the value + newline.
    fn line(&self, i: usize, name: &str, labels: &str, out: &mut String) {
        let n = self.values[i];
        if n == ABSENT {
            return;
        }
        out.reserve(name.len() + labels.len() + 32);
        out.push_str(name);
        out.push_str(labels);
        push_int(out, n);
        if i == TIME_FAMILY {
            out.extend(millis(self.ms).map(char::from));
        }
        out.push('\n');
    }
}

/// `.` and the three digits of `ms` milliseconds (at most 999).
#[inline]
fn millis(ms: u16) -> [u8; 4] {
    let digit = |d: u16| b'0' + (d % 10) as u8;
    [b'.', digit(ms / 100), digit(ms / 10), digit(ms)]
}

/// `n` in decimal.
#[inline]
fn push_int(out: &mut String, n: i64) {
    if (0..10).contains(&n) {
        out.push(char::from(b'0' + n as u8));
    } else {
        out.push_str(itoa::Buffer::new().format(n));
    }
}

/// The families' names, kinds and help texts, in the order of `Samples`.
fn families() -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
    SERVICE_FAMILIES
        .iter()
        .map(|f| (f.name, f.kind, f.help))
        .chain(LOG_FAMILIES.iter().map(|f| (f.name, "gauge", f.help)))
}

/// The lines after the families: the number of directories and of those up.
fn totals(out: &mut String, services: usize, up: usize) {
    header(
        out,
        "daemontools_services",
        "gauge",
        "Supervised directories reported (services and their loggers).",
    );
    out.push_str("daemontools_services ");
    push_int(out, i64::try_from(services).unwrap_or(i64::MAX));
    out.push('\n');
    header(
        out,
        "daemontools_services_up",
        "gauge",
        "Supervised directories reported whose ./run is up.",
    );
    out.push_str("daemontools_services_up ");
    push_int(out, i64::try_from(up).unwrap_or(i64::MAX));
    out.push('\n');
}

/// The exposition of one scrape, made in one pass (`svstat --prometheus`):
/// directories are added one by one as they are read, each kept as its
/// label and its `Samples` (so nothing of a `View` needs to be kept), and
/// the text is made at the end, family by family, in pieces of bounded
/// size. A name seen before (`svstat --prometheus x x`, or `x/log` given
/// besides `x`) is left out, so no series appears twice.
pub struct Exposition {
    /// The `labels_of` of every row, one after another (valid UTF-8).
    labels: Vec<u8>,
    rows: Vec<Row>,
    /// The rows by the hash of their labels.
    seen: Seen,
    /// The hash of labels (`fx_hash`; the tests make every label collide).
    hash: fn(&[u8]) -> u64,
    up: usize,
}

/// FxHash of the 8-byte words of `bytes`, the last one read where it
/// ends (overlapping the one before: labels are at least 13 bytes long),
/// and of the length.
fn fx_hash(bytes: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    let (words, _) = bytes.as_chunks::<8>();
    for w in words {
        h.write_u64(u64::from_le_bytes(*w));
    }
    if let Some(last) = bytes.last_chunk::<8>() {
        h.write_u64(u64::from_le_bytes(*last));
    } else {
        h.write(bytes);
    }
    h.write_usize(bytes.len());
    h.finish()
}

struct Row {
    /// End of its labels in `labels` (they start where the last row's end).
    end: usize,
    /// The hash of its labels.
    hash: u64,
    samples: Samples,
}

/// The rows of an `Exposition` by the hash of their labels: a table with
/// open addressing (linear probing), kept at most half full, of row
/// numbers (+1: 0 is an empty slot).
struct Seen {
    slots: Vec<u32>,
    used: usize,
}

impl Seen {
    fn with_capacity(rows: usize) -> Seen {
        Seen {
            slots: vec![0; (rows * 2).next_power_of_two().max(16)],
            used: 0,
        }
    }

    /// The row among `rows` with `hash` for which `same` says yes, if
    /// any; else `row` (whose hash is `hash`) is entered (and None
    /// returned).
    #[inline]
    fn find_or_add(
        &mut self,
        rows: &[Row],
        hash: u64,
        row: u32,
        same: impl Fn(u32) -> bool,
    ) -> Option<u32> {
        if (self.used + 1) * 2 > self.slots.len() {
            self.grow(rows);
        }
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            match self.slots[i] {
                0 => {
                    self.slots[i] = row + 1;
                    self.used += 1;
                    return None;
                }
                r if rows[r as usize - 1].hash == hash && same(r - 1) => return Some(r - 1),
                _ => i = (i + 1) & mask,
            }
        }
    }

    #[cold]
    fn grow(&mut self, rows: &[Row]) {
        let size = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, vec![0; size]);
        let mask = self.slots.len() - 1;
        for r in old.into_iter().filter(|&r| r != 0) {
            let mut i = rows[r as usize - 1].hash as usize & mask;
            while self.slots[i] != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = r;
        }
    }
}

/// How many bytes of text `Exposition::write` makes before it hands them
/// on. (With `SLACK`, its buffer is over the C library's threshold for
/// mapping an allocation: the pages come zeroed from the kernel, none of
/// them cleared by hand.)
pub const PIECE: usize = 128 * 1024;

/// Room for a family's name in `PADDED_NAMES`.
const NAME_ROOM: usize = 64;

/// The families' names, each in `NAME_ROOM` bytes (zeros after it), in
/// the order of `Samples`: a sample line's name is copied as one block of
/// constant size (a few moves, no call to memcpy), then the end of the
/// text moved back to the end of the name.
const PADDED_NAMES: [[u8; NAME_ROOM]; PARTS] = {
    let mut t = [[0u8; NAME_ROOM]; PARTS];
    let mut i = 0;
    while i < PARTS {
        let name = if i < SERVICE_FAMILIES.len() {
            SERVICE_FAMILIES[i].name
        } else {
            LOG_FAMILIES[i - SERVICE_FAMILIES.len()].name
        }
        .as_bytes();
        assert!(name.len() <= NAME_ROOM);
        let mut j = 0;
        while j < name.len() {
            t[i][j] = name[j];
            j += 1;
        }
        i += 1;
    }
    t
};

/// Labels up to this long are copied as one block of this size (from the
/// arena of all labels: what follows a label there is overwritten next).
const LABEL_BLOCK: usize = 32;

/// The text being made by `Exposition::write`: a buffer `PIECE` + `SLACK`
/// long (longer only for a line with a long label), filled to `pos`. A
/// line begun before `PIECE` fits in it with its blocks whole.
struct Lines {
    buf: Vec<u8>,
    pos: usize,
}

const SLACK: usize = NAME_ROOM + LABEL_BLOCK + 64;

impl Lines {
    fn new() -> Lines {
        Lines {
            buf: vec![0; PIECE + SLACK],
            pos: 0,
        }
    }

    fn filled(&self) -> &[u8] {
        &self.buf[..self.pos]
    }

    /// Appends `b`.
    fn bytes(&mut self, b: &[u8]) {
        let end = self.pos + b.len();
        if end > self.buf.len() {
            self.buf.resize(end, 0);
        }
        self.buf[self.pos..end].copy_from_slice(b);
        self.pos = end;
    }

    /// A sample line: the name (padded, and its length), the labels at
    /// `at` in `labels`, the value `n` (with `.` and the milliseconds
    /// `ms`), a newline. Made in a block of `LINE` bytes at once when it
    /// fits there (the name and the labels copied as blocks of constant
    /// size, every offset provably inside it: no call and few checks).
    #[inline(always)]
    fn sample(
        &mut self,
        (name, name_len): (&[u8; NAME_ROOM], usize),
        labels: &[u8],
        at: std::ops::Range<usize>,
        n: i64,
        ms: Option<u16>,
    ) {
        let label_len = at.len();
        let block = labels
            .get(at.start..)
            .and_then(|l| l.first_chunk::<LABEL_BLOCK>());
        let line = self
            .buf
            .get_mut(self.pos..)
            .and_then(|b| b.first_chunk_mut::<LINE>());
        let (Some(label), Some(line), true) = (block, line, label_len <= LABEL_BLOCK) else {
            return self.sample_slowly(&name[..name_len], &labels[at], n, ms);
        };
        line[..NAME_ROOM].copy_from_slice(name);
        let end = name_len.min(NAME_ROOM);
        line[end..end + LABEL_BLOCK].copy_from_slice(label);
        let mut end = end + label_len;
        if (0..10).contains(&n) {
            line[end] = b'0' + n as u8;
            end += 1;
        } else {
            end += decimal(
                n,
                (&mut line[end..end + 20])
                    .try_into()
                    .unwrap_or(&mut [0; 20]),
            );
        }
        if let Some(ms) = ms {
            line[end..end + 4].copy_from_slice(&millis(ms));
            end += 4;
        }
        line[end] = b'\n';
        self.pos += end + 1;
    }

    /// `sample` piece by piece (a long label, or the end of the buffer).
    #[cold]
    fn sample_slowly(&mut self, name: &[u8], labels: &[u8], n: i64, ms: Option<u16>) {
        self.bytes(name);
        self.bytes(labels);
        self.bytes(itoa::Buffer::new().format(n).as_bytes());
        if let Some(ms) = ms {
            self.bytes(&millis(ms));
        }
        self.bytes(b"\n");
    }
}

/// A sample line's most bytes in `Lines::sample`'s block: the name's and
/// the labels' blocks, a value of 20 characters, `.mmm` and the newline.
const LINE: usize = NAME_ROOM + LABEL_BLOCK + 32;

/// `n` in decimal at the start of `out` (made two digits at a time, from
/// the end); its length.
fn decimal(n: i64, out: &mut [u8; 20]) -> usize {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    // Unix seconds from 2001 to 2286 (the timestamps): ten digits, five
    // pairs, without a loop
    if (1_000_000_000..10_000_000_000).contains(&n) {
        let n = n as u64;
        let (high, low) = ((n / 100_000_000) as usize, n % 100_000_000);
        let (a, b) = ((low / 10_000) as usize, (low % 10_000) as usize);
        for (at, pair) in [high, a / 100, a % 100, b / 100, b % 100]
            .into_iter()
            .enumerate()
        {
            out[at * 2..at * 2 + 2].copy_from_slice(&PAIRS[pair * 2..pair * 2 + 2]);
        }
        return 10;
    }
    let mut m = n.unsigned_abs();
    let len = usize::from(n < 0) + m.checked_ilog10().unwrap_or(0) as usize + 1;
    let mut at = len.min(20);
    while m >= 100 && at >= 2 {
        let pair = (m % 100) as usize * 2;
        m /= 100;
        at -= 2;
        out[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if m >= 10 && at >= 2 {
        at -= 2;
        let pair = m as usize * 2;
        out[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else if at >= 1 {
        at -= 1;
        out[at] = b'0' + m as u8;
    }
    if n < 0 {
        out[0] = b'-';
    }
    len
}

impl Exposition {
    /// An exposition with room for `directories` rows.
    pub fn with_capacity(directories: usize) -> Exposition {
        Exposition {
            labels: Vec::with_capacity(directories * 24),
            rows: Vec::with_capacity(directories),
            seen: Seen::with_capacity(directories),
            hash: fx_hash,
            up: 0,
        }
    }

    /// Adds a service, then its logger (with the sizes of its log
    /// directory on the service's lines, as `Renderer` has them).
    pub fn add_observed(&mut self, o: &Observed) {
        self.add(&o.service, o.logdir.as_ref());
        if let Some(log) = &o.log {
            self.add(log, None);
        }
    }

    /// Adds one supervised directory, unless its name was added before.
    pub fn add(&mut self, view: &View, sizes: Option<&LogSizes>) {
        let start = self.labels.len();
        labels_into(&view.name, &mut self.labels);
        let hash = (self.hash)(&self.labels[start..]);
        let index = u32::try_from(self.rows.len()).unwrap_or(u32::MAX - 1);
        let (rows, labels) = (&self.rows, &self.labels);
        let same = |r: u32| {
            let r = r as usize;
            let begin = if r == 0 { 0 } else { rows[r - 1].end };
            labels[begin..rows[r].end] == labels[start..]
        };
        if self.seen.find_or_add(rows, hash, index, same).is_some() {
            // a name given before: reported once, the first time
            self.labels.truncate(start);
            return;
        }
        self.up += usize::from(view.up());
        // made in place: a row is larger than what is worth a copy
        self.rows.push(Row {
            end: self.labels.len(),
            hash,
            samples: Samples {
                values: [ABSENT; PARTS],
                ms: 0,
            },
        });
        if let Some(row) = self.rows.last_mut() {
            row.samples.fill(view, sizes);
        }
    }

    /// The text, handed to `put` in pieces of about `PIECE` bytes (the
    /// last one shorter); stops at `put`'s first error. Every piece is
    /// valid UTF-8 (it ends at the end of a line).
    pub fn write<E>(&self, mut put: impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
        let mut out = Lines::new();
        let mut text = String::new();
        for (i, (name, kind, help)) in families().enumerate() {
            text.clear();
            header(&mut text, name, kind, help);
            out.bytes(text.as_bytes());
            if out.pos >= PIECE {
                put(out.filled())?;
                out.pos = 0;
            }
            let name = (&PADDED_NAMES[i], name.len());
            let mut begin = 0;
            for row in &self.rows {
                let n = row.samples.values[i];
                if n != ABSENT {
                    let ms = (i == TIME_FAMILY).then_some(row.samples.ms);
                    out.sample(name, &self.labels, begin..row.end, n, ms);
                    if out.pos >= PIECE {
                        put(out.filled())?;
                        out.pos = 0;
                    }
                }
                begin = row.end;
            }
        }
        text.clear();
        totals(&mut text, self.rows.len(), self.up);
        out.bytes(text.as_bytes());
        put(out.filled())
    }

    /// The whole text, appended to `out`.
    #[cfg(test)]
    pub fn text(&self, out: &mut String) {
        let _ = self.write(|piece| {
            out.push_str(std::str::from_utf8(piece).unwrap());
            Ok::<(), std::convert::Infallible>(())
        });
    }
}

/// The sample lines of one directory, family by family, with what they
/// were made from.
struct Piece {
    view: View,
    sizes: Option<LogSizes>,
    text: String,
    /// End of each family's lines in `text`.
    ends: [usize; PARTS],
    /// The last render that used it.
    round: u64,
    /// Unique among the pieces a renderer made.
    serial: u64,
}

impl Piece {
    fn build(view: &View, sizes: Option<&LogSizes>, round: u64, serial: u64) -> Piece {
        let mut labels = String::with_capacity(view.name.len() + 16);
        labels_of(&view.name, &mut labels);
        let samples = Samples::of(view, sizes);
        let mut text = String::with_capacity(900);
        let mut ends = [0; PARTS];
        for (i, (name, _, _)) in families().enumerate() {
            samples.line(i, name, &labels, &mut text);
            ends[i] = text.len();
        }
        Piece {
            view: view.clone(),
            sizes: sizes.copied(),
            text,
            ends,
            round,
            serial,
        }
    }

    fn part(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }
}

/// Renders the exposition, keeping each directory's lines until what they
/// say changes: a long-running exporter (svmetrics) formats only the
/// services whose state changed since the last scrape. What is compared
/// is everything the lines are made from (the whole `View` and the log
/// sizes), so the output is the same as a fresh render's (`Exposition`).
/// When the pieces of a render are the very pieces of the one before, in
/// the same order (no service changed), its text is the last text again.
#[derive(Default)]
pub struct Renderer {
    pieces: FastMap<Vec<u8>, Piece>,
    round: u64,
    serials: u64,
    /// The serials of the last render's pieces, in order (None before the
    /// first render), and its text.
    last: Option<Vec<u64>>,
    last_text: Rc<String>,
}

impl Renderer {
    pub fn new() -> Renderer {
        Renderer::default()
    }

    /// Appends the exposition of `services` (each with its logger and log
    /// directory) to `out`. A name seen before (`svstat --prometheus x x`,
    /// or `x/log` given besides `x`) is left out, so no series appears
    /// twice.
    pub fn render(&mut self, services: &[Observed], out: &mut String) {
        out.push_str(&self.render_shared(services));
    }

    /// `render` into a shared text: the last one again (no copy) when no
    /// service changed.
    pub fn render_shared(&mut self, services: &[Observed]) -> Rc<String> {
        self.round += 1;
        let round = self.round;
        let mut order: Vec<&[u8]> = Vec::with_capacity(services.len() * 2);
        let mut up = 0;
        for o in services {
            let dirs = [
                (Some(&o.service), o.logdir.as_ref()),
                (o.log.as_ref(), None),
            ];
            for (view, sizes) in dirs {
                let Some(view) = view else { continue };
                let serial = self.serials;
                match self.pieces.get_mut(&view.name[..]) {
                    Some(p) if p.round == round => continue,
                    Some(p) if p.view == *view && p.sizes.as_ref() == sizes => p.round = round,
                    Some(p) => {
                        self.serials += 1;
                        *p = Piece::build(view, sizes, round, serial);
                    }
                    None => {
                        self.serials += 1;
                        let p = Piece::build(view, sizes, round, serial);
                        self.pieces.insert(view.name.clone(), p);
                    }
                }
                order.push(&view.name);
                up += usize::from(view.up());
            }
        }
        let pieces: Vec<&Piece> = order.iter().map(|n| &self.pieces[*n]).collect();
        let same = self.last.as_ref().is_some_and(|last| {
            pieces.len() == last.len() && pieces.iter().zip(last).all(|(p, s)| p.serial == *s)
        });
        if same {
            return Rc::clone(&self.last_text);
        }
        self.last = Some(pieces.iter().map(|p| p.serial).collect());
        let mut text = String::new();
        let out = &mut text;
        out.reserve(pieces.iter().map(|p| p.text.len()).sum::<usize>() + 4096);
        for (i, (name, kind, help)) in families().enumerate() {
            header(out, name, kind, help);
            for p in &pieces {
                out.push_str(p.part(i));
            }
        }
        totals(out, pieces.len(), up);
        drop(pieces);
        // forget the directories that are gone
        self.pieces.retain(|_, p| p.round == round);
        self.last_text = Rc::new(text);
        Rc::clone(&self.last_text)
    }
}

/// The exposition of `services`, made once (see `Exposition`), appended
/// to `out` (the tests' fresh render).
#[cfg(test)]
pub fn render(services: &[Observed], out: &mut String) {
    let mut e = Exposition::with_capacity(services.len() * 2);
    for o in services {
        e.add_observed(o);
    }
    e.text(out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record;
    use crate::status::Status;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn label(b: &[u8]) -> String {
        let mut s = String::new();
        label_value(b, &mut s);
        s
    }

    /// The inverse of `label_value`: the name's bytes.
    fn unlabel(s: &str) -> Vec<u8> {
        let inner = &s[1..s.len() - 1];
        let mut text = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next().unwrap() {
                    'n' => text.push('\n'),
                    c => text.push(c),
                }
            } else {
                text.push(c);
            }
        }
        record::unescape(&text).unwrap()
    }

    #[test]
    fn labels_quote_and_escape() {
        assert_eq!(label(b"web"), "\"web\"");
        assert_eq!(label(b"a \"b\" \\c"), "\"a \\\"b\\\" \\\\c\"");
        assert_eq!(label(b"new\nline"), "\"new%0Aline\"");
        assert_eq!(label(b"caf\xc3\xa9 \xff"), "\"caf\u{e9} %FF\"");
        assert_eq!(label(b"100%"), "\"100%25\"");
    }

    proptest! {
        #[test]
        fn label_values_are_injective_valid_one_line_text(
            a in proptest::collection::vec(any::<u8>(), 0..24),
            b in proptest::collection::vec(any::<u8>(), 0..24),
        ) {
            let (la, lb) = (label(&a), label(&b));
            prop_assert_eq!(a == b, la == lb);
            prop_assert_eq!(unlabel(&la), a);
            prop_assert!(!la.contains('\n'));
        }
    }

    #[test]
    fn names_that_look_alike_stay_apart() {
        let names: [&[u8]; 8] = [
            b"a b", b"a%20b", b"a\\b", b"a\\\\b", b"a\"b", b"a\xffb", b"a%FFb", b"a\nb",
        ];
        let labels: HashSet<String> = names.iter().map(|n| label(n)).collect();
        assert_eq!(labels.len(), names.len());
    }

    fn view(name: &[u8], pid: u32) -> View {
        View {
            name: name.to_vec(),
            supervise_running: true,
            normally_up: Some(true),
            status: Some(Status {
                stamp: Tai64n::from_unix(1_700_000_000, 123_456),
                pid,
                paused: 0,
                want: b'u',
            }),
            record: None,
            error: None,
        }
    }

    #[test]
    fn a_name_given_twice_or_as_another_logger_is_reported_once() {
        let with_log = Observed {
            service: view(b"x", 7),
            log: Some(view(b"x/log", 8)),
            logdir: None,
        };
        let alone = |name: &[u8]| Observed {
            service: view(name, 9),
            log: None,
            logdir: None,
        };
        let mut out = String::new();
        render(&[alone(b"x/log"), with_log, alone(b"x")], &mut out);
        let ups: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("daemontools_service_up{"))
            .collect();
        assert_eq!(
            ups,
            [
                "daemontools_service_up{service=\"x/log\"} 1",
                "daemontools_service_up{service=\"x\"} 1"
            ]
        );
        assert!(out.contains("\ndaemontools_services 2\n"));
    }

    #[test]
    fn a_renderer_gives_what_a_fresh_render_gives() {
        let mut services = vec![
            Observed {
                service: view(b"a", 7),
                log: Some(view(b"a/log", 8)),
                logdir: None,
            },
            Observed {
                service: view(b"b", 0),
                log: None,
                logdir: None,
            },
        ];
        let mut r = Renderer::new();
        let fresh = |s: &[Observed]| {
            let mut out = String::new();
            render(s, &mut out);
            out
        };
        fn again(r: &mut Renderer, s: &[Observed]) -> String {
            let mut out = String::new();
            r.render(s, &mut out);
            out
        }
        assert_eq!(again(&mut r, &services), fresh(&services));
        let serials = r.serials;
        assert_eq!(again(&mut r, &services), fresh(&services));
        assert_eq!(r.serials, serials, "nothing changed: nothing rebuilt");
        services[1].service.status.as_mut().unwrap().pid = 9;
        assert_eq!(again(&mut r, &services), fresh(&services));
        assert_eq!(r.serials, serials + 1, "one rebuilt");
        services.remove(0);
        assert_eq!(again(&mut r, &services), fresh(&services));
        assert_eq!(r.pieces.len(), 1, "the gone service forgotten");
        services.reverse();
        services.push(Observed {
            service: view(b"c", 0),
            log: None,
            logdir: None,
        });
        services.reverse();
        assert_eq!(again(&mut r, &services), fresh(&services));
    }

    /// Views with every kind of value: records with an exit code, a
    /// signal and none, readiness pending, odd stamps (milliseconds with
    /// leading zeros, before 1970, past 2^63), errors, no status at all.
    fn assorted() -> Vec<Observed> {
        let with_record = |name: &[u8], edit: &dyn Fn(&mut record::Record, &mut Status)| {
            let mut v = view(name, 7);
            let mut r = record::sample();
            let st = v.status.as_mut().unwrap();
            r.state = record::State::Up;
            r.pid = st.pid;
            edit(&mut r, st);
            r.since = st.stamp;
            v.record = Some(record::Summary::new(&r, v.status.unwrap()));
            v
        };
        let code = with_record(b"a \"q\" \\b", &|r, st| {
            r.last_exit.as_mut().unwrap().ending = Ending::Code(-3);
            r.starts = u64::MAX;
            st.stamp = Tai64n::from_unix(-86_400, 5_000);
        });
        let pending = with_record(b"pend\xff\n", &|r, st| {
            r.ready_sources.check = true;
            r.want = Want::Once;
            st.stamp = Tai64n {
                secs: u64::MAX,
                nano: 999_999_999,
            };
            st.paused = 1;
        });
        let signal = with_record(b"sig", &|r, st| {
            r.state = record::State::Finishing;
            st.stamp = Tai64n::from_unix(1_700_000_000, 70_000);
        });
        let mut dead = view(b"dead", 0);
        dead.supervise_running = false;
        dead.status = None;
        dead.normally_up = None;
        dead.error = Some("supervise not running".into());
        let mut bad = view(b"bad/log", 3);
        bad.error = Some("status.json not in step".into());
        bad.status.as_mut().unwrap().want = b'?';
        vec![
            Observed {
                service: code,
                log: Some(bad),
                logdir: Some(LogSizes {
                    current_bytes: u64::MAX,
                    rotated_files: 0,
                    rotated_bytes: 12_345,
                }),
            },
            Observed {
                service: pending,
                log: Some(dead),
                logdir: None,
            },
            Observed {
                service: signal,
                log: None,
                logdir: Some(LogSizes::default()),
            },
        ]
    }

    #[test]
    fn exposition_exactly() {
        let mut out = String::new();
        render(&assorted()[..1], &mut out);
        let want = r#"# HELP daemontools_service_up Whether ./run runs under a live supervise (1) or not (0).
# TYPE daemontools_service_up gauge
daemontools_service_up{service="a \"q\" \\b"} 1
daemontools_service_up{service="bad/log"} 1
# HELP daemontools_service_ready Whether the service is up and ready (up, for one without readiness source).
# TYPE daemontools_service_ready gauge
daemontools_service_ready{service="a \"q\" \\b"} 1
daemontools_service_ready{service="bad/log"} 1
# HELP daemontools_service_want_up Whether supervise wants the service up (0 for down and for once).
# TYPE daemontools_service_want_up gauge
daemontools_service_want_up{service="a \"q\" \\b"} 1
# HELP daemontools_service_normally_up Whether the service directory has no down file.
# TYPE daemontools_service_normally_up gauge
daemontools_service_normally_up{service="a \"q\" \\b"} 1
daemontools_service_normally_up{service="bad/log"} 1
# HELP daemontools_service_paused Whether the service is paused (svc -p).
# TYPE daemontools_service_paused gauge
daemontools_service_paused{service="a \"q\" \\b"} 0
daemontools_service_paused{service="bad/log"} 0
# HELP daemontools_service_state_change_timestamp_seconds Unix time when ./run last started or ended.
# TYPE daemontools_service_state_change_timestamp_seconds gauge
daemontools_service_state_change_timestamp_seconds{service="a \"q\" \\b"} -86400.005
daemontools_service_state_change_timestamp_seconds{service="bad/log"} 1700000000.123
# HELP daemontools_service_starts_total Starts of ./run since supervise began.
# TYPE daemontools_service_starts_total counter
daemontools_service_starts_total{service="a \"q\" \\b"} 9223372036854775807
# HELP daemontools_service_last_exit_code Exit code of the last ./run that exited (absent after a signal).
# TYPE daemontools_service_last_exit_code gauge
daemontools_service_last_exit_code{service="a \"q\" \\b"} -3
# HELP daemontools_service_last_exit_signal Signal number that ended the last ./run, 0 if it exited.
# TYPE daemontools_service_last_exit_signal gauge
daemontools_service_last_exit_signal{service="a \"q\" \\b"} 0
# HELP daemontools_supervise_running Whether a supervise runs on the directory (svok).
# TYPE daemontools_supervise_running gauge
daemontools_supervise_running{service="a \"q\" \\b"} 1
daemontools_supervise_running{service="bad/log"} 1
# HELP daemontools_service_status_readable Whether the status files of a live supervise were read without a problem.
# TYPE daemontools_service_status_readable gauge
daemontools_service_status_readable{service="a \"q\" \\b"} 1
daemontools_service_status_readable{service="bad/log"} 0
# HELP daemontools_log_current_bytes Size of the log directory's current file.
# TYPE daemontools_log_current_bytes gauge
daemontools_log_current_bytes{service="a \"q\" \\b"} 9223372036854775807
# HELP daemontools_log_rotated_files Number of rotated files in the log directory.
# TYPE daemontools_log_rotated_files gauge
daemontools_log_rotated_files{service="a \"q\" \\b"} 0
# HELP daemontools_log_rotated_bytes Total size of the rotated files in the log directory.
# TYPE daemontools_log_rotated_bytes gauge
daemontools_log_rotated_bytes{service="a \"q\" \\b"} 12345
# HELP daemontools_services Supervised directories reported (services and their loggers).
# TYPE daemontools_services gauge
daemontools_services 2
# HELP daemontools_services_up Supervised directories reported whose ./run is up.
# TYPE daemontools_services_up gauge
daemontools_services_up 2
"#;
        assert_eq!(out, want);
        // the other values' forms
        let mut out = String::new();
        render(&assorted()[1..], &mut out);
        for line in [
            "daemontools_service_up{service=\"pend%FF%0A\"} 1\n",
            "daemontools_service_ready{service=\"pend%FF%0A\"} 0\n",
            "daemontools_service_want_up{service=\"pend%FF%0A\"} 0\n",
            "daemontools_service_paused{service=\"pend%FF%0A\"} 1\n",
            "daemontools_service_state_change_timestamp_seconds{service=\"pend%FF%0A\"} \
             -4611686018427387915.999\n",
            "daemontools_service_last_exit_signal{service=\"pend%FF%0A\"} 11\n",
            "daemontools_supervise_running{service=\"dead\"} 0\n",
            "daemontools_service_normally_up{service=\"sig\"} 1\n",
            "daemontools_service_up{service=\"sig\"} 0\n",
            "daemontools_service_state_change_timestamp_seconds{service=\"sig\"} 1700000000.070\n",
            "daemontools_log_current_bytes{service=\"sig\"} 0\n",
            "\ndaemontools_services 3\n",
            "\ndaemontools_services_up 1\n",
        ] {
            assert!(out.contains(line), "{line:?} in\n{out}");
        }
        for absent in [
            "{service=\"dead\"} 1",
            "paused{service=\"dead\"}",
            "code{service=\"pend",
        ] {
            assert!(!out.contains(absent), "{absent:?} in\n{out}");
        }
    }

    #[test]
    fn the_time_family_is_the_timestamp() {
        assert!(
            SERVICE_FAMILIES[TIME_FAMILY]
                .name
                .ends_with("_timestamp_seconds")
        );
        let timed = SERVICE_FAMILIES
            .iter()
            .filter(|f| f.name.ends_with("_seconds"));
        assert_eq!(timed.count(), 1);
    }

    /// Every name, dirs and loggers, twice over, in an exposition whose
    /// labels all have one hash: each reported once, the first time.
    #[test]
    fn colliding_hashes_still_tell_names_apart() {
        let mut services = assorted();
        services.extend(assorted());
        services.push(Observed {
            service: view(b"bad/log", 1),
            log: None,
            logdir: None,
        });
        let mut plain = Exposition::with_capacity(0);
        let mut colliding = Exposition {
            hash: |_| 7,
            ..Exposition::with_capacity(0)
        };
        for o in &services {
            plain.add_observed(o);
            colliding.add_observed(o);
        }
        assert_eq!(colliding.rows.len(), 5);
        let (mut a, mut b) = (String::new(), String::new());
        plain.text(&mut a);
        colliding.text(&mut b);
        assert_eq!(a, b);
        let mut fresh = String::new();
        render(&services[..3], &mut fresh);
        assert_eq!(a, fresh);
    }

    proptest! {
        #[test]
        fn decimal_is_itoa(n in any::<i64>(), shift in 0u32..64) {
            for n in [n, n >> shift] {
                let mut out = [0u8; 20];
                let len = decimal(n, &mut out);
                let mut expected = itoa::Buffer::new();
                prop_assert_eq!(&out[..len], expected.format(n).as_bytes());
            }
        }
    }

    #[test]
    fn decimal_at_the_edges() {
        for n in [
            0,
            9,
            10,
            99,
            100,
            -1,
            -10,
            -100,
            i64::MAX,
            i64::MIN,
            1_796_197_355,
        ] {
            let mut out = [0u8; 20];
            let len = decimal(n, &mut out);
            assert_eq!(&out[..len], n.to_string().as_bytes());
        }
    }

    #[test]
    fn written_in_pieces_of_bounded_size() {
        let services: Vec<Observed> = (0..3000)
            .map(|i| Observed {
                service: view(format!("service-{i}").as_bytes(), i),
                log: None,
                logdir: None,
            })
            .collect();
        let mut e = Exposition::with_capacity(10);
        services.iter().for_each(|o| e.add_observed(o));
        let mut pieces = Vec::new();
        e.write(|p| {
            pieces.push(String::from_utf8(p.to_vec()).unwrap());
            Ok::<(), ()>(())
        })
        .unwrap();
        assert!(pieces.len() > 3);
        let (last, full) = pieces.split_last().unwrap();
        assert!(
            full.iter()
                .all(|p| (PIECE..PIECE + 1024).contains(&p.len()))
        );
        assert!(last.len() < PIECE + 1024);
        let mut whole = String::new();
        e.text(&mut whole);
        assert_eq!(pieces.concat(), whole);
        assert!(whole.ends_with("\ndaemontools_services 3000\n# HELP daemontools_services_up Supervised directories reported whose ./run is up.\n# TYPE daemontools_services_up gauge\ndaemontools_services_up 2999\n"));
        // stops at the first error
        let mut calls = 0;
        assert_eq!(
            e.write(|_| {
                calls += 1;
                Err(calls)
            }),
            Err(1)
        );
    }

    #[test]
    fn a_first_render_of_nothing_has_the_totals() {
        let mut out = String::new();
        Renderer::new().render(&[], &mut out);
        let mut fresh = String::new();
        render(&[], &mut fresh);
        assert_eq!(out, fresh);
        assert!(out.contains("\ndaemontools_services 0\n"), "{out}");
    }

    proptest! {
        /// The cached renderer and the one-pass exposition give the same
        /// text, scrape after scrape, whatever changes in between.
        #[test]
        fn renderer_and_exposition_agree(
            rounds in proptest::collection::vec(
                proptest::collection::vec((0usize..6, 0u32..3, any::<bool>(), 0usize..3), 0..8),
                1..4,
            ),
        ) {
            let kinds = assorted();
            let mut r = Renderer::new();
            for round in rounds {
                let services: Vec<Observed> = round
                    .iter()
                    .map(|&(name, pid, log, kind)| {
                        let mut o = kinds[kind].clone();
                        o.service.name = format!("s{name}").into_bytes();
                        if let Some(st) = o.service.status.as_mut() {
                            st.pid += pid;
                        }
                        if !log {
                            o.log = None;
                        } else if let Some(l) = o.log.as_mut() {
                            l.name = format!("s{name}/log").into_bytes();
                        }
                        o
                    })
                    .collect();
                let mut cached = String::new();
                r.render(&services, &mut cached);
                let mut fresh = String::new();
                render(&services, &mut fresh);
                prop_assert_eq!(cached, fresh);
            }
        }
    }

    #[test]
    fn exposition_groups_families_and_has_no_timestamps() {
        let mut log = view(b"web/log", 8);
        log.error = Some("bad status.json (state)".into());
        let services = [
            Observed {
                service: view(b"web", 7),
                log: Some(log),
                logdir: Some(LogSizes {
                    current_bytes: 10,
                    rotated_files: 2,
                    rotated_bytes: 300,
                }),
            },
            Observed {
                service: view(b"db", 0),
                log: None,
                logdir: None,
            },
        ];
        let mut out = String::new();
        render(&services, &mut out);
        assert!(out.ends_with('\n'));
        assert!(out.contains("daemontools_service_up{service=\"web\"} 1\n"));
        assert!(out.contains("daemontools_service_up{service=\"web/log\"} 1\n"));
        assert!(out.contains("daemontools_service_up{service=\"db\"} 0\n"));
        assert!(out.contains("daemontools_service_ready{service=\"db\"} 0\n"));
        assert!(out.contains("daemontools_service_ready{service=\"web\"} 1\n"));
        assert!(out.contains(
            "daemontools_service_state_change_timestamp_seconds{service=\"web\"} 1700000000.123\n"
        ));
        assert!(out.contains("daemontools_service_status_readable{service=\"web/log\"} 0\n"));
        assert!(out.contains("daemontools_log_rotated_bytes{service=\"web\"} 300\n"));
        assert!(out.contains("\ndaemontools_services 3\n"));
        assert!(out.contains("\ndaemontools_services_up 2\n"));
        // one HELP and one TYPE per family, every sample after them and
        // next to the others of its family; two fields per sample (no
        // timestamp)
        let mut seen = Vec::<String>::new();
        let mut current = String::new();
        for line in out.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                current = rest.split(' ').next().unwrap().to_string();
                assert!(!seen.contains(&current), "{current} twice");
                seen.push(current.clone());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert_eq!(name, current, "{line}");
                let value = match line.rsplit_once('}') {
                    Some((_, v)) => v,
                    None => line.split_once(' ').unwrap().1,
                };
                assert_eq!(value.split_whitespace().count(), 1, "{line}");
            }
        }
    }
}
