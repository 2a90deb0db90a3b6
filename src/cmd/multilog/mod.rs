//! `multilog script`: reads lines from stdin, selects them with `+`/`-`
//! patterns and appends them to log directories, alerts and status files
//! (daemontools 0.76).
//!
//! Input comes in large blocks (`input`), but is processed as the
//! reference's sequence of 1024-byte reads: at every 1024-byte boundary of
//! a block the directories' output buffers are flushed (this fixes where
//! rotations fall), and everything the reference does "before every read"
//! that can only happen in read(2) (signals, writing to disk) happens
//! before we take more input. For input from a regular file the files
//! written are exactly the reference's; from a pipe they are what the
//! reference writes for some arrival timing of the same bytes. Input is
//! consumed only after the lines it holds are written, so a SIGKILL loses
//! no complete line (see `input`). See doc/multilog.8.md.

use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::unistd::Whence;

mod compress;
mod copy;
mod input;
mod logdir;
pub mod pattern;
pub mod pending;
pub mod retain;
pub mod script;
pub mod stamp;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::fsio;
use crate::msg::{self, Line};
use crate::sys::{self, Flag, StdFd};
use copy::Copies;
use input::{BLOCK, Input};
use logdir::LogDir;
use pattern::{AnyOf, Pattern, Skips};
use script::{Action, MAX_HEAD, parse};
use stamp::Heads;

pub const PROG: &str = "multilog";

/// The pause after every failed attempt.
const PAUSE: Duration = Duration::from_secs(5);

/// The line window: patterns, alerts and status files see at most this.
pub const WINDOW: usize = 1000;
/// Status files are rewritten with exactly this many bytes.
pub const STATUS_LEN: usize = 1001;
/// `e` shows at most this many bytes of the window.
pub const ALERT_MAX: usize = 200;
/// The reference's read size; flush points fall at these boundaries.
const VREAD: usize = 1024;
/// Lines that start within this many bytes (a whole number of the
/// reference's reads) share one clock reading for `t` (see `lines`).
const STAMP_SPAN: usize = 16 * VREAD;

static TERM: Flag = Flag::new();
static ALRM: Flag = Flag::new();

extern "C" fn on_term(_: libc::c_int) {
    TERM.set();
}

extern "C" fn on_alrm(_: libc::c_int) {
    ALRM.set();
}

/// Set when multilog made a system call that can take noticeable time
/// while processing its input (a write(2) of log data, a rotation, an
/// alert, a pause). multilog `t` stamps the lines of one of the
/// reference's 1024-byte reads with one clock reading; after such a call
/// it reads the clock again, so no line carries a time from before it.
static SLOW: AtomicBool = AtomicBool::new(false);

/// Records that something slow happened (see `SLOW`).
#[inline]
pub fn mark_slow() {
    SLOW.store(true, Ordering::Relaxed);
}

/// Whether something slow happened since the last call.
#[inline]
pub fn took_time() -> bool {
    SLOW.load(Ordering::Relaxed) && SLOW.swap(false, Ordering::Relaxed)
}

/// `multilog: warning: PARTS, pausing[: ERR]`, then a 5-second sleep with
/// TERM and ALRM still blocked.
pub fn pause(parts: &[&[u8]], e: Option<Errno>) {
    mark_slow();
    let mut l = Line::new(PROG, "warning");
    for p in parts {
        l = l.b(p);
    }
    l = l.s(", pausing");
    match e {
        Some(e) => l.err(e).emit(),
        None => l.emit(),
    }
    std::thread::sleep(PAUSE);
}

/// Blocks (`true`) or unblocks TERM and ALRM.
pub fn block_term_alrm(block: bool) {
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGALRM);
    let how = if block {
        nix::sys::signal::SigmaskHow::SIG_BLOCK
    } else {
        nix::sys::signal::SigmaskHow::SIG_UNBLOCK
    };
    let _ = nix::sys::signal::sigprocmask(how, Some(&set), None);
}

/// A status file: the last selected window, written at offset 0.
struct Status<'a> {
    name: &'a [u8],
    fd: OwnedFd,
    buf: Box<[u8; STATUS_LEN]>,
    dirty: bool,
}

impl Status<'_> {
    fn open(startdir: &OwnedFd, name: &[u8]) -> OwnedFd {
        if let Err(e) = nix::unistd::fchdir(startdir) {
            msg::fatal(PROG, &[b"unable to switch to starting directory"], e);
        }
        match fsio::open_append(name) {
            Ok(fd) => drop(fd),
            Err(e) => msg::fatal(PROG, &[b"unable to create ", name], e),
        }
        let fd = fsio::open_write(name)
            .unwrap_or_else(|e| msg::fatal(PROG, &[b"unable to write ", name], e));
        let _ = fsio::coe(&fd);
        fd
    }

    fn set(&mut self, window: &[u8]) {
        self.buf[..window.len()].copy_from_slice(window);
        self.buf[window.len()..].fill(b'\n');
        self.dirty = true;
    }

    /// Seek to 0 and one write of 1001 bytes, retried until it works.
    fn write(&mut self) {
        if !self.dirty {
            return;
        }
        loop {
            while let Err(e) = nix::unistd::lseek(&self.fd, 0, Whence::SeekSet) {
                pause(&[b"unable to move to beginning of ", self.name], Some(e));
            }
            match nix::unistd::write(&self.fd, &self.buf[..]) {
                Ok(STATUS_LEN) => break,
                r => {
                    let e = r.err().unwrap_or_else(Errno::last);
                    pause(&[b"unable to write ", self.name], Some(e));
                }
            }
        }
        self.dirty = false;
    }
}

/// An action ready to run. Consecutive `+` (or `-`) patterns form one
/// step: the flag changes if any of them matches.
enum Step<'a> {
    Select(AnyOf<'a>),
    Deselect(AnyOf<'a>),
    Alert,
    Status(usize),
    Dir(usize),
    Copy(usize),
}

/// Everything lines go to.
struct Outputs<'a> {
    steps: Vec<Step<'a>>,
    skips: Skips,
    status: Vec<Status<'a>>,
    dirs: Vec<LogDir<'a>>,
    /// The `1` actions: copies to stdout.
    copies: Copies<'a>,
}

impl Outputs<'_> {
    /// Runs the script over the window; directories remember their flag.
    #[inline(always)]
    fn select(&mut self, window: &[u8]) {
        let mut selected = true;
        self.skips.reset();
        for a in &self.steps {
            match a {
                Step::Select(p) => {
                    if !selected && p.any(window, &mut self.skips) {
                        selected = true;
                    }
                }
                Step::Deselect(p) => {
                    if selected && p.any(window, &mut self.skips) {
                        selected = false;
                    }
                }
                Step::Alert => {
                    if selected {
                        alert(window);
                    }
                }
                Step::Status(i) => {
                    if selected {
                        self.status[*i].set(window);
                    }
                }
                Step::Dir(j) => self.dirs[*j].selected = selected,
                Step::Copy(j) => self.copies.select(*j, selected),
            }
        }
    }

    /// The flushes the reference makes at a read that our block already
    /// covered.
    fn flush_model(&mut self) {
        for d in &mut self.dirs {
            d.flush();
        }
    }

    /// Writes every committed byte of every directory to its `current`
    /// (before input is consumed).
    fn write_committed(&mut self) {
        for d in &mut self.dirs {
            d.write_out();
        }
    }

    /// The most input any directory took (as lines to log) since the
    /// input was last consumed: what a SIGKILL now would have the next
    /// multilog log again.
    fn kept(&self) -> u64 {
        self.dirs.iter().map(|d| d.kept).max().unwrap_or(0)
    }

    /// After the input was consumed up to where the lines delivered end.
    fn consumed(&mut self) {
        for d in &mut self.dirs {
            d.kept = 0;
        }
    }

    /// Whether a directory may rotate within the next few KiB of output.
    fn near_rotation(&self) -> bool {
        self.dirs.iter().any(|d| d.near_rotation())
    }

    /// Whether a directory may rotate within the next `margin` bytes of
    /// output.
    fn near_rotation_within(&self, margin: u64) -> bool {
        self.dirs.iter().any(|d| d.near_rotation_within(margin))
    }

    /// Whether putting `n` more input bytes into the selected directories
    /// would take one of them past `MAX_UNCONSUMED` since the input was
    /// last consumed.
    #[inline]
    fn would_exceed(&self, n: usize) -> bool {
        self.dirs
            .iter()
            .any(|d| d.selected && d.kept + n as u64 > input::MAX_UNCONSUMED)
    }

    /// Whether a directory has renames or links not yet synced.
    fn dir_sync_pending(&self) -> bool {
        self.dirs.iter().any(|d| d.dir_sync_pending())
    }

    /// Before multilog sleeps waiting for input: the directory syncs put
    /// off while it was busy.
    fn idle(&mut self) {
        for d in &mut self.dirs {
            d.sync_dir_now();
        }
    }

    /// Before taking more input: status files, every byte to disk, the
    /// copies to stdout, then a pending SIGALRM rotation of the non-empty
    /// directories and the rotations by age that are due.
    fn before_read(&mut self) {
        for s in &mut self.status {
            s.write();
        }
        for d in &mut self.dirs {
            d.flush_out();
        }
        self.copies.write();
        let alrm = ALRM.take();
        for d in &mut self.dirs {
            if d.bytes() > 0 && (alrm || d.too_old()) {
                d.rotate();
            }
            d.after_disk_full();
        }
    }

    /// When the next rotation by age is due (None: none pending).
    fn deadline(&self) -> Option<std::time::Instant> {
        self.dirs.iter().filter_map(|d| d.deadline()).min()
    }

    fn quit(&mut self) {
        for s in &mut self.status {
            s.write();
        }
        self.copies.write();
        for d in &mut self.dirs {
            d.quit();
        }
    }
}

/// `e`: the window (at most 200 bytes, then `...`) and a newline, in one
/// write(2) to fd 2. Errors are ignored.
fn alert(window: &[u8]) {
    let mut buf = [0u8; ALERT_MAX + 4];
    let n = if window.len() > ALERT_MAX {
        buf[..ALERT_MAX].copy_from_slice(&window[..ALERT_MAX]);
        buf[ALERT_MAX..].copy_from_slice(b"...\n");
        ALERT_MAX + 4
    } else {
        buf[..window.len()].copy_from_slice(window);
        buf[window.len()] = b'\n';
        window.len() + 1
    };
    let _ = msg::write_all(StdFd::ERR, &buf[..n]);
    mark_slow();
}

/// The newline search of the line loop, once a line. On x86_64 it uses
/// memchr's SSE2 searcher (SSE2 is part of the baseline), which can be
/// inlined into the loop: the default entry point makes a dispatched call
/// on every line, which costs as much as the search itself on short lines.
#[derive(Clone, Copy)]
struct Newlines {
    #[cfg(target_arch = "x86_64")]
    sse2: Option<memchr::arch::x86_64::sse2::memchr::One>,
}

impl Newlines {
    fn new() -> Newlines {
        Newlines {
            #[cfg(target_arch = "x86_64")]
            sse2: memchr::arch::x86_64::sse2::memchr::One::new(b'\n'),
        }
    }

    /// The index of the first newline in `hay`.
    #[inline(always)]
    fn find(&self, hay: &[u8]) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if let Some(one) = &self.sse2 {
            return one.find(hay);
        }
        memchr::memchr(b'\n', hay)
    }
}

// A line's stamps are written just before its first byte (the input
// keeps `BLOCK` bytes of room in front of every block), so the window
// needs no copy.
const _: () = assert!(BLOCK >= MAX_HEAD + WINDOW);

pub fn main(args: &[&[u8]]) -> i32 {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    let startdir = fsio::open_read(b".")
        .unwrap_or_else(|e| msg::fatal(PROG, &[b"unable to switch to current directory"], e));
    let _ = fsio::coe(&startdir);
    block_term_alrm(true);
    let _ = sys::catch(Signal::SIGTERM, on_term);
    let _ = sys::catch(Signal::SIGALRM, on_alrm);

    let script = match parse(args.get(1..).unwrap_or(&[])) {
        Ok(s) => s,
        Err(bad) => Line::new(PROG, "fatal")
            .s("bad action ")
            .b(bad.arg)
            .s(": ")
            .s(bad.why)
            .exit(msg::EXIT_TEMP),
    };
    let copies = Copies::new(&script.copies);
    let status = script
        .status
        .iter()
        .map(|&name| Status {
            name,
            fd: Status::open(&startdir, name),
            buf: Box::new([b'\n'; STATUS_LEN]),
            dirty: false,
        })
        .collect();
    let dirs = script
        .dirs
        .iter()
        .map(|&(name, set)| LogDir::open(&startdir, name, set, &script.stamps))
        .collect();
    // The pattern cache knows where a lone `t` stamp ends.
    let tai_only = script.stamps.tai && script.stamps.readable[0].is_none();
    let mut skips = if tai_only {
        Skips::for_stamped_lines()
    } else {
        Skips::new()
    };
    let steps = steps(&script.actions, &mut skips);
    let mut out = Outputs {
        steps,
        skips,
        status,
        dirs,
        copies,
    };
    let mut heads = Heads::new(&script.stamps);
    let first_dir = out.dirs.first().map(LogDir::dirfd);
    let mut input = Input::new(heads.len(), first_dir);
    run(&mut heads, &mut input, &mut out);
    out.quit();
    input.finish();
    0
}

/// Prepares the actions, merging runs of `+` (and of `-`) patterns.
fn steps<'a>(actions: &[Action<'a>], skips: &mut Skips) -> Vec<Step<'a>> {
    let mut steps = Vec::new();
    let mut i = 0;
    while i < actions.len() {
        let run = |want_select: bool| {
            actions[i..]
                .iter()
                .map_while(|a| match *a {
                    Action::Select(p) if want_select => Some(p),
                    Action::Deselect(p) if !want_select => Some(p),
                    _ => None,
                })
                .collect::<Vec<&[u8]>>()
        };
        let step = match actions[i] {
            Action::Select(_) | Action::Deselect(_) => {
                let select = matches!(actions[i], Action::Select(_));
                let texts = run(select);
                i += texts.len();
                let pats = texts.iter().map(|t| Pattern::new(t, skips)).collect();
                let set = AnyOf::new(pats);
                steps.push(if select {
                    Step::Select(set)
                } else {
                    Step::Deselect(set)
                });
                continue;
            }
            Action::Alert => Step::Alert,
            Action::Status(k) => Step::Status(k),
            Action::Dir(k) => Step::Dir(k),
            Action::Copy(k) => Step::Copy(k),
        };
        steps.push(step);
        i += 1;
    }
    steps
}

/// The line loop.
fn run(heads: &mut Heads, input: &mut Input, out: &mut Outputs) {
    if heads.is_empty() {
        lines::<false>(heads, input, out)
    } else {
        lines::<true>(heads, input, out)
    }
}

/// The line loop, for scripts with (`T`) and without stamps (`t`, `Z`,
/// `L`; all of them are read from one clock reading).
///
/// The stamp of `t` is the time at which multilog begins processing the
/// line (doc/multilog.8.md: `t` takes the time when the line's first byte
/// is processed). The clock is read for the first line that
/// starts after each read(2), for the first line that starts in each
/// further `STAMP_SPAN` bytes of the block, and again after anything that
/// may take time (`took_time`: a write(2) of log data, a rotation,
/// a pause, an alert). So every line carries a time between the read that
/// brought its first byte (it never predates its arrival) and the moment
/// it is processed, at most the pure computation on 16 KB (~15 µs)
/// earlier than a clock reading per line would give; the reference itself
/// takes ~0.1 ms to work through 16 KB. One clock reading per line was a
/// quarter of the run time on short lines.
fn lines<const T: bool>(heads: &mut Heads, input: &mut Input, out: &mut Outputs) {
    let mut window = [0u8; WINDOW];
    let mut stamp = [b' '; MAX_HEAD];
    let stamp_len = if T { heads.len() } else { 0 };
    let newlines = Newlines::new();
    loop {
        if input.pos >= input.vend && !input.more(out) {
            return;
        }
        let start = input.pos;
        // The stamp is taken when the line's first byte is taken.
        if T && (start >= input.stamp_end || took_time()) {
            heads.now(&mut stamp);
            input.stamp_end = (input.vend + STAMP_SPAN - VREAD).min(input.end);
        }
        let limit = (start + WINDOW - stamp_len).min(input.end);
        let (full, mut eof) = match newlines.find(&input.buf[start..limit]) {
            // Fast path: the window lies in the block; no copy.
            Some(i) => {
                input.take_through(start + i, start, out);
                input.pos = start + i + 1;
                (false, false)
            }
            None if limit - start == WINDOW - stamp_len => {
                input.take_through(limit - 1, start, out);
                input.pos = limit;
                (true, false)
            }
            None => {
                // The line goes on in the next block: gather it.
                window[..stamp_len].copy_from_slice(&stamp[..stamp_len]);
                input.open_line = Some(input.off(start));
                let (len, full, eof) = gather(input, out, &mut window, stamp_len);
                out.select(&window[..len]);
                input.room(out, len, input.open_line.expect("set above"));
                deliver(out, &window[..len]);
                finish_line(input, out, full, eof);
                input.open_line = None;
                if eof {
                    return;
                }
                continue;
            }
        };
        if T {
            input.buf[start - stamp_len..start].copy_from_slice(&stamp[..stamp_len]);
        }
        if !full {
            // The common case: a whole line, then its newline.
            let line = &input.buf[start - stamp_len..input.pos];
            out.select(&line[..line.len() - 1]);
            if input.pos > input.check_at {
                input.room_for_line(out, line.len() - stamp_len, start);
            }
            let line = &input.buf[start - stamp_len..input.pos];
            for d in &mut out.dirs {
                if d.selected {
                    d.put_line(line);
                    d.kept += (line.len() - stamp_len) as u64;
                }
            }
            out.copies.put_line(line);
            continue;
        }
        out.select(&input.buf[start - stamp_len..input.pos]);
        input.room(out, input.pos - start + stamp_len, input.off(start));
        deliver(out, &input.buf[start - stamp_len..input.pos]);
        input.open_line = Some(input.off(start));
        eof |= finish_line(input, out, full, eof);
        input.open_line = None;
        if eof {
            return;
        }
    }
}

/// Collects a line that crosses the end of the block into `window`
/// (which already holds `len` bytes). Returns the window length, whether
/// it filled up, and whether input ended.
fn gather(
    input: &mut Input,
    out: &mut Outputs,
    window: &mut [u8; WINDOW],
    mut len: usize,
) -> (usize, bool, bool) {
    loop {
        let avail = &input.buf[input.pos..input.vend];
        let lim = avail.len().min(WINDOW - len);
        if let Some(i) = memchr::memchr(b'\n', &avail[..lim]) {
            window[len..len + i].copy_from_slice(&avail[..i]);
            input.pos += i + 1;
            return (len + i, false, false);
        }
        window[len..len + lim].copy_from_slice(&avail[..lim]);
        len += lim;
        input.pos += lim;
        if len == WINDOW {
            return (len, true, false);
        }
        if !input.more(out) {
            return (len, false, true);
        }
    }
}

/// Puts the window into the directories selected for it (the script
/// has run over it: `Outputs::select`).
#[inline]
fn deliver(out: &mut Outputs, window: &[u8]) {
    for d in out.dirs.iter_mut().filter(|d| d.selected) {
        d.put(window);
        d.kept += window.len() as u64;
    }
    out.copies.start(window);
}

/// After the window: the rest of a long line (byte by byte in the
/// reference) and the newline. Returns whether input ended.
fn finish_line(input: &mut Input, out: &mut Outputs, full: bool, mut eof: bool) -> bool {
    if full {
        loop {
            if input.pos == input.vend && !input.more(out) {
                eof = true;
                break;
            }
            let avail = &input.buf[input.pos..input.vend];
            let (take, skip) = match memchr::memchr(b'\n', avail) {
                Some(i) => (i, i + 1),
                None => (avail.len(), avail.len()),
            };
            // With the newline, if it is there (added after the loop).
            let here = input.off(input.pos);
            input.room(out, skip, here);
            let avail = &input.buf[input.pos..input.vend];
            for d in out.dirs.iter_mut().filter(|d| d.selected) {
                d.put_bytes(&avail[..take]);
                d.kept += take as u64;
            }
            out.copies.more(&avail[..take]);
            input.pos += skip;
            if take < skip {
                break;
            }
        }
    }
    for d in out.dirs.iter_mut().filter(|d| d.selected) {
        d.putc(b'\n');
        d.kept += 1;
    }
    out.copies.end();
    eof
}
