//! Status for machines (issue 14): `svstat --json` field by field,
//! `svstat --prometheus` and svmetrics checked by the real `promtool`,
//! svmetrics under restarts, idle, slow and malformed clients, bad trees,
//! and runit's `sv` driving our supervise with the runit view on, with
//! Debian's 0.76 svstat reading the same tree.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::scan::ScanTree;
use crate::support::svdir::KillStatusPid;
use crate::support::{self, LONG, Proc, wait_until};

const SLEEPER: &str = "#!/bin/sh\nexec sleep 100000\n";

/// `svstat --json ARGS` in `cwd`: the exit code and one value per line.
fn json(cwd: &Path, args: &[&[u8]]) -> (i32, Vec<Value>) {
    let out = Command::new(support::bin("svstat"))
        .arg("--json")
        .args(args.iter().map(|a| std::ffi::OsStr::from_bytes(a)))
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(out.stderr.is_empty(), "{:?}", out.stderr);
    let text = String::from_utf8(out.stdout).expect("JSON Lines are UTF-8");
    let values = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (out.status.code().unwrap(), values)
}

fn json_one(cwd: &Path, dir: &str) -> Value {
    let (_, mut v) = json(cwd, &[dir.as_bytes()]);
    assert_eq!(v.len(), 1);
    v.remove(0)
}

/// Waits until `svstat --json DIR` satisfies `cond`; returns that object.
fn wait_json(cwd: &Path, dir: &str, cond: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let ok = wait_until(LONG, || {
        last = json_one(cwd, dir);
        cond(&last)
    });
    assert!(ok, "{dir}: never as expected, last {last}");
    last
}

/// `promtool check metrics` on `text`: None when promtool is missing (the
/// test then skips, or fails under CI), else its exit code and output.
fn promtool(text: &[u8]) -> Option<(i32, String)> {
    if !support::have("promtool") {
        support::missing("promtool (Debian package prometheus) is not installed");
        return None;
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text).unwrap();
    let out = child.wait_with_output().unwrap();
    let mut said = String::from_utf8_lossy(&out.stdout).into_owned();
    said.push_str(&String::from_utf8_lossy(&out.stderr));
    Some((out.status.code().unwrap(), said))
}

/// Asserts that promtool finds nothing wrong with `text` (when installed).
fn assert_promtool_clean(text: &[u8]) -> bool {
    match promtool(text) {
        None => false,
        Some((code, said)) => {
            assert_eq!(
                (code, said.as_str()),
                (0, ""),
                "promtool on:\n{}",
                String::from_utf8_lossy(text)
            );
            true
        }
    }
}

fn prometheus(cwd: &Path, args: &[&[u8]]) -> Output {
    Command::new(support::bin("svstat"))
        .arg("--prometheus")
        .args(args.iter().map(|a| std::ffi::OsStr::from_bytes(a)))
        .current_dir(cwd)
        .output()
        .unwrap()
}

/// The samples of `family` in an exposition: (label value as written,
/// value).
fn samples(text: &str, family: &str) -> Vec<(String, String)> {
    let prefix = format!("{family}{{service=\"");
    text.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|rest| {
            let end = rest.rfind("\"} ").unwrap();
            (rest[..end].to_string(), rest[end + 3..].to_string())
        })
        .collect()
}

fn sample(text: &str, family: &str, label: &str) -> Option<String> {
    samples(text, family)
        .into_iter()
        .find(|(l, _)| l == label)
        .map(|(_, v)| v)
}

/// The value of an unlabelled sample.
fn scalar(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.parse().ok())
}

// ------------------------------------------------------------ svstat --json

#[test]
fn json_lines_field_by_field() {
    let mut t = ScanTree::new();
    t.add(b"up", SLEEPER, Some("#!/bin/sh\nexec cat > /dev/null\n"));
    let down = t.add(b"down", SLEEPER, None);
    fs::write(down.join("down"), "").unwrap();
    t.add(b"paused", SLEEPER, None);
    t.add(b"once", SLEEPER, None);
    t.add(b"crash", "#!/bin/sh\nexit 3\n", None);
    t.start();
    let dir = t.dir.clone();
    let svc = |opt: &str, name: &str| {
        let out = support::run(support::bin("svc"), &[opt, name], &dir);
        assert_eq!(out.status.code(), Some(0));
    };
    // (with the record in step: between supervise's write of `status`
    // and of `status.json` a reader sees the old record, and says so)
    let up = wait_json(&dir, "up", |v| {
        v["state"] == "up" && v["log"]["state"] == "up" && v["starts"].is_u64()
    });
    // the documented fields, in the documented forms
    assert_eq!(up["dir"], "up");
    assert_eq!(up["supervise_running"], true);
    let pid = up["pid"].as_u64().unwrap();
    assert_eq!(
        pid,
        u64::from(support::svdir::status_pid(&dir.join("up/supervise/status")))
    );
    assert!(up["seconds"].is_u64() && up["since"].is_f64());
    assert_eq!(up["want"], "up");
    assert_eq!(up["paused"], false);
    assert_eq!(up["normally_up"], true);
    assert_eq!(up["ready"], true, "up without a readiness source is ready");
    assert_eq!(up["starts"], 1);
    assert_eq!(up["last_exit"], Value::Null);
    assert_eq!(up["error"], Value::Null);
    assert_eq!(up["log"]["dir"], "up/log");
    assert_eq!(up["log"]["supervise_running"], true);
    assert!(up["log"].get("log").is_none());

    let d = wait_json(&dir, "down", |v| {
        v["supervise_running"] == true && v["starts"].is_u64()
    });
    assert_eq!(d["state"], "down");
    assert_eq!(d["pid"], 0);
    assert_eq!(d["want"], "down");
    assert_eq!(d["normally_up"], false);
    assert_eq!(d["ready"], false);
    assert_eq!(d["starts"], 0);
    assert!(d.get("log").is_none(), "no log/: no log object");

    wait_json(&dir, "paused", |v| v["state"] == "up");
    svc("-p", "paused");
    let p = wait_json(&dir, "paused", |v| v["paused"] == true);
    assert_eq!(p["state"], "up");
    svc("-c", "paused");
    wait_json(&dir, "paused", |v| v["paused"] == false);

    wait_json(&dir, "once", |v| v["state"] == "up");
    svc("-o", "once");
    let o = wait_json(&dir, "once", |v| v["want"] == "once");
    assert_eq!(o["state"], "up");

    // a crash loop: starts count, the last exit is there
    let c = wait_json(&dir, "crash", |v| {
        v["starts"].as_u64() >= Some(3) && v["last_exit"]["code"] == 3
    });
    assert_eq!(c["want"], "up");
    assert_eq!(c["last_exit"]["signal"], Value::Null);
    assert!(c["last_exit"]["pid"].as_u64().unwrap() > 0);
    let state = c["state"].as_str().unwrap();
    assert!(["up", "down", "waiting"].contains(&state), "{state}");

    // several directories: one line each, in order, exit 0 while all read
    let (code, all) = json(&dir, &[b"up", b"down", b"crash"]);
    assert_eq!(code, 0);
    let dirs: Vec<&Value> = all.iter().map(|v| &v["dir"]).collect();
    assert_eq!(dirs, ["up", "down", "crash"]);
    // one that is not there: its line says so, exit 1
    let (code, all) = json(&dir, &[b"up", b"nosuch"]);
    assert_eq!(code, 1);
    assert_eq!(all[1]["error"], "unable to chdir: file does not exist");
    assert_eq!(all[1]["supervise_running"], false);
    assert_eq!(all[1]["state"], Value::Null);
}

/// `svstat --json` and `--prometheus` without the timing-dependent
/// `seconds` (everything else is stable while nothing changes).
fn stable_reading(dir: &Path, names: &[&[u8]]) -> (Vec<Value>, String) {
    let (code, mut v) = json(dir, names);
    assert_eq!(code, 0, "{v:?}");
    for o in &mut v {
        let o = o.as_object_mut().unwrap();
        assert!(o.remove("seconds").unwrap().is_u64());
        if let Some(log) = o.get_mut("log").and_then(Value::as_object_mut) {
            log.remove("seconds");
        }
    }
    let text = String::from_utf8(prometheus(dir, names).stdout).unwrap();
    (v, text)
}

/// `supervise/summary` is only a faster way to read `status` and
/// `status.json`: the readers report the same without it, with a damaged
/// one, and when supervise could not write it (then it removes it).
#[test]
fn the_summary_says_what_status_and_status_json_say() {
    let mut t = ScanTree::new();
    let once = t.add(b"once", "#!/bin/sh\nexit 3\n", Some(SLEEPER));
    fs::write(once.join("down"), "").unwrap();
    let paused = t.add(b"paused", SLEEPER, None);
    fs::write(paused.join("notification-fd"), "3\n").unwrap();
    t.start();
    let dir = t.dir.clone();
    let svc = |opt: &str, name: &str| {
        let out = support::run(support::bin("svc"), &[opt, name], &dir);
        assert_eq!(out.status.code(), Some(0));
    };
    // once: ran once, exited 3, stays down; paused: up, not ready, paused
    wait_json(&dir, "once", |v| v["supervise_running"] == true);
    svc("-o", "once");
    wait_json(&dir, "once", |v| {
        v["last_exit"]["code"] == 3 && v["state"] == "down" && v["log"]["state"] == "up"
    });
    wait_json(&dir, "paused", |v| v["state"] == "up");
    svc("-p", "paused");
    wait_json(&dir, "paused", |v| v["paused"] == true);
    let names: &[&[u8]] = &[b"once", b"paused"];
    let summaries = [
        once.join("supervise/summary"),
        once.join("log/supervise/summary"),
        paused.join("supervise/summary"),
    ];
    for s in &summaries {
        assert_eq!(fs::metadata(s).unwrap().len(), 64, "{s:?}");
    }
    let (by_summary, text) = stable_reading(&dir, names);
    assert_eq!(by_summary[0]["starts"], 1);
    assert_eq!(by_summary[1]["ready"], false);
    assert_promtool_clean(text.as_bytes());
    // without the summaries: read from status and status.json
    let kept: Vec<Vec<u8>> = summaries.iter().map(|s| fs::read(s).unwrap()).collect();
    for s in &summaries {
        fs::remove_file(s).unwrap();
    }
    assert_eq!(
        stable_reading(&dir, names),
        (by_summary.clone(), text.clone())
    );
    // damaged ones are not believed
    for (s, good) in summaries.iter().zip(&kept) {
        let mut bad = good.clone();
        bad[26] = 9; // no such state
        fs::write(s, &bad).unwrap();
    }
    fs::write(&summaries[2], &kept[2][..40]).unwrap();
    assert_eq!(
        stable_reading(&dir, names),
        (by_summary.clone(), text.clone())
    );
    // and they are the same as what was read from them
    for (s, good) in summaries.iter().zip(&kept) {
        fs::write(s, good).unwrap();
    }
    assert_eq!(stable_reading(&dir, names), (by_summary, text));

    // supervise cannot write the summary: it removes it, and the readers
    // still see every change
    fs::create_dir(paused.join("supervise/summary.new")).unwrap();
    svc("-c", "paused");
    wait_json(&dir, "paused", |v| v["paused"] == false);
    assert!(!summaries[2].exists());
    let (v, _) = stable_reading(&dir, &[b"paused"]);
    assert_eq!(
        (&v[0]["state"], &v[0]["error"]),
        (&Value::from("up"), &Value::Null)
    );
    fs::remove_dir(paused.join("supervise/summary.new")).unwrap();
    svc("-p", "paused");
    wait_json(&dir, "paused", |v| v["paused"] == true);
    assert!(wait_until(LONG, || summaries[2].exists()));
}

/// A service that reports readiness (notification-fd) is up but not
/// ready until it says so: `ready` in JSON and the `ready` gauge follow
/// the record, the moment the daemon writes its newline.
#[test]
fn up_but_not_yet_ready_until_the_daemon_says_so() {
    let mut t = ScanTree::new();
    let svc = t.add(
        b"db",
        "#!/bin/sh\nwhile [ ! -e go ]; do sleep 0.05; done\necho >&3\nexec sleep 100000\n",
        None,
    );
    fs::write(svc.join("notification-fd"), "3\n").unwrap();
    t.start();
    let dir = t.dir.clone();
    let v = wait_json(&dir, "db", |v| v["state"] == "up");
    assert_eq!(v["ready"], false, "{v}");
    let out = prometheus(&dir, &[b"db"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        sample(&text, "daemontools_service_ready", "db").as_deref(),
        Some("0"),
        "{text}"
    );
    assert_eq!(
        sample(&text, "daemontools_service_up", "db").as_deref(),
        Some("1"),
        "{text}"
    );
    fs::write(svc.join("go"), "").unwrap();
    wait_json(&dir, "db", |v| v["ready"] == true);
    let out = prometheus(&dir, &[b"db"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        sample(&text, "daemontools_service_ready", "db").as_deref(),
        Some("1"),
        "{text}"
    );
}

#[test]
fn json_a_dead_supervise_is_not_up() {
    let tmp = support::tempdir();
    let dir = tmp.path().join("s");
    support::script(&dir.join("run"), SLEEPER);
    let _orphan = KillStatusPid(dir.join("supervise/status"));
    let mut sup = support::spawn(support::bin("supervise"), &["s"], tmp.path(), |c| {
        c.stdout(Stdio::null()).stderr(Stdio::null());
    });
    let up = wait_json(tmp.path(), "s", |v| v["state"] == "up");
    let pid = up["pid"].as_u64().unwrap();
    sup.signal(9);
    sup.wait_timeout(LONG).expect("supervise killed");
    // the stale status still names the service, which still runs
    assert_eq!(
        u64::from(support::svdir::status_pid(&dir.join("supervise/status"))),
        pid
    );
    assert!(support::alive(pid as i32));
    let (code, v) = json(tmp.path(), &[b"s"]);
    assert_eq!(code, 1);
    assert_eq!(v[0]["supervise_running"], false);
    assert_eq!(v[0]["state"], Value::Null);
    assert_eq!(v[0]["pid"], Value::Null);
    assert_eq!(v[0]["error"], "supervise not running");
    let m = prometheus(tmp.path(), &[b"s"]);
    let text = String::from_utf8(m.stdout).unwrap();
    assert_eq!(
        sample(&text, "daemontools_service_up", "s").as_deref(),
        Some("0")
    );
    assert_eq!(
        sample(&text, "daemontools_supervise_running", "s").as_deref(),
        Some("0")
    );
    assert_promtool_clean(text.as_bytes());
}

// ----------------------------------------------------- Prometheus, promtool

/// Service names a tree may hold, and the label value each must get.
const ODD: &[(&[u8], &str)] = &[
    (b"with space", "with space"),
    (b"quo\"te", "quo\\\"te"),
    (b"back\\slash", "back\\\\slash"),
    (b"bad\xff\xfeutf8", "bad%FF%FEutf8"),
    (b"per%cent", "per%25cent"),
    (b"per%25cent", "per%2525cent"),
    (b"new\nline", "new%0Aline"),
    (b"caf\xc3\xa9", "caf\u{e9}"),
];

#[test]
fn promtool_passes_on_odd_names_and_a_log_directory() {
    let mut t = ScanTree::new();
    for (name, _) in ODD {
        t.add(name, SLEEPER, None);
    }
    // a service whose multilog rotates: log sizes
    t.add(
        b"web",
        "#!/bin/sh\ni=0\nwhile [ $i -lt 400 ]; do echo line $i of some length to rotate; i=$((i+1)); done\nexec sleep 100000\n",
        Some("#!/bin/sh\nexec multilog s4096 ./main\n"),
    );
    t.start();
    let dir = t.dir.clone();
    let mut names: Vec<&[u8]> = ODD.iter().map(|(n, _)| *n).collect();
    names.push(b"web");
    assert!(
        wait_until(LONG, || {
            let (_, v) = json(&dir, &names);
            v.iter().all(|v| v["state"] == "up")
                && v.last().unwrap()["log"]["state"] == "up"
                && fs::read_dir(dir.join("web/log/main"))
                    .map(|d| d.count() > 4)
                    .unwrap_or(false)
        }),
        "tree did not come up"
    );
    // JSON: the reversible escape in `dir`
    let (_, v) = json(&dir, &names);
    assert_eq!(v[3]["dir"], "bad%FF%FEutf8");
    assert_eq!(v[6]["dir"], "new%0Aline");
    assert_eq!(v[1]["dir"], "quo\"te");

    let out = prometheus(&dir, &names);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).expect("valid UTF-8");
    for (name, label) in ODD {
        assert_eq!(
            sample(&text, "daemontools_service_up", label).as_deref(),
            Some("1"),
            "{name:?} as {label}"
        );
    }
    // no two services collapse into one series
    let labels = samples(&text, "daemontools_service_up");
    let mut distinct: Vec<&String> = labels.iter().map(|(l, _)| l).collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), ODD.len() + 2, "{labels:?}");
    assert_eq!(
        scalar(&text, "daemontools_services"),
        Some(ODD.len() as u64 + 2)
    );
    assert_eq!(
        scalar(&text, "daemontools_services_up"),
        Some(ODD.len() as u64 + 2)
    );
    // the log directory: current and the rotated files, as on disk
    let rotated: Vec<u64> = fs::read_dir(dir.join("web/log/main"))
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            e.file_name()
                .as_bytes()
                .starts_with(b"@")
                .then(|| e.metadata().unwrap().len())
        })
        .collect();
    let files: u64 = sample(&text, "daemontools_log_rotated_files", "web")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(files, rotated.len() as u64);
    assert!(files >= 2);
    assert!(sample(&text, "daemontools_log_current_bytes", "web").is_some());
    assert_eq!(
        sample(&text, "daemontools_service_starts_total", "web").as_deref(),
        Some("1")
    );
    // no timestamps: every sample line is `name{labels} value`
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let value = l.rsplit(' ').next().unwrap();
        let before = &l[..l.len() - value.len() - 1];
        assert!(before.ends_with('}') || !before.contains(' '), "{l}");
    }
    if !assert_promtool_clean(text.as_bytes()) {
        return;
    }
    // svmetrics serves the same tree, also clean
    let port = free_port();
    let _m = svmetrics(port, &dir);
    let body = scrape(port);
    assert_promtool_clean(&body);
    let served = String::from_utf8(body).unwrap();
    assert_eq!(
        scalar(&served, "daemontools_services"),
        Some(ODD.len() as u64 + 2)
    );
    for (_, label) in ODD {
        assert!(sample(&served, "daemontools_service_up", label).is_some());
    }
}

/// A directory that looks supervised: `supervise/ok` is a fifo the test
/// holds open for reading (as a live supervise does).
fn fake_supervised(at: &Path) -> fs::File {
    use std::os::unix::fs::OpenOptionsExt;
    fs::create_dir_all(at.join("supervise")).unwrap();
    let ok = at.join("supervise/ok");
    nix::unistd::mkfifo(&ok, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&ok)
        .unwrap()
}

/// A broken directory: its name, how it is made, the start of its error.
type Case<'a> = (&'a str, &'a dyn Fn(&Path), &'a str);

#[test]
fn bad_trees_say_what_is_wrong() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let mut held = Vec::new();
    let mut status = vec![0x40u8, 0, 0, 0, 0x65, 0x53, 0xf1, 0x0a, 0, 0, 0, 0];
    status.extend_from_slice(&[0, 0, 0, 0, 0, b'd']);
    let cases: &[Case] = &[
        (
            "garbage",
            &|d| {
                fs::write(d.join("supervise/status"), &status).unwrap();
                fs::write(d.join("supervise/status.json"), b"{\"version\":1,\x00\xff").unwrap();
            },
            "bad status.json (",
        ),
        (
            "truncated",
            &|d| fs::write(d.join("supervise/status"), &status[..7]).unwrap(),
            "unable to read supervise/status: bad format",
        ),
        (
            "oversized",
            &|d| {
                fs::write(d.join("supervise/status"), &status).unwrap();
                let big = vec![b' '; 200_000];
                fs::write(d.join("supervise/status.json"), big).unwrap();
            },
            "bad status.json (too large)",
        ),
        (
            "fifo",
            &|d| {
                fs::write(d.join("supervise/status"), &status).unwrap();
                let p = d.join("supervise/status.json");
                nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
            },
            "bad status.json (",
        ),
        (
            "nostatus",
            &|_| {},
            "unable to open supervise/status: file does not exist",
        ),
    ];
    for (name, make, _) in cases {
        let d = root.join(name);
        held.push(fake_supervised(&d));
        make(&d);
    }
    fs::create_dir(root.join("nosupervise")).unwrap();
    fs::write(root.join("afile"), "").unwrap();
    let mut args: Vec<&[u8]> = cases.iter().map(|c| c.0.as_bytes()).collect();
    args.extend([&b"nosupervise"[..], b"afile", b"gone"]);
    let (code, v) = json(root, &args);
    assert_eq!(code, 1);
    assert_eq!(v.len(), args.len());
    for (i, (name, _, error)) in cases.iter().enumerate() {
        let e = v[i]["error"].as_str().unwrap_or("");
        assert!(e.starts_with(error), "{name}: {e}");
        assert_eq!(v[i]["supervise_running"], true, "{name}");
    }
    let n = cases.len();
    assert_eq!(
        v[n]["error"],
        "unable to open supervise/ok: file does not exist"
    );
    assert_eq!(v[n + 1]["error"], "unable to chdir: not a directory");
    assert_eq!(v[n + 2]["error"], "unable to chdir: file does not exist");
    // metrics: every directory is there, readable 0
    let out = prometheus(root, &args);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for a in &args {
        let label = std::str::from_utf8(a).unwrap();
        assert_eq!(
            sample(&text, "daemontools_service_status_readable", label).as_deref(),
            Some("0"),
            "{label}"
        );
        assert_eq!(
            sample(&text, "daemontools_service_up", label).as_deref(),
            Some("0")
        );
    }
    assert_promtool_clean(text.as_bytes());
    drop(held);
}

// --------------------------------------------------------------- svmetrics

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// svmetrics on `scandir`, answering once it does.
fn svmetrics(port: u16, scandir: &Path) -> Proc {
    let addr = format!("127.0.0.1:{port}");
    let p = support::spawn(
        support::bin("svmetrics"),
        &["-l", &addr, scandir.to_str().unwrap()],
        scandir,
        |c| {
            c.stdout(Stdio::null()).stderr(Stdio::null());
        },
    );
    assert!(
        wait_until(LONG, || TcpStream::connect(("127.0.0.1", port)).is_ok()),
        "svmetrics does not listen"
    );
    p
}

/// Sends `request` on a new connection and reads the response until the
/// server closes (the request says `Connection: close`): (status, body).
fn exchange(port: u16, request: &[u8]) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    // bounds so that a hung server fails the test instead of hanging it
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(request).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).expect("response within the bound");
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&all[..end]).into_owned();
    let status = head[9..12].parse().unwrap();
    (status, all[end + 4..].to_vec())
}

fn scrape(port: u16) -> Vec<u8> {
    let (status, body) = exchange(
        port,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    body
}

#[test]
fn svmetrics_answers_while_services_restart_and_clients_misbehave() {
    let mut t = ScanTree::new();
    for i in 0..200 {
        t.add(format!("s{i:03}").as_bytes(), "#!/bin/sh\nexit 0\n", None);
    }
    t.start();
    let port = free_port();
    let _m = svmetrics(port, &t.dir);
    let up_all = || {
        let text = String::from_utf8(scrape(port)).unwrap();
        samples(&text, "daemontools_supervise_running")
            .iter()
            .filter(|(_, v)| v == "1")
            .count()
            == 200
    };
    assert!(wait_until(LONG, up_all), "200 supervise never reported");
    // 200 idle connections (beyond the limit of 128: the idlest go), some
    // with half a request, and a client that never reads its response
    let mut idle = Vec::new();
    for i in 0..200 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        if i % 4 == 0 {
            s.write_all(b"GET /metr").unwrap();
        }
        idle.push(s);
    }
    let mut stuck = TcpStream::connect(("127.0.0.1", port)).unwrap();
    for _ in 0..50 {
        stuck
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
    }
    // scrapes are answered all along, each read afresh: the restarting
    // services' start counts grow from one scrape to a later one
    let starts = |text: &str| -> u64 {
        samples(text, "daemontools_service_starts_total")
            .iter()
            .map(|(_, v)| v.parse::<u64>().unwrap())
            .sum()
    };
    let first = String::from_utf8(scrape(port)).unwrap();
    let mut last = first.clone();
    assert!(
        wait_until(LONG, || {
            last = String::from_utf8(scrape(port)).unwrap();
            starts(&last) > starts(&first) + 200
        }),
        "start counts did not grow"
    );
    assert_eq!(scalar(&last, "daemontools_services"), Some(200));
    assert_promtool_clean(last.as_bytes());
    // malformed, oversized, other methods and paths
    let (s, _) = exchange(port, b"BLAH\r\n\r\n");
    assert_eq!(s, 400);
    let mut big = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 20_000));
    big.extend_from_slice(b"\r\n\r\n");
    let (s, _) = exchange(port, &big);
    assert_eq!(s, 431);
    let (s, _) = exchange(port, b"POST /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(s, 405);
    let (s, _) = exchange(port, b"GET /nothing HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(s, 404);
    let (s, body) = exchange(port, b"HEAD /metrics HTTP/1.0\r\n\r\n");
    assert_eq!((s, body.len()), (200, 0));
    // keep-alive: two scrapes on one connection
    let mut k = TcpStream::connect(("127.0.0.1", port)).unwrap();
    k.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    k.write_all(b"GET /metrics HTTP/1.1\r\n\r\nGET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut both = Vec::new();
    k.read_to_end(&mut both).unwrap();
    let text = String::from_utf8_lossy(&both);
    assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 2);
    // services that come and go between scrapes
    let extra: Vec<PathBuf> = (0..20).map(|i| t.dir.join(format!("x{i}"))).collect();
    for round in 0..10 {
        for (i, d) in extra.iter().enumerate() {
            if (i + round) % 2 == 0 {
                let _ = fs::create_dir(d);
            } else {
                let _ = fs::remove_dir(d);
            }
        }
        let text = scrape(port);
        assert!(String::from_utf8(text).is_ok());
    }
    drop(idle);
    drop(stuck);
}

#[test]
fn svmetrics_ten_thousand_directories() {
    let tmp = support::tempdir();
    let scandir = tmp.path().join("service");
    fs::create_dir(&scandir).unwrap();
    for i in 0..10_000 {
        fs::create_dir(scandir.join(format!("d{i:05}"))).unwrap();
    }
    let port = free_port();
    let _m = svmetrics(port, &scandir);
    let text = String::from_utf8(scrape(port)).unwrap();
    assert_eq!(scalar(&text, "daemontools_services"), Some(10_000));
    assert_eq!(scalar(&text, "daemontools_services_up"), Some(0));
    let running = samples(&text, "daemontools_supervise_running");
    assert_eq!(running.len(), 10_000);
    assert!(running.iter().all(|(_, v)| v == "0"));
    assert_promtool_clean(text.as_bytes());
    // removed from the tree: gone from the next scrape
    for i in 0..5_000 {
        fs::remove_dir(scandir.join(format!("d{i:05}"))).unwrap();
    }
    let text = String::from_utf8(scrape(port)).unwrap();
    assert_eq!(scalar(&text, "daemontools_services"), Some(5_000));
    assert!(sample(&text, "daemontools_service_up", "d00000").is_none());
    let (status, _) = exchange(port, b"GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(status, 200);
}

// ------------------------------------------------------------ runit's view

fn sv(args: &[&str], cwd: &Path) -> (i32, String) {
    let out = Command::new("/usr/bin/sv")
        .args(args)
        .current_dir(cwd)
        .env("SVDIR", cwd)
        .output()
        .unwrap();
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), s)
}

/// `DIR: up (pid N) K seconds` → (`DIR: up (pid N)`, rest without the
/// number of seconds), to compare two svstat lines made moments apart.
fn without_seconds(line: &str) -> String {
    line.split(' ')
        .map(|w| if w.parse::<u64>().is_ok() { "N" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn runit_sv_drives_our_supervise_and_svstat_reads_the_same_tree() {
    if !Path::new("/usr/bin/sv").exists() {
        return support::missing("runit's sv is not installed");
    }
    let Some(debian_svstat) = support::reference("svstat") else {
        return support::missing("Debian's daemontools is not installed");
    };
    let mut t = ScanTree::new();
    let ignores_term =
        "#!/bin/sh\ntrap 'echo TERM >> got' TERM\nwhile :; do sleep 1 & wait $!; done\n";
    let r = t.add(b"r", SLEEPER, Some("#!/bin/sh\nexec cat > /dev/null\n"));
    fs::write(r.join("runit-view"), "").unwrap();
    let h = t.add(b"hard", ignores_term, None);
    fs::write(h.join("runit-view"), "").unwrap();
    t.add(b"plain", SLEEPER, None);
    let f = t.add(b"fin", SLEEPER, None);
    fs::write(f.join("runit-view"), "").unwrap();
    support::script(
        &f.join("finish"),
        "#!/bin/sh\nwhile [ ! -e release ]; do sleep 0.1; done\n",
    );
    t.start();
    let dir = t.dir.clone();
    let status_len =
        |name: &str| fs::metadata(dir.join(name).join("supervise/status")).map(|m| m.len());
    assert!(
        wait_until(LONG, || {
            let (_, v) = json(&dir, &[b"r", b"hard", b"plain", b"fin"]);
            v.iter().all(|v| v["state"] == "up") && v[0]["log"]["state"] == "up"
        }),
        "tree did not come up"
    );
    assert_eq!(status_len("r").unwrap(), 20);
    assert_eq!(
        status_len("r/log").unwrap(),
        20,
        "the log follows r/runit-view"
    );
    assert_eq!(status_len("plain").unwrap(), 18, "off by default");

    // sv status: runit's line for the service and its log, exit 0
    let pid = support::svdir::status_pid(&dir.join("r/supervise/status"));
    let log_pid = support::svdir::status_pid(&dir.join("r/log/supervise/status"));
    let (code, out) = sv(&["status", "r"], &dir);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with(&format!("run: r: (pid {pid}) ")), "{out}");
    assert!(
        out.contains(&format!("s; run: log: (pid {log_pid}) ")),
        "{out}"
    );
    assert!(out.ends_with("s\n"), "{out}");
    assert_eq!(
        fs::read_to_string(dir.join("r/supervise/stat")).unwrap(),
        "run\n"
    );
    assert_eq!(
        fs::read_to_string(dir.join("r/supervise/pid")).unwrap(),
        format!("{pid}\n")
    );
    // 0.76's svstat (Debian's and ours) on the same directory: 0.76's line
    let ours = support::run(support::bin("svstat"), &["r", "r/log"], &dir);
    let theirs = support::run(&debian_svstat, &["r", "r/log"], &dir);
    let ours = String::from_utf8(ours.stdout).unwrap();
    let theirs = String::from_utf8(theirs.stdout).unwrap();
    assert!(
        theirs.starts_with(&format!("r: up (pid {pid}) ")),
        "{theirs}"
    );
    assert_eq!(without_seconds(&ours), without_seconds(&theirs));
    // without the view sv cannot read a status, as with 0.76
    let (code, out) = sv(&["status", "plain"], &dir);
    assert_eq!(code, 1);
    assert!(
        out.contains("unable to read supervise/status: bad format"),
        "{out}"
    );

    // sv -w 7 restart: tcu, waits for the new run, says ok. (sv takes a
    // status stamped in the second it began as the new run: so does it
    // with runsv. Let the current run be older than that.)
    wait_json(&dir, "r", |v| v["seconds"].as_u64() >= Some(2));
    let (code, out) = sv(&["-w", "7", "restart", "r"], &dir);
    assert_eq!(code, 0, "{out}");
    let new = support::svdir::status_pid(&dir.join("r/supervise/status"));
    assert!(new != 0 && new != pid);
    assert!(
        out.starts_with(&format!("ok: run: r: (pid {new}) ")),
        "{out}"
    );

    // sv down / up, the status of each reader
    let (code, out) = sv(&["-w", "7", "down", "r"], &dir);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("ok: down: r: "), "{out}");
    assert!(out.contains("s, normally up"), "{out}");
    let (_, out) = sv(&["status", "r"], &dir);
    assert!(
        out.starts_with("down: r: ") && out.contains("normally up; run: log: "),
        "{out}"
    );
    assert_eq!(
        fs::read_to_string(dir.join("r/supervise/stat")).unwrap(),
        "down\n"
    );
    assert_eq!(fs::read_to_string(dir.join("r/supervise/pid")).unwrap(), "");
    let theirs = support::run(&debian_svstat, &["r"], &dir);
    let theirs = String::from_utf8(theirs.stdout).unwrap();
    assert!(theirs.starts_with("r: down ") && theirs.ends_with(" seconds, normally up\n"));
    let ours = support::run(support::bin("svstat"), &["r"], &dir);
    assert_eq!(
        without_seconds(&String::from_utf8(ours.stdout).unwrap()),
        without_seconds(&theirs)
    );
    let (code, out) = sv(&["-w", "7", "up", "r"], &dir);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("ok: run: r: (pid "), "{out}");
    let (code, out) = sv(&["check", "r"], &dir);
    assert_eq!((code, out.starts_with("ok: run: r: ")), (0, true), "{out}");

    // a run that ignores TERM: got TERM in every reader, force-stop kills
    let hard = support::svdir::status_pid(&dir.join("hard/supervise/status"));
    let (code, out) = sv(&["-w", "1", "force-stop", "hard"], &dir);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with(&format!("kill: run: hard: (pid {hard}) "))
            && out.contains(", want down, got TERM"),
        "{out}"
    );
    assert!(
        wait_until(LONG, || !support::alive(hard as i32)),
        "not killed"
    );
    wait_sv(&dir, "hard", "down: hard: ");
    assert!(fs::read_to_string(h.join("got")).unwrap().contains("TERM"));
    let (code, out) = sv(&["up", "hard"], &dir);
    assert_eq!(code, 0, "{out}");
    let again = wait_json(&dir, "hard", |v| v["state"] == "up" && v["error"].is_null());
    let stat = fs::read_to_string(dir.join("hard/supervise/stat")).unwrap();
    let (_, out) = sv(&["status", "hard"], &dir);
    assert_eq!(stat, "run\n", "the new run got no TERM: {again} {out}");
    assert_eq!(again["want"], "up");

    // ./finish: runit's finish state; 0.76's readers see down
    let (code, out) = sv(&["down", "fin"], &dir);
    assert_eq!(code, 0, "{out}");
    let stat = |name: &str| fs::read_to_string(dir.join(name).join("supervise/stat")).unwrap();
    wait_sv(&dir, "fin", "finish: fin: ");
    assert_eq!(stat("fin"), "finish, want down\n");
    let theirs = support::run(&debian_svstat, &["fin"], &dir);
    let theirs = String::from_utf8(theirs.stdout).unwrap();
    assert!(theirs.starts_with("fin: down "), "{theirs}");
    assert_eq!(json_one(&dir, "fin")["state"], "finishing");
    fs::write(f.join("release"), "").unwrap();
    // supervise writes stat, then status: once sv reads down, stat says so
    wait_sv(&dir, "fin", "down: fin: ");
    assert_eq!(stat("fin"), "down\n");
}

/// Waits until `sv status NAME` starts with `prefix`.
fn wait_sv(dir: &Path, name: &str, prefix: &str) {
    let mut out = String::new();
    let ok = wait_until(LONG, || {
        out = sv(&["status", name], dir).1;
        out.starts_with(prefix)
    });
    assert!(ok, "{name}: {out}");
}
