//! Lossless whole-tree shutdown: services write numbered lines as fast as
//! they can into multilog; after svshutdown every number each service wrote
//! is in its log exactly once, and no process of the tree is left.

use crate::support;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::support::{LONG, Proc, wait_until};

const SERVICES: usize = 3;

/// A tree of services `sN`, each with a `log/` running multilog.
fn make_tree(root: &Path) -> PathBuf {
    let tree = root.join("service");
    for n in 0..SERVICES {
        let d = tree.join(format!("s{n}"));
        support::script(
            &d.join("run"),
            &format!("#!/bin/sh\nexec 2>&1\ni=0\nwhile :; do i=$((i+1)); echo \"s{n} $i\"; done\n"),
        );
        support::script(
            &d.join("log/run"),
            "#!/bin/sh\nexec multilog s16777215 n100 ./main\n",
        );
    }
    tree
}

/// All lines of a multilog directory, oldest file first.
fn logged(dir: &Path) -> Vec<String> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| {
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        n.starts_with('@') || n == "current"
    });
    // @-names sort by time; current is the newest
    files.sort_by_key(|p| {
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        (n == "current", n)
    });
    files
        .iter()
        .flat_map(|f| {
            fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Checks that `lines` are exactly `sN 1` .. `sN last`; returns last.
fn check_numbers(n: usize, lines: &[String]) -> usize {
    let prefix = format!("s{n} ");
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(
            l,
            &format!("{prefix}{}", i + 1),
            "s{n}: line {} is wrong",
            i + 1
        );
    }
    lines.len()
}

/// Ends whatever is left of the tree (by PID) when dropped.
struct TreeGuard(i32);

impl Drop for TreeGuard {
    fn drop(&mut self) {
        support::kill_all(&support::procs_with(2, self.0));
    }
}

fn start_tree(tree: &Path, env: &[(&str, &str)]) -> (Proc, TreeGuard) {
    let p = support::spawn(
        support::bin("svscan"),
        &[tree.to_str().unwrap()],
        tree,
        |c| {
            c.stdout(Stdio::null()).stderr(Stdio::null());
            c.envs(env.iter().copied());
        },
    );
    let guard = TreeGuard(p.pid());
    // every service has logged something
    assert!(
        wait_until(LONG, || (0..SERVICES).all(|n| {
            fs::metadata(tree.join(format!("s{n}/log/main/current")))
                .map(|m| m.len() > 1000)
                .unwrap_or(false)
        })),
        "tree did not come up"
    );
    (p, guard)
}

fn verify(tree: &Path, pgid: i32) {
    assert!(
        wait_until(LONG, || support::procs_with(2, pgid).is_empty()),
        "left: {:?}",
        support::procs_with(2, pgid)
    );
    for n in 0..SERVICES {
        let lines = logged(&tree.join(format!("s{n}/log/main")));
        let last = check_numbers(n, &lines);
        assert!(last > 100, "s{n} wrote only {last} lines");
        // multilog finished cleanly: current is marked complete
        let mode = fs::metadata(tree.join(format!("s{n}/log/main/current"))).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o100,
            0o100
        );
    }
}

#[test]
fn svshutdown_loses_no_line_and_leaves_nothing() {
    let tmp = support::tempdir();
    let tree = make_tree(tmp.path());
    support::script(
        &tree.join("s1/shutdown"),
        "#!/bin/sh\necho hook-ran > shutdown.mark\n",
    );
    let (mut scan, guard) = start_tree(&tree, &[]);
    let out = support::run(
        support::bin("svshutdown"),
        &["-t", "20", tree.to_str().unwrap()],
        tmp.path(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        scan.wait_timeout(Duration::from_secs(5)).is_some(),
        "svscan still runs"
    );
    verify(&tree, guard.0);
    assert_eq!(
        fs::read_to_string(tree.join("s1/shutdown.mark")).unwrap(),
        "hook-ran\n"
    );
}

/// The opt-in mode: with `SVSCAN_TERM=shutdown`, SIGTERM to svscan runs the
/// same sequence (including `./shutdown` hooks and svscan's own logger) and
/// svscan exits 0 once nothing of the tree is left.
#[test]
fn svscan_term_shutdown_loses_no_line_and_leaves_nothing() {
    let tmp = support::tempdir();
    let tree = make_tree(tmp.path());
    // a shutdown hook that leaves a mark in the service directory
    support::script(
        &tree.join("s0/shutdown"),
        "#!/bin/sh\necho hook-ran > shutdown.mark\n",
    );
    // svscan's own logger, fed by an unlogged service and svscan itself
    support::script(
        &tree.join(".svscan/log/run"),
        "#!/bin/sh\nexec multilog ./main\n",
    );
    support::script(
        &tree.join("chatty/run"),
        "#!/bin/sh\necho chatty says hello\nexec sleep 1000\n",
    );
    let (mut scan, guard) = start_tree(&tree, &[("SVSCAN_TERM", "shutdown")]);
    let selflog = tree.join(".svscan/log/main/current");
    assert!(
        wait_until(LONG, || fs::read_to_string(&selflog)
            .is_ok_and(|s| s.contains("chatty says hello"))),
        "svscan's logger did not get the unlogged service's output"
    );
    support::send_signal(scan.pid(), 15);
    let status = scan
        .wait_timeout(Duration::from_secs(60))
        .expect("svscan did not exit after SIGTERM");
    assert_eq!(status.code(), Some(0));
    verify(&tree, guard.0);
    assert_eq!(
        fs::read_to_string(tree.join("s0/shutdown.mark")).unwrap(),
        "hook-ran\n"
    );
    // the self-logger drained and finished too
    let mode = fs::metadata(&selflog).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o100,
        0o100
    );
    assert!(
        fs::read_to_string(&selflog)
            .unwrap()
            .contains("chatty says hello")
    );
}
