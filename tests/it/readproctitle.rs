//! readproctitle: its argument area (what `ps` shows, /proc/PID/cmdline)
//! holds `...` and the tail of its input, byte for byte as the reference
//! `/usr/bin/readproctitle` fed the same; exit codes 100 and 0, no messages.

use crate::support;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::support::{LONG, Proc, wait_until};

fn progs() -> Vec<PathBuf> {
    let mut v = vec![support::bin("readproctitle")];
    v.extend(support::reference("readproctitle"));
    v
}

fn cmdline(pid: i32) -> Vec<Vec<u8>> {
    let b = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let b = b.strip_suffix(b"\0").unwrap_or(&b);
    b.split(|&c| c == 0).map(<[u8]>::to_vec).collect()
}

fn show(args: &[Vec<u8>]) -> Vec<String> {
    args.iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// Starts `prog args` with stdin a pipe from the test.
fn start(prog: &Path, args: &[&str]) -> Proc {
    let tmp = std::env::temp_dir();
    support::spawn(prog, args, &tmp, |c| {
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
    })
}

/// Feeds `chunks` to `prog args` (stdin kept open), waits until its
/// cmdline is `want` (argv[0], the path we ran, is not compared) and
/// returns it; then closes stdin: exit 0, silent.
fn feed_and_read(prog: &Path, args: &[&str], chunks: &[&[u8]], want: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut p = start(prog, args);
    let mut stdin = p.child.stdin.take().unwrap();
    for c in chunks {
        stdin.write_all(c).unwrap();
        stdin.flush().unwrap();
    }
    let pid = p.pid();
    let mut got = Vec::new();
    let ok = wait_until(LONG, || {
        got = cmdline(pid);
        got.len() == want.len() && got[1..] == want[1..]
    });
    assert!(
        ok,
        "{}: cmdline {:?}, want {:?}",
        prog.display(),
        show(&got),
        show(want)
    );
    drop(stdin);
    let st = p
        .wait_timeout(LONG)
        .expect("readproctitle did not exit at EOF");
    assert_eq!(st.code(), Some(0), "{}", prog.display());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    p.child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    p.child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut err)
        .unwrap();
    assert!(
        out.is_empty() && err.is_empty(),
        "{}: said something",
        prog.display()
    );
    got
}

fn args_of(list: &[&[u8]]) -> Vec<Vec<u8>> {
    list.iter().map(|a| a.to_vec()).collect()
}

/// Ten dots and the input `AB\0C\nDEFGHIJKLMN`: the first three dots stay,
/// the rest shows the last seven bytes.
#[test]
fn shows_tail_of_input_like_reference() {
    let want = args_of(&[b"readproctitle", b"hello", b"world:", b"...HIJKLMN"]);
    for p in progs() {
        let args = ["hello", "world:", ".........."];
        feed_and_read(&p, &args, &[b"AB\0C\nDEFGHIJKLMN"], &want);
    }
}

/// Before any input the window is all dots, whatever it held.
#[test]
fn window_is_filled_with_dots_at_start() {
    for p in progs() {
        let want = args_of(&[b"readproctitle", b"x", b"........"]);
        let mut pr = start(&p, &["x", "abcdefgh"]);
        let pid = pr.pid();
        let mut got = Vec::new();
        assert!(
            wait_until(LONG, || {
                got = cmdline(pid);
                got.len() == want.len() && got[1..] == want[1..]
            }),
            "{}: {:?}",
            p.display(),
            show(&got)
        );
        drop(pr.child.stdin.take());
        assert_eq!(pr.wait_timeout(LONG).and_then(|s| s.code()), Some(0));
    }
}

/// 10,000 bytes in uneven writes (newlines, NULs, bytes ≥ 0x80) into a
/// 400-byte window: `...` and the last 397 non-NUL bytes, as the
/// reference shows them.
#[test]
fn long_input_in_uneven_chunks_matches_reference() {
    let mut input = Vec::new();
    let mut x: u32 = 12345;
    for i in 0..10_000u32 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let b = match i % 97 {
            0 => b'\n',
            13 => 0,
            50 => 0xe9,
            _ => b'a' + ((x >> 16) % 26) as u8,
        };
        input.push(b);
    }
    let chunks: Vec<&[u8]> = {
        let mut v = Vec::new();
        let mut rest = &input[..];
        let mut n = 1;
        while !rest.is_empty() {
            let k = n.min(rest.len());
            v.push(&rest[..k]);
            rest = &rest[k..];
            n = n * 3 % 4099 + 1;
        }
        v
    };
    let kept: Vec<u8> = input.iter().copied().filter(|&b| b != 0).collect();
    let mut window = b"...".to_vec();
    window.extend_from_slice(&kept[kept.len() - 397..]);
    let dots = ".".repeat(400);
    let want = vec![
        b"readproctitle".to_vec(),
        b"service".to_vec(),
        b"errors:".to_vec(),
        window,
    ];
    let mut results = Vec::new();
    for p in progs() {
        let got = feed_and_read(&p, &["service", "errors:", &dots], &chunks, &want);
        results.push(got[1..].to_vec());
    }
    if results.len() == 2 {
        assert_eq!(results[0], results[1]);
    }
}

/// Input that is only NUL bytes changes nothing; fewer bytes than the
/// window shift in from the right.
#[test]
fn nul_bytes_are_skipped_and_short_input_shifts_in() {
    let want = args_of(&[b"readproctitle", b"......ab\nc"]);
    for p in progs() {
        feed_and_read(
            &p,
            &[".........."],
            &[b"\0\0\0", b"a\0b", b"\n\0c\0"],
            &want,
        );
    }
}

#[test]
fn exit_codes_and_silence_like_reference() {
    let tmp = support::tempdir();
    let cases: &[(&[&str], i32)] = &[
        (&[], 100),
        (&["abcd"], 100),
        (&["x", "y", "...."], 100),
        (&[""], 100),
        (&["abcde"], 0),
        (&["hello", "world:", ".........."], 0),
    ];
    for p in progs() {
        for (args, code) in cases {
            // stdin is /dev/null: EOF at once
            let out = support::run(&p, args, tmp.path());
            assert_eq!(out.status.code(), Some(*code), "{} {args:?}", p.display());
            assert!(out.stdout.is_empty() && out.stderr.is_empty());
        }
    }
}
