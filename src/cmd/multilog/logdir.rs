//! A multilog log directory: set-up and crash recovery, the write path
//! (`c_write` and daemontools' 512-byte output buffer), rotation, archive
//! naming (`finish`), retention (`filesfit`) and the processor protocol.
//!
//! # The write model
//! Which bytes land in which file depends on how data reaches `current`:
//! every chunk handed to `c_write` may be cut at its last newline once the
//! file is within 2000 bytes of the size limit, and a chunk that ends in a
//! newline there closes the file. The chunks are what daemontools' 512-byte
//! buffer hands over: its flushes (buffer full, a window of more than 512
//! bytes written straight through, and the flush before every read).
//!
//! This module reproduces those chunks exactly, but does not issue one
//! write(2) per chunk. `pend` holds, in order, the bytes already passed
//! through the model `c_write` (`pend[..committed]`, "committed": part of
//! `current` as far as the model is concerned) followed by the model's
//! 512-byte buffer (`pend[committed..]`). Committed bytes reach the file
//! with one write(2) when there are many of them, before a rotation, before
//! multilog reads its input again, and at exit. The file contents, the
//! rotation points and the archive boundaries are therefore those of the
//! reference; only the number of write(2) calls differs.

use std::ffi::CString;
use std::os::fd::{IntoRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, AtFlags, Flock, OFlag};
use nix::sys::signal::Signal;
use nix::sys::stat::{FchmodatFlags, Mode};
use nix::sys::wait::WaitStatus;
use nix::unistd::ForkResult;

use super::compress::Compressor;
use super::script::{MAX_HEAD, Settings, Stamps};
use super::stamp::Heads;
use super::{PROG, block_term_alrm, copy, mark_slow, pause, retain};
use crate::fsio;
use crate::msg::{self, EXIT_TEMP, Line};
use crate::sys;
use crate::tai64::Tai64n;

/// Size of daemontools' per-directory output buffer.
pub const OUTBUF: usize = 512;

/// Committed bytes are written out once this many have gathered.
const WRITE_HIGH: usize = 64 * 1024;

/// See `near_rotation`.
pub const NEAR_FULL: u64 = 4096;

/// While rotations follow each other, the directory is synced at most
/// this often (see `sync_dir`).
const DIR_SYNC_EVERY: Duration = Duration::from_secs(1);

fn fatal(parts: &[&[u8]], e: Errno) -> ! {
    msg::fatal(PROG, parts, e)
}

/// Retries `f` until it succeeds, pausing with `parts` after each failure.
fn retry<T>(parts: &[&[u8]], mut f: impl FnMut() -> Result<T, Errno>) -> T {
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) => pause(parts, Some(e)),
        }
    }
}

fn mode(bits: u32) -> Mode {
    Mode::from_bits_truncate(bits as _)
}

fn chmod(path: &[u8], bits: u32) -> Result<(), Errno> {
    nix::sys::stat::fchmodat(AT_FDCWD, path, mode(bits), FchmodatFlags::FollowSymlink)
}

fn rename(from: &[u8], to: &[u8]) -> Result<(), Errno> {
    nix::fcntl::renameat(AT_FDCWD, from, AT_FDCWD, to)
}

/// fchmod that reports a failed call as its errno.
fn fchmod(fd: &OwnedFd, bits: u32) -> Result<(), Errno> {
    nix::sys::stat::fchmod(fd, mode(bits))
}

/// `fd_move`: puts `fd` on descriptor number `to` (without close-on-exec).
fn move_fd(fd: OwnedFd, to: RawFd) -> Result<(), Errno> {
    let raw = fd.into_raw_fd();
    if raw != to {
        sys::dup2(raw, to)?;
        sys::close(raw);
    }
    Ok(())
}

/// One log directory, set up and locked.
pub struct LogDir<'a> {
    pub name: &'a [u8],
    size: u64,
    num: u64,
    /// `sh -c CMD` as C strings, built before any fork.
    processor: Option<[CString; 3]>,
    processor_text: &'a [u8],
    dirfd: OwnedFd,
    _lock: Option<Flock<OwnedFd>>,
    current: Option<OwnedFd>,
    /// The size of `current` as the model sees it.
    bytes: u64,
    /// Committed bytes, then the model's 512-byte buffer.
    pend: Vec<u8>,
    committed: usize,
    /// The selection flag at this directory's position, for the current line.
    pub selected: bool,
    /// Input bytes of the lines put here since the input was last
    /// consumed (see `input`).
    pub kept: u64,
    /// Names changed (rename, link, unlink) since the directory was last
    /// synced, and when that was.
    dir_dirty: bool,
    dir_synced: Instant,
    /// `R`: the greatest age of `current`'s first line (None: no limit),
    /// and when that line came (None: `current` is empty).
    age: Option<Duration>,
    first_line: Option<Instant>,
    /// `C`: the total size cap of the archives (0: none).
    cap: u64,
    /// `g`: the gzip level, and the thread once started.
    gzip: u32,
    compressor: Option<Compressor>,
    /// `D` and its state (see `write_dropping`).
    drop: Option<Dropping>,
}

/// The state of the drop policy (`D`).
struct Dropping {
    /// Lines dropped since the last marker.
    lines: u64,
    /// The rest of a line that was dropped is still to come: skip it.
    skip_line: bool,
    /// Bytes at the end of `current` after its last newline (a line
    /// written in pieces).
    open_bytes: u64,
    /// The stamps of the marker line.
    heads: Heads,
}

/// Whether a write error means "no room": dropped under `D`.
fn disk_full(e: Errno) -> bool {
    matches!(e, Errno::ENOSPC | Errno::EDQUOT | Errno::EFBIG)
}

impl<'a> LogDir<'a> {
    /// The directory, open.
    pub fn dirfd(&self) -> &OwnedFd {
        &self.dirfd
    }

    /// Sets up directory `name` (relative to `startdir`): mkdir, lock, and
    /// either the clean start or the crash recovery. Errors are fatal.
    pub fn open(
        startdir: &OwnedFd,
        name: &'a [u8],
        set: Settings<'a>,
        stamps: &Stamps,
    ) -> LogDir<'a> {
        if let Err(e) = nix::unistd::fchdir(startdir) {
            fatal(&[b"unable to switch to starting directory"], e);
        }
        let _ = nix::unistd::mkdir(name, mode(0o700));
        let dirfd = fsio::open_read(name)
            .and_then(|fd| nix::unistd::fchdir(&fd).map(|()| fd))
            .unwrap_or_else(|e| fatal(&[b"unable to open directory ", name], e));
        let _ = fsio::coe(&dirfd);
        let lock = fsio::open_append(b"lock")
            .and_then(|fd| fsio::lock_ex(fd, false))
            .unwrap_or_else(|e| fatal(&[b"unable to lock directory ", name], e));
        let _ = fsio::coe(&*lock);

        let processor = set.processor.map(|p| {
            [
                CString::new("sh").expect("no NUL"),
                CString::new("-c").expect("no NUL"),
                crate::exec::cstring(p),
            ]
        });
        let mut d = LogDir {
            name,
            size: set.size,
            num: set.num,
            processor,
            processor_text: set.processor.unwrap_or(b""),
            dirfd,
            _lock: Some(lock),
            current: None,
            bytes: 0,
            pend: Vec::with_capacity(WRITE_HIGH + 4 * OUTBUF + 2048),
            committed: 0,
            selected: false,
            kept: 0,
            dir_dirty: false,
            dir_synced: Instant::now(),
            age: (set.age > 0).then(|| Duration::from_secs(set.age)),
            first_line: None,
            cap: set.cap,
            gzip: set.gzip,
            compressor: None,
            drop: set.drop.then(|| Dropping {
                lines: 0,
                skip_line: false,
                open_bytes: 0,
                heads: Heads::new(stamps),
            }),
        };
        d.restart();
        if d.gzip > 0 {
            let c = Compressor::start(&d.dirfd, name, d.gzip)
                .unwrap_or_else(|e| fatal(&[b"unable to start compressing in ", name], e));
            d.compressor = Some(c);
        }
        if d.bytes > 0 {
            d.first_line = d.age.map(|_| first_line_time(&d.dirfd));
        }
        if let Some(dr) = &mut d.drop {
            dr.open_bytes = open_bytes(&d.dirfd, d.bytes);
        }
        d
    }

    /// Whether the first line of `current` is older than `R` allows.
    pub fn too_old(&self) -> bool {
        self.deadline().is_some_and(|t| t <= Instant::now())
    }

    /// When `current` is to be rotated by age.
    pub fn deadline(&self) -> Option<Instant> {
        Some(self.first_line? + self.age?)
    }

    /// The start-up decision: append to a cleanly closed `current`, or
    /// recover what a crash left behind.
    fn restart(&mut self) {
        let name = self.name;
        match nix::sys::stat::stat("current") {
            Err(Errno::ENOENT) => {}
            Err(e) => fatal(&[b"unable to stat ", name, b"/current"], e),
            Ok(st) if st.st_mode & 0o100 != 0 => {
                let fd = fsio::open_append(b"current")
                    .unwrap_or_else(|e| fatal(&[b"unable to append to ", name, b"/current"], e));
                if let Err(e) = fchmod(&fd, 0o644) {
                    fatal(&[b"unable to set mode of ", name, b"/current"], e);
                }
                let _ = fsio::coe(&fd);
                self.current = Some(fd);
                self.bytes = st.st_size as u64;
                return;
            }
            Ok(_) => {}
        }

        let _ = nix::unistd::unlink("state");
        let _ = nix::unistd::unlink("newstate");
        let processed_done = match nix::sys::stat::stat("processed") {
            Err(Errno::ENOENT) => false,
            Err(e) => fatal(&[b"unable to stat ", name, b"/processed"], e),
            Ok(st) => st.st_mode & 0o100 != 0,
        };
        if processed_done {
            let _ = nix::unistd::unlink("previous");
            self.finish(b"processed", b's');
        } else {
            let _ = nix::unistd::unlink("processed");
            self.finish(b"previous", b'u');
        }
        self.finish(b"current", b'u');

        match fsio::open_trunc(b"state") {
            Ok(fd) => drop(fd),
            Err(e) => fatal(&[b"unable to write to ", name, b"/state"], e),
        }
        let fd = fsio::open_append(b"current")
            .unwrap_or_else(|e| fatal(&[b"unable to write to ", name, b"/current"], e));
        if let Err(e) = fchmod(&fd, 0o644) {
            fatal(&[b"unable to set mode of ", name, b"/current"], e);
        }
        let _ = fsio::coe(&fd);
        self.current = Some(fd);
        self.bytes = 0;
    }

    /// Whether `current` may fill up within the next `NEAR_FULL` bytes
    /// (it is closed after a line that brings it to size - 2000 or more).
    pub fn near_rotation(&self) -> bool {
        self.near_rotation_within(NEAR_FULL)
    }

    /// Whether `current` may fill up within the next `margin` bytes.
    pub fn near_rotation_within(&self, margin: u64) -> bool {
        self.bytes + margin >= self.size.saturating_sub(2000)
    }

    /// The model size of `current` (SIGALRM rotates only when it is > 0).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// `buffer_put` of the window (at most 1000 bytes).
    #[inline]
    pub fn put(&mut self, data: &[u8]) {
        if data.len() > OUTBUF - (self.pend.len() - self.committed) {
            self.flush();
        }
        self.pend.extend_from_slice(data);
        if data.len() > OUTBUF {
            // Larger than the buffer: daemontools writes it straight through.
            self.flush();
        }
    }

    /// `put(&line[..n - 1])` then `putc(b'\n')` for a `line` of n bytes
    /// ending in its newline (at most 1001 bytes): one copy when both fit
    /// in the model buffer, which is the common case.
    #[inline]
    pub fn put_line(&mut self, line: &[u8]) {
        if line.len() <= OUTBUF - (self.pend.len() - self.committed) {
            self.pend.extend_from_slice(line);
        } else {
            let (last, text) = line.split_last().expect("a line ends in its newline");
            self.put(text);
            self.putc(*last);
        }
    }

    /// `buffer_PUTC` of each byte of `data`, in order.
    #[inline]
    pub fn put_bytes(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let mut used = self.pend.len() - self.committed;
            if used == OUTBUF {
                self.flush();
                used = 0;
            }
            let n = (OUTBUF - used).min(data.len());
            self.pend.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
    }

    /// `buffer_PUTC`.
    #[inline]
    pub fn putc(&mut self, c: u8) {
        if self.pend.len() - self.committed == OUTBUF {
            self.flush();
        }
        self.pend.push(c);
    }

    /// `buffer_flush`: hands the model buffer to `c_write` until it is empty.
    pub fn flush(&mut self) {
        while self.committed < self.pend.len() {
            self.c_write();
        }
        if self.committed >= WRITE_HIGH {
            // Whole lines only: a SIGKILL never leaves part of a short
            // line in `current` (the rest follows with the next write).
            let n = memchr::memrchr(b'\n', &self.pend[..self.committed])
                .map_or(self.committed, |i| i + 1);
            self.write_prefix(n);
        }
    }

    /// Flushes the model buffer and writes every committed byte to
    /// `current` (before multilog blocks in read, and at exit).
    pub fn flush_out(&mut self) {
        self.flush();
        self.write_out();
    }

    /// The reference `c_write` on the model buffer's contents: rotate when
    /// full, cap at the size limit, cut at the last newline near the limit,
    /// commit, and rotate after a newline near the limit.
    fn c_write(&mut self) {
        if self.bytes >= self.size {
            self.rotate();
        }
        let start = self.committed;
        let mut k = (self.pend.len() - start) as u64;
        if k >= self.size - self.bytes {
            k = self.size - self.bytes;
        }
        if self.bytes + k >= self.size - 2000
            && let Some(i) = memchr::memrchr(b'\n', &self.pend[start..start + k as usize])
        {
            k = i as u64 + 1;
        }
        self.committed += k as usize;
        if self.bytes == 0 && k > 0 && self.age.is_some() {
            self.first_line = Some(Instant::now());
        }
        self.bytes += k;
        if self.bytes >= self.size - 2000 && self.pend[self.committed - 1] == b'\n' {
            self.rotate();
        }
    }

    /// Writes the committed bytes to `current`, pausing on every failure
    /// (disk full, EIO, EFBIG) and never dropping a byte.
    pub fn write_out(&mut self) {
        self.write_prefix(self.committed);
    }

    /// Writes the first `n` committed bytes to `current` (see `write_out`).
    fn write_prefix(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        mark_slow();
        if self.drop.is_some() {
            self.write_dropping(n);
        } else {
            self.write_blocking(n);
        }
        let tail = self.pend.len() - n;
        self.pend.copy_within(n.., 0);
        self.pend.truncate(tail);
        self.committed -= n;
    }

    /// 0.76's way: every byte, pausing as long as it takes.
    fn write_blocking(&mut self, n: usize) {
        let mut done = 0;
        while done < n {
            let fd = self.current.as_ref().expect("current is open");
            match nix::unistd::write(fd, &self.pend[done..n]) {
                Ok(k) if k > 0 => done += k,
                r => {
                    let e = r.err().unwrap_or_else(Errno::last);
                    pause(&[b"unable to write to ", self.name, b"/current"], Some(e));
                }
            }
        }
    }

    /// `D`: writes what fits of `pend[..n]` in whole lines. When the disk
    /// is full, the line the write stopped in is cut back out of
    /// `current` (ftruncate), and it and the lines after it are dropped
    /// and counted; once a write works again, a marker line
    /// `multilog: N lines dropped (disk full)` (with the script's stamps)
    /// goes first. Errors other than a full disk pause as in 0.76.
    fn write_dropping(&mut self, n: usize) {
        let mut start = 0;
        let dr = self.drop.as_mut().expect("drop policy");
        if dr.skip_line {
            match memchr::memchr(b'\n', &self.pend[..n]) {
                Some(i) => {
                    start = i + 1;
                    dr.skip_line = false;
                }
                None => start = n,
            }
            self.bytes -= start as u64;
        }
        if start == n || !self.write_marker() {
            if start < n {
                self.drop_lines(start, n, 0, 0);
            }
            return;
        }
        // Bytes of a line begun by an earlier write.
        let open_before = self.drop.as_ref().map_or(0, |d| d.open_bytes);
        let mut done = start;
        while done < n {
            let fd = self.current.as_ref().expect("current is open");
            match nix::unistd::write(fd, &self.pend[done..n]) {
                Ok(k) if k > 0 => {
                    let dr = self.drop.as_mut().expect("drop policy");
                    let chunk = &self.pend[done..done + k];
                    dr.open_bytes = match memchr::memrchr(b'\n', chunk) {
                        Some(i) => (k - i - 1) as u64,
                        None => dr.open_bytes + k as u64,
                    };
                    done += k;
                }
                Err(Errno::EINTR) => {}
                r => {
                    let e = r.err().unwrap_or_else(Errno::last);
                    if disk_full(e) {
                        if self.drop.as_ref().is_some_and(|d| d.lines == 0) {
                            msg::warn(
                                PROG,
                                &[
                                    b"unable to write to ",
                                    self.name,
                                    b"/current, dropping lines",
                                ],
                                Some(e),
                            );
                        }
                        // Back to the start of the line in progress, which
                        // may have begun in an earlier write.
                        let back = memchr::memrchr(b'\n', &self.pend[start..done])
                            .map_or(start, |i| start + i + 1);
                        let earlier = if back == start { open_before } else { 0 };
                        self.drop_lines(back, n, done - back, earlier);
                        return;
                    }
                    pause(&[b"unable to write to ", self.name, b"/current"], Some(e));
                }
            }
        }
    }

    /// Drops `pend[from..n]`, which begins a line or continues the line
    /// whose first `earlier` bytes end `current`, and whose first
    /// `written` bytes were just written: removes what is in `current`
    /// and counts the lines.
    fn drop_lines(&mut self, from: usize, n: usize, written: usize, earlier: u64) {
        let cut = written as u64 + earlier;
        let data = &self.pend[from..n];
        let whole = memchr::memchr_iter(b'\n', data).count() as u64;
        let open = data.last().is_some_and(|&c| c != b'\n');
        if cut > 0 {
            let fd = self.current.as_ref().expect("current is open");
            if let Ok(end) = nix::unistd::lseek(fd, 0, nix::unistd::Whence::SeekEnd) {
                let _ = nix::unistd::ftruncate(fd, (end - cut as i64).max(0));
            }
        }
        let dr = self.drop.as_mut().expect("drop policy");
        dr.lines += whole + u64::from(open);
        dr.skip_line = open;
        dr.open_bytes = 0;
        self.bytes = self.bytes.saturating_sub(data.len() as u64 + earlier);
    }

    /// Writes the marker of the lines dropped, if any. Returns whether
    /// `current` can take more (no marker was due, or it was written).
    fn write_marker(&mut self) -> bool {
        let Some(dr) = self.drop.as_mut() else {
            return true;
        };
        if dr.lines == 0 {
            return true;
        }
        let mut line = Vec::with_capacity(MAX_HEAD + 64);
        if !dr.heads.is_empty() {
            let mut head = [0u8; MAX_HEAD];
            dr.heads.now(&mut head);
            line.extend_from_slice(&head[..dr.heads.len()]);
        }
        line.extend_from_slice(b"multilog: ");
        line.extend_from_slice(dr.lines.to_string().as_bytes());
        line.extend_from_slice(b" lines dropped (disk full)\n");
        let fd = self.current.as_ref().expect("current is open");
        let end = nix::unistd::lseek(fd, 0, nix::unistd::Whence::SeekEnd).ok();
        match msg::write_all(fd, &line) {
            Ok(()) => {
                dr.lines = 0;
                self.bytes += line.len() as u64;
                true
            }
            Err(_) => {
                if let Some(end) = end {
                    let _ = nix::unistd::ftruncate(fd, end);
                }
                false
            }
        }
    }

    /// Before multilog takes more input: the marker, if space returned.
    pub fn after_disk_full(&mut self) {
        if self.drop.as_ref().is_some_and(|d| d.lines > 0) {
            self.write_marker();
        }
    }

    /// After renames, links and unlinks: fsync of the directory itself,
    /// which 0.76 never does
    /// (doc/multilog.8.md, "Directory sync"). It makes the names
    /// durable (an archive keeps its `.s` name and `state` its new
    /// contents across a power loss); no data depends on it: `current`,
    /// `processed` and `newstate` are synced before they are renamed, and
    /// recovery handles any older set of names. An fsync costs about as
    /// much as the rotation's own, so it is put off: it is done before
    /// multilog sleeps waiting for input (`sync_dir_now`), at exit, and
    /// while rotations follow each other at most once per
    /// `DIR_SYNC_EVERY`. Best effort.
    fn sync_dir(&mut self) {
        self.dir_dirty = true;
        if self.dir_synced.elapsed() >= DIR_SYNC_EVERY {
            self.sync_dir_now();
        }
    }

    /// Whether names changed since the last directory sync.
    pub fn dir_sync_pending(&self) -> bool {
        self.dir_dirty
    }

    /// The put-off directory sync, if one is pending.
    pub fn sync_dir_now(&mut self) {
        if self.dir_dirty {
            let _ = nix::unistd::fsync(&self.dirfd);
            self.dir_dirty = false;
            self.dir_synced = Instant::now();
        }
    }

    /// Rotation ("current is full"), each step retried until it works.
    pub fn rotate(&mut self) {
        mark_slow();
        self.write_out();
        let name = self.name;
        retry(&[b"unable to switch to ", name], || {
            nix::unistd::fchdir(&self.dirfd)
        });
        {
            let cur = self.current.as_ref().expect("current is open");
            retry(&[b"unable to write ", name, b"/current to disk"], || {
                nix::unistd::fsync(cur)
            });
        }
        self.current = None;
        retry(
            &[b"unable to rename current to previous in directory ", name],
            || rename(b"current", b"previous"),
        );
        let fd = retry(&[b"unable to create ", name, b"/current"], || {
            fsio::open_append(b"current")
        });
        let _ = fsio::coe(&fd);
        self.bytes = 0;
        self.first_line = None;
        if let Some(dr) = &mut self.drop {
            dr.open_bytes = 0;
        }
        retry(&[b"unable to set mode of ", name, b"/current"], || {
            fchmod(&fd, 0o644)
        });
        self.current = Some(fd);
        retry(&[b"unable to set mode of ", name, b"/previous"], || {
            chmod(b"previous", 0o744)
        });

        if self.processor.is_none() {
            self.finish(b"previous", b's');
            return;
        }
        self.run_processor();
        let fd = retry(&[b"unable to create ", name, b"/processed"], || {
            fsio::open_append(b"processed")
        });
        retry(&[b"unable to write ", name, b"/processed to disk"], || {
            nix::unistd::fsync(&fd)
        });
        retry(&[b"unable to set mode of ", name, b"/processed"], || {
            fchmod(&fd, 0o744)
        });
        drop(fd);
        let fd = retry(&[b"unable to create ", name, b"/newstate"], || {
            fsio::open_append(b"newstate")
        });
        retry(&[b"unable to write ", name, b"/newstate to disk"], || {
            nix::unistd::fsync(&fd)
        });
        drop(fd);
        retry(&[b"unable to remove ", name, b"/previous"], || {
            nix::unistd::unlink("previous")
        });
        retry(
            &[b"unable to rename newstate to state in directory ", name],
            || rename(b"newstate", b"state"),
        );
        self.finish(b"processed", b's');
    }

    /// Runs the processor until it exits 0 (doc/multilog.8.md, "Log
    /// directories"), pausing after every failure.
    fn run_processor(&self) {
        let name = self.name;
        let argv = self.processor.as_ref().expect("processor set");
        loop {
            let pid = loop {
                match sys::fork() {
                    Ok(ForkResult::Child) => {
                        let e = start_processor(argv);
                        Line::new(PROG, "fatal")
                            .s("unable to run ")
                            .b(self.processor_text)
                            .err(e)
                            .exit_child(EXIT_TEMP);
                    }
                    Ok(ForkResult::Parent { child }) => break child,
                    Err(e) => pause(&[b"unable to fork for processor in ", name], Some(e)),
                }
            };
            let st = loop {
                match nix::sys::wait::waitpid(pid, None) {
                    Err(Errno::EINTR) => continue,
                    r => break r,
                }
            };
            match st {
                Err(e) => pause(&[b"wait failed for processor in ", name], Some(e)),
                Ok(WaitStatus::Signaled(..)) => {
                    // 0.76 prints whatever errno is left over here.
                    pause(&[b"processor crashed in ", name], Some(Errno::last()));
                }
                Ok(WaitStatus::Exited(_, 0)) => return,
                Ok(_) => {}
            }
            pause(&[b"processor failed in ", name], None);
        }
    }

    /// finish(F, code): give F its archive name `@<stamp>.<code>` (unless
    /// it has other links), remove F, then trim to fewer than n archives.
    fn finish(&mut self, file: &[u8], code: u8) {
        let name = self.name;
        let st = loop {
            match nix::sys::stat::stat(file) {
                Ok(st) => break st,
                Err(Errno::ENOENT) => return,
                Err(e) => pause(&[b"unable to stat ", name, b"/", file], Some(e)),
            }
        };
        let mut archive = None;
        if st.st_nlink == 1 {
            loop {
                let mut target = [0u8; 27];
                target[..25].copy_from_slice(&Tai64n::now().fmt());
                target[25] = b'.';
                target[26] = code;
                match nix::unistd::linkat(AT_FDCWD, file, AT_FDCWD, &target[..], AtFlags::empty()) {
                    Ok(()) => {
                        archive = Some(target);
                        break;
                    }
                    Err(e) => pause(&[b"unable to link to ", name, b"/", &target], Some(e)),
                }
            }
        }
        retry(&[b"unable to remove ", name, b"/", file], || {
            nix::unistd::unlink(file)
        });
        self.sync_dir();
        if self.gzip == 0 && self.cap == 0 {
            loop {
                match filesfit(self.num) {
                    Ok(true) => return,
                    Ok(false) => {}
                    Err(e) => pause(&[b"unable to read ", name], Some(e)),
                }
            }
        }
        // Issue 16's retention: a file and its `.gz` are one archive, and
        // `C` caps the total.
        loop {
            let r = {
                let _names = self.compressor.as_ref().map(|c| c.shared().names());
                retain::trim(&self.dirfd, self.num, self.cap)
            };
            match r {
                Ok(()) => break,
                Err(e) => pause(&[b"unable to read ", name], Some(e)),
            }
        }
        if let (Some(c), Some(target)) = (&self.compressor, archive) {
            c.push(&target);
        }
    }

    /// The exit sequence for this directory: flush, fsync, mode 0744.
    pub fn quit(&mut self) {
        self.flush_out();
        let name = self.name;
        self.after_disk_full();
        if let Some(d) = self.drop.as_ref().filter(|d| d.lines > 0) {
            let n = d.lines.to_string();
            msg::warn(
                PROG,
                &[
                    n.as_bytes(),
                    b" lines dropped in ",
                    name,
                    b" (disk full), no marker written",
                ],
                None,
            );
        }
        let cur = self.current.as_ref().expect("current is open");
        retry(&[b"unable to write ", name, b"/current to disk"], || {
            nix::unistd::fsync(cur)
        });
        retry(&[b"unable to set mode of ", name, b"/current"], || {
            fchmod(cur, 0o744)
        });
        self.sync_dir_now();
        if let Some(c) = &mut self.compressor {
            if super::TERM.get() {
                c.stop()
            } else {
                c.drain()
            }
        }
    }
}

/// When the first line of a `current` found at start came: its stamp, if
/// it has one (`t`, `Z`, `L`), else the file's last change (the latest it
/// can have come), never later than now.
fn first_line_time(dirfd: &OwnedFd) -> Instant {
    let now = Instant::now();
    let wall = crate::sys::unix_time();
    let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let Ok(fd) = nix::fcntl::openat(dirfd, "current", flags, Mode::empty()) else {
        return now;
    };
    let mut head = [0u8; 128];
    let n = nix::sys::uio::pread(&fd, &mut head, 0).unwrap_or(0);
    let secs = match crate::cmd::svlog::stamp::of_line(&head[..n]) {
        Some(s) => s.secs,
        None => match nix::sys::stat::fstat(&fd) {
            Ok(st) => st.st_mtime,
            Err(_) => return now,
        },
    };
    let ago = wall.saturating_sub(secs).max(0) as u64;
    now.checked_sub(Duration::from_secs(ago)).unwrap_or(now)
}

/// The bytes after the last newline of a `current` of `size` bytes.
fn open_bytes(dirfd: &OwnedFd, size: u64) -> u64 {
    let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let Ok(fd) = nix::fcntl::openat(dirfd, "current", flags, Mode::empty()) else {
        return 0;
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut end = size;
    while end > 0 {
        let from = end.saturating_sub(buf.len() as u64);
        let len = (end - from) as usize;
        match nix::sys::uio::pread(&fd, &mut buf[..len], from as i64) {
            Ok(k) if k == len => {}
            _ => return 0,
        }
        if let Some(i) = memchr::memrchr(b'\n', &buf[..len]) {
            return size - (from + i as u64 + 1);
        }
        end = from;
    }
    size
}

/// The processor child (doc/multilog.8.md, "Log directories"): TERM and ALRM back to default and
/// unblocked, `previous` on fd 0, `processed` on 1, `state` on 4,
/// `newstate` on 5, then `/bin/sh -c CMD`. Returns only on failure.
fn start_processor(argv: &[CString; 3]) -> Errno {
    let _ = sys::uncatch(Signal::SIGTERM);
    let _ = sys::uncatch(Signal::SIGALRM);
    block_term_alrm(false);
    copy::restore_sigpipe();
    let setup = || -> Result<(), Errno> {
        move_fd(fsio::open_read(b"previous")?, 0)?;
        move_fd(fsio::open_trunc(b"processed")?, 1)?;
        move_fd(fsio::open_read(b"state")?, 4)?;
        move_fd(fsio::open_trunc(b"newstate")?, 5)?;
        Ok(())
    };
    if let Err(e) = setup() {
        return e;
    }
    match nix::unistd::execv(c"/bin/sh", argv) {
        Err(e) => e,
        Ok(never) => match never {},
    }
}

/// filesfit: counts the archive-like names (`@`, 25 bytes or more) in the
/// working directory; when there are `num` or more, removes the first one
/// (in directory order) that starts with the smallest name's first 25
/// bytes. Ok(true) = fits, Ok(false) = removed one, Err = unreadable.
fn filesfit(num: u64) -> Result<bool, Errno> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let mut oldest = [0u8; 25];
    oldest[..2].copy_from_slice(b"@z");
    let mut oldest_len = 2;
    let mut count: u64 = 0;
    let mut dir = nix::dir::Dir::open(".", flags, Mode::empty())?;
    for ent in dir.iter() {
        let ent = ent?;
        let n = ent.file_name().to_bytes();
        if n.first() == Some(&b'@') && n.len() >= 25 {
            count += 1;
            if n < &oldest[..oldest_len] {
                oldest.copy_from_slice(&n[..25]);
                oldest_len = 25;
            }
        }
    }
    drop(dir);
    if count < num {
        return Ok(true);
    }
    let mut dir = nix::dir::Dir::open(".", flags, Mode::empty())?;
    for ent in dir.iter() {
        let ent = ent?;
        let n = ent.file_name().to_bytes();
        if n.first() == Some(&b'@') && n.len() >= 25 && n.starts_with(&oldest[..oldest_len]) {
            let _ = nix::unistd::unlink(n);
            break;
        }
    }
    Ok(false)
}
