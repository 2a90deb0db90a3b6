//! `g`: gzip compression of a directory's archives (issue 16 §4), in a
//! thread of multilog, so logging never waits for it (0.76's `!gzip`
//! processor holds the pipe for as long as gzip runs).
//!
//! Every archive `@<stamp>.s` (or `.u`) becomes `@<stamp>.s.gz`:
//! 1. the compressed data is written to `gzip.tmp` (a name svlog, 0.76's
//!    retention and `n`/`C` ignore), synced, and given the archive's mode;
//! 2. under the directory's name lock (held by retention too, so an
//!    archive that retention removed is never brought back), if the
//!    archive is still there, `gzip.tmp` is renamed to `@<stamp>.s.gz`,
//!    then the archive is removed.
//!
//! A crash can leave `gzip.tmp` (removed at the next start, the archive is
//! still whole) or, between the two steps of 2, the archive and its
//! complete `.gz` (the next start removes the archive). retention and
//! svlog count a file and its `.gz` as one archive, so at no moment is an
//! archive counted twice or lost. At start every archive without a `.gz`
//! is queued, oldest first: those of a previous run, those made before
//! `g` was given, and `.u` files made by the crash recovery.
//!
//! After SIGTERM the thread is told to stop: it leaves the archive it was
//! compressing as it is (and removes `gzip.tmp`), for the next start. At
//! the end of the input multilog waits until the queue is compressed.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use flate2::{Compression, GzBuilder};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::UnlinkatFlags;

use super::PROG;
use super::retain;
use crate::msg;

/// The compressor's file while it writes.
pub const TMP: &[u8] = b"gzip.tmp";

/// Read size; the thread checks for a stop between reads.
const CHUNK: usize = 64 * 1024;

/// The pause after a failed compression (disk full, I/O error).
const RETRY: Duration = Duration::from_secs(5);

/// Whether `name` is a whole archive name multilog makes: `@`, 24
/// lowercase hex digits, `.s` or `.u`.
pub fn compressible(name: &[u8]) -> bool {
    name.len() == 27
        && name[0] == b'@'
        && name[1..25]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
        && name[25] == b'.'
        && matches!(name[26], b's' | b'u')
}

/// `NAME.gz`.
fn gz_name(name: &[u8]) -> Vec<u8> {
    let mut v = name.to_vec();
    v.extend_from_slice(b".gz");
    v
}

#[derive(Default)]
struct Queue {
    names: VecDeque<Vec<u8>>,
    stop: bool,
    /// End once the queue is empty.
    drain: bool,
}

/// What the directory and its compressor share.
#[derive(Default)]
pub struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Held while archive names change: by retention, and by the
    /// compressor while it puts a `.gz` in place of an archive.
    names: Mutex<()>,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The name lock (see `names`).
    pub fn names(&self) -> MutexGuard<'_, ()> {
        self.names.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sleeps `d` or until told to stop; true when told to stop.
    fn nap(&self, d: Duration) -> bool {
        let q = self.queue();
        let (q, _) = self
            .wake
            .wait_timeout_while(q, d, |q| !q.stop)
            .unwrap_or_else(|e| e.into_inner());
        q.stop
    }
}

/// A directory's compressor thread.
pub struct Compressor {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Compressor {
    /// Cleans up after a crash in `dirfd` (see the module comment), queues
    /// every archive not yet compressed and starts the thread. `dir` is
    /// the directory's name for messages.
    pub fn start(dirfd: &OwnedFd, dir: &[u8], level: u32) -> Result<Compressor, Errno> {
        let names = recover(dirfd)?;
        let shared = Arc::new(Shared::default());
        shared.queue().names = names.into();
        let fd = dirfd
            .try_clone()
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))?;
        let job = Job {
            dirfd: fd,
            dir: dir.to_vec(),
            level,
            shared: shared.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("gzip".into())
            .spawn(move || job.run())
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EAGAIN)))?;
        Ok(Compressor {
            shared,
            thread: Some(thread),
        })
    }

    /// Queues archive `name` (just made by a rotation).
    pub fn push(&self, name: &[u8]) {
        self.shared.queue().names.push_back(name.to_vec());
        self.shared.wake.notify_one();
    }

    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Stops the thread (the archive in progress stays uncompressed).
    pub fn stop(&mut self) {
        self.shared.queue().stop = true;
        self.end();
    }

    /// Compresses what is queued, then ends the thread (at the end of the
    /// input; a failure there leaves the rest for the next start).
    pub fn drain(&mut self) {
        self.shared.queue().drain = true;
        self.end();
    }

    fn end(&mut self) {
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Compressor {
    fn drop(&mut self) {
        self.stop();
    }
}

/// After a crash: removes `gzip.tmp` and every archive whose `.gz` is in
/// place; returns the archives to compress, oldest first.
fn recover(dirfd: &OwnedFd) -> Result<Vec<Vec<u8>>, Errno> {
    match nix::unistd::unlinkat(dirfd, TMP, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(e),
    }
    let mut plain = Vec::new();
    let mut gz = Vec::new();
    for e in retain::list(dirfd)? {
        if compressible(&e.name) {
            plain.push(e.name);
        } else if let Some(stem) = e.name.strip_suffix(b".gz")
            && compressible(stem)
        {
            gz.push(stem.to_vec());
        }
    }
    gz.sort();
    plain.sort();
    let mut todo = Vec::new();
    for name in plain {
        if gz.binary_search(&name).is_ok() {
            match nix::unistd::unlinkat(dirfd, &name[..], UnlinkatFlags::NoRemoveDir) {
                Ok(()) | Err(Errno::ENOENT) => {}
                Err(e) => return Err(e),
            }
        } else {
            todo.push(name);
        }
    }
    if !gz.is_empty() {
        let _ = nix::unistd::fsync(dirfd);
    }
    Ok(todo)
}

/// Why a compression did not end with a `.gz`.
enum Stop {
    /// multilog is exiting.
    Asked,
    Failed(Errno),
}

impl From<Errno> for Stop {
    fn from(e: Errno) -> Stop {
        Stop::Failed(e)
    }
}

impl From<std::io::Error> for Stop {
    fn from(e: std::io::Error) -> Stop {
        Stop::Failed(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
    }
}

struct Job {
    dirfd: OwnedFd,
    dir: Vec<u8>,
    level: u32,
    shared: Arc<Shared>,
}

impl Job {
    fn run(self) {
        loop {
            let name = {
                let q = self.shared.queue();
                let mut q = self
                    .shared
                    .wake
                    .wait_while(q, |q| !q.stop && !q.drain && q.names.is_empty())
                    .unwrap_or_else(|e| e.into_inner());
                if q.stop || q.names.is_empty() {
                    return;
                }
                q.names.pop_front().expect("not empty")
            };
            match self.compress(&name) {
                Ok(()) => {}
                Err(Stop::Asked) => {
                    self.remove_tmp();
                    return;
                }
                Err(Stop::Failed(e)) => {
                    self.remove_tmp();
                    msg::warn(
                        PROG,
                        &[b"unable to compress ", &self.dir, b"/", &name, b", pausing"],
                        Some(e),
                    );
                    let mut q = self.shared.queue();
                    if q.drain {
                        return;
                    }
                    q.names.push_front(name);
                    drop(q);
                    if self.shared.nap(RETRY) {
                        return;
                    }
                }
            }
        }
    }

    fn remove_tmp(&self) {
        let _ = nix::unistd::unlinkat(&self.dirfd, TMP, UnlinkatFlags::NoRemoveDir);
    }

    fn stopping(&self) -> bool {
        self.shared.queue().stop
    }

    /// Compresses archive `name` (see the module comment). An archive
    /// that is gone (removed by retention) is skipped.
    fn compress(&self, name: &[u8]) -> Result<(), Stop> {
        let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
        let src = match nix::fcntl::openat(&self.dirfd, name, flags, Mode::empty()) {
            Ok(fd) => File::from(fd),
            Err(Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let st = nix::sys::stat::fstat(src.as_fd())?;
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_CLOEXEC;
        let tmp = nix::fcntl::openat(&self.dirfd, TMP, flags, Mode::from_bits_truncate(0o600))?;
        let mut gz = GzBuilder::new()
            .filename(name)
            .mtime(st.st_mtime.clamp(0, u32::MAX as i64) as u32)
            .write(File::from(tmp), Compression::new(self.level));
        let mut src = src;
        let mut buf = vec![0u8; CHUNK];
        loop {
            if self.stopping() {
                return Err(Stop::Asked);
            }
            let n = match src.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            gz.write_all(&buf[..n])?;
        }
        let tmp = gz.finish()?;
        nix::sys::stat::fchmod(tmp.as_fd(), Mode::from_bits_truncate(st.st_mode & 0o7777))?;
        tmp.sync_all()?;
        drop(tmp);
        let target = gz_name(name);
        {
            let _names = self.shared.names();
            match nix::sys::stat::fstatat(&self.dirfd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(_) => {}
                Err(Errno::ENOENT) => {
                    // Removed by retention meanwhile.
                    self.remove_tmp();
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
            nix::fcntl::renameat(&self.dirfd, TMP, &self.dirfd, &target[..])?;
            let _ = nix::unistd::fsync(&self.dirfd);
            match nix::unistd::unlinkat(&self.dirfd, name, UnlinkatFlags::NoRemoveDir) {
                Ok(()) | Err(Errno::ENOENT) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let _ = nix::unistd::fsync(&self.dirfd);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_compressed() {
        assert!(compressible(b"@400000006b0f3f100000000a.s"));
        assert!(compressible(b"@400000006b0f3f100000000a.u"));
        for n in [
            &b"@400000006b0f3f100000000a.s.gz"[..],
            b"@400000006b0f3f100000000A.s",
            b"@400000006b0f3f100000000a.x",
            b"@400000006b0f3f100000000a_s",
            b"current",
            b"gzip.tmp",
        ] {
            assert!(!compressible(n), "{}", String::from_utf8_lossy(n));
        }
        assert!(!retain::is_archive(TMP));
    }
}
