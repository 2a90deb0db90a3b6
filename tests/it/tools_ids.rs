//! setuidgid and envuidgid (doc/setuidgid.8.md, doc/envuidgid.8.md), run as
//! a user would, side by side with the reference.

use crate::support;
use crate::support::tools::{Run, Spec, expect, is_root, same};

fn fatal(prog: &str, text: &str) -> Run {
    expect(111, "", &format!("{prog}: fatal: {text}\n"))
}

fn usage(prog: &str) -> Run {
    expect(100, "", &format!("{prog}: usage: {prog} account child\n"))
}

#[test]
fn usage_and_unknown_accounts() {
    let t = support::tempdir();
    for prog in ["setuidgid", "envuidgid"] {
        for args in [vec![prog], vec![prog, "daemon"], vec![prog, ""]] {
            assert_eq!(
                same(prog, &Spec::new(t.path(), &args)),
                usage(prog),
                "{args:?}"
            );
        }
        // Arguments are positional: `-x` is an account name. getpwnam
        // never looks digits up as a uid.
        for name in [
            "no-such-account-dtrs",
            "0",
            "1",
            "",
            "-x",
            "root:x",
            "ROOT",
            "root ",
        ] {
            let got = same(prog, &Spec::new(t.path(), &[prog, name, "/usr/bin/id"]));
            assert_eq!(
                got,
                fatal(prog, &format!("unknown account {name}")),
                "{name:?}"
            );
        }
    }
}

/// Uid, Gid and Groups lines of the child's /proc/self/status.
fn ids_of_child(name: &str) -> Vec<String> {
    let t = support::tempdir();
    let r = same(
        "setuidgid",
        &Spec::new(
            t.path(),
            &[
                "setuidgid",
                name,
                "/bin/grep",
                "-E",
                "^(Uid|Gid|Groups):",
                "/proc/self/status",
            ],
        ),
    );
    assert_eq!(r.code, Some(0), "{}", r.err_str());
    r.lines()
}

fn passwd_ids(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 3 && f[0] == name).then(|| (f[2].parse().unwrap(), f[3].parse().unwrap()))
    })
}

#[test]
fn setuidgid_switches_all_ids_and_sets_one_group() {
    if !is_root() {
        return support::skip("setuidgid to another account needs root");
    }
    // An account that belongs to other groups too (from /etc/group), so
    // that a stray initgroups would show; daemon and nobody otherwise.
    let group = std::fs::read_to_string("/etc/group").unwrap();
    let member = group
        .lines()
        .filter_map(|l| l.split(':').nth(3))
        .flat_map(|m| m.split(','))
        .find(|m| !m.is_empty() && passwd_ids(m).is_some())
        .map(str::to_string);
    let mut names = vec!["daemon".to_string(), "nobody".to_string()];
    match member {
        Some(m) => names.push(m),
        None => support::skip("no account with supplementary groups in /etc/group"),
    }
    for name in names {
        let Some((uid, gid)) = passwd_ids(&name) else {
            support::skip(&format!("no {name} in /etc/passwd"));
            continue;
        };
        assert_eq!(
            ids_of_child(&name),
            vec![
                format!("Uid:\t{uid}\t{uid}\t{uid}\t{uid}"),
                format!("Gid:\t{gid}\t{gid}\t{gid}\t{gid}"),
                format!("Groups:\t{gid} "),
            ],
            "{name}"
        );
    }
}

#[test]
fn setuidgid_keeps_environment_and_cwd() {
    if !is_root() {
        return support::skip("setuidgid to another account needs root");
    }
    let t = support::tempdir();
    // daemon must be able to enter the cwd.
    std::fs::set_permissions(
        t.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let env = [
        ("HOME", "/root"),
        ("USER", "root"),
        ("LOGNAME", "root"),
        ("PATH", "/usr/bin:/bin"),
        ("Z", "1"),
    ];
    let r = same(
        "setuidgid",
        &Spec::new(
            t.path(),
            &["setuidgid", "daemon", "sh", "-c", "pwd; exec env"],
        )
        .env(&env),
    );
    let mut want = vec![t.path().display().to_string()];
    want.extend(
        ["PWD", "HOME", "USER", "LOGNAME", "PATH", "Z"]
            .iter()
            .filter_map(|k| {
                env.iter()
                    .find(|(n, _)| n == k)
                    .map(|(n, v)| format!("{n}={v}"))
            }),
    );
    let got = r.lines();
    assert_eq!(got[0], want[0]);
    for kv in &want[1..] {
        assert!(got.contains(kv), "{kv} missing from {got:?}");
    }
}

/// Without privileges, setgroups fails first: `unable to setgid`, even
/// for one's own account. Our setuidgid is run under the reference's (or
/// our own) `setuidgid nobody`.
#[test]
fn setuidgid_unprivileged_fails_to_setgid() {
    let t = support::tempdir();
    let ours = support::bin("setuidgid");
    let ours_s = ours.to_str().unwrap();
    let mut outers = vec![];
    if is_root() {
        outers.extend(support::tools::both("setuidgid"));
    }
    for outer in outers {
        for target in ["nobody", "daemon", "root"] {
            let r = support::tools::run(
                &outer,
                &Spec::new(
                    t.path(),
                    &["setuidgid", "nobody", ours_s, target, "/usr/bin/id"],
                ),
            );
            assert_eq!(
                r,
                fatal("setuidgid", "unable to setgid: permission denied"),
                "{target}"
            );
        }
    }
    if !is_root() {
        let me = nix::unistd::User::from_uid(nix::unistd::getuid())
            .unwrap()
            .unwrap()
            .name;
        let r = same(
            "setuidgid",
            &Spec::new(t.path(), &["setuidgid", &me, "/usr/bin/id"]),
        );
        assert_eq!(r, fatal("setuidgid", "unable to setgid: permission denied"));
    }
}

#[test]
fn envuidgid_sets_gid_then_uid_in_reference_order() {
    let t = support::tempdir();
    let Some((uid, gid)) = passwd_ids("daemon") else {
        return support::skip("no daemon account");
    };
    let env = [("UID", "5"), ("A", "1"), ("GID", "7"), ("B", "2")];
    let r = same(
        "envuidgid",
        &Spec::new(t.path(), &["envuidgid", "daemon", "/usr/bin/env"]).env(&env),
    );
    assert_eq!(
        r.lines(),
        vec![
            format!("GID={gid}"),
            "A=1".into(),
            "B=2".into(),
            format!("UID={uid}")
        ]
    );
    // Without UID/GID they are appended, GID first; PATH comes from the
    // (unchanged) environment.
    let env = [("PATH", "/usr/bin:/bin")];
    for name in ["root", "nobody"] {
        let (uid, gid) = passwd_ids(name).unwrap();
        let r = same(
            "envuidgid",
            &Spec::new(t.path(), &["envuidgid", name, "env"]).env(&env),
        );
        assert_eq!(
            r.lines(),
            vec![
                "PATH=/usr/bin:/bin".to_string(),
                format!("GID={gid}"),
                format!("UID={uid}")
            ]
        );
    }
    // No ids change.
    let r = same(
        "envuidgid",
        &Spec::new(
            t.path(),
            &[
                "envuidgid",
                "daemon",
                "/bin/grep",
                "^Uid:",
                "/proc/self/status",
            ],
        ),
    );
    let me = nix::unistd::getuid();
    assert_eq!(r.out_str(), format!("Uid:\t{me}\t{me}\t{me}\t{me}\n"));
}
