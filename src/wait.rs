//! Waiting until services reach a state, without polling: the engine of
//! `svwait`, `svc -w...` and svcstart's readiness wait.
//!
//! Events: supervise replaces `status` and `status.json` by rename(2), so
//! an inotify watch on each state directory (IN_MOVED_TO) wakes us at
//! every transition; and we hold the write end of each `supervise/ok`
//! fifo, which poll(2) reports with POLLERR the moment its last reader —
//! supervise — is gone, however it died (0.76's supervise holds `ok` the
//! same way, so this works for it too). Between events the process sleeps
//! in poll(2). The state is read from `status.json` when supervise writes
//! one, else from 0.76's 18-byte `status`.
//!
//! The decisions (`judge`, `verdict`) are pure and unit-tested.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

use crate::fsio;
use crate::msg::Line;
use crate::record::{self, Sources, State};
use crate::svctl;
use crate::tai64::Tai64n;

/// What to wait for (s6-svwait's letters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// `u`: `./run` runs.
    Up,
    /// `U`: up and ready (up, for a service without readiness source).
    Ready,
    /// `d`: `./run` does not run (`./finish` may).
    Down,
    /// `D`: down and `./finish` done.
    Finished,
    /// `r`: down (or restarted) at some point, then up.
    Restarted,
    /// `R`: down at some point, then up and ready.
    RestartedReady,
}

impl Goal {
    pub fn from_letter(c: u8) -> Option<Goal> {
        Some(match c {
            b'u' => Goal::Up,
            b'U' => Goal::Ready,
            b'd' => Goal::Down,
            b'D' => Goal::Finished,
            b'r' => Goal::Restarted,
            b'R' => Goal::RestartedReady,
            _ => return None,
        })
    }

    /// The service must come up (a permanent failure then means it never
    /// will).
    fn wants_up(self) -> bool {
        !matches!(self, Goal::Down | Goal::Finished)
    }

    fn wants_ready(self) -> bool {
        matches!(self, Goal::Ready | Goal::RestartedReady)
    }
}

/// All of the services, or any one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quorum {
    All,
    Any,
}

/// One service at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// supervise runs (holds `supervise/ok`).
    pub live: bool,
    /// `./run`'s pid from the 18-byte status (0: down).
    pub pid: u32,
    /// The 18-byte status's stamp (changes at each start and end).
    pub stamp: Tai64n,
    pub record: Rec,
}

/// What `status.json` adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rec {
    /// No `status.json`: a supervise that writes none (0.76's).
    Missing,
    /// Present but not in step with `status` (caught between the two
    /// renames) or unreadable: only the 18-byte status is known.
    Unsettled,
    InStep {
        finishing: bool,
        ready: bool,
        /// The current run has readiness sources.
        sources: bool,
        /// When the last permanent failure was recorded.
        failed: Option<Tai64n>,
        starts: u64,
    },
}

/// Where a service stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pending,
    Reached,
    /// It failed permanently (`./finish` exited 125) while we waited for
    /// it to come up.
    Failed,
    /// Its supervise is gone and the state cannot be reached.
    Dead,
}

/// The end of a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Reached,
    /// This many services failed permanently (and no supervise died).
    Failed(usize),
    /// A supervise died (or did not run).
    Dead,
    TimedOut,
}

/// Whether the service went down (or was restarted) since `initial`: it
/// is down now, or its run is another one.
pub fn went_down(initial: &View, v: &View) -> bool {
    let starts = |r: &Rec| match r {
        Rec::InStep { starts, .. } => Some(*starts),
        _ => None,
    };
    let restarted =
        matches!((starts(&initial.record), starts(&v.record)), (Some(a), Some(b)) if b > a);
    v.pid == 0 || v.pid != initial.pid || v.stamp != initial.stamp || restarted
}

/// Where one service stands. `ready_means_up`: its directory has no
/// readiness source (or its supervise keeps no record), so "ready" is
/// "up"; `down_seen`: it went down since the wait began (for -r/-R).
pub fn judge(
    goal: Goal,
    ready_means_up: bool,
    initial: &View,
    down_seen: bool,
    v: &View,
) -> Outcome {
    let up = v.pid != 0;
    let (finishing, ready) = match &v.record {
        Rec::Missing => (Some(false), Some(true)),
        Rec::Unsettled => (None, None),
        Rec::InStep {
            finishing,
            ready,
            sources,
            ..
        } => (Some(*finishing), Some(*ready || !*sources)),
    };
    let ready = if ready_means_up { Some(true) } else { ready };
    let ready_up = match ready {
        Some(r) => Some(up && r),
        None if !up => Some(false),
        None => None,
    };
    let reached = match goal {
        Goal::Up => Some(up),
        Goal::Ready => ready_up,
        Goal::Down => Some(!up),
        Goal::Finished => finishing.map(|f| !up && !f),
        Goal::Restarted => Some(down_seen && up),
        Goal::RestartedReady => ready_up.map(|r| down_seen && r),
    };
    if !v.live {
        // the files are what supervise left: a service it left down stays
        // down; nothing else can be trusted
        let down_goal = matches!(goal, Goal::Down | Goal::Finished);
        return if down_goal && !up && reached != Some(false) {
            Outcome::Reached
        } else {
            Outcome::Dead
        };
    }
    if reached == Some(true) {
        return Outcome::Reached;
    }
    let failed = |r: &Rec| match r {
        Rec::InStep { failed, .. } => *failed,
        _ => None,
    };
    if goal.wants_up()
        && let Some(at) = failed(&v.record)
        && failed(&initial.record) != Some(at)
    {
        return Outcome::Failed;
    }
    Outcome::Pending
}

/// The end of the wait, if it has come: `All` needs every service to have
/// reached the state, `Any` one; when that can no longer happen and no
/// service is pending, a dead supervise or the number of permanent
/// failures.
pub fn verdict(quorum: Quorum, outcomes: &[Outcome]) -> Option<Verdict> {
    let count = |o: Outcome| outcomes.iter().filter(|&&x| x == o).count();
    let reached = count(Outcome::Reached);
    let done = match quorum {
        Quorum::All => reached == outcomes.len(),
        Quorum::Any => reached > 0,
    };
    if done {
        return Some(Verdict::Reached);
    }
    if count(Outcome::Pending) > 0 {
        return None;
    }
    if count(Outcome::Dead) > 0 {
        return Some(Verdict::Dead);
    }
    Some(Verdict::Failed(count(Outcome::Failed)))
}

/// A directory could not be watched (exit 111).
#[derive(Debug)]
pub struct SetupError;

/// One service being waited for.
struct Watch {
    /// The directory as named on the command line.
    name: Vec<u8>,
    dir: PathBuf,
    initial: View,
    current: View,
    down_seen: bool,
    ready_means_up: bool,
    /// The write end of `supervise/ok` while supervise holds it.
    ok: Option<OwnedFd>,
    outcome: Outcome,
}

/// How many times a pair of files caught between two renames is read
/// again at once before waiting for the next event.
const REREADS: usize = 3;

/// Reads the state of `dir`; Err: the status cannot be read.
fn read_view(dir: &Path) -> Result<View, Errno> {
    let mut last = None;
    for _ in 0..REREADS {
        let snap = record::read(dir).map_err(|p| match p {
            record::ReadProblem::Status(e) => e,
            record::ReadProblem::ShortStatus => Errno::EPROTO,
        })?;
        let rec = match (&snap.record, snap.in_step()) {
            (None, _) => Rec::Missing,
            (_, Some(r)) => Rec::InStep {
                finishing: r.state == State::Finishing,
                ready: r.ready.is_some(),
                sources: !r.ready_sources.is_empty(),
                failed: r.failed.map(|f| f.at),
                starts: r.starts,
            },
            (Some(_), None) => Rec::Unsettled,
        };
        let v = View {
            live: snap.live,
            pid: snap.status.pid,
            stamp: snap.status.stamp,
            record: rec,
        };
        if v.record != Rec::Unsettled {
            return Ok(v);
        }
        last = Some(v);
    }
    Ok(last.expect("read at least once"))
}

/// Whether the service directory has a readiness source: a
/// `notification-fd` or `notify-socket` file, an executable `check`.
pub fn has_source(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let check = std::fs::metadata(dir.join(Sources::CHECK))
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    check
        || dir.join(Sources::NOTIFICATION_FD).exists()
        || dir.join(Sources::NOTIFY_SOCKET).exists()
}

/// Raises the soft limit on open files to the hard one when `need`
/// descriptors would not fit (a wait on thousands of services).
fn room_for(need: u64) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < need
        && soft < hard
    {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// The waiter: every service's watch and the inotify descriptor.
pub struct Waiter {
    prog: &'static str,
    goal: Goal,
    quorum: Quorum,
    watches: Vec<Watch>,
    inotify: Option<Inotify>,
    by_wd: HashMap<WatchDescriptor, usize>,
}

impl Waiter {
    /// Sets up the watches (first the events, then the initial state, so
    /// no transition falls in between). Problems are said on stderr as
    /// `PROG: ...`; a directory whose status cannot be read is an error.
    /// For `U`/`R`, a directory without readiness source is waited for up,
    /// and said once.
    pub fn new(
        prog: &'static str,
        dirs: &[&[u8]],
        goal: Goal,
        quorum: Quorum,
    ) -> Result<Waiter, SetupError> {
        room_for(dirs.len() as u64 + 32);
        let inotify = match Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK) {
            Ok(i) => Some(i),
            Err(e) => {
                Line::new(prog, "warning")
                    .s("unable to use inotify, reading the status files every 100 ms")
                    .err(e)
                    .emit();
                None
            }
        };
        let mut w = Waiter {
            prog,
            goal,
            quorum,
            watches: Vec::with_capacity(dirs.len()),
            inotify,
            by_wd: HashMap::new(),
        };
        for &name in dirs {
            w.add(name)?;
        }
        Ok(w)
    }

    fn add(&mut self, name: &[u8]) -> Result<(), SetupError> {
        let dir = PathBuf::from(OsStr::from_bytes(name));
        let state = svctl::state_path(&dir);
        let fail = |what: &str, e: Errno| {
            Line::new(self.prog, "fatal")
                .s(what)
                .b(state.as_os_str().as_bytes())
                .err(e)
                .emit();
            SetupError
        };
        if let Some(ino) = &self.inotify {
            let flags = AddWatchFlags::IN_MOVED_TO
                | AddWatchFlags::IN_CLOSE_WRITE
                | AddWatchFlags::IN_DELETE_SELF
                | AddWatchFlags::IN_MOVE_SELF;
            match ino.add_watch(&state, flags) {
                Ok(wd) => {
                    self.by_wd.insert(wd, self.watches.len());
                }
                Err(e) => return Err(fail("unable to watch ", e)),
            }
        }
        let status = state.join("status");
        let initial = read_view(&dir).map_err(|e| {
            Line::new(self.prog, "fatal")
                .s("unable to read ")
                .b(status.as_os_str().as_bytes())
                .err(e)
                .emit();
            SetupError
        })?;
        // held from now on: supervise's death shows as POLLERR (opened
        // after the initial read, so holding it tells the wait is set up)
        let ok_path = state.join("ok");
        let ok = match fsio::open_write(ok_path.as_os_str().as_bytes()) {
            Ok(fd) => {
                let _ = fsio::coe(&fd);
                Some(fd)
            }
            Err(Errno::ENXIO) => None,
            Err(e) => return Err(fail("unable to open ok in ", e)),
        };
        let mut ready_means_up = false;
        if self.goal.wants_ready() {
            let why = if !has_source(&dir) {
                Some(" has no readiness source: waiting for up")
            } else if initial.record == Rec::Missing {
                Some(": its supervise records no readiness: waiting for up")
            } else {
                None
            };
            if let Some(why) = why {
                ready_means_up = true;
                Line::new(self.prog, "warning").b(name).s(why).emit();
            }
        }
        let live = ok.is_some() && initial.live;
        let mut current = initial.clone();
        current.live = live;
        self.watches.push(Watch {
            name: name.to_vec(),
            dir,
            initial: initial.clone(),
            down_seen: false,
            ready_means_up,
            ok: ok.filter(|_| live),
            outcome: Outcome::Pending,
            current,
        });
        let i = self.watches.len() - 1;
        self.judge(i);
        Ok(())
    }

    fn judge(&mut self, i: usize) {
        let w = &mut self.watches[i];
        if w.outcome == Outcome::Failed || w.outcome == Outcome::Dead {
            return; // those are final
        }
        w.down_seen |= went_down(&w.initial, &w.current);
        w.outcome = judge(
            self.goal,
            w.ready_means_up,
            &w.initial,
            w.down_seen,
            &w.current,
        );
    }

    /// Reads service `i` again.
    fn refresh(&mut self, i: usize) {
        let w = &mut self.watches[i];
        let live = w.ok.is_some();
        match read_view(&w.dir) {
            Ok(mut v) => {
                v.live &= live;
                w.current = v;
            }
            // the state directory went away: what was there is all we know
            Err(_) => w.current.live = false,
        }
        self.judge(i);
    }

    fn outcomes(&self) -> Vec<Outcome> {
        self.watches.iter().map(|w| w.outcome).collect()
    }

    /// Waits until the verdict, or until `limit` has passed (None: no
    /// limit). `tick`, if given, is called once a second (progress dots).
    pub fn wait(
        &mut self,
        limit: Option<Duration>,
        mut tick: Option<&mut dyn FnMut()>,
    ) -> Result<Verdict, Errno> {
        let start = Instant::now();
        let mut ticks = 0u64;
        loop {
            if let Some(v) = verdict(self.quorum, &self.outcomes()) {
                return Ok(v);
            }
            let elapsed = start.elapsed();
            if limit.is_some_and(|l| elapsed >= l) {
                return Ok(Verdict::TimedOut);
            }
            let mut ms: Option<u128> = limit.map(|l| (l - elapsed).as_millis() + 1);
            if tick.is_some() {
                let next = Duration::from_secs(ticks + 1).saturating_sub(elapsed);
                ms = Some(ms.map_or(next.as_millis() + 1, |m| m.min(next.as_millis() + 1)));
            }
            if self.inotify.is_none() {
                ms = Some(ms.map_or(100, |m| m.min(100)));
            }
            let timeout = match ms {
                None => PollTimeout::NONE,
                Some(m) => PollTimeout::try_from(m.min(i32::MAX as u128) as i32)
                    .unwrap_or(PollTimeout::MAX),
            };
            let (dirty, gone) = self.poll_once(timeout)?;
            for i in gone {
                self.watches[i].ok = None;
            }
            for i in dirty {
                self.refresh(i);
            }
            if let Some(t) = tick.as_deref_mut() {
                while start.elapsed() >= Duration::from_secs(ticks + 1) {
                    ticks += 1;
                    t();
                }
            }
        }
    }

    /// One poll(2): the services whose files changed, and those whose
    /// supervise is gone (they are to be read again too).
    fn poll_once(&mut self, timeout: PollTimeout) -> Result<(Vec<usize>, Vec<usize>), Errno> {
        let mut dirty = Vec::new();
        let mut gone = Vec::new();
        let held: Vec<usize> = (0..self.watches.len())
            .filter(|&i| self.watches[i].ok.is_some())
            .collect();
        {
            let mut fds: Vec<PollFd> = Vec::with_capacity(held.len() + 1);
            if let Some(ino) = &self.inotify {
                fds.push(PollFd::new(ino.as_fd(), PollFlags::POLLIN));
            }
            for &i in &held {
                let fd = self.watches[i].ok.as_ref().expect("held");
                fds.push(PollFd::new(fd.as_fd(), PollFlags::empty()));
            }
            match nix::poll::poll(&mut fds, timeout) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(e),
            }
            let skip = usize::from(self.inotify.is_some());
            for (k, &i) in held.iter().enumerate() {
                let ev = fds[skip + k].revents().unwrap_or(PollFlags::empty());
                if ev.intersects(PollFlags::POLLERR | PollFlags::POLLHUP | PollFlags::POLLNVAL) {
                    gone.push(i);
                    dirty.push(i);
                }
            }
        }
        match &self.inotify {
            None => dirty.extend(0..self.watches.len()),
            Some(ino) => loop {
                match ino.read_events() {
                    Ok(events) if !events.is_empty() => {
                        for e in events {
                            let name = e.name.as_ref().map(|n| n.as_bytes());
                            let ours = matches!(name, None | Some(b"status" | b"status.json"));
                            if let (true, Some(&i)) = (ours, self.by_wd.get(&e.wd)) {
                                dirty.push(i);
                            }
                        }
                    }
                    Ok(_) | Err(Errno::EAGAIN) => break,
                    Err(Errno::EINTR) => {}
                    Err(e) => return Err(e),
                }
            },
        }
        dirty.sort_unstable();
        dirty.dedup();
        Ok((dirty, gone))
    }

    /// Makes the end of this process quick for whoever waits for it: the
    /// last close of an inotify descriptor waits for an SRCU grace period
    /// (fsnotify's mark reaper), 2-25 ms on a loaded machine, and a
    /// process's exit closes its descriptors before its parent sees the
    /// exit. So a child forked now keeps a copy of the descriptor (and
    /// nothing else) until this process has exited (PR_SET_PDEATHSIG), and
    /// pays for the teardown then. Forked before the wait, not at its end,
    /// so the fork costs nothing when the state is reached. For programs
    /// that exit after the wait (svwait, svc -w).
    pub fn teardown_aside(&mut self) {
        use nix::unistd::{ForkResult, getpid, getppid};
        let Some(ino) = &self.inotify else {
            return;
        };
        let me = getpid();
        if let Ok(ForkResult::Child) = crate::sys::fork() {
            // nothing else: a caller reading our stdout, or any pipe we
            // inherited, sees its end when we exit
            let keep = ino.as_fd().as_raw_fd();
            let open: Vec<i32> = std::fs::read_dir("/proc/self/fd")
                .map(|d| {
                    d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                        .collect()
                })
                .unwrap_or_else(|_| vec![0, 1, 2]);
            for fd in open.into_iter().filter(|&fd| fd != keep) {
                let _ = nix::unistd::close(fd);
            }
            let dies = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
            if dies.is_ok() && getppid() == me {
                loop {
                    nix::unistd::pause();
                }
            }
            crate::sys::exit_now(0);
        }
    }

    /// The directories (as named) with the given outcome.
    pub fn with(&self, o: Outcome) -> Vec<&[u8]> {
        self.watches
            .iter()
            .filter(|w| w.outcome == o)
            .map(|w| w.name.as_slice())
            .collect()
    }

    /// Says on stderr why the wait ended without success (`PROG: fatal:
    /// ...` lines) — for the verdicts other than Reached.
    pub fn report(&self, v: Verdict) {
        match v {
            Verdict::Reached => {}
            Verdict::TimedOut => Line::new(self.prog, "fatal").s("timed out").emit(),
            Verdict::Dead | Verdict::Failed(_) => {
                for name in self.with(Outcome::Dead) {
                    Line::new(self.prog, "fatal")
                        .s("unable to wait for ")
                        .b(name)
                        .s(": supervise not running")
                        .emit();
                }
                for name in self.with(Outcome::Failed) {
                    Line::new(self.prog, "fatal")
                        .b(name)
                        .s(" failed permanently (finish exited 125)")
                        .emit();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(pid: u32, stamp: u64, rec: Rec) -> View {
        View {
            live: true,
            pid,
            stamp: Tai64n::from_unix(stamp as i64, 0),
            record: rec,
        }
    }

    fn rec(finishing: bool, ready: bool, sources: bool) -> Rec {
        Rec::InStep {
            finishing,
            ready,
            sources,
            failed: None,
            starts: 1,
        }
    }

    fn failed_at(secs: i64) -> Rec {
        Rec::InStep {
            finishing: false,
            ready: false,
            sources: false,
            failed: Some(Tai64n::from_unix(secs, 0)),
            starts: 1,
        }
    }

    use Outcome::*;

    #[test]
    fn up_down_finished() {
        let down = view(0, 1, rec(false, false, false));
        let up = view(5, 2, rec(false, false, false));
        let finishing = view(0, 3, rec(true, false, false));
        let j = |g, v: &View| judge(g, false, &down, false, v);
        assert_eq!(j(Goal::Up, &up), Reached);
        assert_eq!(j(Goal::Up, &down), Pending);
        assert_eq!(j(Goal::Down, &finishing), Reached);
        assert_eq!(j(Goal::Finished, &finishing), Pending);
        assert_eq!(j(Goal::Finished, &down), Reached);
        // 0.76's supervise: no finish, the status says it all
        let old_down = view(0, 3, Rec::Missing);
        assert_eq!(j(Goal::Finished, &old_down), Reached);
        assert_eq!(j(Goal::Up, &view(7, 4, Rec::Missing)), Reached);
    }

    #[test]
    fn ready_needs_the_record_to_say_so() {
        let init = view(0, 1, rec(false, false, false));
        let j = |means_up, v: &View| judge(Goal::Ready, means_up, &init, false, v);
        assert_eq!(j(false, &view(5, 2, rec(false, false, true))), Pending);
        assert_eq!(j(false, &view(5, 2, rec(false, true, true))), Reached);
        // a run without sources (started before the file appeared): up
        assert_eq!(j(false, &view(5, 2, rec(false, false, false))), Reached);
        // a directory without source: up
        assert_eq!(j(true, &view(5, 2, rec(false, false, true))), Reached);
        // files between two renames: not known yet, unless it is down
        assert_eq!(j(false, &view(5, 2, Rec::Unsettled)), Pending);
        assert_eq!(j(true, &view(5, 2, Rec::Unsettled)), Reached);
        assert_eq!(
            judge(Goal::Up, false, &init, false, &view(5, 2, Rec::Unsettled)),
            Reached
        );
        assert_eq!(
            judge(
                Goal::Finished,
                false,
                &init,
                false,
                &view(0, 2, Rec::Unsettled)
            ),
            Pending
        );
    }

    #[test]
    fn restarted_needs_a_down_first() {
        let up = view(5, 2, rec(false, true, true));
        // the initial run does not count
        assert!(!went_down(&up, &up));
        assert_eq!(judge(Goal::Restarted, false, &up, false, &up), Pending);
        // down, or another run (two transitions read at once)
        assert!(went_down(&up, &view(0, 3, rec(false, false, true))));
        let again = view(6, 4, rec(false, false, true));
        assert!(went_down(&up, &again));
        assert_eq!(judge(Goal::Restarted, false, &up, true, &again), Reached);
        assert_eq!(
            judge(Goal::RestartedReady, false, &up, true, &again),
            Pending
        );
        let ready = view(6, 4, rec(false, true, true));
        assert_eq!(
            judge(Goal::RestartedReady, false, &up, true, &ready),
            Reached
        );
        // same pid and stamp, but more starts (pid reused): restarted
        let mut more = up.clone();
        more.record = Rec::InStep {
            finishing: false,
            ready: true,
            sources: true,
            failed: None,
            starts: 2,
        };
        assert!(went_down(&up, &more));
    }

    #[test]
    fn a_new_permanent_failure_ends_a_wait_for_up() {
        let init = view(0, 1, failed_at(1));
        // the failure that was there before does not count
        assert_eq!(judge(Goal::Up, false, &init, false, &init), Pending);
        let again = view(0, 9, failed_at(9));
        assert_eq!(judge(Goal::Up, false, &init, false, &again), Failed);
        assert_eq!(judge(Goal::Ready, false, &init, false, &again), Failed);
        assert_eq!(judge(Goal::Restarted, false, &init, true, &again), Failed);
        // waiting for down: a failure is down
        assert_eq!(judge(Goal::Down, false, &init, false, &again), Reached);
    }

    #[test]
    fn a_dead_supervise() {
        let init = view(5, 1, rec(false, false, false));
        let mut up_left = init.clone();
        up_left.live = false;
        assert_eq!(judge(Goal::Up, false, &init, false, &up_left), Dead);
        assert_eq!(judge(Goal::Down, false, &init, false, &up_left), Dead);
        // it left the service down (svc -dx): down it is
        let mut down_left = view(0, 2, rec(false, false, false));
        down_left.live = false;
        assert_eq!(judge(Goal::Down, false, &init, false, &down_left), Reached);
        assert_eq!(
            judge(Goal::Finished, false, &init, false, &down_left),
            Reached
        );
        assert_eq!(judge(Goal::Up, false, &init, true, &down_left), Dead);
        // ./finish was running when it died: nobody will tell its end
        let mut fin = view(0, 2, rec(true, false, false));
        fin.live = false;
        assert_eq!(judge(Goal::Finished, false, &init, false, &fin), Dead);
    }

    #[test]
    fn verdicts() {
        assert_eq!(
            verdict(Quorum::All, &[Reached, Reached]),
            Some(Verdict::Reached)
        );
        assert_eq!(verdict(Quorum::All, &[Reached, Pending]), None);
        assert_eq!(
            verdict(Quorum::Any, &[Pending, Reached]),
            Some(Verdict::Reached)
        );
        assert_eq!(verdict(Quorum::Any, &[Pending, Failed]), None);
        // all settled without success: a dead supervise first, else the count
        assert_eq!(
            verdict(Quorum::All, &[Reached, Failed, Failed]),
            Some(Verdict::Failed(2))
        );
        assert_eq!(verdict(Quorum::All, &[Failed, Dead]), Some(Verdict::Dead));
        assert_eq!(
            verdict(Quorum::Any, &[Failed, Failed]),
            Some(Verdict::Failed(2))
        );
        // -a waits for the rest after a failure (the count is then complete)
        assert_eq!(verdict(Quorum::All, &[Failed, Pending]), None);
        assert_eq!(verdict(Quorum::All, &[]), Some(Verdict::Reached));
    }

    #[test]
    fn letters() {
        let all: Vec<_> = b"uUdDrR".iter().map(|&c| Goal::from_letter(c)).collect();
        assert!(all.iter().all(Option::is_some));
        assert_eq!(Goal::from_letter(b'x'), None);
        assert!(Goal::Ready.wants_ready() && !Goal::Up.wants_ready());
        assert!(!Goal::Down.wants_up() && Goal::Restarted.wants_up());
    }
}
