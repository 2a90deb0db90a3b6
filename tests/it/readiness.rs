//! Readiness and waiting (issue 13) on real temp service directories: the
//! three sources (`notification-fd`, `notify-socket` with sd_notify
//! datagrams, `check`), the watchdog, svwait (timeouts, 100 services, a
//! killed supervise, 0.76's supervise), `svc -w`, svcstart, and bad input
//! (bad files, a fd closed without a newline, floods, oversized and
//! foreign datagrams, descriptors sent along). The tiny daemons block on
//! a fifo until the test lets them go and touch a marker just before they
//! signal, so the tests assert order, never time.

use crate::support;
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use daemontools::record::{Ending, ReadyError, Record, State};

use crate::support::svdir::{Stderr, Svc, record, status_pid, wait_record};
use crate::support::{LONG, Proc, wait_until};

/// sd_notify for shell scripts: `perl ../notify.pl 'KEY=V\nKEY=V' [prog
/// args]` sends one datagram to $NOTIFY_SOCKET, then execs prog (same pid:
/// `exec perl ../notify.pl ...` sends as the main process).
const NOTIFY_PL: &str = r#"use strict; use Socket;
my $addr = $ENV{NOTIFY_SOCKET} // die "no NOTIFY_SOCKET\n";
$addr =~ s/^@/\0/;
socket(my $s, AF_UNIX, SOCK_DGRAM, 0) or die "socket: $!\n";
my $msg = shift @ARGV; $msg =~ s/\\n/\n/g;
send($s, $msg, 0, pack_sockaddr_un($addr)) or die "send: $!\n";
exec @ARGV if @ARGV;
"#;

/// Waits until the daemon reads a line from the fifo `go` (a shell
/// `read x < go`): blocks until it opens it.
fn go(s: &Svc) {
    fs::write(s.dir.join("go"), "go\n").unwrap();
}

fn mkfifo(path: &Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
}

/// A service directory whose daemon first waits for `go`.
fn service(run: &str, files: &[(&str, &str)]) -> Svc {
    let s = Svc::new(run);
    fs::write(s.root.join("notify.pl"), NOTIFY_PL).unwrap();
    mkfifo(&s.dir.join("go"));
    for (name, content) in files {
        fs::write(s.dir.join(name), content).unwrap();
    }
    s
}

fn ours(s: &Svc, prog: &str, args: &[&str]) -> Output {
    support::run(support::bin(prog), args, &s.root)
}

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Starts `prog args` in the tree's root (stderr piped).
fn start(s: &Svc, prog: &str, args: &[&str]) -> Proc {
    support::spawn(support::bin(prog), args, &s.root, |c| {
        c.stdout(Stdio::null()).stderr(Stdio::piped());
    })
}

/// Waits for a spawned program's exit code.
fn exit_code(p: &mut Proc) -> Option<i32> {
    p.wait_timeout(LONG).expect("did not exit").code()
}

/// Waits until ./run runs (with a pid other than `old`); its pid.
fn up_pid(s: &Svc, old: u32) -> u32 {
    wait_record(s, "up", |r| r.state == State::Up && r.pid != old).pid
}

fn up_unready(r: &Record) -> bool {
    r.state == State::Up && r.ready.is_none()
}

fn svstat_long(s: &Svc) -> String {
    String::from_utf8(ours(s, "svstat", &["--long", "s"]).stdout).unwrap()
}

/// Waits until the waiter `p` (svwait, svc -w) is set up on `n`
/// services: it then holds their `supervise/ok` open, which it opens last.
fn armed(p: &Proc, n: usize) {
    let held = || {
        fs::read_dir(format!("/proc/{}/fd", p.pid()))
            .map(|d| {
                d.filter_map(|e| fs::read_link(e.ok()?.path()).ok())
                    .filter(|l| l.ends_with("supervise/ok"))
                    .count()
            })
            .unwrap_or(0)
    };
    assert!(
        wait_until(LONG, || held() >= n),
        "the waiter did not set up"
    );
}

/// Descriptors supervise holds.
fn open_fds(pid: i32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

/// Asserts that process `pid` comes back to `n` open descriptors:
/// supervise holds one for a moment at each write of its files (the
/// summary follows the record a reader has just seen), a leak stays.
fn assert_fds_settle(pid: i32, n: usize) {
    let mut last = 0;
    let settled = wait_until(LONG, || {
        last = open_fds(pid);
        last == n
    });
    assert!(settled, "{last} descriptors open, {n} before");
}

// ---- the sources ------------------------------------------------------------

#[test]
fn notification_fd_after_a_delay() {
    // the daemon keeps writing until supervise has closed its end: EPIPE
    let run = "#!/bin/sh\ntrap '' PIPE\nread x < go\ntouch marker\necho >&3\n\
               while echo more >&3; do :; done 2>/dev/null\ntouch epipe\nexec sleep 1000\n";
    let mut s = service(run, &[("notification-fd", "3\n")]);
    s.start();
    let r = wait_record(&s, "up", up_unready);
    assert_eq!(r.ready_sources.names(), vec!["notification-fd"]);
    assert_eq!(r.ready_pending, r.ready_sources);
    // not ready yet: a timeout is 99, and a waiting svwait waits
    let o = ours(&s, "svwait", &["-U", "-t", "100", "s"]);
    assert_eq!(code(&o), Some(99), "{}", stderr(&o));
    assert_eq!(stderr(&o), "svwait: fatal: timed out\n");
    let mut w = start(&s, "svwait", &["-U", "s"]);
    assert!(svstat_long(&s).contains(", not ready (waiting for notification-fd)"));
    assert!(w.child.try_wait().unwrap().is_none());
    go(&s);
    assert_eq!(exit_code(&mut w), Some(0));
    assert!(
        s.dir.join("marker").exists(),
        "svwait returned before the signal"
    );
    let r = record(&s).unwrap();
    assert!(r.ready.is_some() && r.ready_pending.is_empty());
    assert!(r.ready.unwrap() >= r.since);
    assert!(svstat_long(&s).contains(", ready "));
    // supervise closed its end at the newline
    assert!(wait_until(LONG, || s.dir.join("epipe").exists()));
    // already ready: at once
    assert_eq!(code(&ours(&s, "svwait", &["-U", "-t", "1", "s"])), Some(0));
}

#[test]
fn ready_datagram_counts_from_the_main_process_only() {
    // a child of ./run says READY=1 first: not the main process
    let run = "#!/bin/sh\necho \"$NOTIFY_SOCKET\" > socket\n\
               perl ../notify.pl 'READY=1\\nSTATUS=from a child'\ntouch child-sent\n\
               read x < go\ntouch marker\n\
               exec perl ../notify.pl 'READY=1\\nSTATUS=serving\\nMAINPID=1' sleep 1000\n";
    let mut s = service(run, &[("notify-socket", "")]);
    s.start();
    let mut err = Stderr::take(&mut s);
    let pid = up_pid(&s, 0);
    assert!(wait_until(LONG, || s.dir.join("child-sent").exists()));
    let ignored = err.lines();
    let ok = wait_until(LONG, || {
        err.lines().iter().any(|l| {
            l.contains(": notify message from pid ")
                && l.ends_with("not the service's main process: ignored")
        })
    });
    assert!(ok, "no warning in {:?} (before: {ignored:?})", err.lines());
    let r = wait_record(&s, "up", up_unready);
    assert_eq!(r.status_text, None, "the child's message counted");
    let o = ours(&s, "svwait", &["-U", "-t", "100", "s"]);
    assert_eq!(code(&o), Some(99));
    let name = fs::read_to_string(s.dir.join("socket")).unwrap();
    assert!(name.starts_with("@daemontools-rs/notify/"), "{name}");
    let mut w = start(&s, "svwait", &["-U", "s"]);
    go(&s);
    assert_eq!(exit_code(&mut w), Some(0));
    assert!(s.dir.join("marker").exists());
    let r = wait_record(&s, "ready", |r| r.ready.is_some());
    assert_eq!(r.pid, pid, "the main process is still ./run's pid");
    assert_eq!(r.status_text.as_deref(), Some(&b"serving"[..]));
    assert_eq!(r.main_pid, 1);
    let long = svstat_long(&s);
    assert!(long.contains(", status \"serving\", main pid 1,"), "{long}");
    // one warning for the foreign message, not one per datagram
    let foreign = err
        .lines()
        .iter()
        .filter(|l| l.contains("not the service's"))
        .count();
    assert_eq!(foreign, 1);
}

#[test]
fn notify_access_all_takes_any_process_of_the_service() {
    // a child of ./run says READY=1, and lives on until told (a sender
    // that has exited cannot be placed in the service: see below)
    let run = "#!/bin/sh\nread x < go\ntouch marker\n\
               perl ../notify.pl 'READY=1' sh -c 'read x < go'\n\
               perl ../notify.pl 'STATUS=from the dead'\ntouch sent\nexec sleep 1000\n";
    let mut s = service(run, &[("notify-socket", "all\n")]);
    s.start();
    let mut err = Stderr::take(&mut s);
    wait_record(&s, "up", up_unready);
    let mut w = start(&s, "svwait", &["-U", "s"]);
    go(&s);
    assert_eq!(exit_code(&mut w), Some(0));
    assert!(s.dir.join("marker").exists());
    // the helper ends; the next one sends and exits while supervise is
    // stopped, so it has exited when supervise reads its message: ignored,
    // said once
    s.sup_mut().signal(libc::SIGSTOP);
    go(&s);
    let sent = wait_until(LONG, || s.dir.join("sent").exists());
    s.sup_mut().signal(libc::SIGCONT);
    assert!(sent, "the second helper did not run");
    let ok = wait_until(LONG, || {
        err.lines().iter().any(|l| {
            l.starts_with("supervise: warning: s: notify message from pid ")
                && l.ends_with(", which has already exited: ignored")
        })
    });
    assert!(ok, "{:?}", err.lines());
    assert_eq!(record(&s).unwrap().status_text, None);
}

#[test]
fn check_succeeds_on_the_third_try() {
    let check = "#!/bin/sh\nn=$(cat tries 2>/dev/null || echo 0)\nn=$((n + 1))\n\
                 echo $n > tries\necho stdout is not the log\n\
                 [ $n -ge 3 ] || exit 1\ntouch marker\nexit 0\n";
    let mut s = service(
        "#!/bin/sh\nexec sleep 1000\n",
        &[("check-interval", "20\n")],
    );
    support::script(&s.dir.join("check"), check);
    fs::write(s.dir.join("down"), "").unwrap();
    s.start();
    let mut w = start(&s, "svwait", &["-U", "s"]);
    s.svc("-u");
    assert_eq!(exit_code(&mut w), Some(0));
    assert!(s.dir.join("marker").exists());
    assert_eq!(fs::read_to_string(s.dir.join("tries")).unwrap(), "3\n");
    let r = record(&s).unwrap();
    assert_eq!(r.ready_sources.names(), vec!["check"]);
    assert!(r.ready.is_some());
    // a restarted service is not ready until the check says so again
    fs::write(s.dir.join("tries"), "0\n").unwrap();
    fs::remove_file(s.dir.join("marker")).unwrap();
    let mut w = start(&s, "svwait", &["-R", "s"]);
    armed(&w, 1);
    s.svc("-t");
    assert_eq!(exit_code(&mut w), Some(0));
    assert!(s.dir.join("marker").exists());
    assert_eq!(fs::read_to_string(s.dir.join("tries")).unwrap(), "3\n");
}

#[test]
fn check_timeout_is_recorded_not_fatal() {
    let mut s = service(
        "#!/bin/sh\nexec sleep 1000\n",
        &[("check-interval", "20"), ("timeout-check", "300")],
    );
    support::script(&s.dir.join("check"), "#!/bin/sh\nexit 1\n");
    s.start();
    let mut err = Stderr::take(&mut s);
    let pid = up_pid(&s, 0);
    let r = wait_record(&s, "check timed out", |r| r.ready_error.is_some());
    assert_eq!(r.ready_error, Some(ReadyError::CheckTimeout));
    assert_eq!((r.state, r.pid, r.ready), (State::Up, pid, None));
    err.wait_line(
        "supervise: warning: s/check: did not exit 0 within timeout-check: not ready until the next start",
    );
    assert!(svstat_long(&s).contains(", not ready (check timed out)"));
    assert_eq!(
        code(&ours(&s, "svwait", &["-U", "-t", "50", "s"])),
        Some(99)
    );
}

#[test]
fn watchdog_that_stops_pinging_is_aborted_and_restarted() {
    // pings three times, then stops; records its environment first
    let pinger = r#"use Socket; my $a = $ENV{NOTIFY_SOCKET}; $a =~ s/^@/\0/;
open(my $f, '>>', 'env'); print $f "$$ $ENV{WATCHDOG_USEC} $ENV{WATCHDOG_PID}\n"; close $f;
socket(my $s, AF_UNIX, SOCK_DGRAM, 0) or die;
send($s, "READY=1", 0, pack_sockaddr_un($a));
for (1..3) { select(undef, undef, undef, 0.05); send($s, "WATCHDOG=1", 0, pack_sockaddr_un($a)); }
$SIG{ABRT} = 'IGNORE' if -e 'ignore-abrt';
open($f, '>', 'stopped'); close $f; sleep 1000;
"#;
    let mut s = service(
        "#!/bin/sh\nexec perl ../pinger.pl\n",
        &[("notify-socket", ""), ("watchdog", "400\n")],
    );
    fs::write(s.root.join("pinger.pl"), pinger).unwrap();
    s.start();
    let mut err = Stderr::take(&mut s);
    // the period is in the record while the daemon runs (0 while down)
    wait_record(&s, "a watchdog period", |r| {
        r.state == State::Up && r.watchdog_usec == 400_000
    });
    let r = wait_record(&s, "a watchdog timeout", |r| {
        r.last_exit.is_some_and(|e| e.watchdog)
    });
    let env = fs::read_to_string(s.dir.join("env")).unwrap();
    let first: Vec<&str> = env.lines().next().unwrap().split(' ').collect();
    assert_eq!(first[1], "400000", "WATCHDOG_USEC");
    assert_eq!(first[0], first[2], "WATCHDOG_PID is the daemon's pid");
    let e = r.last_exit.unwrap();
    assert_eq!(e.pid.to_string(), first[0]);
    assert_eq!(e.ending, Ending::Signal(6), "SIGABRT");
    assert!(r.watchdog_timeouts >= 1);
    err.wait_line("supervise: warning: s: watchdog: no WATCHDOG=1 for 400 ms: sending ABRT");
    // then the normal restart
    wait_record(&s, "restarted", |r| r.starts >= 2 && r.state == State::Up);
    assert!(svstat_long(&s).contains("watchdog timeouts"));
    // a daemon that ignores ABRT is killed after timeout-kill
    fs::write(s.dir.join("ignore-abrt"), "").unwrap();
    fs::write(s.dir.join("timeout-kill"), "200").unwrap();
    let r = wait_record(&s, "killed after the grace", |r| {
        r.last_exit
            .is_some_and(|e| e.watchdog && e.ending == Ending::Signal(9))
    });
    assert!(r.watchdog_timeouts >= 2);
}

// ---- svwait ----------------------------------------------------------------

/// `n` services under our supervise in one root, ended on drop.
struct Many {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    names: Vec<String>,
    sups: Vec<Proc>,
}

impl Many {
    fn new(n: usize, run: &str, files: &[(&str, &str)]) -> Many {
        let tmp = support::tempdir();
        let root = tmp.path().to_path_buf();
        let names: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
        // the daemons' `go`, there before any starts
        mkfifo(&root.join("go"));
        for name in &names {
            support::script(&root.join(name).join("run"), run);
            for (f, c) in files {
                fs::write(root.join(name).join(f), c).unwrap();
            }
        }
        let sups = names
            .iter()
            .map(|name| {
                support::spawn(support::bin("supervise"), &[name], &root, |c| {
                    c.stdout(Stdio::null()).stderr(Stdio::null());
                })
            })
            .collect();
        Many {
            _tmp: tmp,
            root,
            names,
            sups,
        }
    }

    fn args<'a>(&'a self, opts: &[&'a str]) -> Vec<&'a str> {
        let mut v = opts.to_vec();
        v.extend(self.names.iter().map(String::as_str));
        v
    }

    fn records(&self) -> Vec<Option<Record>> {
        self.names
            .iter()
            .map(|n| {
                let text = fs::read(self.root.join(n).join("supervise/status.json")).ok()?;
                Record::parse(&text).ok()
            })
            .collect()
    }
}

impl Drop for Many {
    fn drop(&mut self) {
        self.sups.clear();
        for n in &self.names {
            let pid = status_pid(&self.root.join(n).join("supervise/status"));
            if pid != 0 {
                support::send_signal(pid as i32, 9);
            }
        }
    }
}

#[test]
fn svwait_on_100_services_at_once() {
    let run = "#!/bin/sh\nread x < ../go\necho >&3\nexec sleep 1000\n";
    let t = Many::new(100, run, &[("notification-fd", "3")]);
    assert!(
        wait_until(LONG, || t
            .records()
            .iter()
            .all(|r| r.as_ref().is_some_and(up_unready))),
        "not all up"
    );
    let svwait = support::bin("svwait");
    let o = support::run(&svwait, &t.args(&["-U", "-t", "100"]), &t.root);
    assert_eq!(o.status.code(), Some(99));
    let spawn = |opts: &[&str]| {
        support::spawn(&svwait, &t.args(opts), &t.root, |c| {
            c.stderr(Stdio::null());
        })
    };
    let mut all = spawn(&["-U"]);
    let mut any = spawn(&["-U", "-o"]);
    // let them go: one line each, the fifo held open until all have read
    let mut fifo = fs::OpenOptions::new()
        .write(true)
        .open(t.root.join("go"))
        .unwrap();
    std::io::Write::write_all(&mut fifo, &[b'\n'; 100]).unwrap();
    assert_eq!(exit_code(&mut any), Some(0));
    assert_eq!(exit_code(&mut all), Some(0));
    drop(fifo);
    assert!(
        t.records()
            .iter()
            .all(|r| r.as_ref().unwrap().ready.is_some())
    );
    // svc -w on all of them
    let o = support::run(
        support::bin("svc"),
        &t.args(&["-wD", "-T", "20000", "-d"]),
        &t.root,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        t.records()
            .iter()
            .all(|r| r.as_ref().unwrap().state == State::Down)
    );
}

#[test]
fn svwait_returns_102_when_supervise_is_killed() {
    let mut s = service("#!/bin/sh\nexec sleep 1000\n", &[("notification-fd", "3")]);
    s.start();
    wait_record(&s, "up", up_unready);
    let mut w = start(&s, "svwait", &["-U", "s"]);
    let mut d = start(&s, "svwait", &["-d", "s"]);
    // svc -w checks for supervise first (100 without): let it set up
    let mut c = start(&s, "svc", &["-wU", "s"]);
    armed(&c, 1);
    s.sup_mut().signal(9);
    assert_eq!(exit_code(&mut w), Some(102));
    assert_eq!(exit_code(&mut d), Some(102));
    assert_eq!(exit_code(&mut c), Some(102), "svc -w: 102 too");
    let mut msg = String::new();
    std::io::Read::read_to_string(&mut w.child.stderr.take().unwrap(), &mut msg).unwrap();
    assert_eq!(
        msg,
        "svwait: fatal: unable to wait for s: supervise not running\n"
    );
    // and when it is not running at all
    assert_eq!(code(&ours(&s, "svwait", &["-u", "s"])), Some(102));
}

#[test]
fn svwait_restarted_waits_for_a_new_run() {
    let run = "#!/bin/sh\necho >&3\nexec sleep 1000\n";
    let mut s = service(run, &[("notification-fd", "3")]);
    s.start();
    let r = wait_record(&s, "ready", |r| r.ready.is_some());
    assert_eq!(
        code(&ours(&s, "svwait", &["-R", "-t", "100", "s"])),
        Some(99)
    );
    let mut w = start(&s, "svwait", &["-R", "s"]);
    armed(&w, 1);
    s.svc("-t");
    assert_eq!(exit_code(&mut w), Some(0));
    let now = record(&s).unwrap();
    assert!(now.starts > r.starts && now.ready.is_some());
}

#[test]
fn svwait_down_finished_and_permanent_failure() {
    let mut s = service("#!/bin/sh\nexec sleep 1000\n", &[]);
    support::script(
        &s.dir.join("finish"),
        "#!/bin/sh\nread x < go\n[ -e fail ] && exit 125\nexit 0\n",
    );
    s.start();
    up_pid(&s, 0);
    // -d returns once ./run is gone, -D once ./finish is done too
    let mut d = start(&s, "svwait", &["-d", "s"]);
    let mut dd = start(&s, "svwait", &["-D", "s"]);
    armed(&d, 1);
    armed(&dd, 1);
    s.svc("-d");
    assert_eq!(exit_code(&mut d), Some(0));
    wait_record(&s, "finishing", |r| r.state == State::Finishing);
    assert!(dd.child.try_wait().unwrap().is_none());
    go(&s);
    assert_eq!(exit_code(&mut dd), Some(0));
    // waiting for up when the service fails for good: 1 (one service)
    fs::write(s.dir.join("fail"), "").unwrap();
    s.svc("-u");
    up_pid(&s, 0);
    let mut u = start(&s, "svwait", &["-u", "-t", "0", "s"]);
    let mut r = start(&s, "svwait", &["-r", "s"]);
    armed(&r, 1);
    s.svc("-k");
    go(&s);
    assert_eq!(exit_code(&mut u), Some(0), "it was up");
    assert_eq!(exit_code(&mut r), Some(1), "down, then failed for good");
    let mut msg = String::new();
    std::io::Read::read_to_string(&mut r.child.stderr.take().unwrap(), &mut msg).unwrap();
    assert_eq!(
        msg,
        "svwait: fatal: s failed permanently (finish exited 125)\n"
    );
    // an old failure does not end a new wait
    wait_record(&s, "failed", |r| r.failed.is_some());
    assert_eq!(
        code(&ours(&s, "svwait", &["-u", "-t", "100", "s"])),
        Some(99)
    );
}

#[test]
fn svwait_reads_0_76_supervise_and_its_death() {
    let Some(reference) = support::reference("supervise") else {
        return support::missing("Debian's daemontools (supervise) is not installed");
    };
    let mut s = service(
        "#!/bin/sh\nexec sleep 1000\n",
        &[("down", ""), ("notification-fd", "3")],
    );
    s.start_with(&reference);
    let mut w = start(&s, "svwait", &["-U", "s"]);
    s.svc("-u");
    assert_eq!(exit_code(&mut w), Some(0));
    let mut msg = String::new();
    std::io::Read::read_to_string(&mut w.child.stderr.take().unwrap(), &mut msg).unwrap();
    assert_eq!(
        msg,
        "svwait: warning: s: its supervise records no readiness: waiting for up\n"
    );
    assert!(!s.dir.join("supervise/status.json").exists());
    let mut d = start(&s, "svwait", &["-d", "s"]);
    s.sup_mut().signal(9);
    assert_eq!(
        exit_code(&mut d),
        Some(102),
        "POLLERR works on 0.76's ok fifo"
    );
}

// ---- svc -w, svcstart --------------------------------------------------------

#[test]
fn svc_wait_flags() {
    let run = "#!/bin/sh\nread x < go\ntouch marker\necho >&3\nexec sleep 1000\n";
    let mut s = service(run, &[("down", ""), ("notification-fd", "3")]);
    s.start();
    let mut w = start(&s, "svc", &["-wU", "-u", "s"]);
    wait_record(&s, "up", up_unready);
    assert!(w.child.try_wait().unwrap().is_none());
    go(&s);
    assert_eq!(exit_code(&mut w), Some(0));
    assert!(s.dir.join("marker").exists());
    // timeout: 1 (s6-svc's documented code)
    let o = ours(&s, "svc", &["-wd", "-T", "100", "s"]);
    assert_eq!(
        (code(&o), stderr(&o).as_str()),
        (Some(1), "svc: fatal: timed out\n")
    );
    let o = ours(&s, "svc", &["-wD", "-d", "s"]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    assert_eq!(s.pid(), 0);
    // bad -w letter; -w on a directory without supervise
    assert_eq!(code(&ours(&s, "svc", &["-wx", "s"])), Some(100));
    fs::create_dir(s.root.join("nosup")).unwrap();
    let o = ours(&s, "svc", &["-wu", "-u", "nosup"]);
    assert_eq!(code(&o), Some(100));
    // a service without readiness source: -wU is -wu, said once
    fs::remove_file(s.dir.join("notification-fd")).unwrap();
    let o = ours(&s, "svc", &["-wU", "-T", "20000", "-u", "s"]);
    assert_eq!(code(&o), Some(0));
    assert_eq!(
        stderr(&o),
        "svc: warning: s has no readiness source: waiting for up\n"
    );
    // without -w, -T means nothing and svc is 0.76's
    assert_eq!(code(&ours(&s, "svc", &["-T", "5", "s"])), Some(0));
}

#[test]
fn svcstart_waits_for_readiness() {
    let run = "#!/bin/sh\nread x < go\ntouch marker\necho >&3\nexec sleep 1000\n";
    let mut s = service(run, &[("down", ""), ("notification-fd", "3")]);
    s.start();
    let mut p = support::spawn(support::bin("svcstart"), &["s"], &s.root, |c| {
        c.stdout(Stdio::piped());
    });
    wait_record(&s, "up", up_unready);
    go(&s);
    assert_eq!(exit_code(&mut p), Some(0));
    assert!(s.dir.join("marker").exists());
    assert!(record(&s).unwrap().ready.is_some());
    // a service that never gets ready fails, and is left down
    assert_eq!(code(&ours(&s, "svc", &["-wD", "-d", "s"])), Some(0));
    fs::write(s.dir.join("down"), "").unwrap();
    fs::write(s.dir.join("run"), "#!/bin/sh\nexec sleep 1000\n").unwrap();
    let o = ours(&s, "svcstart", &["-t", "0.5", "s"]);
    assert_eq!(code(&o), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).ends_with("FAILED (not ready)\n"));
    assert!(s.dir.join("down").exists());
    wait_record(&s, "down again", |r| {
        r.want == daemontools::status::Want::Down
    });
}

// ---- bad input ---------------------------------------------------------------

#[test]
fn bad_notification_fd_and_a_fd_closed_without_newline() {
    let mut s = service(
        "#!/bin/sh\nprintf 'no newline' >&3\nexec 3>&-\nexec sleep 1000\n",
        &[("notification-fd", "abc\n")],
    );
    s.start();
    let mut err = Stderr::take(&mut s);
    err.wait_line(
        "supervise: warning: bad descriptor number in s/notification-fd: running without it",
    );
    let r = wait_record(&s, "up", |r| r.state == State::Up);
    assert!(r.ready_sources.is_empty() && r.ready.is_none());
    // a valid number: the daemon closes it without a newline
    fs::write(s.dir.join("notification-fd"), "3").unwrap();
    let pid = s.pid();
    s.svc("-t");
    let r = wait_record(&s, "fd closed", |r| r.pid != pid && r.ready_error.is_some());
    assert_eq!(r.ready_error, Some(ReadyError::FdClosed));
    err.wait_line("supervise: warning: s/notification-fd: closed without a newline: not ready until the next start");
    assert_eq!(
        code(&ours(&s, "svwait", &["-U", "-t", "100", "s"])),
        Some(99)
    );
    assert!(svstat_long(&s).contains("not ready (notification-fd closed without a newline)"));
    // still running, the one warning said once
    assert_eq!(s.pid(), r.pid);
    let said = err
        .lines()
        .iter()
        .filter(|l| l.contains("closed without"))
        .count();
    assert_eq!(said, 1);
}

/// The notify socket's address, as ./run wrote it, for sendto(2).
fn socket_addr(s: &Svc) -> nix::sys::socket::UnixAddr {
    let path = s.dir.join("socket");
    assert!(wait_until(LONG, || fs::read(&path).is_ok_and(|t| t.ends_with(b"\n"))));
    let name = fs::read_to_string(path).unwrap();
    let name = name.trim_end().strip_prefix('@').unwrap().to_string();
    nix::sys::socket::UnixAddr::new_abstract(name.as_bytes()).unwrap()
}

fn dgram() -> OwnedFd {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};
    socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap()
}

#[test]
fn floods_oversized_and_foreign_datagrams_and_descriptors_leak_nothing() {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg, sendto};
    // the main process sends one oversized datagram, then waits
    let big = "X".repeat(5000);
    let run = format!(
        "#!/bin/sh\necho \"$NOTIFY_SOCKET\" > socket\n\
         exec perl ../notify.pl 'STATUS={big}' sh -c 'read x < go; exec perl ../notify.pl READY=1 sleep 1000'\n"
    );
    let mut s = service(&run, &[("notify-socket", "")]);
    s.start();
    let mut err = Stderr::take(&mut s);
    let sup = s.sup_mut().pid();
    let addr = socket_addr(&s);
    err.wait_line("supervise: warning: s: notify datagram over 4096 bytes: ignored");
    wait_record(&s, "up", up_unready);
    // no write under way: the count is supervise's own
    crate::support::svdir::wait_state_written(&s.dir.join("supervise"));
    let before = open_fds(sup);
    // a flood from a foreign process (this test): one warning
    let sock = dgram();
    for i in 0..20_000 {
        let _ = sendto(
            sock.as_raw_fd(),
            format!("READY=1\nSTATUS={i}").as_bytes(),
            &addr,
            MsgFlags::MSG_DONTWAIT,
        );
    }
    // descriptors sent along: closed at once (our read ends see POLLHUP)
    let mut reads = Vec::new();
    for n in [1usize, 3, 100] {
        // close-on-exec: what other tests start meanwhile must not inherit them
        let pipe = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let pipes: Vec<(OwnedFd, OwnedFd)> = (0..n).map(|_| pipe()).collect();
        let fds: Vec<i32> = pipes.iter().map(|(_, w)| w.as_raw_fd()).collect();
        let iov = [std::io::IoSlice::new(b"FDSTORE=1")];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        sendmsg(
            sock.as_raw_fd(),
            &iov,
            &cmsg,
            MsgFlags::empty(),
            Some(&addr),
        )
        .unwrap();
        reads.extend(pipes.into_iter().map(|(r, _w)| r));
    }
    for r in &reads {
        let hup = wait_until(LONG, || {
            let mut p = [nix::poll::PollFd::new(
                std::os::fd::AsFd::as_fd(r),
                nix::poll::PollFlags::empty(),
            )];
            nix::poll::poll(&mut p, nix::poll::PollTimeout::ZERO).unwrap();
            p[0].revents()
                .is_some_and(|e| e.contains(nix::poll::PollFlags::POLLHUP))
        });
        assert!(hup, "a descriptor sent to the notify socket was kept");
    }
    // supervise still answers, is not ready, holds no more descriptors
    s.svc("-p");
    wait_record(&s, "paused", |r| r.paused);
    s.svc("-c");
    let r = wait_record(&s, "continued", |r| !r.paused);
    assert!(r.ready.is_none() && r.status_text.is_none());
    assert_fds_settle(sup, before);
    let lines = err.lines();
    let foreign = lines
        .iter()
        .filter(|l| l.contains("not the service's main process"))
        .count();
    assert_eq!(foreign, 1, "{lines:?}");
    // the main process can still make it ready
    go(&s);
    assert_eq!(
        code(&ours(&s, "svwait", &["-U", "-t", "20000", "s"])),
        Some(0)
    );
    assert_fds_settle(sup, before);
}

#[test]
fn a_service_without_the_new_files_keeps_0_76_environment() {
    let mut s = Svc::new("#!/bin/sh\nenv > env\nexec sleep 1000\n");
    s.start();
    assert!(wait_until(LONG, || fs::read(s.dir.join("env"))
        .is_ok_and(|e| !e.is_empty())));
    up_pid(&s, 0);
    let env = fs::read_to_string(s.dir.join("env")).unwrap();
    assert!(
        !env.contains("NOTIFY_SOCKET=") && !env.contains("WATCHDOG_"),
        "{env}"
    );
    let r = wait_record(&s, "up", |r| r.state == State::Up);
    assert!(r.ready_sources.is_empty() && r.ready.is_none());
    // -U on it is -u, said once
    let o = ours(&s, "svwait", &["-U", "s"]);
    assert_eq!(code(&o), Some(0));
    assert_eq!(
        stderr(&o),
        "svwait: warning: s has no readiness source: waiting for up\n"
    );
}
