//! svscan under systemd (`Type=notify`): one `READY=1` datagram to
//! `$NOTIFY_SOCKET` once the first scan has every service supervised
//! (systemd's sd_notify protocol: a datagram of `KEY=VALUE` lines to a
//! Unix socket; a name starting with `@` is in the abstract namespace).

use std::os::unix::ffi::OsStrExt;

use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr};

/// Sends `msg` to the socket named by `NOTIFY_SOCKET` (`path` or
/// `@abstract`); errors are ignored, as sd_notify(3) callers do.
pub fn send(target: &[u8], msg: &[u8]) -> bool {
    let addr = match target.split_first() {
        Some((b'@', name)) => UnixAddr::new_abstract(name),
        Some((b'/', _)) => UnixAddr::new(std::ffi::OsStr::from_bytes(target)),
        _ => return false,
    };
    let Ok(addr) = addr else {
        return false;
    };
    let Ok(fd) = socket::socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    ) else {
        return false;
    };
    socket::sendto(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        msg,
        &addr,
        MsgFlags::MSG_NOSIGNAL,
    )
    .is_ok()
}
