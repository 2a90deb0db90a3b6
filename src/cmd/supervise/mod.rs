//! `supervise S`: start and watch a service (daemontools 0.76, Debian
//! build). The decisions live in `state::Machine`; this module does the
//! I/O: the lock, the fifos, the status file, fork/exec and the event loop.

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::Flock;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::stat::Mode;
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::{ForkResult, Pid};

use crate::fsio;
use crate::msg::{self, EXIT_TEMP, Line};
use crate::status;
mod state;

use crate::sys;
use crate::tai64::Tai64n;
use state::{Action, AfterReap, Machine};

const PROG: &str = "supervise";

/// Every descriptor supervise holds; all close-on-exec.
struct Supervise<'a> {
    dir: &'a [u8],
    selfpipe_r: OwnedFd,
    selfpipe_w: OwnedFd,
    _lock: Flock<OwnedFd>,
    control_r: OwnedFd,
    _control_w: OwnedFd,
    _ok: Option<OwnedFd>,
    run: CString,
    m: Machine,
}

pub fn main(args: &[&[u8]]) -> i32 {
    if args.len() != 2 {
        msg::usage(PROG, "supervise dir");
    }
    let dir = args[1];
    let fatal = |what: &str, e: Errno| -> ! {
        Line::new(PROG, "fatal")
            .s(what)
            .b(dir)
            .err(e)
            .exit(EXIT_TEMP)
    };
    let fatal_in = |what: &str, file: &str, e: Errno| -> ! {
        Line::new(PROG, "fatal")
            .s(what)
            .b(dir)
            .s(file)
            .err(e)
            .exit(EXIT_TEMP)
    };

    let (selfpipe_r, selfpipe_w) =
        fsio::pipe_coe(true).unwrap_or_else(|e| fatal("unable to create pipe for ", e));
    sys::set_selfpipe(fsio::raw(&selfpipe_w));
    block_sigchld(true);
    let _ = sys::catch(Signal::SIGCHLD, sys::selfpipe_handler);

    if let Err(e) = nix::unistd::chdir(dir) {
        fatal("unable to chdir to ", e);
    }
    let down = match nix::sys::stat::stat("down") {
        Ok(_) => true,
        Err(Errno::ENOENT) => false,
        Err(e) => fatal_in("unable to stat ", "/down", e),
    };
    make_supervise_dir();

    let lock = fsio::open_append(b"supervise/lock")
        .and_then(|fd| fsio::lock_ex(fd, false))
        .unwrap_or_else(|e| fatal_in("unable to acquire ", "/supervise/lock", e));
    let _ = fsio::coe(&*lock);

    let _ = nix::unistd::mkfifo("supervise/control", Mode::from_bits_truncate(0o600));
    let control_r = fsio::open_read(b"supervise/control")
        .unwrap_or_else(|e| fatal_in("unable to read ", "/supervise/control", e));
    let _ = fsio::coe(&control_r);
    let _ = fsio::ndelay_on(&control_r);
    let control_w = fsio::open_write(b"supervise/control")
        .unwrap_or_else(|e| fatal_in("unable to write ", "/supervise/control", e));
    let _ = fsio::coe(&control_w);

    let mut sv = Supervise {
        dir,
        selfpipe_r,
        selfpipe_w,
        _lock: lock,
        control_r,
        _control_w: control_w,
        _ok: None,
        run: CString::new("./run").expect("no NUL"),
        m: Machine::new(down, Tai64n::now()),
    };
    sv.announce();

    let _ = nix::unistd::mkfifo("supervise/ok", Mode::from_bits_truncate(0o600));
    let ok = fsio::open_read(b"supervise/ok")
        .unwrap_or_else(|e| fatal_in("unable to read ", "/supervise/ok", e));
    let _ = fsio::coe(&ok);
    sv._ok = Some(ok);

    if !down {
        sv.start();
    }
    sv.run_loop();
    sv.announce();
    // Like 0.76's _exit(0): the kernel closes the descriptors and drops the
    // lock; no explicit unlock or close calls first.
    sys::exit_now(0)
}

/// mkdir `supervise`; if that fails, Debian's patch follows a dangling
/// symlink by creating its target (last component only).
fn make_supervise_dir() {
    if nix::unistd::mkdir("supervise", Mode::from_bits_truncate(0o700)).is_ok() {
        return;
    }
    let mut buf = [0u8; 256];
    match nix::fcntl::readlinkat(nix::fcntl::AT_FDCWD, "supervise") {
        Ok(target) => {
            let target = target.as_encoded_bytes();
            if target.len() >= buf.len() {
                Line::bare()
                    .s("unable to readlink ./supervise")
                    .err(Errno::EOVERFLOW)
                    .exit(EXIT_TEMP);
            }
            buf[..target.len()].copy_from_slice(target);
            let _ = nix::unistd::mkdir(&buf[..target.len()], Mode::from_bits_truncate(0o700));
        }
        Err(Errno::ENOENT | Errno::EINVAL) => {}
        Err(e) => Line::bare()
            .s("unable to readlink ./supervise")
            .err(e)
            .exit(EXIT_TEMP),
    }
}

fn block_sigchld(block: bool) {
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    let how = if block {
        SigmaskHow::SIG_BLOCK
    } else {
        SigmaskHow::SIG_UNBLOCK
    };
    let _ = sigprocmask(how, Some(&set), None);
}

/// Sleeps until at least `secs` seconds have passed, each wait rounded up
/// by 20 ms like daemontools' `deepsleep`. Signals stay as they are
/// (SIGCHLD is blocked by the caller), so nothing shortens it.
fn deepsleep(secs: u64) {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        let now = Instant::now();
        if now >= until {
            return;
        }
        std::thread::sleep(until - now + Duration::from_millis(20));
    }
}

impl Supervise<'_> {
    fn warn(&self, what: &str, tail: &str, e: Option<Errno>) {
        let l = Line::new(PROG, "warning").s(what).b(self.dir).s(tail);
        match e {
            Some(e) => l.err(e).emit(),
            None => l.emit(),
        }
    }

    /// Writes supervise/status via status.new + rename. Failures warn.
    fn announce(&self) {
        let rec = self.m.status().encode();
        let fd = match fsio::open_trunc(b"supervise/status.new") {
            Ok(fd) => fd,
            Err(e) => return self.warn("unable to open ", "/supervise/status.new", Some(e)),
        };
        match nix::unistd::write(&fd, &rec) {
            Err(e) => return self.warn("unable to write ", "/supervise/status.new", Some(e)),
            Ok(n) if n < status::LEN => {
                let l = Line::new(PROG, "warning").s("unable to write ").b(self.dir);
                l.s("/supervise/status.new: partial write").emit();
                return;
            }
            Ok(_) => {}
        }
        drop(fd);
        if let Err(e) = nix::fcntl::renameat(
            nix::fcntl::AT_FDCWD,
            "supervise/status.new",
            nix::fcntl::AT_FDCWD,
            "supervise/status",
        ) {
            self.warn(
                "unable to rename ",
                "/supervise/status.new to status",
                Some(e),
            );
        }
    }

    /// Forks and execs ./run, then sleeps one second with SIGCHLD blocked.
    fn start(&mut self) {
        match sys::fork() {
            Err(e) => {
                self.warn("unable to fork for ", ", sleeping 60 seconds", Some(e));
                deepsleep(60);
                // Wake the loop so the retry logic runs.
                let _ = nix::unistd::write(&self.selfpipe_w, b"\0");
                self.m.start_failed();
            }
            Ok(ForkResult::Child) => {
                let _ = sys::uncatch(Signal::SIGCHLD);
                block_sigchld(false);
                let e = match nix::unistd::execv(&self.run, &[&self.run]) {
                    Err(e) => e,
                    Ok(never) => match never {},
                };
                Line::new(PROG, "fatal")
                    .s("unable to start ")
                    .b(self.dir)
                    .s("/run")
                    .err(e)
                    .exit_child(EXIT_TEMP);
            }
            Ok(ForkResult::Parent { child }) => {
                self.m.started(child.as_raw() as u32, Tai64n::now());
                self.announce();
                deepsleep(1);
            }
        }
    }

    fn run_loop(&mut self) {
        self.announce();
        loop {
            if self.m.done() {
                return;
            }
            self.wait_for_event();
            self.drain_selfpipe();
            if self.reap() {
                return;
            }
            if self.m.retry_due() {
                self.start();
            }
            let mut byte = [0u8; 1];
            if let Ok(1) = nix::unistd::read(&self.control_r, &mut byte) {
                self.control(byte[0]);
            }
        }
    }

    fn wait_for_event(&self) {
        block_sigchld(false);
        {
            let mut fds = [
                PollFd::new(self.selfpipe_r.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.control_r.as_fd(), PollFlags::POLLIN),
            ];
            // daemontools waits at most 1000.02 s; nothing depends on it.
            let _ = nix::poll::poll(
                &mut fds,
                PollTimeout::try_from(1_000_020).unwrap_or(PollTimeout::MAX),
            );
        }
        block_sigchld(true);
    }

    fn drain_selfpipe(&self) {
        let mut buf = [0u8; 64];
        while let Ok(n) = nix::unistd::read(&self.selfpipe_r, &mut buf) {
            if n == 0 {
                break;
            }
        }
    }

    /// Reaps children. Returns true when the loop must end at once (the
    /// service exited while `svc -x` was pending).
    fn reap(&mut self) -> bool {
        loop {
            let pid = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(st) => match st.pid() {
                    Some(p) => p,
                    None => return false,
                },
                Err(Errno::EINTR) => continue,
                Err(_) => return false,
            };
            if self.m.pid == 0 || pid.as_raw() as u32 != self.m.pid {
                // An inherited child that is not the service: ignore it.
                continue;
            }
            let next = self.m.reaped(Tai64n::now());
            self.announce();
            match next {
                AfterReap::Exit => return true,
                AfterReap::Restart => self.start(),
                AfterReap::Stay => {}
            }
            return false;
        }
    }

    fn control(&mut self, byte: u8) {
        let pid = self.m.pid;
        for action in self.m.control(byte).iter() {
            match action {
                Action::Announce => self.announce(),
                Action::Kill(sig) => {
                    let _ = nix::sys::signal::kill(Pid::from_raw(pid as i32), sig);
                }
                Action::Start => self.start(),
            }
        }
    }
}
