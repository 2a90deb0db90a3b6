//! multilog's actions of issue 16 (§2-§6): readable stamps `Z`/`L`, age
//! rotation `R`, the total size cap `C`, `current` above 16 MB (`M`),
//! gzip compression `g` (with svlog reading the result), the copy to
//! stdout `1`, and malformed arguments. The drop policy `D` is tested on
//! a tmpfs in `multilog_diskfull`, kills during compression in
//! `multilog_crash`. Every 0.76 action keeps its meaning: `multilog`'s
//! tests compare those with Debian's multilog.

use crate::support;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;

fn names(dir: &Path) -> Vec<String> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

/// The archives of `dir` (plain and compressed), oldest first.
fn archives(dir: &Path) -> Vec<String> {
    names(dir)
        .into_iter()
        .filter(|n| n.starts_with('@'))
        .collect()
}

/// A file's content, gunzipped if its name ends in `.gz`.
fn content(path: &Path) -> Vec<u8> {
    let raw = fs::read(path).unwrap();
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        raw
    }
}

/// Every line of a directory in order: archives (decompressed), `current`.
fn all_lines(dir: &Path) -> Vec<u8> {
    let mut v = Vec::new();
    for a in archives(dir) {
        v.extend(content(&dir.join(a)));
    }
    v.extend(fs::read(dir.join("current")).unwrap_or_default());
    v
}

fn run(args: &[&str], cwd: &Path, input: &[u8]) -> std::process::Output {
    support::logs::run_with_input(&support::bin("multilog"), args, cwd, input)
}

/// Checks an RFC 3339 stamp: `YYYY-MM-DDTHH:MM:SS`, `digits` fraction
/// digits, then `Z` or `+HH:MM`/`-HH:MM`, and returns the zone part.
fn rfc3339(s: &str, digits: usize) -> &str {
    let b = s.as_bytes();
    let shape = "dddd-dd-ddTdd:dd:dd";
    for (c, want) in b.iter().zip(shape.bytes()) {
        assert!(
            if want == b'd' {
                c.is_ascii_digit()
            } else {
                *c == want
            },
            "{s}"
        );
    }
    let mut at = 19;
    if digits > 0 {
        assert_eq!(b[at], b'.', "{s}");
        assert!(
            b[at + 1..at + 1 + digits].iter().all(u8::is_ascii_digit),
            "{s}"
        );
        at += 1 + digits;
    }
    &s[at..]
}

#[test]
fn readable_stamps_utc_and_local_with_offset() {
    let d = support::tempdir();
    let input = b"one\ntwo\n";
    let out = run(&["t", "Z3", "L", "./log"], d.path(), input);
    assert!(out.status.success(), "{out:?}");
    let text = fs::read_to_string(d.path().join("log/current")).unwrap();
    for (line, want) in text.lines().zip(["one", "two"]) {
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f.len(), 4, "{line}");
        assert!(f[0].starts_with("@4") && f[0].len() == 25, "{line}");
        assert_eq!(rfc3339(f[1], 3), "Z", "{line}");
        assert_eq!(rfc3339(f[2], 6), "+00:00", "TZ unset here: {line}");
        assert_eq!(f[3], want);
    }
    // Local time carries the zone's offset, winter or summer.
    if Path::new("/usr/share/zoneinfo/Europe/Berlin").exists() {
        let mut p = support::spawn(
            support::bin("multilog"),
            &["L0", "./berlin"],
            d.path(),
            |c| {
                c.env("TZ", "Europe/Berlin").stdin(Stdio::piped());
            },
        );
        p.child.stdin.take().unwrap().write_all(b"x\n").unwrap();
        assert_eq!(p.wait_timeout(support::LONG).unwrap().code(), Some(0));
        let line = fs::read_to_string(d.path().join("berlin/current")).unwrap();
        let zone = rfc3339(&line, 0);
        assert!(zone == "+01:00 x\n" || zone == "+02:00 x\n", "{line}");
    }
    // tai64nlocal (ours and 0.76's) changes only the `t` label; svlog
    // reads the readable stamps' time (`--since`).
    let stamped = fs::read(d.path().join("log/current")).unwrap();
    let mut progs = vec![support::bin("tai64nlocal")];
    progs.extend(support::reference("tai64nlocal"));
    for prog in progs {
        let mut p = support::spawn(&prog, &[], d.path(), |c| {
            c.stdin(Stdio::piped()).stdout(Stdio::piped());
        });
        // A line with only readable stamps: left alone.
        let only = b"2026-12-01T21:39:40.123Z x\n";
        let mut input = stamped.clone();
        input.extend_from_slice(only);
        p.child.stdin.take().unwrap().write_all(&input).unwrap();
        let mut got = Vec::new();
        p.child
            .stdout
            .take()
            .unwrap()
            .read_to_end(&mut got)
            .unwrap();
        let got = String::from_utf8(got).unwrap();
        let want: Vec<String> = String::from_utf8_lossy(&stamped)
            .lines()
            .map(|l| l[25..].to_string())
            .collect();
        for (g, w) in got.lines().zip(&want) {
            assert!(g.ends_with(w.as_str()), "{prog:?}: {g} / {w}");
        }
        assert!(
            got.ends_with("2026-12-01T21:39:40.123Z x\n"),
            "{prog:?}: {got}"
        );
    }
    let z = d.path().join("z");
    fs::create_dir(&z).unwrap();
    fs::write(
        z.join("current"),
        "2026-01-01T10:00:00.5Z old\n2026-06-01T12:00:00+02:00 new\n",
    )
    .unwrap();
    let out = support::run(
        support::bin("svlog"),
        &["--raw", "--since", "2026-06-01T09:00:00Z", "z"],
        d.path(),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "2026-06-01T12:00:00+02:00 new\n"
    );
}

#[test]
fn malformed_new_actions_are_fatal_unknown_letters_ignored() {
    let d = support::tempdir();
    for (arg, why) in [
        ("Z10", "the digit count must be one digit"),
        ("R5x", "the age must be a number of seconds"),
        ("C", "the total size must be a number of bytes"),
        ("M4095", "the size must be 4096 to"),
        ("g12", "the gzip level must be one digit"),
        ("Dx", "D takes no argument"),
    ] {
        let out = run(&[arg, "./log"], d.path(), b"x\n");
        assert_eq!(out.status.code(), Some(111), "{arg}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with(&format!("multilog: fatal: bad action {arg}: {why}")),
            "{arg}: {err}"
        );
        assert!(!d.path().join("log").exists(), "{arg}: nothing done");
    }
    // A stamp after another action, and a cap below the size of current.
    for args in [&["e", "Z", "./log"][..], &["C5000", "s9000", "./log"]] {
        let out = run(args, d.path(), b"x\n");
        assert_eq!(out.status.code(), Some(111), "{args:?}");
    }
    // Letters nobody defines are ignored, as in 0.76.
    let out = run(&["Q", "x", "yy", "./log"], d.path(), b"x\n");
    assert!(out.status.success());
    assert_eq!(fs::read(d.path().join("log/current")).unwrap(), b"x\n");
}

#[test]
fn age_rotation_rotates_current_once_its_first_line_is_old() {
    let d = support::tempdir();
    let dir = d.path().join("log");
    let mut p = support::spawn(
        support::bin("multilog"),
        &["t", "R1", "./log"],
        d.path(),
        |c| {
            c.stdin(Stdio::piped());
        },
    );
    let mut w = p.child.stdin.take().unwrap();
    // Each line is rotated out on its own, while no input comes; an empty
    // current is never rotated (the waits span several ages).
    for (i, word) in ["first", "second", "third"].iter().enumerate() {
        writeln!(w, "{word}").unwrap();
        assert!(
            support::wait_until(support::LONG, || archives(&dir).len() > i),
            "{word} not rotated: {:?}",
            names(&dir)
        );
    }
    drop(w);
    assert_eq!(p.wait_timeout(support::LONG).unwrap().code(), Some(0));
    let arch = archives(&dir);
    assert_eq!(arch.len(), 3, "{arch:?}");
    for (a, word) in arch.iter().zip(["first", "second", "third"]) {
        let text = String::from_utf8(content(&dir.join(a))).unwrap();
        assert_eq!(&text[26..], format!("{word}\n"), "{a}");
    }
    assert_eq!(fs::read(dir.join("current")).unwrap(), b"");

    // After a restart the age comes from the first line's stamp: a
    // current begun two hours ago is rotated at once, with no input.
    let old = d.path().join("old");
    fs::create_dir(&old).unwrap();
    let two_hours_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 7200;
    let label = format!("@{:016x}00000000", (1u64 << 62) + 10 + two_hours_ago);
    fs::write(old.join("current"), format!("{label} early\n")).unwrap();
    support::logs::set_mode(&old.join("current"), 0o744);
    let mut p = support::spawn(
        support::bin("multilog"),
        &["t", "R1h", "./old"],
        d.path(),
        |c| {
            c.stdin(Stdio::piped());
        },
    );
    assert!(
        support::wait_until(support::LONG, || archives(&old).len() == 1),
        "{:?}",
        names(&old)
    );
    drop(p.child.stdin.take());
    assert_eq!(p.wait_timeout(support::LONG).unwrap().code(), Some(0));
    assert_eq!(
        content(&old.join(&archives(&old)[0])),
        format!("{label} early\n").as_bytes()
    );
}

/// Numbered lines: `n<i> ` and some filler.
fn numbered(range: std::ops::Range<usize>) -> Vec<u8> {
    range
        .flat_map(|i| format!("n{i:07} {}\n", "y".repeat(i % 90)).into_bytes())
        .collect()
}

#[test]
fn total_size_cap_keeps_the_newest_archives_within_it() {
    let input = numbered(0..20_000); // about 1.1 MB
    for (args, compressed) in [
        (&["s8192", "n1000", "C100000", "./log"][..], false),
        (&["s8192", "n1000", "C100000", "g", "./log"], true),
    ] {
        let d = support::tempdir();
        let dir = d.path().join("log");
        let out = run(args, d.path(), &input);
        assert!(out.status.success(), "{out:?}");
        let arch = archives(&dir);
        let total: u64 = arch
            .iter()
            .map(|a| fs::metadata(dir.join(a)).unwrap().len())
            .sum();
        assert!(total <= 100_000, "{args:?}: {total} bytes in {arch:?}");
        assert!(
            arch.iter().all(|a| a.ends_with(".gz") == compressed),
            "{arch:?}"
        );
        // What is left is the end of the input, whole.
        let kept = all_lines(&dir);
        assert!(input.ends_with(&kept), "{args:?}");
        if compressed {
            // The cap counts the files as they are when an archive is made
            // (the newest ones may not be compressed yet): at least the
            // uncompressed amount stays.
            assert!(kept.len() > 90_000, "{}", kept.len());
        } else {
            // As much as fits: one more archive would not.
            let biggest = arch
                .iter()
                .map(|a| fs::metadata(dir.join(a)).unwrap().len())
                .max()
                .unwrap();
            assert!(total + biggest > 100_000, "{args:?}: {total} of 100000");
        }
    }
}

#[test]
fn current_above_16_mb_with_m() {
    let d = support::tempdir();
    let input = numbered(0..230_000); // about 14.6 MB... and more:
    let mut input2 = input.clone();
    input2.extend(numbered(230_000..330_000));
    let out = run(&["M17m", "./log"], d.path(), &input2);
    assert!(out.status.success(), "{out:?}");
    let dir = d.path().join("log");
    let arch = archives(&dir);
    assert_eq!(arch.len(), 1, "{arch:?}");
    let size = fs::metadata(dir.join(&arch[0])).unwrap().len();
    // 0.76's rule at the new size: closed at the first line end within
    // 2000 bytes of the limit.
    assert!(
        (17 * 1024 * 1024 - 2000..=17 * 1024 * 1024).contains(&size),
        "{size}"
    );
    assert!(size > 16_777_215);
    assert_eq!(all_lines(&dir), input2);
    // `s` keeps 0.76's clamp even after an `M`.
    let d = support::tempdir();
    let out = run(&["M17m", "s30000000", "./log"], d.path(), &input2);
    assert!(out.status.success());
    let arch = archives(&d.path().join("log"));
    let size = fs::metadata(d.path().join("log").join(&arch[0]))
        .unwrap()
        .len();
    assert!(size <= 16_777_215, "{size}");
}

#[test]
fn gzip_compresses_every_archive_and_svlog_reads_them() {
    let d = support::tempdir();
    let input = numbered(0..30_000);
    let out = run(&["t", "s65536", "n20", "g9", "./log"], d.path(), &input);
    assert!(out.status.success(), "{out:?}");
    let dir = d.path().join("log");
    let arch = archives(&dir);
    // n20: fewer than 20 archives, each compressed once.
    assert_eq!(arch.len(), 19, "{arch:?}");
    for a in &arch {
        assert!(a.ends_with(".s.gz"), "{a}");
        assert_eq!(support::logs::mode(&dir.join(a)), 0o744, "{a}");
    }
    assert!(!dir.join("gzip.tmp").exists());
    // The content is the input's end, stamped; gzip(1) agrees.
    let kept = support::logs::strip_stamps(&all_lines(&dir));
    assert!(input.ends_with(&kept) && kept.len() > 500_000);
    if support::have("gzip") {
        let out = support::run("gzip", &["-t", &arch[0]], &dir);
        assert!(out.status.success(), "{out:?}");
    }
    // svlog reads plain and compressed archives alike.
    let out = support::run(support::bin("svlog"), &["--raw", "log"], d.path());
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, all_lines(&dir));
    let out = support::run(
        support::bin("svlog"),
        &["--raw", "-n", "3", "log"],
        d.path(),
    );
    let all = all_lines(&dir);
    let lines: Vec<&[u8]> = all.split_inclusive(|&c| c == b'\n').collect();
    assert_eq!(out.stdout, lines[lines.len() - 3..].concat());
}

#[test]
fn gzip_recovers_what_a_crash_left() {
    let d = support::tempdir();
    let dir = d.path().join("log");
    fs::create_dir(&dir).unwrap();
    let a = "@400000006b0f3f100000000a.s";
    let b = "@400000006b0f3f200000000a.u";
    // `a` was compressed, but the kill came before the plain file went;
    // `b` was being compressed (gzip.tmp); current is clean.
    fs::write(dir.join(a), b"a1\na2\n").unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"a1\na2\n").unwrap();
    fs::write(dir.join(format!("{a}.gz")), gz.finish().unwrap()).unwrap();
    fs::write(dir.join(b), b"b1\n").unwrap();
    fs::write(dir.join("gzip.tmp"), b"\x1f\x8b half").unwrap();
    fs::write(dir.join("current"), b"c1\n").unwrap();
    support::logs::set_mode(&dir.join("current"), 0o744);
    let out = run(&["g", "./log"], d.path(), b"c2\n");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        names(&dir),
        vec![
            format!("{a}.gz"),
            format!("{b}.gz"),
            "current".into(),
            "lock".into()
        ]
    );
    assert_eq!(all_lines(&dir), b"a1\na2\nb1\nc1\nc2\n");
}

#[test]
fn copy_to_stdout_with_a_prefix() {
    let d = support::tempdir();
    let long = format!("long {}\n", "z".repeat(3000));
    let input = format!("info a\ndebug b\ninfo c\n{long}");
    let out = run(
        &["t", "./all", "-* debug *", "1web: ", "+*", "-* info *", "1"],
        d.path(),
        input.as_bytes(),
    );
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let got: Vec<String> = text
        .lines()
        .map(|l| {
            // The prefix, then the line as logged (with its stamp).
            let (pfx, rest) = l.split_at(l.find('@').unwrap());
            assert_eq!(&rest[25..26], " ", "{l}");
            format!("{pfx}{}", &rest[26..])
        })
        .collect();
    let long = long.trim_end();
    // In input order; a line selected at both `1` actions is copied twice.
    assert_eq!(
        got,
        vec![
            "web: info a".to_string(),
            "debug b".into(),
            "web: info c".into(),
            format!("web: {long}"),
            long.to_string(),
        ]
    );
    // A closed reader (SIGPIPE does not end multilog) or a failing
    // stdout: one warning, no more copies, and the logging goes on.
    let full = || {
        fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    for (k, closed) in [true, false].into_iter().enumerate() {
        let log = format!("./log{k}");
        let mut p = support::spawn(support::bin("multilog"), &["1", &log], d.path(), |c| {
            c.stdin(Stdio::piped()).stderr(Stdio::piped());
            if closed {
                c.stdout(Stdio::piped());
            } else {
                c.stdout(full());
            }
        });
        drop(p.child.stdout.take());
        let mut w = p.child.stdin.take().unwrap();
        w.write_all(b"one\n").unwrap();
        w.write_all(b"two\n").unwrap();
        drop(w);
        assert_eq!(p.wait_timeout(support::LONG).unwrap().code(), Some(0));
        let mut err = String::new();
        let mut e = p.child.stderr.take().unwrap();
        e.read_to_string(&mut err).unwrap();
        let want = "multilog: warning: unable to write to stdout, no more copies: ";
        if closed {
            // (A child of a parallel test may briefly hold the reader.)
            assert!(
                err.is_empty() || err == format!("{want}broken pipe\n"),
                "{err}"
            );
        } else {
            assert_eq!(err, format!("{want}out of disk space\n"));
        }
        let current = d.path().join(&log).join("current");
        assert_eq!(fs::read(current).unwrap(), b"one\ntwo\n");
    }
}
