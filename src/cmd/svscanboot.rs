//! `svscanboot [dir]`: what init runs at boot (daemontools 0.76's script,
//! as a program; `dir` defaults to `/service`):
//!
//! 1. PATH is set to `/command:/usr/local/bin:/usr/local/sbin:/bin:/sbin:
//!    /usr/bin:/usr/sbin:/usr/X11R6/bin`, with the directory svscanboot
//!    itself was run from put first when it is not one of those (so an
//!    installation under another prefix runs its own svscan, svc and
//!    readproctitle, never another daemontools found later in PATH);
//! 2. stdin, stdout and stderr go to /dev/null;
//! 3. `svc -dx DIR/* DIR/*/log` stops whatever supervise a previous
//!    svscanboot left running (the names expanded like the shell's `*`:
//!    no dot names, sorted, the pattern itself when nothing matches);
//! 4. `env - PATH=$PATH svscan DIR 2>&1 | env - PATH=$PATH readproctitle
//!    service errors: ....` (400 dots): svscan's output, and that of every
//!    service without a log, ends up in readproctitle's process title.
//!
//! svscanboot waits for both and exits with readproctitle's status.

use std::os::fd::{AsRawFd, IntoRawFd};
use std::os::unix::ffi::OsStrExt;

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid};

use crate::exec::Command;
use crate::fsio;
use crate::msg::{EXIT_TEMP, Line};
use crate::sys;

const PROG: &str = "svscanboot";
const PATH: &[u8] =
    b"/command:/usr/local/bin:/usr/local/sbin:/bin:/sbin:/usr/bin:/usr/sbin:/usr/X11R6/bin";

/// `PATH=...` for the children: 0.76's list, with `own` (the directory of
/// our executable) first when the list lacks it.
pub fn path_entry(own: Option<&[u8]>) -> Vec<u8> {
    let mut v = b"PATH=".to_vec();
    if let Some(own) = own.filter(|o| !o.is_empty() && !PATH.split(|&c| c == b':').any(|e| e == *o))
    {
        v.extend_from_slice(own);
        v.push(b':');
    }
    v.extend_from_slice(PATH);
    v
}

/// The directory holding the running executable.
fn own_dir() -> Option<Vec<u8>> {
    let exe = std::fs::read_link("/proc/self/exe").ok()?;
    Some(exe.parent()?.as_os_str().as_bytes().to_vec())
}

pub fn main(args: &[&[u8]]) -> i32 {
    let dir: &[u8] = args.get(1).copied().unwrap_or(b"/service");
    if let Ok(null) = nix::fcntl::open("/dev/null", OFlag::O_RDWR, Mode::empty()) {
        for fd in 0..3 {
            let _ = sys::dup2(null.as_raw_fd(), fd);
        }
        if null.as_raw_fd() < 3 {
            let _ = null.into_raw_fd(); // it is one of fds 0-2: keep it open
        }
    }
    let path = path_entry(own_dir().as_deref());
    let env: [&[u8]; 1] = [&path];

    // 3. leftovers from an earlier boot
    let mut argv: Vec<Vec<u8>> = vec![b"svc".to_vec(), b"-dx".to_vec()];
    argv.extend(glob(dir, b""));
    argv.extend(glob(dir, b"/log"));
    let argv_ref: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
    if let Some(pid) = spawn(&Command::new(b"svc", &argv_ref, &env, &env), None) {
        wait(pid);
    }

    // 4. svscan 2>&1 | readproctitle
    let dots = [b'.'; 400];
    let (r, w) = match fsio::pipe_coe(false) {
        Ok(p) => p,
        Err(e) => Line::new(PROG, "fatal")
            .s("unable to create pipe")
            .err(e)
            .exit(EXIT_TEMP),
    };
    let scan = Command::new(b"svscan", &[b"svscan", dir], &env, &env);
    let rpt = Command::new(
        b"readproctitle",
        &[b"readproctitle", b"service", b"errors:", &dots],
        &env,
        &env,
    );
    let scanner = spawn(&scan, Some(&[(w.as_raw_fd(), 1), (w.as_raw_fd(), 2)]));
    let reader = spawn(&rpt, Some(&[(r.as_raw_fd(), 0)]));
    drop((r, w));
    if let Some(pid) = scanner {
        wait(pid);
    }
    match reader.map(wait) {
        Some(WaitStatus::Exited(_, code)) => code,
        Some(WaitStatus::Signaled(_, sig, _)) => 128 + sig as i32,
        _ => EXIT_TEMP,
    }
}

/// The shell's expansion of `DIR/*TAIL`: every non-dot entry of DIR for
/// which DIR/NAME/TAIL exists, sorted bytewise; the pattern itself when
/// there is none.
fn glob(dir: &[u8], tail: &[u8]) -> Vec<Vec<u8>> {
    let path = |name: &[u8]| {
        let mut p = dir.to_vec();
        if !p.ends_with(b"/") {
            p.push(b'/');
        }
        p.extend_from_slice(name);
        p.extend_from_slice(tail);
        p
    };
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(std::ffi::OsStr::from_bytes(dir))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().as_bytes().to_vec())
                .filter(|n| !n.starts_with(b"."))
                .map(|n| path(&n))
                .filter(|p| {
                    tail.is_empty()
                        || std::fs::symlink_metadata(std::ffi::OsStr::from_bytes(p)).is_ok()
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    if out.is_empty() {
        out.push(path(b"*"));
    }
    out
}

/// Forks and execs `cmd` with the descriptors `fds` (from, to) copied.
fn spawn(cmd: &Command, fds: Option<&[(i32, i32)]>) -> Option<Pid> {
    match sys::fork() {
        Err(_) => None,
        Ok(ForkResult::Parent { child }) => Some(child),
        Ok(ForkResult::Child) => {
            for &(from, to) in fds.unwrap_or(&[]) {
                if sys::dup2(from, to).is_err() {
                    sys::exit_now(EXIT_TEMP);
                }
            }
            cmd.exec();
            sys::exit_now(EXIT_TEMP)
        }
    }
}

fn wait(pid: Pid) -> WaitStatus {
    loop {
        match waitpid(pid, None) {
            Err(nix::errno::Errno::EINTR) => continue,
            Ok(st @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => return st,
            Ok(_) => continue,
            Err(_) => return WaitStatus::StillAlive,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_gets_own_dir_first_only_when_missing() {
        let std_path = "PATH=/command:/usr/local/bin:/usr/local/sbin:/bin:/sbin:/usr/bin:/usr/sbin:/usr/X11R6/bin";
        assert_eq!(path_entry(None), std_path.as_bytes());
        assert_eq!(path_entry(Some(b"/usr/local/bin")), std_path.as_bytes());
        assert_eq!(path_entry(Some(b"/command")), std_path.as_bytes());
        assert_eq!(
            path_entry(Some(b"/opt/dt/bin")),
            format!("PATH=/opt/dt/bin:{}", &std_path[5..]).as_bytes()
        );
    }
}
