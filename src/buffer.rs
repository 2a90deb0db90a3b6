//! A fixed-size output buffer over a raw descriptor, flushed when the next
//! piece does not fit and on request: the buffering whose flush points the
//! daemontools programs make observable through pipes.

use std::os::fd::AsFd;

use nix::errno::Errno;

use crate::msg::write_all;

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

    /// Appends `data`; flushes first when it does not fit, and writes a
    /// piece larger than the buffer straight through.
    pub fn put(&mut self, data: &[u8]) -> Result<(), Errno> {
        if data.len() > self.cap - self.buf.len() {
            self.flush()?;
            if data.len() >= self.cap {
                return write_all(self.fd.as_fd(), data);
            }
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    pub fn putc(&mut self, c: u8) -> Result<(), Errno> {
        if self.buf.len() == self.cap {
            self.flush()?;
        }
        self.buf.push(c);
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

    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}
