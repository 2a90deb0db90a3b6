//! The lines of one log directory as a stream over pieces of files, the
//! time window, the display of lines, and the merge of several streams in
//! time order.
//!
//! A line's time is its own stamp. A line without one is known only to
//! lie between the rotations that closed the file before its file and its
//! own file (for `current`: its last change); it is shown when that span
//! meets the window, and is merged after the line before it. A line cut
//! by a rotation (multilog splits a line when no newline comes within 2000
//! bytes of the size limit) continues in the next file; one cut by a crash
//! (the end of a `.u` file) or by the end of `current` ends there.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io;
use std::rc::Rc;

use nix::errno::Errno;

use super::PROG;
use super::reader::Reader;
use super::stamp::{self, HEAD, Stamp};
use crate::msg::{self, Line};
use crate::sys;
use crate::tai64::{local::Converter, utc};

/// Where a piece's bytes come from.
#[derive(Clone)]
pub enum Src {
    /// An open plain file.
    Plain(Rc<File>),
    /// An open gzip file.
    Gzip(Rc<File>),
    /// A file to open when it is reached (archives of a long read: multilog
    /// may remove the oldest meanwhile, which is then reported).
    Path { path: Vec<u8>, gzip: bool },
}

/// A range of one file's content.
#[derive(Clone)]
pub struct Piece {
    /// The path, for messages.
    pub name: Vec<u8>,
    pub src: Src,
    /// The first byte (uncompressed offset).
    pub start: u64,
    /// Where to stop (None: the end of the file).
    pub end: Option<u64>,
    /// A line left open at the end continues in the next piece.
    pub joins: bool,
    /// The piece starts inside a line that began in an earlier file that
    /// is not read: skip to the first line start.
    pub mid_line: bool,
    /// Bounds of the time of lines without a stamp of their own.
    pub lo: Stamp,
    pub hi: Stamp,
    /// Report a last line without a newline (`current` when not following).
    pub warn_open_end: bool,
}

impl Piece {
    /// Opens the piece for reading from `start`.
    pub fn open(&self) -> io::Result<Reader> {
        match &self.src {
            Src::Plain(f) => Ok(Reader::plain(f.clone(), self.start, self.end)),
            Src::Gzip(f) => Reader::gzip(f.clone(), self.start),
            Src::Path { path, gzip } => {
                let (f, gzip) = open_archive(path, *gzip)?;
                let f = Rc::new(f);
                if gzip {
                    Reader::gzip(f, self.start)
                } else {
                    Ok(Reader::plain(f, self.start, self.end))
                }
            }
        }
    }
}

/// Opens an archive; one that was compressed since it was listed is read
/// from its `.gz` form. Returns the file and whether it is compressed.
pub fn open_archive(path: &[u8], gzip: bool) -> io::Result<(File, bool)> {
    match open_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound && !gzip => {
            let mut gz = path.to_vec();
            gz.extend_from_slice(b".gz");
            open_file(&gz).map(|f| (f, true)).map_err(|_| e)
        }
        other => other.map(|f| (f, gzip)),
    }
}

/// Opens a log file for reading (close-on-exec), refusing what is not a
/// regular file.
pub fn open_file(path: &[u8]) -> io::Result<File> {
    let f = File::open(super::logdir::path(path))?;
    if !f.metadata()?.is_file() {
        return Err(io::Error::from_raw_os_error(libc::EISDIR));
    }
    Ok(f)
}

/// The time window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub since: Stamp,
    pub until: Stamp,
}

impl Window {
    pub const ALL: Window = Window {
        since: Stamp::MIN,
        until: Stamp::MAX,
    };

    pub fn is_all(&self) -> bool {
        *self == Window::ALL
    }

    /// Whether a line with stamp `own` (or, without one, in a piece with
    /// bounds lo..hi) is in the window.
    pub fn takes(&self, own: Option<Stamp>, lo: Stamp, hi: Stamp) -> bool {
        match own {
            Some(t) => self.since <= t && t <= self.until,
            None => lo <= self.until && self.since <= hi,
        }
    }
}

/// How stamps are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// As tai64nlocal prints them.
    Local,
    /// RFC 3339 in UTC.
    Utc,
    /// Unchanged.
    Raw,
}

/// The output: display of lines, tags, and a buffer written out in large
/// pieces.
pub struct Output {
    mode: Mode,
    conv: Converter,
    buf: Vec<u8>,
    /// The width tags are padded to (0: no tags).
    pub tag_width: usize,
}

const OUT_HIGH: usize = 64 * 1024;

impl Output {
    pub fn new(mode: Mode) -> Output {
        Output {
            mode,
            conv: Converter::new(),
            buf: Vec::with_capacity(2 * OUT_HIGH),
            tag_width: 0,
        }
    }

    /// Starts a line: the tag, then the stamp as the mode shows it.
    /// Returns how many bytes of `head` were used (the rest follows as
    /// body).
    fn start_line(&mut self, tag: &[u8], head: &[u8]) -> usize {
        if self.tag_width > 0 {
            self.buf.extend_from_slice(tag);
            for _ in tag.len()..self.tag_width {
                self.buf.push(b' ');
            }
            self.buf.extend_from_slice(b" | ");
        }
        if self.mode == Mode::Utc
            && let Some(t) = stamp::label(head)
            && utc::push_rfc3339(&mut self.buf, t.secs, t.nano).is_some()
        {
            return 25;
        }
        0
    }

    /// Line content (the rest of the line, in pieces).
    fn body(&mut self, data: &[u8]) -> Result<(), Errno> {
        match self.mode {
            Mode::Local => {
                for chunk in data.chunks(4096) {
                    self.conv.feed(chunk, &mut self.buf);
                    self.flush_if_full()?;
                }
                Ok(())
            }
            _ => {
                if data.len() >= OUT_HIGH {
                    self.flush()?;
                    return write_out(data);
                }
                self.buf.extend_from_slice(data);
                self.flush_if_full()
            }
        }
    }

    fn flush_if_full(&mut self) -> Result<(), Errno> {
        if self.buf.len() >= OUT_HIGH {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self) -> Result<(), Errno> {
        let r = write_out(&self.buf);
        self.buf.clear();
        r
    }
}

fn write_out(data: &[u8]) -> Result<(), Errno> {
    msg::write_all(sys::StdFd::OUT, data)
}

/// `svlog: fatal: unable to write output: ERR`, exit 111.
pub fn output_failed(e: Errno) -> ! {
    Line::new(PROG, "fatal")
        .s("unable to write output")
        .err(e)
        .exit(msg::EXIT_TEMP)
}

/// Prints `svlog: warning: PATH: TEXT`.
pub fn warn(path: &[u8], text: &str) {
    Line::new(PROG, "warning").b(path).s(": ").s(text).emit();
}

/// Reports a read error on `path` after `offset` bytes.
pub fn read_failed(path: &[u8], offset: u64, e: &io::Error) {
    let what = match e.raw_os_error() {
        Some(n) => msg::errstr(Errno::from_raw(n)).to_string(),
        None => format!("corrupt or truncated compressed data ({e})"),
    };
    Line::new(PROG, "warning")
        .s("unable to read ")
        .b(path)
        .s(&format!(" after byte {offset}: "))
        .s(&what)
        .emit();
}

/// One directory's lines, pieces in order.
pub struct Stream {
    pub tag: Rc<[u8]>,
    pieces: Vec<Piece>,
    next: usize,
    cur: Option<(Reader, usize)>,
    window: Window,
    /// The time of the last line (for lines without a stamp).
    pub key: Stamp,
    /// The next line is peeked: its time.
    peeked: Option<Stamp>,
    /// A file could not be read.
    pub failed: bool,
    /// Report nothing (a counting pass over lines read again later).
    pub quiet: bool,
}

impl Stream {
    pub fn new(tag: Rc<[u8]>, pieces: Vec<Piece>, window: Window, key: Stamp) -> Stream {
        Stream {
            tag,
            pieces,
            next: 0,
            cur: None,
            window,
            key,
            peeked: None,
            failed: false,
            quiet: false,
        }
    }

    /// Opens the next piece; false when there is none.
    fn open_next(&mut self) -> bool {
        while self.next < self.pieces.len() {
            let i = self.next;
            self.next += 1;
            let p = &self.pieces[i];
            match p.open() {
                Ok(r) => {
                    self.cur = Some((r, i));
                    if p.mid_line {
                        self.skip_rest_of_line();
                    }
                    return true;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if !self.quiet {
                        warn(&p.name, "removed before it could be read");
                    }
                }
                Err(e) => {
                    if !self.quiet {
                        read_failed(&p.name, p.start, &e);
                    }
                    self.failed = true;
                }
            }
        }
        false
    }

    fn skip_rest_of_line(&mut self) {
        self.take_line(|_, _| Ok(()))
            .unwrap_or_else(|e| output_failed(e));
    }

    /// The time of the next line in the window, or None at the end.
    pub fn peek(&mut self) -> Option<Stamp> {
        if self.peeked.is_some() {
            return self.peeked;
        }
        loop {
            let (reader, i) = match &mut self.cur {
                Some((r, i)) => (r, *i),
                None => {
                    if !self.open_next() {
                        return None;
                    }
                    if let Some((_, i)) = &self.cur {
                        self.key = self.key.max(self.pieces[*i].lo);
                    }
                    continue;
                }
            };
            let head = match reader.head(HEAD) {
                Ok(h) => h,
                Err(e) => {
                    if !self.quiet {
                        read_failed(&self.pieces[i].name, reader.offset(), &e);
                    }
                    self.failed = true;
                    self.cur = None;
                    continue;
                }
            };
            if head.is_empty() {
                self.cur = None;
                continue;
            }
            let own = stamp::of_line(head);
            let p = &self.pieces[i];
            if self.window.takes(own, p.lo, p.hi) {
                if let Some(t) = own {
                    self.key = t;
                }
                self.peeked = Some(self.key);
                return self.peeked;
            }
            if let Some(t) = own {
                self.key = t;
            }
            self.skip_rest_of_line();
        }
    }

    /// Passes the current line (across pieces it continues into) to `f`
    /// as (bytes, at line start); ends it with a newline where it has
    /// none. Output errors come back; read errors are reported here.
    fn take_line(
        &mut self,
        mut f: impl FnMut(&[u8], bool) -> Result<(), Errno>,
    ) -> Result<(), Errno> {
        let mut first = true;
        while let Some((reader, i)) = &mut self.cur {
            let i = *i;
            let mut out_err = Ok(());
            let r = reader.take_line(|chunk| {
                if out_err.is_ok() {
                    out_err = f(chunk, first);
                }
                first = false;
            });
            out_err?;
            match r {
                Ok(true) => return Ok(()),
                Ok(false) if first => {
                    // Nothing was left in this piece.
                    self.cur = None;
                    return Ok(());
                }
                Ok(false) => {
                    self.cur = None;
                    let (joins, warn_open_end) =
                        (self.pieces[i].joins, self.pieces[i].warn_open_end);
                    if joins && self.open_next() {
                        continue;
                    }
                    if warn_open_end && !self.quiet {
                        warn(
                            &self.pieces[i].name,
                            "the last line has no newline yet (printed with one)",
                        );
                    }
                    break;
                }
                Err(e) => {
                    if !self.quiet {
                        read_failed(&self.pieces[i].name, reader.offset(), &e);
                    }
                    self.failed = true;
                    self.cur = None;
                    break;
                }
            }
        }
        f(b"\n", false)
    }

    /// Writes the peeked line.
    pub fn emit(&mut self, out: &mut Output) {
        self.peeked = None;
        let tag = self.tag.clone();
        let r = self.take_line(|chunk, at_start| {
            let used = if at_start {
                out.start_line(&tag, chunk)
            } else {
                0
            };
            out.body(&chunk[used..])
        });
        if let Err(e) = r {
            output_failed(e);
        }
    }

    /// Writes everything, piece by piece, without looking at lines: the
    /// same output as `merge` for one stream without a window when the
    /// display needs no per-line work (no tags, not `--utc`).
    pub fn pump(&mut self, out: &mut Output) {
        loop {
            if self.cur.is_none() && !self.open_next() {
                return;
            }
            let Some((reader, i)) = &mut self.cur else {
                continue;
            };
            let i = *i;
            let mut last = None;
            loop {
                if reader.data().is_empty() {
                    match reader.fill() {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e) => {
                            if !self.quiet {
                                read_failed(&self.pieces[i].name, reader.offset(), &e);
                            }
                            self.failed = true;
                            break;
                        }
                    }
                }
                let data = reader.data();
                last = data.last().copied();
                let n = data.len();
                out.body(data).unwrap_or_else(|e| output_failed(e));
                reader.consume(n);
            }
            self.cur = None;
            let p = &self.pieces[i];
            let open_end = last.is_some_and(|c| c != b'\n');
            if open_end && !(p.joins && self.next < self.pieces.len()) {
                if p.warn_open_end && !self.quiet {
                    warn(
                        &p.name,
                        "the last line has no newline yet (printed with one)",
                    );
                }
                out.body(b"\n").unwrap_or_else(|e| output_failed(e));
            }
        }
    }

    /// Whether `pump` gives this output's display.
    pub fn can_pump(&self, out: &Output) -> bool {
        self.window.is_all() && out.tag_width == 0 && out.mode != Mode::Utc
    }

    /// Skips the peeked line.
    pub fn skip(&mut self) {
        self.peeked = None;
        self.skip_rest_of_line();
    }
}

/// Writes the lines of `streams` merged in time order (ties: argument
/// order), leaving out the first `skip`; returns the number of lines seen.
pub fn merge(streams: &mut [Stream], out: &mut Output, mut skip: u64) -> u64 {
    let mut heap = BinaryHeap::new();
    for (i, s) in streams.iter_mut().enumerate() {
        if let Some(k) = s.peek() {
            heap.push(Reverse((k, i)));
        }
    }
    let mut seen = 0;
    while let Some(Reverse((_, i))) = heap.pop() {
        let s = &mut streams[i];
        if skip > 0 {
            skip -= 1;
            s.skip();
        } else {
            s.emit(out);
        }
        seen += 1;
        if let Some(k) = s.peek() {
            heap.push(Reverse((k, i)));
        }
    }
    seen
}
