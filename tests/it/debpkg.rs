//! The Debian package built by scripts/deb: its metadata and contents, and
//! an install with dpkg into a private copy of this system (an overlay of
//! / in a private mount namespace, chrooted into), where it replaces
//! Debian's daemontools, satisfies daemontools-run's dependency, `man svc`
//! and svstat work, and it is removed again. The host is never touched:
//! the suite needs Debian's daemontools in /usr/bin.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{self, tools};

/// What Debian's daemontools-run depends on (`apt-cache show
/// daemontools-run`, Debian 12: `Depends: daemontools (>> 1:0.76)`).
const DAEMONTOOLS_RUN_DEPENDS: &str = "daemontools (>> 1:0.76)";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn have_tools(tools: &[&str]) -> bool {
    for t in tools {
        if !support::have(t) {
            support::missing(&format!("{t} is not installed"));
            return false;
        }
    }
    true
}

/// Builds the package from this test run's programs (uncompressed: the
/// test needs no small file) and returns its path.
fn build(out: &Path) -> PathBuf {
    let o = Command::new("sh")
        .arg(repo().join("scripts/deb"))
        .arg("--from")
        .arg(support::bin_dir())
        .arg("--out")
        .arg(out)
        .args(["--compress", "none"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "scripts/deb: {}",
        text(&o.stderr)
    );
    let deb = PathBuf::from(text(&o.stdout).trim());
    assert_eq!(
        deb.file_name().unwrap().to_string_lossy(),
        format!(
            "daemontools-rs_{}_{}.deb",
            env!("CARGO_PKG_VERSION"),
            arch()
        )
    );
    deb
}

fn arch() -> String {
    let o = Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .unwrap();
    text(&o.stdout).trim().to_string()
}

fn field(deb: &Path, name: &str) -> String {
    let o = Command::new("dpkg-deb")
        .arg("-f")
        .arg(deb)
        .arg(name)
        .output()
        .unwrap();
    assert!(o.status.success());
    text(&o.stdout).trim().to_string()
}

fn version_holds(a: &str, op: &str, b: &str) -> bool {
    Command::new("dpkg")
        .args(["--compare-versions", a, op, b])
        .status()
        .unwrap()
        .success()
}

/// `dpkg-deb -c`: path (without the leading `.`) -> (mode string, link target).
fn contents(deb: &Path) -> BTreeMap<String, (String, String)> {
    let o = Command::new("dpkg-deb")
        .arg("-c")
        .arg(deb)
        .output()
        .unwrap();
    assert!(o.status.success());
    text(&o.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let owner = f[1];
            assert_eq!(owner, "root/root", "{l}");
            let path = f[5].trim_start_matches('.').to_string();
            let target = if f.len() > 7 && f[6] == "->" {
                f[7].to_string()
            } else {
                String::new()
            };
            (path, (f[0].to_string(), target))
        })
        .collect()
}

#[test]
fn package_metadata_and_contents() {
    if !have_tools(&["dpkg-deb", "dpkg", "awk"]) {
        return;
    }
    let tmp = support::tempdir();
    let deb = build(tmp.path());
    let v = env!("CARGO_PKG_VERSION");
    assert_eq!(field(&deb, "Package"), "daemontools-rs");
    assert_eq!(field(&deb, "Version"), v);
    assert_eq!(field(&deb, "Architecture"), arch());
    assert_eq!(field(&deb, "Conflicts"), "daemontools");
    assert_eq!(field(&deb, "Replaces"), "daemontools");
    let provides = field(&deb, "Provides");
    let provided = provides
        .strip_prefix("daemontools (= ")
        .and_then(|p| p.strip_suffix(')'))
        .unwrap_or_else(|| panic!("Provides: {provides}"));
    assert_eq!(provided, format!("1:0.76-8.1+rs{v}"));
    // daemontools-run's `daemontools (>> 1:0.76)`, and anything asking for
    // Debian's build or older, is satisfied
    let (op, min) = DAEMONTOOLS_RUN_DEPENDS
        .strip_prefix("daemontools (>> ")
        .and_then(|r| r.strip_suffix(')'))
        .map(|m| (">>", m))
        .unwrap();
    assert!(version_holds(provided, "gt", min), "{op} {min}");
    assert!(version_holds(provided, "ge", "1:0.76-8.1"));
    assert!(
        field(&deb, "Depends").is_empty(),
        "static programs need nothing"
    );

    let c = contents(&deb);
    for p in support::programs() {
        let (mode, _) = c
            .get(&format!("/usr/bin/{p}"))
            .unwrap_or_else(|| panic!("/usr/bin/{p} not in the package"));
        assert_eq!(mode, "-rwxr-xr-x", "{p}");
        let (mode, target) = c
            .get(&format!("/usr/share/man/man8/{p}.8.gz"))
            .unwrap_or_else(|| panic!("no manual page for {p}"));
        if mode.starts_with('l') {
            assert!(
                c.contains_key(&format!("/usr/share/man/man8/{target}")),
                "{p}: {target}"
            );
        } else {
            assert_eq!(mode, "-rw-r--r--", "{p}.8.gz");
        }
    }
    assert!(c.contains_key("/lib/systemd/system/daemontools-rs.service"));
    assert!(c.contains_key("/usr/share/doc/daemontools-rs/copyright"));
    assert!(c.contains_key("/etc/service/"));
    // every file Debian's daemontools has in /usr/bin and the manual is
    // replaced by one of ours (none of its programs is left behind)
    if support::reference("svc").is_some() {
        let o = Command::new("dpkg")
            .args(["-L", "daemontools"])
            .output()
            .unwrap();
        for f in text(&o.stdout).lines() {
            if f.starts_with("/usr/bin/") || f.starts_with("/usr/share/man/man8/") {
                assert!(c.contains_key(f), "Debian's {f} has no counterpart");
            }
        }
    } else {
        support::missing("Debian's daemontools is not installed");
    }

    // the unit is the template's, for /usr/bin and /etc/service
    let x = tmp.path().join("x");
    let o = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&x)
        .output()
        .unwrap();
    assert!(o.status.success());
    let unit =
        std::fs::read_to_string(x.join("lib/systemd/system/daemontools-rs.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/bin/svscan /etc/service\n")
            && unit.contains("Environment=SVSCAN_TERM=shutdown\n")
            && unit.contains("Type=notify\n")
            && !unit.contains('@')
            && !unit.starts_with('#'),
        "{unit}"
    );
    // the programs are this build's, byte for byte
    for p in ["svscan", "svcstart"] {
        assert_eq!(
            std::fs::read(x.join("usr/bin").join(p)).unwrap(),
            std::fs::read(support::bin(p)).unwrap()
        );
    }
    // md5sums lists every file with its sum
    let ctl = tmp.path().join("ctl");
    assert!(
        Command::new("dpkg-deb")
            .arg("-e")
            .arg(&deb)
            .arg(&ctl)
            .status()
            .unwrap()
            .success()
    );
    let sums = std::fs::read_to_string(ctl.join("md5sums")).unwrap();
    let files = c.iter().filter(|(_, (m, _))| m.starts_with('-')).count();
    assert_eq!(sums.lines().count(), files);
    let o = Command::new("md5sum")
        .args(["-c", "--quiet"])
        .arg(ctl.join("md5sums"))
        .current_dir(&x)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stdout));
    for s in ["postinst", "prerm", "postrm"] {
        let o = Command::new("sh")
            .arg("-n")
            .arg(ctl.join(s))
            .output()
            .unwrap();
        assert!(o.status.success(), "{s}: {}", text(&o.stderr));
    }
}

/// Runs inside the private root. Facts go to stdout as `RESULT key=value`
/// lines for the test to check; dpkg's chatter goes to stderr.
const IN_ROOT: &str = r#"
set -u
say() { echo "RESULT $1=$2"; }
deb=$1 dep=$2
sup= svcpid=
cleanup() { for p in $svcpid $sup; do kill -9 "$p" 2>/dev/null; done; }
trap cleanup EXIT

out=$(dpkg -i --path-include='/usr/share/man/*' "$deb" 2>&1); rc=$?
echo "$out" >&2
say install-rc "$rc"
case "$out" in *"will remove daemontools in favour of daemontools-rs"*) say replaced-daemontools yes ;; esac
say status "$(dpkg-query -W -f='${Status}' daemontools-rs 2>/dev/null)"
say debian-status "$(dpkg-query -W -f='${Status}' daemontools 2>/dev/null)"
say owner "$(dpkg -S /usr/bin/svc 2>/dev/null)"
say version "$(/usr/bin/svcstart --version)"
say man-svc "$(man -w svc 2>/dev/null)"
say man-svcstop "$(man -w svcstop 2>/dev/null)"
say man-footer "$(MANWIDTH=80 man svc 2>/dev/null | tail -n 1 | tr -s ' ')"

# a service under the installed supervise, seen by the installed svstat
mkdir -p /tmp/svc/x
printf '#!/bin/sh\nexec sleep 600\n' > /tmp/svc/x/run
chmod 755 /tmp/svc/x/run
PATH=/usr/bin:/bin supervise /tmp/svc/x </dev/null >/dev/null 2>&1 &
sup=$!
n=0; st=
while [ $n -lt 300 ]; do
  st=$(svstat /tmp/svc/x 2>&1)
  case "$st" in *": up (pid "*) break ;; esac
  sleep 0.1; n=$((n + 1))
done
say svstat "$st"
svcpid=$(echo "$st" | sed -n 's/.*(pid \([0-9]*\)).*/\1/p')
svc -dx /tmp/svc/x
n=0
while kill -0 "$sup" 2>/dev/null && [ $n -lt 300 ]; do
  # a zombie until waited for: reap it once it has exited
  [ "$(ps -o stat= -p "$sup")" = Z ] && break
  sleep 0.1; n=$((n + 1))
done
if kill -0 "$sup" 2>/dev/null && [ "$(ps -o stat= -p "$sup")" != Z ]; then
  say supervise-exit still-running
else
  wait "$sup"; say supervise-exit "$?"; sup=
fi

# daemontools-run's dependency, by a stand-in that has it
dpkg -i "$dep" >&2; say dependent-rc "$?"
if apt-cache show daemontools-run >/dev/null 2>&1; then
  sim=$(apt-get -s install daemontools-run 2>&1)
  echo "$sim" >&2
  case "$sim" in *"Inst daemontools-run"*) say run-installable yes ;; esac
  case "$sim" in *"Inst daemontools "*) say run-pulls-debian yes ;; esac
  sim=$(apt-get -s install daemontools 2>&1)
  echo "$sim" >&2
  case "$sim" in *"Remv daemontools-rs"*"Inst daemontools "*) say going-back yes ;; esac
else
  say apt-lists none
fi

dpkg -r needs-daemontools daemontools-rs >&2; say remove-rc "$?"
say status-after "$(dpkg-query -W -f='${Status}' daemontools-rs 2>/dev/null)"
[ -e /usr/bin/svc ] && say svc-after present
man -w svc >/dev/null 2>&1 && say man-after present
exit 0
"#;

/// Sets up the private root (a tmpfs upper layer over /, in this mount
/// namespace only), copies the packages in and runs IN_ROOT there.
const SETUP: &str = r#"
set -eu
t=$1 deb=$2 dep=$3 script=$4
mount -t tmpfs tmpfs "$t"
mkdir "$t/upper" "$t/work" "$t/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$t/upper,workdir=$t/work" "$t/root"
mount -t proc proc "$t/root/proc"
mount --rbind /dev "$t/root/dev"
cp "$deb" "$t/root/tmp/daemontools-rs.deb"
cp "$dep" "$t/root/tmp/needs-daemontools.deb"
cp "$script" "$t/root/tmp/in-root.sh"
exec chroot "$t/root" /bin/sh /tmp/in-root.sh /tmp/daemontools-rs.deb /tmp/needs-daemontools.deb
"#;

/// A package that depends on what daemontools-run depends on.
fn dependent(dir: &Path) -> PathBuf {
    let d = dir.join("needs");
    std::fs::create_dir_all(d.join("DEBIAN")).unwrap();
    std::fs::write(
        d.join("DEBIAN/control"),
        format!(
            "Package: needs-daemontools\nVersion: 1\nArchitecture: all\n\
             Maintainer: test <test@example.invalid>\nDepends: {DAEMONTOOLS_RUN_DEPENDS}\n\
             Description: stand-in for daemontools-run's dependency\n"
        ),
    )
    .unwrap();
    let deb = dir.join("needs-daemontools.deb");
    let o = Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Znone", "--build"])
        .arg(&d)
        .arg(&deb)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    deb
}

#[test]
fn installs_replaces_and_removes_in_a_private_root() {
    if !tools::is_root() {
        return support::missing("not root: dpkg into a private root needs a mount namespace");
    }
    if !have_tools(&["unshare", "chroot", "dpkg", "dpkg-deb", "man"]) {
        return;
    }
    let fs = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !fs.contains("\toverlay\n") {
        return support::missing("no overlay file system in this kernel");
    }
    let host_svc = std::fs::read("/usr/bin/svc").ok();
    let tmp = support::tempdir();
    let deb = build(tmp.path());
    let dep = dependent(tmp.path());
    let (setup, in_root) = (tmp.path().join("setup.sh"), tmp.path().join("in-root.sh"));
    std::fs::write(&setup, SETUP).unwrap();
    std::fs::write(&in_root, IN_ROOT).unwrap();
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let (out, err) = (tmp.path().join("out"), tmp.path().join("err"));
    let mut p = support::Proc {
        child: Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh"])
            .arg(&setup)
            .args([&mnt, &deb, &dep, &in_root])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap(),
    };
    let st = p
        .wait_timeout(Duration::from_secs(600))
        .expect("the install in the private root did not finish");
    let (out, err) = (
        std::fs::read_to_string(out).unwrap(),
        std::fs::read_to_string(err).unwrap(),
    );
    assert!(st.success(), "{out}\n{err}");
    let r: BTreeMap<&str, &str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("RESULT "))
        .filter_map(|l| l.split_once('='))
        .collect();
    let get = |k: &str| r.get(k).copied().unwrap_or("");
    let ctx = format!("results {r:#?}\nstderr:\n{err}");
    assert_eq!(get("install-rc"), "0", "{ctx}");
    assert_eq!(get("status"), "install ok installed", "{ctx}");
    if host_svc.is_some() && support::reference("svc").is_some() {
        // Debian's daemontools was there: dpkg took it out for ours
        assert_eq!(get("replaced-daemontools"), "yes", "{ctx}");
        assert!(!get("debian-status").contains("ok installed"), "{ctx}");
    }
    assert_eq!(get("owner"), "daemontools-rs: /usr/bin/svc", "{ctx}");
    assert_eq!(
        get("version"),
        format!("svcstart (daemontools-rs) {}", env!("CARGO_PKG_VERSION")),
        "{ctx}"
    );
    assert_eq!(get("man-svc"), "/usr/share/man/man8/svc.8.gz", "{ctx}");
    assert_eq!(
        get("man-svcstop"),
        "/usr/share/man/man8/svcstart.8.gz",
        "{ctx}"
    );
    assert!(
        get("man-footer").starts_with(&format!("daemontools-rs {} ", env!("CARGO_PKG_VERSION"))),
        "{ctx}"
    );
    assert!(get("svstat").starts_with("/tmp/svc/x: up (pid "), "{ctx}");
    assert_eq!(get("supervise-exit"), "0", "{ctx}");
    assert_eq!(get("dependent-rc"), "0", "{ctx}");
    if get("apt-lists") == "none" {
        support::skip("no apt package lists: apt's view of daemontools-run not checked");
    } else {
        assert_eq!(get("run-installable"), "yes", "{ctx}");
        assert_eq!(get("run-pulls-debian"), "", "{ctx}");
        assert_eq!(get("going-back"), "yes", "{ctx}");
    }
    assert_eq!(get("remove-rc"), "0", "{ctx}");
    assert!(!get("status-after").contains("ok installed"), "{ctx}");
    assert_eq!(get("svc-after"), "", "{ctx}");
    assert_eq!(get("man-after"), "", "{ctx}");
    // and the host is as it was
    assert_eq!(std::fs::read("/usr/bin/svc").ok(), host_svc);
    if support::reference("svc").is_some() {
        let o = Command::new("dpkg")
            .args(["-S", "/usr/bin/svc"])
            .output()
            .unwrap();
        assert_eq!(text(&o.stdout).trim(), "daemontools: /usr/bin/svc");
    }
}
