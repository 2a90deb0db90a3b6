//! Account lookup for setuidgid and envuidgid: `getpwnam` as the C tools
//! call it, made safe for a statically linked binary.
//!
//! 1. In-process lookup restricted to glibc's built-in `files` source
//!    (/etc/passwd), see `sys::getpwnam_files`. A static glibc must not
//!    dlopen the NSS modules of /etc/nsswitch.conf (libnss_systemd, ...):
//!    that crashes for unknown names.
//! 2. When `files` has no entry (or fails), the full system NSS is asked by
//!    running `getent passwd -- NAME` (/usr/bin/getent, else /bin/getent),
//!    a dynamically linked program that may load any module. Only a line
//!    whose first field is exactly NAME counts: getent looks all-digit keys
//!    up as uids, which getpwnam never does.
//!
//! No entry anywhere (or no getent) means "unknown account", as does any
//! lookup failure, exactly like the C tools' `if (!pw)`.

use std::os::fd::AsRawFd;

use nix::sys::wait::waitpid;
use nix::unistd::ForkResult;

use crate::exec::cstring;
use crate::fsio;
use crate::msg::{EXIT_TEMP, Line};
use crate::sys::{self, PwIds};

/// Where getent is looked for, in order.
const GETENT: [&[u8]; 2] = [b"/usr/bin/getent", b"/bin/getent"];

/// Looks `name` up as getpwnam(3) would; None: unknown account.
pub fn lookup(name: &[u8]) -> Option<PwIds> {
    if memchr::memchr(0, name).is_some() {
        return None;
    }
    if let Ok(Some(ids)) = sys::getpwnam_files(&cstring(name)) {
        return Some(ids);
    }
    parse_getent(&getent(name)?, name)
}

/// `lookup`, or `PROG: fatal: unknown account NAME` and exit 111.
pub fn lookup_or_die(prog: &str, name: &[u8]) -> PwIds {
    lookup(name).unwrap_or_else(|| {
        Line::new(prog, "fatal")
            .s("unknown account ")
            .b(name)
            .exit(EXIT_TEMP)
    })
}

/// Runs `getent passwd -- NAME` and returns what it printed on stdout
/// (None if it could not be run at all).
fn getent(name: &[u8]) -> Option<Vec<u8>> {
    let argv = [
        cstring(b"getent"),
        cstring(b"passwd"),
        cstring(b"--"),
        cstring(name),
    ];
    let envp: Vec<_> = sys::environ().iter().map(|e| cstring(e)).collect();
    let paths = GETENT.map(cstring);
    let (rd, wr) = fsio::pipe_coe(false).ok()?;
    match sys::fork().ok()? {
        ForkResult::Child => {
            // dup2 onto itself (fd 1 was closed, so the pipe got it)
            // would keep close-on-exec: clear it explicitly.
            if sys::dup2(wr.as_raw_fd(), 1).is_ok() && fsio::no_coe(sys::StdFd::OUT).is_ok() {
                for path in &paths {
                    let _ = nix::unistd::execve(path, &argv, &envp);
                }
            }
            sys::exit_now(127)
        }
        ForkResult::Parent { child } => {
            drop(wr);
            let mut out = Vec::new();
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = fsio::read(&rd, &mut chunk) {
                out.extend_from_slice(&chunk[..n]);
            }
            while let Err(nix::errno::Errno::EINTR) = waitpid(child, None) {}
            Some(out)
        }
    }
}

/// The ids from the line of `getent passwd` output whose name field is
/// exactly `name` (`name:pw:uid:gid:gecos:dir:shell`).
pub fn parse_getent(out: &[u8], name: &[u8]) -> Option<PwIds> {
    out.split(|&c| c == b'\n').find_map(|line| {
        let mut f = line.split(|&c| c == b':');
        if f.next()? != name {
            return None;
        }
        let _pw = f.next()?;
        let uid = decimal(f.next()?)?;
        let gid = decimal(f.next()?)?;
        Some(PwIds { uid, gid })
    })
}

fn decimal(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getent_lines() {
        let out = b"daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n";
        assert_eq!(parse_getent(out, b"daemon"), Some(PwIds { uid: 1, gid: 1 }));
        // getent looks up digits as a uid: the name must match exactly.
        assert_eq!(parse_getent(out, b"1"), None);
        assert_eq!(parse_getent(out, b"daemo"), None);
        assert_eq!(parse_getent(b"", b"daemon"), None);
        let two = b"a:x:5:6::/:/bin/sh\nbob:*:4294967295:0:::\n";
        assert_eq!(
            parse_getent(two, b"bob"),
            Some(PwIds {
                uid: u32::MAX,
                gid: 0
            })
        );
        assert_eq!(parse_getent(b"bob:x:4294967296:0:::\n", b"bob"), None);
        assert_eq!(parse_getent(b"bob:x:-1:0\n", b"bob"), None);
        assert_eq!(parse_getent(b"bob:x:1\n", b"bob"), None);
        assert_eq!(parse_getent(b"bob:x::1:\n", b"bob"), None);
    }

    #[test]
    fn getent_fallback_runs_getent() {
        if !GETENT
            .iter()
            .any(|p| std::path::Path::new(std::str::from_utf8(p).unwrap()).exists())
        {
            return eprintln!("SKIP: no getent");
        }
        // root is in every passwd database; the fallback's plumbing (fork,
        // pipe, exec, parse) must find it like getpwnam does.
        let out = getent(b"root").expect("getent ran");
        assert_eq!(parse_getent(&out, b"root"), Some(PwIds { uid: 0, gid: 0 }));
        // Options are not taken from the name.
        assert_eq!(getent(b"--help").as_deref(), Some(&b""[..]));
    }

    #[test]
    fn files_source_and_fallback() {
        // root is in /etc/passwd on every system this builds on.
        assert_eq!(lookup(b"root"), Some(PwIds { uid: 0, gid: 0 }));
        assert_eq!(lookup(b"no-such-account-dtrs"), None);
        assert_eq!(lookup(b""), None);
        assert_eq!(lookup(b"0"), None);
        assert_eq!(lookup(b"-x"), None);
        assert_eq!(lookup(b"a\0b"), None);
    }
}
