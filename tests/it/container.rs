//! svscan as the init of a container: each test runs our svscan as PID 1
//! of a new PID namespace (`unshare --pid --fork --mount-proc`, with
//! `--kill-child` so that ending unshare by PID ends the whole namespace),
//! the way `docker run` would. Skips with a message where unshare is
//! refused (fails under CI).

use crate::support;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::support::{LONG, Proc, wait_until};

/// Whether this machine lets us make a PID namespace.
fn unshare_works() -> bool {
    std::process::Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

macro_rules! need_unshare {
    () => {
        if !unshare_works() {
            support::missing("unshare --pid (PID namespaces) is refused here");
            return;
        }
    };
}

/// A container: a scan directory and our svscan as PID 1 of a new PID
/// namespace, its stdout and stderr in `root/out`.
struct Container {
    tmp: tempfile::TempDir,
    dir: PathBuf,
    unshare: Option<Proc>,
}

impl Container {
    fn new() -> Container {
        let tmp = support::tempdir();
        let dir = tmp.path().join("service");
        fs::create_dir(&dir).unwrap();
        Container {
            tmp,
            dir,
            unshare: None,
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    fn start(&mut self, env: &[(&str, &str)]) {
        let out = fs::File::create(self.tmp.path().join("out")).unwrap();
        let err = out.try_clone().unwrap();
        let svscan = support::bin("svscan");
        let p = support::spawn(
            "unshare",
            &[
                "--pid",
                "--fork",
                "--mount-proc",
                "--kill-child",
                svscan.to_str().unwrap(),
                self.dir.to_str().unwrap(),
            ],
            self.tmp.path(),
            |c| {
                c.stdout(Stdio::from(out)).stderr(Stdio::from(err));
                c.envs(env.iter().copied());
            },
        );
        self.unshare = Some(p);
    }

    /// svscan's pid as seen from here (the child of unshare).
    fn svscan(&self) -> i32 {
        let u = self.unshare.as_ref().unwrap().pid();
        let mut pid = 0;
        assert!(
            wait_until(LONG, || {
                pid = support::procs_with(1, u).first().copied().unwrap_or(0);
                pid != 0
            }),
            "no svscan under unshare"
        );
        pid
    }

    fn signal(&self, sig: i32) {
        support::send_signal(self.svscan(), sig);
    }

    /// Waits for the container to end; its exit code.
    fn exit_code(&mut self, limit: Duration) -> Option<i32> {
        let st = self.unshare.as_mut().unwrap().wait_timeout(limit)?;
        st.code()
    }

    fn output(&self) -> String {
        fs::read_to_string(self.tmp.path().join("out")).unwrap_or_default()
    }

    fn svok(&self, name: &str) -> bool {
        support::run(support::bin("svok"), &[name], &self.dir)
            .status
            .code()
            == Some(0)
    }
}

/// Numbered lines as fast as the shell can write them.
fn producer(name: &str) -> String {
    format!("#!/bin/sh\nexec 2>&1\ni=0\nwhile :; do i=$((i+1)); echo \"{name} $i\"; done\n")
}

const MULTILOG: &str = "#!/bin/sh\nexec multilog s16777215 n100 ./main\n";

/// All lines of a multilog directory, oldest file first.
fn logged(dir: &Path) -> Vec<String> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| {
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        n.starts_with('@') || n == "current"
    });
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

/// `docker stop`: SIGTERM to PID 1. Every number each producer wrote is
/// in its log exactly once, svscan exits 0, and nothing of the tree is
/// left (the namespace is gone once PID 1 exits, so the stop must have
/// been complete before: the logs prove it).
#[test]
fn sigterm_stops_the_container_losing_no_line() {
    need_unshare!();
    let mut c = Container::new();
    for n in 0..3 {
        let name = format!("p{n}");
        support::script(&c.path(&format!("{name}/run")), &producer(&name));
        support::script(&c.path(&format!("{name}/log/run")), MULTILOG);
    }
    c.start(&[]);
    for n in 0..3 {
        let cur = c.path(&format!("p{n}/log/main/current"));
        assert!(
            wait_until(LONG, || fs::metadata(&cur).is_ok_and(|m| m.len() > 10_000)),
            "p{n} logs nothing: {}",
            c.output()
        );
    }
    c.signal(libc::SIGTERM);
    let code = c.exit_code(Duration::from_secs(60));
    assert_eq!(code, Some(0), "svscan output: {}", c.output());
    for n in 0..3 {
        let lines = logged(&c.path(&format!("p{n}/log/main")));
        assert!(lines.len() > 100, "p{n}: only {} lines", lines.len());
        for (i, l) in lines.iter().enumerate() {
            assert_eq!(l, &format!("p{n} {}", i + 1), "p{n}: line {}", i + 1);
        }
        // multilog exited through its normal end: current is complete
        let mode = fs::metadata(c.path(&format!("p{n}/log/main/current")))
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()))
            .unwrap();
        assert_eq!(mode & 0o100, 0o100, "p{n}: current not marked complete");
    }
}

/// Ctrl-C under `docker run -it` is SIGINT: the same stop.
#[test]
fn sigint_stops_the_container() {
    need_unshare!();
    let mut c = Container::new();
    support::script(&c.path("s/run"), "#!/bin/sh\nexec sleep 100000\n");
    c.start(&[]);
    assert!(wait_until(LONG, || c.svok("s")));
    c.signal(libc::SIGINT);
    assert_eq!(c.exit_code(LONG), Some(0), "{}", c.output());
}

/// A second SIGTERM during the stop cuts the grace period short: a
/// service that ignores TERM is killed at once instead of after the
/// (here very long) timeout.
#[test]
fn second_sigterm_shortens_the_grace_period() {
    need_unshare!();
    let mut c = Container::new();
    support::script(
        &c.path("stubborn/run"),
        "#!/bin/sh\ntrap '' TERM\necho started > started\nwhile :; do sleep 1; done\n",
    );
    c.start(&[("SVSCAN_SHUTDOWN_TIMEOUT", "100000")]);
    assert!(wait_until(LONG, || c.path("stubborn/started").exists()));
    c.signal(libc::SIGTERM);
    // the stop has begun once supervise is told to exit: wait for its
    // status to say "want down" (byte 17), then hurry it
    let status = c.path("stubborn/supervise/status");
    assert!(wait_until(LONG, || fs::read(&status)
        .is_ok_and(|b| b.len() >= 18 && b[17] == b'd')));
    c.signal(libc::SIGTERM);
    assert_eq!(
        c.exit_code(Duration::from_secs(60)),
        Some(0),
        "{}",
        c.output()
    );
}

/// A failing `.svscan/start` stops the container with its exit code,
/// before any service starts; `.svscan/finish` still runs.
#[test]
fn failing_start_step_stops_the_container_with_its_code() {
    need_unshare!();
    let mut c = Container::new();
    support::script(
        &c.path(".svscan/start"),
        "#!/bin/sh\necho start ran\nexit 42\n",
    );
    support::script(
        &c.path(".svscan/finish"),
        "#!/bin/sh\necho finish ran > .svscan/finished\n",
    );
    support::script(
        &c.path("s/run"),
        "#!/bin/sh\necho x > ran\nexec sleep 100000\n",
    );
    c.start(&[]);
    assert_eq!(c.exit_code(LONG), Some(42), "{}", c.output());
    assert!(c.output().contains("start ran"));
    assert!(!c.path("s/ran").exists(), "a service started");
    assert!(c.path(".svscan/finished").exists());
}

/// A successful `.svscan/start` runs before the first scan: the service
/// sees what it made.
#[test]
fn start_step_runs_before_the_services() {
    need_unshare!();
    let mut c = Container::new();
    support::script(&c.path(".svscan/start"), "#!/bin/sh\necho ok > prepared\n");
    support::script(
        &c.path("s/run"),
        "#!/bin/sh\ncat ../prepared > saw 2>&1\nexec sleep 100000\n",
    );
    c.start(&[]);
    let saw = c.path("s/saw");
    assert!(wait_until(LONG, || fs::read_to_string(&saw).is_ok_and(|s| s == "ok\n")));
    c.signal(libc::SIGTERM);
    assert_eq!(c.exit_code(LONG), Some(0), "{}", c.output());
}

/// Orphans reparented to PID 1 are reaped when they exit: a service leaves
/// an orphan behind (a background subshell of a shell that exits), the
/// orphan is seen as svscan's child, and once it exits it is gone from the
/// process table, not a zombie. (An idle tree has no periodic timer, so
/// only reaping on SIGCHLD can remove it.)
#[test]
fn orphans_are_reaped_at_once() {
    need_unshare!();
    let mut c = Container::new();
    support::script(
        &c.path("s/run"),
        "#!/bin/sh\nsh -c '(while [ ! -e release ]; do sleep 0.05; done) &'\nexec sleep 100000\n",
    );
    c.start(&[]);
    let svscan = c.svscan();
    // svscan's children: its supervise processes and the orphan
    let mut orphan = 0;
    assert!(
        wait_until(LONG, || {
            orphan = support::procs_with(1, svscan)
                .into_iter()
                .find(|&p| {
                    fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "sh")
                })
                .unwrap_or(0);
            orphan != 0
        }),
        "no orphan reparented to svscan: {}",
        c.output()
    );
    fs::write(c.path("s/release"), "").unwrap();
    assert!(
        wait_until(LONG, || !Path::new(&format!("/proc/{orphan}")).exists()),
        "orphan {orphan} not reaped: {:?}",
        support::stat_fields(orphan)
    );
    c.signal(libc::SIGTERM);
    assert_eq!(c.exit_code(LONG), Some(0), "{}", c.output());
}

/// A process that left the tree (double fork and setsid, so no supervise
/// knows it) is ended too: after the stop, nothing but PID 1 is left, and
/// `.svscan/finish` runs after the tree is down.
#[test]
fn strays_are_ended_and_finish_runs_last() {
    need_unshare!();
    let mut c = Container::new();
    support::script(
        &c.path("s/run"),
        "#!/bin/sh\nsetsid sh -c 'trap \"\" TERM; echo $$ > stray; exec sleep 100000' &\nexec sleep 100000\n",
    );
    support::script(
        &c.path(".svscan/finish"),
        "#!/bin/sh\nls /proc | grep -c '^[0-9]' > .svscan/procs\n",
    );
    c.start(&[]);
    assert!(wait_until(LONG, || c.path("s/stray").exists()));
    c.signal(libc::SIGTERM);
    assert_eq!(
        c.exit_code(Duration::from_secs(60)),
        Some(0),
        "{}",
        c.output()
    );
    // finish saw itself, its ls/grep and PID 1 only (no stray, no service)
    let procs: usize = fs::read_to_string(c.path(".svscan/procs"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(procs <= 4, "{procs} processes left when finish ran");
}

/// `SVSCAN_INIT=0.76` keeps 0.76's behaviour as PID 1: SIGTERM is ignored.
#[test]
fn svscan_init_0_76_ignores_sigterm() {
    need_unshare!();
    let mut c = Container::new();
    support::script(&c.path("s/run"), "#!/bin/sh\nexec sleep 100000\n");
    c.start(&[("SVSCAN_INIT", "0.76")]);
    assert!(wait_until(LONG, || c.svok("s")));
    let pid = c.svscan();
    c.signal(libc::SIGTERM);
    // svscan goes on scanning: a new service is still picked up after it
    let staging = c.tmp.path().join("staging/t");
    support::script(&staging.join("run"), "#!/bin/sh\nexec sleep 100000\n");
    fs::rename(&staging, c.path("t")).unwrap();
    assert!(wait_until(LONG, || c.svok("t")), "{}", c.output());
    assert!(support::alive(pid));
}

/// A main service (`.svscan/main`) that fails for good — its `./finish`
/// exits 125 — ends the container with its exit code, after a lossless
/// stop of the rest of the tree.
#[test]
fn main_service_exit_code_becomes_the_containers() {
    need_unshare!();
    let mut c = Container::new();
    // exits 3 the second time, then finish says "for good"
    support::script(
        &c.path("app/run"),
        "#!/bin/sh\nif [ -e ran ]; then exit 3; fi\ntouch ran\nexit 0\n",
    );
    support::script(
        &c.path("app/finish"),
        "#!/bin/sh\nif [ \"$1\" = 3 ]; then exit 125; fi\nexit 0\n",
    );
    support::script(&c.path("other/run"), &producer("other"));
    support::script(&c.path("other/log/run"), MULTILOG);
    fs::create_dir_all(c.path(".svscan")).unwrap();
    std::os::unix::fs::symlink("../app", c.path(".svscan/main")).unwrap();
    c.start(&[]);
    assert_eq!(
        c.exit_code(Duration::from_secs(60)),
        Some(3),
        "{}",
        c.output()
    );
    let lines = logged(&c.path("other/log/main"));
    assert!(!lines.is_empty(), "other logged nothing");
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l, &format!("other {}", i + 1));
    }
}

/// `svc -d` on the main service ends the container with its last exit:
/// killed by SIGTERM, 128 + 15.
#[test]
fn main_service_brought_down_gives_128_plus_signal() {
    need_unshare!();
    let mut c = Container::new();
    support::script(&c.path("app/run"), "#!/bin/sh\nexec sleep 100000\n");
    fs::create_dir_all(c.path(".svscan")).unwrap();
    std::os::unix::fs::symlink("../app", c.path(".svscan/main")).unwrap();
    c.start(&[]);
    assert!(wait_until(LONG, || c.svok("app")));
    let svc = support::run(support::bin("svc"), &["-d", "app"], &c.dir);
    assert!(svc.status.success());
    assert_eq!(
        c.exit_code(Duration::from_secs(60)),
        Some(143),
        "{}",
        c.output()
    );
}

/// With `SVSCAN_MAIN_EXIT=any`, the first exit of the main service ends
/// the container with its code, although supervise would restart it.
#[test]
fn any_exit_of_the_main_service_ends_the_container() {
    need_unshare!();
    let mut c = Container::new();
    support::script(&c.path("app/run"), "#!/bin/sh\nexit 7\n");
    fs::create_dir_all(c.path(".svscan")).unwrap();
    std::os::unix::fs::symlink("../app", c.path(".svscan/main")).unwrap();
    c.start(&[("SVSCAN_MAIN_EXIT", "any")]);
    assert_eq!(
        c.exit_code(Duration::from_secs(60)),
        Some(7),
        "{}",
        c.output()
    );
}

/// SIGTERM while the main service crash-loops: the container exits with
/// the main service's failure, not 0.
#[test]
fn stop_while_the_main_service_is_failing_reports_it() {
    need_unshare!();
    let mut c = Container::new();
    support::script(&c.path("app/run"), "#!/bin/sh\nexit 9\n");
    support::script(&c.path("app/backoff"), "60\n");
    fs::create_dir_all(c.path(".svscan")).unwrap();
    std::os::unix::fs::symlink("../app", c.path(".svscan/main")).unwrap();
    c.start(&[]);
    // wait until it has exited at least once (the record says so)
    let rec = c.path("app/supervise/status.json");
    assert!(wait_until(LONG, || fs::read_to_string(&rec)
        .is_ok_and(|s| s.contains("\"code\":9"))));
    c.signal(libc::SIGTERM);
    assert_eq!(
        c.exit_code(Duration::from_secs(60)),
        Some(9),
        "{}",
        c.output()
    );
}

/// Where `tool` is in this process's PATH (the container's environment
/// has another PATH).
fn host_tool(tool: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{tool} not found in PATH"))
}

/// buildah with its own storage under `root` (vfs: no overlay mounts
/// needed; nothing of the host's image store is touched).
fn buildah(root: &Path, args: &[&str]) -> std::process::Output {
    let storage = root.join("storage");
    let runroot = root.join("runroot");
    let o = std::process::Command::new("buildah")
        .arg("--root")
        .arg(&storage)
        .arg("--runroot")
        .arg(&runroot)
        .args(["--storage-driver", "vfs"])
        .args(args)
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "buildah {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// Removes what a test made in its private buildah storage, even when the
/// test fails (the storage itself is in a temporary directory).
struct ImageCleanup<'a> {
    root: &'a Path,
    container: Option<String>,
}

impl Drop for ImageCleanup<'_> {
    fn drop(&mut self) {
        if let Some(c) = &self.container {
            for args in [vec!["umount", c.as_str()], vec!["rm", c.as_str()]] {
                let _ = std::process::Command::new("buildah")
                    .arg("--root")
                    .arg(self.root.join("storage"))
                    .arg("--runroot")
                    .arg(self.root.join("runroot"))
                    .args(["--storage-driver", "vfs"])
                    .args(&args)
                    .output();
            }
        }
    }
}

/// The image of contrib/container, built offline from its Dockerfile with
/// buildah (from this build's programs, laid out as the Dockerfile expects
/// them), then run as a container runtime runs it: its ENTRYPOINT and ENV,
/// svscan as PID 1 of a new PID namespace, chrooted into the image. The
/// pod's readiness probe (`svwait -U`) and liveness probe (`svok`) answer
/// inside it, the example service logs, and SIGTERM (docker stop) ends the
/// container with exit code 0 and the log intact.
#[test]
fn scratch_image_builds_and_runs() {
    need_unshare!();
    if !support::have("buildah") {
        return support::missing("buildah (Debian package buildah)");
    }
    let top = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = support::tempdir();
    let root = tmp.path();
    // The build context: target/release/... as the Dockerfile names it.
    let ctx = root.join("ctx");
    let dockerfile = fs::read_to_string(top.join("contrib/container/Dockerfile")).unwrap();
    let wanted: Vec<&str> = dockerfile
        .split_whitespace()
        .filter(|w| w.starts_with("target/release/"))
        .collect();
    assert!(wanted.len() >= 10, "{wanted:?}");
    for w in &wanted {
        let rel = w.trim_start_matches("target/release/");
        let from = support::bin_dir().join(rel);
        let to = ctx.join(w);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(&from, &to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    }
    let cp = std::process::Command::new("cp")
        .arg("-a")
        .arg(top.join("contrib"))
        .arg(&ctx)
        .status()
        .unwrap();
    assert!(cp.success());
    buildah(
        root,
        &[
            "build",
            "--isolation",
            "chroot",
            "-q",
            "-f",
            ctx.join("contrib/container/Dockerfile").to_str().unwrap(),
            "-t",
            "localhost/daemontools-rs-test",
            ctx.to_str().unwrap(),
        ],
    );
    // What a runtime takes from the image: the entrypoint and environment.
    let inspect = buildah(
        root,
        &[
            "inspect",
            "--type",
            "image",
            "localhost/daemontools-rs-test",
        ],
    );
    let cfg: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    let cfg = &cfg["OCIv1"]["config"];
    let entrypoint: Vec<String> = cfg["Entrypoint"]
        .as_array()
        .expect("an ENTRYPOINT")
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(entrypoint, ["/bin/svscan", "/service"]);
    let env: Vec<(String, String)> = cfg["Env"]
        .as_array()
        .expect("ENV")
        .iter()
        .filter_map(|v| {
            let (k, v) = v.as_str()?.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect();
    assert!(
        env.iter()
            .any(|(k, v)| k == "SUPERVISEDIR" && v == "/run/supervise")
    );
    let mut cleanup = ImageCleanup {
        root,
        container: None,
    };
    let name =
        String::from_utf8(buildah(root, &["from", "-q", "localhost/daemontools-rs-test"]).stdout)
            .unwrap()
            .trim()
            .to_string();
    cleanup.container = Some(name.clone());
    let mnt = String::from_utf8(buildah(root, &["mount", &name]).stdout)
        .unwrap()
        .trim()
        .to_string();
    let mnt = PathBuf::from(mnt);
    // The runtime's mounts: /proc, and a writable /run (an emptyDir).
    fs::create_dir_all(mnt.join("proc")).unwrap();
    fs::create_dir_all(mnt.join("run")).unwrap();
    let chroot = host_tool("chroot");
    // A program of the image run in it (an exec probe): its exit code and
    // what it said.
    let probe = |prog: &str, args: &[&str]| -> (Option<i32>, String) {
        let o = std::process::Command::new(&chroot)
            .arg(&mnt)
            .arg(prog)
            .args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
        )
    };
    let in_image = |prog: &str, args: &[&str]| probe(prog, args).0;
    let out = fs::File::create(root.join("out")).unwrap();
    let err = out.try_clone().unwrap();
    let mount_proc = format!("--mount-proc={}", mnt.join("proc").display());
    let mut args = vec![
        "--pid",
        "--fork",
        mount_proc.as_str(),
        "--kill-child",
        chroot.to_str().unwrap(),
        mnt.to_str().unwrap(),
    ];
    args.extend(entrypoint.iter().map(String::as_str));
    let mut unshare = support::spawn(host_tool("unshare"), &args, root, |c| {
        c.env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
    });
    let said = || fs::read_to_string(root.join("out")).unwrap_or_default();
    // The probes of contrib/container/pod.yaml, inside the image.
    assert!(
        wait_until(LONG, || in_image(
            "/bin/svwait",
            &["-U", "-t", "1000", "/service/hello"]
        ) == Some(0)),
        "readiness probe never passed: {}",
        said()
    );
    // The liveness probe. svscan starts the log's supervise alongside the
    // service's, but the service can be ready first: like the probe
    // (failureThreshold 3), allow for that.
    for dir in ["/service/hello", "/service/hello/log"] {
        let mut last = (None, String::new());
        assert!(
            wait_until(LONG, || {
                last = probe("/bin/svok", &[dir]);
                last.0 == Some(0)
            }),
            "svok {dir}: {:?} {}\nsvscan: {}",
            last.0,
            last.1,
            said()
        );
    }
    // supervise's state is under /run, not in the (read-only) tree
    assert!(!mnt.join("service/hello/supervise").exists());
    assert!(mnt.join("run/supervise").is_dir());
    let current = mnt.join("service/hello/log/main/current");
    assert!(
        wait_until(LONG, || fs::read_to_string(&current)
            .is_ok_and(|s| s.contains(" hello 1\n"))),
        "no log line: {}",
        said()
    );
    // docker stop: SIGTERM to PID 1
    let u = unshare.pid();
    let mut svscan = 0;
    assert!(wait_until(LONG, || {
        svscan = support::procs_with(1, u).first().copied().unwrap_or(0);
        svscan != 0
    }));
    support::send_signal(svscan, libc::SIGTERM);
    let st = unshare
        .wait_timeout(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("the container did not stop: {}", said()));
    assert_eq!(st.code(), Some(0), "{}", said());
    let log = fs::read_to_string(&current).unwrap();
    assert!(
        log.lines()
            .all(|l| l.starts_with('@') && l.contains(" hello ")),
        "{log}"
    );
}
