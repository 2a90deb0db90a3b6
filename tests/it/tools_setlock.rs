//! setlock (doc/setlock.8.md): options and messages, the lock file, flock
//! semantics against other lockers, and the inherited lock descriptor.

use crate::support;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::tools::{Run, Spec, expect, same};

const USAGE: &str = "setlock: usage: setlock [ -nNxX ] file program [ arg ... ]\n";

fn err(code: i32, text: &str) -> Run {
    expect(code, "", text)
}

fn quiet(code: i32, out: &str) -> Run {
    expect(code, out, "")
}

#[test]
fn usage_and_open_failures() {
    let t = support::tempdir();
    let cases: Vec<(Vec<&str>, Run)> = vec![
        (vec!["setlock"], err(100, USAGE)),
        (vec!["setlock", "f"], err(100, USAGE)),
        (vec!["setlock", "-n", "f"], err(100, USAGE)),
        (vec!["setlock", "-nx"], err(100, USAGE)),
        (
            vec!["setlock", "-z", "f", "true"],
            err(100, &format!("setlock: illegal option -- z\n{USAGE}")),
        ),
        (
            vec!["setlock", "-nq", "f", "true"],
            err(100, &format!("setlock: illegal option -- q\n{USAGE}")),
        ),
        (
            vec!["setlock", "nonexistent/lock", "true"],
            err(
                111,
                "setlock: fatal: unable to open nonexistent/lock: file does not exist\n",
            ),
        ),
        (
            vec!["setlock", "-x", "nonexistent/lock", "true"],
            quiet(0, ""),
        ),
        (
            vec!["setlock", "-xX", "nonexistent/lock", "true"],
            err(
                111,
                "setlock: fatal: unable to open nonexistent/lock: file does not exist\n",
            ),
        ),
        (
            vec!["setlock", "-x", "lock", "./nonexistent"],
            err(
                111,
                "setlock: fatal: unable to run ./nonexistent: file does not exist\n",
            ),
        ),
        (
            vec!["setlock", "--", "lock", "echo", "ok"],
            quiet(0, "ok\n"),
        ),
        (
            vec!["setlock", "-nNxX", "lock", "echo", "ok"],
            quiet(0, "ok\n"),
        ),
    ];
    support::tools::table(t.path(), &cases);
}

#[test]
fn lock_file_is_created_0600_and_never_truncated() {
    let t = support::tempdir();
    for prog in support::tools::both("setlock") {
        let lock = t.path().join("lock");
        let _ = std::fs::remove_file(&lock);
        let umask = "umask 022; exec \"$0\" \"$@\"";
        let r = support::tools::run(
            Path::new("/bin/sh"),
            &Spec::new(
                t.path(),
                &["sh", "-c", umask, prog.to_str().unwrap(), "lock", "true"],
            ),
        );
        assert_eq!(r, quiet(0, ""));
        let meta = std::fs::metadata(&lock).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
        std::fs::write(&lock, "keep me").unwrap();
        let r = support::tools::run(&prog, &Spec::new(t.path(), &["setlock", "lock", "true"]));
        assert_eq!(r, quiet(0, ""));
        assert_eq!(std::fs::read(&lock).unwrap(), b"keep me");
    }
}

/// Waits until `pid` is blocked in flock(2) (syscall 73 on x86_64; other
/// architectures: until it is at least alive and sleeping).
fn blocked_in_flock(pid: i32) -> bool {
    match support::syscall(pid) {
        Some((nr, _)) if cfg!(target_arch = "x86_64") => nr == libc::SYS_flock,
        Some(_) => true,
        None => false,
    }
}

/// The locker programs that must exclude each other: ours, the reference,
/// util-linux flock(1) (all flock(2) locks).
fn holders() -> Vec<(String, Vec<String>)> {
    let mut v = Vec::new();
    for p in support::tools::both("setlock") {
        v.push((p.display().to_string(), vec![]));
    }
    if Path::new("/usr/bin/flock").exists() {
        v.push((
            "/usr/bin/flock".to_string(),
            vec!["-x".to_string(), "-o".to_string()],
        ));
    }
    v
}

#[test]
fn excludes_other_lockers_and_waits_for_them() {
    let t = support::tempdir();
    let ours = support::bin("setlock");
    for (holder, hargs) in holders() {
        // The holder keeps the lock while `sleep` runs (flock(1) forks
        // for it; its process group is killed below).
        let mut args: Vec<&str> = hargs.iter().map(String::as_str).collect();
        args.extend(["lock", "sleep", "60"]);
        let mut h = support::spawn(&holder, &args, t.path(), |_| {});
        let probe = Spec::new(t.path(), &["setlock", "-nx", "lock", "echo", "free"]);
        assert!(
            support::wait_until(support::LONG, || support::tools::run(&ours, &probe)
                .out
                .is_empty()),
            "{holder} never took the lock"
        );
        for prog in support::tools::both("setlock") {
            let busy = Spec::new(t.path(), &["setlock", "-n", "lock", "echo", "got it"]);
            assert_eq!(
                support::tools::run(&prog, &busy),
                err(
                    111,
                    "setlock: fatal: unable to lock lock: temporary failure\n"
                ),
                "{} vs {holder}",
                prog.display()
            );
            let busy = Spec::new(t.path(), &["setlock", "-nx", "lock", "echo", "got it"]);
            assert_eq!(support::tools::run(&prog, &busy), quiet(0, ""));
        }
        // Without -n ours waits in flock(2) until the holder is gone.
        let out = t.path().join("waiter.out");
        let file = std::fs::File::create(&out).unwrap();
        let mut w = support::spawn(&ours, &["lock", "echo", "got it"], t.path(), |c| {
            c.stdout(file);
        });
        let wp = w.pid();
        assert!(
            support::wait_until(support::LONG, || blocked_in_flock(wp)),
            "waiter not in flock"
        );
        assert!(w.child.try_wait().unwrap().is_none());
        support::send_signal(-h.pid(), 9);
        h.wait_timeout(support::LONG).expect("holder ends");
        let st = w.wait_timeout(support::LONG).expect("waiter gets the lock");
        assert!(st.success());
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "got it\n");
    }
}

#[test]
fn nested_setlock_classic_cases() {
    let t = support::tempdir();
    for prog in support::tools::both("setlock") {
        let p = prog.to_str().unwrap();
        let inner = format!("{p} -n lock echo one && echo two");
        let r = support::tools::run(
            &prog,
            &Spec::new(t.path(), &["setlock", "lock", "sh", "-c", &inner]),
        );
        assert_eq!(
            r,
            err(
                111,
                "setlock: fatal: unable to lock lock: temporary failure\n"
            )
        );
        let inner = format!("{p} -nx lock echo one && echo two");
        let r = support::tools::run(
            &prog,
            &Spec::new(t.path(), &["setlock", "lock", "sh", "-c", &inner]),
        );
        assert_eq!(r, quiet(0, "two\n"));
    }
}

/// The lock descriptor is inherited with O_WRONLY|O_APPEND|O_NONBLOCK, and
/// the lock lasts while any descendant holds it.
#[test]
fn lock_descriptor_is_inherited_and_outlives_setlock() {
    let t = support::tempdir();
    let flags = same(
        "setlock",
        &Spec::new(
            t.path(),
            &["setlock", "lock", "grep", "^flags:", "/proc/self/fdinfo/3"],
        ),
    );
    let f = flags.out_str();
    let octal = u32::from_str_radix(f.split_whitespace().nth(1).unwrap(), 8).unwrap();
    let want = (libc::O_WRONLY | libc::O_APPEND | libc::O_NONBLOCK) as u32;
    // Without O_LARGEFILE (0100000 on x86_64, which the kernel adds).
    assert_eq!(octal & !0o100000, want, "{f}");
    assert_eq!(octal & libc::O_CLOEXEC as u32, 0);

    // A background descendant keeps the lock after setlock's program exits.
    let ours = support::bin("setlock");
    let r = support::tools::run(
        &ours,
        &Spec::new(
            t.path(),
            &[
                "setlock",
                "lock",
                "sh",
                "-c",
                "sleep 60 >/dev/null 2>&1 & echo $!",
            ],
        ),
    );
    let bg: i32 = r.out_str().trim().parse().unwrap();
    let busy = Spec::new(t.path(), &["setlock", "-n", "lock", "true"]);
    let r = support::tools::run(&ours, &busy);
    support::kill_all(&[bg]);
    assert_eq!(
        r,
        err(
            111,
            "setlock: fatal: unable to lock lock: temporary failure\n"
        )
    );
    assert!(support::wait_until(support::LONG, || !support::alive(bg)));
    assert!(support::wait_until(support::LONG, || support::tools::run(
        &ours, &busy
    ) == quiet(0, "")));
}
