//! `supervise S`: start and watch a service (daemontools 0.76, Debian
//! build), with the opt-in lifecycle of doc/supervise.8.md (`finish`,
//! `backoff`, `down-signal`, `timeout-kill`, `kill-group`, `cgroup`,
//! `notify`) and the always-on record `supervise/status.json`.
//!
//! The decisions live in `state::Machine` (and `notify::Notifier`); this
//! module does the I/O: the lock, the fifos, the status files, fork/exec
//! and the event loop. The loop sleeps in poll(2) until a signal (self-pipe),
//! a control byte or the machine's next deadline; there is no polling.

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::Flock;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::stat::Mode;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid};

use crate::exec;
use crate::fsio;
use crate::msg::{self, EXIT_TEMP, Line};
use crate::record::{Summary, summary};
use crate::status;
use crate::svctl;
pub mod cgroup;
mod notify;
pub mod readiness;
mod runit;
pub mod settings;
mod sources;
mod state;

use crate::sys;
use crate::tai64::Tai64n;
use notify::{Call, Event, Kind, Notifier, Script};
use settings::Files;
use state::{Action, Actions, AfterRun, Death, Machine, Now, OnDown, StartMode};

const PROG: &str = "supervise";

/// Every descriptor supervise holds; all close-on-exec.
struct Supervise<'a> {
    dir: &'a [u8],
    /// The state directory (`supervise`, or per `SUPERVISEDIR`).
    state: Vec<u8>,
    selfpipe_r: OwnedFd,
    selfpipe_w: OwnedFd,
    _lock: Flock<OwnedFd>,
    control_r: OwnedFd,
    _control_w: OwnedFd,
    _ok: Option<OwnedFd>,
    run: CString,
    m: Machine,
    notifier: Notifier,
    files: Files<'a>,
    /// The service's cgroup once containment was set up.
    cgroup: Option<cgroup::Cgroup>,
    /// Containment was tried (and said so if it is unusable).
    cgroup_tried: bool,
    /// The monotonic clock's origin (`Now::mono` counts from it).
    epoch: Instant,
    my_pid: u32,
    /// The text of the last write of status.json.
    json: Vec<u8>,
    /// The next text (a buffer reused from one write to the next).
    json_next: Vec<u8>,
    /// The last write of status.json and summary worked: `json` is what
    /// status.json holds, with its summary.
    json_written: bool,
    /// supervise/status was written since the last status.json.
    json_due: bool,
    /// Holds a just-forked `./finish` before its exec (see spawn_helper).
    finish_gate: Option<OwnedFd>,
    /// The last write of supervise/status worked (status.json may follow).
    status_written: bool,
    /// The read end of the current run's notification pipe.
    ready_fd: Option<OwnedFd>,
    /// The notify socket, once a start wanted one.
    notify_sock: Option<sources::NotifySocket>,
    /// Runtime readiness warnings already given (until the next ready).
    warned: Vec<&'static str>,
    /// runit's view (`runit-view`): what its files said when last written
    /// (None: not written since the view was turned on).
    runit_last: Option<runit::Files>,
    /// The `./run` that was sent TERM (or the down signal), for runit's
    /// "got TERM"; meaningless once that process is gone.
    term_pid: u32,
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
    let state = svctl::state_dir_here();
    make_state_dir(&state);
    // what the messages name: DIR/supervise/NAME as 0.76 says, or the
    // SUPERVISEDIR path
    let file = |name: &str| -> (Vec<u8>, String) {
        let path = svctl::state_file_here(name);
        let shown = if state == svctl::STATE_DIR.as_bytes() {
            format!("/supervise/{name}")
        } else {
            format!(": {}", String::from_utf8_lossy(&path))
        };
        (path, shown)
    };

    let (path, shown) = file("lock");
    let lock = fsio::open_append(&path)
        .and_then(|fd| fsio::lock_ex(fd, false))
        .unwrap_or_else(|e| fatal_in("unable to acquire ", &shown, e));
    let _ = fsio::coe(&*lock);

    let (path, shown) = file("control");
    let _ = nix::unistd::mkfifo(path.as_slice(), Mode::from_bits_truncate(0o600));
    let control_r =
        fsio::open_read(&path).unwrap_or_else(|e| fatal_in("unable to read ", &shown, e));
    let _ = fsio::coe(&control_r);
    let _ = fsio::ndelay_on(&control_r);
    let control_w =
        fsio::open_write(&path).unwrap_or_else(|e| fatal_in("unable to write ", &shown, e));
    let _ = fsio::coe(&control_w);

    let mut sv = Supervise {
        dir,
        state: state.clone(),
        selfpipe_r,
        selfpipe_w,
        _lock: lock,
        control_r,
        _control_w: control_w,
        _ok: None,
        run: CString::new("./run").expect("no NUL"),
        m: Machine::new(down, Tai64n::now()),
        notifier: Notifier::default(),
        files: Files::new(dir),
        cgroup: None,
        cgroup_tried: false,
        epoch: Instant::now(),
        my_pid: std::process::id(),
        json: Vec::with_capacity(1024),
        json_next: Vec::with_capacity(1024),
        json_written: false,
        json_due: false,
        finish_gate: None,
        status_written: false,
        ready_fd: None,
        notify_sock: None,
        warned: Vec::new(),
        runit_last: None,
        term_pid: 0,
    };
    sv.announce();
    // The record too, before `ok` shows supervise running: a reader must
    // not take this supervise for one that keeps no record (0.76).
    sv.flush_record();

    let (path, shown) = file("ok");
    let _ = nix::unistd::mkfifo(path.as_slice(), Mode::from_bits_truncate(0o600));
    let ok = fsio::open_read(&path).unwrap_or_else(|e| fatal_in("unable to read ", &shown, e));
    let _ = fsio::coe(&ok);
    sv._ok = Some(ok);

    if !down {
        sv.start();
    }
    sv.run_loop();
    sv.drain_notify();
    if let Some(cg) = &sv.cgroup {
        cg.remove(Duration::from_secs(1));
    }
    sv.announce();
    sv.flush_record();
    // Like 0.76's _exit(0): the kernel closes the descriptors and drops the
    // lock; no explicit unlock or close calls first.
    sys::exit_now(0)
}

/// mkdir `supervise`; if that fails, Debian's patch follows a dangling
/// symlink by creating its target (last component only).
/// Makes the state directory: `supervise` as Debian's 0.76 build does (a
/// dangling `supervise` symlink gets its target made), or the
/// `SUPERVISEDIR` one with its missing parents.
fn make_state_dir(state: &[u8]) {
    if state != svctl::STATE_DIR.as_bytes() {
        let _ = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(std::ffi::OsStr::from_bytes(state));
        return;
    }
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

/// The child side of every fork: default SIGCHLD, unblocked.
fn child_signals() {
    let _ = sys::uncatch(Signal::SIGCHLD);
    block_sigchld(false);
}

/// kill(2), ignoring errors (the process may be gone already).
fn kill(pid: i32, sig: Signal) {
    let _ = nix::sys::signal::kill(Pid::from_raw(pid), sig);
}

/// SIGKILL to a helper that made itself a session leader: its group, and
/// itself in case it had not called setsid(2) yet.
fn kill_helper(pid: u32) {
    kill(-(pid as i32), Signal::SIGKILL);
    kill(pid as i32, Signal::SIGKILL);
}

/// How `spawn_helper` starts a script.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Helper {
    Plain,
    /// Holds before its exec until `finish_gate` is dropped (`./finish`).
    Gated,
    /// Standard output on /dev/null (`./check`, as runit's sv runs it).
    NoStdout,
}

/// Whether the directory supervise was given is a log service's: its last
/// component is `log` (svscan starts `supervise NAME/log`).
fn is_log_dir(dir: &[u8]) -> bool {
    let trimmed = dir
        .iter()
        .rposition(|&c| c != b'/')
        .map_or(&dir[..0], |i| &dir[..=i]);
    let last = trimmed.rsplit(|&c| c == b'/').next().unwrap_or(b"");
    last == b"log"
}

fn death(st: WaitStatus) -> Option<(u32, Death)> {
    match st {
        WaitStatus::Exited(pid, code) => Some((pid.as_raw() as u32, Death::exited(code))),
        WaitStatus::Signaled(pid, sig, core) => {
            Some((pid.as_raw() as u32, Death::killed(sig as i32, core)))
        }
        _ => None,
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

    fn now(&self) -> Now {
        Now {
            wall: Tai64n::now(),
            mono: self.epoch.elapsed().as_millis() as u64,
        }
    }

    /// Writes `data` to supervise/NAME via NAME.new + rename; failures
    /// warn. Returns whether the file was replaced.
    fn replace(&self, name: &str, data: &[u8]) -> bool {
        let new = format!("{}/{name}.new", String::from_utf8_lossy(&self.state));
        let fd = match fsio::open_trunc(new.as_bytes()) {
            Ok(fd) => fd,
            Err(e) => {
                self.warn("unable to open ", &format!("/{new}"), Some(e));
                return false;
            }
        };
        match nix::unistd::write(&fd, data) {
            Err(e) => {
                self.warn("unable to write ", &format!("/{new}"), Some(e));
                return false;
            }
            Ok(n) if n < data.len() => {
                self.warn("unable to write ", &format!("/{new}: partial write"), None);
                return false;
            }
            Ok(_) => {}
        }
        drop(fd);
        if let Err(e) = nix::fcntl::renameat(
            nix::fcntl::AT_FDCWD,
            new.as_str(),
            nix::fcntl::AT_FDCWD,
            &new[..new.len() - 4],
        ) {
            let tail = format!("/{new} to {name}");
            self.warn("unable to rename ", &tail, Some(e));
            return false;
        }
        true
    }

    /// Writes supervise/status (the 18 bytes of 0.76, at exactly 0.76's
    /// moments) and marks supervise/status.json for writing, only if that
    /// worked, so the JSON is never ahead of it.
    fn announce(&mut self) {
        let rec = self.m.status().encode();
        debug_assert_eq!(rec.len(), status::LEN);
        if !self.runit_view() {
            self.runit_last = None;
            self.status_written = self.replace("status", &rec);
            self.json_due = self.status_written;
            return;
        }
        // runsv's order: pid, stat, then status
        let files = self.runit_facts().files();
        let mut long = [0u8; status::LEN + 2];
        long[..status::LEN].copy_from_slice(&rec);
        long[status::LEN..].copy_from_slice(&files.tail);
        self.runit_files(files);
        self.status_written = self.replace("status", &long);
        self.json_due = self.status_written;
    }

    /// Whether runit's view is on: `runit-view` here, or, for a log
    /// service (a directory called `log`), in the service directory.
    fn runit_view(&self) -> bool {
        let here = nix::sys::stat::stat(runit::FILE).is_ok();
        here || (is_log_dir(self.dir)
            && nix::sys::stat::stat(format!("../{}", runit::FILE).as_str()).is_ok())
    }

    fn runit_facts(&self) -> runit::Facts {
        runit::Facts {
            state: self.m.state(),
            pid: self.m.pid,
            finish_pid: self.m.finish_pid,
            paused: self.m.paused,
            want: self.m.want,
            exiting: self.m.exit_requested,
            got_term: self.term_pid != 0 && self.term_pid == self.m.pid,
        }
    }

    /// Writes runit's `pid` and `stat` where they changed.
    fn runit_files(&mut self, files: runit::Files) {
        let last = self.runit_last.take().unwrap_or_default();
        if last.stat != files.stat || last.pid != files.pid || last.stat.is_empty() {
            self.replace("pid", files.pid.as_bytes());
            self.replace("stat", files.stat.as_bytes());
        }
        self.runit_last = Some(files);
    }

    /// With runit's view on, brings its files up to date with what the
    /// 0.76 record does not show (a TERM sent, `./finish` started or
    /// ended): the status is rewritten with the same first 18 bytes.
    fn runit_sync(&mut self) {
        let Some(last) = &self.runit_last else { return };
        let files = self.runit_facts().files();
        if *last == files {
            return;
        }
        let tail = (last.tail != files.tail).then_some(files.tail);
        self.runit_files(files);
        if let Some(tail) = tail {
            let mut long = [0u8; status::LEN + 2];
            long[..status::LEN].copy_from_slice(&self.m.status().encode());
            long[status::LEN..].copy_from_slice(&tail);
            self.replace("status", &long);
        }
    }

    /// Writes supervise/status.json if a transition is not in it yet.
    /// Called before supervise waits (poll, the pause after a start), before
    /// it forks `./finish` or `./notify` (which may read it) and before it
    /// exits: the transitions of one event (an exit and the restart that
    /// follows at once) make one write.
    fn flush_record(&mut self) {
        if !std::mem::take(&mut self.json_due) {
            return;
        }
        let mut r = self.m.record();
        r.service = self.dir.to_vec();
        r.supervise_pid = self.my_pid;
        r.normally_up = matches!(nix::sys::stat::stat("down"), Err(Errno::ENOENT));
        if self.m.mode.contained {
            r.cgroup = self.cgroup.as_ref().map(|c| c.dir.clone());
        }
        let mut json = std::mem::take(&mut self.json_next);
        json.clear();
        r.write_json(&mut json);
        // the very text the files hold already (0.76 rewrites `status`
        // unchanged, e.g. when its loop begins): nothing to write
        if self.json_written && json == self.json {
            self.json_next = json;
            return;
        }
        // then the summary of both (or none: one left from before would
        // be older than they are; record::summary)
        self.json_written = self.replace("status.json", &json)
            && self.replace(summary::NAME, &Summary::new(&r, self.m.status()).encode());
        if !self.json_written {
            let old = [&self.state[..], b"/", summary::NAME.as_bytes()].concat();
            let _ = nix::unistd::unlink(old.as_slice());
        }
        self.json_next = std::mem::replace(&mut self.json, json);
    }

    /// Whether `./run` can be contained now: sets up the cgroup on first
    /// use (saying once why not, when not), recreates it if it went away.
    fn cgroup_ready(&mut self) -> bool {
        if let Some(cg) = &self.cgroup {
            return match nix::unistd::mkdir(&cg.dir[..], Mode::from_bits_truncate(0o755)) {
                Ok(()) | Err(Errno::EEXIST) => true,
                Err(e) => {
                    self.warn("unable to recreate the cgroup of ", "", Some(e));
                    false
                }
            };
        }
        if self.cgroup_tried {
            return false;
        }
        self.cgroup_tried = true;
        match cgroup::setup() {
            Ok(cg) => {
                let left = cg.pids();
                if !left.is_empty() {
                    Line::new(PROG, "warning")
                        .s("killing ")
                        .s(&left.len().to_string())
                        .s(" processes left in ")
                        .b(&cg.dir)
                        .emit();
                    cg.kill_all();
                }
                self.cgroup = Some(cg);
                true
            }
            Err(why) => {
                let l = Line::new(PROG, "warning").b(self.dir).s("/cgroup: ");
                l.s(&why).s(": running without containment").emit();
                false
            }
        }
    }

    /// Forks and execs ./run, then sleeps one second with SIGCHLD blocked.
    fn start(&mut self) {
        let mut mode = StartMode {
            group: Files::flag("kill-group"),
            ..StartMode::default()
        };
        if Files::flag("cgroup") {
            mode.contained = self.cgroup_ready();
        }
        let procs = self.cgroup.as_ref().map(|c| c.procs.clone());
        let mut ready = self.prepare_readiness();
        mode.ready = ready.setup;
        match sys::fork() {
            Err(e) => {
                self.warn("unable to fork for ", ", sleeping 60 seconds", Some(e));
                self.flush_record();
                deepsleep(60);
                // Wake the loop so the retry logic runs.
                let _ = nix::unistd::write(&self.selfpipe_w, b"\0");
                self.m.start_failed();
            }
            Ok(ForkResult::Child) => {
                child_signals();
                if mode.group {
                    let _ = nix::unistd::setsid();
                }
                if mode.contained {
                    self.enter_cgroup(procs.as_deref());
                }
                self.child_readiness(&ready);
                let r = match Self::child_env(&ready) {
                    None => nix::unistd::execv(&self.run, &[&self.run]),
                    Some(env) => nix::unistd::execve(&self.run, &[&self.run], &env),
                };
                let e = match r {
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
                self.keep_pipe(ready.pipe.take());
                let now = self.now();
                let acts = self.m.started(child.as_raw() as u32, now, mode);
                self.perform(acts);
                self.flush_record();
                self.pause_after_start();
            }
        }
    }

    /// In the child: moves itself into the service's cgroup.
    fn enter_cgroup(&self, procs: Option<&std::ffi::CStr>) {
        let Some(procs) = procs else { return };
        let r = fsio::open_write(procs.to_bytes())
            .and_then(|fd| nix::unistd::write(&fd, b"0").map(drop));
        if let Err(e) = r {
            Line::new(PROG, "warning")
                .s("unable to enter ")
                .b(procs.to_bytes())
                .err(e)
                .emit();
        }
    }

    /// Forks a helper script (`./finish`, `./notify`, `./check`) as a
    /// session leader with `argv` and `env`; returns its pid. The record is
    /// brought up to date first; a `Gated` helper also waits, before its
    /// exec, until `finish_gate` is dropped (so `./finish` finds the record
    /// saying `finishing`, with its own pid).
    fn spawn_helper(
        &mut self,
        name: &str,
        argv: &[&[u8]],
        env: &[&[u8]],
        how: Helper,
    ) -> Option<u32> {
        self.flush_record();
        let path = format!("./{name}");
        let cmd = exec::Command::new(path.as_bytes(), argv, env, env);
        let gate = if how == Helper::Gated {
            fsio::pipe_coe(false).ok()
        } else {
            None
        };
        match sys::fork() {
            Err(e) => {
                self.warn("unable to fork for ", &format!("/{name}"), Some(e));
                None
            }
            Ok(ForkResult::Child) => {
                child_signals();
                let _ = nix::unistd::setsid();
                if let Some((r, w)) = gate {
                    drop(w);
                    // EOF once supervise drops its end
                    let _ = nix::unistd::read(&r, &mut [0u8; 1]);
                }
                if how == Helper::NoStdout
                    && let Ok(null) = fsio::open_write(b"/dev/null")
                {
                    let _ = sys::dup2(fsio::raw(&null), 1);
                }
                let e = cmd.exec();
                Line::new(PROG, "warning")
                    .s("unable to start ")
                    .b(self.dir)
                    .s("/")
                    .s(name)
                    .err(e)
                    .exit_child(127);
            }
            Ok(ForkResult::Parent { child }) => {
                if let Some((_, w)) = gate {
                    self.finish_gate = Some(w);
                }
                Some(child.as_raw() as u32)
            }
        }
    }

    /// `./finish CODE SIGNAL DIR` (s6's arguments).
    fn start_finish(&mut self, code: i32, signal: i32) {
        let limit = self.files.timeout_finish();
        let (code, signal) = (code.to_string(), signal.to_string());
        let argv: [&[u8]; 4] = [b"./finish", code.as_bytes(), signal.as_bytes(), self.dir];
        let env = sys::environ();
        if let Some(pid) = self.spawn_helper("finish", &argv, &env, Helper::Gated) {
            let now = self.now();
            self.m.finish_started(pid, now, limit);
        }
    }

    /// An event for `./notify`, if there is an executable one.
    fn notify(&mut self, ev: Event) {
        if !self.files.script("notify") {
            return;
        }
        let mut call = self.notifier.push(ev);
        while let Some((ev, coalesced)) = call {
            call = self.spawn_notify(ev, coalesced);
        }
    }

    /// Runs `./notify SCRIPT EVENT PID CODE` with NOTIFY_COALESCED set;
    /// returns the next call if the fork failed.
    fn spawn_notify(&mut self, ev: Event, coalesced: u32) -> Option<Call> {
        let limit = self.files.timeout_notify();
        let (pid, code) = (ev.pid.to_string(), ev.code.to_string());
        let argv: [&[u8]; 5] = [
            b"./notify",
            ev.script.name().as_bytes(),
            ev.kind.name().as_bytes(),
            pid.as_bytes(),
            code.as_bytes(),
        ];
        let changes = [format!("NOTIFY_COALESCED={coalesced}").into_bytes()];
        let env = exec::apply_env(&sys::environ(), &changes);
        match self.spawn_helper("notify", &argv, &env, Helper::Plain) {
            Some(child) => {
                let at = self.now().mono + u64::from(limit);
                self.notifier.spawned(child, at);
                None
            }
            None => self.notifier.ended(),
        }
    }

    fn perform(&mut self, actions: Actions) {
        for action in actions.iter() {
            match action {
                Action::Announce => self.announce(),
                Action::Kill(sig) => {
                    let pid = self.m.pid as i32;
                    kill(if self.m.mode.group { -pid } else { pid }, sig);
                }
                Action::Start => self.start(),
                Action::StartFinish { code, signal } => self.start_finish(code, signal),
                Action::KillFinish => {
                    self.warn("killing ", "/finish: timeout-finish reached", None);
                    kill_helper(self.m.finish_pid);
                }
                Action::KillCgroup => {
                    if let Some(cg) = &self.cgroup {
                        cg.kill_all();
                    }
                }
                Action::Notify(ev) => {
                    if ev.kind == Kind::Ready {
                        // ready again: a later problem is worth a warning
                        self.warned.clear();
                    }
                    self.notify(ev)
                }
                Action::Record => self.json_due |= self.status_written,
                Action::StartCheck => self.start_check(),
                Action::KillCheck(pid) => self.kill_check(pid),
                Action::WatchdogAbort => {
                    let now = self.now();
                    self.watchdog_abort(now);
                }
                Action::NotReady(e) => self.not_ready(e),
                Action::NotifyFinishStarted => {
                    if self.m.finish_pid != 0 {
                        self.notify(Event {
                            script: Script::Finish,
                            kind: Kind::Start,
                            pid: self.m.finish_pid,
                            code: 0,
                        });
                    }
                }
            }
        }
    }

    fn run_loop(&mut self) {
        self.announce();
        loop {
            if self.m.done() {
                return;
            }
            self.wait_for_event(true);
            self.drain_selfpipe();
            self.service_readiness();
            self.reap();
            if self.m.done() {
                return;
            }
            self.timers();
            let mut byte = [0u8; 1];
            if let Ok(1) = nix::unistd::read(&self.control_r, &mut byte) {
                self.control(byte[0]);
            }
        }
    }

    /// Acts on the deadlines that have passed.
    fn timers(&mut self) {
        let now = self.now();
        let acts = self.m.tick(now);
        self.perform(acts);
        if let Some(pid) = self.notifier.overdue(now.mono) {
            self.warn("killing ", "/notify: timeout-notify reached", None);
            kill_helper(pid);
        }
    }

    /// After the main loop: lets a running or pending `./notify` finish
    /// (each run within its limit).
    fn drain_notify(&mut self) {
        while self.notifier.busy() {
            self.wait_for_event(false);
            self.drain_selfpipe();
            self.reap();
            self.timers();
        }
    }

    /// Sleeps in poll(2) until a signal, a control byte (if `control`) or
    /// the next deadline.
    fn wait_for_event(&mut self, control: bool) {
        self.flush_record();
        self.runit_sync();
        let deadline = [self.m.deadline(), self.notifier.deadline()]
            .into_iter()
            .flatten()
            .min();
        // daemontools waits at most 1000.02 s when nothing is due.
        let ms = match deadline {
            None => 1_000_020,
            Some(d) => d.saturating_sub(self.now().mono).min(1_000_020),
        };
        let timeout = PollTimeout::try_from(ms as i32).unwrap_or(PollTimeout::MAX);
        block_sigchld(false);
        {
            let mut fds = vec![PollFd::new(self.selfpipe_r.as_fd(), PollFlags::POLLIN)];
            if control {
                fds.push(PollFd::new(self.control_r.as_fd(), PollFlags::POLLIN));
            }
            for fd in self.readiness_fds() {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
            }
            let _ = nix::poll::poll(&mut fds, timeout);
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

    /// Reaps every child that has ended: `./notify` runs, `./finish`, and
    /// `./run` (last); inherited children are ignored.
    fn reap(&mut self) {
        let mut run = None;
        loop {
            let st = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => break,
                Ok(st) => st,
                Err(Errno::EINTR) => continue,
                Err(_) => break,
            };
            let Some((pid, d)) = death(st) else { continue };
            if self.notifier.is(pid) {
                let mut call = self.notifier.ended();
                while let Some((ev, coalesced)) = call {
                    call = self.spawn_notify(ev, coalesced);
                }
            } else if pid != 0 && pid == self.m.finish_pid {
                let now = self.now();
                let acts = self.m.finish_ended(d, now);
                self.perform(acts);
            } else if pid != 0 && pid == self.m.ready.check_pid {
                let now = self.now();
                let acts = self.m.check_ended(d, now);
                self.perform(acts);
            } else if pid != 0 && pid == self.m.pid {
                run = Some(d);
            }
        }
        if let Some(d) = run {
            // s6: the notification pipe goes with the run
            self.ready_fd = None;
            let dir = AfterRun {
                finish: self.files.script("finish"),
                backoff: self.files.backoff(),
            };
            let now = self.now();
            let acts = self.m.run_ended(d, now, dir);
            self.perform(acts);
            // the record says `finishing`: let ./finish go. (Without
            // ./finish, nothing is written yet: a restart that follows at
            // once goes into the same write as the exit.)
            if self.finish_gate.is_some() {
                self.flush_record();
                self.finish_gate = None;
            }
        }
    }

    fn control(&mut self, byte: u8) {
        let now = self.now();
        let files = &mut self.files;
        let mut down_signal = None;
        let acts = self.m.control(byte, now, || {
            let signal = files.down_signal();
            down_signal = Some(signal);
            OnDown {
                signal,
                timeout_kill: files.timeout_kill(),
            }
        });
        // runit's "got TERM": TERM or the down signal went to ./run
        let stopping = acts.iter().any(|a| {
            matches!(a, Action::Kill(sig) if sig == Signal::SIGTERM || Some(sig) == down_signal)
        });
        if stopping && self.m.pid != 0 {
            self.term_pid = self.m.pid;
        }
        self.perform(acts);
    }
}
