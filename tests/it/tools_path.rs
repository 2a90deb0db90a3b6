//! PATH search (doc/envdir.8.md, "PATH SEARCH", shared by all the tools that
//! run a program) and what every tool's program inherits: all open
//! descriptors, the signal mask and the ignored signals, the cwd, umask,
//! session and process group, unchanged (only pgrphack changes the session
//! and group; setlock and fghack add descriptors on purpose). Run through
//! our binaries, side by side with the reference.

use crate::support;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::tools::{Run, Spec, exe, expect, is_root, same};

/// a/prog: executable without `#!` (ENOEXEC); b/prog: mode 644;
/// c/prog: a working script; d/prog: a directory; `file`: a regular file;
/// l/prog: a symlink loop; ./cwdprog: only in the cwd.
fn layout(root: &Path) {
    exe(&root.join("a/prog"), "echo from a\n");
    exe(&root.join("c/prog"), "#!/bin/sh\necho from c \"$@\"\n");
    exe(&root.join("b/prog"), "#!/bin/sh\necho from b\n");
    std::fs::set_permissions(root.join("b/prog"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::create_dir_all(root.join("d/prog")).unwrap();
    std::fs::write(root.join("file"), "x").unwrap();
    std::fs::create_dir_all(root.join("l")).unwrap();
    std::os::unix::fs::symlink("prog", root.join("l/prog")).unwrap();
    exe(&root.join("dtrscwdprog"), "#!/bin/sh\necho from cwd\n");
}

fn ok(out: &str) -> Run {
    expect(0, out, "")
}

fn fail(prog: &str, name: &str, err: &str) -> Run {
    expect(
        111,
        "",
        &format!("{prog}: fatal: unable to run {name}: {err}\n"),
    )
}

#[test]
fn path_search_table_pgrphack() {
    let t = support::tempdir();
    layout(t.path());
    let cwd = t.path();
    let p = "pgrphack";
    let cases: Vec<(Option<&str>, &str, Run)> = vec![
        (Some("b:c"), "prog", ok("from c\n")),
        (Some("b"), "prog", fail(p, "prog", "access denied")),
        (Some("b:b"), "prog", fail(p, "prog", "access denied")),
        (Some("a:c"), "prog", fail(p, "prog", "exec format error")),
        (Some("file:c"), "prog", fail(p, "prog", "not a directory")),
        (Some("d"), "prog", fail(p, "prog", "access denied")),
        (Some("l:c"), "prog", fail(p, "prog", "symbolic link loop")),
        (Some("/nonexistent:c"), "prog", ok("from c\n")),
        (
            Some("b:d:/nonexistent"),
            "prog",
            fail(p, "prog", "access denied"),
        ),
        (
            None,
            "dtrscwdprog",
            fail(p, "dtrscwdprog", "file does not exist"),
        ),
        (Some(""), "dtrscwdprog", ok("from cwd\n")),
        (Some("b:"), "dtrscwdprog", ok("from cwd\n")),
        (Some(":b"), "dtrscwdprog", ok("from cwd\n")),
        (
            Some("/nonexistent"),
            "dtrscwdprog",
            fail(p, "dtrscwdprog", "file does not exist"),
        ),
        (Some("c"), "", fail(p, "", "access denied")),
        (
            Some("c"),
            "./nonexistent",
            fail(p, "./nonexistent", "file does not exist"),
        ),
        (Some("/nonexistent"), "c/prog", ok("from c\n")),
        (Some("c"), "b/prog", fail(p, "b/prog", "access denied")),
        (Some("c"), "a/prog", fail(p, "a/prog", "exec format error")),
        (Some("c"), "d/prog", fail(p, "d/prog", "access denied")),
        (
            Some("c"),
            "file/prog",
            fail(p, "file/prog", "not a directory"),
        ),
    ];
    for (path, name, want) in cases {
        let env: Vec<(&str, &str)> = path.map(|v| ("PATH", v)).into_iter().collect();
        let got = same(p, &Spec::new(cwd, &[p, name]).env(&env));
        assert_eq!(got, want, "PATH={path:?} name={name:?}");
    }
}

#[test]
fn every_tool_reports_a_failed_run_alike() {
    let t = support::tempdir();
    layout(t.path());
    std::fs::create_dir(t.path().join("envd")).unwrap();
    let mut cases: Vec<Vec<&str>> = vec![
        vec!["envuidgid", "daemon", "prog"],
        vec!["envdir", "envd", "prog"],
        vec!["softlimit", "-o", "=", "prog"],
        vec!["setlock", "lockfile", "prog"],
        vec!["setlock", "-nx", "lockfile", "prog"],
        vec!["fghack", "prog"],
        vec!["pgrphack", "prog"],
    ];
    if is_root() {
        cases.push(vec!["setuidgid", "root", "prog"]);
    } else {
        support::skip("setuidgid's run failure needs root (to switch accounts)");
    }
    for args in cases {
        for (path, err) in [("b", "access denied"), ("a:c", "exec format error")] {
            let got = same(args[0], &Spec::new(t.path(), &args).env(&[("PATH", path)]));
            assert_eq!(got, fail(args[0], "prog", err), "{args:?} PATH={path}");
        }
        let got = same(args[0], &Spec::new(t.path(), &args).env(&[("PATH", "b:c")]));
        assert_eq!(got, ok("from c\n"), "{args:?}");
    }
}

fn inherit_cases() -> Vec<Vec<&'static str>> {
    let mut cases: Vec<Vec<&str>> = vec![
        vec!["envuidgid", "daemon"],
        vec!["envdir", "envd"],
        vec!["softlimit", "-t", "100"],
        vec!["setlock", "lockfile"],
        vec!["pgrphack"],
    ];
    if is_root() {
        cases.push(vec!["setuidgid", "daemon"]);
    } else {
        support::skip("setuidgid to another account needs root");
    }
    cases
}

/// Runs `cmd args` to completion, stdout to a file; returns (pid, stdout).
fn run_pid(cmd: &str, args: &[&str], cwd: &Path) -> (i32, String) {
    let out = cwd.join("out");
    let file = std::fs::File::create(&out).unwrap();
    let mut p = support::spawn(cmd, args, cwd, |c| {
        c.stdout(file);
    });
    let st = p.wait_timeout(support::LONG).expect("finishes");
    assert!(st.success(), "{cmd} {args:?}: {st:?}");
    (p.pid(), std::fs::read_to_string(&out).unwrap())
}

/// Each tool (but fghack) execs in its own process; argv[0] is the name as
/// given; the signal mask and ignored set pass through unchanged (and
/// std's SIGPIPE=SIG_IGN does not leak).
#[test]
fn signals_pid_and_argv0_pass_through() {
    let t = support::tempdir();
    std::fs::create_dir(t.path().join("envd")).unwrap();
    // Execs its arguments with SIGHUP ignored and SIGUSR1 blocked.
    let wrapper = "use POSIX; sigprocmask(SIG_BLOCK, POSIX::SigSet->new(SIGUSR1)); \
                   $SIG{HUP} = 'IGNORE'; exec {$ARGV[0]} @ARGV or exit 99";
    let (pipe, hup, usr1) = (
        1u64 << (libc::SIGPIPE - 1),
        1u64 << (libc::SIGHUP - 1),
        1u64 << (libc::SIGUSR1 - 1),
    );
    for tool in inherit_cases() {
        let mut seen = Vec::new();
        for prog in support::tools::both(tool[0]) {
            let prog_s = prog.to_str().unwrap();
            let mut args = tool[1..].to_vec();
            args.extend(["sh", "-c", "echo $0"]);
            assert_eq!(run_pid(prog_s, &args, t.path()).1, "sh\n", "{tool:?}");
            for wrapped in [false, true] {
                let mut args = tool[1..].to_vec();
                args.extend(["grep", "-E", "^(Pid|SigIgn|SigBlk):", "/proc/self/status"]);
                let (pid, text) = if wrapped {
                    let mut v = vec!["-e", wrapper, prog_s];
                    v.extend(&args);
                    run_pid("/usr/bin/perl", &v, t.path())
                } else {
                    run_pid(prog_s, &args, t.path())
                };
                let what = format!("{tool:?} {prog_s} wrapped={wrapped}");
                let lines: Vec<&str> = text.lines().collect();
                assert_eq!(
                    status_field(&lines, "Pid", 10),
                    pid as u64,
                    "{what}: same process"
                );
                // The test harness itself may hand down ignored real-time
                // signals; only the bits below are ours to check.
                let ign = status_field(&lines, "SigIgn", 16);
                let blk = status_field(&lines, "SigBlk", 16);
                assert_eq!(ign & pipe, 0, "{what}: SIGPIPE ignored");
                assert_eq!(ign & hup != 0, wrapped, "{what}: SIGHUP");
                assert_eq!(blk, if wrapped { usr1 } else { 0 }, "{what}: mask");
                seen.push((wrapped, ign, blk));
            }
        }
        // Ours and the reference hand down exactly the same sets.
        if seen.len() == 4 {
            assert_eq!(seen[..2], seen[2..], "{tool:?}");
        }
    }
}

fn status_field(lines: &[&str], name: &str, radix: u32) -> u64 {
    let l = lines
        .iter()
        .find(|l| l.starts_with(&format!("{name}:")))
        .unwrap();
    u64::from_str_radix(l.split_whitespace().nth(1).unwrap(), radix).unwrap()
}

/// The descriptors of a running `sleep` started as `cmd args sleep 60`.
fn fds_of_sleep(cmd: &Path, args: &[&str], cwd: &Path) -> Vec<String> {
    let mut v = args.to_vec();
    v.extend(["sleep", "60"]);
    let p = support::spawn(cmd, &v, cwd, |_| {});
    let pid = p.pid();
    // Asleep, i.e. past the dynamic loader (which opens and closes files).
    let asleep = || support::sleep_request(pid).is_some();
    assert!(
        support::wait_until(support::LONG, asleep),
        "{} never slept",
        cmd.display()
    );
    let mut fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    fds.sort();
    drop(p);
    fds
}

/// No descriptor leaks to the program beyond the ones daemontools passes
/// on (setlock's lock on fd 3).
#[test]
fn no_descriptor_leaks() {
    let t = support::tempdir();
    std::fs::create_dir(t.path().join("envd")).unwrap();
    std::fs::write(t.path().join("envd/X"), "y\n").unwrap();
    // What a program started by this harness has anyway (the harness may
    // inherit descriptors from its own parent).
    let baseline = fds_of_sleep(Path::new("/usr/bin/env"), &[], t.path());
    for tool in inherit_cases() {
        for prog in support::tools::both(tool[0]) {
            let mut want = baseline.clone();
            if tool[0] == "setlock" {
                want.push("3".to_string());
                want.sort();
            }
            let got = fds_of_sleep(&prog, &tool[1..], t.path());
            assert_eq!(got, want, "{tool:?} {}", prog.display());
        }
    }
}
