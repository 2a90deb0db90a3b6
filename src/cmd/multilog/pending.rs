//! The `pending` file in the first log directory: which of the bytes still
//! in the input pipe are already logged.
//!
//! multilog consumes piped input only after the lines it holds are written
//! (see `input`). Consuming right after every write costs a splice(2) per
//! 4 KiB of logged input, and each one wakes a writer that waits on a full
//! pipe. Instead, multilog records in this file, after each write, the
//! stream offset up to which the input is logged, and consumes once per
//! block. A multilog started after a SIGKILL on the same pipe reads the
//! record and consumes, without logging them again, the bytes at the head
//! of the pipe that its predecessor had logged.
//!
//! On ext2/3/4, XFS and tmpfs the file is mapped shared: a record is a
//! few stores into the page cache, no system call, and it survives the
//! process. (Not on copy-on-write file systems, where a store into a
//! mapped page needs new blocks and a full disk would raise SIGBUS: there,
//! each record is a pwrite(2).) Two record slots are written in turn, each
//! completed by its sequence number (stored last): a kill in the middle of
//! an update leaves the previous record, which is at most one write behind
//! (the input of a write is at most `MAX_UNCONSUMED`: that is what such a
//! kill doubles).
//!
//! A record holds the offset logged up to, and the consumption in flight:
//! consumed for sure up to `from`, perhaps up to `to` (a splice of at most
//! 4 KiB was under way). The next multilog tries `to` first, then `from`;
//! a head fits if the pipe starts with the bytes the record saw there and
//! holds, after the logged bytes, the bytes the record saw after them.
//! Taking a splice in flight as done when its head fits doubles at most
//! that splice (if the input repeats itself exactly 4 KiB apart); a head
//! with nothing logged after it always fits (nothing to skip). A record is
//! only used on the same pipe (device and inode of fd 0) in the same boot;
//! a record that fits no head (another reader took input) is not used:
//! then nothing is skipped, so the record can double lines but not lose
//! them, barring input that repeats exactly where the record looked.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::Ordering;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::sys::SharedWords;

/// The file's name in the log directory.
pub const NAME: &str = "pending";
const MAGIC: &[u8; 8] = b"dtrsPND3";
/// The header: magic, then the pipe's identity (boot id, device, inode).
pub const HEADER: usize = 8 + 16 + 8 + 8;
/// A record: three offsets, three byte strings, padded to whole words.
const RECORD: usize = 3 * 8 + 3 * (1 + Bytes::MAX);
const RECORD_WORDS: usize = RECORD.div_ceil(8);
/// A slot: a sequence number, then a record.
const SLOT_WORDS: usize = 1 + RECORD_WORDS;
/// The two slots, in words from the start of the file.
const SLOTS: [usize; 2] = [HEADER / 8, HEADER / 8 + SLOT_WORDS];
const WORDS: usize = HEADER / 8 + 2 * SLOT_WORDS;
/// A record whose logged bytes still in the pipe exceed this is not used.
pub const MOST_PENDING: u64 = 256 * 1024;

/// Up to 16 bytes of input, as they came.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Bytes {
    len: u8,
    b: [u8; Bytes::MAX],
}

impl Bytes {
    pub const MAX: usize = 16;

    /// The first (up to 16) bytes of `s`.
    pub fn of(s: &[u8]) -> Bytes {
        let n = s.len().min(Bytes::MAX);
        let mut b = [0; Bytes::MAX];
        b[..n].copy_from_slice(&s[..n]);
        Bytes { len: n as u8, b }
    }

    pub fn get(&self) -> &[u8] {
        &self.b[..self.len as usize]
    }
}

/// One record: the input is logged up to `logged`, consumed up to `from`
/// and perhaps up to `to`. `after` are the bytes seen just after `logged`
/// (as many as there were, up to 16); `at_from` and `at_to` the first
/// bytes at `from` and at `to` (empty if not known).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    pub logged: u64,
    pub from: u64,
    pub to: u64,
    pub after: Bytes,
    pub at_from: Bytes,
    pub at_to: Bytes,
}

impl Record {
    /// A record of nothing pending at stream offset `at`.
    pub fn at(at: u64) -> Record {
        Record {
            logged: at,
            from: at,
            to: at,
            after: Bytes::default(),
            at_from: Bytes::default(),
            at_to: Bytes::default(),
        }
    }

    fn encode(&self) -> [u8; RECORD] {
        let mut b = [0; RECORD];
        b[0..8].copy_from_slice(&self.logged.to_le_bytes());
        b[8..16].copy_from_slice(&self.from.to_le_bytes());
        b[16..24].copy_from_slice(&self.to.to_le_bytes());
        for (i, x) in [self.after, self.at_from, self.at_to].iter().enumerate() {
            let at = 24 + i * (1 + Bytes::MAX);
            b[at] = x.len;
            b[at + 1..at + 1 + Bytes::MAX].copy_from_slice(&x.b);
        }
        b
    }

    fn decode(b: &[u8]) -> Option<Record> {
        if b.len() < RECORD {
            return None;
        }
        let word = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let bytes = |i: usize| {
            let at = 24 + i * (1 + Bytes::MAX);
            let len = b[at];
            let mut x = [0; Bytes::MAX];
            x.copy_from_slice(&b[at + 1..at + 1 + Bytes::MAX]);
            (len as usize <= Bytes::MAX).then_some(Bytes { len, b: x })
        };
        Some(Record {
            logged: word(0),
            from: word(8),
            to: word(16),
            after: bytes(0)?,
            at_from: bytes(1)?,
            at_to: bytes(2)?,
        })
    }

    /// Whether the record can describe a pipe at all.
    pub fn plausible(&self) -> bool {
        self.from <= self.to
            && self.to - self.from <= super::input::MAX_UNCONSUMED
            && self.logged.saturating_sub(self.from) <= MOST_PENDING
    }

    /// Where the pipe's head is, if `peek` are its first bytes, and how
    /// many bytes to skip there (see `skip_at`): the first of `heads` that
    /// fits.
    pub fn fit(&self, peek: &[u8]) -> Option<(u64, usize)> {
        self.heads()
            .find_map(|(h, first)| self.skip_at(h, first, peek).map(|n| (h, n)))
    }

    /// The consumption points the pipe's head may be at, most consumed
    /// first, with the bytes recorded there.
    pub fn heads(&self) -> impl Iterator<Item = (u64, Bytes)> {
        let from = (self.from != self.to).then_some((self.from, self.at_from));
        std::iter::once((self.to, self.at_to)).chain(from)
    }

    /// How many bytes to skip if the pipe's head is at stream offset
    /// `head`, where the record saw `first`, and `peek` are the bytes
    /// there now: the logged bytes from `head` on, if `peek` starts with
    /// `first` (not empty) and holds the logged bytes and then `after`.
    /// None: the record does not fit this head. (Nothing to skip always
    /// fits.)
    pub fn skip_at(&self, head: u64, first: Bytes, peek: &[u8]) -> Option<usize> {
        let n = usize::try_from(self.logged.saturating_sub(head)).ok()?;
        if n == 0 {
            return Some(0);
        }
        let after = self.after.get();
        let fits = first.len > 0
            && peek.starts_with(first.get())
            && peek.get(n..n + after.len()) == Some(after);
        fits.then_some(n)
    }
}

/// How records get into the file.
enum Store {
    /// The file mapped: a record is stores into memory. Only on file
    /// systems that store into a mapped page of an allocated file without
    /// allocating (not copy-on-write ones, which would raise SIGBUS on a
    /// full disk).
    Mapped(SharedWords),
    /// pwrite(2) of the slot.
    Written,
}

/// The open file.
pub struct Pending {
    fd: OwnedFd,
    store: Store,
    /// The sequence number of the newest record.
    seq: u64,
}

impl Pending {
    /// Opens (creating it if need be) the file in `dir` for the pipe on fd
    /// 0. Returns the record a predecessor left for this pipe, if any.
    /// None if the file cannot be used: multilog then consumes after every
    /// write.
    pub fn open(dir: &OwnedFd) -> Option<(Pending, Option<Record>)> {
        let fd = nix::fcntl::openat(
            dir,
            NAME,
            OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
            Mode::from_bits_truncate(0o644),
        )
        .ok()?;
        let st = nix::sys::stat::fstat(&fd).ok()?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return None;
        }
        let mut old = [0u8; SIZE];
        let n = nix::sys::uio::pread(&fd, &mut old, 0).ok()?;
        let header = header()?;
        let newest = parse(&old[..n], &header);
        let mut p = Pending {
            fd,
            store: Store::Written,
            seq: newest.map_or(0, |(seq, _)| seq),
        };
        let left = newest.map(|(_, r)| r).filter(Record::plausible);
        if newest.is_none() {
            // The whole file, written (which gives it its blocks): both
            // slots empty, then the identity, so that a kill in between
            // leaves a file that skips nothing.
            let mut fresh = [0u8; SIZE];
            write_all_at(&p.fd, &fresh, 0).ok()?;
            fresh[..HEADER].copy_from_slice(&header);
            write_all_at(&p.fd, &fresh[..HEADER], 0).ok()?;
            p.seq = 0;
        }
        if maps_in_place(&p.fd)
            && let Ok(m) = SharedWords::map(p.fd.as_fd(), WORDS)
        {
            p.store = Store::Mapped(m);
        }
        Some((p, left))
    }

    /// Makes `r` the record: written into the older slot, which then
    /// becomes the newest by its sequence number (stored last, or in the
    /// same pwrite(2)). A kill in the middle leaves the newest record as
    /// it was.
    pub fn publish(&mut self, r: &Record) -> Result<(), Errno> {
        self.seq += 1;
        let slot = SLOTS[(self.seq % 2) as usize];
        let rec = r.encode();
        match &self.store {
            Store::Mapped(m) => {
                let w = &m.words()[slot..slot + SLOT_WORDS];
                for (i, word) in rec.chunks(8).enumerate() {
                    let mut b = [0u8; 8];
                    b[..word.len()].copy_from_slice(word);
                    w[1 + i].store(u64::from_le_bytes(b), Ordering::Relaxed);
                }
                w[0].store(self.seq, Ordering::Release);
                Ok(())
            }
            Store::Written => {
                let mut b = [0u8; SLOT_WORDS * 8];
                b[..8].copy_from_slice(&self.seq.to_le_bytes());
                b[8..8 + RECORD].copy_from_slice(&rec);
                let w = write_all_at(&self.fd, &b, (slot * 8) as i64);
                if w.is_err() {
                    // A record that cannot be kept up to date must not
                    // be used: the file goes (if it can).
                    let _ = nix::unistd::ftruncate(&self.fd, 0);
                }
                w
            }
        }
    }
}

/// The file's size.
pub const SIZE: usize = WORDS * 8;

/// The newest record in the file's bytes, with its sequence number, if
/// the file is whole and its header is `header` (this pipe's).
pub fn parse(file: &[u8], header: &[u8]) -> Option<(u64, Record)> {
    if file.len() != SIZE || file.get(..HEADER) != Some(header) {
        return None;
    }
    SLOTS
        .iter()
        .filter_map(|&w| {
            let at = w * 8;
            let seq = u64::from_le_bytes(file.get(at..at + 8)?.try_into().ok()?);
            let r = Record::decode(file.get(at + 8..at + 8 + RECORD)?)?;
            (seq != 0).then_some((seq, r))
        })
        .max_by_key(|(seq, _)| *seq)
}

/// Whether the file system of `fd` stores into a mapped page of an
/// allocated file in place: ext2/3/4, XFS, tmpfs.
fn maps_in_place(fd: &OwnedFd) -> bool {
    use nix::sys::statfs::{EXT4_SUPER_MAGIC, TMPFS_MAGIC, XFS_SUPER_MAGIC};
    nix::sys::statfs::fstatfs(fd).is_ok_and(|s| {
        let t = s.filesystem_type();
        t == EXT4_SUPER_MAGIC || t == XFS_SUPER_MAGIC || t == TMPFS_MAGIC
    })
}

fn write_all_at(fd: &OwnedFd, b: &[u8], at: i64) -> Result<(), Errno> {
    match nix::sys::uio::pwrite(fd, b, at)? {
        n if n == b.len() => Ok(()),
        _ => Err(Errno::ENOSPC),
    }
}

/// The magic and the identity of the pipe on fd 0: the boot (from
/// /proc/sys/kernel/random/boot_id, zero without it), the device and the
/// inode.
fn header() -> Option<[u8; HEADER]> {
    let st = nix::sys::stat::fstat(crate::sys::StdFd::IN.borrow()).ok()?;
    let boot = std::fs::read("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let mut h = [0u8; HEADER];
    h[..8].copy_from_slice(MAGIC);
    let digits = boot.iter().filter_map(|&c| (c as char).to_digit(16));
    for (i, d) in digits.take(32).enumerate() {
        h[8 + i / 2] |= (d as u8) << if i % 2 == 0 { 4 } else { 0 };
    }
    h[24..32].copy_from_slice(&st.st_dev.to_le_bytes());
    h[32..40].copy_from_slice(&st.st_ino.to_le_bytes());
    Some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(logged: u64, from: u64, to: u64, after: &[u8]) -> Record {
        let mut r = Record::at(0);
        r.logged = logged;
        r.from = from;
        r.to = to;
        r.after = Bytes::of(after);
        r
    }

    #[test]
    fn skips_the_logged_bytes_between_the_recorded_ones() {
        // Logged up to 110, consumed up to 100: "0123456789" is pending,
        // "next" came after it.
        let mut r = rec(110, 100, 100, b"next");
        r.at_to = Bytes::of(b"0123");
        let heads: Vec<_> = r.heads().collect();
        assert_eq!(heads, vec![(100, Bytes::of(b"0123"))]);
        let first = heads[0].1;
        assert_eq!(r.skip_at(100, first, b"0123456789next line\n"), Some(10));
        // Other bytes there: another reader took input.
        assert_eq!(r.skip_at(100, first, b"01234567890next line\n"), None);
        assert_eq!(r.skip_at(100, first, b"1234567890next line\n"), None);
        // Fewer bytes in the pipe than were seen.
        assert_eq!(r.skip_at(100, first, b"0123456789ne"), None);
        // Nothing was seen after the logged bytes.
        let mut r = rec(110, 100, 100, b"");
        r.at_to = Bytes::of(b"0123");
        assert_eq!(r.skip_at(100, first, b"0123456789"), Some(10));
        assert_eq!(r.skip_at(100, first, b"012345678"), None);
        // Bytes to skip but none recorded at the head: not used.
        assert_eq!(r.skip_at(100, Bytes::default(), b"0123456789"), None);
    }

    #[test]
    fn a_splice_in_flight_is_taken_as_done_when_the_head_fits() {
        // Consumed to 100 for sure, a splice to 104 under way.
        let mut r = rec(110, 100, 104, b"abc");
        r.at_from = Bytes::of(b"0123");
        r.at_to = Bytes::of(b"4567");
        let heads: Vec<_> = r.heads().collect();
        assert_eq!(heads, vec![(104, r.at_to), (100, r.at_from)]);
        // The splice happened: the head is "456789abc".
        assert_eq!(r.skip_at(104, r.at_to, b"456789abc"), Some(6));
        // It did not: at 104 the head would start with "4567"; at 100 it
        // fits.
        assert_eq!(r.skip_at(104, r.at_to, b"0123456789abc"), None);
        assert_eq!(r.skip_at(100, r.at_from, b"0123456789abc"), Some(10));
    }

    #[test]
    fn nothing_pending_skips_nothing() {
        let r = rec(100, 100, 100, b"");
        assert_eq!(r.skip_at(100, Bytes::default(), b""), Some(0));
        // A consumption beyond the logged bytes (a partial line taken in).
        let r = rec(100, 100, 120, b"x\n");
        assert_eq!(r.skip_at(120, Bytes::default(), b"whatever"), Some(0));
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let mut r = rec(
            123_456_789_012,
            123_456_780_000,
            123_456_784_096,
            b"0123456789abcdef",
        );
        r.at_from = Bytes::of(b"xy");
        r.at_to = Bytes::of(b"0123456789abcdefghij");
        assert_eq!(r.at_to.get(), b"0123456789abcdef");
        assert_eq!(Record::decode(&r.encode()), Some(r));
        assert_eq!(Record::decode(&r.encode()[..RECORD - 1]), None);
        let mut bad = r.encode();
        bad[24] = 17;
        assert_eq!(Record::decode(&bad), None);
    }

    /// A file with `a` in the first slot and `b` in the second.
    fn file(header: &[u8], a: (u64, &Record), b: (u64, &Record)) -> Vec<u8> {
        let mut f = header.to_vec();
        for (seq, r) in [a, b] {
            f.extend(seq.to_le_bytes());
            f.extend(r.encode());
            f.resize(HEADER + (f.len() - HEADER).div_ceil(8) * 8, 0);
        }
        f
    }

    #[test]
    fn the_newest_whole_slot_is_the_record() {
        let h = [7u8; HEADER];
        let (old, new) = (rec(100, 90, 90, b"a"), rec(120, 90, 90, b"b"));
        let f = file(&h, (4, &old), (5, &new));
        assert_eq!(f.len(), SIZE);
        assert_eq!(parse(&f, &h), Some((5, new)));
        // A kill while the older slot was rewritten: its sequence number
        // is still the old one, so the other slot is the record.
        let f = file(&h, (3, &rec(999, 0, 0, b"")), (4, &old));
        assert_eq!(parse(&f, &h), Some((4, old)));
        // Another pipe's file, a short file, empty slots.
        assert_eq!(parse(&f, &[8u8; HEADER]), None);
        assert_eq!(parse(&f[..SIZE - 1], &h), None);
        assert_eq!(parse(&file(&h, (0, &old), (0, &new)), &h), None);
    }

    /// Published records read back from the file as the next multilog
    /// reads it, whether the file is mapped or written to.
    #[test]
    fn records_read_back_from_the_file_either_way() {
        for mapped in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let fd = nix::fcntl::open(dir.path(), OFlag::O_RDONLY, Mode::empty()).unwrap();
            let (mut p, left) = Pending::open(&fd).unwrap();
            assert_eq!(left, None, "a new file holds no record");
            assert_eq!(matches!(p.store, Store::Mapped(_)), maps_in_place(&p.fd));
            if !mapped {
                p.store = Store::Written;
            }
            let mut r = rec(5000, 4096, 8192, b"after");
            r.at_from = Bytes::of(b"from");
            r.at_to = Bytes::of(b"to");
            for logged in [100, 200, 5000] {
                r.logged = logged;
                p.publish(&r).unwrap();
            }
            let file = std::fs::read(dir.path().join(NAME)).unwrap();
            assert_eq!(parse(&file, &header().unwrap()), Some((3, r)), "{mapped}");
            drop(p);
            // the next multilog on the same input finds it
            let (p, left) = Pending::open(&fd).unwrap();
            assert_eq!((p.seq, left), (3, Some(r)));
        }
    }

    #[test]
    fn implausible_records_are_refused() {
        assert!(rec(110, 100, 100, b"").plausible());
        assert!(!rec(110, 100, 99, b"").plausible());
        assert!(!rec(110, 100, 100 + 8192, b"").plausible());
        assert!(!rec(100 + MOST_PENDING + 1, 100, 100, b"").plausible());
    }
}
