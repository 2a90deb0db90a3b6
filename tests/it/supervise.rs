//! supervise + svc + svok + svstat on real temp service directories: every
//! svc option has its observable effect on a service that records the
//! signals it receives; restarts, the down file, -x, lock conflicts and the
//! error paths; wire compatibility with the reference programs.

use crate::support;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Stdio;
use std::time::Duration;

use crate::support::svdir::{KillStatusPid, RECORDER, Svc, status_pid};
use crate::support::{LONG, wait_until};

fn proc_state(pid: u32) -> Option<char> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s.rsplit(')')
        .next()?
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

#[test]
fn starts_service_and_reports_up() {
    let mut s = Svc::new(RECORDER);
    s.start();
    let pid = s.wait_new_pid(0);
    assert!(wait_until(LONG, || s
        .svstat()
        .starts_with(&format!("s: up (pid {pid}) "))));
    // layout and modes (umask 022 from the test harness is typical; compare
    // with the create modes masked by the current umask)
    let umask = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    nix::sys::stat::umask(umask);
    let mask = !umask.bits() & 0o777;
    let meta = |p: &str| fs::metadata(s.dir.join(p)).unwrap();
    assert_eq!(meta("supervise").mode() & 0o777, 0o700 & mask);
    assert_eq!(meta("supervise/lock").mode() & 0o777, 0o600 & mask);
    assert_eq!(meta("supervise/status").mode() & 0o777, 0o644 & mask);
    assert_eq!(meta("supervise/status").len(), 18);
    for fifo in ["supervise/control", "supervise/ok"] {
        let m = meta(fifo);
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(&m.file_type()));
        assert_eq!(m.mode() & 0o777, 0o600 & mask);
    }
    assert!(!s.dir.join("supervise/status.new").exists());
}

#[test]
fn signal_options_reach_the_service() {
    let mut s = Svc::new(RECORDER);
    s.start();
    let pid = s.wait_new_pid(0);
    for (opt, name) in [
        ("-h", "HUP"),
        ("-a", "ALRM"),
        ("-1", "USR1"),
        ("-2", "USR2"),
    ] {
        s.svc(opt);
        assert!(s.wait_event(name), "{opt}: no {name} in {:?}", s.events());
    }
    assert_eq!(s.pid(), pid, "signals that do not end the service keep it");
    // p: stopped (state T) and svstat says paused; c: continues (CONT)
    s.svc("-p");
    assert!(wait_until(LONG, || proc_state(pid) == Some('T')));
    assert!(wait_until(LONG, || s.svstat().contains(", paused")));
    s.svc("-c");
    assert!(s.wait_event("CONT"));
    assert!(wait_until(LONG, || proc_state(pid) != Some('T')
        && !s.svstat().contains("paused")));
}

#[test]
fn terminating_options_restart_the_service() {
    let mut s = Svc::new(RECORDER);
    s.start();
    let mut pid = s.wait_new_pid(0);
    for (opt, name) in [
        ("-t", Some("TERM")),
        ("-i", Some("INT")),
        ("-q", Some("QUIT")),
        ("-k", None),
    ] {
        s.svc(opt);
        if let Some(name) = name {
            assert!(s.wait_event(name), "{opt}: no {name}");
        }
        pid = s.wait_new_pid(pid);
    }
    assert_eq!(s.starts().len(), 5);
}

#[test]
fn down_up_once_and_exit() {
    let mut s = Svc::new(RECORDER);
    s.start();
    let pid = s.wait_new_pid(0);
    s.svc("-d");
    assert!(s.wait_event("TERM"));
    assert!(wait_until(LONG, || s.pid() == 0 && s.svstat().starts_with("s: down ")));
    assert!(s.svstat().ends_with(", normally up\n"));
    assert!(wait_until(LONG, || !support::alive(pid as i32)));
    // u: started again
    s.svc("-u");
    let pid2 = s.wait_new_pid(pid);
    // o: no restart after it ends
    s.svc("-o");
    s.svc("-k");
    assert!(wait_until(LONG, || s.pid() == 0));
    assert!(wait_until(LONG, || !support::alive(pid2 as i32)));
    assert_eq!(s.starts().len(), 2, "a once service must not restart");
    // o on a stopped service starts it once
    s.svc("-o");
    let pid3 = s.wait_new_pid(pid2);
    // x: supervise stays while the service runs, exits 0 once it is down
    s.svc("-x");
    assert!(
        s.sup_mut()
            .wait_timeout(Duration::from_millis(1500))
            .is_none()
    );
    s.svc("-d");
    let st = s
        .sup_mut()
        .wait_timeout(LONG)
        .expect("supervise did not exit after -dx");
    assert_eq!(st.code(), Some(0));
    assert!(!support::alive(pid3 as i32) || wait_until(LONG, || !support::alive(pid3 as i32)));
    assert_eq!(s.starts().len(), 3);
    assert!(!s.svok());
    assert_eq!(s.svstat(), "s: supervise not running\n");
}

#[test]
fn du_is_a_restart_and_xu_on_down_service_exits() {
    let mut s = Svc::new(RECORDER);
    s.start();
    let pid = s.wait_new_pid(0);
    s.svc("-du");
    let pid2 = s.wait_new_pid(pid);
    assert!(wait_until(LONG, || s
        .svstat()
        .starts_with(&format!("s: up (pid {pid2})"))));
    s.svc("-d");
    assert!(wait_until(LONG, || s.pid() == 0));
    // bytes queued behind x on a down service are never read
    s.svc("-xu");
    let st = s
        .sup_mut()
        .wait_timeout(LONG)
        .expect("supervise did not exit");
    assert_eq!(st.code(), Some(0));
    assert_eq!(s.starts().len(), 2);
}

#[test]
fn crashing_service_is_restarted_at_most_once_a_second() {
    let mut s = Svc::new("#!/bin/sh\necho \"start $$\" >> events\nexit 3\n");
    s.start();
    assert!(
        wait_until(LONG, || s.starts().len() >= 3),
        "not restarted: {:?}",
        s.events()
    );
}

#[test]
fn down_file_keeps_service_down_until_up() {
    let mut s = Svc::new(RECORDER);
    fs::write(s.dir.join("down"), "").unwrap();
    s.start();
    assert!(wait_until(LONG, || s.svstat().starts_with("s: down ")));
    assert_eq!(s.svstat().matches(',').count(), 0, "{}", s.svstat());
    assert!(s.starts().is_empty());
    s.svc("-u");
    let pid = s.wait_new_pid(0);
    assert!(wait_until(LONG, || s
        .svstat()
        .starts_with(&format!("s: up (pid {pid})"))
        && s.svstat().ends_with(", normally down\n")));
}

#[test]
fn lock_conflict_and_usage() {
    let mut s = Svc::new(RECORDER);
    s.start();
    let second = support::run(support::bin("supervise"), &["s"], &s.root);
    assert_eq!(second.status.code(), Some(111));
    assert_eq!(
        String::from_utf8_lossy(&second.stderr),
        "supervise: fatal: unable to acquire s/supervise/lock: temporary failure\n"
    );
    if let Some(refsup) = support::reference("supervise") {
        // flock interoperates with the C supervise in both directions
        let r = support::run(&refsup, &["s"], &s.root);
        assert_eq!(r.status.code(), Some(111));
        assert_eq!(r.stderr, second.stderr);
    }
    for args in [&[][..], &["a", "b"][..]] {
        let u = support::run(support::bin("supervise"), args, &s.root);
        assert_eq!(u.status.code(), Some(100));
        assert_eq!(u.stderr, b"supervise: usage: supervise dir\n");
    }
}

#[test]
fn our_lock_blocks_reference_and_reference_lock_blocks_us() {
    let Some(refsup) = support::reference("supervise") else {
        return;
    };
    let mut s = Svc::new(RECORDER);
    s.start_with(&refsup);
    s.wait_new_pid(0);
    let ours = support::run(support::bin("supervise"), &["s"], &s.root);
    assert_eq!(ours.status.code(), Some(111));
    assert_eq!(
        String::from_utf8_lossy(&ours.stderr),
        "supervise: fatal: unable to acquire s/supervise/lock: temporary failure\n"
    );
}

#[test]
fn nonexistent_dir_and_unusable_run() {
    let tmp = support::tempdir();
    let out = support::run(support::bin("supervise"), &["nonexistent"], tmp.path());
    assert_eq!(out.status.code(), Some(111));
    assert_eq!(
        out.stderr,
        b"supervise: fatal: unable to chdir to nonexistent: file does not exist\n"
    );

    for (setup, expect) in [
        (
            "noexec",
            "supervise: fatal: unable to start s/run: access denied",
        ),
        (
            "missing",
            "supervise: fatal: unable to start s/run: file does not exist",
        ),
    ] {
        let mut s = Svc::new(RECORDER);
        if setup == "noexec" {
            fs::set_permissions(s.dir.join("run"), fs::Permissions::from_mode(0o644)).unwrap();
        } else {
            fs::remove_file(s.dir.join("run")).unwrap();
        }
        s.start();
        // the child's message repeats about once a second; two copies show
        // supervise keeps trying and is not stuck
        s.expect_stderr_lines(expect, 2);
        // supervise still answers: -x makes it exit
        s.stop_and_exit();
    }
}

#[test]
fn svc_and_svok_without_supervise() {
    let tmp = support::tempdir();
    let root = tmp.path();
    fs::create_dir_all(root.join("s/supervise")).unwrap();
    // a control fifo nobody reads: no hang, a warning, exit 0
    for f in ["control", "ok"] {
        nix::unistd::mkfifo(
            &root.join("s/supervise").join(f),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
    }
    fs::create_dir_all(root.join("nosup")).unwrap();
    let out = support::run(
        support::bin("svc"),
        &["-u", "s", "nosup", "nonexistent"],
        root,
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "svc: warning: unable to control s: supervise not running\n\
         svc: warning: unable to control nosup: file does not exist\n\
         svc: warning: unable to chdir to nonexistent: file does not exist\n"
    );
    if let Some(r) = support::reference("svc") {
        let rout = support::run(&r, &["-u", "s", "nosup", "nonexistent"], root);
        assert_eq!(rout.stderr, out.stderr);
        assert_eq!(rout.status.code(), out.status.code());
    }
    let ok = |d: &str| support::run(support::bin("svok"), &[d], root);
    assert_eq!(ok("s").status.code(), Some(100));
    assert_eq!(ok("nosup").status.code(), Some(100));
    let o = ok("nonexistent");
    assert_eq!(o.status.code(), Some(111));
    assert_eq!(
        o.stderr,
        b"svok: fatal: unable to chdir to nonexistent: file does not exist\n"
    );
    let o = support::run(support::bin("svok"), &[], root);
    assert_eq!(o.status.code(), Some(100));
    assert_eq!(o.stderr, b"svok: usage: svok dir\n");
    // extra arguments are ignored
    assert_eq!(
        support::run(support::bin("svok"), &["s", "whatever"], root)
            .status
            .code(),
        Some(100)
    );
    // a regular file named ok counts as running
    fs::create_dir_all(root.join("reg/supervise")).unwrap();
    fs::write(root.join("reg/supervise/ok"), "").unwrap();
    assert_eq!(ok("reg").status.code(), Some(0));
    // ok is a directory: open for writing fails with EISDIR
    fs::create_dir_all(root.join("dirok/supervise/ok")).unwrap();
    let o = ok("dirok");
    assert_eq!(o.status.code(), Some(111));
    assert_eq!(
        o.stderr,
        b"svok: fatal: unable to open dirok/supervise/ok: is a directory\n"
    );
}

#[test]
fn svc_sends_deduplicated_letters_in_one_write() {
    let tmp = support::tempdir();
    let root = tmp.path();
    fs::create_dir_all(root.join("s/supervise")).unwrap();
    let fifo = root.join("s/supervise/control");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    // hold a reader (and a writer, so reads never see EOF early)
    let mut reader = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .unwrap();
    let out = support::run(
        support::bin("svc"),
        &["-dud", "-x", "-u", "-kk", "-q12", "-tx", "s", "s"],
        root,
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty());
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while got.len() < 16 {
        let n = reader.read(&mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, b"duxkq12tduxkq12t");
}

#[test]
fn svc_usage_uses_argv0_basename() {
    let tmp = support::tempdir();
    let link = tmp.path().join("mysvc");
    std::os::unix::fs::symlink(support::bin("svc"), &link).unwrap();
    let out = support::run(&link, &["-z", "x"], tmp.path());
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "mysvc: illegal option -- z\nsvc options: u up, d down, o once, x exit, p pause, \
         c continue, h hup, a alarm, i interrupt, t term, k kill, q quit, 1 SIGUSR1, 2 SIGUSR2\n"
    );
    // no directories: nothing to do
    let out = support::run(support::bin("svc"), &["-u"], tmp.path());
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty());
}

/// /proc/PID/status field as a hex mask.
fn sigmask(pid: u32, field: &str) -> u64 {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = s.lines().find(|l| l.starts_with(field)).unwrap();
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

#[test]
fn service_inherits_dispositions_and_no_stray_fds() {
    // sh ignores USR2 and exec's supervise: the service must inherit exactly
    // that (and SIGPIPE at default), an empty signal mask, and fds 0-2 only.
    let tmp = support::tempdir();
    let root = tmp.path();
    support::script(&root.join("s/run"), "#!/bin/sh\nexec sleep 1000\n");
    let sup = support::bin("supervise");
    let cmd = format!("trap '' USR2; exec {} s", sup.display());
    // ends the service even if an assertion fails (dropped after `p`)
    let _service = KillStatusPid(root.join("s/supervise/status"));
    let p = support::spawn("/bin/sh", &["-c", &cmd], root, |c| {
        c.stdout(Stdio::null()).stderr(Stdio::null());
    });
    let status = root.join("s/supervise/status");
    let pid = || status_pid(&status);
    assert!(wait_until(LONG, || pid() != 0));
    let svc_pid = pid();
    // wait for the exec of sleep
    assert!(wait_until(LONG, || fs::read_to_string(format!(
        "/proc/{svc_pid}/comm"
    ))
    .map(|c| c.trim() == "sleep")
    .unwrap_or(false)));
    // no file of supervise's open for writing among its descriptors
    crate::support::svdir::wait_state_written(&root.join("s/supervise"));
    let ign = sigmask(svc_pid, "SigIgn:");
    assert_eq!(
        ign & (1 << (libc::SIGPIPE - 1)),
        0,
        "SIGPIPE must not be ignored"
    );
    assert_ne!(
        ign & (1 << (libc::SIGUSR2 - 1)),
        0,
        "inherited SIG_IGN must pass through"
    );
    assert_eq!(sigmask(svc_pid, "SigBlk:"), 0, "signal mask must be empty");
    // Exactly supervise's descriptors without close-on-exec (0-2 and
    // whatever the test harness itself passed down, e.g. cargo's jobserver).
    let fds = |pid: u32, inheritable_only: bool| -> Vec<i32> {
        let mut v: Vec<i32> = fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap())
            .filter(|fd| {
                !inheritable_only || {
                    let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap();
                    let flags = info.lines().find(|l| l.starts_with("flags:")).unwrap();
                    let flags = u32::from_str_radix(flags.split_whitespace().nth(1).unwrap(), 8);
                    flags.unwrap() & libc::O_CLOEXEC as u32 == 0
                }
            })
            .collect();
        v.sort();
        v
    };
    let sup_fds = fds(p.pid() as u32, false);
    assert!(
        sup_fds.len() >= 3 + 6,
        "supervise holds its own fds: {sup_fds:?}"
    );
    let expected = fds(p.pid() as u32, true);
    assert!(expected.starts_with(&[0, 1, 2]));
    assert_eq!(
        fds(svc_pid, false),
        expected,
        "service must not inherit supervise's own fds"
    );
    // same process group and session as supervise (no setsid)
    let pgid = |p: u32| nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(p as i32))).unwrap();
    assert_eq!(pgid(svc_pid), pgid(p.pid() as u32));
    p.signal(9);
}

#[test]
fn sigterm_kills_supervise_and_orphans_the_service() {
    let mut s = Svc::new(RECORDER);
    s.start();
    let pid = s.wait_new_pid(0);
    s.sup_mut().signal(libc::SIGTERM);
    let st = s
        .sup_mut()
        .wait_timeout(LONG)
        .expect("supervise survived SIGTERM");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(st.signal(), Some(libc::SIGTERM));
    assert!(support::alive(pid as i32), "the service keeps running");
    assert_eq!(s.svstat(), "s: supervise not running\n");
    assert!(!s.svok());
}

#[test]
fn wire_compatible_with_reference_svc_and_svstat() {
    let (Some(rsvc), Some(rstat), Some(rsup)) = (
        support::reference("svc"),
        support::reference("svstat"),
        support::reference("supervise"),
    ) else {
        return;
    };
    // reference svc drives our supervise; reference svstat reads our status
    let mut s = Svc::new(RECORDER);
    s.start();
    let pid = s.wait_new_pid(0);
    let out = support::run(&rsvc, &["-h", "s"], &s.root);
    assert_eq!(out.status.code(), Some(0));
    assert!(s.wait_event("HUP"));
    let same = |s: &Svc| {
        wait_until(LONG, || {
            let ours = s.svstat();
            let r = String::from_utf8(support::run(&rstat, &["s"], &s.root).stdout).unwrap();
            ours == r || ours == s.svstat()
        })
    };
    assert!(same(&s));
    support::run(&rsvc, &["-p", "s"], &s.root);
    assert!(wait_until(LONG, || s.svstat().contains("paused")));
    assert!(same(&s));
    support::run(&rsvc, &["-dx", "s"], &s.root);
    assert_eq!(
        s.sup_mut().wait_timeout(LONG).and_then(|st| st.code()),
        Some(0)
    );
    assert!(wait_until(LONG, || !support::alive(pid as i32)));
    drop(s);

    // our svc drives the reference supervise; our svstat reads its status
    let mut s = Svc::new(RECORDER);
    s.start_with(&rsup);
    let pid = s.wait_new_pid(0);
    s.svc("-a");
    assert!(s.wait_event("ALRM"));
    assert!(same(&s));
    s.svc("-t");
    let pid2 = s.wait_new_pid(pid);
    assert!(wait_until(LONG, || s
        .svstat()
        .starts_with(&format!("s: up (pid {pid2})"))));
    s.stop_and_exit();
}

#[test]
fn status_write_failures_warn_and_carry_on() {
    // status.new is a directory: open fails; supervise warns and runs on.
    let mut s = Svc::new(RECORDER);
    fs::create_dir_all(s.dir.join("supervise/status.new")).unwrap();
    s.start();
    s.expect_stderr_lines(
        "supervise: warning: unable to open s/supervise/status.new: is a directory",
        2,
    );
    assert!(
        wait_until(LONG, || !s.starts().is_empty()),
        "service must still start"
    );
    s.stop_and_exit();
}

#[test]
fn dangling_supervise_symlink_creates_its_target() {
    // Debian's patch: supervise -> ../elsewhere creates the target dir
    let mut s = Svc::new(RECORDER);
    std::os::unix::fs::symlink("../elsewhere", s.dir.join("supervise")).unwrap();
    s.start();
    assert!(s.root.join("elsewhere").is_dir());
    assert!(s.root.join("elsewhere/lock").exists());
    s.wait_new_pid(0);
    s.stop_and_exit();
}

/// Runs a fixed command sequence on a supervise whose every status write
/// fails with a warning; returns the cumulative warning count after each
/// step (start-up, then each command, then exit). Each step waits until
/// the count `want` gives for it has arrived; a write too many shows in a
/// later step, at the latest in the count after the exit, which is exact
/// (supervise has ended, all it wrote is in the pipe).
fn status_writes_sequence(prog: &std::path::Path, want: &[usize]) -> Vec<usize> {
    let mut s = Svc::new(RECORDER);
    fs::write(s.dir.join("down"), "").unwrap();
    // status.new is a directory: every status write attempt warns once
    fs::create_dir_all(s.dir.join("supervise/status.new")).unwrap();
    s.start_with(prog);
    let mut err = s.sup_mut().child.stderr.take().unwrap();
    nix::fcntl::fcntl(
        &err,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    let mut got = Vec::new();
    // Reads what has arrived; the number of lines so far.
    let mut count = |got: &mut Vec<u8>| {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = err.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        got.iter().filter(|&&c| c == b'\n').count()
    };
    let mut step = |got: &mut Vec<u8>, i: usize| {
        let mut n = 0;
        wait_until(LONG, || {
            n = count(got);
            n >= want[i]
        });
        n
    };
    let mut seq = vec![step(&mut got, 0)];
    for opt in ["-u", "-p", "-c", "-a", "-d", "-x"] {
        if opt == "-d" {
            // wait until the service runs, so d really stops something
            assert!(wait_until(LONG, || !s.starts().is_empty()));
        }
        s.svc(opt);
        seq.push(step(&mut got, seq.len()));
    }
    let st = s
        .sup_mut()
        .wait_timeout(LONG)
        .expect("supervise exits after -x");
    assert_eq!(st.code(), Some(0));
    seq.push(count(&mut got));
    for line in String::from_utf8_lossy(&got).lines() {
        assert_eq!(
            line,
            "supervise: warning: unable to open s/supervise/status.new: is a directory"
        );
    }
    seq
}

#[test]
fn status_is_written_exactly_when_0_76_writes_it() {
    // start-up (2: ready + loop entry), u (2: command + fork), p (1), c (1),
    // a (0), d (2: command + reap), x on a down service (2: command, then
    // at exit, at once), nothing after the exit
    let want = [2, 4, 5, 6, 6, 8, 10, 10];
    let ours = status_writes_sequence(&support::bin("supervise"), &want);
    assert_eq!(ours, want);
    if let Some(r) = support::reference("supervise") {
        assert_eq!(status_writes_sequence(&r, &want), ours);
    }
}
