//! Disk full: multilog on a small tmpfs pauses with the reference's
//! message when a write fails, retries every 5 seconds, and once space
//! returns carries on without losing or repeating a byte.
//! Skipped (with a message) where a tmpfs cannot be mounted.

use crate::support;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A tmpfs mounted for the test, unmounted on drop (also on failure).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// Collects the process's stderr in a thread, as it comes.
fn gather_stderr(p: &mut support::Proc) -> (Arc<Mutex<Vec<u8>>>, std::thread::JoinHandle<()>) {
    let err = Arc::new(Mutex::new(Vec::new()));
    let mut e = p.child.stderr.take().unwrap();
    let sink = err.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok(n) = e.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend(&buf[..n]);
        }
    });
    (err, reader)
}

#[test]
fn disk_full_pauses_and_loses_nothing() {
    let outer = support::tempdir();
    let mnt = outer.path().join("fs");
    fs::create_dir(&mnt).unwrap();
    let Some(_fs) = Tmpfs::mount(&mnt, "1m") else {
        return support::skip("cannot mount a tmpfs here (needs root); disk-full test not run");
    };
    // Ballast fills most of the 1 MB; the log needs more than is left.
    fs::write(mnt.join("ballast"), vec![0u8; 640 * 1024]).unwrap();
    let input = support::logs::numbered(6000, 80, "d"); // about 530 KB
    let mut p = support::spawn(
        support::bin("multilog"),
        &["s65536", "n1000", "./log"],
        &mnt,
        |c| {
            c.stdin(Stdio::piped()).stderr(Stdio::piped());
        },
    );
    let (err, reader) = gather_stderr(&mut p);
    let feeder = {
        let mut w = p.child.stdin.take().unwrap();
        let input = input.clone();
        std::thread::spawn(move || {
            let _ = w.write_all(&input);
        })
    };
    let warning =
        "multilog: warning: unable to write to ./log/current, pausing: out of disk space\n";
    let full = support::wait_until(support::LONG, || {
        String::from_utf8_lossy(&err.lock().unwrap()).contains(warning)
    });
    assert!(
        full,
        "no pause: {}",
        String::from_utf8_lossy(&err.lock().unwrap())
    );
    // Space comes back; within one pause multilog goes on.
    fs::remove_file(mnt.join("ballast")).unwrap();
    feeder.join().unwrap();
    let st = p
        .wait_timeout(Duration::from_secs(30))
        .expect("multilog finishes");
    assert_eq!(st.code(), Some(0));
    reader.join().unwrap();
    let err = String::from_utf8(err.lock().unwrap().clone()).unwrap();
    assert!(err.lines().all(|l| format!("{l}\n") == warning), "{err}");
    assert_eq!(
        support::logs::all_data(&mnt.join("log")),
        input,
        "every line once, in order"
    );
}

/// Issue 16 §5: with `D`, a full disk drops lines instead of pausing:
/// what fits is written in whole lines, and when space returns a marker
/// `multilog: N lines dropped (disk full)` says exactly how many lines
/// are missing before it.
#[test]
fn drop_policy_counts_exactly_on_a_full_tmpfs() {
    let outer = support::tempdir();
    let mnt = outer.path().join("fs");
    fs::create_dir(&mnt).unwrap();
    let Some(_fs) = Tmpfs::mount(&mnt, "1m") else {
        return support::skip("cannot mount a tmpfs here (needs root); drop test not run");
    };
    fs::write(mnt.join("ballast"), vec![0u8; 800 * 1024]).unwrap();
    // Part 1 (about 400 KB) cannot fit; its last line is echoed to
    // stderr once multilog has taken it. Part 2 comes after the space.
    let line = |i: usize| format!("n{i:06} {}\n", "x".repeat(i % 150));
    let part1: String = (0..5000).map(line).chain(["END1\n".to_string()]).collect();
    // END1 counts as line 5000.
    let part2: String = (5001..5201).map(line).collect();
    let mut p = support::spawn(
        support::bin("multilog"),
        &["t", "M16m", "D", "./log", "-*", "+* END1", "e"],
        &mnt,
        |c| {
            c.stdin(Stdio::piped()).stderr(Stdio::piped());
        },
    );
    let (err, reader) = gather_stderr(&mut p);
    let mut w = p.child.stdin.take().unwrap();
    w.write_all(part1.as_bytes()).unwrap();
    let stderr = || String::from_utf8_lossy(&err.lock().unwrap()).into_owned();
    assert!(
        support::wait_until(support::LONG, || stderr().contains(" END1\n")),
        "multilog did not get through part 1: {}",
        stderr()
    );
    fs::remove_file(mnt.join("ballast")).unwrap();
    w.write_all(part2.as_bytes()).unwrap();
    drop(w);
    let st = p
        .wait_timeout(Duration::from_secs(30))
        .expect("multilog finishes");
    assert_eq!(st.code(), Some(0));
    reader.join().unwrap();
    let err = stderr();
    assert!(
        err.contains(
            "multilog: warning: unable to write to ./log/current, dropping lines: out of disk space\n"
        ),
        "{err}"
    );
    assert!(!err.contains("pausing"), "{err}");
    // Every line is there whole, or counted by the markers between it
    // and the line before it.
    let data = support::logs::all_data(&mnt.join("log"));
    let text = String::from_utf8(support::logs::strip_stamps(&data)).unwrap();
    let (mut next, mut announced, mut markers, mut dropped) = (0usize, 0usize, 0, 0);
    for l in text.lines() {
        if let Some(n) = l
            .strip_prefix("multilog: ")
            .and_then(|r| r.strip_suffix(" lines dropped (disk full)"))
        {
            let n: usize = n.parse().unwrap();
            (announced, markers, dropped) = (announced + n, markers + 1, dropped + n);
            continue;
        }
        let i = if l == "END1" {
            5000
        } else {
            let i: usize = l[1..7]
                .parse()
                .unwrap_or_else(|_| panic!("torn line {l:?}"));
            assert_eq!(format!("{l}\n"), line(i), "torn line");
            i
        };
        assert!(i >= next, "line {i} out of order");
        assert_eq!(i - next, announced, "lines missing before line {i}");
        (next, announced) = (i + 1, 0);
    }
    assert_eq!((announced, next), (0, 5201), "the last lines are there");
    assert!(
        markers >= 1 && dropped > 1000,
        "{markers} markers, {dropped} dropped"
    );
}
