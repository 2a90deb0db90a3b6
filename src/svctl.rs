//! Client side of the supervise protocol for programs other than svc and
//! svstat (which keep 0.76's exact messages): send control bytes, read the
//! status record, test for a running supervise, and run a helper script
//! such as a service's `./start` check.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::ForkResult;

use crate::exec;
use crate::fsio;
use crate::msg::Line;
use crate::status::{self, Status};
use crate::sys;
use crate::tai64::Tai64n;

/// Why a request to supervise failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Nothing reads the control fifo.
    NotRunning,
    Sys(Errno),
}

impl Problem {
    pub fn text(&self) -> &'static str {
        match self {
            Problem::NotRunning => "supervise not running",
            Problem::Sys(e) => crate::msg::errstr(*e),
        }
    }
}

fn join(dir: &Path, rel: &str) -> PathBuf {
    dir.join(rel)
}

/// Writes `cmds` to DIR/supervise/control in one write.
pub fn send(dir: &Path, cmds: &[u8]) -> Result<(), Problem> {
    let path = join(dir, "supervise/control");
    let fd = fsio::open_write(path.as_os_str().as_encoded_bytes()).map_err(|e| match e {
        Errno::ENXIO => Problem::NotRunning,
        e => Problem::Sys(e),
    })?;
    fsio::ndelay_off(&fd).map_err(Problem::Sys)?;
    loop {
        match nix::unistd::write(&fd, cmds) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Problem::Sys(e)),
            Ok(_) => return Ok(()),
        }
    }
}

/// Whether a supervise runs on DIR (svok's test).
pub fn running(dir: &Path) -> bool {
    let path = join(dir, "supervise/ok");
    fsio::open_write(path.as_os_str().as_encoded_bytes()).is_ok()
}

/// Reads the first 18 bytes of DIR/supervise/status.
pub fn status(dir: &Path) -> Result<Status, Problem> {
    let path = join(dir, "supervise/status");
    let fd = fsio::open_read(path.as_os_str().as_encoded_bytes()).map_err(Problem::Sys)?;
    let mut rec = [0u8; status::LEN];
    match fsio::read(&fd, &mut rec) {
        Ok(n) if n == status::LEN => Ok(Status::decode(&rec)),
        Ok(_) => Err(Problem::Sys(Errno::EPROTO)),
        Err(e) => Err(Problem::Sys(e)),
    }
}

/// Whether process `pid` exists and has not exited: a service that died
/// during supervise's one-second pause after a start is still recorded in
/// the status file, but is a zombie until supervise reaps it.
pub fn process_alive(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    match std::fs::read(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let after = s
                .iter()
                .rposition(|&c| c == b')')
                .map_or(&s[..0], |i| &s[i + 1..]);
            let state = after.iter().find(|c| !c.is_ascii_whitespace()).copied();
            !matches!(state, Some(b'Z') | Some(b'X'))
        }
        // no /proc: fall back to kill(pid, 0)
        Err(_) => !matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None),
            Err(Errno::ESRCH)
        ),
    }
}

/// Time since the record's stamp, to the microsecond (zero if the stamp is
/// in the future).
pub fn age(st: &Status) -> std::time::Duration {
    let now = Tai64n::now();
    let (a, b) = (
        now.secs as u128 * 1_000_000_000 + now.nano as u128,
        st.stamp.secs as u128 * 1_000_000_000 + st.stamp.nano as u128,
    );
    std::time::Duration::from_nanos(a.saturating_sub(b).min(u64::MAX as u128) as u64)
}

/// Runs the script `name` (e.g. `./start`) with cwd `dir` and the unchanged
/// environment, and waits for it; `limit` ends it with SIGKILL when it runs
/// longer. Returns its exit code (128 + signal number after a signal). A
/// script that cannot be run reports `PROG: fatal: unable to run DIR/NAME:
/// ERR` from the child and counts as exit 111.
pub fn run_script(
    prog: &str,
    dir: &Path,
    name: &str,
    limit: Option<Duration>,
) -> Result<i32, Errno> {
    let argv: [&[u8]; 1] = [name.as_bytes()];
    let env = sys::environ();
    let cmd = exec::Command::new(name.as_bytes(), &argv, &env, &env);
    let dir_bytes = dir.as_os_str().as_encoded_bytes();
    let child = match sys::fork()? {
        ForkResult::Child => {
            let e = match nix::unistd::chdir(dir_bytes) {
                Err(e) => e,
                Ok(()) => cmd.exec(),
            };
            let what = name.trim_start_matches("./");
            Line::new(prog, "fatal")
                .s("unable to run ")
                .b(dir_bytes)
                .s("/")
                .s(what)
                .err(e)
                .exit_child(111)
        }
        ForkResult::Parent { child } => child,
    };
    let start = Instant::now();
    loop {
        let flags = limit.map(|_| WaitPidFlag::WNOHANG);
        match waitpid(child, flags) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
        if let Some(limit) = limit {
            if start.elapsed() >= limit {
                let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
                let _ = waitpid(child, None);
                return Ok(128 + Signal::SIGKILL as i32);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The service's `./shutdown` hook (of an orderly tree shutdown), if it is
/// an executable file.
pub fn shutdown_hook(dir: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let hook = dir.join("shutdown");
    let md = std::fs::metadata(&hook).ok()?;
    (md.is_file() && md.permissions().mode() & 0o111 != 0).then_some(hook)
}

/// Runs `hook` (from `shutdown_hook`) in `dir`, bounded by `limit`; a
/// failure or a non-zero exit becomes `PROG: warning: HOOK exited N` or
/// `PROG: warning: unable to run HOOK: ERR`.
pub fn run_shutdown_hook(prog: &str, dir: &Path, hook: &Path, limit: Duration) {
    use std::os::unix::ffi::OsStrExt;
    let name = hook.as_os_str().as_bytes();
    match run_script(prog, dir, "./shutdown", Some(limit)) {
        Ok(0) => {}
        Ok(code) => Line::new(prog, "warning")
            .b(name)
            .s(" exited ")
            .s(&code.to_string())
            .emit(),
        Err(e) => Line::new(prog, "warning")
            .s("unable to run ")
            .b(name)
            .err(e)
            .emit(),
    }
}
