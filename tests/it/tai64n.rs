//! tai64n and tai64nlocal, run as built binaries and compared with the
//! reference where it is installed.

use crate::support;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use crate::support::{bin, reference, tempdir};

fn run(prog: &PathBuf, input: &[u8], tz: Option<&str>) -> Output {
    let d = tempdir();
    let f = d.path().join("in");
    fs::write(&f, input).unwrap();
    let mut c = Command::new(prog);
    c.args(["ignored", "args"])
        .stdin(fs::File::open(&f).unwrap());
    if let Some(tz) = tz {
        c.env("TZ", tz);
    }
    c.output().unwrap()
}

/// Checks `@` + 24 hex + space at the start of each line and returns the
/// lines without it.
fn unstamp(out: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for line in out.split_inclusive(|&c| c == b'\n') {
        assert!(line.len() >= 26, "{line:?}");
        assert_eq!(line[0], b'@');
        assert!(
            line[1..25]
                .iter()
                .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
        );
        assert_eq!(line[25], b' ');
        v.extend(&line[26..]);
    }
    v
}

fn stamp_secs(line: &[u8]) -> u64 {
    u64::from_str_radix(std::str::from_utf8(&line[1..17]).unwrap(), 16).unwrap()
}

/// Reads from `r` until `n` bytes have come, failing after a deadline
/// (so a missing flush fails the test instead of hanging it).
fn read_exactly(r: &mut impl Read, fd: std::os::fd::BorrowedFd, n: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let end = std::time::Instant::now() + support::LONG;
    while got.len() < n {
        let left = end.saturating_duration_since(std::time::Instant::now());
        assert!(!left.is_zero(), "only {got:?} arrived");
        let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
        let ms = u16::try_from(left.as_millis().min(10_000)).unwrap();
        if nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)).unwrap() == 0 {
            continue;
        }
        let mut buf = vec![0u8; n - got.len()];
        let k = r.read(&mut buf).unwrap();
        assert!(k > 0, "EOF after {got:?}");
        got.extend(&buf[..k]);
    }
    got
}

// ------------------------------------------------------------------ tai64n

#[test]
fn tai64n_stamps_every_line() {
    let input = b"one\n\nthree\0x\npartial";
    let o = run(&bin("tai64n"), input, None);
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stderr.is_empty());
    // The partial last line gets a stamp and no newline.
    assert_eq!(unstamp(&o.stdout), input.to_vec());
    assert_eq!(o.stdout.iter().filter(|&&c| c == b'@').count(), 4);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let secs = stamp_secs(&o.stdout);
    assert!(
        secs >= (1 << 62) + 10 + now - 60 && secs <= (1 << 62) + 10 + now + 1,
        "{secs:x}"
    );
    let nano = u32::from_str_radix(std::str::from_utf8(&o.stdout[17..25]).unwrap(), 16).unwrap();
    assert_eq!(nano % 1000, 500, "microseconds * 1000 + 500");
    assert!(run(&bin("tai64n"), b"", None).stdout.is_empty());
    if let Some(r) = reference("tai64n") {
        let ro = run(&r, input, None);
        assert_eq!(unstamp(&ro.stdout), unstamp(&o.stdout));
    }
}

/// Starts one of the filters with pipes on stdin and stdout.
fn spawn_filter(
    name: &str,
) -> (
    support::Proc,
    std::process::ChildStdin,
    std::process::ChildStdout,
    std::os::fd::OwnedFd,
) {
    let c = Command::new(bin(name))
        .env("TZ", "UTC")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut p = support::Proc { child: c };
    let w = p.child.stdin.take().unwrap();
    let r = p.child.stdout.take().unwrap();
    let fd = r.as_fd().try_clone_to_owned().unwrap();
    (p, w, r, fd)
}

#[test]
fn tai64n_passes_lines_on_before_waiting_and_stamps_at_the_first_byte() {
    let (mut p, mut w, mut r, fd) = spawn_filter("tai64n");
    w.write_all(b"first\n").unwrap();
    let l1 = read_exactly(&mut r, fd.as_fd(), 32);
    assert_eq!(&l1[25..], b" first\n");
    // A line whose first bytes come before the rest: its stamp and first
    // bytes are written before the rest is even sent.
    w.write_all(b"par").unwrap();
    let l2 = read_exactly(&mut r, fd.as_fd(), 29);
    assert_eq!(&l2[25..], b" par");
    w.write_all(b"tial\n").unwrap();
    assert_eq!(read_exactly(&mut r, fd.as_fd(), 5), b"tial\n");
    drop(w);
    let st = p.wait_timeout(support::LONG).unwrap();
    assert_eq!(st.code(), Some(0));
}

/// 111 without a message on a write error (/dev/full) and on a read
/// error (stdin a directory); killed by SIGPIPE when the reader is gone.
fn check_exit_codes(name: &str) {
    for prog in std::iter::once(bin(name)).chain(reference(name)) {
        let full = fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let o = Command::new(&prog)
            .stdin(fs::File::open("/etc/hostname").unwrap())
            .stdout(full)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(111), "{}", prog.display());
        assert!(o.stderr.is_empty());
        let dir = fs::File::open("/").unwrap();
        let o = Command::new(&prog).stdin(dir).output().unwrap();
        assert_eq!(o.status.code(), Some(111));
        assert!(o.stderr.is_empty());
        assert_eq!(broken_pipe(&prog), Some(13), "{}", prog.display());
    }
}

#[test]
fn tai64n_exit_codes() {
    check_exit_codes("tai64n");
}

/// Runs `prog` with stdout a pipe whose reader is gone; returns the
/// signal that ended it.
fn broken_pipe(prog: &PathBuf) -> Option<i32> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    drop(r);
    let st = Command::new(prog)
        .stdin(Stdio::piped())
        .stdout(Stdio::from(w))
        .spawn()
        .and_then(|mut c| {
            let _ = c
                .stdin
                .take()
                .unwrap()
                .write_all(b"@4000000037c219bf2ef02e94 x\n");
            c.wait()
        })
        .unwrap();
    st.signal()
}

// ------------------------------------------------------------- tai64nlocal

#[test]
fn tai64nlocal_converts_labels() {
    let cases: &[(&str, &[u8], &[u8])] = &[
        (
            "UTC",
            b"@4000000037c219bf2ef02e94 mark\n",
            b"1999-08-24 04:04:05.787492500 mark\n",
        ),
        (
            "US/Pacific",
            b"@4000000037c219bf2ef02e94 mark\n",
            b"1999-08-23 21:04:05.787492500 mark\n",
        ),
        (
            "right/UTC",
            b"@4000000037c219bf2ef02e94 mark\n",
            b"1999-08-24 04:03:43.787492500 mark\n",
        ),
        (
            "UTC",
            b"@4000000037c219bf2ef02e94X rest\n",
            b"1999-08-24 04:04:05.787492500X rest\n",
        ),
        (
            "UTC",
            b"@400000000000000a00000000 epoch\n",
            b"1970-01-01 00:00:00.000000000 epoch\n",
        ),
        (
            "UTC",
            b"@4000000000000009000001f4 x\n",
            b"1969-12-31 23:59:59.000000500 x\n",
        ),
        (
            "UTC",
            b"@400000000000000affffffff x\n",
            b"1970-01-01 00:00:00.4294967295 x\n",
        ),
        // Not at the start of a line: unchanged; a partial line too.
        (
            "UTC",
            b"abc @4000000037c219bf2ef02e94\nlast",
            b"abc @4000000037c219bf2ef02e94\nlast",
        ),
        // A label cut off by EOF is dropped.
        ("UTC", b"a\n@4000000037c219bf2ef0", b"a\n"),
        ("UTC", b"a\n@", b"a\n"),
        ("UTC", b"\n\n", b"\n\n"),
    ];
    for (tz, input, want) in cases {
        let o = run(&bin("tai64nlocal"), input, Some(tz));
        assert_eq!(o.status.code(), Some(0));
        assert!(o.stderr.is_empty());
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(want),
            "TZ={tz}"
        );
        if let Some(r) = reference("tai64nlocal") {
            assert_eq!(
                run(&r, input, Some(tz)).stdout,
                o.stdout,
                "reference, TZ={tz}"
            );
        }
    }
}

#[test]
fn tai64nlocal_wraps_years_like_the_reference() {
    // A year before 1 AD prints as 2^64 + year.
    let secs: i64 = -94_000_000_000;
    let label = format!(
        "@{:016x}0000000c neg\n",
        (secs as u64).wrapping_add(0x400000000000000a)
    );
    let o = run(&bin("tai64nlocal"), label.as_bytes(), Some("UTC"));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.starts_with("1844674407370955"), "{out}");
    assert!(out.ends_with(".000000012 neg\n"));
    if let Some(r) = reference("tai64nlocal") {
        assert_eq!(
            run(&r, label.as_bytes(), Some("UTC")).stdout,
            out.as_bytes()
        );
    }
}

#[test]
fn tai64nlocal_does_not_crash_where_the_reference_does() {
    let cases: &[&[u8]] = &[
        b"abc\n@\n",
        b"@ x\n",
        b"@1f x\n",
        b"@400000000000000a x\n",
        b"@4000000037C219bf2ef02e94 upper\n",
        b"@000000000000000000000000 far\n",
        b"@4000000037c219bf2ef02e94aa more\n",
    ];
    for input in cases {
        let o = run(&bin("tai64nlocal"), input, Some("UTC"));
        assert_eq!(o.status.code(), Some(0));
        // The label is copied through unchanged.
        assert_eq!(o.stdout, input.to_vec());
        if let Some(r) = reference("tai64nlocal") {
            assert_eq!(
                run(&r, input, Some("UTC")).status.signal(),
                Some(11),
                "{input:?}"
            );
        }
    }
}

#[test]
fn tai64nlocal_matches_reference_on_random_input() {
    let Some(r) = reference("tai64nlocal") else {
        return;
    };
    let mut rng = support::logs::Rng(0x7a16_4c0c);
    let mut rnd = |n: u64| rng.below(n);
    let hex = b"0123456789abcdef";
    let mut compared = 0;
    for case in 0..200 {
        let mut input = Vec::new();
        for _ in 0..(1 + rnd(3)) {
            match rnd(5) {
                // A well-formed label around now, sometimes far away.
                0 | 1 => {
                    let secs = if rnd(3) == 0 {
                        rnd(u64::MAX / 2)
                    } else {
                        1_700_000_000 + rnd(100_000_000)
                    };
                    input.extend(
                        format!(
                            "@{:016x}{:08x}",
                            secs.wrapping_add(0x400000000000000a),
                            rnd(1 << 32)
                        )
                        .bytes(),
                    );
                }
                // Odd lengths of lowercase hex.
                2 => {
                    input.push(b'@');
                    input.push(b'4');
                    for _ in 0..(20 + rnd(14)) {
                        input.push(hex[rnd(16) as usize]);
                    }
                }
                // Random bytes.
                3 => input.extend((0..rnd(20)).map(|_| rnd(256) as u8)),
                _ => input.extend(b"plain text"),
            }
            if rnd(2) == 0 {
                input.extend(b" tail");
            }
            input.push(b'\n');
        }
        let tz = [
            "UTC",
            "US/Pacific",
            "right/UTC",
            "Asia/Tokyo",
            "Europe/Amsterdam",
        ][case % 5];
        let ro = run(&r, &input, Some(tz));
        if ro.status.code() != Some(0) {
            continue; // the reference crashed: covered by the test above
        }
        let o = run(&bin("tai64nlocal"), &input, Some(tz));
        assert_eq!(
            o.stdout,
            ro.stdout,
            "input {:?} TZ={tz}",
            String::from_utf8_lossy(&input)
        );
        compared += 1;
    }
    assert!(compared >= 60, "only {compared} comparable cases");
}

#[test]
fn tai64nlocal_passes_lines_on_before_waiting() {
    let (mut p, mut w, mut r, fd) = spawn_filter("tai64nlocal");
    w.write_all(b"@4000000037c219bf2ef02e94 a\n").unwrap();
    assert_eq!(
        read_exactly(&mut r, fd.as_fd(), 32),
        b"1999-08-24 04:04:05.787492500 a\n"
    );
    w.write_all(b"plain").unwrap();
    assert_eq!(read_exactly(&mut r, fd.as_fd(), 5), b"plain");
    drop(w);
    assert_eq!(p.wait_timeout(support::LONG).unwrap().code(), Some(0));
}

#[test]
fn tai64nlocal_exit_codes() {
    check_exit_codes("tai64nlocal");
}
