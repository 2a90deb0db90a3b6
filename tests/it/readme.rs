//! The README tells the truth: the example runs as its Quick start says
//! (silent terminal, the log where it says, our supervise through PATH),
//! Ctrl-C ends the whole tree while `kill PID` of svscan does not, its
//! cleanup command works, .gitignore covers the example's run-time files,
//! its shell lines are POSIX sh, and the Troubleshooting entries are what
//! the programs (ours and Debian's) really do.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{self, tools};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn readme() -> String {
    std::fs::read_to_string(repo().join("README.md")).unwrap()
}

/// Whether the README says `text` (line breaks and indentation aside).
fn readme_says(text: &str) -> bool {
    let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    flat(&readme()).contains(&flat(text))
}

/// A copy of examples/service in a temp dir, as `DIR/service`.
fn example_copy() -> tempfile::TempDir {
    let tmp = support::tempdir();
    let ok = Command::new("cp")
        .arg("-a")
        .arg(repo().join("examples/service"))
        .arg(tmp.path().join("service"))
        .status()
        .unwrap()
        .success();
    assert!(ok);
    tmp
}

/// svscan on the example, started as a shell starts a foreground job: in
/// a process group of its own, PATH with our programs first (the README's
/// `env PATH="$PWD/target/release:$PATH"`), output to files. Everything
/// left in the group is killed by PID when dropped.
struct Tree {
    svscan: support::Proc,
    dir: PathBuf,
}

impl Tree {
    fn start(dir: &Path, path: &str) -> Tree {
        let svscan = support::spawn(support::bin("svscan"), &["service"], dir, |c| {
            c.env("PATH", path)
                .stdout(std::fs::File::create(dir.join("svscan.out")).unwrap())
                .stderr(std::fs::File::create(dir.join("svscan.err")).unwrap());
        });
        Tree {
            svscan,
            dir: dir.to_path_buf(),
        }
    }

    fn pgid(&self) -> i32 {
        self.svscan.pid()
    }

    /// The live processes of svscan's process group, svscan included.
    fn group(&self) -> Vec<i32> {
        support::procs_with(2, self.pgid())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("service/hello/log/main/current")).unwrap_or_default()
    }

    /// Waits until the service has logged its start and a "still here".
    fn wait_logging(&self) {
        assert!(
            support::wait_until(support::LONG, || {
                let l = self.log();
                l.contains(" hello: starting (pid ") && l.contains(" hello: still here\n")
            }),
            "no log in service/hello/log/main/current: {:?}",
            self.log()
        );
    }

    fn svc_dx(&self) -> std::process::Output {
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{} -dx service/* service/*/log",
                support::bin("svc").display()
            ))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        support::kill_all(&self.group());
    }
}

fn exe(pid: i32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe")).ok()
}

fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn example_runs_as_the_quick_start_says_and_ctrl_c_ends_it() {
    let tmp = example_copy();
    let tree = Tree::start(tmp.path(), &support::our_path());
    tree.wait_logging();
    // every line of the log: a TAI64N stamp and one of hello's lines
    let log = tree.log();
    let mut started = None;
    for l in log.lines() {
        let (stamp, rest) = l.split_once(' ').unwrap();
        assert!(
            stamp.len() == 25
                && stamp.starts_with("@4000")
                && stamp[1..].bytes().all(|b| b.is_ascii_hexdigit()),
            "{l}"
        );
        if let Some(pid) = rest
            .strip_prefix("hello: starting (pid ")
            .and_then(|r| r.strip_suffix(')'))
        {
            started = Some(pid.to_string());
        } else {
            assert_eq!(rest, "hello: still here", "{l}");
        }
    }
    // svstat shows that pid up, as the README's example output does
    let st = support::run(
        support::bin("svstat"),
        &["service/hello", "service/hello/log"],
        tmp.path(),
    );
    let st = String::from_utf8_lossy(&st.stdout).into_owned();
    let pid = started.expect("no starting line");
    assert!(
        st.starts_with(&format!("service/hello: up (pid {pid}) ")),
        "{st}"
    );
    assert!(st.contains("\nservice/hello/log: up (pid "), "{st}");
    // with our directory first in PATH, supervise and multilog are ours
    let group = tree.group();
    for (name, want) in [("supervise", 2), ("multilog", 1)] {
        let ours: Vec<i32> = group.iter().copied().filter(|&p| comm(p) == name).collect();
        assert_eq!(ours.len(), want, "{name}: {group:?}");
        for p in ours {
            assert_eq!(exe(p), Some(support::bin(name)), "{name} {p}");
        }
    }
    // the terminal stays silent
    assert_eq!(std::fs::read(tmp.path().join("svscan.out")).unwrap(), b"");
    assert_eq!(std::fs::read(tmp.path().join("svscan.err")).unwrap(), b"");

    // Ctrl-C: SIGINT to the whole foreground process group
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(-tree.pgid()),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    assert!(
        support::wait_until(support::LONG, || tree.group().is_empty()),
        "left after Ctrl-C: {:?}",
        tree.group()
    );
    // then the cleanup command has nothing to stop, and says so
    let o = tree.svc_dx();
    assert_eq!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("svc: warning: unable to control service/hello: supervise not running\n"),
        "{err}"
    );
    assert!(readme_says(
        "**Ctrl-C** in svscan's terminal stops everything at once"
    ));
    assert!(readme_says(
        "`svc: warning: unable to control examples/service/hello: supervise not running`"
    ));
}

#[test]
fn kill_pid_leaves_the_tree_and_the_cleanup_stops_it() {
    let tmp = example_copy();
    let mut tree = Tree::start(tmp.path(), &support::our_path());
    tree.wait_logging();
    let supervisors: Vec<i32> = tree
        .group()
        .into_iter()
        .filter(|&p| comm(p) == "supervise")
        .collect();
    assert_eq!(supervisors.len(), 2);
    tree.svscan.signal(15);
    assert!(tree.svscan.wait_timeout(support::LONG).is_some());
    // the supervise processes and the service go on
    std::thread::sleep(Duration::from_millis(200));
    assert!(supervisors.iter().all(|&p| support::alive(p)));
    let before = tree.log().lines().count();
    assert!(support::wait_until(support::LONG, || tree
        .log()
        .lines()
        .count()
        > before));

    // svcstop leaves examples/service/hello/down: .gitignore covers it
    let o = support::run(support::bin("svcstop"), &["service/hello"], tmp.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(tmp.path().join("service/hello/down").exists());
    gitignore_covers(tmp.path());

    // the README's cleanup command
    let o = tree.svc_dx();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        support::wait_until(support::LONG, || tree.group().is_empty()),
        "left after svc -dx: {:?}",
        tree.group()
    );
    assert!(readme_says("**`kill PID`** of svscan alone"));
    assert!(readme_says(
        "svc -dx examples/service/* examples/service/*/log"
    ));
    assert!(readme_says("examples/service/hello/log/main/current"));
}

/// Every file and directory the run created in the copy, named as it would
/// be in the repository, is ignored by git.
fn gitignore_covers(copy: &Path) {
    if !repo().join(".git").exists() {
        return support::skip("not a git checkout: .gitignore not checked");
    }
    let mut created = Vec::new();
    let mut stack = vec![copy.join("service")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(copy).unwrap();
            let in_repo = repo().join("examples").join(rel);
            if std::fs::symlink_metadata(&in_repo).is_ok() {
                if p.is_dir() && !p.is_symlink() {
                    stack.push(p);
                }
            } else {
                created.push(format!("examples/{}", rel.display()));
            }
        }
    }
    for want in [
        "examples/service/hello/down",
        "examples/service/hello/supervise",
        "examples/service/hello/log/main",
    ] {
        assert!(
            created.iter().any(|c| c == want),
            "{want} not created: {created:?}"
        );
    }
    for c in &created {
        let o = Command::new("git")
            .args(["check-ignore", "-q", "--no-index", c])
            .current_dir(repo())
            .status()
            .unwrap();
        assert!(o.success(), "{c} is not in .gitignore");
    }
}

#[test]
fn path_decides_which_supervise_svscan_runs() {
    let Some(theirs) = support::reference("supervise") else {
        return support::missing("Debian's daemontools is not installed");
    };
    // started without our directory in PATH, our svscan runs Debian's
    // supervise (and the example's multilog is Debian's)
    let tmp = example_copy();
    let tree = Tree::start(tmp.path(), "/usr/local/bin:/usr/bin:/bin");
    tree.wait_logging();
    let group = tree.group();
    let sups: Vec<i32> = group
        .iter()
        .copied()
        .filter(|&p| comm(p) == "supervise")
        .collect();
    assert_eq!(sups.len(), 2, "{group:?}");
    for p in sups {
        assert_eq!(exe(p), Some(theirs.clone()));
    }
    let o = tree.svc_dx();
    assert!(o.status.success());
    assert!(support::wait_until(support::LONG, || tree.group().len() == 1));
    assert!(readme_says("Debian's `/usr/bin/supervise`"));
}

#[test]
fn troubleshooting_run_without_exec_bit_shows_up() {
    for supervise in tools::both("supervise") {
        let tmp = support::tempdir();
        let svc = tmp.path().join("svc");
        support::script(&svc.join("run"), "#!/bin/sh\nexec sleep 100\n");
        std::fs::set_permissions(
            svc.join("run"),
            std::os::unix::fs::PermissionsExt::from_mode(0o644),
        )
        .unwrap();
        let err = tmp.path().join("err");
        let _sup = support::spawn(&supervise, &["svc"], tmp.path(), |c| {
            c.stderr(std::fs::File::create(&err).unwrap());
        });
        // svstat says up, with a pid that changes every second
        let mut pids = std::collections::BTreeSet::new();
        assert!(
            support::wait_until(support::LONG, || {
                let o = support::run(support::bin("svstat"), &["svc"], tmp.path());
                let s = String::from_utf8_lossy(&o.stdout).into_owned();
                if let Some(p) = s
                    .strip_prefix("svc: up (pid ")
                    .and_then(|r| r.split(')').next())
                {
                    pids.insert(p.to_string());
                }
                pids.len() >= 2
            }),
            "{} {pids:?}",
            supervise.display()
        );
        let msg = std::fs::read_to_string(&err).unwrap();
        assert!(
            msg.contains("supervise: fatal: unable to start svc/run: access denied\n"),
            "{msg}"
        );
    }
    assert!(readme_says(
        "`supervise: fatal: unable to start SERVICE/run: access denied` appears every second"
    ));
}

#[test]
fn troubleshooting_multilog_without_dot_slash_logs_nothing() {
    for multilog in tools::both("multilog") {
        let tmp = support::tempdir();
        let o = Command::new(&multilog)
            .args(["t", "main"])
            .current_dir(tmp.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(b"a line\n")?;
                c.wait_with_output()
            })
            .unwrap();
        assert_eq!(o.status.code(), Some(0));
        assert!(o.stdout.is_empty() && o.stderr.is_empty());
        assert_eq!(
            std::fs::read_dir(tmp.path()).unwrap().count(),
            0,
            "{}",
            multilog.display()
        );
    }
    assert!(readme_says("`multilog t main`") && readme_says("Write `multilog t ./main`"));
}

#[test]
fn troubleshooting_svc_without_supervise_warns_and_exits_0() {
    let tmp = support::tempdir();
    let dir = tmp.path().join("svc");
    std::fs::create_dir_all(dir.join("supervise")).unwrap();
    nix::unistd::mkfifo(
        &dir.join("supervise/control"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let r = tools::same("svc", &tools::Spec::new(tmp.path(), &["svc", "-u", "svc"]));
    assert_eq!(
        r,
        tools::expect(
            0,
            "",
            "svc: warning: unable to control svc: supervise not running\n"
        )
    );
    assert!(readme_says(
        "**`svc: warning: unable to control SERVICE: supervise not running`, and exit status 0.**"
    ));
}

/// The README's `sh` blocks parse with a POSIX shell (dash) and use no
/// brace expansion; the test command is the one CI runs.
#[test]
fn readme_shell_lines_are_posix() {
    let r = readme();
    let mut blocks = Vec::new();
    let mut cur: Option<String> = None;
    for l in r.lines() {
        let t = l.trim_start();
        match (&mut cur, t) {
            (None, "```sh") => cur = Some(String::new()),
            (Some(_), "```") => blocks.push(cur.take().unwrap()),
            (Some(b), _) => {
                b.push_str(t);
                b.push('\n')
            }
            _ => {}
        }
    }
    assert!(blocks.len() >= 5, "{}", blocks.len());
    let sh = if support::have("dash") { "dash" } else { "sh" };
    for script in &blocks {
        let o = Command::new(sh)
            .arg("-n")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{sh} -n: {}\n{script}",
            String::from_utf8_lossy(&o.stderr)
        );
        for l in script.lines() {
            let brace = l.find('{').is_some_and(|i| {
                l[i..].find('}').is_some_and(|j| l[i..i + j].contains(',')) && !l.contains("${")
            });
            assert!(!brace, "brace expansion is not POSIX sh: {l}");
        }
    }
    assert!(r.contains(
        "```sh\ncargo build --release          # the programs in target/release\ncargo test --profile ci "
    ));
    let ci = std::fs::read_to_string(repo().join(".ci/run")).unwrap();
    assert!(ci.trim_end().ends_with("exec cargo test --profile ci"));
}
