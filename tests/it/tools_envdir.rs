//! envdir (doc/envdir.8.md): every reading rule, the environment order, the
//! error messages, and a property test over random directories compared
//! with a model of the rules and with the reference, byte for byte.

use crate::support;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::support::tools::{Run, Spec, expect, is_root, same};
use proptest::prelude::*;

fn fatal(text: &str) -> Run {
    expect(111, "", &format!("envdir: fatal: {text}\n"))
}

fn out(lines: &[&str]) -> Run {
    expect(
        0,
        &lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
        "",
    )
}

#[test]
fn usage_exits_111() {
    let t = support::tempdir();
    std::fs::create_dir(t.path().join("D")).unwrap();
    let want = expect(111, "", "envdir: usage: envdir dir child\n");
    let cases = [
        (vec!["envdir"], want.clone()),
        (vec!["envdir", "whatever"], want.clone()),
        (vec!["envdir", "D"], want),
    ];
    support::tools::table(t.path(), &cases);
}

#[test]
fn confirmed_example() {
    let t = support::tempdir();
    let d = t.path().join("D");
    std::fs::create_dir(&d).unwrap();
    let files: &[(&str, &[u8])] = &[
        ("MULTI", b"first line  \t \nsecond line\n"),
        ("NULS", b"a\0b\0c"),
        ("EMPTY", b""),
        ("NLONLY", b"\n"),
        ("LEAD", b"  lead"),
        ("CR", b"trail \r"),
        (".dot", b"hidden\n"),
        ("PATH", b"/nonexistent\n"),
        ("EQ=NAME", b"x=y"),
        ("A=B", b""),
    ];
    for (name, content) in files {
        std::fs::write(d.join(name), content).unwrap();
    }
    let env = [
        ("PATH", "/usr/bin:/bin"),
        ("EMPTY", "was set"),
        ("EQ", "old"),
        ("A", "a"),
    ];
    let r = same(
        "envdir",
        &Spec::new(t.path(), &["envdir", "D", "env"]).env(&env),
    );
    assert_eq!(r.code, Some(0), "{}", r.err_str());
    let text = r.out_str();
    for want in [
        "MULTI=first line\n",
        "NULS=a\nb\nc\n",
        "NLONLY=\n",
        "LEAD=  lead\n",
        "CR=trail \r\n",
        "PATH=/nonexistent\n",
        "EQ=NAME=x=y\n",
        "A=B\n",
    ] {
        assert!(text.contains(want), "{want:?} missing from {text:?}");
    }
    for gone in ["EMPTY=", "EQ=old", "A=a", ".dot", "hidden"] {
        assert!(!text.contains(gone), "{gone:?} in {text:?}");
    }
}

#[test]
fn swap_remove_order() {
    // `env -i A=1 X=0 B=2 C=3 envdir D env`, D/X = v: A=1 C=3 B=2 X=v.
    let t = support::tempdir();
    std::fs::create_dir(t.path().join("D")).unwrap();
    std::fs::write(t.path().join("D/X"), "v\n").unwrap();
    let env = [("A", "1"), ("X", "0"), ("B", "2"), ("C", "3")];
    let r = same(
        "envdir",
        &Spec::new(t.path(), &["envdir", "D", "/usr/bin/env"]).env(&env),
    );
    assert_eq!(r, out(&["A=1", "C=3", "B=2", "X=v"]));
}

#[test]
fn path_lookup_and_relative_child_use_the_old_state() {
    let t = support::tempdir();
    let d = t.path().join("D");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("PATH"), "/nonexistent").unwrap();
    support::script(&t.path().join("prog"), "#!/bin/sh\necho top \"$PATH\"\n");
    support::script(&d.join("prog"), "#!/bin/sh\necho inside\n");
    let env = [("PATH", "/usr/bin:/bin")];
    let r = same(
        "envdir",
        &Spec::new(t.path(), &["envdir", "D", "./prog"]).env(&env),
    );
    assert_eq!(r, out(&["top /nonexistent"]));
    let r = same(
        "envdir",
        &Spec::new(t.path(), &["envdir", "D", "printenv", "PATH"]).env(&env),
    );
    assert_eq!(r, out(&["/nonexistent"]));
}

#[test]
fn long_lines_fifos_and_symlinks() {
    let t = support::tempdir();
    let d = t.path().join("D");
    std::fs::create_dir(&d).unwrap();
    let long = "x".repeat(5000);
    std::fs::write(d.join("LONG"), format!("{long} \n")).unwrap();
    std::fs::write(t.path().join("target"), "via link\n").unwrap();
    std::os::unix::fs::symlink("../target", d.join("LINK")).unwrap();
    nix::unistd::mkfifo(
        &d.join("FIFO"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let env = [("FIFO", "set")];
    let r = same(
        "envdir",
        &Spec::new(t.path(), &["envdir", "D", "/usr/bin/env"]).env(&env),
    );
    let mut lines = r.lines();
    lines.sort();
    assert_eq!(
        lines,
        vec!["LINK=via link".to_string(), format!("LONG={long}")]
    );
}

#[test]
fn errors() {
    let t = support::tempdir();
    std::fs::write(t.path().join("file"), "").unwrap();
    let cases: Vec<(&str, Run)> = vec![
        (
            "/nonexist",
            fatal("unable to switch to directory /nonexist: file does not exist"),
        ),
        (
            "file",
            fatal("unable to switch to directory file: not a directory"),
        ),
    ];
    for (dir, want) in cases {
        let r = same(
            "envdir",
            &Spec::new(t.path(), &["envdir", dir, "/usr/bin/env"]),
        );
        assert_eq!(r, want);
    }
    let ed = t.path().join("ed");
    std::fs::create_dir_all(ed.join("sub")).unwrap();
    let r = same(
        "envdir",
        &Spec::new(t.path(), &["envdir", "ed", "/usr/bin/env"]),
    );
    assert_eq!(r, fatal("unable to read ed/sub: is a directory"));
    let ed6 = t.path().join("ed6");
    std::fs::create_dir(&ed6).unwrap();
    std::os::unix::fs::symlink("Message", ed6.join("Message")).unwrap();
    let r = same(
        "envdir",
        &Spec::new(t.path(), &["envdir", "ed6", "/usr/bin/env"]),
    );
    assert_eq!(r, fatal("unable to read ed6/Message: symbolic link loop"));
    let r = same(
        "envdir",
        &Spec::new(t.path(), &["envdir", "ed6/", "/usr/bin/env"]),
    );
    assert_eq!(r, fatal("unable to read ed6//Message: symbolic link loop"));
    std::fs::create_dir(t.path().join("ok")).unwrap();
    let r = same(
        "envdir",
        &Spec::new(t.path(), &["envdir", "ok", "./nonexistent"]),
    );
    assert_eq!(r, fatal("unable to run ./nonexistent: file does not exist"));
}

/// Permission errors, seen by an unprivileged envdir (run under
/// `setuidgid nobody`, so this needs root).
#[test]
fn unprivileged_errors() {
    if !is_root() {
        return support::skip("needs root to run envdir as nobody");
    }
    use std::os::unix::fs::PermissionsExt;
    let t = support::tempdir();
    let mode =
        |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    mode(t.path(), 0o755);
    let secret = t.path().join("secret");
    std::fs::create_dir(&secret).unwrap();
    std::fs::write(secret.join("KEY"), "v").unwrap();
    mode(&secret.join("KEY"), 0o600);
    let xonly = t.path().join("xonly");
    std::fs::create_dir(&xonly).unwrap();
    mode(&xonly, 0o711);
    let closed = t.path().join("closed");
    std::fs::create_dir(&closed).unwrap();
    mode(&closed, 0o700);
    let cases = [
        ("secret", "unable to read secret/KEY: access denied"),
        ("xonly", "unable to read directory xonly: access denied"),
        (
            "closed",
            "unable to switch to directory closed: access denied",
        ),
    ];
    for outer in support::tools::both("setuidgid") {
        for prog in support::tools::both("envdir") {
            for (dir, err) in cases {
                let args = [
                    "setuidgid",
                    "nobody",
                    prog.to_str().unwrap(),
                    dir,
                    "/usr/bin/env",
                ];
                let r = support::tools::run(&outer, &Spec::new(t.path(), &args));
                assert_eq!(r, fatal(err), "{}", prog.display());
            }
        }
    }
    // An unreadable cwd (setuidgid itself only needs to exec).
    for prog in support::tools::both("envdir") {
        let args = [
            "setuidgid",
            "nobody",
            prog.to_str().unwrap(),
            "/",
            "/usr/bin/env",
        ];
        let r = support::tools::run(&support::bin("setuidgid"), &Spec::new(&closed, &args));
        assert_eq!(
            r,
            fatal("unable to switch to current directory: access denied")
        );
    }
}

#[test]
fn dangling_symlinks_reuse_the_previous_value() {
    let t = support::tempdir();
    let d = t.path().join("D");
    std::fs::create_dir(&d).unwrap();
    let names = ["DDD", "CCC", "BBB", "AAA", "EEE"];
    for n in names {
        std::os::unix::fs::symlink("/nonexistent/x", d.join(n)).unwrap();
    }
    // Replace two of them with real files; the readdir order decides the
    // rest, so the expected values come from the model.
    std::fs::remove_file(d.join("CCC")).unwrap();
    std::fs::write(d.join("CCC"), "zz\n").unwrap();
    std::fs::remove_file(d.join("AAA")).unwrap();
    std::fs::write(d.join("AAA"), "hello\n").unwrap();
    let entries = read_entries(&d);
    let r = same(
        "envdir",
        &Spec::new(t.path(), &["envdir", "D", "/usr/bin/env"]).env(&[]),
    );
    assert_eq!(r.out, model_env(&[], &entries));
    assert!(r.out_str().contains("CCC=zz\n") && r.out_str().contains("AAA=hello\n"));
}

// ---- the model ----

/// A directory entry as envdir sees it: its content, or None when opening
/// it gives ENOENT (dangling symlink).
type Entry = (Vec<u8>, Option<Vec<u8>>);

/// The entries of `dir` in readdir order.
fn read_entries(dir: &Path) -> Vec<Entry> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let content = std::fs::read(e.path()).ok();
            (e.file_name().as_bytes().to_vec(), content)
        })
        .collect()
}

/// What `env` prints for `base` after envdir applied `entries` (doc/envdir.8.md:
/// how a file is read, the buffer reuse, the environment order), written
/// from that page independently of src/.
fn model_env(base: &[Vec<u8>], entries: &[Entry]) -> Vec<u8> {
    let mut env: Vec<Vec<u8>> = base.to_vec();
    let mut buf: Vec<u8> = Vec::new();
    for (name, content) in entries {
        if name.first() == Some(&b'.') {
            continue;
        }
        if let Some(c) = content {
            buf = c.clone();
        }
        let change = if buf.is_empty() {
            name.clone()
        } else {
            if let Some(i) = buf.iter().position(|&b| b == b'\n') {
                buf.truncate(i);
            }
            while buf.ends_with(b" ") || buf.ends_with(b"\t") {
                buf.pop();
            }
            let value: Vec<u8> = buf
                .iter()
                .map(|&b| if b == 0 { b'\n' } else { b })
                .collect();
            buf = value.clone();
            buf.push(0);
            [name.as_slice(), b"=", &value].concat()
        };
        let key_len = change
            .iter()
            .position(|&b| b == b'=')
            .unwrap_or(change.len());
        let mut prefix = change[..key_len].to_vec();
        prefix.push(b'=');
        if let Some(i) = env.iter().position(|e| e.starts_with(&prefix)) {
            let last = env.pop().unwrap();
            if i < env.len() {
                env[i] = last;
            }
        }
        if key_len < change.len() {
            env.push(change);
        }
    }
    env.iter()
        .flat_map(|e| [e.as_slice(), b"\n"].concat())
        .collect()
}

#[derive(Debug, Clone)]
enum Content {
    File(Vec<u8>),
    Dangling,
}

fn content() -> impl Strategy<Value = Content> {
    let byte = prop_oneof![
        Just(0u8),
        Just(b'\n'),
        Just(b' '),
        Just(b'\t'),
        Just(b'\r'),
        Just(b'='),
        Just(0xffu8),
        b'a'..=b'z',
    ];
    prop_oneof![
        8 => proptest::collection::vec(byte, 0..12).prop_map(Content::File),
        1 => proptest::collection::vec(any::<u8>(), 0..600).prop_map(Content::File),
        2 => Just(Content::Dangling),
    ]
}

fn name() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        Just(b'A'),
        Just(b'B'),
        Just(b'C'),
        Just(b'='),
        Just(b'.'),
        Just(b'_'),
        Just(0xe9u8),
        Just(b' '),
    ];
    proptest::collection::vec(byte, 1..4).prop_filter("not . or ..", |n| n != b"." && n != b"..")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn random_directories(
        files in proptest::collection::btree_map(name(), content(), 0..10),
        base in proptest::collection::btree_map(name(), proptest::collection::vec(b'a'..=b'c', 0..3), 0..5),
    ) {
        let t = support::tempdir();
        let d = t.path().join("D");
        std::fs::create_dir(&d).unwrap();
        for (n, c) in &files {
            let p = d.join(std::ffi::OsStr::from_bytes(n));
            match c {
                Content::File(bytes) => std::fs::write(&p, bytes).unwrap(),
                Content::Dangling => std::os::unix::fs::symlink("/nonexistent/x", &p).unwrap(),
            }
        }
        // The starting environment: names without `=` (env -i takes the
        // first `=` as the separator).
        let base: Vec<(Vec<u8>, Vec<u8>)> = base
            .into_iter()
            .filter(|(n, _)| !n.contains(&b'='))
            .collect();
        let base_bytes: Vec<(&[u8], &[u8])> =
            base.iter().map(|(n, v)| (n.as_slice(), v.as_slice())).collect();
        let spec = Spec {
            args: vec![b"envdir", b"D", b"/usr/bin/env"],
            env: Some(base_bytes),
            cwd: t.path(),
        };
        let entries = read_entries(&d);
        let base_entries: Vec<Vec<u8>> =
            base.iter().map(|(n, v)| [n.as_slice(), b"=", v].concat()).collect();
        let r = same("envdir", &spec);
        prop_assert_eq!(r.code, Some(0), "{}", r.err_str());
        prop_assert_eq!(r.err, Vec::<u8>::new());
        prop_assert_eq!(r.out, model_env(&base_entries, &entries));
    }
}
