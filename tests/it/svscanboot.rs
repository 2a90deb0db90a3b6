//! svscanboot on a temp directory. svscanboot sets PATH itself to
//! `/command:/usr/local/bin:...:/usr/bin:...` with the directory it was run
//! from put first (when not already in the list), so the svc, svscan,
//! readproctitle and, below svscan, supervise of the tree are ours, found
//! next to our svscanboot. Checked: leftovers stopped, the pipeline, the
//! environment, descriptors, the process title, the exit status.
//!
//! svscanboot runs in its own process group and nothing below it calls
//! setsid; the test ends the group by PID: svscanboot, then svscan and
//! readproctitle, then every supervise, then the services.

use crate::support;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{LONG, Proc, wait_until};

const BOOT_PATH: &str =
    "/command:/usr/local/bin:/usr/local/sbin:/bin:/sbin:/usr/bin:/usr/sbin:/usr/X11R6/bin";

/// The environment svscanboot gives svscan and readproctitle: PATH only,
/// with our binaries' directory first.
fn boot_env() -> String {
    let own = fs::canonicalize(support::bin_dir()).unwrap();
    let own = own.to_str().unwrap();
    if BOOT_PATH.split(':').any(|e| e == own) {
        format!("PATH={BOOT_PATH}\0")
    } else {
        format!("PATH={own}:{BOOT_PATH}\0")
    }
}

fn cmdline(pid: i32) -> Vec<String> {
    let b = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let b = b.strip_suffix(b"\0").unwrap_or(&b);
    b.split(|&c| c == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

fn comm(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_default()
}

fn fd_target(pid: i32, fd: i32) -> String {
    fs::read_link(format!("/proc/{pid}/fd/{fd}"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Ends process group `pgid` by PID in the order described above.
fn end_group(pgid: i32) {
    let end = Instant::now() + Duration::from_secs(10);
    for round in 0.. {
        let members = support::procs_with(2, pgid);
        if members.is_empty() || Instant::now() >= end {
            return;
        }
        let rank = |p: i32| match comm(p).as_str() {
            "svscanboot" => 0,
            "svscan" | "readproctitle" => 1,
            "supervise" => 2,
            _ => 3,
        };
        let best = members.iter().map(|&p| rank(p)).min().unwrap();
        let first: Vec<i32> = members.into_iter().filter(|&p| rank(p) == best).collect();
        support::kill_all(&first);
        if round > 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// svscanboot on `dir`, ended (with everything below it) on drop; the
/// services' pids in `dir/*/supervise/status` are killed last.
struct Boot {
    proc_: Option<Proc>,
    dir: PathBuf,
}

impl Boot {
    /// `svscanboot DIR`, run in `cwd`.
    fn start(dir: &Path, cwd: &Path) -> Boot {
        let p = support::spawn(
            support::bin("svscanboot"),
            &[dir.to_str().unwrap()],
            cwd,
            |c| {
                c.stdout(Stdio::null()).stderr(Stdio::null());
            },
        );
        Boot {
            proc_: Some(p),
            dir: dir.to_path_buf(),
        }
    }

    fn pid(&self) -> i32 {
        self.proc_.as_ref().unwrap().pid()
    }
}

impl Drop for Boot {
    fn drop(&mut self) {
        if let Some(p) = self.proc_.take() {
            let pgid = p.pid();
            drop(p);
            end_group(pgid);
        }
        for st in ["supervise/status", "log/supervise/status"] {
            if let Ok(rd) = fs::read_dir(&self.dir) {
                for e in rd.flatten() {
                    let pid = support::svdir::status_pid(&e.path().join(st));
                    if pid != 0 {
                        support::send_signal(pid as i32, 9);
                    }
                }
            }
        }
    }
}

/// Leftover supervise processes (service and log) are told `-dx` and exit;
/// then `svscan DIR` and `readproctitle service errors: <400 dots>` run as
/// children of svscanboot, connected by one pipe, each with PATH as its
/// only environment variable; an unlogged service's output shows in
/// readproctitle's process title.
#[test]
fn svscanboot_starts_the_tree_and_shows_errors_in_the_title() {
    let tmp = support::tempdir();
    let dir = fs::canonicalize(tmp.path()).unwrap().join("service");
    support::script(
        &dir.join("chatty/run"),
        "#!/bin/sh\necho chatty-says-hi\nexec sleep 100000\n",
    );
    support::script(&dir.join("old/run"), "#!/bin/sh\nexec sleep 100000\n");
    support::script(&dir.join("old/log/run"), "#!/bin/sh\nexec sleep 100000\n");
    // a previous boot's supervise processes (ours), with their services
    let mut left_main = support::spawn(support::bin("supervise"), &["old"], &dir, |c| {
        c.stdout(Stdio::null()).stderr(Stdio::null());
    });
    let mut left_log = support::spawn(support::bin("supervise"), &["log"], &dir.join("old"), |c| {
        c.stdout(Stdio::null()).stderr(Stdio::null());
    });
    let _kill_old = (
        support::svdir::KillStatusPid(dir.join("old/supervise/status")),
        support::svdir::KillStatusPid(dir.join("old/log/supervise/status")),
    );
    let svok = |d: &str| {
        support::run(support::bin("svok"), &[d], &dir)
            .status
            .success()
    };
    assert!(wait_until(LONG, || svok("old") && svok("old/log")));
    let old_svc = support::svdir::wait_status_pid(&dir.join("old/supervise/status"));

    let boot = Boot::start(&dir, tmp.path());
    // step 3: svc -dx DIR/* DIR/*/log
    for (what, p) in [("old", &mut left_main), ("old/log", &mut left_log)] {
        let st = p.wait_timeout(LONG);
        assert_eq!(
            st.and_then(|s| s.code()),
            Some(0),
            "leftover supervise {what} did not exit"
        );
    }
    assert!(wait_until(LONG, || !support::alive(old_svc as i32)));

    // step 4: the pipeline
    let mut scan = 0;
    let mut title = 0;
    assert!(
        wait_until(LONG, || {
            for p in support::procs_with(1, boot.pid()) {
                let a = cmdline(p);
                if a.len() == 2 && a[0] == "svscan" && a[1] == dir.to_str().unwrap() {
                    scan = p;
                }
                // (the argument shape is checked by another test)
                if a.first().is_some_and(|a0| a0 == "readproctitle") {
                    title = p;
                }
            }
            scan != 0 && title != 0
        }),
        "children of svscanboot: {:?}",
        support::procs_with(1, boot.pid())
            .into_iter()
            .map(cmdline)
            .collect::<Vec<_>>()
    );
    // ours, found next to svscanboot
    for (p, name) in [(scan, "svscan"), (title, "readproctitle")] {
        assert_eq!(
            fs::read_link(format!("/proc/{p}/exe")).unwrap(),
            fs::canonicalize(support::bin(name)).unwrap()
        );
    }
    for p in [scan, title] {
        let env = fs::read(format!("/proc/{p}/environ")).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&env),
            boot_env(),
            "environment of {:?}",
            cmdline(p)
        );
    }
    let pipe = fd_target(title, 0);
    assert!(pipe.starts_with("pipe:"), "readproctitle's stdin is {pipe}");
    assert_eq!(fd_target(scan, 1), pipe);
    assert_eq!(fd_target(scan, 2), pipe);
    for fd in 0..3 {
        assert_eq!(fd_target(boot.pid(), fd), "/dev/null", "svscanboot fd {fd}");
    }
    assert_eq!(fd_target(scan, 0), "/dev/null");

    // the unlogged service's output in the title (`...` first)
    let mut window = String::new();
    assert!(
        wait_until(LONG, || {
            window = cmdline(title).last().cloned().unwrap_or_default();
            window.contains("chatty-says-hi")
        }),
        "title: {window:?}"
    );
    assert!(window.starts_with("..."));
    // and the tree runs: both services supervised
    assert!(wait_until(LONG, || svok("chatty")
        && svok("old")
        && svok("old/log")));
}

/// When svscan cannot start (no such directory), its message goes to
/// readproctitle, which exits 0 at the end of input, and svscanboot exits
/// with readproctitle's status.
#[test]
fn svscanboot_exits_with_readproctitles_status() {
    let tmp = support::tempdir();
    let mut boot = Boot::start(&tmp.path().join("missing"), tmp.path());
    let st = boot
        .proc_
        .as_mut()
        .unwrap()
        .wait_timeout(LONG)
        .expect("svscanboot did not exit");
    assert_eq!(st.code(), Some(0));
}

/// readproctitle's arguments are those of 0.76's script line
/// `readproctitle service errors: ....`: `service`, `errors:` and a window
/// of 400 dots, so `ps` shows `readproctitle service errors: ...<tail>`.
#[test]
fn svscanboot_gives_readproctitle_the_scripts_arguments() {
    let tmp = support::tempdir();
    let dir = fs::canonicalize(tmp.path()).unwrap().join("service");
    fs::create_dir(&dir).unwrap();
    let boot = Boot::start(&dir, tmp.path());
    let mut args = Vec::new();
    assert!(
        wait_until(LONG, || {
            args = support::procs_with(1, boot.pid())
                .into_iter()
                .map(cmdline)
                .find(|a| a.first().is_some_and(|a0| a0 == "readproctitle"))
                .unwrap_or_default();
            !args.is_empty()
        }),
        "no readproctitle"
    );
    assert_eq!(
        args,
        ["readproctitle", "service", "errors:", &".".repeat(400)],
        "readproctitle's arguments"
    );
}
