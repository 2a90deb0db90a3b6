//! Crash safety: multilog is fed a numbered stream through a pipe and
//! killed with SIGKILL at many random points (during writes, rotations,
//! processor runs and start-up recovery), then restarted on the same pipe.
//!
//! At each kill, multilog (and its processor) is first stopped and the log
//! directory read: every line found there has been *accepted* (it is in a
//! file). Afterwards every accepted line must appear exactly once, all
//! lines must be in order without duplicates, and lines may be missing
//! only right after a kill point (input that multilog had read but not yet
//! written, as with daemontools, at most one read's worth).

use crate::support;
use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::support::logs::{Rng, archives};

/// The shortest input line is 13 bytes and multilog reads at most 64 KiB
/// at a time: the most lines one kill can lose.
const MAX_LOST_PER_KILL: u64 = 65536 / 13 + 2;

fn line(i: u64) -> String {
    format!("L{i:08}:{}:E\n", "x".repeat((i % 50) as usize))
}

/// The line number if `text` (stamp removed) is a complete line.
fn parse(text: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(text).ok()?;
    let n: u64 = s.get(1..9)?.parse().ok()?;
    (s.starts_with('L') && s == line(n).trim_end_matches('\n')).then_some(n)
}

/// The line numbers of one file, in order (stamps stripped; torn lines,
/// such as the tail of a line whose start a killed multilog had consumed,
/// are skipped).
fn numbers_in(path: &Path) -> Vec<u64> {
    let Ok(data) = fs::read(path) else {
        return Vec::new();
    };
    data.split(|&c| c == b'\n')
        .filter(|l| l.len() > 26)
        .filter_map(|l| parse(&l[26..]))
        .collect()
}

/// Every line number found in any file of the directory.
fn accepted(dir: &Path) -> BTreeSet<u64> {
    let mut set = BTreeSet::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                set.extend(numbers_in(&e.path()));
            }
        }
    }
    set
}

/// The final log: archives oldest first, then current.
fn final_sequence(dir: &Path) -> Vec<u64> {
    let mut v = Vec::new();
    for n in archives(dir) {
        v.extend(numbers_in(&dir.join(n)));
    }
    v.extend(numbers_in(&dir.join("current")));
    v
}

fn children(pid: i32) -> Vec<i32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// `pid` and all its descendants.
fn tree(pid: i32) -> Vec<i32> {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        all.extend(children(all[i]));
        i += 1;
    }
    all
}

fn stopped(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next());
            matches!(state, Some("T") | Some("t") | Some("Z"))
        })
        .unwrap_or(true)
}

#[test]
fn sigkill_at_random_points_loses_no_accepted_line() {
    kill_repeatedly(40, 0xdead_beef_0076);
}

/// The same with 25 times the kills, at other points (the long tier:
/// `cargo test --profile ci -- --include-ignored`).
#[test]
#[ignore = "long tier: a minute or more"]
fn sigkill_at_many_more_random_points_loses_no_accepted_line() {
    kill_repeatedly(1000, 0x0076_beef_dead);
}

/// Kills multilog `kills` times (every third time inside a processor run,
/// the others after a random delay drawn from `seed`), restarting it on the
/// same pipe each time, then checks what the log holds.
fn kill_repeatedly(kills: usize, seed: u64) {
    let d = support::tempdir();
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = {
        let stop = stop.clone();
        let mut w = fs::File::from(w);
        std::thread::spawn(move || {
            let mut i = 0u64;
            let mut batch = String::new();
            while !stop.load(Ordering::SeqCst) {
                batch.clear();
                for _ in 0..20 {
                    batch.push_str(&line(i));
                    i += 1;
                }
                w.write_all(batch.as_bytes()).unwrap();
            }
            i
        })
    };
    // The processor marks that it runs, and waits for `go` before it
    // copies: the test holds it there to kill inside a processor run.
    let (running, go) = (d.path().join("processor-running"), d.path().join("go"));
    fs::write(&go, "").unwrap();
    let processor =
        "!touch ../processor-running; while [ ! -e ../go ]; do sleep 0.01; done; exec cat";
    let args = ["t", "s4096", "n100000", "./plain", processor, "./proc"];
    let dirs = [d.path().join("plain"), d.path().join("proc")];
    let mut rng = Rng(seed);
    // Per kill and directory: the highest line number accepted.
    let mut frontiers: Vec<[u64; 2]> = Vec::new();
    let mut must_have: [BTreeSet<u64>; 2] = [BTreeSet::new(), BTreeSet::new()];
    let (mut in_processor, mut in_rotation) = (0, 0);
    let t0 = Instant::now();
    for k in 0..kills {
        let inside = k % 3 == 0;
        if inside {
            // The next processor run waits.
            let _ = fs::remove_file(&running);
            fs::remove_file(&go).unwrap();
        }
        let stdin = r.try_clone().unwrap();
        let errlog = fs::File::create(d.path().join("stderr")).unwrap();
        let p = support::spawn(support::bin("multilog"), &args, d.path(), |c| {
            c.stdin(Stdio::from(stdin)).stderr(errlog);
        });
        let pid = p.pid();
        if inside {
            assert!(
                support::wait_until(support::LONG, || running.exists()),
                "no processor run (kill {k}): multilog {:?} in {:?}, children {:?}, said {:?}, proc/ {:?}",
                support::stat_fields(pid).map(|f| f[0].clone()),
                support::syscall(pid),
                tree(pid),
                fs::read_to_string(d.path().join("stderr")),
                fs::read_dir(&dirs[1]).map(|rd| rd
                    .filter_map(|e| e.ok().map(|e| e.file_name()))
                    .filter(|n| !n.to_string_lossy().starts_with('@'))
                    .collect::<Vec<_>>()),
            );
        } else {
            // At a random point: the kill lands wherever multilog is.
            std::thread::sleep(Duration::from_millis(rng.below(40)));
        }
        // Stop multilog first (a stopped process cannot fork), then its
        // processor, if one runs.
        support::send_signal(pid, 19);
        assert!(support::wait_until(support::LONG, || stopped(pid)));
        let procs = tree(pid);
        for &q in &procs[1..] {
            support::send_signal(q, 19);
        }
        if procs.len() > 1 {
            in_processor += 1;
        }
        if dirs[1].join("previous").exists() || dirs[0].join("previous").exists() {
            in_rotation += 1;
        }
        let mut f = [0u64; 2];
        for (j, dir) in dirs.iter().enumerate() {
            let acc = accepted(dir);
            f[j] = acc.last().copied().unwrap_or(0);
            must_have[j].extend(acc);
        }
        frontiers.push(f);
        for &q in procs.iter().rev() {
            support::send_signal(q, 9);
        }
        drop(p); // reaps multilog
        // A child killed between its fork and exec holds multilog's locks
        // until it is gone: the next multilog must find them free.
        assert!(
            support::wait_until(support::LONG, || procs.iter().all(|&q| !support::alive(q))),
            "killed processes linger: {procs:?}"
        );
        if inside {
            fs::write(&go, "").unwrap();
        }
    }
    // The last run: feed the rest, then EOF.
    let stdin = r.try_clone().unwrap();
    drop(r);
    let mut p = support::spawn(support::bin("multilog"), &args, d.path(), |c| {
        c.stdin(Stdio::from(stdin));
    });
    // Let it take new lines while the feeder still runs, then stop feeding.
    let last_kill = frontiers.iter().map(|f| f[0]).max().unwrap_or(0);
    assert!(
        support::wait_until(support::LONG, || accepted(&dirs[0])
            .last()
            .is_some_and(|&n| n > last_kill + MAX_LOST_PER_KILL)),
        "the last run takes no new line"
    );
    stop.store(true, Ordering::SeqCst);
    // The feeder ends (and closes the pipe) only if multilog keeps
    // reading: wait for multilog first, so a stuck one fails the test
    // (and is killed) instead of hanging it.
    let st = p
        .wait_timeout(Duration::from_secs(60))
        .expect("final run ends at EOF");
    assert_eq!(st.code(), Some(0));
    let total = feeder.join().unwrap();
    eprintln!(
        "{kills} kills ({in_processor} in a processor run, {in_rotation} during a rotation), \
         {total} lines, {:?}",
        t0.elapsed()
    );
    assert!(
        in_processor >= (0..kills).filter(|k| k % 3 == 0).count(),
        "kills inside the processor: {in_processor}"
    );

    for (j, dir) in dirs.iter().enumerate() {
        let seq = final_sequence(dir);
        // In order, no line twice.
        for w in seq.windows(2) {
            assert!(w[0] < w[1], "{}: {} then {}", dir.display(), w[0], w[1]);
        }
        let have: BTreeSet<u64> = seq.iter().copied().collect();
        // Every accepted line is there.
        let lost: Vec<&u64> = must_have[j].difference(&have).collect();
        assert!(
            lost.is_empty(),
            "{}: accepted lines lost: {lost:?}",
            dir.display()
        );
        // Missing lines only right after a kill point.
        for m in (0..total).filter(|m| !have.contains(m)) {
            assert!(
                frontiers
                    .iter()
                    .any(|f| m > f[j] && m <= f[j] + MAX_LOST_PER_KILL),
                "{}: line {m} missing, not near a kill point",
                dir.display()
            );
        }
        // The last run lost nothing: everything after the last kill's
        // losses is there, up to the end.
        assert_eq!(seq.last().copied(), Some(total - 1));
    }
}
