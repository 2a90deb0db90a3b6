//! The I/O of readiness (doc/supervise.8.md, READINESS): the
//! notification pipe, the notify socket, `./check` runs, the watchdog's
//! ABRT and the warnings. The decisions are `readiness::Readiness`'s (via
//! `state::Machine`); this is the part of the event loop that reads and
//! forks for them.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, UnixAddr, sockopt};

use super::readiness::{self, Access, MAX_DATAGRAM, parse_message};
use super::state::Now;
use super::{Helper, PROG, Supervise, kill, kill_helper};
use crate::exec;
use crate::fsio;
use crate::msg::Line;
use crate::record::{ReadyError, Sources};
use crate::sys;

/// Datagrams handled per wake-up: a flood cannot keep supervise from its
/// other work (the rest waits in the socket's buffer, the excess is
/// dropped by the kernel).
const BATCH: usize = 64;
/// How long a process tree is walked up to find `./run` (`all` access).
const MAX_DEPTH: usize = 64;
/// KILL after the watchdog's ABRT when there is no `timeout-kill`.
const WATCHDOG_GRACE_MS: u32 = 10_000;

/// The notify socket: bound in the abstract namespace once, on the first
/// start that wants it, and kept for supervise's lifetime.
pub struct NotifySocket {
    fd: OwnedFd,
    /// `NOTIFY_SOCKET`'s value: `@` and the abstract name.
    pub address: Vec<u8>,
}

impl NotifySocket {
    /// A datagram socket with SO_PASSCRED, bound to
    /// `@daemontools-rs/notify/PID`, or to a name the kernel picks
    /// (autobind) if that one is taken.
    fn bind(my_pid: u32) -> Result<NotifySocket, Errno> {
        let fd = socket::socket(
            AddressFamily::Unix,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )?;
        socket::setsockopt(&fd, sockopt::PassCred, &true)?;
        let name = format!("daemontools-rs/notify/{my_pid}");
        let addr = UnixAddr::new_abstract(name.as_bytes())?;
        match socket::bind(fd.as_raw_fd(), &addr) {
            Ok(()) => {}
            Err(Errno::EADDRINUSE) => socket::bind(fd.as_raw_fd(), &UnixAddr::new_unnamed())?,
            Err(e) => return Err(e),
        }
        let bound: UnixAddr = socket::getsockname(fd.as_raw_fd())?;
        let name = bound.as_abstract().ok_or(Errno::EAFNOSUPPORT)?;
        let mut address = b"@".to_vec();
        address.extend_from_slice(name);
        Ok(NotifySocket { fd, address })
    }
}

/// The notification pipe of a start: `./run` gets `write` as descriptor
/// `fd`; supervise keeps `read`.
pub struct Pipe {
    pub fd: i32,
    pub read: OwnedFd,
    pub write: OwnedFd,
}

/// What a start sets up for readiness, made before the fork.
pub struct Prepared {
    pub setup: readiness::Setup,
    pub pipe: Option<Pipe>,
    /// Environment changes for `./run` (empty: the environment as is).
    pub env: Vec<Vec<u8>>,
    /// `WATCHDOG_PID` is to be set (to `./run`'s own pid).
    pub watchdog_pid: bool,
}

/// The parent of `pid` from /proc (None if it is gone).
fn parent_of(pid: u32) -> Option<u32> {
    let s = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let close = s.iter().rposition(|&c| c == b')')?;
    let mut fields = s[close + 1..]
        .split(|c| c.is_ascii_whitespace())
        .filter(|f| !f.is_empty());
    let _state = fields.next()?;
    std::str::from_utf8(fields.next()?).ok()?.parse().ok()
}

impl Supervise<'_> {
    /// A runtime warning about DIR, said once until the service is ready
    /// again (a crash loop does not repeat it).
    fn warn_ready(&mut self, key: &'static str, tail: &str) {
        if self.warned.contains(&key) {
            return;
        }
        self.warned.push(key);
        Line::new(PROG, "warning").b(self.dir).s(tail).emit();
    }

    /// Reads the readiness files and sets up what this start needs.
    pub(super) fn prepare_readiness(&mut self) -> Prepared {
        let mut p = Prepared {
            setup: readiness::Setup::default(),
            pipe: None,
            env: Vec::new(),
            watchdog_pid: false,
        };
        let mut sources = Sources::default();
        if let Some(fd) = self.files.notification_fd() {
            match fsio::pipe_coe(true) {
                Ok((read, write)) => {
                    sources.notification_fd = true;
                    p.pipe = Some(Pipe { fd, read, write });
                }
                Err(e) => self.warn("unable to create the notification pipe of ", "", Some(e)),
            }
        }
        let watchdog = self.files.watchdog_usec();
        match self.files.notify_socket() {
            Some(access) => {
                if self.notify_sock.is_none() {
                    match NotifySocket::bind(self.my_pid) {
                        Ok(s) => self.notify_sock = Some(s),
                        Err(e) => self.warn("unable to bind the notify socket of ", "", Some(e)),
                    }
                }
                if let Some(s) = &self.notify_sock {
                    sources.notify_socket = true;
                    p.setup.access = access;
                    p.setup.watchdog_usec = watchdog;
                    let mut v = b"NOTIFY_SOCKET=".to_vec();
                    v.extend_from_slice(&s.address);
                    p.env.push(v);
                    if watchdog > 0 {
                        p.env.push(format!("WATCHDOG_USEC={watchdog}").into_bytes());
                        p.watchdog_pid = true;
                    } else {
                        // not inherited from supervise's own environment
                        p.env.push(b"WATCHDOG_USEC".to_vec());
                        p.env.push(b"WATCHDOG_PID".to_vec());
                    }
                }
            }
            None if watchdog > 0 => {
                self.warn_ready("watchdog", "/watchdog needs a notify-socket file: ignored")
            }
            None => {}
        }
        if self.files.script("check") {
            sources.check = true;
            p.setup.check_interval = self.files.check_interval();
            p.setup.check_limit = self.files.timeout_check();
        }
        p.setup.sources = sources;
        p
    }

    /// In the child, before exec: the notification pipe on its number.
    pub(super) fn child_readiness(&self, p: &Prepared) {
        if let Some(pipe) = &p.pipe {
            let w = pipe.write.as_raw_fd();
            let r = if w == pipe.fd {
                fsio::no_coe(pipe.write.as_fd())
            } else {
                sys::dup2(w, pipe.fd)
            };
            if let Err(e) = r {
                Line::new(PROG, "fatal")
                    .s("unable to set up ")
                    .b(self.dir)
                    .s("/notification-fd")
                    .err(e)
                    .exit_child(crate::msg::EXIT_TEMP);
            }
        }
    }

    /// In the child: `./run`'s environment, when readiness changes it.
    pub(super) fn child_env(p: &Prepared) -> Option<Vec<std::ffi::CString>> {
        if p.env.is_empty() {
            return None;
        }
        let mut changes = p.env.clone();
        if p.watchdog_pid {
            changes.push(format!("WATCHDOG_PID={}", std::process::id()).into_bytes());
        }
        let env = exec::apply_env(&sys::environ(), &changes);
        Some(env.iter().map(|e| exec::cstring(e)).collect())
    }

    /// After the fork: keeps the pipe's read end (the write end is
    /// `./run`'s alone now).
    pub(super) fn keep_pipe(&mut self, pipe: Option<Pipe>) {
        self.ready_fd = pipe.map(|p| p.read);
    }

    /// The descriptors readiness waits on: the notification pipe, the
    /// notify socket.
    pub(super) fn readiness_fds(&self) -> Vec<std::os::fd::BorrowedFd<'_>> {
        let mut v = Vec::new();
        if let Some(fd) = &self.ready_fd {
            v.push(fd.as_fd());
        }
        if let Some(s) = &self.notify_sock {
            v.push(s.fd.as_fd());
        }
        v
    }

    /// Reads what is waiting on the notification pipe and the notify
    /// socket (both non-blocking).
    pub(super) fn service_readiness(&mut self) {
        self.read_pipe();
        self.read_socket();
    }

    /// The first newline on the pipe makes its source ready; the pipe is
    /// then closed (later writes by the daemon get EPIPE, as under s6). EOF
    /// before a newline: this run will not be ready.
    fn read_pipe(&mut self) {
        let mut buf = [0u8; 512];
        loop {
            let Some(fd) = &self.ready_fd else { return };
            match nix::unistd::read(fd, &mut buf) {
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return,
                Ok(n) if n > 0 && memchr::memchr(b'\n', &buf[..n]).is_none() => continue,
                Ok(n) => {
                    self.ready_fd = None;
                    let now = self.now();
                    let acts = if n > 0 {
                        self.m.fd_ready(now)
                    } else {
                        self.m.fd_closed()
                    };
                    self.perform(acts);
                    return;
                }
                Err(_) => {
                    self.ready_fd = None;
                    let acts = self.m.fd_closed();
                    self.perform(acts);
                    return;
                }
            }
        }
    }

    /// Up to BATCH datagrams from the notify socket.
    fn read_socket(&mut self) {
        let mut buf = [0u8; MAX_DATAGRAM];
        for _ in 0..BATCH {
            let Some(sock) = &self.notify_sock else {
                return;
            };
            let d = match sys::recv_notify(sock.fd.as_fd(), &mut buf) {
                Ok(d) => d,
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return,
                Err(e) => {
                    let tail = format!(
                        ": unable to read the notify socket: {}",
                        crate::msg::errstr(e)
                    );
                    self.warn_ready("recv", &tail);
                    return;
                }
            };
            self.datagram(&buf[..d.len], d);
        }
    }

    /// One datagram: checked, then given to the machine.
    fn datagram(&mut self, text: &[u8], d: sys::Datagram) {
        if d.truncated {
            let tail = format!(": notify datagram over {MAX_DATAGRAM} bytes: ignored");
            return self.warn_ready("oversized", &tail);
        }
        if d.control_truncated {
            return self.warn_ready(
                "ctrunc",
                ": notify datagram with too many descriptors: ignored, descriptors closed",
            );
        }
        let Some(sender) = d.pid else {
            return self.warn_ready("nocred", ": notify datagram without credentials: ignored");
        };
        let accepted = match self.m.ready.accepts(sender, self.m.pid) {
            Some(yes) => yes,
            None if parent_of(sender).is_none() => {
                // systemd has the same limit (use MAINPID= or BARRIER=1)
                let tail = format!(
                    ": notify message from pid {sender}, which has already exited: ignored"
                );
                return self.warn_ready("exited", &tail);
            }
            None => self.belongs(sender),
        };
        if !accepted {
            let whose = match self.m.ready.access {
                Access::Main => "the service's main process",
                Access::All => "a process of the service",
            };
            let tail = format!(": notify message from pid {sender}, not {whose}: ignored");
            return self.warn_ready("foreign", &tail);
        }
        let m = parse_message(text);
        if m.fdstore {
            self.warn_ready(
                "fdstore",
                ": FDSTORE=1: supervise keeps no descriptors: closed",
            );
        } else if d.fds_closed > 0 && !m.barrier {
            self.warn_ready("fds", ": descriptors sent to the notify socket: closed");
        }
        if m.bad > 0 {
            self.warn_ready(
                "bad",
                ": notify message with lines that mean nothing: ignored",
            );
        }
        let now = self.now();
        let acts = self.m.notify_message(&m, now);
        self.perform(acts);
    }

    /// Whether `pid` is a process of the service (`all` access): in its
    /// cgroup (`cgroup`), in `./run`'s session (`kill-group`), else below
    /// `./run` in the process tree.
    fn belongs(&self, pid: u32) -> bool {
        let run = self.m.pid;
        if run == 0 {
            return false;
        }
        if self.m.mode.contained
            && let Some(cg) = &self.cgroup
        {
            return cg.pids().contains(&(pid as i32));
        }
        if self.m.mode.group {
            let sid = nix::unistd::getsid(Some(nix::unistd::Pid::from_raw(pid as i32)));
            return sid.is_ok_and(|s| s.as_raw() as u32 == run);
        }
        let mut p = pid;
        for _ in 0..MAX_DEPTH {
            match parent_of(p) {
                Some(q) if q == run => return true,
                Some(q) if q > 1 => p = q,
                _ => return false,
            }
        }
        false
    }

    /// Forks `./check` (own session, stdout on /dev/null, stderr as
    /// supervise's), and tells the machine.
    pub(super) fn start_check(&mut self) {
        let argv: [&[u8]; 1] = [b"./check"];
        let env = sys::environ();
        let pid = self.spawn_helper("check", &argv, &env, Helper::NoStdout);
        let now = self.now();
        self.m.check_started(pid, now);
    }

    pub(super) fn kill_check(&self, pid: u32) {
        kill_helper(pid);
    }

    /// The watchdog expired: ABRT (to the group with `kill-group`), KILL
    /// after `timeout-kill` (10 s without it).
    pub(super) fn watchdog_abort(&mut self, now: Now) {
        let ms = self.m.ready.watchdog_usec.div_ceil(1000);
        self.warn(
            "",
            &format!(": watchdog: no WATCHDOG=1 for {ms} ms: sending ABRT"),
            None,
        );
        let pid = self.m.pid as i32;
        kill(if self.m.mode.group { -pid } else { pid }, Signal::SIGABRT);
        let grace = match self.files.timeout_kill() {
            0 => WATCHDOG_GRACE_MS,
            ms => ms,
        };
        self.m.watchdog_grace(grace, now);
    }

    /// The run will not be ready: why, once.
    pub(super) fn not_ready(&mut self, e: ReadyError) {
        match e {
            ReadyError::FdClosed => self.warn_ready(
                "fd-closed",
                "/notification-fd: closed without a newline: not ready until the next start",
            ),
            ReadyError::CheckTimeout => self.warn_ready(
                "check-timeout",
                "/check: did not exit 0 within timeout-check: not ready until the next start",
            ),
        }
    }

    /// The one-second pause after a start (0.76's), during which supervise
    /// handles no command and reaps nothing — but still reads the
    /// notification pipe and the notify socket, so a service that is ready
    /// at once is recorded as such at once.
    pub(super) fn pause_after_start(&mut self) {
        use nix::poll::{PollFd, PollFlags, PollTimeout};
        use std::time::{Duration, Instant};
        if self.ready_fd.is_none() && self.notify_sock.is_none() {
            return super::deepsleep(1);
        }
        let until = Instant::now() + Duration::from_millis(1020);
        loop {
            self.flush_record();
            let now = Instant::now();
            if now >= until {
                return;
            }
            let ms = (until - now).as_millis().min(1020) as u16;
            {
                let fds = self.readiness_fds();
                let mut polls: Vec<PollFd> = fds
                    .iter()
                    .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
                    .collect();
                let _ = nix::poll::poll(&mut polls, PollTimeout::from(ms));
            }
            self.service_readiness();
        }
    }
}
