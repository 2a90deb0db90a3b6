//! scripts/install into temp roots: the expected files, links, manual
//! pages, boot entries and modes; a second run changes nothing;
//! --uninstall removes what was added and nothing else; --dry-run changes
//! nothing; a root that does not exist is created; every option.

use crate::support;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install")
}

/// A stand-in build directory: one small executable per program.
fn fake_build(dir: &Path) {
    for p in &support::programs() {
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
    for p in &support::programs() {
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
        unit.contains("ExecStart=/usr/local/bin/svscan /service\n"),
        "{unit}"
    );
    // svscan itself stops the tree losslessly on systemd's SIGTERM
    assert!(unit.contains("Environment=SVSCAN_TERM=shutdown\n") && !unit.contains("ExecStop="));
    assert!(unit.contains("Type=notify\n"), "{unit}");
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

/// The unit as the template dist/daemontools-rs.service.in gives it.
fn unit_from_template(bindir: &str, servicedir: &str) -> String {
    let t = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/daemontools-rs.service.in"),
    )
    .unwrap();
    t.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            format!(
                "{}\n",
                l.replace("@BINDIR@", bindir)
                    .replace("@SERVICEDIR@", servicedir)
            )
        })
        .collect()
}

#[test]
fn unit_comes_from_the_one_template() {
    let s = setup();
    let out = install(
        &s.root,
        &s.from,
        &[
            "--boot",
            "systemd",
            "--prefix",
            "/opt/dt",
            "--service-dir",
            "/srv/sv",
            "--no-start",
        ],
    );
    assert!(out.status.success());
    let unit = read(&s.root, "etc/systemd/system/daemontools-rs.service");
    assert_eq!(unit, unit_from_template("/opt/dt/bin", "/srv/sv"));
    assert!(
        unit.contains("ExecStart=/opt/dt/bin/svscan /srv/sv\n"),
        "{unit}"
    );
}

/// systemd's own check of the unit, with the programs it names present
/// (this build's) and the service directory there: no message at all.
#[test]
fn systemd_analyze_verifies_the_unit() {
    if !support::have("systemd-analyze") {
        return support::missing("systemd-analyze (Debian package systemd)");
    }
    let d = support::tempdir();
    let services = d.path().join("service");
    fs::create_dir(&services).unwrap();
    let unit = unit_from_template(
        support::bin_dir().to_str().unwrap(),
        services.to_str().unwrap(),
    );
    let f = d.path().join("daemontools-rs.service");
    fs::write(&f, &unit).unwrap();
    let o = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&f)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "systemd-analyze verify: {err}\n{unit}");
    // Lines about units of the host (a broken unit elsewhere on the
    // machine) are not ours to judge; none may name this one.
    assert!(
        !err.lines().any(|l| l.contains("daemontools-rs.service")),
        "systemd-analyze verify: {err}\n{unit}"
    );
}

#[test]
fn manual_pages_installed_and_found_by_man() {
    let s = setup();
    let out = install(&s.root, &s.from, &["--boot", "none"]);
    assert!(out.status.success());
    let man8 = s.root.join("usr/local/share/man/man8");
    for p in support::programs() {
        let page = man8.join(format!("{p}.8"));
        let m =
            fs::symlink_metadata(&page).unwrap_or_else(|_| panic!("no page {}", page.display()));
        if m.file_type().is_symlink() {
            // another name of a page: a link to it, in the same directory
            let target = fs::read_link(&page).unwrap();
            assert!(
                man8.join(&target).is_file(),
                "{} -> {}",
                p,
                target.display()
            );
        } else {
            assert_eq!(m.permissions().mode() & 0o7777, 0o644, "{p}.8");
            let text = fs::read_to_string(&page).unwrap();
            assert!(
                text.contains(&format!(".TH {} 8 ", p.to_uppercase())),
                "{p}.8"
            );
        }
    }
    assert_eq!(
        fs::read_link(man8.join("svcstop.8")).unwrap(),
        PathBuf::from("svcstart.8")
    );
    if !support::have("man") {
        return support::missing("man (man-db) is not installed");
    }
    let man = |args: &[&str]| {
        let o = Command::new("man")
            .arg("-M")
            .arg(s.root.join("usr/local/share/man"))
            .args(args)
            .env("MANWIDTH", "80")
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .env_remove("MANPATH")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "man {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    // `man svc` shows our page, as after an install to /usr/local
    let page = man(&["svc"]);
    assert!(
        page.contains("svc - control services monitored by supervise"),
        "{page}"
    );
    assert!(page.contains("daemontools-rs"), "{page}");
    assert_eq!(
        man(&["-w", "svcstop"]).trim(),
        man8.join("svcstart.8").display().to_string()
    );
}

/// `--root` with a directory that does not exist (it once recursed until
/// the shell gave up): --dry-run creates nothing, an install creates it,
/// a re-install changes nothing, --uninstall removes what was added.
#[test]
fn root_that_does_not_exist() {
    let s = setup();
    let root = s.root.join("not/yet/there");
    let out = install(&root, &s.from, &["--dry-run"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("would run: mkdir -p {}", root.display())),
        "{text}"
    );
    assert!(text.contains("installing /usr/local/bin/svscan"), "{text}");
    assert!(!s.root.join("not").exists(), "--dry-run created something");

    let out = install(&root, &s.from, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(root.join("usr/local/bin/svscan").is_file());
    assert!(root.join("usr/local/share/man/man8/svscan.8").is_file());
    assert!(root.join("service").is_dir());
    assert!(read(&root, "etc/rc.local").contains("/usr/local/bin/svscanboot /service"));
    let first = snapshot(&root);

    let out = install(&root, &s.from, &[]);
    assert!(out.status.success());
    assert_eq!(snapshot(&root), first, "re-install changed something");

    let out = install(&root, &s.from, &["--uninstall", "--dry-run"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("removing /usr/local/bin/svscan"));
    assert_eq!(
        snapshot(&root),
        first,
        "--uninstall --dry-run changed something"
    );

    let out = install(&root, &s.from, &["--uninstall"]);
    assert!(out.status.success());
    assert!(snapshot(&root).is_empty(), "{:?}", snapshot(&root).keys());
}

/// A relative --root is taken from the current directory.
#[test]
fn relative_root() {
    let s = setup();
    let cwd = s.root.parent().unwrap();
    let out = Command::new("sh")
        .arg(script())
        .args(["--root", "rel/root", "--boot", "none", "--from"])
        .arg(&s.from)
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(cwd.join("rel/root/usr/local/bin/svc").is_file());
}

#[test]
fn every_boot_kind_can_be_forced() {
    for kind in ["systemd", "inittab", "rc.local", "none"] {
        let s = setup();
        // a host that looks like systemd, unless forced otherwise
        fs::create_dir_all(s.root.join("run/systemd/system")).unwrap();
        let out = install(&s.root, &s.from, &["--boot", kind, "--no-start"]);
        assert!(out.status.success(), "{kind}");
        let unit = s
            .root
            .join("etc/systemd/system/daemontools-rs.service")
            .exists();
        let inittab = s.root.join("etc/inittab").exists();
        let rc = s.root.join("etc/rc.local").exists();
        assert_eq!(
            (unit, inittab, rc),
            (kind == "systemd", kind == "inittab", kind == "rc.local"),
            "{kind}"
        );
        if kind == "inittab" {
            assert_eq!(
                read(&s.root, "etc/inittab"),
                "SV:123456:respawn:/usr/local/bin/svscanboot /service\n"
            );
        }
        let out = install(&s.root, &s.from, &["--uninstall"]);
        assert!(out.status.success(), "{kind}");
        assert_eq!(
            snapshot(&s.root).keys().collect::<Vec<_>>(),
            [
                Path::new("run"),
                Path::new("run/systemd"),
                Path::new("run/systemd/system")
            ],
            "{kind}: uninstall left something"
        );
    }
}

#[test]
fn help_and_version() {
    let run = |args: &[&str]| {
        Command::new("sh")
            .arg(script())
            .args(args)
            .output()
            .unwrap()
    };
    let help = run(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(help.stderr.is_empty());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.starts_with("daemontools-rs installer:"), "{text}");
    // every option of the usage message is explained, and no other
    let bad = run(&["--bogus"]);
    assert_eq!(bad.status.code(), Some(100));
    let usage = String::from_utf8_lossy(&bad.stderr);
    assert!(usage.starts_with("usage: "), "{usage}");
    let options = |t: &str| {
        let mut v: Vec<String> = t
            .split(|c: char| c.is_whitespace() || c == '[' || c == ']' || c == ',')
            .filter(|w| w.starts_with("--") && w.len() > 2)
            .filter(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
            .map(str::to_string)
            .collect();
        v.sort();
        v.dedup();
        v
    };
    assert_eq!(options(&text), options(&usage), "--help vs usage message");
    assert!(options(&usage).len() >= 11, "{usage}");
    let version = run(&["--version"]);
    assert_eq!(version.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&version.stdout),
        format!("install (daemontools-rs) {}\n", env!("CARGO_PKG_VERSION"))
    );
}
