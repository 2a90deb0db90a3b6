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

/// The default state directory, inside the service directory (0.76).
pub const STATE_DIR: &str = "supervise";

/// The directory holding a service's supervise state (lock, control and
/// ok fifos, status files), as seen from the service directory itself,
/// which must be the working directory: `supervise` (0.76), or what
/// `SUPERVISEDIR` says (daemontools-encore's convention): a relative value
/// is taken inside the service directory; an absolute one is followed by
/// the service directory's physical path (getcwd) with every `/` after the
/// first turned into `:` (`/run/sv` and `/etc/sv/foo` give
/// `/run/sv/etc:sv:foo`), so that a read-only tree keeps its state
/// elsewhere.
pub fn state_dir_here() -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let Some(v) = std::env::var_os("SUPERVISEDIR").filter(|v| !v.is_empty()) else {
        return STATE_DIR.as_bytes().to_vec();
    };
    let v = v.as_bytes();
    if v[0] != b'/' {
        return v.to_vec();
    }
    match nix::unistd::getcwd() {
        Ok(cwd) => mangle(v, cwd.as_os_str().as_bytes()),
        // the state cannot be found: a path that cannot exist says so
        Err(_) => STATE_DIR.as_bytes().to_vec(),
    }
}

/// The path of state file `name` (`control`, `ok`, `status`, ...) from
/// inside the service directory: `supervise/NAME` unless `SUPERVISEDIR`
/// says otherwise.
pub fn state_file_here(name: &str) -> Vec<u8> {
    let mut p = state_dir_here();
    p.push(b'/');
    p.extend_from_slice(name.as_bytes());
    p
}

/// `SUPERVISEDIR` (absolute) joined with a physical service path.
fn mangle(base: &[u8], physical: &[u8]) -> Vec<u8> {
    let mut out = base.to_vec();
    out.push(b'/');
    let rest = physical.strip_prefix(b"/").unwrap_or(physical);
    out.extend(rest.iter().map(|&c| if c == b'/' { b':' } else { c }));
    out
}

/// The state directory of the service in `dir` (see `state_dir_here`),
/// for a program that does not change into it.
pub fn state_path(dir: &Path) -> PathBuf {
    StateDirs::from_env().path(dir)
}

/// `state_path` for many directories: `SUPERVISEDIR` read once.
#[derive(Debug, Clone)]
pub struct StateDirs {
    supervisedir: Option<std::ffi::OsString>,
}

impl StateDirs {
    pub fn from_env() -> StateDirs {
        StateDirs {
            supervisedir: std::env::var_os("SUPERVISEDIR").filter(|v| !v.is_empty()),
        }
    }

    /// The state directory of the service in `dir`.
    pub fn path(&self, dir: &Path) -> PathBuf {
        use std::os::unix::ffi::{OsStrExt, OsStringExt};
        let mut out = Vec::new();
        self.put(dir.as_os_str().as_bytes(), &mut out);
        PathBuf::from(std::ffi::OsString::from_vec(out))
    }

    /// Whether every state directory is `supervise` under its service
    /// directory (no `SUPERVISEDIR`).
    pub fn is_default(&self) -> bool {
        self.supervisedir.is_none()
    }

    /// `path` as bytes, into `out` (replacing its content): no allocation
    /// once `out` is large enough, unless `SUPERVISEDIR` is absolute.
    pub fn put(&self, dir: &[u8], out: &mut Vec<u8>) {
        use std::os::unix::ffi::OsStrExt;
        out.clear();
        let rel = match &self.supervisedir {
            None => STATE_DIR.as_bytes(),
            Some(v) if !v.as_bytes().starts_with(b"/") => v.as_bytes(),
            Some(v) => {
                let dir_path = Path::new(std::ffi::OsStr::from_bytes(dir));
                if let Ok(phys) = std::fs::canonicalize(dir_path) {
                    out.extend_from_slice(&mangle(v.as_bytes(), phys.as_os_str().as_bytes()));
                    return;
                }
                STATE_DIR.as_bytes()
            }
        };
        out.extend_from_slice(dir);
        if !dir.is_empty() && !dir.ends_with(b"/") {
            out.push(b'/');
        }
        out.extend_from_slice(rel);
    }
}

/// DIR's state directory joined with `rel` (`supervise/control` -> the
/// `control` fifo wherever the state lives).
fn join(dir: &Path, rel: &str) -> PathBuf {
    let name = rel.strip_prefix("supervise/").unwrap_or(rel);
    state_path(dir).join(name)
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
    status_file(&join(dir, "supervise/status"))
}

/// Reads the first 18 bytes of a status file; EPROTO when it is shorter.
pub fn status_file(path: &Path) -> Result<Status, Problem> {
    let fd = fsio::open_read(path.as_os_str().as_encoded_bytes()).map_err(Problem::Sys)?;
    read_status(&fd).map_err(Problem::Sys)
}

/// The 18-byte record from an open status file (EPROTO when shorter).
pub fn read_status(fd: impl std::os::fd::AsFd) -> Result<Status, Errno> {
    let mut rec = [0u8; status::LEN];
    match fsio::read(fd, &mut rec) {
        Ok(n) if n == status::LEN => Ok(Status::decode(&rec)),
        Ok(_) => Err(Errno::EPROTO),
        Err(e) => Err(e),
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

/// Time the tree stop gives what is left after its escalation step.
pub const KILL_GRACE: Duration = Duration::from_secs(5);

/// What the lossless tree stop needs from its caller (svshutdown, which
/// watches the tree from outside, and svscan's shutdown mode, which owns
/// the supervise processes and the log pipes).
pub trait StopTree {
    /// The services (`logs` false) or loggers (`logs` true) whose
    /// supervise still runs.
    fn left(&mut self, logs: bool) -> Vec<PathBuf>;
    /// Waits, doing the caller's housekeeping, until `left(logs)` is empty
    /// or `limit` has passed; true if it became empty.
    fn wait_empty(&mut self, logs: bool, limit: Duration) -> bool;
    /// A progress message (`PROG: info: ...`); none by default.
    fn info(&self, _parts: &[&[u8]]) {}
}

/// The lossless stop of a whole tree:
/// 1. every logger gets `svc -ox` (not restarted; its supervise exits once
///    the logger has read its input to the end and exited);
/// 2. every service runs its `./shutdown` hook, if executable, and gets
///    `svc -dx`;
/// 3. once `timeout` has passed, services still up get `svc -k`;
/// 4. loggers drain their pipes and exit; those still running after
///    `timeout` (their input held open by a stray process) get `svc -dx`.
///
/// True when every supervise of the tree is gone.
pub fn stop_tree(t: &mut impl StopTree, prog: &str, timeout: Duration) -> bool {
    use std::os::unix::ffi::OsStrExt;
    for log in t.left(true) {
        let _ = send(&log, b"ox");
    }
    for dir in t.left(false) {
        if let Some(hook) = shutdown_hook(&dir) {
            t.info(&[b"running ", hook.as_os_str().as_bytes()]);
            run_shutdown_hook(prog, &dir, &hook, timeout);
        }
        if let Err(p) = send(&dir, b"dx") {
            Line::new(prog, "warning")
                .s("unable to control ")
                .b(dir.as_os_str().as_bytes())
                .s(": ")
                .s(p.text())
                .emit();
        }
    }
    let services = escalate(t, prog, false, timeout, b"k", ("killing ", ""));
    let loggers = escalate(
        t,
        prog,
        true,
        timeout,
        b"dx",
        ("input of ", " still open; stopping it"),
    );
    services && loggers
}

/// Waits for one half of the tree; after `timeout` sends `cmds` to what is
/// left (announced as `pre DIR post`) and waits `KILL_GRACE` more.
fn escalate(
    t: &mut impl StopTree,
    prog: &str,
    logs: bool,
    timeout: Duration,
    cmds: &[u8],
    (pre, post): (&str, &str),
) -> bool {
    use std::os::unix::ffi::OsStrExt;
    if t.wait_empty(logs, timeout) {
        return true;
    }
    for dir in t.left(logs) {
        let name = dir.as_os_str().as_bytes();
        t.info(&[pre.as_bytes(), name, post.as_bytes()]);
        let _ = send(&dir, cmds);
    }
    if t.wait_empty(logs, KILL_GRACE) {
        return true;
    }
    for dir in t.left(logs) {
        Line::new(prog, "warning")
            .b(dir.as_os_str().as_bytes())
            .s(" is still supervised")
            .emit();
    }
    false
}

#[cfg(test)]
mod state_dir_tests {
    use super::*;

    #[test]
    fn supervisedir_mangles_like_encore() {
        assert_eq!(mangle(b"/run/sv", b"/etc/sv/foo"), b"/run/sv/etc:sv:foo");
        assert_eq!(mangle(b"/run/sv", b"/"), b"/run/sv/");
        assert_eq!(mangle(b"/r/", b"/a/b"), b"/r//a:b");
    }

    #[test]
    fn state_dirs_put_joins_like_path_join() {
        let at = |v: Option<&str>, dir: &str| {
            let d = StateDirs {
                supervisedir: v.map(Into::into),
            };
            let mut out = b"junk".to_vec();
            d.put(dir.as_bytes(), &mut out);
            assert_eq!(d.path(Path::new(dir)).as_os_str().as_encoded_bytes(), out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(at(None, "/service/web"), "/service/web/supervise");
        assert_eq!(at(None, "web/"), "web/supervise");
        assert_eq!(at(None, ""), "supervise");
        assert_eq!(at(Some("state"), "web"), "web/state");
        assert_eq!(at(Some("/run/sv"), "/"), "/run/sv/");
    }
}
