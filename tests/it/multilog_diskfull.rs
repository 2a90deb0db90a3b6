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
    let err = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let err = err.clone();
        let mut e = p.child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok(n) = e.read(&mut buf) {
                if n == 0 {
                    break;
                }
                err.lock().unwrap().extend(&buf[..n]);
            }
        })
    };
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
