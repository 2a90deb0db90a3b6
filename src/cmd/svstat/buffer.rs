//! A fixed-size output buffer over a raw descriptor, flushed when the next
//! piece does not fit and on request: the buffering whose flush points the
//! daemontools programs make observable through pipes.

use std::os::fd::AsFd;

use nix::errno::Errno;

use crate::msg::write_all;

/// daemontools' BUFFER_OUTSIZE: the chunk size for pieces that bypass a
/// smaller buffer.
const OUTSIZE: usize = 8192;

pub struct BufOut<F: AsFd> {
    fd: F,
    buf: Vec<u8>,
    cap: usize,
}

impl<F: AsFd> BufOut<F> {
    pub fn new(fd: F, cap: usize) -> BufOut<F> {
        BufOut {
            fd,
            buf: Vec::with_capacity(cap),
            cap,
        }
    }

    /// Appends `data` as daemontools' `buffer_put` does: when it does not
    /// fit, flush first; then, while more than a bufferful is left, write
    /// it straight through in chunks of up to 8192 bytes; keep the rest.
    pub fn put(&mut self, mut data: &[u8]) -> Result<(), Errno> {
        if data.len() > self.cap - self.buf.len() {
            self.flush()?;
            let mut chunk = self.cap.max(OUTSIZE);
            while data.len() > self.cap {
                chunk = chunk.min(data.len());
                write_all(self.fd.as_fd(), &data[..chunk])?;
                data = &data[chunk..];
            }
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), Errno> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let r = write_all(self.fd.as_fd(), &self.buf);
        self.buf.clear();
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::OFlag;

    /// The write(2) sizes `put` makes for the given pieces, seen through a
    /// packet-mode pipe (O_DIRECT: one read per write, up to 4096 bytes).
    fn writes(cap: usize, pieces: &[usize]) -> Vec<usize> {
        let (r, w) =
            nix::unistd::pipe2(OFlag::O_DIRECT | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).unwrap();
        let mut out = BufOut::new(w, cap);
        let mut sizes = Vec::new();
        let drain = |sizes: &mut Vec<usize>| {
            let mut b = [0u8; 4096];
            while let Ok(n) = nix::unistd::read(&r, &mut b) {
                sizes.push(n);
            }
        };
        for &p in pieces {
            out.put(&vec![b'x'; p]).unwrap();
            drain(&mut sizes);
        }
        out.flush().unwrap();
        drain(&mut sizes);
        sizes
    }

    #[test]
    fn flush_points_of_buffer_put() {
        // fits: nothing until the final flush
        assert_eq!(writes(1024, &[10, 20]), vec![30]);
        // does not fit: flush, then keep the piece
        assert_eq!(writes(1024, &[1000, 100]), vec![1000, 100]);
        // exactly a bufferful is kept, one more byte goes straight out
        assert_eq!(writes(1024, &[10, 1024, 5]), vec![10, 1024, 5]);
        assert_eq!(writes(1024, &[10, 1025, 5]), vec![10, 1025, 5]);
        // (chunks of 8192 for longer pieces: tests/it/supervise_audit.rs
        // compares svstat's writes with the reference's under strace)
    }
}
