//! Golden status files captured from the reference supervise in every state
//! (tests/data/capture-status.sh) decode to the reference svstat's line; and
//! live, side by side, our svstat and the reference svstat print the same
//! line for the same bytes.

use crate::support;
use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use daemontools::status::{LEN, Status};

fn cases() -> Vec<(String, [u8; LEN], bool, i64, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/status");
    let mut out = Vec::new();
    for e in fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) != Some("status") {
            continue;
        }
        let name = p.file_stem().unwrap().to_str().unwrap().to_string();
        let bytes: [u8; LEN] = fs::read(&p).unwrap().try_into().unwrap();
        let txt = fs::read_to_string(p.with_extension("txt")).unwrap();
        let mut lines = txt.lines();
        let mut head = lines.next().unwrap().split(' ');
        let normally_up = head.next().unwrap() == "1";
        let now: i64 = head.next().unwrap().parse().unwrap();
        let line = lines.next().unwrap().to_string();
        out.push((name, bytes, normally_up, now, line));
    }
    out.sort();
    assert!(out.len() >= 9, "golden data missing");
    out
}

#[test]
fn reference_records_decode_to_reference_lines() {
    for (name, bytes, normally_up, now, line) in cases() {
        let st = Status::decode(&bytes);
        let text = String::from_utf8(st.describe(normally_up, now)).unwrap();
        // svstat may have run up to a second after `date`: allow +-1 s.
        let ok = (-1..=1).any(|d| {
            let t = String::from_utf8(st.describe(normally_up, now + d)).unwrap();
            line == format!("svc: {t}")
        });
        assert!(ok, "{name}: ours `svc: {text}` vs reference `{line}`");
        assert_eq!(st.encode(), bytes, "{name}: re-encoding differs");
    }
}

#[test]
fn every_state_is_covered() {
    let all: Vec<String> = cases().into_iter().map(|c| c.4).collect();
    for needle in [
        "up (pid ",
        ", paused",
        ", want down",
        ", want up",
        ", normally up",
        ", normally down",
        "svc: down ",
    ] {
        assert!(
            all.iter().any(|l| l.contains(needle)),
            "no golden case shows {needle:?}"
        );
    }
}

/// A fake service dir holding `bytes` as its status, with a reader on the
/// ok fifo so that svstat sees "supervise running".
struct Fake {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    _ok: fs::File,
}

fn fake(bytes: &[u8], normally_up: bool) -> Fake {
    let tmp = support::tempdir();
    let root = tmp.path().to_path_buf();
    let sv = root.join("svc/supervise");
    fs::create_dir_all(&sv).unwrap();
    fs::write(sv.join("status"), bytes).unwrap();
    nix::unistd::mkfifo(
        &sv.join("ok"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let ok = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(sv.join("ok"))
        .unwrap();
    if !normally_up {
        fs::write(root.join("svc/down"), "").unwrap();
    }
    Fake {
        _tmp: tmp,
        root,
        _ok: ok,
    }
}

/// Runs ours, the reference, ours: the reference must equal one of ours
/// (a second boundary may fall between two runs).
fn same_as_reference(root: &Path, args: &[&str]) {
    let Some(refbin) = support::reference("svstat") else {
        return;
    };
    let a = support::run(support::bin("svstat"), args, root);
    let r = support::run(&refbin, args, root);
    let b = support::run(support::bin("svstat"), args, root);
    assert!(
        r.stdout == a.stdout || r.stdout == b.stdout,
        "reference {:?} vs ours {:?}",
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&a.stdout)
    );
    assert_eq!(r.stderr, a.stderr);
    assert_eq!(r.status.code(), a.status.code());
}

#[test]
fn live_side_by_side_on_golden_records() {
    for (_, bytes, normally_up, _, _) in cases() {
        let f = fake(&bytes, normally_up);
        same_as_reference(&f.root, &["svc"]);
    }
}

#[test]
fn bad_records_side_by_side() {
    // truncated, empty, and random 18+ byte records, longer records
    let mut inputs: Vec<Vec<u8>> = vec![vec![], vec![0x40; 5], vec![0; 17]];
    let mut seed = 0x12345678u32;
    for len in [18usize, 18, 18, 20, 40] {
        let v: Vec<u8> = (0..len)
            .map(|_| {
                seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
                (seed >> 24) as u8
            })
            .collect();
        inputs.push(v);
    }
    // a plausible 20-byte record (runit/encore style) reads as its 18 bytes
    let mut twenty = fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/status/up-want-down.status"),
    )
    .unwrap();
    twenty.extend_from_slice(&[1, 1]);
    inputs.push(twenty);
    for bytes in inputs {
        for normally_up in [true, false] {
            let f = fake(&bytes, normally_up);
            let ours = support::run(support::bin("svstat"), &["svc"], &f.root);
            assert_eq!(ours.status.code(), Some(0));
            assert!(ours.stderr.is_empty());
            assert!(ours.stdout.starts_with(b"svc: ") && ours.stdout.ends_with(b"\n"));
            if bytes.len() < LEN {
                assert_eq!(
                    ours.stdout,
                    b"svc: unable to read supervise/status: bad format\n"
                );
            }
            same_as_reference(&f.root, &["svc"]);
        }
    }
}

#[test]
fn directory_problems_side_by_side() {
    let tmp = support::tempdir();
    let root = tmp.path();
    fs::create_dir_all(root.join("nosup")).unwrap();
    fs::write(root.join("afile"), "").unwrap();
    fs::create_dir_all(root.join("loop")).unwrap();
    std::os::unix::fs::symlink("down", root.join("loop/down")).unwrap();
    fs::create_dir_all(root.join("notrunning/supervise")).unwrap();
    nix::unistd::mkfifo(
        &root.join("notrunning/supervise/ok"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    fs::create_dir_all(root.join("nostatus/supervise")).unwrap();
    fs::write(root.join("nostatus/supervise/ok"), "").unwrap();
    let args = [
        "nonexistent",
        "afile",
        "loop",
        "nosup",
        "notrunning",
        "nostatus",
        "-l",
        "--",
    ];
    let ours = support::run(support::bin("svstat"), &args, root);
    assert_eq!(
        String::from_utf8_lossy(&ours.stdout),
        "nonexistent: unable to chdir: file does not exist\n\
         afile: unable to chdir: not a directory\n\
         loop: unable to stat down: symbolic link loop\n\
         nosup: unable to open supervise/ok: file does not exist\n\
         notrunning: supervise not running\n\
         nostatus: unable to open supervise/status: file does not exist\n\
         -l: unable to chdir: file does not exist\n\
         --: unable to chdir: file does not exist\n"
    );
    assert_eq!(ours.status.code(), Some(0));
    same_as_reference(root, &args);
    // no arguments: nothing, exit 0
    let none = support::run(support::bin("svstat"), &[], root);
    assert!(none.stdout.is_empty() && none.stderr.is_empty());
    assert_eq!(none.status.code(), Some(0));
}

#[test]
fn unreadable_status_is_reported_not_garbled() {
    // Deliberate difference from 0.76, which formats stale buffer bytes.
    let f = fake(b"", true);
    let st = f.root.join("svc/supervise/status");
    fs::remove_file(&st).unwrap();
    fs::create_dir(&st).unwrap();
    let out = support::run(support::bin("svstat"), &["svc"], &f.root);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "svc: unable to read supervise/status: is a directory\n"
    );
    assert_eq!(out.status.code(), Some(0));
}
