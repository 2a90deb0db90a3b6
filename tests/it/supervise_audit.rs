//! Conformance audit of supervise, svc, svok and svstat against Debian's
//! daemontools 0.76: the corner cases where a reimplementation drifts
//! (option parsing, the order of start-up checks, odd file types in
//! `supervise/`, descriptor limits, closed stdio, write boundaries), each
//! side by side with the reference when it is installed and against the
//! reference's recorded answer otherwise.

use crate::support;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::svdir::{KillStatusPid, status_pid};
use crate::support::tools::{Spec, is_root, same};
use crate::support::{LONG, wait_until};

fn mode(p: &Path, m: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
}

fn mkfifo(p: &Path) {
    nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
}

/// A fresh root holding `s/run` (`exec sleep 100`), world-accessible so
/// that an unprivileged run can get in.
fn service_root() -> tempfile::TempDir {
    let t = support::tempdir();
    mode(t.path(), 0o755);
    support::script(&t.path().join("s/run"), "#!/bin/sh\nexec sleep 100\n");
    t
}

/// What a supervise run did: its exit code (None: still running after the
/// start-up, then stopped with `svc -dx`), its stderr, and the tree of
/// `s/` (type, mode, path, symlink target) it left.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    running: bool,
    code: Option<i32>,
    err: String,
    tree: Vec<String>,
}

/// The file tree under `dir` as `MODE PATH [-> TARGET]` lines, sorted.
fn tree(dir: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            // our always-on lifecycle record and its summary
            // (doc/status-json.md); the reference writes neither
            if rel.ends_with("/status.json") || rel.ends_with("/summary") {
                continue;
            }
            let ft = m.file_type();
            let line = if ft.is_symlink() {
                format!("l {rel} -> {}", fs::read_link(&p).unwrap().display())
            } else {
                use std::os::unix::fs::FileTypeExt;
                let t = if ft.is_dir() {
                    'd'
                } else if ft.is_fifo() {
                    'p'
                } else {
                    '-'
                };
                format!("{t}{:o} {rel}", m.mode() & 0o7777)
            };
            out.push(line);
            if ft.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Runs `prog` (a supervise, possibly behind `prefix` such as setuidgid or
/// softlimit) on `s` in a fresh root prepared by `setup`. A supervise that
/// is still running once the start-up is over is told `svc -dx`.
fn supervise_outcome(prog: &Path, prefix: &[&str], setup: &dyn Fn(&Path)) -> Outcome {
    let t = service_root();
    let root = t.path();
    setup(root);
    let _guard = KillStatusPid(root.join("s/supervise/status"));
    let errfile = root.join("stderr");
    let mut argv: Vec<&str> = prefix.to_vec();
    let prog_s = prog.to_str().unwrap();
    argv.push(prog_s);
    argv.push("s");
    let mut p = support::spawn(argv[0], &argv[1..], root, |c| {
        c.stdout(Stdio::null())
            .stderr(fs::File::create(&errfile).unwrap());
    });
    // Either it dies at once (a start-up error) or it comes up: svok then
    // succeeds. The reference needs ~1 s for the post-start sleep either way.
    let mut code = None;
    let status = root.join("s/supervise/status");
    let came_up = wait_until(LONG, || {
        if let Some(st) = p.child.try_wait().unwrap() {
            code = st.code();
            return true;
        }
        // (svok fails when `ok` is a directory; a started service shows)
        let started = status_pid(&status) != 0;
        started
            || support::run(support::bin("svok"), &["s"], root)
                .status
                .code()
                == Some(0)
    });
    assert!(came_up, "{prog_s}: neither exited nor came up");
    let running = code.is_none() && p.child.try_wait().unwrap().is_none();
    if running {
        // Let the start-up end (`sleep` runs, or its failure is reported,
        // or the status says the service is meant to stay down), then stop.
        let settled = || {
            let pid = status_pid(&status) as i32;
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let want_down = fs::read(&status).is_ok_and(|st| st.len() == 18 && st[17] == b'd');
            (pid != 0 && comm == "sleep\n")
                || (pid == 0 && want_down)
                || fs::metadata(&errfile).is_ok_and(|m| m.len() > 0)
        };
        assert!(
            wait_until(LONG, settled),
            "{prog_s}: the start-up never ended"
        );
        support::run(support::bin("svc"), &["-dx", "s"], root);
        code = p.wait_timeout(LONG).and_then(|st| st.code());
    } else if code.is_none() {
        code = p.wait_timeout(LONG).and_then(|st| st.code());
    }
    let mut err = fs::read_to_string(&errfile).unwrap();
    // "unable to start" repeats once a second: count-independent
    let mut lines: Vec<&str> = err.lines().collect();
    lines.dedup();
    err = lines.join("\n");
    fs::remove_file(&errfile).unwrap();
    Outcome {
        running,
        code,
        err,
        tree: tree(&root.join("s")),
    }
}

/// Checks ours against the reference's recorded behaviour (`expect_err`,
/// `expect_running`, `expect_code`) and, when installed, against the live
/// reference (everything, the resulting tree included).
fn check_startup(
    name: &str,
    prefix: &[&str],
    setup: &dyn Fn(&Path),
    expect_running: bool,
    expect_code: i32,
    expect_err: &str,
) {
    let ours = supervise_outcome(&support::bin("supervise"), prefix, setup);
    assert_eq!(ours.err, expect_err, "{name}: stderr");
    assert_eq!(ours.running, expect_running, "{name}: running");
    assert_eq!(ours.code, Some(expect_code), "{name}: exit code");
    if let Some(r) = support::reference("supervise") {
        let theirs = supervise_outcome(&r, prefix, setup);
        assert_eq!(ours, theirs, "{name}: ours vs reference");
    }
}

#[test]
fn startup_with_odd_files_matches_reference() {
    type Setup = fn(&Path);
    let cases: &[(&str, Setup, bool, i32, &str)] = &[
        (
            "down dangling symlink",
            |r| symlink("nowhere", r.join("s/down")).unwrap(),
            true,
            0,
            "",
        ),
        (
            "down directory",
            |r| fs::create_dir(r.join("s/down")).unwrap(),
            true,
            0,
            "",
        ),
        (
            "down symlink loop",
            |r| symlink("down", r.join("s/down")).unwrap(),
            false,
            111,
            "supervise: fatal: unable to stat s/down: symbolic link loop",
        ),
        (
            "supervise symlink loop",
            |r| symlink("supervise", r.join("s/supervise")).unwrap(),
            false,
            111,
            "supervise: fatal: unable to acquire s/supervise/lock: symbolic link loop",
        ),
        (
            "supervise symlink to a missing parent",
            |r| symlink("a/b/c", r.join("s/supervise")).unwrap(),
            false,
            111,
            "supervise: fatal: unable to acquire s/supervise/lock: file does not exist",
        ),
        (
            "supervise symlink text of 256 bytes",
            |r| symlink("x".repeat(256), r.join("s/supervise")).unwrap(),
            false,
            111,
            "unable to readlink ./supervise: unknown error",
        ),
        (
            "supervise symlink text of 255 bytes",
            |r| symlink("x".repeat(255), r.join("s/supervise")).unwrap(),
            true,
            0,
            "",
        ),
        (
            "lock is a directory",
            |r| fs::create_dir_all(r.join("s/supervise/lock")).unwrap(),
            false,
            111,
            "supervise: fatal: unable to acquire s/supervise/lock: is a directory",
        ),
        (
            "control is a symlink loop",
            |r| {
                fs::create_dir(r.join("s/supervise")).unwrap();
                symlink("control", r.join("s/supervise/control")).unwrap();
            },
            false,
            111,
            "supervise: fatal: unable to read s/supervise/control: symbolic link loop",
        ),
        (
            // read commands from it: svc -dx lands in the file
            "control is a regular file",
            |r| {
                fs::create_dir(r.join("s/supervise")).unwrap();
                fs::write(r.join("s/supervise/control"), "").unwrap();
            },
            true,
            0,
            "",
        ),
        (
            "ok is a directory",
            |r| fs::create_dir_all(r.join("s/supervise/ok")).unwrap(),
            true,
            0,
            "",
        ),
        (
            "ok is a symlink loop",
            |r| {
                fs::create_dir(r.join("s/supervise")).unwrap();
                symlink("ok", r.join("s/supervise/ok")).unwrap();
            },
            false,
            111,
            "supervise: fatal: unable to read s/supervise/ok: symbolic link loop",
        ),
        (
            "run is a directory",
            |r| {
                fs::remove_file(r.join("s/run")).unwrap();
                fs::create_dir(r.join("s/run")).unwrap();
            },
            true,
            0,
            "supervise: fatal: unable to start s/run: access denied",
        ),
        (
            "run without #!",
            |r| support::script(&r.join("s/run"), "echo hi\n"),
            true,
            0,
            "supervise: fatal: unable to start s/run: exec format error",
        ),
    ];
    for (name, setup, running, code, err) in cases {
        check_startup(name, &[], setup, *running, *code, err);
    }
}

#[test]
fn startup_at_the_descriptor_limit_matches_reference() {
    // 0-2 are open; the self-pipe takes 3 and 4, the lock 5, control 6
    // and 7, status.new 8, ok 8. (fds 3-9 that the test harness may pass
    // down are closed first.)
    let softlimit = support::bin("softlimit");
    let sl = softlimit.to_str().unwrap();
    let close = "exec 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-; exec \"$@\"";
    let cases: &[(&str, &str)] = &[
        (
            "6",
            "supervise: fatal: unable to read s/supervise/control: process cannot open more files",
        ),
        (
            "7",
            "supervise: fatal: unable to write s/supervise/control: process cannot open more files",
        ),
        (
            "8",
            "supervise: warning: unable to open s/supervise/status.new: process cannot open more files\n\
             supervise: fatal: unable to read s/supervise/ok: process cannot open more files",
        ),
    ];
    for (n, err) in cases {
        check_startup(
            &format!("{n} descriptors"),
            &["/bin/sh", "-c", close, "sh", sl, "-o", n],
            &|_| {},
            false,
            111,
            err,
        );
    }
}

#[test]
fn unprivileged_startup_matches_reference() {
    if !is_root() {
        return support::skip("needs root to run supervise as nobody");
    }
    let setuidgid = support::bin("setuidgid");
    let prefix = [setuidgid.to_str().unwrap(), "nobody"];
    type Setup = fn(&Path);
    let cases: &[(&str, Setup, bool, i32, &str)] = &[
        (
            "service dir closed",
            |r| mode(&r.join("s"), 0o700),
            false,
            111,
            "supervise: fatal: unable to chdir to s: access denied",
        ),
        (
            // mkdir fails (EACCES), readlink finds nothing, the open of
            // the lock then sees no directory
            "service dir search-only",
            |r| mode(&r.join("s"), 0o111),
            false,
            111,
            "supervise: fatal: unable to acquire s/supervise/lock: file does not exist",
        ),
        (
            "supervise dir closed",
            |r| {
                fs::create_dir(r.join("s/supervise")).unwrap();
                mode(&r.join("s/supervise"), 0o700);
            },
            false,
            111,
            "supervise: fatal: unable to acquire s/supervise/lock: access denied",
        ),
        (
            "run not executable",
            |r| {
                mode(&r.join("s"), 0o777);
                mode(&r.join("s/run"), 0o644);
            },
            true,
            0,
            "supervise: fatal: unable to start s/run: access denied",
        ),
    ];
    for (name, setup, running, code, err) in cases {
        check_startup(name, &prefix, setup, *running, *code, err);
    }
}

/// Descriptor table of a process as `FD TARGET FLAGS` lines, targets
/// relative to `root`, pipe inode numbers blanked.
fn fd_table(pid: i32, root: &Path) -> Vec<String> {
    let mut v = Vec::new();
    for e in fs::read_dir(format!("/proc/{pid}/fd")).unwrap() {
        let fd = e.unwrap().file_name().into_string().unwrap();
        let Ok(target) = fs::read_link(format!("/proc/{pid}/fd/{fd}")) else {
            continue;
        };
        let mut target = target.display().to_string();
        if let Some(rel) = target.strip_prefix(&root.display().to_string()) {
            target = rel.to_string();
        }
        if target.starts_with("pipe:") {
            target = "pipe".to_string();
        }
        let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap_or_default();
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .unwrap_or("")
            .trim()
            .to_string();
        v.push(format!("{fd} {target} {flags}"));
    }
    v.sort();
    v
}

/// Starts `prog s` from a shell with fds 0, 1 and 2 closed; returns the
/// descriptor tables of supervise and of the service.
fn closed_stdio_fds(prog: &Path) -> (Vec<String>, Vec<String>) {
    let t = service_root();
    let root = t.path();
    let _guard = KillStatusPid(root.join("s/supervise/status"));
    let cmd = format!(
        "exec 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-; exec {} s <&- >&- 2>&-",
        prog.display()
    );
    let p = support::spawn("/bin/sh", &["-c", &cmd], root, |c| {
        c.stdout(Stdio::null()).stderr(Stdio::null());
    });
    let status = root.join("s/supervise/status");
    let pid = || status_pid(&status);
    assert!(wait_until(LONG, || pid() != 0));
    let svc_pid = pid() as i32;
    assert!(wait_until(LONG, || {
        fs::read_to_string(format!("/proc/{svc_pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
    }));
    // no file of supervise's open for writing in the table
    crate::support::svdir::wait_state_written(&root.join("s/supervise"));
    let tables = (fd_table(p.pid(), root), fd_table(svc_pid, root));
    support::run(support::bin("svc"), &["-dx", "s"], root);
    let mut p = p;
    assert!(p.wait_timeout(LONG).is_some());
    tables
}

#[test]
fn closed_stdio_gives_the_reference_descriptor_layout() {
    let (sup, service) = closed_stdio_fds(&support::bin("supervise"));
    // the self-pipe lands on 0 and 1, the lock on 2; all close-on-exec
    for want in [
        "0 pipe 02004000",
        "1 pipe 02004001",
        "2 /s/supervise/lock 02106001",
        "3 /s/supervise/control 02104000",
        "4 /s/supervise/control 02104001",
        "5 /s/supervise/ok 02104000",
    ] {
        assert!(sup.iter().any(|l| l == want), "{want} not in {sup:?}");
    }
    assert!(
        !service
            .iter()
            .any(|l| l.split(' ').next().unwrap().parse::<u32>().unwrap() < 10),
        "service inherited supervise's fds: {service:?}"
    );
    if let Some(r) = support::reference("supervise") {
        assert_eq!((sup, service), closed_stdio_fds(&r));
    }
}

/// A root with `s/supervise/control` a fifo that a returned reader holds
/// open (so svc can write to it), and `nosup/` without supervise.
fn fifo_root() -> (tempfile::TempDir, fs::File) {
    let t = support::tempdir();
    let root = t.path();
    fs::create_dir_all(root.join("s/supervise")).unwrap();
    fs::create_dir_all(root.join("nosup")).unwrap();
    let fifo = root.join("s/supervise/control");
    mkfifo(&fifo);
    let reader = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .unwrap();
    nix::fcntl::fcntl(
        &reader,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    (t, reader)
}

fn drain(reader: &mut fs::File) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while let Ok(n) = reader.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    got
}

#[test]
fn svc_argument_starting_with_double_dash_ends_options() {
    // sgetopt only looks at the second byte: `--foo` is consumed like `--`
    let (t, mut reader) = fifo_root();
    let root = t.path();
    let r = same("svc", &Spec::new(root, &["svc", "-u", "--foo", "-d", "s"]));
    assert_eq!(r.code, Some(0));
    assert_eq!(
        r.err_str(),
        "svc: warning: unable to chdir to -d: file does not exist\n"
    );
    let got = drain(&mut reader);
    assert!(got == b"u" || got == b"uu", "{got:?}");
    // a `-` inside a group is still an unknown letter (the usage line
    // that follows is the sigq12 one: a documented difference)
    for p in support::tools::both("svc") {
        let r = support::tools::run(&p, &Spec::new(root, &["svc", "-u-d", "s"]));
        assert_eq!(r.code, Some(100));
        assert!(
            r.err_str()
                .starts_with("svc: illegal option -- -\nsvc options: ")
        );
        assert!(drain(&mut reader).is_empty());
    }
    // svstat has no options at all: `--foo` is a directory
    let r = same("svstat", &Spec::new(root, &["svstat", "--foo"]));
    assert_eq!(r.out_str(), "--foo: unable to chdir: file does not exist\n");
}

#[test]
fn svc_with_no_options_writes_nothing() {
    // supervise/control -> /dev/full: any write(2) fails with ENOSPC, so
    // only a real write shows up as a warning
    let t = support::tempdir();
    let root = t.path();
    fs::create_dir_all(root.join("full/supervise")).unwrap();
    symlink("/dev/full", root.join("full/supervise/control")).unwrap();
    let r = same("svc", &Spec::new(root, &["svc", "full", "full"]));
    assert_eq!((r.code, r.err_str().as_str()), (Some(0), ""));
    let r = same("svc", &Spec::new(root, &["svc", "-u", "full"]));
    assert_eq!(
        (r.code, r.err_str().as_str()),
        (
            Some(0),
            "svc: warning: error writing commands to full: out of disk space\n"
        )
    );
}

#[test]
fn svc_and_svstat_open_the_current_directory_even_without_dirs() {
    // An unreadable working directory fails before any DIR is looked at,
    // so also when there is none. Unprivileged: root reads anything.
    let t = support::tempdir();
    let cwd = t.path().join("closed");
    fs::create_dir(&cwd).unwrap();
    mode(t.path(), 0o755);
    mode(&cwd, 0o311);
    let setuidgid = support::bin("setuidgid");
    for prog in ["svc", "svstat"] {
        for args in [&[][..], &["-u"][..], &["/"][..]] {
            let mut progs = vec![support::bin(prog)];
            progs.extend(support::reference(prog));
            for p in progs {
                let mut argv: Vec<&str> = Vec::new();
                if is_root() {
                    argv.extend([setuidgid.to_str().unwrap(), "nobody"]);
                }
                argv.push(p.to_str().unwrap());
                argv.extend(args);
                let out = Command::new(argv[0])
                    .args(&argv[1..])
                    .current_dir(&cwd)
                    .stdin(Stdio::null())
                    .output()
                    .unwrap();
                assert_eq!(out.status.code(), Some(111), "{argv:?}");
                assert_eq!(
                    String::from_utf8_lossy(&out.stderr),
                    format!("{prog}: fatal: unable to open current directory: access denied\n"),
                    "{argv:?}"
                );
                assert!(out.stdout.is_empty());
            }
        }
    }
}

/// Runs svstat with stdout on a packet-mode pipe (O_DIRECT): each read
/// returns what one write(2) wrote (split at 4096 bytes), so the sizes
/// show where the output buffer was flushed.
fn svstat_writes(prog: &Path, root: &Path, args: &[&str]) -> (Vec<usize>, Vec<u8>) {
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_DIRECT | nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let mut p = support::spawn(prog, args, root, |c| {
        c.stdout(Stdio::from(w)).stderr(Stdio::null());
    });
    // keep the whole output under the pipe's capacity; read after exit
    let st = p.wait_timeout(LONG).expect("svstat did not finish");
    assert_eq!(st.code(), Some(0));
    drop(p);
    nix::fcntl::fcntl(
        &r,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    let mut sizes = Vec::new();
    let mut bytes = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = nix::unistd::read(&r, &mut buf) {
        if n == 0 {
            break;
        }
        sizes.push(n);
        bytes.extend_from_slice(&buf[..n]);
    }
    (sizes, bytes)
}

#[test]
fn svstat_flushes_its_buffer_where_0_76_does() {
    let t = support::tempdir();
    let root = t.path();
    fs::create_dir_all(root.join("nosup")).unwrap();
    let exactly = "a".repeat(1024);
    let long = "b".repeat(9000);
    let mut args: Vec<String> = vec!["nosup".into(), exactly.clone(), "nosup".into()];
    args.push(long.clone());
    for i in 0..40 {
        args.push(format!("missing-{i}"));
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (sizes, bytes) = svstat_writes(&support::bin("svstat"), root, &argv);
    let mut expect = String::new();
    for a in &args {
        let text = match a.as_str() {
            "nosup" => "unable to open supervise/ok: file does not exist",
            a if a.len() > 255 => "unable to chdir: file name too long",
            _ => "unable to chdir: file does not exist",
        };
        expect.push_str(&format!("{a}: {text}\n"));
    }
    assert_eq!(String::from_utf8(bytes).unwrap(), expect);
    // Line 1 is flushed when the 1024-byte name does not fit; that name
    // fills the buffer exactly and goes out when ": " does not fit; the
    // 9000-byte name flushes lines 2-3, goes out as 8192 bytes (two
    // packets) and its last 808 bytes stay buffered.
    let nosup = "nosup: unable to open supervise/ok: file does not exist\n".len();
    let toolong = ": unable to chdir: file name too long\n".len();
    assert_eq!(
        sizes[..5],
        [nosup, 1024, toolong + nosup, 4096, 4096],
        "{sizes:?}"
    );
    if let Some(r) = support::reference("svstat") {
        let (rsizes, _) = svstat_writes(&r, root, &argv);
        assert_eq!(sizes, rsizes);
    }
}

#[test]
fn supervise_exits_without_unlocking_first() {
    // 0.76 ends with _exit(0): no flock(LOCK_UN), no close calls; the
    // kernel releases everything at once.
    if !Path::new("/usr/bin/strace").exists() {
        return support::skip("strace not installed");
    }
    let t = service_root();
    let root = t.path();
    fs::write(root.join("s/down"), "").unwrap();
    let trace = root.join("trace");
    let sup = support::bin("supervise");
    let mut p = support::spawn(
        "/usr/bin/strace",
        &[
            "-o",
            trace.to_str().unwrap(),
            "-e",
            "trace=flock,close,exit_group",
            sup.to_str().unwrap(),
            "s",
        ],
        root,
        |c| {
            c.stdout(Stdio::null()).stderr(Stdio::null());
        },
    );
    let mut early = None;
    assert!(wait_until(LONG, || {
        early = p.child.try_wait().unwrap();
        early.is_some()
            || support::run(support::bin("svok"), &["s"], root)
                .status
                .code()
                == Some(0)
    }));
    if early.is_some() {
        return support::skip("strace cannot trace here");
    }
    support::run(support::bin("svc"), &["-x", "s"], root);
    let st = p.wait_timeout(LONG).expect("supervise did not exit");
    assert_eq!(st.code(), Some(0));
    let text = fs::read_to_string(&trace).unwrap();
    let calls: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("+++"))
        .map(|l| l.split('(').next().unwrap())
        .collect();
    // one flock (the lock at start-up); the only closes are those of
    // status.new (fd 8, then 9 once ok holds 8): self-pipe 3/4, lock 5,
    // control 6/7 stay open until the exit
    assert_eq!(calls.iter().filter(|c| **c == "flock").count(), 1, "{text}");
    assert_eq!(calls.last(), Some(&"exit_group"), "{text}");
    for fd in 3..=7 {
        let line = format!("close({fd})");
        assert!(!text.lines().any(|l| l.starts_with(&line)), "{text}");
    }
}
