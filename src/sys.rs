//! The only module with `unsafe` code.
//!
//! Everything here is a thin wrapper around a system call or a C-library
//! facility that no safe crate API offers in the form daemontools needs:
//! the raw argv/environ arrays, fork, signal handlers, duplicating a
//! descriptor onto a fixed number, and `localtime_r`. Each unsafe block
//! carries a SAFETY comment. All other modules are written in safe Rust on
//! top of `nix` and these wrappers (the crate denies `unsafe_code` everywhere
//! else).

#![allow(unsafe_code)]

use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::unistd::ForkResult;

/// The process arguments as byte strings, taken from the C `main`.
///
/// # Safety
/// `argc` and `argv` must be exactly what the C runtime passed to `main`.
pub unsafe fn args_from_main(argc: i32, argv: *const *const libc::c_char) -> Vec<&'static [u8]> {
    let mut out = Vec::with_capacity(argc.max(0) as usize);
    for i in 0..argc.max(0) as usize {
        // SAFETY: the C runtime guarantees argv[0..argc] are valid
        // NUL-terminated strings that live for the whole process.
        let p = unsafe { *argv.add(i) };
        if p.is_null() {
            break;
        }
        // SAFETY: p is a valid NUL-terminated string (see above).
        out.push(unsafe { CStr::from_ptr(p) }.to_bytes());
    }
    out
}

/// For readproctitle: copies of all arguments, and the last argument's
/// bytes as the writable area the kernel exposes through /proc/PID/cmdline.
/// The copies are taken first, so no shared borrow of argv's memory is alive
/// when the mutable one is made. The area excludes the terminating NUL and
/// is never extended; None without arguments.
///
/// # Safety
/// `argc` and `argv` must be exactly what the C runtime passed to `main`,
/// and this must be called at most once (the area is handed out once).
pub unsafe fn args_and_title(
    argc: i32,
    argv: *const *mut libc::c_char,
) -> (Vec<Vec<u8>>, Option<&'static mut [u8]>) {
    // SAFETY: forwarded from the caller; the borrowed slices die here, once
    // copied.
    let args = unsafe { args_from_main(argc, argv.cast()) }
        .iter()
        .map(|a| a.to_vec())
        .collect();
    if argc < 1 {
        return (args, None);
    }
    // SAFETY: argv[argc-1] is a valid NUL-terminated string owned by the
    // process for its whole life; the C standard allows main to modify it.
    // No other reference to its bytes exists (the arguments above are
    // copies), and the caller takes this one slice once.
    let title = unsafe {
        let p = *argv.add(argc as usize - 1);
        if p.is_null() {
            return (args, None);
        }
        let len = libc::strlen(p);
        std::slice::from_raw_parts_mut(p.cast::<u8>(), len)
    };
    (args, Some(title))
}

/// The current environment array, in its order, entries without `=`
/// included (std's `vars_os` would drop them).
pub fn environ() -> Vec<&'static [u8]> {
    unsafe extern "C" {
        static environ: *const *const libc::c_char;
    }
    let mut out = Vec::new();
    // SAFETY: `environ` is the C library's NULL-terminated array of
    // NUL-terminated strings; our programs are single-threaded and never
    // call setenv/putenv, so it is not modified while we read it.
    unsafe {
        let mut p = environ;
        if p.is_null() {
            return out;
        }
        while !(*p).is_null() {
            out.push(CStr::from_ptr(*p).to_bytes());
            p = p.add(1);
        }
    }
    out
}

/// fork(2). Our programs are single-threaded when they fork, with one
/// exception: multilog with a `g` directory has its compressor threads.
/// A child of multilog therefore touches no lock those threads use (the
/// compressor's queue, stdio); what it does before exec (open files, set
/// signals, format a message on failure) goes through the C library's
/// allocator, which glibc and musl make usable in the child of a
/// multithreaded fork.
pub fn fork() -> Result<ForkResult, Errno> {
    // SAFETY: the child of a single-threaded program may do anything; the
    // child of multilog with compressor threads keeps to what the comment
    // above allows (start_processor in cmd/multilog/logdir.rs).
    unsafe { nix::unistd::fork() }
}

/// Standard input, output or error: descriptor 0, 1 or 2, which every
/// program here treats as its own for its whole life, as std's `Stdin`,
/// `Stdout` and `Stderr` do (their `AsFd` is the same borrow). Only these
/// three exist; no other number can be borrowed this way. (std's handles
/// would also do, but they bring their lazily made buffered readers and
/// writers, which we never use: in tai64nlocal that code alone cost 8% of
/// the wall time, through code placement.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StdFd(RawFd);

impl StdFd {
    pub const IN: StdFd = StdFd(0);
    pub const OUT: StdFd = StdFd(1);
    pub const ERR: StdFd = StdFd(2);
    pub const ALL: [StdFd; 3] = [StdFd::IN, StdFd::OUT, StdFd::ERR];

    /// The descriptor number (0, 1 or 2).
    pub fn raw(self) -> RawFd {
        self.0
    }
}

impl StdFd {
    /// The descriptor borrowed for the life of the process (for APIs that
    /// keep the borrow, such as `PollFd`).
    pub fn borrow(self) -> BorrowedFd<'static> {
        // SAFETY: 0, 1 and 2 belong to the process for its whole life; no
        // code here closes them or hands their ownership to an `OwnedFd`
        // (they are only ever replaced in place with dup2, e.g. svscan
        // opens /dev/null on a closed one at start-up). A closed one only
        // makes the system call fail with EBADF.
        unsafe { BorrowedFd::borrow_raw(self.0) }
    }
}

impl AsFd for StdFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.borrow()
    }
}

/// dup2(2) onto a fixed descriptor number, clearing close-on-exec on the
/// copy. Used in forked children to set up fds 0, 1, 4, 5 before exec.
pub fn dup2(from: RawFd, to: RawFd) -> Result<(), Errno> {
    // SAFETY: dup2 has no memory-safety preconditions; it may replace
    // whatever descriptor `to` named, which is exactly the intent here (the
    // callers run in a child about to exec, or own `to`).
    let r = unsafe { libc::dup2(from, to) };
    Errno::result(r).map(drop)
}

/// close(2) on a raw number whose ownership the caller gives up.
pub fn close(fd: RawFd) {
    // SAFETY: the caller owns `fd` and does not use the number afterwards.
    unsafe {
        libc::close(fd);
    }
}

/// _exit(2): leaves a forked child without running atexit handlers or
/// flushing anything the parent had buffered.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions and does not return.
    unsafe { libc::_exit(code) }
}

/// Signal handler that only sets a flag (multilog's TERM/ALRM).
pub struct Flag(std::sync::atomic::AtomicBool);

impl Flag {
    pub const fn new() -> Flag {
        Flag(std::sync::atomic::AtomicBool::new(false))
    }
    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }
    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst)
    }
}

impl Default for Flag {
    fn default() -> Self {
        Flag::new()
    }
}

/// Installs `handler` for `sig` with an empty mask and without SA_RESTART,
/// so a blocked read(2) or poll(2) returns EINTR.
pub fn catch(sig: Signal, handler: extern "C" fn(libc::c_int)) -> Result<(), Errno> {
    let act = SigAction::new(
        SigHandler::Handler(handler),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handlers passed in by this crate only perform
    // async-signal-safe operations (an atomic store or a write(2)).
    unsafe { nix::sys::signal::sigaction(sig, &act) }.map(drop)
}

/// Restores the default action for `sig` (used in children before exec).
pub fn uncatch(sig: Signal) -> Result<(), Errno> {
    let act = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: installing SIG_DFL has no preconditions.
    unsafe { nix::sys::signal::sigaction(sig, &act) }.map(drop)
}

/// Ignores `sig` (svc ignores SIGPIPE, as the C version does).
pub fn ignore(sig: Signal) -> Result<(), Errno> {
    let act = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: installing SIG_IGN has no preconditions.
    unsafe { nix::sys::signal::sigaction(sig, &act) }.map(drop)
}

/// The write end of a self-pipe that `selfpipe_handler` writes to.
static SELFPIPE: AtomicI32 = AtomicI32::new(-1);

/// Sets the descriptor that `selfpipe_handler` writes one byte to.
pub fn set_selfpipe(fd: RawFd) {
    SELFPIPE.store(fd, Ordering::SeqCst);
}

/// Signal handler for the self-pipe trick: writes one byte, keeps errno.
pub extern "C" fn selfpipe_handler(_sig: libc::c_int) {
    let fd = SELFPIPE.load(Ordering::SeqCst);
    if fd >= 0 {
        let saved = Errno::last_raw();
        // SAFETY: write(2) is async-signal-safe; the buffer is a valid
        // one-byte static. The pipe is non-blocking, so a full pipe only
        // makes the write fail (a wakeup is pending anyway).
        unsafe {
            libc::write(fd, c"".as_ptr().cast(), 1);
        }
        Errno::set_raw(saved);
    }
}

/// Broken-down local time as `localtime_r` returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i64,
    pub mon: u32,
    pub mday: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
}

/// Converts Unix seconds to local time with the C library (honours TZ,
/// zoneinfo rules and `right/` zones). None when the C library cannot
/// represent the result (the year does not fit an int).
pub fn localtime(t: i64) -> Option<LocalTime> {
    let tt: libc::time_t = t as libc::time_t;
    // SAFETY: zeroed memory is a valid `struct tm` (plain integers and a
    // nullable pointer).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe extern "C" {
        fn tzset();
    }
    // SAFETY: both pointers reference live, properly aligned locals;
    // localtime_r is reentrant. tzset (no arguments, no preconditions) is
    // called first as POSIX requires for localtime_r to see TZ.
    let r = unsafe {
        tzset();
        libc::localtime_r(&tt, &mut tm)
    };
    if r.is_null() {
        return None;
    }
    Some(LocalTime {
        year: 1900 + tm.tm_year as i64,
        mon: (tm.tm_mon + 1) as u32,
        mday: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        min: tm.tm_min as u32,
        sec: tm.tm_sec as u32,
    })
}

/// The real-time clock as (seconds, microseconds), exactly what
/// daemontools' `taia_now` reads with gettimeofday(2). Read with
/// clock_gettime(CLOCK_REALTIME) and truncated to microseconds: the same
/// clock and the same truncation the kernel applies for gettimeofday, but
/// a faster vDSO path (multilog `t` and tai64n read it for every line).
pub fn gettimeofday() -> (i64, u32) {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_REALTIME always
    // exists, so the call cannot fail.
    unsafe {
        libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts);
    }
    (ts.tv_sec, (ts.tv_nsec / 1000) as u32)
}

/// Defines the C `main` of a program binary: `daemontools::program!(f)`
/// where `f(&[&[u8]]) -> i32` receives argv as bytes. With `#![no_main]`
/// in the binary, std's runtime start-up (which sets SIGPIPE to SIG_IGN)
/// never runs, so children inherit signal dispositions as from C.
#[macro_export]
macro_rules! program {
    ($f:path) => {
        // Under `cargo test` the binary is built with the test harness,
        // which brings its own main (and no tests).
        #[cfg(not(test))]
        #[unsafe(no_mangle)]
        #[allow(unsafe_code, clippy::not_unsafe_ptr_arg_deref)]
        pub extern "C" fn main(argc: i32, argv: *const *const ::std::ffi::c_char) -> i32 {
            // SAFETY: argc and argv come straight from the C runtime.
            let args = unsafe { $crate::sys::args_from_main(argc, argv) };
            $f(&args)
        }
    };
}

/// Like `program!`, for readproctitle: `f(&args, title)` also receives the
/// last argument's original argv memory, writable in place; `args` are
/// copies, so the two never overlap.
#[macro_export]
macro_rules! program_with_title {
    ($f:path) => {
        #[cfg(not(test))]
        #[unsafe(no_mangle)]
        #[allow(unsafe_code, clippy::not_unsafe_ptr_arg_deref)]
        pub extern "C" fn main(argc: i32, argv: *const *mut ::std::ffi::c_char) -> i32 {
            // SAFETY: argc and argv come straight from the C runtime; the
            // title area is taken once, here.
            let (owned, title) = unsafe { $crate::sys::args_and_title(argc, argv) };
            let args: ::std::vec::Vec<&[u8]> = owned.iter().map(|a| &a[..]).collect();
            $f(&args, title)
        }
    };
}

// ---- process-state tools (setuidgid, envuidgid): account lookup ----

/// A passwd entry's ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PwIds {
    pub uid: u32,
    pub gid: u32,
}

/// getpwnam_r restricted to the C library's own `/etc/passwd` reading.
///
/// A statically linked glibc would otherwise load the NSS modules named in
/// /etc/nsswitch.conf (e.g. libnss_systemd) with dlopen, which crashes in a
/// static binary: on glibc the passwd database is first restricted to its
/// built-in `files` source (`glibc_passwd_files_only`). Other C libraries
/// (musl, the BSDs) read /etc/passwd without loading modules and get the
/// plain lookup. Ok(None): no such entry.
pub fn getpwnam_files(name: &CStr) -> Result<Option<PwIds>, Errno> {
    #[cfg(target_env = "gnu")]
    glibc_passwd_files_only()?;
    getpwnam(name)
}

/// glibc's `__nss_configure_lookup("passwd", "files")`: replaces the passwd
/// database's service list for this process, so only the code linked into
/// the binary runs. Idempotent.
#[cfg(target_env = "gnu")]
fn glibc_passwd_files_only() -> Result<(), Errno> {
    unsafe extern "C" {
        fn __nss_configure_lookup(db: *const libc::c_char, service: *const libc::c_char) -> i32;
    }
    // SAFETY: both arguments are valid NUL-terminated static strings; glibc
    // copies what it keeps. The programs are single-threaded, so no other
    // thread is in the middle of an NSS lookup.
    let r = unsafe { __nss_configure_lookup(c"passwd".as_ptr(), c"files".as_ptr()) };
    if r != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Plain getpwnam_r: the ids of `name`'s passwd entry, Ok(None) when there
/// is none. Programs call it through `getpwnam_files` (on glibc a static
/// binary must not reach the NSS modules).
pub fn getpwnam(name: &CStr) -> Result<Option<PwIds>, Errno> {
    let mut buf: Vec<libc::c_char> = vec![0; 1024];
    loop {
        // SAFETY: zeroed memory is a valid `struct passwd` (integers and
        // nullable pointers); getpwnam_r overwrites it.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut res: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer references a live local of the stated size;
        // the strings that getpwnam_r stores point into `buf`, which we do
        // not read (only the integer ids are copied out).
        let e = unsafe {
            libc::getpwnam_r(
                name.as_ptr(),
                &mut pw,
                buf.as_mut_ptr(),
                buf.len(),
                &mut res,
            )
        };
        match e {
            0 if res.is_null() => return Ok(None),
            0 => {
                return Ok(Some(PwIds {
                    uid: pw.pw_uid,
                    gid: pw.pw_gid,
                }));
            }
            libc::ERANGE if buf.len() < 1 << 20 => buf.resize(buf.len() * 2, 0),
            e => return Err(Errno::from_raw(e)),
        }
    }
}

// ---- supervision audit ----

/// time(2): the seconds daemontools' `tai_now` reads (svstat). This is the
/// kernel's coarse real-time second, which can lag gettimeofday's by a
/// clock tick right after a second boundary.
pub fn unix_time() -> i64 {
    // SAFETY: time(NULL) only returns the current time; a null pointer is
    // explicitly allowed and nothing is written through it.
    unsafe { libc::time(std::ptr::null_mut()) }
}

/// recvmsg(2) of one datagram or packet into `buf` with at most one
/// descriptor passed along (SCM_RIGHTS, received close-on-exec): the
/// payload length and the descriptor, now owned by the caller. Any further
/// descriptors in the message are closed.
pub fn recv_with_fd(
    sock: &std::os::fd::OwnedFd,
    buf: &mut [u8],
) -> Result<(usize, Option<std::os::fd::OwnedFd>), Errno> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let mut space = nix::cmsg_space!([RawFd; 4]);
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut first = None;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for f in fds {
                // SAFETY: the kernel has just installed this descriptor in
                // our table for this message; nothing else refers to it, so
                // taking ownership (and closing it on drop) is sound.
                let owned = unsafe { OwnedFd::from_raw_fd(f) };
                first.get_or_insert(owned);
            }
        }
    }
    Ok((msg.bytes, first))
}

/// Closes every descriptor from `low` up, except those in `keep` (used by
/// a forked child that does not exec, so that it holds no copy of its
/// parent's pipes).
pub fn close_from_except(low: RawFd, keep: &[RawFd]) {
    let Ok(rd) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<RawFd> = rd
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd >= low && !keep.contains(&fd))
        .collect();
    for fd in fds {
        close(fd);
    }
}

/// One datagram received by `recv_notify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Datagram {
    /// Bytes of it in the buffer.
    pub len: usize,
    /// It was longer than the buffer (MSG_TRUNC): the rest is lost.
    pub truncated: bool,
    /// Its control data did not fit (MSG_CTRUNC): descriptors that did not
    /// fit were discarded by the kernel, credentials may be missing.
    pub control_truncated: bool,
    /// The sender's pid from SCM_CREDENTIALS (with SO_PASSCRED set the
    /// kernel attaches the true one); None without credentials.
    pub pid: Option<u32>,
    /// Descriptors that came with it (SCM_RIGHTS): all already closed.
    pub fds_closed: usize,
}

/// recvmsg(2) of one datagram from a socket with SO_PASSCRED set, without
/// blocking, into `buf`: the sender's credentials are read, and every
/// descriptor passed along is closed at once — received close-on-exec
/// (MSG_CMSG_CLOEXEC), so none can leak into a child even for an instant,
/// and closed even when the control data was truncated (nix's iterator
/// refuses a truncated buffer, which would leave them open).
pub fn recv_notify(sock: BorrowedFd<'_>, buf: &mut [u8]) -> Result<Datagram, Errno> {
    use std::os::fd::AsRawFd;
    /// Room for one ucred and 64 descriptors, aligned for cmsghdr.
    #[repr(C, align(8))]
    struct Control([u8; 512]);
    let mut control = Control([0; 512]);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero msghdr is valid (null pointers, zero lengths).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = control.0.len() as _;
    // SAFETY: `msg` points to `iov` (which points to `buf`) and to
    // `control`, all live and of the lengths given, for the whole call.
    let n = unsafe {
        libc::recvmsg(
            sock.as_raw_fd(),
            &mut msg,
            libc::MSG_CMSG_CLOEXEC | libc::MSG_DONTWAIT,
        )
    };
    let n = Errno::result(n)? as usize;
    let mut d = Datagram {
        len: n.min(buf.len()),
        truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
        control_truncated: msg.msg_flags & libc::MSG_CTRUNC != 0,
        ..Datagram::default()
    };
    // SAFETY: CMSG_LEN only computes a length.
    let header = unsafe { libc::CMSG_LEN(0) } as usize;
    // SAFETY: the kernel set msg_controllen to the bytes of `control` it
    // filled; CMSG_FIRSTHDR and CMSG_NXTHDR return headers inside that
    // length (or null), each aligned by the kernel's CMSG_ALIGN layout in
    // our 8-aligned buffer.
    let mut c = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !c.is_null() {
        // SAFETY: `c` is a header inside the filled control data (above).
        let (level, kind, len) = unsafe { ((*c).cmsg_level, (*c).cmsg_type, (*c).cmsg_len) };
        // (cmsg_len is a size_t in glibc, a socklen_t in musl)
        #[allow(clippy::unnecessary_cast)]
        let data_len = (len as usize).saturating_sub(header);
        // SAFETY: CMSG_DATA points just past the header; the kernel wrote
        // `data_len` bytes there (cmsg_len counts them, truncation included).
        let data = unsafe { libc::CMSG_DATA(c) };
        if level == libc::SOL_SOCKET && kind == libc::SCM_RIGHTS {
            for i in 0..data_len / std::mem::size_of::<libc::c_int>() {
                // SAFETY: entry i lies within the data_len bytes written;
                // read_unaligned makes no alignment assumption.
                let fd = unsafe { std::ptr::read_unaligned(data.cast::<libc::c_int>().add(i)) };
                // the kernel installed it in our table for this message:
                // it is ours to close, and nothing else refers to it
                close(fd);
                d.fds_closed += 1;
            }
        } else if level == libc::SOL_SOCKET
            && kind == libc::SCM_CREDENTIALS
            && data_len >= std::mem::size_of::<libc::ucred>()
        {
            // SAFETY: a whole ucred lies within the data written (checked);
            // read_unaligned makes no alignment assumption.
            let cred = unsafe { std::ptr::read_unaligned(data.cast::<libc::ucred>()) };
            d.pid = u32::try_from(cred.pid).ok();
        }
        // SAFETY: as for CMSG_FIRSTHDR: bounded by msg_controllen.
        c = unsafe { libc::CMSG_NXTHDR(&msg, c) };
    }
    Ok(d)
}

// ---- multilog input ----

/// recv(2) into `buf` with `flags` (multilog looks at a stream socket on
/// fd 0 with MSG_PEEK | MSG_DONTWAIT, which leave the bytes in the socket
/// and the descriptor's flags unchanged).
pub fn recv(fd: BorrowedFd, buf: &mut [u8], flags: libc::c_int) -> Result<usize, Errno> {
    use std::os::fd::AsRawFd;
    // SAFETY: `buf` is a valid, writable region of exactly `buf.len()`
    // bytes for the duration of the call; the kernel writes at most that.
    let r = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), flags) };
    Errno::result(r).map(|n| n as usize)
}

/// How many bytes are waiting to be read from a pipe, socket or terminal
/// (FIONREAD).
pub fn bytes_waiting(fd: BorrowedFd) -> Result<usize, Errno> {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int to the valid, writable local `n`.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    Errno::result(r).map(|_| n.max(0) as usize)
}

/// The type of socket `fd` (SOCK_STREAM, SOCK_DGRAM, ...), or None when
/// it is not a socket.
pub fn socket_type(fd: BorrowedFd) -> Option<libc::c_int> {
    use std::os::fd::AsRawFd;
    let mut ty: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `ty` and `len` are valid, writable locals; SO_TYPE writes one
    // c_int and `len` tells the kernel the size of that buffer.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&raw mut ty).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(ty)
}

/// The first words of a file, mapped shared into memory (multilog's
/// `pending` record, see src/cmd/multilog/pending.rs). A store into a word
/// is in the file's page cache at once: it outlives a SIGKILL of the
/// process, and costs no system call.
pub struct SharedWords {
    ptr: std::ptr::NonNull<std::sync::atomic::AtomicU64>,
    len: usize,
}

impl SharedWords {
    /// Maps the first `len` words of the file open for reading and writing
    /// on `fd`. The caller makes sure that the file is at least that long
    /// and keeps it so (a store beyond its end raises SIGBUS), and that
    /// its file system stores into a mapped page without allocating (no
    /// copy-on-write file system: a full one would raise SIGBUS too).
    pub fn map(fd: BorrowedFd, len: usize) -> Result<SharedWords, Errno> {
        use std::os::fd::AsRawFd;
        // SAFETY: a new shared mapping at an address the kernel chooses
        // (null hint): it overlaps no Rust object.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len * 8,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Errno::last());
        }
        let ptr = std::ptr::NonNull::new(p.cast()).ok_or(Errno::EINVAL)?;
        Ok(SharedWords { ptr, len })
    }

    /// The words. Another process (the multilog after this one) may read
    /// them at any time: hence atomics.
    pub fn words(&self) -> &[std::sync::atomic::AtomicU64] {
        // SAFETY: the mapping is page-aligned, `len` words long, readable
        // and writable, and lives until `drop` (which needs `&mut self`);
        // AtomicU64 has the size and alignment of u64 and allows shared
        // mutation.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for SharedWords {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `map`; no slice from
        // `words` outlives `self`.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len * 8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain lookup (all that `getpwnam_files` does on other C
    /// libraries) answers like the restricted one. The glibc restriction is
    /// set first, so that nothing here can reach an NSS module.
    #[test]
    fn plain_lookup_agrees_with_files_lookup() {
        let root = getpwnam_files(c"root").unwrap();
        assert_eq!(root, Some(PwIds { uid: 0, gid: 0 }));
        assert_eq!(getpwnam(c"root").unwrap(), root);
        assert_eq!(getpwnam(c"dtrs-no-such-account").unwrap(), None);
        assert_eq!(getpwnam_files(c"dtrs-no-such-account").unwrap(), None);
    }
}
