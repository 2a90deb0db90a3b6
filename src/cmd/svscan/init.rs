//! svscan as the init of a container: how svscan tells a container's PID 1
//! from the machine's, the one-shot `.svscan/start` and `.svscan/finish`
//! steps, and ending every process of the tree after the lossless stop.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

use crate::exec;
use crate::msg::Line;
use crate::record::{self, Ending, Record, State};
use crate::svctl;
use crate::tai64::Tai64n;

use super::PROG;

/// The inode of the machine's first PID namespace (`PROC_PID_INIT_INO` in
/// the kernel): `/proc/self/ns/pid` of every process in it reads
/// `pid:[4026531836]`.
const INIT_PID_NS: &[u8] = b"pid:[4026531836]";

/// What kind of process svscan is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Started by something else (a shell, svscanboot, a service manager):
    /// 0.76's behaviour, plus `SVSCAN_TERM=shutdown` if set.
    Plain,
    /// The init of a container: PID 1 of a PID namespace that is not the
    /// machine's first, or told so with `SVSCAN_INIT=container` (then a
    /// child subreaper when it is not PID 1).
    Container { pid1: bool },
    /// PID 1 of the machine: never exits (the kernel would panic), so
    /// signals are ignored as in 0.76.
    MachineInit,
}

impl Role {
    /// Decides the role from the process id, `/proc/self/ns/pid` and
    /// `SVSCAN_INIT` (`container` forces container mode, `0.76` or `none`
    /// turns it off). PID 1 whose namespace cannot be read (no /proc yet)
    /// counts as the machine's init: the safe side.
    pub fn detect(env: &[&[u8]]) -> Role {
        let pid1 = std::process::id() == 1;
        let ns = std::fs::read_link("/proc/self/ns/pid").ok();
        let first_ns = ns
            .as_ref()
            .is_none_or(|l| l.as_os_str().as_encoded_bytes() == INIT_PID_NS);
        Role::decide(pid1, first_ns, exec::env_get(env, b"SVSCAN_INIT"))
    }

    fn decide(pid1: bool, first_ns: bool, setting: Option<&[u8]>) -> Role {
        if pid1 && first_ns {
            return Role::MachineInit;
        }
        match setting {
            Some(b"container") => Role::Container { pid1 },
            Some(b"0.76") | Some(b"none") => Role::Plain,
            _ if pid1 => Role::Container { pid1 },
            _ => Role::Plain,
        }
    }

    pub fn container(self) -> bool {
        matches!(self, Role::Container { .. })
    }

    /// Container set-up: a child subreaper when not PID 1, so that orphans
    /// of the tree are reparented to svscan and reaped at once.
    pub fn set_up(self) {
        if let Role::Container { pid1: false } = self
            && let Err(e) = nix::sys::prctl::set_child_subreaper(true)
        {
            Line::new(PROG, "warning")
                .s("unable to become a child subreaper")
                .err(e)
                .emit();
        }
    }
}

/// Runs `.svscan/NAME` (in the scanned directory) if it is an executable
/// file; its exit code (128 + signal number when killed), None when there
/// is none.
pub fn run_step(name: &str) -> Option<i32> {
    use std::os::unix::fs::PermissionsExt;
    let path = format!(".svscan/{name}");
    let md = std::fs::metadata(&path).ok()?;
    if !md.is_file() || md.permissions().mode() & 0o111 == 0 {
        return None;
    }
    let cmd = format!("./{path}");
    match svctl::run_script(PROG, Path::new("."), &cmd, None) {
        Ok(code) => {
            if code != 0 {
                Line::new(PROG, "warning")
                    .s(&path)
                    .s(" exited ")
                    .s(&code.to_string())
                    .emit();
            }
            Some(code)
        }
        Err(e) => {
            Line::new(PROG, "warning")
                .s("unable to run ")
                .s(&path)
                .err(e)
                .emit();
            Some(111)
        }
    }
}

/// After the tree's own stop: ends every process still left in the
/// container (strays that daemonized, orphans of a killed service). PID 1
/// signals everything in its namespace (`kill(-1)`); a subreaper signals
/// its descendants. SIGTERM and SIGCONT first, SIGKILL after `grace`;
/// everything is reaped. Returns how many processes were signalled.
pub fn end_leftovers(pid1: bool, grace: Duration) -> usize {
    let targets = |sig: Signal| -> usize {
        if pid1 {
            // kill(-1) reaches every process of the namespace but PID 1
            // itself; ESRCH means there is none.
            let n = descendants().len();
            let _ = kill(Pid::from_raw(-1), sig);
            n
        } else {
            let pids = descendants();
            for &p in &pids {
                let _ = kill(Pid::from_raw(p), sig);
            }
            pids.len()
        }
    };
    reap_all();
    let n = targets(Signal::SIGTERM);
    if n == 0 {
        return 0;
    }
    targets(Signal::SIGCONT);
    let end = Instant::now() + grace;
    while Instant::now() < end {
        reap_all();
        if descendants().is_empty() {
            return n;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    targets(Signal::SIGKILL);
    let end = Instant::now() + grace;
    while Instant::now() < end && !descendants().is_empty() {
        reap_all();
        std::thread::sleep(Duration::from_millis(10));
    }
    reap_all();
    n
}

/// Reaps every child that has exited, without waiting.
pub fn reap_all() {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(st) if st.pid().is_some() => {}
            Err(Errno::EINTR) => {}
            _ => return,
        }
    }
}

/// The pids of svscan's live descendants (zombies excluded), from the
/// parent links in /proc.
fn descendants() -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut parent = std::collections::HashMap::new();
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Some((ppid, state)) = stat_ppid(pid)
            && state != b'Z'
            && state != b'X'
        {
            parent.insert(pid, ppid);
        }
    }
    let mut out: Vec<i32> = parent
        .keys()
        .copied()
        .filter(|&p| {
            let mut cur = p;
            for _ in 0..4096 {
                match parent.get(&cur) {
                    Some(&pp) if pp == me => return true,
                    Some(&pp) if pp > 1 => cur = pp,
                    _ => return false,
                }
            }
            false
        })
        .collect();
    out.sort_unstable();
    out
}

/// The parent pid and state letter of `pid`, from /proc/PID/stat.
fn stat_ppid(pid: i32) -> Option<(i32, u8)> {
    let s = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let after = &s[s.iter().rposition(|&c| c == b')')? + 1..];
    let mut f = after
        .split(|c| c.is_ascii_whitespace())
        .filter(|f| !f.is_empty());
    let state = *f.next()?.first()?;
    let ppid = std::str::from_utf8(f.next()?).ok()?.parse().ok()?;
    Some((ppid, state))
}

/// `.svscan/main`: the container's main service (a link to its service
/// directory). When it goes down and is not going to be started again —
/// `./finish` exited 125, `svc -d`, the exit of a `svc -o` run — the tree
/// is stopped and svscan exits with the main service's last exit code
/// (128 + the signal number when it was killed). With
/// `SVSCAN_MAIN_EXIT=any`, any exit of the main service ends the tree
/// (s6-overlay's CMD semantics).
pub struct MainService {
    any_exit: bool,
    /// The exit already recorded by a supervise that was running before
    /// svscan started (a restarted svscan): it does not count.
    baseline: Option<Tai64n>,
}

/// Where the main service's record lives.
pub const MAIN: &str = ".svscan/main";

impl MainService {
    /// The main service, in container mode when `.svscan/main` exists.
    pub fn find(env: &[&[u8]]) -> Option<MainService> {
        std::fs::metadata(MAIN).ok()?;
        let before = record::read(Path::new(MAIN)).ok().filter(|s| s.live);
        let baseline = before
            .as_ref()
            .and_then(|s| s.in_step())
            .and_then(|r| r.last_exit)
            .map(|e| e.at);
        Some(MainService {
            any_exit: exec::env_get(env, b"SVSCAN_MAIN_EXIT") == Some(b"any"),
            baseline,
        })
    }

    /// The record of the main service when it reads consistently.
    fn record() -> Option<Record> {
        for _ in 0..3 {
            let snap = record::read(Path::new(MAIN)).ok()?;
            if let Some(r) = snap.in_step() {
                return Some(r.clone());
            }
        }
        None
    }

    /// Some(exit code) once the main service has ended for good (or, with
    /// `SVSCAN_MAIN_EXIT=any`, exited at all).
    pub fn ended(&mut self) -> Option<i32> {
        let r = Self::record()?;
        let exit = r.last_exit;
        let new_exit = exit.filter(|e| Some(e.at) != self.baseline)?;
        let for_good = r.state == State::Down;
        (self.any_exit || for_good).then(|| code_of(new_exit.ending))
    }

    /// The exit code svscan gives when asked to stop (SIGTERM, SIGINT):
    /// 0, unless the main service had already failed (it is not running
    /// and its last exit was not a success).
    pub fn code_at_stop(&mut self) -> i32 {
        let Some(r) = Self::record() else {
            return 0;
        };
        match r.last_exit {
            Some(e) if r.state != State::Up => match code_of(e.ending) {
                0 => 0,
                c => c,
            },
            _ => 0,
        }
    }
}

/// An ending as an exit code: the code itself, or 128 + the signal number.
fn code_of(e: Ending) -> i32 {
    match e {
        Ending::Code(c) => c,
        Ending::Signal(s) => 128 + s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles() {
        // the machine's PID 1 is never a container, whatever it is told
        assert_eq!(Role::decide(true, true, None), Role::MachineInit);
        assert_eq!(
            Role::decide(true, true, Some(b"container")),
            Role::MachineInit
        );
        // PID 1 of another namespace is a container's init unless told not
        assert_eq!(
            Role::decide(true, false, None),
            Role::Container { pid1: true }
        );
        assert_eq!(Role::decide(true, false, Some(b"0.76")), Role::Plain);
        assert_eq!(Role::decide(true, false, Some(b"none")), Role::Plain);
        // anywhere else: plain unless asked
        assert_eq!(Role::decide(false, true, None), Role::Plain);
        assert_eq!(Role::decide(false, false, Some(b"other")), Role::Plain);
        assert_eq!(
            Role::decide(false, true, Some(b"container")),
            Role::Container { pid1: false }
        );
    }

    #[test]
    fn own_stat_parses() {
        let me = std::process::id() as i32;
        let (ppid, state) = stat_ppid(me).unwrap();
        assert_eq!(ppid, nix::unistd::getppid().as_raw());
        assert!(matches!(state, b'R' | b'S'));
    }
}
