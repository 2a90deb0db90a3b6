//! Diagnostics exactly as daemontools prints them: `PROG: fatal: TEXT: ERR`,
//! one line written with a single write(2), errno texts from daemontools'
//! own table (never strerror), and the exit codes 100 and 111.

use std::os::fd::AsFd;

use nix::errno::Errno;

/// Exit code for usage errors and permanent conditions.
pub const EXIT_USAGE: i32 = 100;
/// Exit code for temporary and system errors.
pub const EXIT_TEMP: i32 = 111;

/// daemontools' `error_str`: the text for an errno value, as it resolves on
/// Linux. Values not in the table read `unknown error`.
pub fn errstr(e: Errno) -> &'static str {
    match e as i32 {
        0 => "no error",
        libc::EPERM => "permission denied",
        libc::ENOENT => "file does not exist",
        libc::ESRCH => "no such process",
        libc::EINTR => "interrupted system call",
        libc::EIO => "input/output error",
        libc::ENXIO => "device not configured",
        libc::E2BIG => "argument list too long",
        libc::ENOEXEC => "exec format error",
        libc::EBADF => "file descriptor not open",
        libc::ECHILD => "no child processes",
        libc::EAGAIN => "temporary failure",
        libc::ENOMEM => "out of memory",
        libc::EACCES => "access denied",
        libc::EFAULT => "bad address",
        libc::ENOTBLK => "not a block device",
        libc::EBUSY => "device busy",
        libc::EEXIST => "file already exists",
        libc::EXDEV => "cross-device link",
        libc::ENODEV => "device does not support operation",
        libc::ENOTDIR => "not a directory",
        libc::EISDIR => "is a directory",
        libc::EINVAL => "invalid argument",
        libc::ENFILE => "system cannot open more files",
        libc::EMFILE => "process cannot open more files",
        libc::ENOTTY => "not a tty",
        libc::ETXTBSY => "text busy",
        libc::EFBIG => "file too big",
        libc::ENOSPC => "out of disk space",
        libc::ESPIPE => "unseekable descriptor",
        libc::EROFS => "read-only file system",
        libc::EMLINK => "too many links",
        libc::EPIPE => "broken pipe",
        libc::EDOM => "input out of range",
        libc::ERANGE => "output out of range",
        libc::EDEADLK => "operation would cause deadlock",
        libc::ENAMETOOLONG => "file name too long",
        libc::ENOLCK => "no locks available",
        libc::ENOSYS => "system call not available",
        libc::ENOTEMPTY => "directory not empty",
        libc::ELOOP => "symbolic link loop",
        libc::ENOMSG => "no message of desired type",
        libc::EIDRM => "identifier removed",
        libc::ENOSTR => "not a stream device",
        libc::ETIME => "timer expired",
        libc::ENOSR => "out of stream resources",
        libc::ENONET => "machine not on network",
        libc::EREMOTE => "too many levels of remote in path",
        libc::ENOLINK => "link severed",
        libc::EADV => "advertise error",
        libc::ESRMNT => "srmount error",
        libc::ECOMM => "communication error",
        libc::EPROTO => "protocol error",
        libc::EMULTIHOP => "multihop attempted",
        libc::EBADMSG => "bad message type",
        libc::EREMCHG => "remote address changed",
        libc::EUSERS => "too many users",
        libc::ENOTSOCK => "not a socket",
        libc::EDESTADDRREQ => "destination address required",
        libc::EMSGSIZE => "message too long",
        libc::EPROTOTYPE => "incorrect protocol type",
        libc::ENOPROTOOPT => "protocol not available",
        libc::EPROTONOSUPPORT => "protocol not supported",
        libc::ESOCKTNOSUPPORT => "socket type not supported",
        libc::EOPNOTSUPP => "operation not supported",
        libc::EPFNOSUPPORT => "protocol family not supported",
        libc::EAFNOSUPPORT => "address family not supported",
        libc::EADDRINUSE => "address already used",
        libc::EADDRNOTAVAIL => "address not available",
        libc::ENETDOWN => "network down",
        libc::ENETUNREACH => "network unreachable",
        libc::ENETRESET => "network reset",
        libc::ECONNABORTED => "connection aborted",
        libc::ECONNRESET => "connection reset",
        libc::ENOBUFS => "out of buffer space",
        libc::EISCONN => "already connected",
        libc::ENOTCONN => "not connected",
        libc::ESHUTDOWN => "socket shut down",
        libc::ETOOMANYREFS => "too many references",
        libc::ETIMEDOUT => "timed out",
        libc::ECONNREFUSED => "connection refused",
        libc::EHOSTDOWN => "host down",
        libc::EHOSTUNREACH => "host unreachable",
        libc::EALREADY => "operation already in progress",
        libc::EINPROGRESS => "operation in progress",
        libc::ESTALE => "stale NFS file handle",
        libc::EDQUOT => "disk quota exceeded",
        _ => "unknown error",
    }
}

/// A message line under construction. Built in memory and written with one
/// write(2), so lines from several processes sharing a pipe never interleave
/// (up to PIPE_BUF bytes).
pub struct Line(Vec<u8>);

impl Line {
    /// Starts `PROG: KIND: ` (KIND is `fatal`, `warning`, `usage`, ...).
    pub fn new(prog: &str, kind: &str) -> Line {
        let mut v = Vec::with_capacity(128);
        v.extend_from_slice(prog.as_bytes());
        v.extend_from_slice(b": ");
        if !kind.is_empty() {
            v.extend_from_slice(kind.as_bytes());
            v.extend_from_slice(b": ");
        }
        Line(v)
    }
    /// A line with no prefix at all.
    pub fn bare() -> Line {
        Line(Vec::with_capacity(128))
    }
    pub fn b(mut self, part: &[u8]) -> Line {
        self.0.extend_from_slice(part);
        self
    }
    pub fn s(self, part: &str) -> Line {
        self.b(part.as_bytes())
    }
    /// Appends `: ` and the daemontools text for `e`.
    pub fn err(self, e: Errno) -> Line {
        self.s(": ").s(errstr(e))
    }
    /// Appends the newline and writes the line to stderr.
    pub fn emit(mut self) {
        self.0.push(b'\n');
        let _ = write_all(crate::sys::StdFd::ERR, &self.0);
    }
    /// Emits and exits with `code`.
    pub fn exit(self, code: i32) -> ! {
        self.emit();
        std::process::exit(code)
    }
    /// Emits and leaves a forked child with `code` (no atexit handlers).
    pub fn exit_child(self, code: i32) -> ! {
        self.emit();
        crate::sys::exit_now(code)
    }
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

/// `PROG: fatal: PARTS: ERR` and exit 111.
pub fn fatal(prog: &str, parts: &[&[u8]], e: Errno) -> ! {
    let mut l = Line::new(prog, "fatal");
    for p in parts {
        l = l.b(p);
    }
    l.err(e).exit(EXIT_TEMP)
}

/// `PROG: warning: PARTS: ERR` (or without `: ERR`), then carry on.
pub fn warn(prog: &str, parts: &[&[u8]], e: Option<Errno>) {
    let mut l = Line::new(prog, "warning");
    for p in parts {
        l = l.b(p);
    }
    if let Some(e) = e {
        l = l.err(e);
    }
    l.emit()
}

/// `PROG: usage: TEXT` and exit 100.
pub fn usage(prog: &str, text: &str) -> ! {
    Line::new(prog, "usage").s(text).exit(EXIT_USAGE)
}

/// Writes all of `buf`, retrying on EINTR and after partial writes.
pub fn write_all<F: AsFd>(fd: F, mut buf: &[u8]) -> Result<(), Errno> {
    let fd = fd.as_fd();
    while !buf.is_empty() {
        match nix::unistd::write(fd, buf) {
            Ok(0) => return Err(Errno::EIO),
            Ok(n) => buf = &buf[n..],
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The basename of argv[0], used only by the option parser's messages.
pub fn basename(arg0: &[u8]) -> &[u8] {
    match memchr::memrchr(b'/', arg0) {
        Some(i) => &arg0[i + 1..],
        None => arg0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_texts_match_daemontools() {
        assert_eq!(errstr(Errno::ENOENT), "file does not exist");
        assert_eq!(errstr(Errno::EPERM), "permission denied");
        assert_eq!(errstr(Errno::EACCES), "access denied");
        assert_eq!(errstr(Errno::EAGAIN), "temporary failure");
        assert_eq!(errstr(Errno::ELOOP), "symbolic link loop");
        assert_eq!(errstr(Errno::EOVERFLOW), "unknown error");
        assert_eq!(errstr(Errno::ENOMEDIUM), "unknown error");
        assert_eq!(errstr(Errno::ECANCELED), "unknown error");
        assert_eq!(errstr(Errno::ESTALE), "stale NFS file handle");
    }

    #[test]
    fn line_building() {
        let l = Line::new("svc", "warning")
            .s("unable to chdir to ")
            .b(b"x\xff")
            .err(Errno::ENOENT);
        assert_eq!(
            l.into_bytes(),
            b"svc: warning: unable to chdir to x\xff: file does not exist".to_vec()
        );
        assert_eq!(basename(b"/usr/bin/mysvc"), b"mysvc");
        assert_eq!(basename(b"svc"), b"svc");
        assert_eq!(basename(b"dir/"), b"");
    }
}
