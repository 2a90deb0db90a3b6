//! `-f`: following log directories across rotations.
//!
//! The file being read is held open, so a rotation (multilog renames
//! `current` to `previous`, links it to `@....s` and unlinks `previous`)
//! never takes it away: once `current` names another file, the old one is
//! complete, and is read to its end. Each file read is remembered (held
//! open, by inode and by its first 4 KB) until its archive appears;
//! archives that appear and are none of those were rotated while svlog
//! was not looking (a slow reader, or a rotation between two wakeups) and
//! are read whole, in name order, before the new `current`; so is a
//! `previous` not yet archived. An archive that is a compressed copy of a
//! file already read has its content; a processor's output is recognised
//! by its order: archives appear in the order their files were rotated. A line is printed when its newline is there;
//! a line that a rotation split continues in the next file.
//!
//! Wakeups come from inotify on each directory; a rescan every second
//! covers file systems without inotify events.

use std::collections::VecDeque;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::rc::Rc;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

use super::logdir::{self, LogDir};
use super::reader;
use super::stamp::Stamp;
use super::stream::{self, Output, Piece, Src, Stream, Window};
use super::{Current, Snapshot, archive_piece, complete_end};
use crate::msg::EXIT_TEMP;

/// The file being followed.
struct Cur {
    file: Rc<std::fs::File>,
    dev: u64,
    ino: u64,
    /// Bytes of it already handed on (a line boundary).
    done: u64,
    /// No newline in `done..scanned`.
    scanned: u64,
}

/// A file read to its end, held open.
#[derive(Clone)]
struct Held {
    _file: Rc<std::fs::File>,
    /// (device, inode).
    id: (u64, u64),
    /// Its first bytes (`reader::identity`): a compressed or processed
    /// copy with the same content is the same file.
    head: Rc<Vec<u8>>,
}

impl Held {
    fn new(file: &Rc<std::fs::File>, id: (u64, u64)) -> Held {
        Held {
            _file: file.clone(),
            id,
            head: Rc::new(reader::identity(file, false).unwrap_or_default()),
        }
    }
}

/// How many files read lately are remembered per directory.
const RECENT: usize = 16;

/// One directory being followed.
struct Followed {
    dir: LogDir,
    tag: Rc<[u8]>,
    cur: Option<Cur>,
    /// The newest archive accounted for (its name without `.gz`).
    seen: Option<Vec<u8>>,
    /// Files read whose archive has not appeared yet.
    pending: VecDeque<Held>,
    /// The files read to their end lately (held open, so that their inode
    /// numbers cannot be reused meanwhile).
    recent: VecDeque<Held>,
    /// The time of the last line (for merging lines without a stamp).
    key: Stamp,
    /// The newest archive's stamp: lines of `current` are after it.
    lo: Stamp,
    /// The start of a line that a rotation split, waiting for its end.
    carry: Vec<Piece>,
    /// A problem reading the directory was reported (report it once).
    complained: bool,
}

impl Followed {
    fn new(dir: LogDir, snap: Snapshot, key: Stamp) -> io::Result<Followed> {
        let seen = snap.archives.last().map(|a| a.stem().to_vec());
        let mut pending = VecDeque::new();
        let mut recent = VecDeque::new();
        if let Some(p) = &snap.previous {
            // Read (or older than what was read): its archive is to come.
            let held = Held::new(&p.file, (p.dev, p.ino));
            pending.push_back(held.clone());
            recent.push_back(held);
        }
        let lo = snap.archives.last().map_or(Stamp::MIN, |a| a.stamp);
        let cur = match snap.current {
            Some(Current {
                file,
                dev,
                ino,
                len,
                ..
            }) => {
                let done = complete_end(&file, 0, len)?.unwrap_or(0);
                Some(Cur {
                    file,
                    dev,
                    ino,
                    done,
                    scanned: len,
                })
            }
            None => None,
        };
        Ok(Followed {
            tag: dir.tag.as_slice().into(),
            dir,
            cur,
            seen,
            pending,
            recent,
            key,
            lo,
            carry: Vec::new(),
            complained: false,
        })
    }

    fn piece(&self, cur: &Cur, end: u64, name: &[u8]) -> Piece {
        Piece {
            name: self.dir.file(name),
            src: Src::Plain(cur.file.clone()),
            start: cur.done,
            end: Some(end),
            joins: false,
            mid_line: false,
            lo: self.lo,
            hi: Stamp::MAX,
            warn_open_end: false,
        }
    }

    fn complain(&mut self, what: &str, e: io::Error) {
        if !self.complained {
            stream::warn(
                &self.dir.path,
                &format!("{what}: {}", crate::msg::errstr(logdir::errno(e))),
            );
            self.complained = true;
        }
    }

    /// The new complete lines of the directory, as pieces in order.
    fn collect(&mut self) -> Vec<Piece> {
        let mut out = std::mem::take(&mut self.carry);
        loop {
            let Some(cur) = &mut self.cur else {
                if !self.open_current(&mut out) {
                    break;
                }
                continue;
            };
            // Complete lines written so far.
            let size = match cur.file.metadata() {
                Ok(m) => m.len(),
                Err(e) => {
                    self.complain("unable to read current", e);
                    break;
                }
            };
            if size > cur.scanned {
                match complete_end(&cur.file, cur.scanned.max(cur.done), size) {
                    Ok(end) => {
                        let end = end.unwrap_or(cur.done);
                        if end > cur.done {
                            let cur = self.cur.as_ref().expect("current is open");
                            out.push(self.piece(cur, end, b"current"));
                        }
                        let cur = self.cur.as_mut().expect("current is open");
                        cur.done = end;
                        cur.scanned = size;
                    }
                    Err(e) => {
                        self.complain("unable to read current", e);
                        break;
                    }
                }
            }
            let cur = self.cur.as_ref().expect("current is open");
            match nix::sys::stat::stat(self.dir.file(b"current").as_slice()) {
                Ok(st) if st.st_dev == cur.dev && st.st_ino == cur.ino => break,
                Ok(_) | Err(nix::errno::Errno::ENOENT) => {}
                Err(_) => break,
            }
            // Rotated: the file is complete. Hand on the rest, a split
            // line included.
            let cur = self.cur.take().expect("current is open");
            let size = cur.file.metadata().map(|m| m.len()).unwrap_or(cur.done);
            if size > cur.done {
                let mut p = self.piece(&cur, size, b"current");
                p.joins = self.archived_clean(cur.ino);
                out.push(p);
            }
            let held = Held::new(&cur.file, (cur.dev, cur.ino));
            self.pending.push_back(held.clone());
            self.remember(held);
            if !self.open_current(&mut out) {
                break;
            }
        }
        // A split line whose end is not there yet waits for it.
        let mut k = out.len();
        while k > 0 && out[k - 1].joins && !tail_newline(&out[k - 1]) {
            k -= 1;
        }
        self.carry = out.split_off(k);
        out
    }

    fn remember(&mut self, h: Held) {
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(h);
    }

    /// Whether the file with this inode is now a `.s` archive (so a line
    /// left open at its end continues in the next file).
    fn archived_clean(&self, ino: u64) -> bool {
        let Ok(l) = logdir::list(&self.dir.path) else {
            return false;
        };
        l.archives
            .iter()
            .rev()
            .take(16)
            .any(|a| !a.unclean && !a.gzip && self.ino_of(&a.name) == Some(ino))
    }

    fn ino_of(&self, name: &[u8]) -> Option<u64> {
        nix::sys::stat::stat(self.dir.file(name).as_slice())
            .ok()
            .map(|st| st.st_ino)
    }

    /// Opens the new `current`, after handing on what was rotated before
    /// it and not read yet. False when there is no `current`.
    fn open_current(&mut self, out: &mut Vec<Piece>) -> bool {
        let view = match super::view(&self.dir) {
            Ok(v) => v,
            Err(e) => {
                self.complain("unable to read the directory", e);
                return false;
            }
        };
        let newcur = view.current;
        let listing = view.archives;
        self.complained = false;
        for a in &listing {
            if self.seen.as_deref().is_some_and(|s| a.stem() <= s) {
                continue;
            }
            let path = self.dir.file(&a.name);
            let opened = stream::open_archive(&path, a.gzip);
            let ino = opened
                .as_ref()
                .ok()
                .and_then(|(f, _)| f.metadata().ok())
                .map(|m| (m.dev(), m.ino()));
            if ino.is_some() && ino == newcur.as_ref().map(|c| (c.dev, c.ino)) {
                // The new `current` was rotated already: it is read as
                // `current` first, then the archives after it.
                break;
            }
            // The archive is a file already read when it is that file (a
            // link) or holds the same (a compressed or `cat` copy).
            let head = opened
                .as_ref()
                .ok()
                .and_then(|(f, gzip)| reader::identity(&Rc::new(f.try_clone().ok()?), *gzip).ok());
            let same = |h: &Held| Some(h.id) == ino || head.as_deref() == Some(h.head.as_slice());
            if let Some(pos) = self.pending.iter().position(same) {
                // Everything pending before it never got an archive.
                self.pending.drain(..=pos);
            } else if self.recent.iter().any(same) {
                // Read already (as `previous`, or whole).
            } else if !self.pending.is_empty() && !a.gzip {
                // A processor's output for the oldest file read raw.
                self.pending.pop_front();
            } else {
                match opened {
                    Ok((f, gzip)) => {
                        let f = Rc::new(f);
                        let src = if gzip {
                            Src::Gzip(f.clone())
                        } else {
                            Src::Plain(f.clone())
                        };
                        out.push(archive_piece(&self.dir, a, self.lo, Some(src)));
                        if let Some(id) = ino {
                            let held = Held {
                                _file: f,
                                id,
                                head: Rc::new(head.unwrap_or_default()),
                            };
                            self.remember(held);
                        }
                    }
                    Err(e) => stream::warn(
                        &path,
                        &format!(
                            "unable to read, lines lost: {}",
                            crate::msg::errstr(logdir::errno(e))
                        ),
                    ),
                }
            }
            self.seen = Some(a.stem().to_vec());
            self.lo = a.stamp;
        }
        // `previous`: retired but not archived yet (a processor runs, or
        // the rotation is under way); read it now if it is not known.
        if let Some(p) = view.previous {
            let id = (p.dev, p.ino);
            let held = Held::new(&p.file, id);
            let known = self
                .recent
                .iter()
                .any(|h| h.id == id || (!h.head.is_empty() && h.head == held.head));
            if !known {
                out.push(Piece {
                    name: self.dir.file(b"previous"),
                    src: Src::Plain(p.file.clone()),
                    start: 0,
                    end: None,
                    joins: true,
                    mid_line: false,
                    lo: self.lo,
                    hi: Stamp::MAX,
                    warn_open_end: false,
                });
                self.pending.push_back(held.clone());
                self.remember(held);
            }
        }
        match newcur {
            Some(c) => {
                self.cur = Some(Cur {
                    file: c.file,
                    dev: c.dev,
                    ino: c.ino,
                    done: 0,
                    scanned: 0,
                });
                true
            }
            None => false,
        }
    }
}

/// Whether a piece ends with a newline (pieces of `current` always do).
fn tail_newline(p: &Piece) -> bool {
    super::tail::ends_with_newline(p).unwrap_or(true)
}

const WATCH: AddWatchFlags = AddWatchFlags::IN_MODIFY
    .union(AddWatchFlags::IN_CREATE)
    .union(AddWatchFlags::IN_MOVED_TO)
    .union(AddWatchFlags::IN_MOVED_FROM)
    .union(AddWatchFlags::IN_DELETE)
    .union(AddWatchFlags::IN_CLOSE_WRITE)
    .union(AddWatchFlags::IN_ATTRIB);

/// Follows the directories forever (until killed, or the reader of the
/// output goes away).
pub fn run(dirs: Vec<LogDir>, snaps: Vec<Snapshot>, keys: Vec<Stamp>, mut out: Output) -> i32 {
    let mut followed: Vec<Followed> = Vec::with_capacity(dirs.len());
    for ((d, s), k) in dirs.into_iter().zip(snaps).zip(keys) {
        match Followed::new(d, s, k) {
            Ok(f) => followed.push(f),
            Err(e) => {
                stream::read_failed(b"current", 0, &e);
                return EXIT_TEMP;
            }
        }
    }
    let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok();
    let mut watches: Vec<(WatchDescriptor, usize)> = Vec::new();
    if let Some(ino) = &inotify {
        for (i, f) in followed.iter().enumerate() {
            if let Ok(wd) = ino.add_watch(logdir::path(&f.dir.path), WATCH) {
                watches.push((wd, i));
            }
        }
    }
    let mut due: Vec<bool> = vec![true; followed.len()];
    loop {
        round(&mut followed, &due, &mut out);
        due.iter_mut().for_each(|d| *d = false);
        let woke = match &inotify {
            Some(ino) => {
                let mut fds = [PollFd::new(ino.as_fd(), PollFlags::POLLIN)];
                matches!(poll(&mut fds, PollTimeout::from(1000u16)), Ok(n) if n > 0)
            }
            None => {
                std::thread::sleep(std::time::Duration::from_secs(1));
                false
            }
        };
        if !woke {
            due.iter_mut().for_each(|d| *d = true);
            continue;
        }
        if let Some(ino) = &inotify {
            while let Ok(events) = ino.read_events() {
                if events.is_empty() {
                    break;
                }
                for ev in events {
                    if ev.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                        due.iter_mut().for_each(|d| *d = true);
                    }
                    if let Some(&(_, i)) = watches.iter().find(|(wd, _)| *wd == ev.wd) {
                        due[i] = true;
                    }
                }
            }
        }
    }
}

/// Reads what is new in the directories that are due and prints it,
/// merged in time order.
fn round(followed: &mut [Followed], due: &[bool], out: &mut Output) {
    let mut streams = Vec::new();
    let mut owners = Vec::new();
    for (i, f) in followed.iter_mut().enumerate() {
        if !due[i] {
            continue;
        }
        let pieces = f.collect();
        if !pieces.is_empty() {
            streams.push(Stream::new(f.tag.clone(), pieces, Window::ALL, f.key));
            owners.push(i);
        }
    }
    if streams.is_empty() {
        return;
    }
    stream::merge(&mut streams, out, 0);
    for (s, &i) in streams.iter().zip(&owners) {
        followed[i].key = s.key;
    }
    out.flush().unwrap_or_else(|e| stream::output_failed(e));
}
