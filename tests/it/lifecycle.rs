//! The service lifecycle (issue 12) on real temp service directories:
//! supervise/status.json (exit codes, signals, core dumps, start counts),
//! ./finish with s6's arguments and timeout-finish, the backoff schedule as
//! recorded, permanent failure (finish exit 125), down-signal,
//! timeout-kill, kill-group, cgroup containment, ./notify, bad settings
//! files, and svstat --long. Every wait polls with a deadline.

use crate::support;
use std::fs;
use std::path::{Path, PathBuf};

use daemontools::record::{self, Ending, Record, State};
use daemontools::status::Want;

use crate::support::svdir::{Stderr, Svc, record, status_pid, wait_record};
use crate::support::{LONG, wait_until};

fn write(s: &Svc, name: &str, content: &str) {
    fs::write(s.dir.join(name), content).unwrap();
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// A service that starts only on `svc -o` / `svc -u` (a `down` file).
fn down_service(run: &str) -> Svc {
    let s = Svc::new(run);
    write(&s, "down", "");
    s
}

/// Kills the pids listed in files (one per line) when dropped: helper
/// processes a test's scripts started.
struct KillPids(Vec<PathBuf>);

impl Drop for KillPids {
    fn drop(&mut self) {
        for f in &self.0 {
            for l in lines(f) {
                if let Some(pid) = l.split_whitespace().last().and_then(|p| p.parse().ok()) {
                    support::send_signal(pid, 9);
                }
            }
        }
    }
}

fn read_pid(path: &Path) -> Option<i32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

// ---- §1 the record ----------------------------------------------------------

#[test]
fn record_is_in_step_with_the_18_byte_status_and_tells_a_dead_supervise() {
    let mut s = Svc::new(support::svdir::RECORDER);
    s.start();
    let pid = s.wait_new_pid(0);
    let sup_pid = s.sup_mut().pid() as u32;
    let snap = {
        let mut snap = None;
        assert!(wait_until(LONG, || {
            snap = record::read(&s.dir).ok();
            snap.as_ref().is_some_and(|x| x.in_step().is_some())
        }));
        snap.unwrap()
    };
    assert!(snap.live);
    let r = snap.in_step().unwrap();
    assert_eq!(r.pid, pid);
    assert_eq!(r.supervise_pid, sup_pid);
    assert_eq!(r.service, b"s");
    assert_eq!((r.state, r.want), (State::Up, Want::Up));
    assert!(r.normally_up && !r.paused && !r.exiting);
    assert_eq!((r.starts, r.starts_since_up), (1, 1));
    assert_eq!(r.since, snap.status.stamp);
    // plain serde_json sees the documented fields and types
    let text = fs::read(s.dir.join("supervise/status.json")).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&text).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["pid"], pid);
    assert_eq!(v["state"], "up");
    assert_eq!(v["since"]["tai64n"].as_str().unwrap().len(), 25);
    assert!(v["since"]["unix"].as_f64().unwrap() > 1.6e9);
    assert!(v["last_exit"].is_null() && v["next_start"].is_null());
    assert!(!s.dir.join("supervise/status.json.new").exists());
    // pause shows in both files
    s.svc("-p");
    wait_record(&s, "paused", |r| r.paused);
    s.svc("-c");
    wait_record(&s, "continued", |r| !r.paused);
    // a killed supervise leaves both files; the reader tells it is dead
    s.sup_mut().signal(9);
    s.sup_mut()
        .wait_timeout(LONG)
        .expect("supervise did not die");
    let snap = record::read(&s.dir).unwrap();
    assert!(!snap.live);
    assert_eq!(snap.in_step().unwrap().pid, pid);
}

/// Runs a fixed command sequence under `prog` (ours or Debian's
/// supervise) and returns, after each step, the 18-byte record's shape:
/// (length, running, byte 16, byte 17, stamp changed since the last step).
fn status_shapes(prog: &Path) -> Vec<(usize, bool, u8, u8, bool)> {
    let mut s = Svc::new(support::svdir::RECORDER);
    write(&s, "down", "");
    s.start_with(prog);
    let path = s.dir.join("supervise/status");
    let read = || fs::read(&path).unwrap_or_default();
    let mut shapes = Vec::new();
    let mut last_stamp: Vec<u8> = Vec::new();
    let mut step = |s: &Svc, cmd: &str, settled: &dyn Fn(&[u8]) -> bool| {
        if !cmd.is_empty() {
            s.svc(cmd);
        }
        let mut b = Vec::new();
        assert!(
            wait_until(LONG, || {
                b = read();
                b.len() >= 18 && settled(&b)
            }),
            "{cmd}: {b:?}"
        );
        let pid = u32::from_le_bytes(b[12..16].try_into().unwrap());
        shapes.push((b.len(), pid != 0, b[16], b[17], b[..12] != last_stamp[..]));
        last_stamp = b[..12].to_vec();
    };
    let up = |b: &[u8]| b[12..16] != [0; 4];
    step(&s, "", &|b| !up(b) && b[17] == b'd');
    step(&s, "-u", &|b| up(b) && b[17] == b'u');
    step(&s, "-p", &|b| b[16] == 1);
    step(&s, "-c", &|b| b[16] == 0);
    step(&s, "-d", &|b| !up(b) && b[17] == b'd');
    step(&s, "-o", &|b| up(b) && b[17] == 0);
    step(&s, "-k", &|b| !up(b));
    s.stop_and_exit();
    shapes
}

#[test]
fn status_bytes_keep_0_76s_shape_with_the_lifecycle_compiled_in() {
    let ours = status_shapes(&support::bin("supervise"));
    assert_eq!(
        ours,
        [
            (18, false, 0, b'd', true),
            (18, true, 0, b'u', true),
            (18, true, 1, b'u', false),
            (18, true, 0, b'u', false),
            (18, false, 0, b'd', true),
            (18, true, 0, 0, true),
            (18, false, 0, 0, true),
        ]
    );
    match support::reference("supervise") {
        Some(r) => assert_eq!(status_shapes(&r), ours),
        None => support::skip("reference supervise not installed"),
    }
}

fn core_dumps_show() -> Result<(), String> {
    let pattern = fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
    let pattern = pattern.trim();
    if pattern.starts_with('|') {
        return Err(format!(
            "core_pattern pipes to {pattern}: whether the dump counts depends on the helper"
        ));
    }
    if pattern.starts_with('/') {
        let dir = Path::new(pattern).parent().unwrap();
        if nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).is_err() {
            return Err(format!(
                "core_pattern directory {} not writable",
                dir.display()
            ));
        }
    }
    Ok(())
}

#[test]
fn exit_codes_signals_and_core_dumps_are_recorded() {
    // (run body, expected ending, expected core flag)
    let mut cases = vec![
        ("exit 3", Ending::Code(3), false),
        ("ulimit -c 0; kill -SEGV $$", Ending::Signal(11), false),
        ("kill -KILL $$", Ending::Signal(9), false),
    ];
    match core_dumps_show() {
        // RLIMIT_CORE is 0 here: the service raises its own
        Ok(()) => cases.push((
            "ulimit -c unlimited; kill -SEGV $$",
            Ending::Signal(11),
            true,
        )),
        Err(why) => support::skip(&why),
    }
    for (body, ending, core) in cases {
        let run = format!("#!/bin/sh\necho \"start $$\" >> events\n{body}\n");
        let mut s = down_service(&run);
        s.start();
        s.svc("-o");
        let r = wait_record(&s, body, |r| {
            r.last_exit.is_some() && r.state == State::Down
        });
        let e = r.last_exit.unwrap();
        assert_eq!((e.ending, e.core_dumped), (ending, core), "{body}");
        assert_eq!(e.pid, s.starts()[0], "{body}");
        assert_eq!(e.at, r.since, "{body}: the exit is the last pid change");
        assert_eq!((r.starts, r.pid), (1, 0));
        let long = support::run(support::bin("svstat"), &["--long", "s"], &s.root);
        let text = String::from_utf8(long.stdout).unwrap();
        let want = match ending {
            Ending::Code(c) => format!(", last exit {c}"),
            Ending::Signal(sig) => format!(", last killed by {}", record::signal_name(sig)),
        };
        assert!(text.contains(&want), "{text}");
        assert_eq!(text.contains("(core dumped)"), core, "{text}");
        s.stop_and_exit();
    }
}

#[test]
fn restarts_are_counted_since_supervise_and_since_asked_up() {
    let run = "#!/bin/sh\necho \"start $$\" >> events\n\
               [ \"$(grep -c start events)\" -le 3 ] && exit 1\nexec sleep 1000\n";
    let mut s = Svc::new(run);
    s.start();
    let r = wait_record(&s, "up after 3 crashes", |r| {
        r.state == State::Up && r.starts == 4
    });
    assert_eq!(r.starts_since_up, 4);
    assert_eq!(r.last_exit.unwrap().ending, Ending::Code(1));
    assert!(wait_until(LONG, || s.starts().len() == 4));
    s.svc("-d");
    let r = wait_record(&s, "down", |r| r.state == State::Down);
    assert_eq!(r.last_exit.unwrap().ending, Ending::Signal(15));
    s.svc("-u");
    let r = wait_record(&s, "up again", |r| r.state == State::Up && r.starts == 5);
    assert_eq!(r.starts_since_up, 1);
    s.stop_and_exit();
}

/// An exit and the restart that follows at once are one write of the
/// record (and of the summary), as doc/status-json.md says, and a write
/// that would not change the text is not made: a crash loop replaces
/// `status.json` and `summary` once per cycle. (`status` is not counted:
/// inotify merges the two renames of a cycle that follow each other.)
#[test]
fn a_crash_loop_writes_the_record_once_per_cycle() {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    use std::collections::HashMap;
    let run = "#!/bin/sh\necho \"start $$\" >> events\n\
               [ \"$(grep -c start events)\" -le 3 ] && exit 1\nexec sleep 1000\n";
    let mut s = Svc::new(run);
    fs::create_dir(s.dir.join("supervise")).unwrap();
    let watch = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).unwrap();
    watch
        .add_watch(&s.dir.join("supervise"), AddWatchFlags::IN_MOVED_TO)
        .unwrap();
    s.start();
    wait_record(&s, "up after 3 crashes", |r| {
        r.state == State::Up && r.starts == 4
    });
    let mut count = HashMap::<String, usize>::new();
    // the summary follows the record's last write
    let settled = wait_until(LONG, || {
        while let Ok(events) = watch.read_events() {
            for e in events {
                let name = e.name.map(|n| n.to_string_lossy().into_owned());
                *count.entry(name.unwrap_or_default()).or_default() += 1;
            }
        }
        count.contains_key("summary") && count.get("summary") == count.get("status.json")
    });
    assert!(settled, "{count:?}");
    s.stop_and_exit();
    // one write at start-up (before `ok`), one at the first start, one
    // for each of the 3 exits with the restart that follows it (0.76's
    // rewrite of the same status when its loop begins changes no text)
    let n = |f: &str| count.get(f).copied().unwrap_or(0);
    assert_eq!((n("status.json"), n("summary")), (5, 5), "{count:?}");
}

// ---- §2 ./finish --------------------------------------------------------------

#[test]
fn finish_gets_s6_arguments_and_runs_before_the_restart() {
    let run = "#!/bin/sh\necho \"start $$\" >> events\n\
               case $(grep -c start events) in 1) exit 3;; 2) kill -TERM $$;; esac\n\
               exec sleep 1000\n";
    let mut s = Svc::new(run);
    support::script(
        &s.dir.join("finish"),
        "#!/bin/sh\necho \"$@\" >> finish.log\n\
         if [ -e hold ]; then\n\
           while [ ! -e release ]; do sleep 0.05; done\n\
           svok . && echo alive >> finish.log\n\
         fi\n",
    );
    write(&s, "timeout-finish", "0\n");
    s.start();
    wait_record(&s, "third run up", |r| {
        r.state == State::Up && r.starts == 3
    });
    let log = s.dir.join("finish.log");
    assert_eq!(lines(&log), ["3 0 s", "256 15 s"]);

    // a finish that waits: state finishing, the 18-byte record says down
    write(&s, "hold", "");
    s.svc("-t");
    let r = wait_record(&s, "finishing", |r| r.state == State::Finishing);
    assert!(r.finish_pid != 0 && r.pid == 0);
    assert_eq!(status_pid(&s.dir.join("supervise/status")), 0);
    assert!(s.svstat().starts_with("s: down "), "{}", s.svstat());
    assert!(s.svstat().ends_with(", normally up, want up\n"));
    if let Some(refsvstat) = support::reference("svstat") {
        let out = support::run(refsvstat, &["s"], &s.root);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.starts_with("s: down ") && text.ends_with(" seconds, normally up, want up\n"),
            "Debian's svstat: {text}"
        );
    }
    let long = support::run(support::bin("svstat"), &["--long", "s"], &s.root);
    let text = String::from_utf8(long.stdout).unwrap();
    assert!(
        text.contains(&format!(
            ", finishing (pid {}), started 3 times",
            r.finish_pid
        )),
        "{text}"
    );
    assert!(text.contains(", last killed by SIGTERM"), "{text}");

    // svc -dx while finish runs: supervise waits for it
    s.svc("-dx");
    wait_record(&s, "exit requested", |r| {
        r.exiting && r.state == State::Finishing
    });
    assert!(s.sup_mut().child.try_wait().unwrap().is_none());
    write(&s, "release", "");
    let st = s
        .sup_mut()
        .wait_timeout(LONG)
        .expect("supervise did not exit");
    assert_eq!(st.code(), Some(0));
    assert_eq!(lines(&log)[2..], ["256 15 s", "alive"]);
    assert_eq!(s.starts().len(), 3, "no start after -x");
}

#[test]
fn finish_past_timeout_finish_is_killed() {
    let mut s = down_service("#!/bin/sh\necho \"start $$\" >> events\nexit 1\n");
    support::script(
        &s.dir.join("finish"),
        "#!/bin/sh\ncp supervise/status.json seen.json\necho $$ > finish.pid\nexec sleep 1000\n",
    );
    write(&s, "timeout-finish", "300\n");
    let _guard = KillPids(vec![s.dir.join("finish.pid")]);
    s.start();
    let mut err = Stderr::take(&mut s);
    s.svc("-o");
    assert!(wait_until(LONG, || read_pid(&s.dir.join("finish.pid")).is_some()));
    let fpid = read_pid(&s.dir.join("finish.pid")).unwrap();
    // ./finish starts once the record says so
    let seen = Record::parse(&fs::read(s.dir.join("seen.json")).unwrap()).unwrap();
    assert_eq!(
        (seen.state, seen.finish_pid),
        (State::Finishing, fpid as u32)
    );
    assert_eq!(seen.last_exit.unwrap().ending, Ending::Code(1));
    err.wait_line("supervise: warning: killing s/finish: timeout-finish reached");
    assert!(wait_until(LONG, || !support::alive(fpid)));
    let r = wait_record(&s, "down after finish", |r| r.state == State::Down);
    assert_eq!((r.finish_pid, r.starts), (0, 1));
    s.stop_and_exit();
}

// ---- §3 backoff and permanent failure -------------------------------------

/// Follows a crash-looping service until it has exited `n` times; returns
/// the backoff delay recorded after each exit, checked against the
/// recorded next start.
fn recorded_delays(s: &Svc, n: u64) -> Vec<u32> {
    let mut delays: Vec<(u64, u32)> = Vec::new();
    let ok = wait_until(LONG * 3, || {
        if let Some(r) = record(s)
            && r.state == State::Waiting
            && !delays.iter().any(|(k, _)| *k == r.starts)
        {
            let b = r.backoff.expect("backoff in force");
            let next = r.next_start.expect("next start recorded");
            assert_eq!(next.secs - r.since.secs, u64::from(b.delay));
            assert_eq!(next.nano, r.since.nano);
            delays.push((r.starts, b.delay));
        }
        delays.len() as u64 >= n
    });
    assert!(ok, "saw only {delays:?}");
    delays.sort();
    assert_eq!(
        delays.iter().map(|d| d.0).collect::<Vec<_>>(),
        (1..=n).collect::<Vec<_>>(),
        "every exit seen"
    );
    delays.into_iter().map(|d| d.1).collect()
}

#[test]
fn backoff_doubles_to_max_and_up_starts_at_once() {
    let mut s = Svc::new("#!/bin/sh\necho \"start $$\" >> events\nexit 1\n");
    write(&s, "backoff", "4 100\n");
    s.start();
    assert_eq!(recorded_delays(&s, 4), [1, 2, 4, 4]);
    // svc -u while waiting: the start comes before the planned time
    let r = wait_record(&s, "waiting", |r| r.state == State::Waiting);
    let planned = r.next_start.unwrap();
    s.svc("-u");
    let r2 = wait_record(&s, "started by -u", |x| x.starts > r.starts);
    assert!(
        r2.since < planned,
        "started at {:?}, planned {planned:?}",
        r2.since
    );
    s.stop_and_exit();
}

#[test]
fn backoff_starts_over_after_a_stable_run() {
    // each run lasts 2 s (plus supervise's second), STABLE is 1 s
    let mut s = Svc::new("#!/bin/sh\necho \"start $$\" >> events\nexec sleep 2\n");
    write(&s, "backoff", "8 1\n");
    s.start();
    assert_eq!(recorded_delays(&s, 2), [1, 1]);
    s.stop_and_exit();
}

#[test]
fn finish_exit_125_is_a_permanent_failure() {
    let mut s = Svc::new("#!/bin/sh\necho \"start $$\" >> events\nexit 1\n");
    support::script(&s.dir.join("finish"), "#!/bin/sh\nexit 125\n");
    support::script(
        &s.dir.join("notify"),
        "#!/bin/sh\necho \"$1 $2 $3 $4\" >> notify.log\n",
    );
    s.start();
    let r = wait_record(&s, "failed", |r| r.failed.is_some());
    assert_eq!((r.want, r.state, r.starts), (Want::Down, State::Down, 1));
    let f = r.failed.unwrap();
    assert_eq!(
        (f.finish_code, f.reason()),
        (125, "finish exited 125".to_string())
    );
    assert!(f.at >= r.since);
    // 0.76 readers see a service that is down and wanted down
    let raw = fs::read(s.dir.join("supervise/status")).unwrap();
    assert_eq!(raw[17], b'd');
    assert!(
        s.svstat().ends_with(" seconds, normally up\n"),
        "{}",
        s.svstat()
    );
    let long = support::run(support::bin("svstat"), &["--long", "s"], &s.root);
    let text = String::from_utf8(long.stdout).unwrap();
    assert!(text.ends_with(", failed (finish exited 125)\n"), "{text}");
    let pid = s.starts()[0];
    let log = s.dir.join("notify.log");
    let failed = format!("run failed {pid} 125");
    assert!(
        wait_until(LONG, || lines(&log).contains(&failed)),
        "{:?}",
        lines(&log)
    );
    // svc -u starts it again at once and clears the failure
    s.svc("-u");
    let r = wait_record(&s, "second start", |r| r.starts == 2 && r.failed.is_none());
    assert_eq!(r.starts_since_up, 1);
    wait_record(&s, "failed again", |r| r.failed.is_some() && r.starts == 2);
    s.stop_and_exit();
}

// ---- §4 stopping the whole service ----------------------------------------

#[test]
fn down_signal_replaces_term_for_svc_d_only() {
    let run = "#!/bin/sh\necho \"start $$\" >> events\n\
               trap 'echo HUP >> events; exit 0' HUP\n\
               trap 'echo TERM >> events' TERM\n\
               while :; do sleep 1 & wait $!; done\n";
    let mut s = Svc::new(run);
    write(&s, "down-signal", "hup\n");
    s.start();
    s.wait_new_pid(0);
    s.svc("-t");
    assert!(s.wait_event("TERM"), "svc -t stays TERM: {:?}", s.events());
    s.svc("-d");
    assert!(s.wait_event("HUP"), "{:?}", s.events());
    let r = wait_record(&s, "down", |r| r.state == State::Down);
    assert_eq!(r.last_exit.unwrap().ending, Ending::Code(0));
    assert_eq!(s.events()[1..], ["TERM", "HUP"]);
    s.stop_and_exit();
}

#[test]
fn timeout_kill_ends_a_service_that_ignores_term() {
    let run = "#!/bin/sh\necho \"start $$\" >> events\ntrap '' TERM\nexec sleep 1000\n";
    let mut s = Svc::new(run);
    write(&s, "timeout-kill", "300\n");
    s.start();
    let pid = s.wait_new_pid(0);
    s.svc("-d");
    let r = wait_record(&s, "killed", |r| r.state == State::Down);
    let e = r.last_exit.unwrap();
    assert_eq!((e.pid, e.ending), (pid, Ending::Signal(9)));
    assert!(!support::alive(pid as i32));
    s.stop_and_exit();
}

/// The live processes of a pipeline `sh -c 'sleep 1000 | sleep 1000'`
/// started as `./run` with pid `pid`: its children.
fn pipeline_children(pid: i32) -> Vec<i32> {
    let mut kids = Vec::new();
    assert!(wait_until(LONG, || {
        kids = support::procs_with(1, pid);
        kids.len() == 2
    }));
    kids
}

#[test]
fn kill_group_stops_a_whole_pipeline() {
    let run = "#!/bin/sh\necho \"start $$\" >> events\nexec sh -c 'sleep 1000 | sleep 1000'\n";
    // without kill-group, TERM reaches only the shell: the sleeps stay
    // (this is what kill-group is for)
    let mut plain = Svc::new(run);
    plain.start();
    let pid = plain.wait_new_pid(0) as i32;
    let kids = pipeline_children(pid);
    plain.svc("-d");
    assert!(wait_until(LONG, || !support::alive(pid)));
    assert!(kids.iter().all(|&k| support::alive(k)));
    support::kill_all(&kids);
    plain.stop_and_exit();

    let mut s = Svc::new(run);
    write(&s, "kill-group", "");
    s.start();
    let pid = s.wait_new_pid(0) as i32;
    let kids = pipeline_children(pid);
    let _guard = KillKids(kids.clone());
    // ./run leads its own session and process group
    let f = support::stat_fields(pid).unwrap();
    assert_eq!(
        (f[2].parse::<i32>().unwrap(), f[3].parse::<i32>().unwrap()),
        (pid, pid)
    );
    assert!(wait_record(&s, "up", |r| r.state == State::Up).kill_group);
    s.svc("-d");
    assert!(
        wait_until(LONG, || kids.iter().all(|&k| !support::alive(k))
            && !support::alive(pid)),
        "group members left: {:?}",
        support::procs_with(2, pid)
    );
    s.stop_and_exit();
}

struct KillKids(Vec<i32>);

impl Drop for KillKids {
    fn drop(&mut self) {
        support::kill_all(&self.0);
    }
}

/// Removes a test's cgroup (killing what is left in it) when dropped.
struct CgroupGuard(Option<Vec<u8>>);

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        use std::os::unix::ffi::OsStrExt;
        if let Some(dir) = &self.0 {
            let dir = Path::new(std::ffi::OsStr::from_bytes(dir));
            let _ = fs::write(dir.join("cgroup.kill"), "1");
            wait_until(LONG, || fs::remove_dir(dir).is_ok() || !dir.exists());
        }
    }
}

#[test]
fn cgroup_ends_a_double_forked_setsid_daemon() {
    // ./run leaves a daemon in its own session (setsid), then ignores TERM
    let run = "#!/bin/sh\necho \"start $$\" >> events\n\
               sh -c 'setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $! >> daemon.pid'\n\
               trap '' TERM\nexec sleep 1000\n";
    let mut cg = CgroupGuard(None);
    let mut s = Svc::new(run);
    write(&s, "cgroup", "");
    write(&s, "timeout-kill", "300\n");
    let _kill = KillPids(vec![s.dir.join("daemon.pid")]);
    s.start();
    let mut err = Stderr::take(&mut s);
    let r = wait_record(&s, "up", |r| r.state == State::Up);
    let Some(dir) = r.cgroup.clone() else {
        return support::skip(&format!("no usable cgroup2 here: {:?}", err.lines()));
    };
    cg.0 = Some(dir.clone());
    let dir_s = String::from_utf8(dir.clone()).unwrap();
    let daemons = || -> Vec<i32> {
        lines(&s.dir.join("daemon.pid"))
            .iter()
            .filter_map(|l| l.parse().ok())
            .collect()
    };
    assert!(wait_until(LONG, || daemons().len() == 1));
    let daemon = daemons()[0];
    // the daemon escapes the session (once setsid(1) has run), not the cgroup
    let session = |pid: i32| support::stat_fields(pid).and_then(|f| f[3].parse::<i32>().ok());
    assert!(
        wait_until(LONG, || session(daemon) == Some(daemon)),
        "own session"
    );
    let procs = fs::read_to_string(Path::new(&dir_s).join("cgroup.procs")).unwrap();
    assert!(procs.lines().any(|l| l == daemon.to_string()), "{procs}");

    // svc -d: TERM is ignored; after timeout-kill the whole cgroup dies
    s.svc("-d");
    let r = wait_record(&s, "down", |r| r.state == State::Down);
    assert_eq!(r.last_exit.unwrap().ending, Ending::Signal(9));
    assert!(
        wait_until(LONG, || !support::alive(daemon)),
        "daemon survived"
    );

    // ./run ending on its own: what is left is killed
    s.svc("-u");
    assert!(wait_until(LONG, || daemons().len() == 2));
    let daemon2 = daemons()[1];
    assert!(wait_until(LONG, || support::alive(daemon2)));
    s.svc("-k");
    wait_record(&s, "restarted", |r| r.starts == 3 && r.state == State::Up);
    assert!(
        wait_until(LONG, || !support::alive(daemon2)),
        "leftover survived"
    );

    // svc -dx: supervise removes its cgroup on the way out
    s.stop_and_exit();
    assert!(!Path::new(&dir_s).exists(), "{dir_s} left behind");
    assert!(err.lines().is_empty(), "{:?}", err.lines());
}

#[test]
fn unusable_cgroup_is_said_once_and_the_service_runs_uncontained() {
    // As nobody, supervise cannot create a cgroup (or there is no cgroup2
    // at all): one warning, then the service runs as without the file.
    if !support::tools::is_root() {
        return support::skip("needs root to run supervise as nobody");
    }
    let mut s = Svc::new("#!/bin/sh\necho \"start $$\" >> events\nexit 1\n");
    write(&s, "cgroup", "");
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&s.root, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&s.dir, fs::Permissions::from_mode(0o777)).unwrap();
    let wrapper = s.root.join("as-nobody");
    support::script(
        &wrapper,
        "#!/bin/sh\nexec setuidgid nobody supervise \"$@\"\n",
    );
    s.start_with(&wrapper);
    let mut err = Stderr::take(&mut s);
    let r = wait_record(&s, "three starts", |r| r.starts >= 3);
    assert_eq!(r.cgroup, None);
    let got = err.lines();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("supervise: warning: s/cgroup: ")
            && got[0].ends_with(": running without containment"),
        "{got:?}"
    );
    s.stop_and_exit();
}

// ---- §6 notify ----------------------------------------------------------------

#[test]
fn notify_sees_start_exit_killed_in_order() {
    let run = "#!/bin/sh\necho \"start $$\" >> events\n\
               case $(grep -c start events) in 1) exit 3;; 2) kill -KILL $$;; esac\n\
               exec sleep 1000\n";
    let mut s = Svc::new(run);
    support::script(
        &s.dir.join("notify"),
        "#!/bin/sh\necho \"$1 $2 $3 $4 $NOTIFY_COALESCED\" >> notify.log\n",
    );
    s.start();
    wait_record(&s, "third run up", |r| {
        r.state == State::Up && r.starts == 3
    });
    assert!(wait_until(LONG, || s.starts().len() == 3));
    let p = s.starts();
    let expect = [
        format!("run start {} 0", p[0]),
        format!("run exit {} 3", p[0]),
        format!("run start {} 0", p[1]),
        format!("run killed {} 9", p[1]),
        format!("run start {} 0", p[2]),
    ];
    let log = s.dir.join("notify.log");
    // Each call reports one event and how many it stands for besides
    // itself (NOTIFY_COALESCED, 0 unless calls overlapped): in order,
    // and nothing lost from the count.
    let mut got = Vec::new();
    assert!(
        wait_until(LONG, || {
            got = lines(&log);
            got.last().is_some_and(|l| l.starts_with(&expect[4]))
        }),
        "{got:?}"
    );
    let mut next = 0;
    for l in &got {
        let (ev, n) = l.rsplit_once(' ').unwrap();
        let n: usize = n.parse().unwrap();
        next += n;
        assert_eq!(ev, expect[next], "{got:?}");
        next += 1;
    }
    assert_eq!(next, expect.len(), "{got:?}");
    s.stop_and_exit();
}

#[test]
fn a_hanging_notify_delays_nothing_and_is_killed_at_its_limit() {
    let mut s = Svc::new("#!/bin/sh\necho \"start $$\" >> events\nexit 1\n");
    support::script(
        &s.dir.join("notify"),
        "#!/bin/sh\n\
         if [ ! -e hung ]; then echo $$ > hung; exec sleep 1000; fi\n\
         echo \"$2 $NOTIFY_COALESCED\" >> notify.log\n",
    );
    write(&s, "timeout-notify", "8000\n");
    let _guard = KillPids(vec![s.dir.join("hung")]);
    s.start();
    let mut err = Stderr::take(&mut s);
    assert!(wait_until(LONG, || read_pid(&s.dir.join("hung")).is_some()));
    let hung = read_pid(&s.dir.join("hung")).unwrap();
    // restarts go on while the first ./notify hangs
    let r = wait_record(&s, "restarts", |r| r.starts >= 3);
    assert!(support::alive(hung), "./notify killed before 3 starts");
    assert!(r.starts >= 3);
    err.wait_line("supervise: warning: killing s/notify: timeout-notify reached");
    assert!(wait_until(LONG, || !support::alive(hung)));
    // the next call stands for the events that came meanwhile
    let log = s.dir.join("notify.log");
    assert!(wait_until(LONG, || !lines(&log).is_empty()));
    let first = &lines(&log)[0];
    let n: u32 = first.rsplit_once(' ').unwrap().1.parse().unwrap();
    assert!(n >= 3, "{first}");
    s.stop_and_exit();
}

// ---- bad input ----------------------------------------------------------------

#[test]
fn bad_settings_warn_once_and_defaults_apply() {
    let run = "#!/bin/sh\necho \"start $$\" >> events\n\
               [ \"$(grep -c start events)\" -le 2 ] && exit 1\n\
               trap 'echo TERM >> events; exit 0' TERM\n\
               while :; do sleep 1 & wait $!; done\n";
    let mut s = Svc::new(run);
    write(&s, "backoff", "fast\n");
    write(&s, "down-signal", "BOGUS\n");
    write(&s, "timeout-kill", "12x\n");
    fs::write(s.dir.join("finish"), "#!/bin/sh\nexit 125\n").unwrap();
    s.start();
    let mut err = Stderr::take(&mut s);
    // two crashes: backoff and finish are read at each, warned about once
    let r = wait_record(&s, "up", |r| r.state == State::Up && r.starts == 3);
    assert!(r.backoff.is_none() && r.failed.is_none());
    // svc -d twice (down-signal, timeout-kill read each time): TERM used
    for round in 1..=2 {
        s.svc("-d");
        assert!(wait_until(LONG, || s
            .events()
            .iter()
            .filter(|e| *e == "TERM")
            .count()
            == round));
        wait_record(&s, "down", |r| r.state == State::Down);
        if round == 1 {
            s.svc("-u");
            wait_record(&s, "up", |r| r.state == State::Up && r.starts == 4);
        }
    }
    let want = [
        "supervise: warning: bad MAX [STABLE] in s/backoff: restarting as without it",
        "supervise: warning: s/finish is not executable: ignored",
        "supervise: warning: bad signal in s/down-signal: using TERM",
        "supervise: warning: bad number in s/timeout-kill: never killing",
    ];
    let mut got = err.lines();
    got.sort();
    let mut want: Vec<String> = want.iter().map(|w| w.to_string()).collect();
    want.sort();
    assert_eq!(got, want);
    assert!(s.svok());
    s.stop_and_exit();
}

#[test]
fn bad_timeout_finish_and_timeout_notify_use_their_defaults() {
    let mut s = down_service("#!/bin/sh\necho \"start $$\" >> events\nexit 1\n");
    support::script(
        &s.dir.join("finish"),
        "#!/bin/sh\necho \"$@\" >> finish.log\n",
    );
    support::script(
        &s.dir.join("notify"),
        "#!/bin/sh\necho \"$2\" >> notify.log\n",
    );
    write(&s, "timeout-finish", "-1\n");
    write(&s, "timeout-notify", "0\n");
    s.start();
    let mut err = Stderr::take(&mut s);
    for n in 1..=2 {
        s.svc("-o");
        wait_record(&s, "ran once", |r| r.starts == n && r.state == State::Down);
        assert!(wait_until(LONG, || lines(&s.dir.join("finish.log")).len()
            == n as usize));
    }
    assert!(wait_until(LONG, || lines(&s.dir.join("notify.log")).len() >= 4));
    let mut got = err.lines();
    got.sort();
    assert_eq!(
        got,
        [
            "supervise: warning: bad number in s/timeout-finish: using 5000 ms",
            "supervise: warning: bad number in s/timeout-notify: using 10000 ms",
        ]
    );
    s.stop_and_exit();
}

// ---- §5 svstat --long -----------------------------------------------------------

#[test]
fn svstat_long_lines_and_exit_codes() {
    let mut s = Svc::new(support::svdir::RECORDER);
    s.start();
    let pid = s.wait_new_pid(0);
    wait_record(&s, "up", |r| r.state == State::Up);
    let root = s.root.clone();
    let long = |args: &[&str]| support::run(support::bin("svstat"), args, &root);
    let out = long(&["--long", "s"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(&format!("s: up (pid {pid}) ")) && text.ends_with(", started 1 times\n"),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(0));
    // the plain form is untouched
    assert!(!s.svstat().contains("started"));
    // a directory without supervise, and a missing one: exit 1
    fs::create_dir_all(s.root.join("idle")).unwrap();
    let out = long(&["--long", "s", "idle", "missing"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[1],
        "idle: unable to open supervise/ok: file does not exist"
    );
    assert_eq!(lines[2], "missing: unable to chdir: file does not exist");
    assert_eq!(out.status.code(), Some(1));
    // `--long` anywhere but first is a directory name, as in 0.76
    let out = long(&["s", "--long"]);
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .ends_with("--long: unable to chdir: file does not exist\n")
    );
    assert_eq!(out.status.code(), Some(0));
    // no arguments: nothing, exit 0
    let out = long(&["--long"]);
    assert!(out.stdout.is_empty());
    assert_eq!(out.status.code(), Some(0));
    // a dead supervise
    s.sup_mut().signal(9);
    s.sup_mut().wait_timeout(LONG).unwrap();
    let out = long(&["--long", "s"]);
    assert_eq!(out.stdout, b"s: supervise not running\n");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn svstat_long_on_a_reference_supervise_shows_the_0_76_line() {
    let Some(refsup) = support::reference("supervise") else {
        return support::skip("reference supervise not installed");
    };
    let mut s = Svc::new(support::svdir::RECORDER);
    s.start_with(&refsup);
    let pid = s.wait_new_pid(0);
    let out = support::run(support::bin("svstat"), &["--long", "s"], &s.root);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with(&format!("s: up (pid {pid}) ")), "{text}");
    assert!(
        text.ends_with(" seconds\n"),
        "no extras without a record: {text}"
    );
    assert_eq!(out.status.code(), Some(0));
    s.stop_and_exit();
}

#[test]
fn reference_svstat_reads_a_waiting_service_as_down() {
    let Some(refsvstat) = support::reference("svstat") else {
        return support::skip("reference svstat not installed");
    };
    let mut s = Svc::new("#!/bin/sh\necho \"start $$\" >> events\nexit 1\n");
    write(&s, "backoff", "60\n");
    s.start();
    wait_record(&s, "waiting", |r| {
        r.state == State::Waiting && r.starts >= 2
    });
    let out = support::run(refsvstat, &["s"], &s.root);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("s: down ") && text.ends_with(" seconds, normally up, want up\n"),
        "{text}"
    );
    let long = support::run(support::bin("svstat"), &["--long", "s"], &s.root);
    let text = String::from_utf8(long.stdout).unwrap();
    assert!(text.contains(", last exit 1, next start in "), "{text}");
    s.stop_and_exit();
}
