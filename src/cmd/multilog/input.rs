//! multilog's standard input: blocks of up to 128 KiB, handed to the line
//! loop as the reference's sequence of 1024-byte reads, and consumed only
//! once the lines they hold are in the log files.
//!
//! # Looking before taking
//! Where the input can be looked at without being taken, it is: a pipe
//! (or FIFO) through tee(2) into a private pipe, a stream socket through
//! recv(MSG_PEEK), a regular file through pread(2). The bytes stay in the
//! input until the lines they hold have been written to every log
//! directory (write(2) into `current`); only then are they consumed
//! (splice(2) into /dev/null, a read into a scratch buffer, or lseek(2)).
//! So a SIGKILL at any moment loses no complete line: whatever multilog
//! held only in memory is still in the pipe for the next multilog.
//!
//! Lines written but not yet consumed would be logged again by the next
//! multilog. The writes come at most `MAX_UNCONSUMED` bytes of logged
//! input apart (see `crossed` and `room`), and after each one the input is
//! either consumed up to there (a socket, a file) or, from a pipe, the
//! point is recorded in the `pending` file (see `pending`), and the input
//! consumed at the end of the block, in steps of at most `MAX_UNCONSUMED`
//! bytes recorded before they are made. The next multilog on that pipe
//! consumes what the record says is logged. So a kill makes the next
//! multilog log again at most the input of the write or of the step it
//! interrupted. (Consuming after every write, as without `pending`, costs
//! a splice(2) per 4 KiB of logged input, and when the writer is faster
//! than multilog, each one wakes the writer that waits on the full pipe.)
//!
//! Two exceptions, neither worse than daemontools 0.76 (which loses up to
//! 1 KiB and a partial line, and splits lines of 2000 bytes or more across
//! files):
//! * a line of `WINDOW` (1000) bytes or more may be consumed in pieces
//!   (its first part is written before its end has arrived), so a kill can
//!   split it into two lines; without that, a line longer than the pipe's
//!   capacity could never be taken;
//! * a partial line that nothing follows for `PARTIAL_WAIT` is taken into
//!   memory, so that multilog can sleep in the kernel until new input
//!   arrives (a pipe that holds bytes stays readable, and waiting on it
//!   would spin); a kill then loses that partial line.
//!
//! Other inputs (a terminal, a character device, a datagram socket) are
//! read with read(2), at most 1024 bytes at a time as daemontools does, so
//! a kill loses at most what 0.76 loses.
//!
//! fd 0's open file description is shared (with supervise, svscan, the
//! logged service): multilog never changes its flags. tee and recv use
//! their own non-blocking flags, and multilog waits with ppoll(2): on fd 0
//! when the input is empty, on an edge-triggered epoll of fd 0 when it
//! holds only an already-seen partial line (see `wait_partial`).

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::stat::SFlag;
use nix::unistd::Whence;

use super::logdir::NEAR_FULL;
use super::pending::{Bytes, Pending, Record};
use super::{ALRM, Outputs, TERM, VREAD, WINDOW, block_term_alrm};
use crate::sys;

/// Index of a block's first byte in `Input::buf`. The bytes in front of
/// it take a `t` stamp (written just before a line's first byte) and the
/// already-seen bytes that tee(2) or MSG_PEEK hand out again.
pub const BLOCK: usize = 2048;
/// The largest block.
const READ_SIZE: usize = 128 * 1024;
/// The input that log directories took (lines to log) since it was last
/// consumed stays at or below this many bytes: a SIGKILL makes the next
/// multilog log at most that much again.
pub const MAX_UNCONSUMED: u64 = 4096;
/// How long a partial line may wait in a pipe or socket for the rest.
const PARTIAL_WAIT: Duration = Duration::from_secs(1);
/// The first wait for the end of a partial line (see `wait_partial`).
const FIRST_WAIT: Duration = Duration::from_micros(10);
/// Waits shorter than this are timed to the microsecond.
const FINE_WAITS: Duration = Duration::from_millis(1);
/// Pending directory syncs are done once a partial line has waited this
/// long (not in the short waits for a writer that is busy).
const IDLE_AFTER: Duration = Duration::from_millis(10);
/// The private pipe's size: room for a whole block plus a partial line.
const TAP_SIZE: i32 = 256 * 1024;

/// How the input is looked at and consumed.
enum Kind {
    /// A pipe or FIFO: tee(2) into `tap`, consume by splice(2) into
    /// `sink` (/dev/null) or, without it, by read(2).
    Pipe {
        tap_r: OwnedFd,
        tap_w: OwnedFd,
        sink: Option<OwnedFd>,
    },
    /// A stream socket: recv(MSG_PEEK), consume by read(2).
    Socket,
    /// A regular file: pread(2) at the offset seen so far, consume by
    /// moving the file offset.
    File,
    /// Anything else: read(2), at most 1024 bytes at a time.
    Stream,
}

/// The result of one attempt to get more input.
enum Fill {
    Data,
    Eof,
    /// Nothing yet (a wait ended, a signal came): try again.
    Again,
}

/// Standard input, in blocks, handed out as the reference's reads.
pub struct Input {
    /// `BLOCK` bytes of room, then the block.
    pub buf: Vec<u8>,
    pub pos: usize,
    /// End of the current 1024-byte read within the block.
    pub vend: usize,
    pub end: usize,
    eof: bool,
    /// Whether the last byte seen was a newline (or nothing was seen).
    newline: bool,
    /// Lines that start before this index share the last `t` stamp (0
    /// after a new block: the next line reads the clock).
    pub stamp_end: usize,
    kind: Kind,
    /// Stream offset of `buf[BLOCK]` (for a file: the file offset).
    base: u64,
    /// Stream offset up to which the input has been consumed.
    consumed: u64,
    /// Stream offset where the line being gathered began, while the line
    /// loop holds one that crosses a read boundary.
    pub open_line: Option<u64>,
    /// When multilog began waiting for the rest of a partial line.
    partial_since: Option<Instant>,
    /// After SIGTERM: only the line in progress is still wanted.
    finishing: bool,
    /// Edge-triggered epoll on fd 0, made the first time it is needed.
    epoll: Option<Epoll>,
    /// The signal mask while multilog waits (TERM and ALRM unblocked).
    wait_mask: SigSet,
    /// The timer slack multilog was started with (see `wait_partial`).
    slack: Option<u64>,
    /// Where consumed bytes are read to when they cannot be spliced away.
    scratch: Vec<u8>,
    /// Whether the input can be consumed at any line of the read in
    /// progress (see `room`).
    exact: bool,
    /// For a pipe: the `pending` file, where the logged input is recorded
    /// after each write, so that it can be consumed once per block.
    /// Without it, input is consumed after each write.
    pending: Option<Pending>,
    /// The last record put in `pending`.
    record: Record,
    /// The first bytes at every `MAX_UNCONSUMED` bytes of the input from
    /// `grid_base` (where it was consumed to when the block came), as
    /// they came (the line loop writes `t` stamps into `buf`): where a
    /// record's consumption in flight may have left the pipe's head.
    grid: Vec<Bytes>,
    grid_base: u64,
    /// Logged input in the pipe beyond this is consumed at once, not at
    /// the end of the block (see `grow_pipe`).
    lag: u64,
    /// The output a read can make at most beyond its own bytes: a stamp
    /// for each of them.
    stamp_len: usize,
    /// A whole line that ends at or before this index of `buf` cannot
    /// take the kept input past the bound: the line loop asks `room` only
    /// about lines that end after it (`usize::MAX` outside exact reads).
    pub check_at: usize,
}

fn stdin() -> std::os::fd::BorrowedFd<'static> {
    sys::StdFd::IN.borrow()
}

impl Input {
    /// Standard input; `dir` is the first log directory (for a pipe, it
    /// holds the `pending` file).
    pub fn new(stamp_len: usize, dir: Option<&OwnedFd>) -> Input {
        let mut wait_mask = SigSet::thread_get_mask().unwrap_or_else(|_| SigSet::empty());
        wait_mask.remove(Signal::SIGTERM);
        wait_mask.remove(Signal::SIGALRM);
        let (kind, base) = kind_of_stdin();
        let splices = matches!(kind, Kind::Pipe { sink: Some(_), .. });
        let pending = dir.filter(|_| splices).and_then(Pending::open);
        let (pending, left) = match pending {
            Some((p, left)) => (Some(p), left),
            None => (None, None),
        };
        let lag = if pending.is_some() { grow_pipe() } else { 0 };
        let mut input = Input {
            buf: vec![0; BLOCK + READ_SIZE],
            pos: BLOCK,
            vend: BLOCK,
            end: BLOCK,
            eof: false,
            newline: true,
            stamp_end: 0,
            kind,
            base,
            consumed: base,
            open_line: None,
            partial_since: None,
            finishing: false,
            epoll: None,
            wait_mask,
            slack: nix::sys::prctl::get_timerslack().ok().map(|s| s as u64),
            scratch: Vec::new(),
            exact: false,
            pending,
            record: Record::at(base),
            grid: Vec::new(),
            grid_base: base,
            lag,
            stamp_len,
            check_at: usize::MAX,
        };
        if let Some(r) = left {
            input.recover(r);
        }
        input
    }

    /// A predecessor killed on this pipe left record `r`: consumes the
    /// bytes at the pipe's head that it had logged, and continues its
    /// stream offsets.
    fn recover(&mut self, r: Record) {
        let Kind::Pipe { tap_r, tap_w, .. } = &self.kind else {
            return;
        };
        let most = r.logged.saturating_sub(r.from) as usize + Bytes::MAX;
        let mut peek = vec![0; most];
        let mut got = 0;
        if let Ok(t) = nix::fcntl::tee(stdin(), tap_w, most, SpliceFFlags::SPLICE_F_NONBLOCK) {
            while got < t {
                match nix::unistd::read(tap_r, &mut peek[got..t]) {
                    Ok(k) if k > 0 => got += k,
                    Err(Errno::EINTR) => {}
                    _ => {
                        // The private pipe fails (as in `fill_pipe`).
                        self.eof = true;
                        return;
                    }
                }
            }
        }
        let peek = &peek[..got.min(most)];
        let Some((head, skip)) = r.fit(peek) else {
            // The record does not describe this pipe's head: skip
            // nothing, and start a record that skips nothing.
            self.publish(Record::at(0));
            return;
        };
        self.base = head;
        self.consumed = head;
        self.grid_base = head;
        grid_of(peek, &mut self.grid);
        self.record = Record::at(head);
        self.record.logged = head + skip as u64;
        self.record.after = r.after;
        let logged = self.record.logged;
        self.consume_to(logged);
        self.base = self.consumed;
    }

    /// The first bytes at stream offset `o`, if it is a point where the
    /// input may be consumed to (see `grid`).
    fn head_bytes(&self, o: u64) -> Bytes {
        let Some(d) = o.checked_sub(self.grid_base) else {
            return Bytes::default();
        };
        if d % MAX_UNCONSUMED != 0 {
            return Bytes::default();
        }
        self.grid
            .get((d / MAX_UNCONSUMED) as usize)
            .copied()
            .unwrap_or_default()
    }

    /// Puts `r` into the `pending` file. If that fails (a full disk on a
    /// copy-on-write file system), the file is emptied (see
    /// `Pending::publish`) and multilog goes back to consuming after each
    /// write (see `commit`).
    #[inline]
    fn publish(&mut self, r: Record) {
        self.record = r;
        if let Some(p) = &mut self.pending
            && p.publish(&r).is_err()
        {
            self.pending = None;
        }
    }

    /// Stream offset of `buf[i]`.
    #[inline]
    pub fn off(&self, i: usize) -> u64 {
        self.base + (i - BLOCK) as u64
    }

    /// Stream offset just past the last byte seen.
    fn seen_end(&self) -> u64 {
        self.off(self.end)
    }

    fn peeks(&self) -> bool {
        !matches!(self.kind, Kind::Stream)
    }

    /// Makes at least one unread byte available in `buf[pos..vend]`;
    /// false at EOF (also a read error, or SIGTERM at a line boundary).
    pub fn more(&mut self, out: &mut Outputs) -> bool {
        loop {
            if self.pos < self.vend {
                return true;
            }
            if self.vend < self.end {
                let x = self.vend;
                self.crossed(out, x, self.open_line);
                self.vend = (self.pos + VREAD).min(self.end);
                continue;
            }
            if self.eof {
                return false;
            }
            // Everything seen is processed: to disk, then consumed.
            out.before_read();
            let seen = self.seen_end();
            self.commit(out, safe_at(seen, self.open_line));
            if self.pending.is_some() {
                let logged = self.record.logged;
                self.consume_to(logged);
            }
            if self.eof {
                return false; // the input could not be consumed
            }
            let term = TERM.get();
            if term && self.newline {
                self.eof = true;
                return false;
            }
            self.finishing = term;
            match self.fill(out) {
                Fill::Data => {
                    self.exact = self.exact_here(out);
                    // Nothing kept yet but, at most, the window of a line
                    // gathered across the end of the last block.
                    self.aim(BLOCK, WINDOW as u64);
                    return true;
                }
                Fill::Eof => {
                    self.eof = true;
                    return false;
                }
                Fill::Again => {}
            }
        }
    }

    /// Takes the block's bytes up to index `last` (of a line that starts
    /// at `start`) in one go: if that crosses the end of one of the
    /// reference's reads, its flush happens first.
    #[inline]
    pub fn take_through(&mut self, last: usize, start: usize, out: &mut Outputs) {
        if last >= self.vend {
            let reads = (last - BLOCK) / VREAD + 1;
            let x = BLOCK + (reads - 1) * VREAD;
            let line = self.off(start);
            self.crossed(out, x, Some(line));
            self.vend = (BLOCK + reads * VREAD).min(self.end);
        }
    }

    /// The end of one of the reference's reads, at index `x`, while the
    /// line that began at stream offset `line` (if any) is in progress:
    /// the directories' buffers are flushed (as 0.76 flushes them before
    /// each read). Then, if the input taken by the directories since the
    /// last consumption could exceed `MAX_UNCONSUMED` at the next such
    /// point (a read adds at most `VREAD`, and the part of a short line in
    /// progress that came before it), or if a directory is about to
    /// rotate, the log data goes to disk and the input is consumed up to
    /// the start of the line in progress. (A rotation's fsync is where a
    /// kill most often lands: consuming at every read before it keeps
    /// what a kill there doubles to about one read.) Lines no directory
    /// takes cannot be logged twice: they cost no consumption.
    ///
    /// Far from a rotation the prediction is not needed: `room` consumes
    /// at the line that would take the kept input past the bound, so
    /// each consumption covers close to `MAX_UNCONSUMED` bytes instead
    /// of 3 to 4 KiB (fewer consumptions: each one wakes a writer that
    /// waits on a full pipe, the main cost of piped input).
    #[inline(never)]
    fn crossed(&mut self, out: &mut Outputs, x: usize, line: Option<u64>) {
        out.flush_model();
        if !self.peeks() {
            return;
        }
        // The mode of the read that starts here decides.
        self.exact = self.exact_here(out);
        let kept = out.kept();
        // The next read can add its bytes and those of a line in progress
        // that came before `x` (not delivered yet unless it is long).
        let safe = safe_at(self.off(x), line);
        let ahead = self.off(x) - safe;
        if (!self.exact && kept + ahead + VREAD as u64 > MAX_UNCONSUMED)
            || (kept > 0 && out.near_rotation())
        {
            out.write_committed();
            self.commit(out, safe);
        }
        // Bytes of the line in progress before `x` are not in `kept` yet.
        let from = match line {
            Some(l) if l >= self.base => BLOCK + (l - self.base) as usize,
            Some(_) => BLOCK,
            None => x,
        };
        let kept = out.kept();
        self.aim(from.min(x), kept);
    }

    /// Sets `check_at` for `kept` input bytes kept at index `i`: every
    /// byte from there on could be kept too.
    #[inline]
    fn aim(&mut self, i: usize, kept: u64) {
        self.check_at = if self.exact {
            i + MAX_UNCONSUMED.saturating_sub(kept) as usize
        } else {
            usize::MAX
        };
    }

    /// `room` for a whole line of `n` input bytes that began at index
    /// `start` and ends after `check_at`; then the next such index.
    #[cold]
    #[inline(never)]
    pub fn room_for_line(&mut self, out: &mut Outputs, n: usize, start: usize) {
        let safe = self.off(start);
        self.room(out, n, safe);
        let kept = out.kept() + n as u64;
        self.aim(self.pos, kept);
    }

    /// Whether, in the read that starts now, the input may be consumed
    /// at any line: an extra flush of the directories' buffers there (a
    /// read boundary the reference could have had from a pipe) must not
    /// change where a rotation falls, so no directory may come within
    /// `NEAR_FULL` of its rotation during this read, whose output is at
    /// most its 1024 bytes plus a stamp for each.
    fn exact_here(&self, out: &Outputs) -> bool {
        let most = (VREAD * (1 + self.stamp_len)) as u64;
        self.peeks() && !out.near_rotation_within(NEAR_FULL + most)
    }

    /// Before `n` input bytes go to the selected directories: if that
    /// would take the input kept since the last consumption past
    /// `MAX_UNCONSUMED`, the lines before go to disk and the input is
    /// consumed up to `safe` (where the bytes begin, or the start of
    /// their line) first. Only in an `exact` read; in the others the
    /// prediction in `crossed` keeps the bound.
    #[inline]
    pub fn room(&mut self, out: &mut Outputs, n: usize, safe: u64) {
        if self.exact && out.would_exceed(n) {
            self.cut(out, safe);
        }
    }

    #[inline(never)]
    fn cut(&mut self, out: &mut Outputs, safe: u64) {
        out.flush_model();
        out.write_committed();
        self.commit(out, safe);
    }

    /// Every line delivered to the directories ends at or before `target`
    /// and is written: records that in `pending` (the input is consumed at
    /// the end of the block), or without it consumes the input up to
    /// `target`.
    fn commit(&mut self, out: &mut Outputs, target: u64) {
        if self.pending.is_some() {
            self.logged_to(target);
            if self.pending.is_some() {
                out.consumed();
                if self.record.logged.saturating_sub(self.consumed) >= self.lag {
                    self.consume_logged();
                }
                return;
            }
            // The record could not be written: consumed after every
            // write from now on, starting here.
        }
        self.consume_to(target);
        if self.consumed >= target {
            out.consumed();
        }
    }

    /// Within a block: consumes what is logged, and takes the first bytes
    /// at the points where it may be consumed next from `buf`, where they
    /// are still as they came (stamps are only written in front of lines
    /// before the point logged to).
    #[cold]
    fn consume_logged(&mut self) {
        let logged = self.record.logged;
        self.consume_to(logged);
        if self.consumed == logged {
            // As in `logged_to`: `consumed` lies in `buf`.
            let at = (BLOCK as u64 + self.consumed - self.base) as usize;
            self.grid_base = self.consumed;
            grid_of(&self.buf[at..self.end], &mut self.grid);
        }
    }

    /// Records that the input is logged up to `target`, with the (up to
    /// 16) bytes seen after it. (Those are as they came: a `t` stamp is
    /// written into `buf` in front of a line, over the end of the line
    /// before, but not yet in front of any line after `target`.)
    #[inline(never)]
    fn logged_to(&mut self, target: u64) {
        if target <= self.record.logged {
            return;
        }
        let mut r = self.record;
        r.logged = target;
        // `buf[BLOCK]` is at stream offset `base`, the bytes from
        // `consumed` on are in `buf` up to `end`. (`target` can lie before
        // `consumed`: the start of a line whose beginning was taken in
        // while it waited for its end. Then nothing is pending.)
        let at = (BLOCK as u64 + target.max(self.consumed) - self.base) as usize;
        r.after = Bytes::of(&self.buf[at..self.end]);
        r.from = self.consumed;
        r.to = self.consumed;
        r.at_from = self.head_bytes(self.consumed);
        r.at_to = r.at_from;
        self.publish(r);
    }

    /// At exit, once every line is on disk: consumes all that was seen.
    pub fn finish(&mut self) {
        let seen = self.seen_end();
        if self.pending.is_some() && seen > self.consumed {
            self.logged_to(seen);
        }
        self.consume_to(seen);
    }

    /// Consumes the input up to stream offset `target`. A failure ends
    /// the input (multilog cannot go on without repeating lines). With
    /// `pending`, in splices of at most `MAX_UNCONSUMED` bytes, each
    /// recorded before it is made: a kill during one makes the next
    /// multilog take it as made if the pipe's head fits (doubling at most
    /// that splice).
    fn consume_to(&mut self, target: u64) {
        while self.consumed < target {
            let mut n = (target - self.consumed) as usize;
            if self.pending.is_some() {
                n = n.min(MAX_UNCONSUMED as usize);
                let mut r = self.record;
                r.from = self.consumed;
                r.to = self.consumed + n as u64;
                r.at_from = self.head_bytes(r.from);
                r.at_to = self.head_bytes(r.to);
                self.publish(r);
            }
            let r = match &self.kind {
                Kind::Stream => Ok(n),
                Kind::File => {
                    nix::unistd::lseek(stdin(), target as i64, Whence::SeekSet).map(|_| n)
                }
                Kind::Pipe {
                    sink: Some(sink), ..
                } => nix::fcntl::splice(
                    stdin(),
                    None,
                    sink,
                    None,
                    n,
                    SpliceFFlags::SPLICE_F_NONBLOCK,
                ),
                Kind::Pipe { sink: None, .. } | Kind::Socket => {
                    self.scratch.resize(n.min(READ_SIZE), 0);
                    nix::unistd::read(stdin(), &mut self.scratch)
                }
            };
            match r {
                Ok(k) if k > 0 => self.consumed += k as u64,
                Err(Errno::EINTR) => {}
                _ => {
                    self.eof = true;
                    break;
                }
            }
        }
        if self.pending.is_some() && self.record.from != self.consumed {
            let mut r = self.record;
            r.from = self.consumed;
            r.to = self.consumed;
            r.at_from = self.head_bytes(r.from);
            r.at_to = r.at_from;
            self.publish(r);
        }
    }

    /// Gets the next block.
    fn fill(&mut self, out: &mut Outputs) -> Fill {
        match self.kind {
            Kind::Pipe { .. } => self.fill_pipe(out),
            Kind::Socket => self.fill_socket(out),
            Kind::File => self.fill_file(),
            Kind::Stream => self.fill_stream(out),
        }
    }

    /// Takes `n` new bytes at `buf[BLOCK..]` as the next block. After
    /// SIGTERM the block ends with the first newline: the line in
    /// progress is completed and the rest is left to the next reader.
    fn loaded(&mut self, mut n: usize) -> Fill {
        self.base = self.seen_end();
        if self.finishing
            && let Some(i) = memchr::memchr(b'\n', &self.buf[BLOCK..BLOCK + n])
        {
            n = i + 1;
            self.eof = true;
        }
        self.pos = BLOCK;
        self.end = BLOCK + n;
        self.vend = BLOCK + n.min(VREAD);
        self.newline = self.buf[BLOCK + n - 1] == b'\n';
        self.stamp_end = 0;
        self.partial_since = None;
        Fill::Data
    }

    fn fill_pipe(&mut self, out: &mut Outputs) -> Fill {
        let Kind::Pipe { tap_r, tap_w, .. } = &self.kind else {
            unreachable!("a pipe");
        };
        // The pipe starts with the bytes seen but not consumed (the start
        // of the line in progress): tee hands them out again.
        let skip = (self.seen_end() - self.consumed) as usize;
        let t = match nix::fcntl::tee(
            stdin(),
            tap_w,
            skip + READ_SIZE,
            SpliceFFlags::SPLICE_F_NONBLOCK,
        ) {
            Ok(0) => return Fill::Eof,
            Ok(t) => t,
            Err(Errno::EAGAIN) => return self.wait_readable(out),
            Err(Errno::EINTR) => return Fill::Again,
            Err(Errno::EINVAL) if skip == 0 => {
                // A pipe tee(2) refuses: read it as 0.76 does.
                self.kind = Kind::Stream;
                return Fill::Again;
            }
            Err(_) => return Fill::Eof,
        };
        // The seen bytes land in front of the block.
        let at = BLOCK - skip;
        let mut got = 0;
        while got < t {
            match nix::unistd::read(tap_r, &mut self.buf[at + got..at + t]) {
                Ok(k) if k > 0 => got += k,
                Err(Errno::EINTR) => {}
                _ => return Fill::Eof,
            }
        }
        if self.pending.is_some() {
            self.grid_base = self.consumed;
            grid_of(&self.buf[at..at + t], &mut self.grid);
        }
        if t <= skip {
            return self.wait_partial(out);
        }
        self.loaded(t - skip)
    }

    fn fill_socket(&mut self, out: &mut Outputs) -> Fill {
        let skip = (self.seen_end() - self.consumed) as usize;
        let at = BLOCK - skip;
        let flags = libc::MSG_PEEK | libc::MSG_DONTWAIT;
        match sys::recv(stdin(), &mut self.buf[at..BLOCK + READ_SIZE], flags) {
            Ok(0) => Fill::Eof,
            Ok(t) if t <= skip => self.wait_partial(out),
            Ok(t) => self.loaded(t - skip),
            Err(Errno::EAGAIN) => self.wait_readable(out),
            Err(Errno::EINTR) => Fill::Again,
            Err(_) => Fill::Eof,
        }
    }

    fn fill_file(&mut self) -> Fill {
        let at = self.seen_end() as i64;
        match nix::sys::uio::pread(stdin(), &mut self.buf[BLOCK..], at) {
            Ok(0) => Fill::Eof,
            Ok(n) => self.loaded(n),
            Err(Errno::EINTR) => Fill::Again,
            Err(_) => Fill::Eof,
        }
    }

    /// read(2) of at most 1024 bytes (one byte after SIGTERM, to finish
    /// the line in progress without taking more), with TERM and ALRM
    /// unblocked while it waits.
    fn fill_stream(&mut self, out: &mut Outputs) -> Fill {
        let want = if self.finishing { 1 } else { VREAD };
        if out.dir_sync_pending() && !readable(PollFlags::empty()) {
            out.idle();
        }
        block_term_alrm(false);
        // A TERM or ALRM that arrived while busy is delivered here; act
        // on it now instead of blocking in read (doc/multilog.8.md, "Signals
        // while busy").
        if ALRM.get() || TERM.get() != self.finishing {
            block_term_alrm(true);
            return Fill::Again;
        }
        // A rotation by age may fall due while read(2) would block.
        if let Some(t) = until(out.deadline()) {
            let mut fds = [PollFd::new(stdin(), PollFlags::POLLIN)];
            if nix::poll::ppoll(&mut fds, Some(t), None) != Ok(1) {
                block_term_alrm(true);
                return Fill::Again;
            }
        }
        let r = nix::unistd::read(stdin(), &mut self.buf[BLOCK..BLOCK + want]);
        block_term_alrm(true);
        match r {
            Err(Errno::EINTR) => Fill::Again,
            Ok(0) | Err(_) => Fill::Eof,
            Ok(n) => {
                let f = self.loaded(n);
                self.consumed = self.seen_end();
                f
            }
        }
    }

    /// The input is empty: sleep until it is readable (or a signal
    /// comes, or a rotation by age is due), with pending directory syncs
    /// done first.
    fn wait_readable(&mut self, out: &mut Outputs) -> Fill {
        out.idle();
        let mut fds = [PollFd::new(stdin(), PollFlags::POLLIN)];
        let timeout = until(out.deadline());
        let _ = nix::poll::ppoll(&mut fds, timeout, Some(self.wait_mask));
        Fill::Again
    }

    /// The input holds only the partial line already seen: sleep until
    /// more arrives, for at most `PARTIAL_WAIT` in all; then (or once no
    /// writer is left) take the partial line into memory, so that the
    /// input is empty and the next wait sleeps in the kernel.
    ///
    /// An edge-triggered epoll wakes multilog at the end of every write
    /// into the pipe, but not during one write(2) larger than the room in
    /// the pipe: Linux wakes readers between the pieces of such a write
    /// only if the pipe was empty, and the partial line keeps it from
    /// being empty. So each wait also ends after as long as multilog has
    /// been waiting already, at least `FIRST_WAIT` (20, 40, 80 µs, ...):
    /// a writer blocked in a long write is noticed within tens of
    /// microseconds, and a partial line that stays costs a few dozen
    /// wake-ups in all. The wait is a ppoll(2) on the epoll descriptor
    /// (nanosecond timeout, TERM and ALRM unblocked atomically).
    fn wait_partial(&mut self, out: &mut Outputs) -> Fill {
        let since = *self.partial_since.get_or_insert_with(Instant::now);
        let waited = since.elapsed();
        let left = PARTIAL_WAIT.saturating_sub(waited);
        if left.is_zero() || readable(rdhup()) || self.edge_trigger().is_none() {
            self.take_in();
            return Fill::Again;
        }
        if waited >= IDLE_AFTER {
            out.idle();
        }
        let nap = left.min(waited.max(FIRST_WAIT));
        let ep = self.epoll.as_ref().expect("made by edge_trigger");
        let mut fds = [PollFd::new(ep.0.as_fd(), PollFlags::POLLIN)];
        // The kernel may end a sleep up to the timer slack late (50 µs by
        // default): for the short waits, ask for 1 µs.
        let fine = nap < FINE_WAITS && self.slack.is_some();
        if fine {
            let _ = nix::sys::prctl::set_timerslack(1000);
        }
        let r = nix::poll::ppoll(&mut fds, Some(nap.into()), Some(self.wait_mask));
        if let Some(slack) = self.slack.filter(|_| fine) {
            let _ = nix::sys::prctl::set_timerslack(slack as _);
        }
        if r == Ok(1) {
            // Take the event, so that the next wait sleeps.
            let _ = ep.wait(&mut [EpollEvent::empty()], PollTimeout::ZERO);
        }
        Fill::Again
    }

    /// The edge-triggered epoll on fd 0: it wakes up once for every
    /// write into the pipe (socket), even when that was not empty.
    fn edge_trigger(&mut self) -> Option<&Epoll> {
        if self.epoll.is_none() {
            let ep = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).ok()?;
            let flags = EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP | EpollFlags::EPOLLET;
            ep.add(stdin(), EpollEvent::new(flags, 0)).ok()?;
            self.epoll = Some(ep);
        }
        self.epoll.as_ref()
    }

    /// Consumes the partial line already seen: it is now only in memory.
    fn take_in(&mut self) {
        self.partial_since = None;
        let seen = self.seen_end();
        self.consume_to(seen);
    }
}

/// The first bytes at every `MAX_UNCONSUMED` bytes of `input`, into `grid`.
fn grid_of(input: &[u8], grid: &mut Vec<Bytes>) {
    grid.clear();
    grid.extend(input.chunks(MAX_UNCONSUMED as usize).map(Bytes::of));
}

/// Where the input can be consumed up to at stream offset `x`, with the
/// line that began at `line` (if any) in progress: all of it if that line
/// is long (its first `WINDOW` bytes have been delivered and it may be
/// split), otherwise up to the start of that line.
#[inline]
fn safe_at(x: u64, line: Option<u64>) -> u64 {
    match line {
        Some(s) if x - s < WINDOW as u64 => s,
        _ => x,
    }
}

/// The time left until `deadline`, as a ppoll timeout (None: no deadline).
fn until(deadline: Option<Instant>) -> Option<nix::sys::time::TimeSpec> {
    let left = deadline?.saturating_duration_since(Instant::now());
    Some(left.into())
}

/// POLLRDHUP (a stream socket's peer shut down), which nix does not name.
fn rdhup() -> PollFlags {
    PollFlags::from_bits_retain(libc::POLLRDHUP)
}

/// Whether fd 0 is readable now, or (with `hup`) shows that no more
/// input can come (no writer left, or the peer shut down).
fn readable(hup: PollFlags) -> bool {
    let mut fds = [PollFd::new(stdin(), PollFlags::POLLIN | hup)];
    match nix::poll::poll(&mut fds, PollTimeout::ZERO) {
        Ok(n) if n > 0 => {
            let r = fds[0].revents().unwrap_or(PollFlags::empty());
            if hup.is_empty() {
                !r.is_empty()
            } else {
                r.intersects(PollFlags::POLLHUP | rdhup() | PollFlags::POLLERR)
            }
        }
        _ => false,
    }
}

/// Gives the input pipe room for two blocks, if it has less (and the
/// kernel allows): the writer fills one while multilog logs the other and
/// then consumes it whole. (A pipe of one block would have the writer wait
/// while multilog works, and multilog wait for the writer after each
/// consumption.) The pipe's size is the pipe's, not the descriptor's: it
/// changes nothing else for the processes that share it, except that the
/// writer can be further ahead of multilog.
///
/// Returns how much logged input may wait in the pipe before it is
/// consumed within a block: half the pipe's size, so that a pipe that
/// could not be grown (an unprivileged multilog, when the pipe's owner is
/// over its pipe-user-pages-soft limit) still has room for the writer
/// while multilog works.
fn grow_pipe() -> u64 {
    let want = 2 * READ_SIZE as i32;
    let mut size = nix::fcntl::fcntl(stdin(), FcntlArg::F_GETPIPE_SZ).unwrap_or(0);
    if size < want && nix::fcntl::fcntl(stdin(), FcntlArg::F_SETPIPE_SZ(want)).is_ok() {
        size = nix::fcntl::fcntl(stdin(), FcntlArg::F_GETPIPE_SZ).unwrap_or(size);
    }
    (size.max(8192) / 2) as u64
}

/// What fd 0 is, and its starting stream offset.
fn kind_of_stdin() -> (Kind, u64) {
    let Ok(st) = nix::sys::stat::fstat(stdin()) else {
        return (Kind::Stream, 0);
    };
    let fmt = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
    if fmt == SFlag::S_IFIFO {
        if let Ok((tap_r, tap_w)) = nix::unistd::pipe2(OFlag::O_CLOEXEC) {
            let _ = nix::fcntl::fcntl(&tap_w, FcntlArg::F_SETPIPE_SZ(TAP_SIZE));
            let sink = nix::fcntl::open(
                "/dev/null",
                OFlag::O_WRONLY | OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .ok();
            return (Kind::Pipe { tap_r, tap_w, sink }, 0);
        }
    } else if fmt == SFlag::S_IFSOCK {
        if sys::socket_type(stdin()) == Some(libc::SOCK_STREAM) {
            return (Kind::Socket, 0);
        }
    } else if fmt == SFlag::S_IFREG
        && let Ok(at) = nix::unistd::lseek(stdin(), 0, Whence::SeekCur)
    {
        return (Kind::File, at as u64);
    }
    (Kind::Stream, 0)
}
