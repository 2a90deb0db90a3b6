//! File primitives with daemontools' exact open(2) flags and modes, plus
//! the small descriptor helpers (close-on-exec, blocking mode, flock).
//!
//! Unlike std, nothing here sets O_CLOEXEC implicitly: daemontools decides
//! per descriptor what a child inherits (`coe`).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, Flock, FlockArg, OFlag};
use nix::sys::stat::Mode;

/// open-read: O_RDONLY|O_NONBLOCK.
pub fn open_read(path: &[u8]) -> Result<OwnedFd, Errno> {
    nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_NONBLOCK, Mode::empty())
}

/// open-write: O_WRONLY|O_NONBLOCK.
pub fn open_write(path: &[u8]) -> Result<OwnedFd, Errno> {
    nix::fcntl::open(path, OFlag::O_WRONLY | OFlag::O_NONBLOCK, Mode::empty())
}

/// open-append: O_WRONLY|O_NONBLOCK|O_APPEND|O_CREAT, mode 0600.
pub fn open_append(path: &[u8]) -> Result<OwnedFd, Errno> {
    nix::fcntl::open(
        path,
        OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_APPEND | OFlag::O_CREAT,
        Mode::from_bits_truncate(0o600),
    )
}

/// open-trunc: O_WRONLY|O_NONBLOCK|O_TRUNC|O_CREAT, mode 0644.
pub fn open_trunc(path: &[u8]) -> Result<OwnedFd, Errno> {
    nix::fcntl::open(
        path,
        OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_TRUNC | OFlag::O_CREAT,
        Mode::from_bits_truncate(0o644),
    )
}

/// Sets close-on-exec.
pub fn coe<F: AsFd>(fd: F) -> Result<(), Errno> {
    nix::fcntl::fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map(drop)
}

/// Clears close-on-exec.
pub fn no_coe<F: AsFd>(fd: F) -> Result<(), Errno> {
    nix::fcntl::fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty())).map(drop)
}

fn set_status_flag<F: AsFd>(fd: F, flag: OFlag, on: bool) -> Result<(), Errno> {
    let fd = fd.as_fd();
    let cur = nix::fcntl::fcntl(fd, FcntlArg::F_GETFL)?;
    // Plain bit arithmetic keeps flags nix does not name (O_LARGEFILE is 0
    // to nix on x86_64 but set by the kernel), as daemontools' ndelay does.
    let new = OFlag::from_bits_retain(if on {
        cur | flag.bits()
    } else {
        cur & !flag.bits()
    });
    nix::fcntl::fcntl(fd, FcntlArg::F_SETFL(new)).map(drop)
}

/// Sets O_NONBLOCK.
pub fn ndelay_on<F: AsFd>(fd: F) -> Result<(), Errno> {
    set_status_flag(fd, OFlag::O_NONBLOCK, true)
}

/// Clears O_NONBLOCK.
pub fn ndelay_off<F: AsFd>(fd: F) -> Result<(), Errno> {
    set_status_flag(fd, OFlag::O_NONBLOCK, false)
}

/// An exclusive flock(2) lock (never an fcntl record lock, so that C and
/// Rust daemontools, runit and setlock all exclude each other). The lock
/// lives as long as the returned value (and any inherited copy of the fd).
pub fn lock_ex(fd: OwnedFd, wait: bool) -> Result<Flock<OwnedFd>, Errno> {
    let arg = if wait {
        FlockArg::LockExclusive
    } else {
        FlockArg::LockExclusiveNonblock
    };
    let mut fd = fd;
    loop {
        match Flock::lock(fd, arg) {
            Ok(l) => return Ok(l),
            Err((f, Errno::EINTR)) => fd = f,
            Err((_, e)) => return Err(e),
        }
    }
}

/// read(2) retried on EINTR.
pub fn read<F: AsFd>(fd: F, buf: &mut [u8]) -> Result<usize, Errno> {
    let fd = fd.as_fd();
    loop {
        match nix::unistd::read(fd, buf) {
            Err(Errno::EINTR) => continue,
            r => return r,
        }
    }
}

pub use crate::msg::write_all;

/// The raw number of a descriptor (for dup2 in children and for logs).
pub fn raw<F: AsRawFd>(fd: &F) -> i32 {
    fd.as_raw_fd()
}

/// Creates a pipe whose ends are both close-on-exec; `nonblock` adds
/// O_NONBLOCK to both.
pub fn pipe_coe(nonblock: bool) -> Result<(OwnedFd, OwnedFd), Errno> {
    let mut flags = OFlag::O_CLOEXEC;
    if nonblock {
        flags |= OFlag::O_NONBLOCK;
    }
    nix::unistd::pipe2(flags)
}
