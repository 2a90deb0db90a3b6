//! `-n N`: finding where the last N lines (of the window) begin, reading
//! plain files backward from their end and compressed files forward
//! (keeping only the positions of the last lines). The line starts and
//! the window test are exactly those the forward reading uses.

use std::collections::VecDeque;
use std::io;
use std::os::unix::fs::FileExt;

use super::reader::Reader;
use super::stamp::{self, HEAD};
use super::stream::{Piece, Src, Window, open_file};

/// Backward reads are this large.
const BACK: usize = 256 * 1024;

/// Bytes of `file` at `pos`, up to `buf.len()`, stopping at `end`.
fn pread(file: &std::fs::File, pos: u64, end: u64, buf: &mut [u8]) -> io::Result<usize> {
    let want = (end.saturating_sub(pos)).min(buf.len() as u64) as usize;
    let mut got = 0;
    while got < want {
        match file.read_at(&mut buf[got..want], pos + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// An open plain file of a piece and the end of the piece's range.
fn plain_range(p: &Piece) -> io::Result<Option<(std::rc::Rc<std::fs::File>, u64)>> {
    let file = match &p.src {
        Src::Plain(f) => f.clone(),
        Src::Path { path, gzip: false } => std::rc::Rc::new(open_file(path)?),
        _ => return Ok(None),
    };
    let len = file.metadata()?.len();
    let end = p.end.map_or(len, |e| e.min(len));
    Ok(Some((file, end)))
}

/// Whether the piece's content ends with a newline (an empty piece does
/// not).
pub fn ends_with_newline(p: &Piece) -> io::Result<bool> {
    if let Some((file, end)) = plain_range(p)? {
        if end <= p.start {
            return Ok(false);
        }
        let mut b = [0u8; 1];
        let n = pread(&file, end - 1, end, &mut b)?;
        return Ok(n == 1 && b[0] == b'\n');
    }
    let mut r = p.open()?;
    let mut last = None;
    while r.fill()? > 0 {
        last = r.data().last().copied();
        let n = r.data().len();
        r.consume(n);
    }
    Ok(last == Some(b'\n'))
}

/// Whether piece `i` is empty.
fn is_empty(p: &Piece) -> io::Result<bool> {
    if let Some((_, end)) = plain_range(p)? {
        return Ok(end <= p.start);
    }
    p.open()?.at_end()
}

/// Whether a line starts at the first byte of piece `i`.
fn starts_line(pieces: &[Piece], i: usize) -> io::Result<bool> {
    if pieces[i].mid_line {
        return Ok(false);
    }
    let mut j = i;
    while j > 0 {
        j -= 1;
        let p = &pieces[j];
        if is_empty(p)? {
            if p.mid_line {
                return Ok(false);
            }
            continue;
        }
        return Ok(!p.joins || ends_with_newline(p)?);
    }
    Ok(true)
}

/// The window test for the line whose first bytes are `head`.
fn takes(w: &Window, head: &[u8], p: &Piece) -> bool {
    w.is_all() || w.takes(stamp::of_line(head), p.lo, p.hi)
}

/// Where the last `n` lines of `pieces` that the window takes begin, as
/// (piece, offset), or None when there are fewer than `n`. `stop` is the
/// last piece that can hold lines of the window.
pub fn find(pieces: &[Piece], stop: usize, n: u64, w: &Window) -> io::Result<Option<(usize, u64)>> {
    if n == 0 {
        return Ok(Some((stop + 1, 0)));
    }
    let mut need = n;
    for i in (0..=stop.min(pieces.len().saturating_sub(1))).rev() {
        if pieces.is_empty() {
            break;
        }
        let p = &pieces[i];
        let found = match plain_range(p)? {
            Some((file, end)) => back_plain(pieces, i, &file, end, &mut need, w)?,
            None => forward_compressed(pieces, i, &mut need, w)?,
        };
        if let Some(off) = found {
            return Ok(Some((i, off)));
        }
    }
    Ok(None)
}

/// Scans plain piece `i` backward; returns the offset where the count
/// reaches zero.
fn back_plain(
    pieces: &[Piece],
    i: usize,
    file: &std::fs::File,
    end: u64,
    need: &mut u64,
    w: &Window,
) -> io::Result<Option<u64>> {
    let p = &pieces[i];
    let start = p.start;
    if end <= start {
        return Ok(None);
    }
    let mut buf = vec![0u8; BACK];
    let mut headbuf = [0u8; HEAD];
    let mut hi = end;
    // A candidate line start at `o` is tested with its first bytes.
    let mut test = |o: u64, chunk: &[u8], chunk_at: u64| -> io::Result<bool> {
        if w.is_all() {
            return Ok(true);
        }
        let rel = (o - chunk_at) as usize;
        let avail = &chunk[rel.min(chunk.len())..];
        if avail.len() >= HEAD
            || memchr::memchr(b'\n', avail).is_some()
            || chunk_at + chunk.len() as u64 == end
        {
            return Ok(takes(w, avail, p));
        }
        let n = pread(file, o, end, &mut headbuf)?;
        Ok(takes(w, &headbuf[..n], p))
    };
    while hi > start {
        let lo = hi.saturating_sub(BACK as u64).max(start);
        let len = (hi - lo) as usize;
        let got = pread(file, lo, hi, &mut buf[..len])?;
        if got < len {
            // The file shrank under us: read what is there.
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        let chunk = &buf[..len];
        for q in memchr::memrchr_iter(b'\n', chunk) {
            let o = lo + q as u64 + 1;
            if o >= end {
                continue;
            }
            if test(o, chunk, lo)? {
                *need -= 1;
                if *need == 0 {
                    return Ok(Some(o));
                }
            }
        }
        hi = lo;
    }
    if starts_line(pieces, i)? {
        let n = pread(file, start, end, &mut buf[..HEAD.max(1)])?;
        if test(start, &buf[..n], start)? {
            *need -= 1;
            if *need == 0 {
                return Ok(Some(start));
            }
        }
    }
    Ok(None)
}

/// Reads compressed piece `i` forward, keeping the positions of its last
/// `need` lines in the window.
fn forward_compressed(
    pieces: &[Piece],
    i: usize,
    need: &mut u64,
    w: &Window,
) -> io::Result<Option<u64>> {
    let p = &pieces[i];
    let mut r: Reader = p.open()?;
    let mut last: VecDeque<u64> = VecDeque::new();
    let mut at_start = starts_line(pieces, i)?;
    loop {
        let off = r.offset();
        let head = r.head(HEAD)?;
        if head.is_empty() {
            break;
        }
        if at_start && takes(w, head, p) {
            if last.len() as u64 == *need {
                last.pop_front();
            }
            last.push_back(off);
        }
        r.take_line(|_| {})?;
        at_start = true;
    }
    if last.len() as u64 == *need {
        return Ok(last.front().copied());
    }
    *need -= last.len() as u64;
    Ok(None)
}

/// The last piece whose lines can be in the window: pieces whose files
/// were started more than `slack` after `until` are not read.
pub fn last_in_window(pieces: &[Piece], w: &Window, slack: i128) -> Option<usize> {
    let limit = w.until.add_nanos(slack);
    pieces.iter().rposition(|p| p.lo <= limit)
}

/// The first piece whose lines can be in the window: a file holds no
/// line stamped after the rotation that closed it.
pub fn first_in_window(pieces: &[Piece], w: &Window) -> Option<usize> {
    pieces.iter().position(|p| p.hi >= w.since)
}
