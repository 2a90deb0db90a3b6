//! fghack and pgrphack (doc/fghack.8.md, doc/pgrphack.8.md), run as a user
//! would, side by side with the reference.

use crate::support;
use std::collections::HashMap;
use std::path::Path;

use crate::support::tools::{Run, Spec};

use crate::support::tools::expect as run;

#[test]
fn usage_and_failures() {
    let t = support::tempdir();
    let cases: Vec<(Vec<&str>, Run)> = vec![
        (
            vec!["fghack"],
            run(100, "", "fghack: usage: fghack child\n"),
        ),
        (
            vec!["pgrphack"],
            run(100, "", "pgrphack: usage: pgrphack child\n"),
        ),
        (
            vec!["fghack", "./nonexistent"],
            run(
                111,
                "",
                "fghack: fatal: unable to run ./nonexistent: file does not exist\n",
            ),
        ),
        (
            vec!["pgrphack", "./nonexistent", "x"],
            run(
                111,
                "",
                "pgrphack: fatal: unable to run ./nonexistent: file does not exist\n",
            ),
        ),
        (
            vec!["fghack", "sh", "-c", "echo hi; exit 7"],
            run(7, "hi\n", ""),
        ),
        (vec!["fghack", "true"], run(0, "", "")),
        (
            vec!["fghack", "sh", "-c", "kill -9 $$"],
            run(111, "", "fghack: fatal: child crashed\n"),
        ),
        (
            vec!["fghack", "sh", "-c", "kill -TERM $$"],
            run(111, "", "fghack: fatal: child crashed\n"),
        ),
        (vec!["pgrphack", "sh", "-c", "exit 9"], run(9, "", "")),
    ];
    support::tools::table(t.path(), &cases);
}

#[test]
fn fghack_wait_failure_when_sigchld_is_ignored() {
    // With SIGCHLD ignored the child is reaped by the kernel: waitpid
    // fails with ECHILD (inherited disposition, as with the reference).
    let t = support::tempdir();
    for prog in support::tools::both("fghack") {
        let args = [
            "perl",
            "-e",
            "$SIG{CHLD} = 'IGNORE'; exec @ARGV or exit 99",
            prog.to_str().unwrap(),
            "sh",
            "-c",
            "exit 3",
        ];
        let r = support::tools::run(Path::new("/usr/bin/perl"), &Spec::new(t.path(), &args));
        assert_eq!(
            r,
            run(111, "", "fghack: fatal: wait failed: no child processes\n")
        );
    }
}

/// The child gets 31 inheritable copies of the pipe's write end (the
/// original and 30 dups) and no copy of the read end.
#[test]
fn fghack_child_holds_31_write_ends() {
    let t = support::tempdir();
    for prog in support::tools::both("fghack") {
        let r = support::tools::run(
            &prog,
            &Spec::new(
                t.path(),
                &[
                    "fghack",
                    "sh",
                    "-c",
                    "cd /proc/$$/fd && for f in *; do readlink $f; done",
                ],
            ),
        );
        assert_eq!(r.code, Some(0), "{}", r.err_str());
        let mut count: HashMap<String, usize> = HashMap::new();
        for l in r.lines().into_iter().filter(|l| l.starts_with("pipe:")) {
            *count.entry(l).or_default() += 1;
        }
        // Both ends of a pipe show the same inode: 32 would mean the read
        // end leaked too.
        assert_eq!(
            count.values().max(),
            Some(&31),
            "{}: {count:?}",
            prog.display()
        );
    }
}

fn state_of(pid: i32) -> Option<String> {
    support::stat_fields(pid)?.into_iter().next()
}

/// fghack waits for whatever the child left behind holding the pipe, then
/// reaps the child and exits with its code.
#[test]
fn fghack_waits_for_background_descendants() {
    let t = support::tempdir();
    for prog in support::tools::both("fghack") {
        for code in [0, 3] {
            let pidfile = t.path().join("bg");
            let _ = std::fs::remove_file(&pidfile);
            let script =
                format!("sleep 60 >/dev/null 2>&1 & echo $! > bg.tmp; mv bg.tmp bg; exit {code}");
            let mut f = support::spawn(&prog, &["sh", "-c", &script], t.path(), |_| {});
            let fp = f.pid();
            assert!(support::wait_until(support::LONG, || pidfile.exists()));
            let bg: i32 = std::fs::read_to_string(&pidfile)
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            // The shell is gone (a zombie fghack has not reaped yet) while
            // fghack still sits in read(2) on the pipe the sleep holds.
            let shell_zombie = || {
                std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
                    let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                        return false;
                    };
                    let stat =
                        std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                    let after = stat.rsplit(')').next().unwrap_or("");
                    let mut f = after.split_whitespace();
                    f.next() == Some("Z") && f.next() == Some(&fp.to_string())
                })
            };
            let waiting = support::wait_until(support::LONG, || {
                shell_zombie() && support::syscall(fp).map(|s| s.0) == Some(libc::SYS_read)
            });
            let still = f.child.try_wait().unwrap().is_none();
            support::kill_all(&[bg]);
            assert!(
                waiting && still,
                "{}: fghack not waiting for the descendant",
                prog.display()
            );
            let st = f
                .wait_timeout(support::LONG)
                .expect("fghack ends after the sleep");
            assert_eq!(st.code(), Some(code));
            // (The sleep's descriptors close before it turns into a zombie.)
            assert!(support::wait_until(support::LONG, || {
                state_of(bg).is_none_or(|s| s == "Z" || s == "X")
            }));
        }
    }
}

/// (pid, pgrp, session) of a `cat /proc/self/stat` output.
fn ids(stat: &str) -> (i64, i64, i64) {
    let pid = stat.split(' ').next().unwrap().parse().unwrap();
    let after: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    (pid, after[2].parse().unwrap(), after[3].parse().unwrap())
}

#[test]
fn pgrphack_starts_a_new_session() {
    let t = support::tempdir();
    for prog in support::tools::both("pgrphack") {
        // Started by a non-interactive shell: not a group leader, so
        // setsid works and pid = pgid = sid.
        let r = support::tools::run(
            Path::new("/bin/sh"),
            &Spec::new(
                t.path(),
                &[
                    "sh",
                    "-c",
                    "\"$0\" cat /proc/self/stat; :",
                    prog.to_str().unwrap(),
                ],
            ),
        );
        let (pid, pgrp, sid) = ids(&r.out_str());
        assert_eq!((pgrp, sid), (pid, pid), "{}", prog.display());
        // Already a group leader (spawned in its own group): setsid fails
        // silently and the program runs in the original group and session.
        let out = t.path().join("out");
        let file = std::fs::File::create(&out).unwrap();
        let mut p = support::spawn(&prog, &["cat", "/proc/self/stat"], t.path(), |c| {
            c.stdout(file);
        });
        assert!(p.wait_timeout(support::LONG).expect("ends").success());
        let (pid, pgrp, sid) = ids(&std::fs::read_to_string(&out).unwrap());
        let my_sid = nix::unistd::getsid(None).unwrap().as_raw() as i64;
        assert_eq!((pid, pgrp, sid), (p.pid() as i64, p.pid() as i64, my_sid));
    }
}
