//! svcstart, svcstop, svcrestart, svcreset on real supervised services.

use crate::support;
use std::fs;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::support::svdir::{RECORDER, Svc};
use crate::support::{LONG, wait_until};

fn front(s: &Svc, prog: &str, args: &[&str]) -> Output {
    let mut a: Vec<&str> = args.to_vec();
    a.push("s");
    support::run(support::bin(prog), &a, &s.root)
}

/// The progress output without the dots printed while waiting (one a
/// second, so their number depends on the machine's speed).
fn text(o: &Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout);
    let mut lines = String::new();
    for line in out.split_inclusive('\n') {
        match line.split_once(' ').and_then(|(verb, rest)| {
            let (dir, progress) = rest.split_once(' ')?;
            ["Starting", "Stopping"]
                .contains(&verb)
                .then(|| format!("{verb} {dir} {}", progress.trim_start_matches('.')))
        }) {
            Some(l) => lines += &l,
            None => lines += line,
        }
    }
    lines
}

fn has_down(s: &Svc) -> bool {
    s.dir.join("down").exists()
}

/// A service that ignores TERM (and records its start).
const STUBBORN: &str =
    "#!/bin/sh\necho \"start $$\" >> events\ntrap '' TERM\nwhile :; do sleep 1; done\n";

#[test]
fn svcstart_starts_waits_and_clears_down() {
    let mut s = Svc::new(RECORDER);
    fs::write(s.dir.join("down"), "").unwrap();
    s.start();
    let out = front(&s, "svcstart", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(text(&out), "Starting s OK\n");
    // it returned only once the service had been up for a second
    let pid = s.pid();
    assert_ne!(pid, 0);
    let st = daemontools::svctl::status(&s.dir).unwrap();
    assert!(daemontools::svctl::age(&st) >= Duration::from_secs(1));
    assert!(
        !has_down(&s),
        "svcstart must remove down so the service starts at boot"
    );
}

#[test]
fn svcstart_with_failing_check_leaves_service_down() {
    let mut s = Svc::new(RECORDER);
    fs::write(s.dir.join("down"), "").unwrap();
    // the ./start check starts the service, then decides it is broken
    support::script(
        &s.dir.join("start"),
        "#!/bin/sh\nsvc -u .\nsleep 1\nexit 1\n",
    );
    s.start();
    let out = front(&s, "svcstart", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out), "Starting s FAILED\n");
    assert!(
        wait_until(LONG, || s.pid() == 0),
        "service must be left down"
    );
    assert!(s.svstat().starts_with("s: down "));
    assert!(has_down(&s), "down file restored");
    assert_eq!(s.starts().len(), 1, "started once by the check");
}

#[test]
fn svcstart_with_passing_check_trusts_it() {
    let mut s = Svc::new(RECORDER);
    support::script(&s.dir.join("start"), "#!/bin/sh\nsvc -u . && exit 0\n");
    fs::write(s.dir.join("down"), "").unwrap();
    s.start();
    let out = front(&s, "svcstart", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(wait_until(LONG, || s.pid() != 0));
}

#[test]
fn svcstart_of_crashing_service_fails_within_timeout() {
    let mut s = Svc::new("#!/bin/sh\necho \"start $$\" >> events\nexit 1\n");
    fs::write(s.dir.join("down"), "").unwrap();
    s.start();
    let out = front(&s, "svcstart", &["-t", "3"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(text(&out), "Starting s FAILED\n");
    assert!(!s.starts().is_empty(), "it was tried");
    // left down: supervise wants it down, so it is not restarted
    assert!(wait_until(LONG, || s.svstat().starts_with("s: down ")));
    let st = daemontools::svctl::status(&s.dir).unwrap();
    assert_eq!((st.pid, st.want), (0, b'd'));
    assert!(has_down(&s), "down file kept");
}

#[test]
fn svcstop_stops_and_creates_down() {
    let mut s = Svc::new(RECORDER);
    s.start();
    let pid = s.wait_new_pid(0);
    let out = front(&s, "svcstop", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(text(&out), "Stopping s OK\n");
    assert_eq!(s.pid(), 0);
    assert!(wait_until(LONG, || !support::alive(pid as i32)));
    assert!(has_down(&s));
}

#[test]
fn svcstop_of_service_ignoring_term() {
    let mut s = Svc::new(STUBBORN);
    s.start();
    let pid = s.wait_new_pid(0);
    // without -k: reported after the timeout, service still there
    let out = front(&s, "svcstop", &["-t", "1.5"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out), "Stopping s FAILED (still running)\n");
    assert!(support::alive(pid as i32));
    assert!(s.svstat().contains(", want down"));
    // with -k: killed after the timeout
    let out = front(&s, "svcstop", &["-k", "-t", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(wait_until(LONG, || !support::alive(pid as i32)));
    assert_eq!(s.pid(), 0);
}

#[test]
fn svcstop_runs_stop_script() {
    let mut s = Svc::new(RECORDER);
    support::script(
        &s.dir.join("stop"),
        "#!/bin/sh\necho stopscript >> events\nsvc -d .\nexit 0\n",
    );
    s.start();
    s.wait_new_pid(0);
    let out = front(&s, "svcstop", &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(s.events().contains(&"stopscript".to_string()));
    assert!(wait_until(LONG, || s.pid() == 0));
}

#[test]
fn svcrestart_only_restarts_a_running_service() {
    let mut s = Svc::new(RECORDER);
    fs::write(s.dir.join("down"), "").unwrap();
    s.start();
    let out = front(&s, "svcrestart", &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out), "s: not running, not restarted\n");
    assert!(s.starts().is_empty());
    assert_eq!(s.pid(), 0);
    // running: a new process, down file untouched
    s.svc("-u");
    let pid = s.wait_new_pid(0);
    let out = front(&s, "svcrestart", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(text(&out), "Stopping s OK\nStarting s OK\n");
    let pid2 = s.pid();
    assert!(pid2 != 0 && pid2 != pid);
    assert!(has_down(&s), "svcrestart leaves down alone");
}

#[test]
fn svcreset_honours_down() {
    let mut s = Svc::new(RECORDER);
    s.start();
    s.wait_new_pid(0);
    // down present: reset stops it
    fs::write(s.dir.join("down"), "").unwrap();
    let out = front(&s, "svcreset", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(s.pid(), 0);
    assert!(has_down(&s));
    // down absent: reset starts it
    fs::remove_file(s.dir.join("down")).unwrap();
    let out = front(&s, "svcreset", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_ne!(s.pid(), 0);
    assert!(!has_down(&s));
}

#[test]
fn without_supervise_and_usage() {
    let tmp = support::tempdir();
    support::script(&tmp.path().join("s/run"), RECORDER);
    let out = support::run(support::bin("svcstart"), &["-t", "0.5", "s"], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out), "Starting s FAILED (supervise not running)\n");
    let out = support::run(support::bin("svcstop"), &["s"], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out), "Stopping s FAILED (supervise not running)\n");
    for prog in ["svcstart", "svcstop", "svcrestart", "svcreset"] {
        for args in [&[][..], &["-t", "x", "s"][..], &["-z", "s"][..]] {
            let out = support::run(support::bin(prog), args, Path::new("/"));
            assert_eq!(out.status.code(), Some(100), "{prog} {args:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.ends_with(&format!(
                "{prog}: usage: {prog} [-q] [-k] [-t seconds] dir ...\n"
            )));
        }
    }
}
