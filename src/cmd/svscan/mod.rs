//! `svscan [dir]`: start and watch a collection of services (daemontools
//! 0.76), plus three opt-in or invisible improvements:
//!
//! * instant pickup: besides the scan every 5 seconds, a change of the
//!   directory (inotify) or SIGALRM triggers a scan at once;
//! * self-logging: a `.svscan/log` service receives svscan's own output;
//! * `SVSCAN_TERM=shutdown`: SIGTERM stops the whole tree in order, without
//!   losing a log line, and then svscan exits 0.
//!
//! The scan itself (records keyed by device and inode, `log` decided once
//! per record, one pipe per logged service held open by svscan, dead
//! supervise processes restarted on the next scan, records dropped once
//! their directory is gone and both supervise processes are dead) follows
//! 0.76 step by step; only the 1000-record cap is gone.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::os::fd::{AsFd, AsRawFd, IntoRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::Signal;
use nix::sys::stat::{Mode, SFlag};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::{ForkResult, Pid};

use crate::exec;
use crate::fsio;
use crate::msg::{EXIT_TEMP, Line};
use crate::svctl;
use crate::sys::{self, Flag, StdFd};

mod init;
mod notify;
mod prefix;

use init::Role;

const PROG: &str = "svscan";
/// Time from the end of one periodic scan to the start of the next where
/// there is no inotify (0.76's scan), and the retry delay after a failure.
const PERIOD: Duration = Duration::from_secs(5);
/// After a directory change, wait until it has been quiet this long (so a
/// burst of links is one scan), but never longer than `SETTLE_MAX`.
const SETTLE: Duration = Duration::from_millis(10);
const SETTLE_MAX: Duration = Duration::from_millis(100);
/// The same for a directory made in place (mkdir in the scanned
/// directory): it is usually filled in afterwards (`run`, `log/`), and
/// whether a service has a log is decided when svscan first sees it.
const SETTLE_MKDIR: Duration = Duration::from_secs(1);
const SETTLE_MKDIR_MAX: Duration = Duration::from_secs(5);

/// A pending scan after directory changes: when the last change came, when
/// the first did, and whether one of them was a mkdir in place.
#[derive(Clone, Copy)]
struct Settle {
    last: Instant,
    first: Instant,
    mkdir: bool,
}

impl Settle {
    fn due(&self) -> Instant {
        let (quiet, max) = if self.mkdir {
            (SETTLE_MKDIR, SETTLE_MKDIR_MAX)
        } else {
            (SETTLE, SETTLE_MAX)
        };
        (self.last + quiet).min(self.first + max)
    }
}

/// What a wait for events saw.
enum Change {
    None,
    /// Entries appeared, went or were renamed (a symlink, a `mv`).
    Entries,
    /// A directory was created in place.
    Mkdir,
}
/// How long svscan waits, under systemd, for the supervise processes of
/// its first scan to be running before it reports itself ready anyway.
const SUPERVISED_LIMIT: Duration = Duration::from_secs(10);
/// Default time the opt-in shutdown gives services and loggers to finish.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

static ALRM: Flag = Flag::new();
static TERM: Flag = Flag::new();
/// The environment every supervise gets: svscan's, without
/// `NOTIFY_SOCKET` (that socket is svscan's own, under systemd).
static CHILD_ENV: std::sync::OnceLock<Vec<&'static [u8]>> = std::sync::OnceLock::new();
/// How many SIGTERM/SIGINT arrived: during the shutdown, each one after
/// the first cuts the current wait short.
static TERMS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
/// Set by anything that a later scan should retry: a warning (a dangling
/// link, a failed pipe or fork) or a supervise that died.
static FAILED: Flag = Flag::new();

extern "C" fn on_alrm(sig: libc::c_int) {
    ALRM.set();
    sys::selfpipe_handler(sig);
}

extern "C" fn on_term(sig: libc::c_int) {
    TERM.set();
    TERMS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    sys::selfpipe_handler(sig);
}

/// One service directory (0.76's per-service record).
struct Record {
    /// The name readdir gave in the latest scan that saw it.
    name: Vec<u8>,
    active: bool,
    /// The log pipe (read end, write end), when the record has a log.
    log: Option<(OwnedFd, OwnedFd)>,
    pid: i32,
    log_pid: i32,
    /// With `SVSCAN_REMOVED=stop`: the service directory, held open so
    /// that its supervise can still be reached once its name is gone.
    dirfd: Option<OwnedFd>,
    /// Being stopped because its name disappeared from the directory.
    stopping: bool,
    /// `SVSCAN_PREFIX_LOGS`: a service without `log/` whose pipe goes to
    /// the catch-all prefixer instead of a logger.
    prefixed: bool,
}

/// svscan's own logger (`.svscan/log`).
struct SelfLog {
    pipe_r: OwnedFd,
    /// svscan's copy of the write end (None once shutdown closed it).
    pipe_w: Option<OwnedFd>,
    pid: i32,
    /// Copies of the original fds 1 and 2, which the logger keeps.
    out: OwnedFd,
    err: OwnedFd,
}

struct Scanner {
    records: HashMap<(u64, u64), Record>,
    /// pid of a supervise → its record and whether it is the log one.
    pids: HashMap<i32, ((u64, u64), bool)>,
    selflog: Option<SelfLog>,
    selfpipe_r: OwnedFd,
    _selfpipe_w: OwnedFd,
    inotify: Option<Inotify>,
    /// The soft NOFILE limit svscan was started with; children get it back.
    nofile: Option<(u64, u64)>,
    /// `SVSCAN_REMOVED=stop`: a service whose name disappears is stopped.
    stop_removed: bool,
    /// The tree stop has begun: every service's pipe closes once its
    /// supervise is gone.
    closing: bool,
    /// `SVSCAN_PREFIX_LOGS=1`: the catch-all for services without `log/`.
    prefixer: Option<prefix::Prefixer>,
    /// The inotify watch on the main service's `supervise/` (container
    /// mode with `.svscan/main`), and whether it reported a change.
    main_watch: Option<nix::sys::inotify::WatchDescriptor>,
    main_changed: std::cell::Cell<bool>,
}

pub fn main(args: &[&[u8]]) -> i32 {
    if let Some(dir) = args.get(1)
        && let Err(e) = nix::unistd::chdir(*dir)
    {
        Line::new(PROG, "fatal")
            .s("unable to chdir to ")
            .b(dir)
            .err(e)
            .exit(EXIT_TEMP);
    }
    open_closed_stdio();
    let env = sys::environ();
    let knob = |name: &[u8]| exec::env_get(&env, name).is_some_and(|v| !v.is_empty());
    let no_timers = knob(b"SVSCAN_TEST_NO_PERIODIC");
    let notify_socket = exec::env_get(&env, b"NOTIFY_SOCKET").filter(|v| !v.is_empty());
    let _ = CHILD_ENV.set(
        env.iter()
            .copied()
            .filter(|e| !e.starts_with(b"NOTIFY_SOCKET="))
            .collect(),
    );
    let role = Role::detect(&env);
    role.set_up();
    // The machine's init never exits: SIGTERM keeps 0.76's meaning there.
    let shutdown_mode = role.container()
        || (role != Role::MachineInit && exec::env_get(&env, b"SVSCAN_TERM") == Some(b"shutdown"));
    let timeout = exec::env_get(&env, b"SVSCAN_SHUTDOWN_TIMEOUT")
        .and_then(crate::args::seconds)
        .unwrap_or(SHUTDOWN_TIMEOUT);

    let (selfpipe_r, selfpipe_w) = match fsio::pipe_coe(true) {
        Ok(p) => p,
        Err(e) => Line::new(PROG, "fatal")
            .s("unable to create self-pipe")
            .err(e)
            .exit(EXIT_TEMP),
    };
    sys::set_selfpipe(selfpipe_w.as_raw_fd());
    let _ = sys::catch(Signal::SIGCHLD, sys::selfpipe_handler);
    let _ = sys::catch(Signal::SIGALRM, on_alrm);
    if shutdown_mode {
        let _ = sys::catch(Signal::SIGTERM, on_term);
    }
    if role.container() {
        // docker stop sends TERM; Ctrl-C under `docker run -it`, INT
        let _ = sys::catch(Signal::SIGINT, on_term);
    }
    let inotify = if knob(b"SVSCAN_NO_INOTIFY") {
        None
    } else {
        watch_dir()
    };
    // The periodic scan: 0.76's 5 seconds without inotify; with inotify
    // only on request (SVSCAN_SCAN_INTERVAL seconds; 0 = none).
    let interval = match exec::env_get(&env, b"SVSCAN_SCAN_INTERVAL") {
        Some(v) => crate::args::seconds(v).filter(|d| !d.is_zero()),
        None if inotify.is_none() => Some(PERIOD),
        None => None,
    };
    let interval = interval.filter(|_| !no_timers);

    let mut sc = Scanner {
        records: HashMap::new(),
        pids: HashMap::new(),
        selflog: None,
        selfpipe_r,
        _selfpipe_w: selfpipe_w,
        inotify,
        nofile: raise_nofile(),
        stop_removed: exec::env_get(&env, b"SVSCAN_REMOVED") == Some(b"stop"),
        closing: false,
        prefixer: knob(b"SVSCAN_PREFIX_LOGS").then(prefix::Prefixer::new),
        main_watch: None,
        main_changed: std::cell::Cell::new(false),
    };
    sc.start_selflog();
    let mut main_service = None;
    if role.container() {
        if let Some(code @ 1..) = init::run_step("start") {
            init::run_step("finish");
            return code;
        }
        main_service = init::MainService::find(&env);
    }
    // the exit code when the main service ended the tree
    let mut main_code = None;

    // The next periodic scan, and the retry armed after a failure.
    let mut next_scan: Option<Instant> = None;
    let mut retry: Option<Instant> = None;
    let mut settle: Option<Settle> = None;
    let mut first = true;
    let mut notify_socket = notify_socket;
    loop {
        let now = Instant::now();
        let settled = settle.is_some_and(|s| now >= s.due());
        let due = |t: Option<Instant>| t.is_some_and(|t| now >= t);
        if first || ALRM.take() || settled || due(next_scan) || due(retry) {
            first = false;
            settle = None;
            FAILED.take();
            sc.scan();
            next_scan = interval.map(|p| Instant::now() + p);
            retry = None;
            if let Some(target) = notify_socket.take() {
                sc.wait_supervised(SUPERVISED_LIMIT);
                notify::send(target, b"READY=1\nSTATUS=all services supervised\n");
            }
        }
        if FAILED.take() && !no_timers {
            retry = retry.or(Some(Instant::now() + PERIOD));
        }
        if let Some(m) = main_service.as_mut() {
            sc.watch_main();
            if sc.main_changed.take() || sc.main_watch.is_none() {
                main_code = m.ended();
                if main_code.is_some() {
                    break;
                }
            }
        }
        if TERM.get() {
            break;
        }
        // An idle tree sleeps until something happens: inotify does the
        // pickup and SIGCHLD the reaping.
        // until the main service's supervise/ can be watched, look again
        // shortly
        let main_pending = (main_service.is_some() && sc.main_watch.is_none())
            .then(|| Instant::now() + Duration::from_millis(100));
        let deadline = [settle.map(|s| s.due()), next_scan, retry, main_pending]
            .into_iter()
            .flatten()
            .min();
        let change = sc.wait(deadline);
        if !matches!(change, Change::None) {
            let t = Instant::now();
            let mkdir = matches!(change, Change::Mkdir);
            settle = Some(match settle {
                Some(s) => Settle {
                    last: t,
                    first: s.first,
                    mkdir: s.mkdir || mkdir,
                },
                None => Settle {
                    last: t,
                    first: t,
                    mkdir,
                },
            });
        }
        sc.reap();
    }
    // asked to stop: the main service's failure, if it had failed already
    let stop_code = match (main_code, main_service.as_mut()) {
        (None, Some(m)) => Some(m.code_at_stop()).filter(|&c| c != 0),
        _ => None,
    };
    let code = sc.shutdown(timeout);
    match role {
        Role::Container { pid1 } => {
            init::end_leftovers(pid1, svctl::KILL_GRACE);
            init::run_step("finish");
            main_code.or(stop_code).unwrap_or(code)
        }
        _ => code,
    }
}

/// Opens /dev/null on any of fds 0–2 that is closed, so that no pipe or
/// directory ever gets one of those numbers (daemontools-encore does the
/// same; with the fds open, as always under svscanboot, nothing changes).
fn open_closed_stdio() {
    for std_fd in StdFd::ALL {
        let fd = std_fd.raw();
        if nix::fcntl::fcntl(std_fd, nix::fcntl::FcntlArg::F_GETFD) == Err(Errno::EBADF) {
            let flags = if fd == 0 {
                OFlag::O_RDONLY
            } else {
                OFlag::O_WRONLY
            };
            if let Ok(f) = nix::fcntl::open("/dev/null", flags, Mode::empty()) {
                if f.as_raw_fd() != fd {
                    let _ = sys::dup2(f.as_raw_fd(), fd);
                } else {
                    let _ = f.into_raw_fd(); // it is now fd 0, 1 or 2: keep it open
                }
            }
        }
    }
}

/// An inotify watch on the scanned directory for entries appearing,
/// disappearing or being renamed. None where inotify is unavailable: the
/// periodic scan then does all the work, as in 0.76.
fn watch_dir() -> Option<Inotify> {
    let ino = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok()?;
    let mask = AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_MOVED_FROM;
    ino.add_watch(".", mask).ok()?;
    Some(ino)
}

/// Raises svscan's own limit on open files as far as it may: to the
/// kernel's maximum (`/proc/sys/fs/nr_open`) when privileged, else the soft
/// limit to the hard one (each logged service costs svscan two
/// descriptors). Returns the original limits, which every child gets back
/// before it execs supervise.
fn raise_nofile() -> Option<(u64, u64)> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    let max = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(hard);
    if max > hard && setrlimit(Resource::RLIMIT_NOFILE, max, max).is_ok() {
        return Some((soft, hard));
    }
    if soft >= hard {
        return None;
    }
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).ok()?;
    Some((soft, hard))
}

/// `NAME/log` (or `NAME` + any suffix) as bytes.
fn join(name: &[u8], tail: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(name.len() + tail.len());
    v.extend_from_slice(name);
    v.extend_from_slice(tail);
    v
}

fn as_path(name: &[u8]) -> &Path {
    Path::new(std::ffi::OsStr::from_bytes(name))
}

fn warn(parts: &[&[u8]], e: Errno) {
    FAILED.set();
    let mut l = Line::new(PROG, "warning");
    for p in parts {
        l = l.b(p);
    }
    l.err(e).emit();
}

impl Scanner {
    /// Waits for a signal, a directory change or `deadline`, and says
    /// what changed in the directory.
    fn wait(&self, deadline: Option<Instant>) -> Change {
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                let ms = left.as_millis().min(i32::MAX as u128 - 1) as i32;
                // round up so the deadline has passed when poll returns
                PollTimeout::try_from(if left.is_zero() { 0 } else { ms + 1 })
                    .unwrap_or(PollTimeout::MAX)
            }
        };
        let readable = {
            let mut fds = vec![PollFd::new(self.selfpipe_r.as_fd(), PollFlags::POLLIN)];
            if let Some(ino) = &self.inotify {
                fds.push(PollFd::new(ino.as_fd(), PollFlags::POLLIN));
            }
            let _ = nix::poll::poll(&mut fds, timeout);
            fds.get(1)
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty())
        };
        let mut buf = [0u8; 64];
        while let Ok(n) = nix::unistd::read(&self.selfpipe_r, &mut buf) {
            if n == 0 {
                break;
            }
        }
        let mut change = Change::None;
        if let (true, Some(ino)) = (readable, &self.inotify) {
            while let Ok(events) = ino.read_events() {
                if events.is_empty() {
                    break;
                }
                for ev in events {
                    if self.main_watch.is_some_and(|w| w == ev.wd) {
                        self.main_changed.set(true);
                        continue;
                    }
                    let mkdir = ev.mask.contains(AddWatchFlags::IN_CREATE)
                        && ev.mask.contains(AddWatchFlags::IN_ISDIR);
                    let dot = ev
                        .name
                        .as_ref()
                        .is_some_and(|n| n.as_bytes().starts_with(b"."));
                    change = match change {
                        _ if dot => change,
                        Change::Mkdir => Change::Mkdir,
                        _ if mkdir => Change::Mkdir,
                        _ => Change::Entries,
                    };
                }
            }
        }
        change
    }

    /// Reaps every dead child at once (no zombies); a dead supervise is
    /// started again by the next scan, as in 0.76.
    fn reap(&mut self) {
        loop {
            let pid = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(st) => match st.pid() {
                    Some(p) => p.as_raw(),
                    None => return,
                },
                Err(Errno::EINTR) => continue,
                Err(_) => return,
            };
            if let Some((key, is_log)) = self.pids.remove(&pid) {
                FAILED.set();
                if let Some(r) = self.records.get_mut(&key) {
                    if is_log {
                        r.log_pid = 0;
                    } else {
                        r.pid = 0;
                        if r.stopping {
                            // a removed service is gone: its logger reads
                            // to the end of the pipe
                            r.log = None;
                        }
                    }
                }
            } else if let Some(sl) = self.selflog.as_mut().filter(|sl| sl.pid == pid) {
                FAILED.set();
                sl.pid = 0;
            } else if let Some(px) = self.prefixer.as_mut().filter(|px| px.pid == pid) {
                FAILED.set();
                px.died();
            }
        }
    }

    /// One scan (0.76 steps 2–6; reaping happens as children die).
    fn scan(&mut self) {
        self.reap();
        self.restart_selflog();
        self.restart_prefixer();
        for r in self.records.values_mut() {
            r.active = false;
        }
        let mut dir = match nix::dir::Dir::open(
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(d) => d,
            Err(e) => return warn(&[b"unable to read directory"], e),
        };
        let mut read_error = None;
        for entry in dir.iter() {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    read_error = Some(e);
                    break;
                }
            };
            let name = entry.file_name().to_bytes();
            if name.first() == Some(&b'.') {
                continue;
            }
            let name = name.to_vec();
            self.visit(name);
        }
        drop(dir);
        if let Some(e) = read_error {
            return warn(&[b"unable to read directory"], e);
        }
        if self.stop_removed {
            self.stop_removed_services();
        }
        // cleanup: records whose directory is gone and whose supervise
        // processes are both dead (dropping one closes its pipe)
        self.records
            .retain(|_, r| r.active || r.pid != 0 || r.log_pid != 0);
    }

    /// `SVSCAN_REMOVED=stop`: a service whose name is gone is stopped as
    /// the tree stop does it, losing no line: its logger gets `svc -ox`
    /// and the service `svc -dx`; once the service's supervise has exited
    /// svscan closes the log pipe (`close_finished_pipes`), the logger
    /// reads to the end and exits. The service directory is reached
    /// through the descriptor svscan holds, since its name may be gone.
    fn stop_removed_services(&mut self) {
        for r in self.records.values_mut() {
            if r.active || r.stopping || (r.pid == 0 && r.log_pid == 0) {
                continue;
            }
            let Some(fd) = r.dirfd.as_ref() else {
                continue;
            };
            r.stopping = true;
            let dir = format!("/proc/self/fd/{}", fd.as_raw_fd());
            let dir = Path::new(&dir);
            if r.log_pid != 0 {
                let _ = svctl::send(&dir.join("log"), b"ox");
            }
            if r.pid != 0
                && let Err(p) = svctl::send(dir, b"dx")
            {
                Line::new(PROG, "warning")
                    .s("unable to stop removed service ")
                    .b(&r.name)
                    .s(": ")
                    .s(p.text())
                    .emit();
            }
        }
        self.close_finished_pipes();
    }

    fn visit(&mut self, name: Vec<u8>) {
        let st = match nix::sys::stat::stat(name.as_slice()) {
            Ok(st) => st,
            Err(e) => return warn(&[b"unable to stat ", &name], e),
        };
        if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFDIR {
            return;
        }
        let key = (st.st_dev, st.st_ino);
        let nofile = self.nofile;
        let r = match self.records.entry(key) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                let mut log = None;
                let mut prefixed = false;
                if name.len() <= 255 {
                    let has_log = match nix::sys::stat::stat(join(&name, b"/log").as_slice()) {
                        Ok(_) => true,
                        Err(Errno::ENOENT) => false,
                        Err(e) => return warn(&[b"unable to stat ", &name, b"/log"], e),
                    };
                    prefixed = !has_log && self.prefixer.is_some();
                    if has_log || prefixed {
                        match fsio::pipe_coe(false) {
                            Ok(p) => log = Some(p),
                            Err(e) => return warn(&[b"unable to create pipe for ", &name], e),
                        }
                    }
                    if let (true, Some(px), Some((rd, _))) =
                        (prefixed, self.prefixer.as_mut(), &log)
                    {
                        px.add(&name, rd.as_raw_fd());
                    }
                }
                let dirfd = if self.stop_removed {
                    match fsio::open_read(&name) {
                        Ok(fd) => {
                            let _ = fsio::coe(&fd);
                            Some(fd)
                        }
                        Err(e) => return warn(&[b"unable to open ", &name], e),
                    }
                } else {
                    None
                };
                v.insert(Record {
                    name: Vec::new(),
                    active: false,
                    log,
                    pid: 0,
                    log_pid: 0,
                    dirfd,
                    stopping: false,
                    prefixed,
                })
            }
        };
        if r.stopping {
            // back while being stopped: a new record once the old
            // supervise processes are gone
            return;
        }
        r.active = true;
        r.name = name;
        if r.pid == 0 {
            let out = r.log.as_ref().map(|(_, w)| w.as_raw_fd());
            match spawn_supervise(&r.name, b"", out.map(|w| (w, 1)), nofile, None) {
                Ok(pid) => {
                    r.pid = pid;
                    self.pids.insert(pid, (key, false));
                }
                Err(()) => return,
            }
        }
        if r.log_pid == 0
            && !r.prefixed
            && let Some((rd, _)) = &r.log
        {
            let fd = rd.as_raw_fd();
            if let Ok(pid) = spawn_supervise(&r.name, b"/log", Some((fd, 0)), nofile, None) {
                r.log_pid = pid;
                self.pids.insert(pid, (key, true));
            }
        }
    }

    /// Starts `.svscan/log` when it exists and sends svscan's own fds 1 and
    /// 2 into its pipe.
    fn start_selflog(&mut self) {
        let is_dir = |p: &str| {
            nix::sys::stat::stat(p).is_ok_and(|st| {
                SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
            })
        };
        if !is_dir(".svscan") || nix::sys::stat::stat(".svscan/log").is_err() {
            return;
        }
        let dup = |fd: StdFd| {
            let d = nix::unistd::dup(fd)?;
            fsio::coe(&d)?;
            Ok::<OwnedFd, Errno>(d)
        };
        let (out, err) = match (dup(StdFd::OUT), dup(StdFd::ERR)) {
            (Ok(o), Ok(e)) => (o, e),
            (Err(e), _) | (_, Err(e)) => {
                return warn(&[b"unable to set up descriptors for .svscan/log"], e);
            }
        };
        let (pipe_r, pipe_w) = match fsio::pipe_coe(false) {
            Ok(p) => p,
            Err(e) => return warn(&[b"unable to create pipe for .svscan"], e),
        };
        let mut sl = SelfLog {
            pipe_r,
            pipe_w: Some(pipe_w),
            pid: 0,
            out,
            err,
        };
        let orig = (sl.out.as_raw_fd(), sl.err.as_raw_fd());
        if let Ok(pid) = spawn_supervise(
            b".svscan",
            b"/log",
            Some((sl.pipe_r.as_raw_fd(), 0)),
            self.nofile,
            Some(orig),
        ) {
            sl.pid = pid;
        }
        let w = pipe_w_raw(&sl);
        if let Err(e) = sys::dup2(w, 1).and_then(|()| sys::dup2(w, 2)) {
            warn(&[b"unable to set up descriptors for .svscan"], e);
        }
        self.selflog = Some(sl);
    }

    /// Starts the catch-all prefixer when there is none (at start-up, or
    /// after it died) with every prefixed service's pipe.
    fn restart_prefixer(&mut self) {
        let Some(px) = self.prefixer.as_mut() else {
            return;
        };
        if px.pid != 0 {
            return;
        }
        let streams = self
            .records
            .values()
            .filter(|r| r.prefixed)
            .filter_map(|r| {
                r.log
                    .as_ref()
                    .map(|(rd, _)| (r.name.as_slice(), rd.as_raw_fd()))
            });
        px.start(streams);
    }

    fn restart_selflog(&mut self) {
        let nofile = self.nofile;
        if let Some(sl) = self.selflog.as_mut()
            && sl.pid == 0
        {
            let orig = (sl.out.as_raw_fd(), sl.err.as_raw_fd());
            if let Ok(pid) = spawn_supervise(
                b".svscan",
                b"/log",
                Some((sl.pipe_r.as_raw_fd(), 0)),
                nofile,
                Some(orig),
            ) {
                sl.pid = pid;
            }
        }
    }

    /// The opt-in orderly shutdown (`SVSCAN_TERM=shutdown`, on SIGTERM):
    /// loggers are told to exit at the end of their input (`svc -ox`),
    /// each service runs its `./shutdown` hook and gets `svc -dx`; once a
    /// service's supervise has exited, svscan closes its ends of the log
    /// pipe, so the logger reads to the end and exits. Services still up
    /// after the timeout are killed; loggers whose input is still held open
    /// (by a stray process) are stopped. svscan's own logger goes last.
    /// Exit 0 when every supervise is gone, 111 otherwise.
    fn shutdown(mut self, timeout: Duration) -> i32 {
        self.closing = true;
        self.reap();
        svctl::stop_tree(&mut self, PROG, timeout);
        let mut ok = self.records.values().all(|r| r.pid == 0 && r.log_pid == 0);
        if let Some(px) = self.prefixer.as_mut() {
            // no more streams; the catch-all exits once it has written
            // everything the stopped services wrote
            px.finish();
            let gone = |sc: &mut Scanner| sc.prefixer.as_ref().is_none_or(|p| p.pid == 0);
            ok &= self.wait_for(timeout, gone);
        }
        if let Some(sl) = self.selflog.as_mut() {
            // svscan's fds 1 and 2 are the last writers svscan holds
            let _ = sys::dup2(sl.out.as_raw_fd(), 1);
            let _ = sys::dup2(sl.err.as_raw_fd(), 2);
            sl.pipe_w = None;
            if sl.pid != 0 {
                let _ = svctl::send(Path::new(".svscan/log"), b"ox");
            }
            let gone = |sc: &mut Scanner| sc.selflog.as_ref().is_none_or(|s| s.pid == 0);
            if !self.wait_for(timeout, gone) {
                let _ = svctl::send(Path::new(".svscan/log"), b"dx");
                ok &= self.wait_for(svctl::KILL_GRACE, gone);
            }
        }
        if ok { 0 } else { EXIT_TEMP }
    }

    /// Watches the main service's `supervise/` for a new record (once the
    /// directory exists). Without inotify the main service is checked at
    /// every wake-up instead.
    fn watch_main(&mut self) {
        if self.main_watch.is_some() {
            return;
        }
        if let Some(ino) = &self.inotify {
            let dir = svctl::state_path(Path::new(init::MAIN));
            if let Ok(wd) = ino.add_watch(&dir, AddWatchFlags::IN_MOVED_TO) {
                self.main_watch = Some(wd);
                // a change may have come before the watch
                self.main_changed.set(true);
            }
        }
    }

    /// Waits (reaping) until every supervise started so far has its
    /// `supervise/ok` fifo open (what svok tests), or `limit` passes.
    fn wait_supervised(&mut self, limit: Duration) {
        let mut dirs: Vec<Vec<u8>> = Vec::new();
        for r in self.records.values() {
            if r.pid != 0 {
                dirs.push(r.name.clone());
            }
            if r.log_pid != 0 {
                dirs.push(join(&r.name, b"/log"));
            }
        }
        self.wait_for(limit, |_| {
            dirs.retain(|d| !svctl::running(as_path(d)));
            dirs.is_empty()
        });
    }

    /// Closes svscan's ends of the log pipe of every service whose
    /// supervise has exited, so that its logger sees the end of input.
    fn close_finished_pipes(&mut self) {
        let all = self.closing;
        for r in self.records.values_mut() {
            if r.pid == 0 && (all || r.stopping) {
                r.log = None;
            }
        }
    }

    /// Reaps until `cond` holds or `limit` passes; true if it holds.
    /// Another SIGTERM or SIGINT cuts the wait short.
    fn wait_for(&mut self, limit: Duration, mut cond: impl FnMut(&mut Scanner) -> bool) -> bool {
        let end = Instant::now() + limit;
        let terms = TERMS.load(std::sync::atomic::Ordering::SeqCst);
        loop {
            self.reap();
            if cond(self) {
                return true;
            }
            if Instant::now() >= end || TERMS.load(std::sync::atomic::Ordering::SeqCst) != terms {
                return false;
            }
            self.wait(Some(end.min(Instant::now() + Duration::from_millis(200))));
        }
    }
}

/// The tree seen by its owner: a supervise runs while its record has a
/// pid; a service's log pipe is closed once its supervise is gone, so that
/// the logger reads to the end of its input.
impl svctl::StopTree for Scanner {
    fn left(&mut self, logs: bool) -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = self
            .records
            .values()
            .filter(|r| if logs { r.log_pid != 0 } else { r.pid != 0 })
            .map(|r| {
                let name = if logs {
                    join(&r.name, b"/log")
                } else {
                    r.name.clone()
                };
                as_path(&name).to_path_buf()
            })
            .collect();
        v.sort();
        v
    }

    fn wait_empty(&mut self, logs: bool, limit: Duration) -> bool {
        self.wait_for(limit, |sc| {
            sc.close_finished_pipes();
            sc.records
                .values()
                .all(|r| if logs { r.log_pid == 0 } else { r.pid == 0 })
        })
    }
}

fn pipe_w_raw(sl: &SelfLog) -> i32 {
    sl.pipe_w.as_ref().map_or(-1, |w| w.as_raw_fd())
}

/// Forks and execs `supervise` for `NAME` (tail empty) or `NAME/log` (tail
/// `/log`: the child first changes to NAME and runs `supervise log`), with
/// `fd.0` copied onto descriptor `fd.1` (the log pipe), svscan's original
/// NOFILE limit restored and, for svscan's own logger, the original fds 1
/// and 2 put back. Messages and exit codes as 0.76.
fn spawn_supervise(
    name: &[u8],
    tail: &[u8],
    fd: Option<(i32, i32)>,
    nofile: Option<(u64, u64)>,
    stdio: Option<(i32, i32)>,
) -> Result<i32, ()> {
    let is_log = !tail.is_empty();
    let arg: &[u8] = if is_log { b"log" } else { name };
    let env = CHILD_ENV.get().map_or_else(sys::environ, Vec::clone);
    let argv: [&[u8]; 2] = [b"supervise", arg];
    let cmd = exec::Command::new(b"supervise", &argv, &env, &env);
    let full = join(name, tail);
    match sys::fork() {
        Err(e) => {
            warn(&[b"unable to fork for ", &full], e);
            Err(())
        }
        Ok(ForkResult::Parent { child }) => Ok(child.as_raw()),
        Ok(ForkResult::Child) => {
            let child_fail = |what: &[u8], e: Errno| -> ! {
                Line::new(PROG, "warning")
                    .b(what)
                    .b(&full)
                    .err(e)
                    .exit_child(EXIT_TEMP)
            };
            for sig in [
                Signal::SIGCHLD,
                Signal::SIGALRM,
                Signal::SIGTERM,
                Signal::SIGINT,
            ] {
                let _ = sys::uncatch(sig);
            }
            if let Some((o, e)) = stdio
                && let Err(err) = sys::dup2(o, 1).and_then(|()| sys::dup2(e, 2))
            {
                child_fail(b"unable to set up descriptors for ", err);
            }
            if let Some((from, to)) = fd
                && let Err(e) = sys::dup2(from, to)
            {
                child_fail(b"unable to set up descriptors for ", e);
            }
            if let Some((soft, hard)) = nofile {
                let _ = setrlimit(Resource::RLIMIT_NOFILE, soft, hard);
            }
            if is_log && let Err(e) = nix::unistd::chdir(name) {
                Line::new(PROG, "warning")
                    .s("unable to switch to ")
                    .b(name)
                    .err(e)
                    .exit_child(EXIT_TEMP);
            }
            let e = cmd.exec();
            child_fail(b"unable to start supervise ", e)
        }
    }
}
