//! scripts/install into temp roots: the expected files, links, boot entries
//! and modes; a second run changes nothing; --uninstall removes what was
//! added and nothing else; --dry-run changes nothing.

use crate::support;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PROGS: &[&str] = &[
    "svscan",
    "supervise",
    "svc",
    "svok",
    "svstat",
    "svscanboot",
    "readproctitle",
    "multilog",
    "tai64n",
    "tai64nlocal",
    "setuidgid",
    "envuidgid",
    "envdir",
    "softlimit",
    "setlock",
    "fghack",
    "pgrphack",
    "svcstart",
    "svcstop",
    "svcrestart",
    "svcreset",
    "svshutdown",
];

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install")
}

/// A stand-in build directory: one small executable per program.
fn fake_build(dir: &Path) {
    for p in PROGS {
        support::script(&dir.join(p), &format!("#!/bin/sh\necho {p}\n"));
    }
}

fn install(root: &Path, from: &Path, extra: &[&str]) -> Output {
    let out = Command::new("sh")
        .arg(script())
        .arg("--root")
        .arg(root)
        .arg("--from")
        .arg(from)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.stderr.is_empty() || !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// path -> (kind, mode, content or link target, mtime)
type Snap = BTreeMap<PathBuf, (char, u32, Vec<u8>, i64)>;

fn snapshot(root: &Path) -> Snap {
    fn walk(root: &Path, p: &Path, out: &mut Snap) {
        for e in fs::read_dir(p).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            let m = fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let mode = m.mode() & 0o7777;
            if m.file_type().is_symlink() {
                let t = fs::read_link(&path).unwrap();
                out.insert(rel, ('l', 0, t.into_os_string().into_encoded_bytes(), 0));
            } else if m.is_dir() {
                out.insert(rel, ('d', mode, vec![], 0));
                walk(root, &path, out);
            } else {
                out.insert(rel, ('f', mode, fs::read(&path).unwrap(), m.mtime()));
            }
        }
    }
    let mut s = Snap::new();
    walk(root, root, &mut s);
    s
}

/// Sets the modification time of every file under `root` one day back.
fn age_files(root: &Path) {
    use nix::sys::time::{TimeVal, TimeValLike};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let day_ago = TimeVal::seconds(now.as_secs() as i64 - 86400);
    for (rel, (kind, ..)) in snapshot(root) {
        if kind == 'f' {
            nix::sys::stat::utimes(&root.join(rel), &day_ago, &day_ago).unwrap();
        }
    }
}

fn without_mtimes(s: &Snap) -> Vec<(PathBuf, char, u32, Vec<u8>)> {
    s.iter()
        .map(|(p, (k, m, c, _))| (p.clone(), *k, *m, c.clone()))
        .collect()
}

fn read(root: &Path, p: &str) -> String {
    fs::read_to_string(root.join(p.trim_start_matches('/'))).unwrap()
}

fn mode(root: &Path, p: &str) -> u32 {
    fs::metadata(root.join(p.trim_start_matches('/')))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

struct Setup {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    from: PathBuf,
}

fn setup() -> Setup {
    let tmp = support::tempdir();
    let root = tmp.path().join("root");
    let from = tmp.path().join("build");
    fs::create_dir_all(&root).unwrap();
    fake_build(&from);
    Setup {
        _tmp: tmp,
        root,
        from,
    }
}

#[test]
fn systemd_host() {
    let s = setup();
    fs::create_dir_all(s.root.join("run/systemd/system")).unwrap();
    let out = install(&s.root, &s.from, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for p in PROGS {
        let installed = s.root.join("usr/local/bin").join(p);
        assert_eq!(
            fs::read(&installed).unwrap(),
            fs::read(s.from.join(p)).unwrap()
        );
        assert_eq!(mode(&s.root, &format!("usr/local/bin/{p}")), 0o755);
        assert_eq!(
            fs::read_link(s.root.join("command").join(p)).unwrap(),
            PathBuf::from(format!("/usr/local/bin/{p}"))
        );
    }
    assert_eq!(mode(&s.root, "service"), 0o755);
    let unit = read(&s.root, "etc/systemd/system/daemontools-rs.service");
    assert!(
        unit.contains("ExecStart=/usr/local/bin/svscanboot /service\n"),
        "{unit}"
    );
    assert!(unit.contains("ExecStop=/usr/local/bin/svshutdown -q /service\n"));
    assert!(unit.contains("WantedBy=multi-user.target"));
    assert_eq!(
        mode(&s.root, "etc/systemd/system/daemontools-rs.service"),
        0o644
    );
    assert_eq!(
        fs::read_link(
            s.root
                .join("etc/systemd/system/multi-user.target.wants/daemontools-rs.service")
        )
        .unwrap(),
        PathBuf::from("../daemontools-rs.service")
    );
    assert!(!s.root.join("etc/inittab").exists() && !s.root.join("etc/rc.local").exists());
}

#[test]
fn inittab_host_and_options() {
    let s = setup();
    fs::create_dir_all(s.root.join("etc")).unwrap();
    let before = "id:2:initdefault:\n1:2345:respawn:/sbin/getty 38400 tty1\n";
    fs::write(s.root.join("etc/inittab"), before).unwrap();
    let out = install(
        &s.root,
        &s.from,
        &[
            "--prefix",
            "/opt/dt",
            "--service-dir",
            "/srv/service",
            "--no-command-links",
        ],
    );
    assert!(out.status.success());
    assert_eq!(
        read(&s.root, "etc/inittab"),
        format!("{before}SV:123456:respawn:/opt/dt/bin/svscanboot /srv/service\n")
    );
    assert!(s.root.join("opt/dt/bin/svscan").is_file());
    assert!(s.root.join("srv/service").is_dir());
    assert!(!s.root.join("command").exists());
    assert!(!s.root.join("service").exists());
}

#[test]
fn rc_local_host() {
    let s = setup();
    // no rc.local: created, executable, the line before `exit 0`
    let out = install(&s.root, &s.from, &[]);
    assert!(out.status.success());
    let rc = read(&s.root, "etc/rc.local");
    assert_eq!(
        rc,
        "#!/bin/sh -e\n/usr/local/bin/svscanboot /service </dev/null >/dev/null 2>&1 & # daemontools-rs\nexit 0\n"
    );
    assert_eq!(mode(&s.root, "etc/rc.local"), 0o755);
    // uninstall removes the rc.local it created
    let out = install(&s.root, &s.from, &["--uninstall"]);
    assert!(out.status.success());
    assert!(!s.root.join("etc/rc.local").exists());
    assert!(s.root.join("etc").exists() || snapshot(&s.root).is_empty());
}

#[test]
fn second_run_changes_nothing() {
    for host in ["systemd", "inittab", "rc.local"] {
        let s = setup();
        fs::create_dir_all(s.root.join("etc")).unwrap();
        match host {
            "systemd" => fs::create_dir_all(s.root.join("run/systemd/system")).unwrap(),
            "inittab" => fs::write(s.root.join("etc/inittab"), "id:2:initdefault:\n").unwrap(),
            _ => fs::write(s.root.join("etc/rc.local"), "#!/bin/sh\necho hi\nexit 0\n").unwrap(),
        }
        assert!(install(&s.root, &s.from, &[]).status.success());
        // Files dated a day back: one the second run rewrites is dated now.
        age_files(&s.root);
        let first = snapshot(&s.root);
        assert!(install(&s.root, &s.from, &[]).status.success());
        assert_eq!(
            snapshot(&s.root),
            first,
            "{host}: second run changed something"
        );
    }
}

#[test]
fn uninstall_removes_only_what_was_added() {
    let s = setup();
    // pre-existing things that are not ours
    fs::create_dir_all(s.root.join("etc")).unwrap();
    fs::write(s.root.join("etc/inittab"), "id:2:initdefault:\n").unwrap();
    fs::create_dir_all(s.root.join("usr/local/bin")).unwrap();
    fs::write(s.root.join("usr/local/bin/other-tool"), "x").unwrap();
    fs::create_dir_all(s.root.join("service/mysvc")).unwrap();
    fs::write(s.root.join("service/mysvc/run"), "#!/bin/sh\n").unwrap();
    let before = snapshot(&s.root);
    assert!(install(&s.root, &s.from, &[]).status.success());
    assert_ne!(snapshot(&s.root), before);
    // a service added after install stays, and so does /service
    let out = install(&s.root, &s.from, &["--uninstall"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(without_mtimes(&snapshot(&s.root)), without_mtimes(&before));
}

#[test]
fn dry_run_changes_nothing() {
    let s = setup();
    fs::create_dir_all(s.root.join("run/systemd/system")).unwrap();
    let before = snapshot(&s.root);
    let out = install(&s.root, &s.from, &["--dry-run"]);
    assert!(out.status.success());
    assert_eq!(snapshot(&s.root), before);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("installing /usr/local/bin/svscan"));
    assert!(text.contains("would run: mkdir"));
}

#[test]
fn refuses_missing_build_and_bad_usage() {
    let s = setup();
    fs::remove_file(s.from.join("multilog")).unwrap();
    let out = install(&s.root, &s.from, &[]);
    assert_eq!(out.status.code(), Some(111));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cargo build --release"));
    assert!(snapshot(&s.root).is_empty(), "nothing installed");
    let out = install(&s.root, &s.from, &["--boot", "upstart"]);
    assert_eq!(out.status.code(), Some(100));
    let out = install(&s.root, &s.from, &["--uninstall"]);
    assert_eq!(out.status.code(), Some(111), "nothing to uninstall");
}
