//! Shared helpers for the integration tests: our binaries by path, the
//! reference binaries when installed, temp dirs, polling with a deadline,
//! and child processes that are always ended by PID.
pub mod logs;
pub mod scan;
pub mod svdir;
pub mod tools;

use std::ffi::OsStr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Path of one of our programs, as built for this test run.
pub fn bin(name: &str) -> PathBuf {
    // CARGO_BIN_EXE_<name> is set for integration tests at compile time;
    // all binaries sit in the same directory.
    let any = PathBuf::from(env!("CARGO_BIN_EXE_svc"));
    any.parent().unwrap().join(name)
}

/// The directory holding our programs (to put first in PATH).
pub fn bin_dir() -> PathBuf {
    bin("svc").parent().unwrap().to_path_buf()
}

/// PATH with our programs first.
pub fn our_path() -> String {
    format!("{}:/usr/local/bin:/usr/bin:/bin", bin_dir().display())
}

/// Debian's reference binary (`/usr/bin/NAME`) if the daemontools
/// package is installed (or `$DAEMONTOOLS_REFERENCE/NAME` when that is
/// set). Every comparison with the reference gets it here. When it is
/// missing, the comparison is left out with a SKIP message; under CI
/// (`CI=true`, as `.ci/run` sets) the test fails instead, so that a green
/// run always includes the side-by-side half of the suite.
pub fn reference(name: &str) -> Option<PathBuf> {
    let found = match std::env::var_os("DAEMONTOOLS_REFERENCE") {
        Some(dir) => Some(PathBuf::from(dir).join(name)).filter(|p| p.exists()),
        // Make sure it is daemontools' program, not a same-named other one.
        None => Some(PathBuf::from("/usr/bin").join(name))
            .filter(|p| p.exists() && Path::new("/usr/share/doc/daemontools").exists()),
    };
    if found.is_some() {
        return found;
    }
    if in_ci() {
        panic!(
            "CI=true: the reference {name} of Debian's daemontools is missing; \
             install the daemontools package (.ci/run does)"
        );
    }
    skip(&format!(
        "reference {name} not installed; comparison left out"
    ));
    None
}

/// Whether the tests run under CI (`CI` set to `true` or `1`).
pub fn in_ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true" | "1"))
}

/// Prints why a test is skipped (visible with --nocapture).
pub fn skip(why: &str) {
    eprintln!("SKIP: {why}");
}

/// A tool or peer the test needs is missing: under `CI=true` (where
/// .ci/run installs everything) that fails the test, elsewhere it skips
/// with a message. Use as `return support::missing("...")`.
pub fn missing(what: &str) {
    if std::env::var_os("CI").is_some_and(|v| v == "true") {
        panic!("CI=true and {what}");
    }
    skip(what);
}

/// Whether `tool` is found in PATH.
pub fn have(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(d.join(tool))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// The programs this crate builds: the `[[bin]]` names of Cargo.toml.
pub fn programs() -> Vec<String> {
    let toml =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let mut in_bin = false;
    let mut v = Vec::new();
    for line in toml.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin
            && let Some(name) = line
                .strip_prefix("name")
                .map(str::trim_start)
                .and_then(|r| r.strip_prefix('='))
        {
            v.push(name.trim().trim_matches('"').to_string());
        }
    }
    assert!(!v.is_empty(), "no [[bin]] in Cargo.toml");
    v
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("dtrs").tempdir().unwrap()
}

/// Polls `cond` until it holds or `limit` passes; returns whether it held.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Generous deadline for things that take a second or two on an idle
/// machine (robust on a loaded 2-core box).
pub const LONG: Duration = Duration::from_secs(20);

/// A child process that is killed (SIGKILL, by PID) and reaped on drop,
/// so no test leaves a process behind, even when it fails.
pub struct Proc {
    pub child: Child,
}

impl Proc {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `sig` to the process.
    pub fn signal(&self, sig: i32) {
        send_signal(self.pid(), sig);
    }

    /// Waits up to `limit` for the process to exit; returns its status.
    pub fn wait_timeout(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            send_signal(self.pid(), 9);
            let _ = self.child.wait();
        }
    }
}

/// kill(2) by PID (`-PGID`: a process group the test started). 0 (no
/// process, e.g. an empty status record) and -1 are ignored: kill(2) would
/// signal the test's own process group or every process.
pub fn send_signal(pid: i32, sig: i32) {
    if pid == 0 || pid == -1 {
        return;
    }
    let sig = nix::sys::signal::Signal::try_from(sig).ok();
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
}

/// Starts `prog args` in `cwd` with stdio as given; stdin is /dev/null
/// unless set by `f`. The process is put in its own process group so that
/// a test can end it and everything it started.
pub fn spawn(
    prog: impl AsRef<OsStr>,
    args: &[&str],
    cwd: &Path,
    f: impl FnOnce(&mut Command),
) -> Proc {
    let mut c = Command::new(prog);
    c.args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .env("PATH", our_path());
    c.process_group(0);
    f(&mut c);
    Proc {
        child: c.spawn().expect("spawn"),
    }
}

/// Runs a program to completion with PATH set to ours first.
pub fn run(prog: impl AsRef<OsStr>, args: &[&str], cwd: &Path) -> Output {
    Command::new(prog)
        .args(args)
        .current_dir(cwd)
        .env("PATH", our_path())
        .stdin(Stdio::null())
        .output()
        .expect("run")
}

/// Writes an executable script. A child writes it: a descriptor open for
/// writing on it in this process would be copied into every program that
/// another test thread starts meanwhile, and until that one has exec'd, an
/// exec of the script fails with ETXTBSY (supervise would then count a
/// failed start and try again a second later).
pub fn script(path: &Path, body: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    let mut c = Command::new("/bin/sh")
        .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
        .arg(path)
        .stdin(Stdio::piped())
        .spawn()
        .expect("sh");
    std::io::Write::write_all(&mut c.stdin.take().expect("piped"), body.as_bytes()).unwrap();
    assert!(c.wait().unwrap().success(), "writing {}", path.display());
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X"))
        }
        Err(_) => false,
    }
}

/// The system call `pid` is blocked in and its six arguments, from
/// /proc/PID/syscall (None: running, not in a system call, or gone).
pub fn syscall(pid: i32) -> Option<(i64, [u64; 6])> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/syscall")).ok()?;
    let mut f = s.split_whitespace();
    let nr: i64 = f.next()?.parse().ok()?;
    let mut args = [0u64; 6];
    for a in &mut args {
        *a = u64::from_str_radix(f.next()?.trim_start_matches("0x"), 16).ok()?;
    }
    (nr >= 0).then_some((nr, args))
}

/// How long `pid` asked to sleep, if it is blocked in nanosleep(2) or
/// clock_nanosleep(2) (read from its memory: the test started it).
pub fn sleep_request(pid: i32) -> Option<Duration> {
    use std::os::unix::fs::FileExt;
    let (nr, args) = syscall(pid)?;
    let req = match nr {
        libc::SYS_nanosleep => args[0],
        libc::SYS_clock_nanosleep => args[2],
        _ => return None,
    };
    let mut ts = [0u8; 16];
    std::fs::File::open(format!("/proc/{pid}/mem"))
        .ok()?
        .read_exact_at(&mut ts, req)
        .ok()?;
    let secs = u64::from_ne_bytes(ts[..8].try_into().unwrap());
    let nanos = u64::from_ne_bytes(ts[8..].try_into().unwrap());
    Some(Duration::from_secs(secs) + Duration::from_nanos(nanos))
}

/// The fields after `(comm)` of /proc/PID/stat: state, ppid, pgrp, ...
pub fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(
        s.rsplit(')')
            .next()?
            .split_whitespace()
            .map(str::to_string)
            .collect(),
    )
}

/// Live (not zombie) processes whose stat field `idx` (1 = ppid, 2 = pgrp)
/// is `want`: `procs_with(2, pgid)` is a process group, `procs_with(1,
/// pid)` the children of pid.
pub fn procs_with(idx: usize, want: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            stat_fields(pid).is_some_and(|f| {
                f.first().is_some_and(|s| s != "Z" && s != "X")
                    && f.get(idx).and_then(|g| g.parse::<i32>().ok()) == Some(want)
            })
        })
        .collect()
}

/// Kills every process whose pid is in `pids` (by PID, SIGKILL).
pub fn kill_all(pids: &[i32]) {
    for &p in pids {
        if p > 0 {
            send_signal(p, 9);
        }
    }
}
