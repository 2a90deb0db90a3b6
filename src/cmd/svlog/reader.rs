//! Reading one log file forward in blocks: plain files by position
//! (pread, so several readers can share a descriptor), gzip files through
//! flate2's pure-Rust decoder. Lines of any length pass through a fixed
//! buffer; nothing ever holds a whole line.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::rc::Rc;

use flate2::read::MultiGzDecoder;

/// The block size.
pub const BUF: usize = 64 * 1024;

/// `Read` over a shared file from a position (pread).
pub struct At {
    pub file: Rc<File>,
    pub pos: u64,
    /// Reads stop here (None: at the end of the file).
    pub end: Option<u64>,
}

impl Read for At {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let room = match self.end {
            Some(end) => (end.saturating_sub(self.pos)).min(buf.len() as u64) as usize,
            None => buf.len(),
        };
        if room == 0 {
            return Ok(0);
        }
        loop {
            match self.file.read_at(&mut buf[..room], self.pos) {
                Ok(n) => {
                    self.pos += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

enum Body {
    Plain(At),
    Gzip(Box<MultiGzDecoder<At>>),
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Body::Plain(r) => r.read(buf),
            Body::Gzip(r) => loop {
                match r.read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => return other,
                }
            },
        }
    }
}

/// A buffered forward reader with a logical (uncompressed) position.
pub struct Reader {
    body: Body,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The position of `buf[start]` in the file's (uncompressed) content.
    offset: u64,
    eof: bool,
}

impl Reader {
    /// Reads the plain file from `start` up to `end` (or its end).
    pub fn plain(file: Rc<File>, start: u64, end: Option<u64>) -> Reader {
        Reader::new(
            Body::Plain(At {
                file,
                pos: start,
                end,
            }),
            start,
        )
    }

    /// Reads the gzip file's content, skipping its first `skip` bytes.
    pub fn gzip(file: Rc<File>, skip: u64) -> io::Result<Reader> {
        let at = At {
            file,
            pos: 0,
            end: None,
        };
        let mut r = Reader::new(Body::Gzip(Box::new(MultiGzDecoder::new(at))), 0);
        while r.offset < skip {
            if r.data().is_empty() && r.fill()? == 0 {
                break;
            }
            let n = (skip - r.offset).min(r.data().len() as u64) as usize;
            r.consume(n);
        }
        Ok(r)
    }

    fn new(body: Body, offset: u64) -> Reader {
        Reader {
            body,
            buf: vec![0; BUF],
            start: 0,
            end: 0,
            offset,
            eof: false,
        }
    }

    /// The buffered bytes.
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// The position of `data()[0]`.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Drops the first `n` buffered bytes.
    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.start);
        self.start += n;
        self.offset += n as u64;
    }

    /// Reads more; returns how many bytes came (0 at the end).
    pub fn fill(&mut self) -> io::Result<usize> {
        if self.eof {
            return Ok(0);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // Only `head` asks for more with a full buffer, and it never
            // needs more than a block.
            return Ok(0);
        }
        let n = self.body.read(&mut self.buf[self.end..])?;
        if n == 0 {
            self.eof = true;
        }
        self.end += n;
        Ok(n)
    }

    /// Makes at least `want` bytes, or a whole line, or everything up to
    /// the end, available in `data()`.
    pub fn head(&mut self, want: usize) -> io::Result<&[u8]> {
        while self.data().len() < want
            && memchr::memchr(b'\n', self.data()).is_none()
            && self.fill()? > 0
        {}
        Ok(self.data())
    }

    /// Passes the rest of the current line, through its newline, to
    /// `sink` in pieces. Returns whether a newline ended it (false: the
    /// content ended first).
    pub fn take_line(&mut self, mut sink: impl FnMut(&[u8])) -> io::Result<bool> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', self.data()) {
                sink(&self.data()[..=i]);
                self.consume(i + 1);
                return Ok(true);
            }
            if !self.data().is_empty() {
                sink(self.data());
                let n = self.data().len();
                self.consume(n);
            }
            if self.fill()? == 0 {
                return Ok(false);
            }
        }
    }

    /// Whether the content has ended (nothing buffered, nothing more).
    pub fn at_end(&mut self) -> io::Result<bool> {
        Ok(self.data().is_empty() && self.fill()? == 0)
    }
}

/// How much of a file identifies it (with multilog's microsecond stamps
/// on every line, two different files never share it).
pub const IDENTITY: usize = 4096;

/// The first `IDENTITY` bytes of a file's content (all of it if it is
/// shorter), decompressing a gzip file.
pub fn identity(file: &Rc<File>, gzip: bool) -> io::Result<Vec<u8>> {
    let mut r = if gzip {
        Reader::gzip(file.clone(), 0)?
    } else {
        Reader::plain(file.clone(), 0, Some(IDENTITY as u64))
    };
    let mut out = Vec::with_capacity(IDENTITY);
    while out.len() < IDENTITY {
        if r.data().is_empty() && r.fill()? == 0 {
            break;
        }
        let n = r.data().len().min(IDENTITY - out.len());
        out.extend_from_slice(&r.data()[..n]);
        r.consume(n);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines(mut r: Reader) -> Vec<(Vec<u8>, bool)> {
        let mut out = Vec::new();
        while !r.at_end().unwrap() {
            let mut line = Vec::new();
            let nl = r.take_line(|c| line.extend_from_slice(c)).unwrap();
            out.push((line, nl));
        }
        out
    }

    #[test]
    fn plain_and_gzip_read_alike() {
        let dir = tempfile::tempdir().unwrap();
        let mut content = Vec::new();
        for i in 0..5000 {
            content.extend_from_slice(format!("line {i} {}\n", "x".repeat(i % 300)).as_bytes());
        }
        content.extend_from_slice(&vec![b'y'; 3 * BUF]);
        let p = dir.path().join("plain");
        std::fs::write(&p, &content).unwrap();
        let g = dir.path().join("gz");
        let mut enc =
            flate2::write::GzEncoder::new(File::create(&g).unwrap(), flate2::Compression::fast());
        enc.write_all(&content).unwrap();
        enc.finish().unwrap();

        let plain = lines(Reader::plain(Rc::new(File::open(&p).unwrap()), 0, None));
        let gz = lines(Reader::gzip(Rc::new(File::open(&g).unwrap()), 0).unwrap());
        assert_eq!(plain.len(), 5001);
        assert_eq!(plain, gz);
        assert_eq!(plain[5000], (vec![b'y'; 3 * BUF], false));
        let joined: Vec<u8> = plain.iter().flat_map(|(l, _)| l.clone()).collect();
        assert_eq!(joined, content);

        // Starting in the middle, and stopping at a limit.
        let at = content.len() as u64 - 3 * BUF as u64 - 10;
        let tail = lines(Reader::gzip(Rc::new(File::open(&g).unwrap()), at).unwrap());
        assert_eq!(tail.len(), 2);
        let cut = lines(Reader::plain(Rc::new(File::open(&p).unwrap()), 5, Some(12)));
        assert_eq!(
            cut,
            vec![(b"0 \n".to_vec(), true), (b"line".to_vec(), false)]
        );
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let g = dir.path().join("gz");
        let mut enc =
            flate2::write::GzEncoder::new(File::create(&g).unwrap(), flate2::Compression::fast());
        enc.write_all(&vec![b'a'; 100_000]).unwrap();
        enc.finish().unwrap();
        let mut bytes = std::fs::read(&g).unwrap();
        bytes.truncate(bytes.len() / 2);
        std::fs::write(&g, &bytes).unwrap();
        let mut r = Reader::gzip(Rc::new(File::open(&g).unwrap()), 0).unwrap();
        let mut err = None;
        loop {
            match r.take_line(|_| {}) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        assert!(err.is_some());
    }
}
