//! svscan on temp trees: new directories and symlinks are picked up, each
//! logged service gets a pipe to its logger that survives a killed logger,
//! dead supervise processes come back, dot names and non-directories are
//! skipped, `.svscan/log` gets svscan's own output, instant pickup through
//! inotify and SIGALRM (and its absence when those are disabled), identity
//! by device and inode, and no 1000-service cap. Messages are compared with
//! the reference `/usr/bin/svscan` where it is installed.
//!
//! Every tree runs in its own process group (svscan is the leader, nothing
//! below it calls setsid); on drop svscan is killed first, then every
//! supervise of the group, then whatever is left (services), all by PID.

use crate::support;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::scan::{comm, end_group};
use crate::support::{LONG, Proc, wait_until};

const GHOST_WARNING: &str = "svscan: warning: unable to stat ghost: file does not exist";

// ---------------------------------------------------------------- /proc --

fn cmdline(pid: i32) -> Vec<String> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn cwd(pid: i32) -> Option<PathBuf> {
    fs::read_link(format!("/proc/{pid}/cwd")).ok()
}

/// What descriptor `fd` of `pid` is (e.g. `pipe:[1234]`).
fn fd_target(pid: i32, fd: i32) -> String {
    fs::read_link(format!("/proc/{pid}/fd/{fd}"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The pid a status file records (0 if none).
fn status_pid(path: &Path) -> i32 {
    support::svdir::status_pid(path) as i32
}

/// The pid of the service a status file records, once there is one.
fn wait_status_pid(path: &Path) -> i32 {
    support::svdir::wait_status_pid(path) as i32
}

// ---------------------------------------------------------------- trees --

/// A scan directory `root/service` with an svscan on it whose stdout and
/// stderr go to `root/svscan.out`.
struct Tree {
    tmp: tempfile::TempDir,
    dir: PathBuf,
    scan: Option<Proc>,
}

impl Tree {
    fn new() -> Tree {
        let tmp = support::tempdir();
        let dir = tmp.path().join("service");
        fs::create_dir(&dir).unwrap();
        Tree {
            tmp,
            dir,
            scan: None,
        }
    }

    fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// Starts `prog` (our svscan by default) on the tree with `env` added.
    fn start_with(&mut self, prog: &Path, env: &[(&str, &str)]) {
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root().join("svscan.out"))
            .unwrap();
        let err = out.try_clone().unwrap();
        let p = support::spawn(prog, &[self.dir.to_str().unwrap()], self.root(), |c| {
            c.stdout(Stdio::from(out)).stderr(Stdio::from(err));
            c.envs(env.iter().copied());
        });
        self.scan = Some(p);
    }

    fn start(&mut self, env: &[(&str, &str)]) {
        self.start_with(&support::bin("svscan"), env);
    }

    fn pid(&self) -> i32 {
        self.scan.as_ref().unwrap().pid()
    }

    fn alrm(&self) {
        support::send_signal(self.pid(), libc::SIGALRM);
    }

    /// Writes `run` (and `log/run`) into directory `at`.
    fn build(&self, at: &Path, run: &str, log_run: Option<&str>) {
        support::script(&at.join("run"), run);
        if let Some(l) = log_run {
            support::script(&at.join("log/run"), l);
        }
    }

    /// Adds service NAME atomically: built aside, then renamed in.
    fn add(&self, name: &str, run: &str, log_run: Option<&str>) {
        let staging = self.root().join("staging").join(name);
        self.build(&staging, run, log_run);
        fs::rename(&staging, self.dir.join(name)).unwrap();
    }

    /// Adds service NAME as a symlink to a directory outside the tree.
    fn add_link(&self, name: &str, run: &str, log_run: Option<&str>) {
        let target = self.root().join("elsewhere").join(name);
        self.build(&target, run, log_run);
        symlink(&target, self.dir.join(name)).unwrap();
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    fn svok(&self, name: &str) -> bool {
        support::run(support::bin("svok"), &[name], &self.dir)
            .status
            .code()
            == Some(0)
    }

    fn wait_svok(&self, name: &str, limit: Duration) -> bool {
        wait_until(limit, || self.svok(name))
    }

    /// svscan's own stdout and stderr so far.
    fn output(&self) -> String {
        fs::read_to_string(self.root().join("svscan.out")).unwrap_or_default()
    }

    fn count_lines(&self, line: &str) -> usize {
        self.output().lines().filter(|l| *l == line).count()
    }

    /// Children of svscan with their argv.
    fn kids(&self) -> Vec<(i32, Vec<String>)> {
        support::procs_with(1, self.pid())
            .into_iter()
            .map(|p| (p, cmdline(p)))
            .collect()
    }

    /// The main supervise of NAME (`supervise NAME`, a child of svscan).
    fn supervise_of(&self, name: &str) -> Option<i32> {
        self.kids()
            .into_iter()
            .find(|(_, a)| a.len() == 2 && a[0] == "supervise" && a[1] == name)
            .map(|(p, _)| p)
    }

    /// The log supervise of NAME (`supervise log`, started in NAME).
    fn log_supervise_of(&self, name: &str) -> Option<i32> {
        // supervise itself changes to `log`
        let want = fs::canonicalize(self.path(name).join("log")).ok()?;
        self.kids()
            .into_iter()
            .find(|(p, a)| {
                a.len() == 2
                    && a[0] == "supervise"
                    && a[1] == "log"
                    && cwd(*p) == Some(want.clone())
            })
            .map(|(p, _)| p)
    }

    /// Makes sure at least one complete scan started after this call (the
    /// tree must hold the dangling link `ghost`: each scan warns about it
    /// once). The warning that makes the count reach c+2 comes from a scan
    /// that started after this call; the one reaching c+3 from a scan that
    /// started after that scan ended.
    fn full_scan(&self) {
        let c = self.count_lines(GHOST_WARNING);
        assert!(
            wait_until(LONG, || {
                self.alrm();
                std::thread::sleep(Duration::from_millis(30));
                self.count_lines(GHOST_WARNING) >= c + 3
            }),
            "svscan did not scan again: {}",
            self.output()
        );
    }

    fn ghost(&self) {
        symlink(self.root().join("nowhere"), self.path("ghost")).unwrap();
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        if let Some(p) = self.scan.take() {
            let pgid = p.pid();
            drop(p); // SIGKILL svscan by PID and reap it
            end_group(pgid, &[]);
        }
    }
}

const SLEEPER: &str = "#!/bin/sh\nexec sleep 100000\n";
const CAT_LOG: &str = "#!/bin/sh\nexec cat >> out\n";

/// Complete lines of a file (a partial last line is left out).
fn complete_lines(path: &Path) -> Vec<String> {
    let s = fs::read_to_string(path).unwrap_or_default();
    let end = s.rfind('\n').map_or(0, |i| i + 1);
    s[..end].lines().map(str::to_string).collect()
}

// ---------------------------------------------------------------- tests --

/// A directory renamed into the tree and, separately, a symlink to a
/// service directory elsewhere are both picked up; service and logger run
/// with one pipe between them and the service's lines reach the log.
#[test]
fn new_dir_and_symlink_are_picked_up_with_a_log_pipe() {
    let mut t = Tree::new();
    t.start(&[]);
    let run =
        |who: &str| format!("#!/bin/sh\nexec 2>&1\necho hello from {who}\nexec sleep 100000\n");
    t.add("a", &run("a"), Some(CAT_LOG));
    assert!(t.wait_svok("a", LONG), "a not picked up: {}", t.output());
    t.add_link("lnk", &run("lnk"), Some(CAT_LOG));
    assert!(
        t.wait_svok("lnk", LONG),
        "lnk not picked up: {}",
        t.output()
    );
    for name in ["a", "lnk"] {
        assert!(
            t.wait_svok(&format!("{name}/log"), LONG),
            "{name}/log not up"
        );
        let out = t.path(&format!("{name}/log/out"));
        assert!(
            wait_until(LONG, || fs::read_to_string(&out)
                .is_ok_and(|s| s == format!("hello from {name}\n"))),
            "{name}: log has {:?}",
            fs::read_to_string(&out)
        );
        // the service's stdout is the logger's stdin: the same pipe
        let svc = status_pid(&t.path(&format!("{name}/supervise/status")));
        let log = status_pid(&t.path(&format!("{name}/log/supervise/status")));
        assert!(svc > 0 && log > 0);
        let w = fd_target(svc, 1);
        assert!(w.starts_with("pipe:"), "{name}: service fd 1 is {w}");
        assert_eq!(w, fd_target(log, 0), "{name}: not the same pipe");
        assert!(t.supervise_of(name).is_some());
        assert!(t.log_supervise_of(name).is_some());
    }
    // the symlinked service's state lives in the target directory
    assert!(t.root().join("elsewhere/lnk/supervise/status").exists());
    assert_eq!(t.kids().len(), 4, "{:?}", t.kids());
}

/// Numbered lines; the logger is killed with SIGKILL while idle and its
/// `run` waits for a `go` file before reading again, given only once the
/// service has written into the pipe with nobody reading. Every number
/// arrives exactly once, in order, through the same pipe.
#[test]
fn killing_the_logger_loses_no_line() {
    let mut t = Tree::new();
    t.start(&[]);
    let run = "#!/bin/sh\n\
        i=0\n\
        while :; do\n\
          if [ -e pause ]; then echo $i > paused.tmp; mv paused.tmp paused; sleep 0.05; continue; fi\n\
          i=$((i+1))\n\
          echo $i\n\
          echo $i > count\n\
          sleep 0.01\n\
        done\n";
    t.add(
        "n",
        run,
        Some("#!/bin/sh\nwhile [ ! -e ../go ]; do sleep 0.05; done\nexec cat >> out\n"),
    );
    fs::write(t.path("n/go"), "").unwrap();
    let out = t.path("n/log/out");
    assert!(
        wait_until(LONG, || complete_lines(&out).len() >= 30),
        "no lines in the log: {}",
        t.output()
    );
    // pause the writer and let the logger catch up: then it holds nothing
    fs::write(t.path("n/pause"), "").unwrap();
    let mut paused = 0usize;
    assert!(wait_until(LONG, || {
        paused = fs::read_to_string(t.path("n/paused"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        paused > 0
    }));
    assert!(
        wait_until(LONG, || complete_lines(&out).last()
            == Some(&paused.to_string())),
        "logger did not catch up with {paused}"
    );
    let svc = status_pid(&t.path("n/supervise/status"));
    let logger = status_pid(&t.path("n/log/supervise/status"));
    assert_eq!(comm(logger), "cat");
    let pipe = fd_target(logger, 0);
    assert!(pipe.starts_with("pipe:"));
    assert_eq!(fd_target(svc, 1), pipe);

    fs::remove_file(t.path("n/go")).unwrap();
    support::send_signal(logger, 9);
    fs::remove_file(t.path("n/pause")).unwrap();
    // supervise restarts the logger, whose run waits for `go`; meanwhile
    // the service writes into the pipe with nobody reading
    let count = || -> usize {
        fs::read_to_string(t.path("n/count"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    };
    assert!(
        wait_until(LONG, || count() > paused + 10),
        "the service wrote nothing while the logger was down"
    );
    let written_meanwhile = count();
    fs::write(t.path("n/go"), "").unwrap();
    let mut new = 0;
    assert!(
        wait_until(LONG, || {
            new = status_pid(&t.path("n/log/supervise/status"));
            new != 0 && new != logger && comm(new) == "cat"
        }),
        "logger not restarted"
    );
    assert_eq!(fd_target(new, 0), pipe, "the logger got another pipe");
    assert_eq!(status_pid(&t.path("n/supervise/status")), svc);
    assert!(
        wait_until(LONG, || complete_lines(&out).len() > written_meanwhile + 10),
        "log stuck at {} lines",
        complete_lines(&out).len()
    );
    let lines = complete_lines(&out);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(
            l,
            &(i + 1).to_string(),
            "line {} of the log is wrong",
            i + 1
        );
    }
}

/// A killed main supervise is started again at the next scan, which
/// SIGALRM triggers (periodic scans are off); the new service writes into
/// the same log pipe.
#[test]
fn killed_supervise_is_restarted_on_sigalrm() {
    let mut t = Tree::new();
    t.start(&[("SVSCAN_TEST_NO_PERIODIC", "1")]);
    t.add("k", SLEEPER, Some(CAT_LOG));
    assert!(t.wait_svok("k", LONG) && t.wait_svok("k/log", LONG));
    let sup = t.supervise_of("k").expect("supervise k");
    let svc = wait_status_pid(&t.path("k/supervise/status"));
    let pipe = fd_target(svc, 1);
    support::send_signal(sup, 9);
    // its service lives on as an orphan; end it so the new one is alone
    support::send_signal(svc, 9);
    assert!(wait_until(LONG, || !t.svok("k")));
    t.alrm();
    let mut new = None;
    assert!(
        wait_until(LONG, || {
            new = t.supervise_of("k").filter(|&p| p != sup);
            new.is_some() && t.svok("k")
        }),
        "supervise k not restarted: {:?}",
        t.kids()
    );
    let mut svc2 = 0;
    assert!(wait_until(LONG, || {
        svc2 = status_pid(&t.path("k/supervise/status"));
        svc2 != 0 && svc2 != svc && comm(svc2) == "sleep"
    }));
    assert_eq!(
        fd_target(svc2, 1),
        pipe,
        "the restarted service got another pipe"
    );
    assert_eq!(t.kids().len(), 2, "{:?}", t.kids());
}

/// A killed log supervise is started again by the periodic scan alone
/// (inotify off; within about 5 s) and gets the same pipe.
#[test]
fn killed_log_supervise_is_restarted_by_the_periodic_scan() {
    let mut t = Tree::new();
    t.add("k", SLEEPER, Some(CAT_LOG));
    t.start(&[("SVSCAN_NO_INOTIFY", "1")]);
    assert!(t.wait_svok("k", LONG) && t.wait_svok("k/log", LONG));
    let sup = t.log_supervise_of("k").expect("log supervise");
    let logger = wait_status_pid(&t.path("k/log/supervise/status"));
    let pipe = fd_target(logger, 0);
    support::send_signal(sup, 9);
    support::send_signal(logger, 9);
    let killed = Instant::now();
    let mut new = None;
    assert!(
        wait_until(Duration::from_secs(9), || {
            new = t.log_supervise_of("k").filter(|&p| p != sup);
            new.is_some() && t.svok("k/log")
        }),
        "log supervise not restarted: {:?}",
        t.kids()
    );
    eprintln!("log supervise back after {:?}", killed.elapsed());
    let mut l2 = 0;
    assert!(wait_until(LONG, || {
        l2 = status_pid(&t.path("k/log/supervise/status"));
        l2 != 0 && l2 != logger && comm(l2) == "cat"
    }));
    assert_eq!(fd_target(l2, 0), pipe);
}

/// Dot directories and non-directories are skipped silently; a dangling
/// symlink is warned about at every scan and nothing else is said.
#[test]
fn dot_dirs_and_non_directories_are_ignored() {
    let mut t = Tree::new();
    let marker = t.root().join("hidden-ran");
    let hidden_run = format!(
        "#!/bin/sh\necho x > {}\nexec sleep 100000\n",
        marker.display()
    );
    support::script(&t.path(".hidden/run"), &hidden_run);
    support::script(&t.path(".hidden/log/run"), CAT_LOG);
    fs::write(t.path("file"), "not a service\n").unwrap();
    symlink(t.path("file"), t.path("tofile")).unwrap();
    nix::unistd::mkfifo(
        &t.path("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    t.ghost();
    t.add("good", SLEEPER, None);
    t.start(&[("SVSCAN_TEST_NO_PERIODIC", "1")]);
    assert!(t.wait_svok("good", LONG));
    t.full_scan();
    let kids = t.kids();
    assert_eq!(kids.len(), 1, "{kids:?}");
    assert_eq!(kids[0].1, ["supervise", "good"]);
    assert!(!t.path(".hidden/supervise").exists());
    assert!(!marker.exists());
    let out = t.output();
    assert!(out.lines().count() >= 3);
    for l in out.lines() {
        assert_eq!(l, GHOST_WARNING, "unexpected output: {out}");
    }
}

/// Runs `prog` on a tree holding a dangling link, a dot directory, a file
/// and a link to a file; returns its first line of output.
fn first_warning(prog: &Path) -> String {
    let mut t = Tree::new();
    fs::create_dir(t.path(".hidden")).unwrap();
    fs::write(t.path("file"), "").unwrap();
    symlink(t.path("file"), t.path("tofile")).unwrap();
    t.ghost();
    t.start_with(prog, &[]);
    assert!(
        wait_until(LONG, || t.output().contains('\n')),
        "{} said nothing",
        prog.display()
    );
    assert!(t.kids().is_empty());
    t.output().lines().next().unwrap().to_string()
}

#[test]
fn dangling_symlink_warning_matches_reference() {
    let ours = first_warning(&support::bin("svscan"));
    assert_eq!(ours, GHOST_WARNING);
    if let Some(r) = support::reference("svscan") {
        assert_eq!(first_warning(&r), ours);
    }
}

/// `.svscan/log` gets svscan's own warnings and the output of services
/// without a log; svscan's original stdout/stderr get none of it; `.svscan`
/// is not a service; the self-logger's supervise is restarted on the same
/// pipe.
#[test]
fn dot_svscan_log_receives_svscans_own_output() {
    let mut t = Tree::new();
    support::script(&t.path(".svscan/log/run"), CAT_LOG);
    t.ghost();
    t.add(
        "chatty",
        "#!/bin/sh\necho chatty says hello\necho chatty complains >&2\nexec sleep 100000\n",
        None,
    );
    t.start(&[("SVSCAN_TEST_NO_PERIODIC", "1")]);
    let out = t.path(".svscan/log/out");
    let has = |what: &str| fs::read_to_string(&out).is_ok_and(|s| s.lines().any(|l| l == what));
    assert!(
        wait_until(LONG, || has(GHOST_WARNING)
            && has("chatty says hello")
            && has("chatty complains")),
        "self-log has {:?}; svscan's stdout/stderr {:?}",
        fs::read_to_string(&out),
        t.output()
    );
    assert_eq!(t.output(), "", "output went around the self-logger");
    assert!(!t.path(".svscan/supervise").exists());
    assert!(t.supervise_of(".svscan").is_none());
    let sup = t
        .log_supervise_of(".svscan")
        .expect("self-logger supervise");
    assert_eq!(t.kids().len(), 2, "{:?}", t.kids());

    // kill the self-logger's supervise and logger: the next scan restarts
    // it on the same pipe, and svscan's warnings keep arriving
    let logger = status_pid(&t.path(".svscan/log/supervise/status"));
    let pipe = fd_target(logger, 0);
    assert_eq!(fd_target(t.pid(), 2), pipe);
    support::send_signal(sup, 9);
    support::send_signal(logger, 9);
    let warnings = || {
        fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .filter(|l| *l == GHOST_WARNING)
            .count()
    };
    let before = warnings();
    assert!(
        wait_until(LONG, || {
            t.alrm();
            std::thread::sleep(Duration::from_millis(50));
            warnings() > before + 1
        }),
        "self-logger not restarted: {:?}",
        t.kids()
    );
    let l2 = status_pid(&t.path(".svscan/log/supervise/status"));
    assert_ne!(l2, logger);
    assert_eq!(fd_target(l2, 0), pipe);
    assert_eq!(t.output(), "");
}

/// With the periodic scan off, a new directory and a new symlink can only
/// be picked up through inotify.
#[test]
fn instant_pickup_without_periodic_scan() {
    let mut t = Tree::new();
    t.add("first", SLEEPER, None);
    t.start(&[("SVSCAN_TEST_NO_PERIODIC", "1")]);
    // the watch is set before the initial scan, which has now happened
    assert!(t.wait_svok("first", LONG));
    // Without the periodic scan, only inotify can pick them up.
    let at = Instant::now();
    t.add("renamed-in", SLEEPER, None);
    assert!(
        t.wait_svok("renamed-in", LONG),
        "not picked up: {:?}",
        t.kids()
    );
    eprintln!("renamed-in up after {:?}", at.elapsed());
    let at = Instant::now();
    t.add_link("linked", SLEEPER, Some(CAT_LOG));
    assert!(t.wait_svok("linked", LONG), "not picked up: {:?}", t.kids());
    assert!(t.wait_svok("linked/log", LONG));
    eprintln!("linked up after {:?}", at.elapsed());
}

/// With inotify and the periodic scan off, a new link waits for SIGALRM.
#[test]
fn no_inotify_no_periodic_waits_for_sigalrm() {
    let mut t = Tree::new();
    t.add("first", SLEEPER, None);
    t.start(&[("SVSCAN_TEST_NO_PERIODIC", "1"), ("SVSCAN_NO_INOTIFY", "1")]);
    assert!(t.wait_svok("first", LONG));
    t.add_link("new", SLEEPER, None);
    assert!(
        !wait_until(Duration::from_secs(1), || t.supervise_of("new").is_some()
            || t.path("new/supervise").exists()),
        "picked up without a trigger"
    );
    t.alrm();
    assert!(t.wait_svok("new", LONG), "SIGALRM did not trigger a scan");
}

/// With inotify off, the periodic scan picks a new link up within ~5 s.
#[test]
fn no_inotify_periodic_scan_picks_up() {
    let mut t = Tree::new();
    t.add("first", SLEEPER, None);
    t.start(&[("SVSCAN_NO_INOTIFY", "1")]);
    assert!(t.wait_svok("first", LONG));
    let at = Instant::now();
    t.add_link("new", SLEEPER, None);
    // Nothing but the periodic scan can pick it up.
    assert!(
        t.wait_svok("new", LONG),
        "periodic scan did not pick up the link"
    );
    eprintln!("new up after {:?} (periodic scan)", at.elapsed());
}

/// A renamed service keeps its supervise: identity is device + inode. A
/// supervise started later for it uses the new name.
#[test]
fn renaming_a_service_starts_no_second_supervise() {
    let mut t = Tree::new();
    t.ghost();
    t.add("b", SLEEPER, Some(CAT_LOG));
    t.start(&[("SVSCAN_TEST_NO_PERIODIC", "1")]);
    assert!(t.wait_svok("b", LONG) && t.wait_svok("b/log", LONG));
    let sup = t.supervise_of("b").unwrap();
    let kids: Vec<i32> = t.kids().into_iter().map(|(p, _)| p).collect();
    assert_eq!(kids.len(), 2);
    fs::rename(t.path("b"), t.path("b2")).unwrap();
    t.full_scan();
    let mut after: Vec<i32> = t.kids().into_iter().map(|(p, _)| p).collect();
    after.sort();
    let mut before = kids.clone();
    before.sort();
    assert_eq!(after, before, "{:?}", t.kids());
    assert!(t.svok("b2"));
    // a restart after the rename uses the name readdir gives now
    let svc = wait_status_pid(&t.path("b2/supervise/status"));
    support::send_signal(sup, 9);
    support::send_signal(svc, 9);
    t.alrm();
    assert!(
        wait_until(LONG, || {
            t.alrm();
            t.supervise_of("b2").is_some() && t.svok("b2")
        }),
        "{:?}",
        t.kids()
    );
    assert!(t.supervise_of("b").is_none());
    assert_eq!(t.kids().len(), 2, "{:?}", t.kids());
}

#[test]
fn nonexistent_dir_is_fatal_like_reference() {
    let tmp = support::tempdir();
    let mut progs = vec![support::bin("svscan")];
    progs.extend(support::reference("svscan"));
    for p in progs {
        let out = support::run(&p, &["/nonexistent"], tmp.path());
        assert_eq!(out.status.code(), Some(111), "{}", p.display());
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "svscan: fatal: unable to chdir to /nonexistent: file does not exist\n",
            "{}",
            p.display()
        );
        assert!(out.stdout.is_empty());
    }
}

/// 1,005 services (each with a `down` file, so only supervise runs) all get
/// a supervise: 0.76 stops at 1000.
#[test]
fn more_than_1000_services() {
    const N: usize = 1005;
    let mut t = Tree::new();
    let names: Vec<String> = (0..N).map(|i| format!("s{i:04}")).collect();
    for n in &names {
        support::script(&t.path(&format!("{n}/run")), SLEEPER);
        fs::write(t.path(&format!("{n}/down")), "").unwrap();
    }
    t.start(&[]);
    let args: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut last = String::new();
    let all_down = wait_until(Duration::from_secs(90), || {
        let out = support::run(support::bin("svstat"), &args, &t.dir);
        last = String::from_utf8_lossy(&out.stdout).into_owned();
        let lines: Vec<&str> = last.lines().collect();
        lines.len() == N
            && lines
                .iter()
                .zip(&names)
                .all(|(l, n)| l.starts_with(&format!("{n}: down ")) && l.ends_with(" seconds"))
    });
    assert!(
        all_down,
        "not all supervised: {:?}; svscan said {:?}",
        last.lines()
            .filter(|l| !l.contains(": down "))
            .take(5)
            .collect::<Vec<_>>(),
        t.output().lines().take(5).collect::<Vec<_>>()
    );
    let sups = t
        .kids()
        .into_iter()
        .filter(|(_, a)| a.first().is_some_and(|a| a == "supervise"))
        .count();
    assert_eq!(sups, N);
    assert!(
        !t.output().contains("running too many services"),
        "{}",
        t.output()
    );
    for n in ["s0000", "s0999", "s1000", "s1004"] {
        assert!(t.svok(n), "{n}");
    }
}

/// A service directory built in place (mkdir, then `log/` and `run` a
/// moment later, as `mkdir` + `cp -r` or a configuration tool does) still
/// gets its logger. Under 0.76 the has-log decision falls at the next 5 s
/// scan, so this works unless a scan hits the gap; an instant scan right
/// after the mkdir would hit it every time, so svscan lets a new directory
/// settle for a second before it looks at it. The test fills the directory
/// once svscan waits out that second (seen in its poll(2) timeout).
#[test]
fn directory_built_in_place_still_gets_its_log() {
    let mut t = Tree::new();
    t.add("first", SLEEPER, None);
    t.start(&[("SVSCAN_TEST_NO_PERIODIC", "1")]);
    assert!(t.wait_svok("first", LONG));
    fs::create_dir(t.path("slow")).unwrap();
    let svscan = t.pid();
    assert!(
        wait_until(LONG, || matches!(
            support::syscall(svscan),
            Some((libc::SYS_poll, [_, _, ms, ..])) if (1..=1000).contains(&(ms as i32))
        )),
        "svscan does not wait for the new directory to settle: {:?}",
        support::syscall(svscan)
    );
    support::script(
        &t.path("slow/run"),
        "#!/bin/sh\necho slow says hi\nexec sleep 100000\n",
    );
    support::script(&t.path("slow/log/run"), CAT_LOG);
    assert_eq!(t.supervise_of("slow"), None, "scanned before it was filled");
    // a periodic scan would come by now; here SIGALRM plays its part
    assert!(
        wait_until(LONG, || {
            t.alrm();
            t.svok("slow") && t.svok("slow/log")
        }),
        "slow/log never supervised: {:?}; svscan said {:?}",
        t.kids(),
        t.output()
    );
    assert!(wait_until(LONG, || fs::read_to_string(
        t.path("slow/log/out")
    )
    .is_ok_and(|s| s == "slow says hi\n")));
}

/// Whether `pid` is blocked in poll(2)/ppoll(2) with no timeout: what an
/// idle svscan does (x86_64 syscall numbers; /proc/PID/syscall shows the
/// number and arguments of a blocked call).
#[cfg(target_arch = "x86_64")]
fn sleeps_without_timeout(pid: i32) -> bool {
    let Ok(s) = fs::read_to_string(format!("/proc/{pid}/syscall")) else {
        return false;
    };
    let f: Vec<&str> = s.split_whitespace().collect();
    match f.as_slice() {
        // poll(fds, nfds, timeout): timeout -1 (an int)
        ["7", _, _, t, ..] => *t == "0xffffffff" || *t == "0xffffffffffffffff",
        // ppoll(fds, nfds, tmo_p, ...): tmo_p NULL
        ["271", _, _, t, ..] => *t == "0x0",
        _ => false,
    }
}

/// An idle tree costs nothing: with inotify for the pickup and SIGCHLD for
/// the reaping, svscan blocks in poll with no timeout at all (0.76 wakes
/// every 5 seconds). A dead supervise arms a retry, after which it sleeps
/// without a timeout again.
#[cfg(target_arch = "x86_64")]
#[test]
fn idle_tree_sleeps_without_a_timer() {
    let mut t = Tree::new();
    t.add("a", SLEEPER, Some(CAT_LOG));
    t.add("b", SLEEPER, None);
    t.start(&[]);
    assert!(t.wait_svok("a", LONG) && t.wait_svok("a/log", LONG) && t.wait_svok("b", LONG));
    assert!(
        wait_until(LONG, || sleeps_without_timeout(t.pid())),
        "svscan does not sleep untimed: {:?}",
        fs::read_to_string(format!("/proc/{}/syscall", t.pid()))
    );
    // a killed supervise is restarted by the retry timer, without SIGALRM
    let sup = t.supervise_of("b").unwrap();
    let svc = status_pid(&t.path("b/supervise/status"));
    support::send_signal(sup, 9);
    support::send_signal(svc, 9);
    assert!(
        wait_until(LONG, || t.supervise_of("b").is_some_and(|p| p != sup)
            && t.svok("b")),
        "supervise b not restarted: {:?}",
        t.kids()
    );
    assert!(wait_until(LONG, || sleeps_without_timeout(t.pid())));
}

/// What inotify on the scan directory cannot see — here the target of a
/// symlinked service replaced by a new directory — is picked up by SIGALRM
/// or by the periodic scan that `SVSCAN_SCAN_INTERVAL` restores.
#[test]
fn scan_interval_restores_the_periodic_scan() {
    let mut t = Tree::new();
    t.add_link("l", SLEEPER, None);
    t.start(&[("SVSCAN_SCAN_INTERVAL", "1")]);
    assert!(t.wait_svok("l", LONG));
    let old = t.supervise_of("l").unwrap();
    // a new directory where the link points; the old one lives on elsewhere
    let target = t.root().join("elsewhere/l");
    fs::rename(&target, t.root().join("old-l")).unwrap();
    t.build(&target, SLEEPER, None);
    assert!(
        wait_until(LONG, || t
            .kids()
            .iter()
            .any(|(p, a)| *p != old && a.len() == 2 && a[1] == "l")),
        "the new directory was not picked up: {:?}",
        t.kids()
    );
    assert!(t.wait_svok("l", LONG));
}

/// `SVSCAN_REMOVED=stop`: a service whose link is removed is brought down
/// by svscan itself, its logger after it, losing no line: every number the
/// service wrote is in the log exactly once, and neither supervise is left.
#[test]
fn removed_service_is_stopped_losing_no_line() {
    let mut t = Tree::new();
    t.start(&[("SVSCAN_REMOVED", "stop")]);
    let run = "#!/bin/sh\nexec 2>&1\ni=0\nwhile :; do i=$((i+1)); echo $i; done\n";
    t.add_link(
        "gone",
        run,
        Some("#!/bin/sh\nexec multilog s16777215 ./main\n"),
    );
    let cur = t.root().join("elsewhere/gone/log/main/current");
    assert!(wait_until(LONG, || fs::metadata(&cur).is_ok_and(|m| m.len() > 10_000)));
    let (sup, logsup) = (
        t.supervise_of("gone").unwrap(),
        t.log_supervise_of("gone").unwrap(),
    );
    fs::remove_file(t.path("gone")).unwrap();
    assert!(
        wait_until(LONG, || !support::alive(sup) && !support::alive(logsup)),
        "still supervised: {:?}; {}",
        t.kids(),
        t.output()
    );
    let lines = complete_lines(&cur);
    assert!(lines.len() > 1000);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l, &(i + 1).to_string(), "line {}", i + 1);
    }
    let mode = fs::metadata(&cur).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o100,
        0o100,
        "multilog did not finish normally"
    );
    assert!(t.kids().is_empty(), "{:?}", t.kids());
}

/// By default (0.76) a removed service keeps running.
#[test]
fn removed_service_keeps_running_by_default() {
    let mut t = Tree::new();
    t.start(&[]);
    t.add_link("kept", SLEEPER, Some(CAT_LOG));
    assert!(t.wait_svok("kept", LONG) && t.wait_svok("kept/log", LONG));
    fs::remove_file(t.path("kept")).unwrap();
    t.alrm();
    // scans after the removal (ghost warnings prove they ran) change nothing
    t.ghost();
    t.full_scan();
    let target = t.root().join("elsewhere/kept");
    for d in [target.clone(), target.join("log")] {
        assert_eq!(
            support::run(support::bin("svok"), &[d.to_str().unwrap()], t.root())
                .status
                .code(),
            Some(0)
        );
    }
}

/// Under systemd (`Type=notify`): svscan sends `READY=1` to
/// `$NOTIFY_SOCKET` once every service of the first scan is supervised,
/// and its services do not inherit the variable.
#[test]
fn ready_is_notified_once_every_service_is_supervised() {
    use std::os::unix::net::UnixDatagram;
    let mut t = Tree::new();
    for n in 0..5 {
        t.add(
            &format!("s{n}"),
            "#!/bin/sh\necho \"${NOTIFY_SOCKET-unset}\" > env\nexec sleep 100000\n",
            Some(CAT_LOG),
        );
    }
    let sock_path = t.root().join("notify");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(LONG)).unwrap();
    t.start(&[("NOTIFY_SOCKET", sock_path.to_str().unwrap())]);
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).expect("no notification from svscan");
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    // checked at once, before anything else can happen
    let all: Vec<bool> = (0..5)
        .flat_map(|n| [format!("s{n}"), format!("s{n}/log")])
        .map(|d| t.svok(&d))
        .collect();
    assert!(msg.lines().any(|l| l == "READY=1"), "{msg:?}");
    assert!(
        all.iter().all(|&b| b),
        "READY=1 before all were supervised: {all:?}"
    );
    for n in 0..5 {
        let env = t.path(&format!("s{n}/env"));
        assert!(wait_until(LONG, || fs::read_to_string(&env)
            .is_ok_and(|s| s == "unset\n")));
    }
}

/// `SVSCAN_PREFIX_LOGS=1`: ten services without `log/` write numbered
/// lines at once, some longer than PIPE_BUF, into svscan's standard output
/// (a pipe, as under docker). Every line arrives whole with its service's
/// name; long lines arrive as `NAME: ` + `NAME+ ` pieces of at most
/// PIPE_BUF bytes that put back together give the line; after the
/// lossless stop every number of every service is there exactly once.
#[test]
fn prefixed_output_stays_line_whole() {
    use std::io::Read;
    let mut t = Tree::new();
    let run = "#!/bin/sh\nexec 2>&1\nlong=$(printf '%06000d' 0)\ni=0\n\
        while [ $i -lt 2000 ]; do i=$((i+1));\n\
        if [ $((i % 100)) = 0 ]; then echo \"$i $long\"; else echo \"$i\"; fi; done\n\
        exec sleep 100000\n";
    for n in 0..10 {
        t.add(&format!("w{n}"), run, None);
    }
    // close-on-exec: only svscan gets `w` (as its stdout), not what other
    // tests start meanwhile (the reader would wait for them too)
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let reader = std::thread::spawn(move || {
        let mut f = fs::File::from(r);
        let mut all = Vec::new();
        f.read_to_end(&mut all).unwrap();
        all
    });
    let svscan = support::spawn(
        support::bin("svscan"),
        &[t.dir.to_str().unwrap()],
        t.root(),
        |c| {
            c.stdout(Stdio::from(w));
            c.envs([("SVSCAN_PREFIX_LOGS", "1"), ("SVSCAN_TERM", "shutdown")]);
        },
    );
    t.scan = Some(svscan);
    for n in 0..10 {
        assert!(t.wait_svok(&format!("w{n}"), LONG));
    }
    // the writers finish (each ends in `sleep`): wait for all ten sleeps
    assert!(wait_until(LONG, || (0..10).all(|n| {
        let p = status_pid(&t.path(&format!("w{n}/supervise/status")));
        p > 0 && comm(p) == "sleep"
    })));
    let mut scan = t.scan.take().unwrap();
    scan.signal(libc::SIGTERM);
    let st = scan
        .wait_timeout(Duration::from_secs(60))
        .expect("svscan did not exit");
    assert_eq!(st.code(), Some(0));
    drop(scan);
    // the write end is gone with svscan and the catch-all: read to the end
    let out = reader.join().unwrap();
    let mut lines: std::collections::HashMap<String, Vec<String>> = Default::default();
    let mut open: std::collections::HashMap<String, String> = Default::default();
    for piece in out.split_inclusive(|&c| c == b'\n') {
        assert!(piece.len() <= 4096, "a write longer than PIPE_BUF");
        assert_eq!(piece.last(), Some(&b'\n'), "a torn piece at the end");
        let piece = std::str::from_utf8(&piece[..piece.len() - 1]).unwrap();
        let (name, sep, text) = match piece.find([':', '+']) {
            Some(i) => (&piece[..i], &piece[i..i + 2], &piece[i + 2..]),
            None => panic!("no prefix: {piece:.80}"),
        };
        assert!(name.starts_with('w'), "foreign line {piece:.80}");
        match sep {
            ": " => {
                if let Some(prev) = open.remove(name) {
                    lines.entry(name.into()).or_default().push(prev);
                }
                open.insert(name.into(), text.into());
            }
            "+ " => open
                .get_mut(name)
                .expect("a continuation without a start")
                .push_str(text),
            _ => panic!("bad separator in {piece:.80}"),
        }
    }
    for (name, rest) in open {
        lines.entry(name).or_default().push(rest);
    }
    let long = format!("{:06000}", 0);
    assert_eq!(lines.len(), 10);
    for (name, ls) in &lines {
        assert_eq!(ls.len(), 2000, "{name}");
        for (i, l) in ls.iter().enumerate() {
            let k = i + 1;
            let want = if k % 100 == 0 {
                format!("{k} {long}")
            } else {
                k.to_string()
            };
            assert!(*l == want, "{name}: line {k} is {l:.60}");
        }
    }
}

/// A read-only service tree (bind-mounted read-only for svscan and
/// everything under it) with `SUPERVISEDIR` on a tmpfs: supervise keeps
/// its state there, our svc/svok/svstat find it through the same variable,
/// and a `supervise` symlink in the tree pointing at it lets Debian's
/// 0.76 svstat read it without the variable.
#[test]
fn read_only_tree_keeps_its_state_under_supervisedir() {
    let probe = std::process::Command::new("unshare")
        .args(["--mount", "true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        return support::missing("unshare --mount (mount namespaces) is refused here");
    }
    let mut t = Tree::new();
    let shm = tempfile::Builder::new()
        .prefix("dtrs-state")
        .tempdir_in("/dev/shm")
        .unwrap();
    let state = shm.path().join("sv");
    let logs = shm.path().join("logs");
    fs::create_dir(&logs).unwrap();
    t.add(
        "a",
        "#!/bin/sh\nexec 2>&1\necho hello from a\nexec sleep 100000\n",
        Some(CAT_LOG),
    );
    t.add("b", SLEEPER, None);
    // the logger writes outside the tree
    fs::write(
        t.path("a/log/run"),
        format!("#!/bin/sh\nexec cat >> {}/out\n", logs.display()),
    )
    .unwrap();
    // 0.76 tools follow a supervise symlink to the same place
    let phys = fs::canonicalize(t.path("b")).unwrap();
    let mangled = |p: &Path| {
        let s = p.to_str().unwrap();
        format!("{}/{}", state.display(), s[1..].replace('/', ":"))
    };
    symlink(mangled(&phys), t.path("b/supervise")).unwrap();
    let dir = t.dir.to_str().unwrap().to_string();
    let sh = format!(
        "mount --bind {dir} {dir} && mount -o remount,bind,ro {dir} && exec {} {dir}",
        support::bin("svscan").display()
    );
    let env = [("SUPERVISEDIR", state.to_str().unwrap())];
    let p = support::spawn("unshare", &["--mount", "sh", "-c", &sh], t.root(), |c| {
        let out = fs::File::create(t.root().join("svscan.out")).unwrap();
        c.stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out));
        c.envs(env);
    });
    t.scan = Some(p);
    let with_env = |prog: &str, args: &[&str]| {
        std::process::Command::new(support::bin(prog))
            .args(args)
            .current_dir(&t.dir)
            .env("SUPERVISEDIR", &state)
            .output()
            .unwrap()
    };
    assert!(
        wait_until(LONG, || ["a", "a/log", "b"].iter().all(|d| with_env(
            "svok",
            &[d]
        )
        .status
        .success())),
        "not supervised: {}",
        t.output()
    );
    assert!(wait_until(LONG, || fs::read_to_string(logs.join("out"))
        .is_ok_and(|s| s == "hello from a\n")));
    // nothing was written into the tree
    assert!(!t.path("a/supervise").exists() && !t.path("a/log/supervise").exists());
    let a_state = PathBuf::from(mangled(&fs::canonicalize(t.path("a")).unwrap()));
    assert!(a_state.join("status").exists() && a_state.join("status.json").exists());
    // svstat and svc through the variable
    let st = String::from_utf8(with_env("svstat", &["a"]).stdout).unwrap();
    assert!(st.starts_with("a: up (pid "), "{st}");
    let pid = status_pid(&a_state.join("status"));
    assert!(with_env("svc", &["-t", "a"]).status.success());
    assert!(wait_until(LONG, || {
        let p = status_pid(&a_state.join("status"));
        p != 0 && p != pid
    }));
    // the machine-readable view through the variable, from the summary
    // supervise keeps there
    assert!(a_state.join("summary").exists());
    let json = || -> serde_json::Value {
        serde_json::from_slice(&with_env("svstat", &["--json", "a"]).stdout).unwrap()
    };
    let mut j = json();
    assert!(
        wait_until(LONG, || {
            j = json();
            j["starts"].as_u64() >= Some(2)
        }),
        "{j}"
    );
    assert_eq!(
        (j["state"].as_str(), &j["error"]),
        (Some("up"), &serde_json::Value::Null)
    );
    assert_eq!(j["log"]["state"], "up", "{j}");
    // without the variable our svstat finds no state in the tree...
    let plain = support::run(support::bin("svstat"), &["a"], &t.dir);
    assert!(String::from_utf8_lossy(&plain.stdout).contains("unable to open supervise/ok"));
    // ...but through b's symlink it does, and so does 0.76's
    let ours_b = support::run(support::bin("svstat"), &["b"], &t.dir);
    assert!(String::from_utf8_lossy(&ours_b.stdout).starts_with("b: up (pid "));
    if let Some(r) = support::reference("svstat") {
        let theirs = support::run(r, &["b"], &t.dir);
        assert!(String::from_utf8_lossy(&theirs.stdout).starts_with("b: up (pid "));
    }
}
