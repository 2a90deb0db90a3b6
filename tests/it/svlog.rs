//! svlog: reading multilog directories. Synthetic directories (archives
//! with known stamps, compressed and unclean ones, a line split by a
//! rotation, foreign files) for order, `-n` and time windows across 200
//! rotated files; our multilog rotating every few lines for `-f`, with a
//! fast and a slowed reader, with a processor and with an outside
//! compressor; bad input (truncated gzip, a 100 MB line under a memory
//! limit, a `current` without its final newline).

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flate2::{Compression, write::GzEncoder};

use crate::support::{self, LONG, bin, logs::Rng, spawn, tempdir, wait_until};

const EPOCH_LABEL: u64 = 0x4000_0000_0000_000a;
/// 2026-09-21T14:13:20Z: the synthetic logs start here.
const BASE: i64 = 1_790_000_000;
const TZ: &str = "Europe/Amsterdam";

fn label(secs: i64, nano: u32) -> String {
    format!(
        "@{:016x}{:08x}",
        EPOCH_LABEL.wrapping_add(secs as u64),
        nano
    )
}

fn svlog(args: &[&str], cwd: &Path) -> Output {
    Command::new(bin("svlog"))
        .args(args)
        .current_dir(cwd)
        .env("TZ", TZ)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(o: &Output) -> &[u8] {
    assert!(
        o.status.success(),
        "svlog failed: {:?}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    &o.stdout
}

/// Debian's program, or None (a failure under CI=true, where the peers
/// must be installed).
fn reference(name: &str) -> Option<PathBuf> {
    let r = support::reference(name);
    if r.is_none() && std::env::var("CI").as_deref() == Ok("true") {
        panic!("reference {name} missing under CI");
    }
    r
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .read_to_end(&mut v)
        .unwrap();
    v
}

/// A line as svlog shows it with --raw, and its stamp.
#[derive(Clone, Debug)]
struct Line {
    secs: i64,
    text: Vec<u8>,
}

/// A synthetic log directory with the lines it holds, in order.
struct Synth {
    lines: Vec<Line>,
    archives: Vec<String>,
}

/// Writes `files` archives of `per` lines and a `current` of `per` lines;
/// line k is stamped BASE + 10 k seconds (+ `shift`), an archive is named
/// one second after its last line. Every 5th archive is compressed, every
/// 7th is a `.u` whose last line is cut off, archive 3 ends inside a line
/// that archive 4 finishes (a rotation split), and foreign files lie
/// beside them.
fn synth(dir: &Path, files: usize, per: usize, shift: i64) -> Synth {
    fs::create_dir_all(dir).unwrap();
    let mut lines = Vec::new();
    let mut archives = Vec::new();
    let mut k = 0i64;
    let mut carry: Vec<u8> = Vec::new();
    for f in 0..=files {
        let mut data = std::mem::take(&mut carry);
        let mut last = 0;
        for j in 0..per {
            let secs = BASE + shift + 10 * k;
            last = secs;
            let text = format!(
                "{} file {f} line {j} n={k} {}",
                label(secs, 123_456_500),
                "x".repeat((k as usize * 7) % 90)
            );
            k += 1;
            let split = f == 3 && j == per - 1;
            let cut = f != files && f % 7 == 6 && j == per - 1;
            if split {
                // The line goes on in the next file.
                data.extend_from_slice(text.as_bytes());
                carry = b" (continued)\n".to_vec();
                let mut whole = text.into_bytes();
                whole.extend_from_slice(b" (continued)\n");
                lines.push(Line { secs, text: whole });
            } else if cut {
                let part = &text.as_bytes()[..30];
                data.extend_from_slice(part);
                let mut shown = part.to_vec();
                shown.push(b'\n');
                lines.push(Line { secs, text: shown });
            } else {
                data.extend_from_slice(text.as_bytes());
                data.push(b'\n');
                let mut shown = text.into_bytes();
                shown.push(b'\n');
                lines.push(Line { secs, text: shown });
            }
        }
        if f == files {
            fs::write(dir.join("current"), &data).unwrap();
            break;
        }
        let kind = if f % 7 == 6 { 'u' } else { 's' };
        let mut name = format!("{}.{kind}", label(last + 1, 0));
        if f % 5 == 4 {
            name.push_str(".gz");
            fs::write(dir.join(&name), gzip(&data)).unwrap();
        } else {
            fs::write(dir.join(&name), &data).unwrap();
        }
        archives.push(name);
    }
    for (name, body) in [("lock", ""), ("state", ""), ("README", "not a log")] {
        fs::write(dir.join(name), body).unwrap();
    }
    Synth { lines, archives }
}

/// Compares outputs line by line, naming the first difference.
#[track_caller]
fn same(got: &[u8], want: &[u8], what: &str) {
    if got == want {
        return;
    }
    let g: Vec<&[u8]> = got.split(|&c| c == b'\n').collect();
    let w: Vec<&[u8]> = want.split(|&c| c == b'\n').collect();
    let i = g
        .iter()
        .zip(&w)
        .position(|(a, b)| a != b)
        .unwrap_or(g.len().min(w.len()));
    let show = |v: &[&[u8]]| {
        v.get(i)
            .map(|l| String::from_utf8_lossy(&l[..l.len().min(80)]).to_string())
    };
    panic!(
        "{what}: {} lines, want {}; first difference at line {i}: {:?} vs {:?}",
        g.len(),
        w.len(),
        show(&g),
        show(&w)
    );
}

fn joined(lines: &[Line]) -> Vec<u8> {
    lines.iter().flat_map(|l| l.text.clone()).collect()
}

#[test]
fn order_across_200_rotated_files() {
    let t = tempdir();
    let d = t.path().join("log");
    let s = synth(&d, 200, 5, 0);
    let want = joined(&s.lines);
    same(ok(&svlog(&["--raw", "log"], t.path())), &want[..], "");
    // The line-by-line path (a window) gives the same.
    let o = svlog(&["--raw", "--since", "@0", "log"], t.path());
    same(ok(&o), &want, "line by line");

    // The default display is tai64nlocal's, byte for byte.
    let conv = |prog: &Path| {
        let mut c = Command::new(prog)
            .env("TZ", TZ)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut inp = c.stdin.take().unwrap();
        let data = want.clone();
        let w = std::thread::spawn(move || inp.write_all(&data).unwrap());
        let out = c.wait_with_output().unwrap();
        w.join().unwrap();
        out.stdout
    };
    let local = svlog(&["log"], t.path());
    same(ok(&local), &conv(&bin("tai64nlocal"))[..], "");
    let o = svlog(&["--until", "tomorrow", "log"], t.path());
    same(ok(&o), &local.stdout, "line by line");
    if let Some(r) = reference("tai64nlocal") {
        same(ok(&local), &conv(&r)[..], "");
    }
    assert!(
        local
            .stdout
            .starts_with(b"2026-09-21 16:13:20.123456500 file 0 line 0")
    );

    // --utc: RFC 3339 in UTC, the rest untouched.
    let utc = svlog(&["--utc", "log"], t.path());
    let utc = ok(&utc);
    assert!(utc.starts_with(b"2026-09-21T14:13:20.123456500Z file 0 line 0 n=0"));
    assert_eq!(utc.split(|&c| c == b'\n').count(), s.lines.len() + 1);

    // A foreign `@` file is reported and skipped; the rest is read.
    fs::write(d.join("@notes.txt"), "x\n").unwrap();
    let o = svlog(&["--raw", "log"], t.path());
    assert!(o.status.success());
    assert_eq!(o.stdout, want);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("svlog: warning: log/@notes.txt: skipped: not a log file name"),
        "{err}"
    );
}

#[test]
fn last_lines_across_files_match_the_whole() {
    let t = tempdir();
    let s = synth(&t.path().join("log"), 200, 5, 0);
    let all = &s.lines;
    for n in [0usize, 1, 2, 5, 6, 7, 37, 999, 1000, 1004, 1005, 5000] {
        let o = svlog(&["--raw", "-n", &n.to_string(), "log"], t.path());
        let want = joined(&all[all.len().saturating_sub(n)..]);
        same(ok(&o), &want, &format!("-n {n}"));
    }
    // The line split by a rotation counts once, read backward through a
    // compressed file and an unclean one.
    let split = all
        .iter()
        .position(|l| l.text.ends_with(b" (continued)\n"))
        .unwrap();
    let n = all.len() - split;
    let o = svlog(&["--raw", &format!("-n{n}"), "log"], t.path());
    same(ok(&o), &joined(&all[split..])[..], "");
}

fn iso(secs: i64) -> String {
    let o = Command::new("date")
        .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%S+00:00"])
        .output()
        .unwrap();
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

fn local(secs: i64) -> String {
    let o = Command::new("date")
        .env("TZ", TZ)
        .args(["-d", &format!("@{secs}"), "+%Y-%m-%d %H:%M:%S"])
        .output()
        .unwrap();
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

#[test]
fn time_windows_across_200_rotated_files() {
    let t = tempdir();
    let d = t.path().join("log");
    let s = synth(&d, 200, 5, 0);
    let all = &s.lines;
    let mut rng = Rng(0x5171_0c0d);
    for case in 0..40 {
        let a = rng.below(all.len() as u64) as usize;
        let b = a + rng.below((all.len() - a) as u64) as usize;
        // Stamps end in .123456500: since = line a's second takes line a.
        let (since, until) = (all[a].secs, all[b].secs + 1);
        let (s_arg, u_arg) = match case % 3 {
            0 => (local(since), local(until)),
            1 => (iso(since), iso(until)),
            _ => (format!("@{since}"), format!("@{until}")),
        };
        let want: Vec<Line> = all
            .iter()
            .filter(|l| since <= l.secs && l.secs <= until)
            .cloned()
            .collect();
        let o = svlog(
            &["--raw", "--since", &s_arg, "--until", &u_arg, "log"],
            t.path(),
        );
        same(
            ok(&o),
            &joined(&want),
            &format!("case {case}: {s_arg} .. {u_arg}"),
        );
        let n = 1 + rng.below(8) as usize;
        let o = svlog(
            &[
                "--raw",
                "-n",
                &n.to_string(),
                "--since",
                &s_arg,
                "--until",
                &u_arg,
                "log",
            ],
            t.path(),
        );
        same(
            ok(&o),
            &joined(&want[want.len().saturating_sub(n)..]),
            &format!("case {case} -n {n}"),
        );
    }
    // Half open windows, and one that holds nothing.
    let mid = all[500].secs;
    let o = svlog(&["--raw", "--since", &format!("@{mid}"), "log"], t.path());
    same(ok(&o), &joined(&all[500..])[..], "");
    // Line 500 is stamped at mid + 0.1234565 s.
    let o = svlog(&["--raw", "--until", &format!("@{mid}"), "log"], t.path());
    same(ok(&o), &joined(&all[..500])[..], "");
    let o = svlog(
        &["--raw", "--since", "@100", "--until", "@200", "log"],
        t.path(),
    );
    same(ok(&o), b"", "");

    // The window is found from the archive names: an early archive that
    // cannot be read is never opened when the window is later.
    let victim = d.join(&s.archives[20]);
    let mut bytes = fs::read(&victim).unwrap();
    bytes.truncate(bytes.len() / 2);
    let bad = d.join(format!("{}.gz", &s.archives[20][..27]));
    fs::remove_file(&victim).unwrap();
    fs::write(&bad, &bytes).unwrap();
    let o = svlog(&["--raw", "--since", &format!("@{mid}"), "log"], t.path());
    same(ok(&o), &joined(&all[500..])[..], "");
    let o = svlog(&["--raw", "log"], t.path());
    assert_eq!(o.status.code(), Some(111));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("svlog: warning: unable to read log/@"),
        "{err}"
    );
    assert!(err.contains("compressed"), "{err}");
    // Everything after the damaged file is still there.
    assert!(o.stdout.ends_with(&joined(&all[200..])));
}

#[test]
fn readable_stamps_and_lines_without_stamps() {
    let t = tempdir();
    let d = t.path().join("log");
    fs::create_dir(&d).unwrap();
    // An archive with RFC 3339 stamps (UTC and with offsets: 16:13:50+02:00
    // is BASE + 30), then a current mixing them with unstamped lines.
    let first = iso(BASE).replace("+00:00", "Z");
    let third = iso(BASE + 90);
    fs::write(
        d.join(format!("{}.s", label(BASE + 100, 0))),
        format!("{first} first\n2026-09-21T16:13:50.5+02:00 second\n{third} third\n"),
    )
    .unwrap();
    fs::write(
        d.join("current"),
        format!("no stamp\n{} fifth\nalso none\n", label(BASE + 300, 0)),
    )
    .unwrap();
    let o = svlog(&["--since", &format!("@{}", BASE + 30), "log"], t.path());
    // Readable stamps are shown as they are; lines without a stamp in a
    // file whose span meets the window are shown.
    assert_eq!(
        String::from_utf8_lossy(ok(&o)),
        format!(
            "2026-09-21T16:13:50.5+02:00 second\n{third} third\nno stamp\n{}.000000000 fifth\nalso none\n",
            local(BASE + 300)
        )
    );
    let o = svlog(
        &["--raw", "--until", &format!("@{}", BASE + 31), "log"],
        t.path(),
    );
    assert_eq!(
        String::from_utf8_lossy(ok(&o)),
        format!("{first} first\n2026-09-21T16:13:50.5+02:00 second\n")
    );
    // Before the archive's rotation, current's unstamped lines cannot be.
    let o = svlog(
        &["--raw", "--until", &format!("@{}", BASE + 99), "log"],
        t.path(),
    );
    assert!(!String::from_utf8_lossy(ok(&o)).contains("stamp"));
}

#[test]
fn several_directories_merge_in_time_order_with_tags() {
    let t = tempdir();
    // A service directory (log/main) and a plain log directory, stamps
    // interleaved 5 s apart.
    let a = synth(&t.path().join("web/log/main"), 30, 4, 0);
    let b = synth(&t.path().join("var/database"), 20, 6, 5);
    let mut want: Vec<(i64, usize, Vec<u8>)> = Vec::new();
    for (i, (s, tag)) in [(&a, "web     "), (&b, "database")].iter().enumerate() {
        for l in &s.lines {
            let mut v = format!("{tag} | ").into_bytes();
            v.extend_from_slice(&l.text);
            want.push((l.secs, i, v));
        }
    }
    want.sort_by_key(|w| (w.0, w.1));
    let all: Vec<u8> = want.iter().flat_map(|w| w.2.clone()).collect();
    let o = svlog(&["--raw", "web", "var/database"], t.path());
    same(ok(&o), &all, "merged");
    for n in [1usize, 3, 10, 100, 500] {
        let o = svlog(
            &["--raw", "-n", &n.to_string(), "web", "var/database"],
            t.path(),
        );
        let tail: Vec<u8> = want[want.len().saturating_sub(n)..]
            .iter()
            .flat_map(|w| w.2.clone())
            .collect();
        same(ok(&o), &tail, &format!("-n {n}"));
    }
    // A window over both.
    let (since, until) = (BASE + 200, BASE + 400);
    let o = svlog(
        &[
            "--raw",
            "--since",
            &format!("@{since}"),
            "--until",
            &format!("@{until}"),
            "web",
            "var/database",
        ],
        t.path(),
    );
    let win: Vec<u8> = want
        .iter()
        .filter(|w| since <= w.0 && w.0 < until)
        .flat_map(|w| w.2.clone())
        .collect();
    same(ok(&o), &win[..], "");
}

#[test]
fn bad_arguments_and_directories() {
    let t = tempdir();
    fs::create_dir(t.path().join("empty")).unwrap();
    fs::write(t.path().join("file"), "x").unwrap();
    for (args, code, err) in [
        (&["--utc", "--raw", "x"][..], 100, "svlog: usage: svlog "),
        (&["-n", "many", "x"], 100, "svlog: usage: "),
        (
            &["-f", "--until", "now", "x"],
            100,
            "svlog: usage: -f cannot be combined",
        ),
        (
            &["--since", "next tuesday", "x"],
            100,
            "svlog: fatal: unable to understand --since time next tuesday",
        ),
        (
            &["nonexistent"],
            111,
            "svlog: fatal: unable to open directory nonexistent: file does not exist",
        ),
        (
            &["file"],
            111,
            "svlog: fatal: unable to open directory file: not a directory",
        ),
        (
            &["empty"],
            111,
            "svlog: fatal: no log in empty: it has no current",
        ),
        (&[], 100, "svlog: usage: "),
    ] {
        let o = svlog(args, t.path());
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {e}");
        assert!(e.starts_with(err), "{args:?}: {e}");
        assert!(o.stdout.is_empty());
    }
}

#[test]
fn current_without_final_newline_and_huge_lines() {
    let t = tempdir();
    let d = t.path().join("log");
    fs::create_dir(&d).unwrap();
    fs::write(
        d.join(format!("{}.s", label(BASE, 0))),
        format!("{} old\n", label(BASE - 1, 0)),
    )
    .unwrap();
    // A 100 MB line, then a line without its newline.
    {
        let mut f = fs::File::create(d.join("current")).unwrap();
        f.write_all(label(BASE + 1, 0).as_bytes()).unwrap();
        f.write_all(b" ").unwrap();
        let block = vec![b'y'; 1 << 20];
        for _ in 0..100 {
            f.write_all(&block).unwrap();
        }
        f.write_all(b"\n").unwrap();
        f.write_all(format!("{} cut", label(BASE + 2, 0)).as_bytes())
            .unwrap();
    }
    // Under a 64 MB address-space limit (our softlimit), to a file.
    for args in [
        &["log"][..],
        &["--raw", "-n", "2", "log"],
        &["--utc", "--since", &format!("@{}", BASE + 1), "log"],
    ] {
        let out = t.path().join("out");
        let prog = bin("svlog");
        let mut full = vec!["-a", "64000000", prog.to_str().unwrap()];
        full.extend_from_slice(args);
        let o = Command::new(bin("softlimit"))
            .args(&full)
            .current_dir(t.path())
            .env("TZ", TZ)
            .stdout(fs::File::create(&out).unwrap())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {:?} {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            e,
            "svlog: warning: log/current: the last line has no newline yet (printed with one)\n"
        );
        let got = fs::read(&out).unwrap();
        let lines: Vec<&[u8]> = got.split_inclusive(|&c| c == b'\n').collect();
        let n = lines.len();
        assert!(lines[n - 1].ends_with(b" cut\n"), "{args:?}");
        let huge = lines[n - 2];
        assert_eq!(
            huge.iter().filter(|&&c| c == b'y').count(),
            100 << 20,
            "{args:?}"
        );
        assert_eq!(n, if args[0] == "log" { 3 } else { 2 }, "{args:?}");
    }
}

// ---- following ----

/// The log data of a directory in order, compressed archives unpacked.
fn all_data(dir: &Path) -> Vec<u8> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('@'))
        .collect();
    names.sort();
    names.dedup_by(|b, a| b[..27] == a[..27]);
    let mut v = Vec::new();
    for n in names {
        let data = fs::read(dir.join(&n)).unwrap();
        v.extend(if n.ends_with(".gz") {
            gunzip(&data)
        } else {
            data
        });
    }
    v.extend(fs::read(dir.join("current")).unwrap_or_default());
    v
}

/// Collects a child's output in a thread, optionally slowly.
struct Collector {
    data: Arc<Mutex<Vec<u8>>>,
    _thread: std::thread::JoinHandle<()>,
}

impl Collector {
    fn new(mut from: impl Read + Send + 'static, slow: bool) -> Collector {
        let data = Arc::new(Mutex::new(Vec::new()));
        let d = data.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; if slow { 512 } else { 65536 }];
            loop {
                match from.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => d.lock().unwrap().extend_from_slice(&buf[..n]),
                }
                if slow {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        });
        Collector {
            data,
            _thread: thread,
        }
    }

    fn get(&self) -> Vec<u8> {
        self.data.lock().unwrap().clone()
    }
}

/// A compressor from outside (issue 16 §4's job, done here by the test):
/// replaces archives with `NAME.gz` (written under a temporary name,
/// then renamed, then the plain file removed) while svlog follows.
fn compressor(dir: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            let mut names: Vec<String> = fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.len() == 27 && n.starts_with('@') && n.ends_with(".s"))
                .collect();
            names.sort();
            for n in names {
                let Ok(data) = fs::read(dir.join(&n)) else {
                    continue;
                };
                let tmp = dir.join(format!("{n}.tmp"));
                fs::write(&tmp, gzip(&data)).unwrap();
                fs::rename(&tmp, dir.join(format!("{n}.gz"))).unwrap();
                fs::remove_file(dir.join(&n)).unwrap();
            }
            std::thread::sleep(Duration::from_millis(3));
        }
    })
}

#[derive(Clone, Copy)]
enum Extra {
    None,
    Processor,
    Compressor,
}

/// multilog rotating every few lines (lines of 300+ bytes, s4096) while
/// svlog -f reads; the output must be exactly the directory's lines.
fn follow_while_rotating(slow: bool, extra: Extra, lines: usize) {
    let t = tempdir();
    let mut args = vec!["t", "s4096", "n100000"];
    if let Extra::Processor = extra {
        args.push("!cat");
    }
    args.push("./log");
    let mut ml = spawn(bin("multilog"), &args, t.path(), |c| {
        c.stdin(Stdio::piped());
    });
    let log = t.path().join("log");
    assert!(wait_until(LONG, || log.join("current").exists()));
    let mut input = ml.child.stdin.take().unwrap();
    // A few lines (and rotations) before svlog starts.
    for i in 0..40 {
        writeln!(input, "before {i:05} {}", "b".repeat(300)).unwrap();
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let since = format!("@{}", now - 5);
    let mut reader = spawn(
        bin("svlog"),
        &["-f", "--raw", "--since", &since, "log"],
        t.path(),
        |c| {
            c.stdout(Stdio::piped()).stderr(Stdio::piped());
        },
    );
    let out = Collector::new(reader.child.stdout.take().unwrap(), slow);
    let err = Collector::new(reader.child.stderr.take().unwrap(), false);
    let stop = Arc::new(AtomicBool::new(false));
    let comp = matches!(extra, Extra::Compressor).then(|| compressor(log.clone(), stop.clone()));
    for i in 0..lines {
        writeln!(input, "line {i:05} {}", "a".repeat(300)).unwrap();
        if i % 97 == 0 {
            input.flush().unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    drop(input);
    assert!(ml.wait_timeout(LONG).is_some_and(|s| s.success()));
    stop.store(true, Ordering::SeqCst);
    if let Some(c) = comp {
        c.join().unwrap();
    }
    let want = all_data(&log);
    assert!(want.len() > 300 * lines);
    let caught_up = wait_until(Duration::from_secs(60), || out.get().len() >= want.len());
    // A moment more: nothing must follow.
    std::thread::sleep(Duration::from_millis(300));
    let got = out.get();
    drop(reader);
    let e = err.get();
    assert!(e.is_empty(), "{}", String::from_utf8_lossy(&e));
    if got != want {
        if let Ok(d) = std::env::var("SVLOG_TEST_DUMP") {
            fs::write(format!("{d}/got"), &got).unwrap();
            fs::write(format!("{d}/want"), &want).unwrap();
        }
        let g: Vec<&[u8]> = got.split(|&c| c == b'\n').collect();
        let w: Vec<&[u8]> = want.split(|&c| c == b'\n').collect();
        let first = g.iter().zip(&w).position(|(a, b)| a != b);
        panic!(
            "caught up: {caught_up}; {} lines, want {}; first difference at line {first:?}: {:?} vs {:?}",
            g.len(),
            w.len(),
            first.map(|i| String::from_utf8_lossy(&g[i][..g[i].len().min(40)]).to_string()),
            first.map(|i| String::from_utf8_lossy(&w[i][..w[i].len().min(40)]).to_string()),
        );
    }
    let rotations = fs::read_dir(&log)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('@')
        })
        .count();
    assert!(rotations > lines / 20, "only {rotations} rotations");
}

#[test]
fn follow_while_rotating_every_few_lines() {
    follow_while_rotating(false, Extra::None, 3000);
}

#[test]
fn follow_with_a_slow_reader() {
    follow_while_rotating(true, Extra::None, 3000);
}

#[test]
fn follow_with_a_processor() {
    follow_while_rotating(false, Extra::Processor, 1500);
}

#[test]
fn follow_while_archives_are_compressed() {
    follow_while_rotating(true, Extra::Compressor, 2000);
}
