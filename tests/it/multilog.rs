//! multilog: script, selection, alerts, status files, directories, the
//! write path, recovery, retention, the processor and signals. Each test
//! runs the built binary; where the reference is installed the same run is
//! made with it and compared.

use crate::support;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::logs::*;
use crate::support::{bin, reference, tempdir};

fn ml() -> std::path::PathBuf {
    bin("multilog")
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts that ours matches the reference (when installed) in exit
/// status, stderr, and the described contents of `dirs`.
fn same_as_reference(p: &Pair, dirs: &[&str]) {
    let Some((r, rd)) = &p.reference else {
        return;
    };
    let (o, od) = &p.ours;
    assert_eq!(o.status.code(), r.status.code(), "exit status");
    assert_eq!(stderr(o), stderr(r), "stderr");
    for d in dirs {
        let (a, b) = (describe(&od.path().join(d)), describe(&rd.path().join(d)));
        assert_eq!(
            a,
            b,
            "dir {d}: ours {} / reference {}",
            sizes(&a),
            sizes(&b)
        );
    }
}

// ---------------------------------------------------------------- script

#[test]
fn no_arguments_reads_to_eof() {
    let d = tempdir();
    let o = run_with_input(&ml(), &[], d.path(), b"a\nb\n");
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stderr.is_empty() && o.stdout.is_empty());
    assert_eq!(fs::read_dir(d.path()).unwrap().count(), 0);
}

#[test]
fn unknown_actions_are_ignored_silently() {
    let p = both(&["x", "T", "log", "", "t", "efoo"], b"one\n", |_| {});
    let (o, d) = &p.ours;
    assert_eq!(o.status.code(), Some(0));
    // efoo is `e`; the later `t` does nothing.
    assert_eq!(o.stderr, b"one\n");
    assert_eq!(fs::read_dir(d.path()).unwrap().count(), 0);
    same_as_reference(&p, &[]);
}

#[test]
fn bad_status_files_are_fatal() {
    for (args, want) in [
        (
            vec!["="],
            "multilog: fatal: unable to create : file does not exist\n",
        ),
        (
            vec!["=nodir/x"],
            "multilog: fatal: unable to create nodir/x: file does not exist\n",
        ),
        (
            vec!["=."],
            "multilog: fatal: unable to create .: is a directory\n",
        ),
    ] {
        let p = both(&args, b"x\n", |_| {});
        assert_eq!(p.ours.0.status.code(), Some(111));
        assert_eq!(stderr(&p.ours.0), want);
        same_as_reference(&p, &[]);
    }
}

#[test]
fn bad_directories_are_fatal() {
    let p = both(&["./no/such/dir"], b"x\n", |_| {});
    assert_eq!(p.ours.0.status.code(), Some(111));
    assert_eq!(
        stderr(&p.ours.0),
        "multilog: fatal: unable to open directory ./no/such/dir: file does not exist\n"
    );
    same_as_reference(&p, &[]);
    let p = both(&["./afile"], b"x\n", |d| {
        fs::write(d.join("afile"), "").unwrap()
    });
    assert_eq!(
        stderr(&p.ours.0),
        "multilog: fatal: unable to open directory ./afile: not a directory\n"
    );
    same_as_reference(&p, &[]);
    // The same directory twice: the second lock fails, the first
    // directory's current stays 0644 (to be recovered next time).
    let p = both(&["./x", "./x"], b"x\n", |_| {});
    assert_eq!(
        stderr(&p.ours.0),
        "multilog: fatal: unable to lock directory ./x: temporary failure\n"
    );
    assert_eq!(mode(&p.ours.1.path().join("x/current")), 0o644);
    same_as_reference(&p, &["x"]);
}

#[test]
fn sizes_and_counts_are_sticky() {
    // ./a keeps 99999 while ./b rotates at 4096.
    let input = numbered(100, 90, "x");
    let p = both(&["./a", "s4096", "n3", "./b"], &input, |_| {});
    let (o, d) = &p.ours;
    assert_eq!(o.status.code(), Some(0));
    assert!(archives(&d.path().join("a")).is_empty());
    assert_eq!(archives(&d.path().join("b")).len(), 2, "n3 keeps 2");
    same_as_reference(&p, &["a", "b"]);
}

// ------------------------------------------------------------- selection

#[test]
fn selection_follows_script_order() {
    let input = b"one\ntwo\nfatal: x\n* one\nnamed[135]: Cleaned cache of 3121 RRs\na\0b\n\n";
    let args = [
        "./all",
        "-*",
        "+* one",
        "+named[*]: Cleaned cache *",
        "./some",
        "-a*",
        "+*",
        "-t*",
        "./most",
        "-*",
        "+a*b",
        "./nul",
    ];
    let p = both(&args, input, |_| {});
    let d = p.ours.1.path();
    assert_eq!(fs::read(d.join("all/current")).unwrap(), input.to_vec());
    assert_eq!(
        fs::read(d.join("some/current")).unwrap(),
        b"* one\nnamed[135]: Cleaned cache of 3121 RRs\n".to_vec()
    );
    assert_eq!(
        fs::read(d.join("most/current")).unwrap(),
        b"one\nfatal: x\n* one\nnamed[135]: Cleaned cache of 3121 RRs\na\0b\n\n".to_vec()
    );
    assert_eq!(fs::read(d.join("nul/current")).unwrap(), b"a\0b\n".to_vec());
    same_as_reference(&p, &["all", "some", "most", "nul"]);
}

#[test]
fn matcher_agrees_with_the_reference_binary() {
    // Random patterns over {a, b, *} against random lines, through
    // `multilog '-*' '+PAT' e` (the selected lines come back on stderr).
    let Some(r) = reference("multilog") else {
        return;
    };
    let mut rng = Rng(0x6d61_7463);
    let alphabet = [b'a', b'b', b'*'];
    let word = |rng: &mut Rng, max: u64| -> Vec<u8> {
        (0..rng.below(max))
            .map(|_| alphabet[rng.below(3) as usize])
            .collect()
    };
    let mut selected = 0;
    for _ in 0..60 {
        let pat = word(&mut rng, 7);
        let mut input = Vec::new();
        for _ in 0..40 {
            input.extend(word(&mut rng, 9));
            input.push(b'\n');
        }
        let arg = format!("+{}", String::from_utf8(pat.clone()).unwrap());
        let d = tempdir();
        let ours = run_with_input(&ml(), &["-*", &arg, "e"], d.path(), &input);
        let theirs = run_with_input(&r, &["-*", &arg, "e"], d.path(), &input);
        assert_eq!(ours.stderr, theirs.stderr, "pattern {arg}");
        selected += ours.stderr.iter().filter(|&&c| c == b'\n').count();
    }
    assert!(
        selected > 100,
        "too few lines selected to mean much: {selected}"
    );
}

#[test]
fn patterns_see_the_stamp() {
    let input = b"ok\nx fatal: y\nfatal: z\n";
    let p = both(&["t", "-*", "+* fatal: *", "./main"], input, |_| {});
    let data = fs::read(p.ours.1.path().join("main/current")).unwrap();
    // `* fatal: *`: the first star covers the stamp, so only a line whose
    // text starts with "fatal: " right after the stamp's space matches.
    assert_eq!(strip_stamps(&data), b"fatal: z\n".to_vec());
}

#[test]
fn window_is_1000_bytes_and_long_lines_stay_whole() {
    let long = "a".repeat(1500);
    let pat = format!("+{}", "a".repeat(1000));
    let input = format!("{long}\nshort\n{}\n", "b".repeat(999));
    let p = both(
        &["-*", &pat, "./m", "-*", "+b*", "./b"],
        input.as_bytes(),
        |_| {},
    );
    let d = p.ours.1.path();
    assert_eq!(
        fs::read(d.join("m/current")).unwrap(),
        format!("{long}\n").into_bytes()
    );
    assert_eq!(
        fs::read(d.join("b/current")).unwrap(),
        format!("{}\n", "b".repeat(999)).into_bytes()
    );
    same_as_reference(&p, &["m", "b"]);

    // With t the stamp takes 26 bytes of the window: a 974-byte pattern
    // after `*` still matches, 975 does not.
    let text = "c".repeat(980);
    let input = format!("{text}\n");
    let p974 = format!("+* {}", "c".repeat(974));
    let p975 = format!("+* {}", "c".repeat(975));
    let p = both(
        &["t", "-*", &p974, "./y", "-*", &p975, "./n"],
        input.as_bytes(),
        |_| {},
    );
    let d = p.ours.1.path();
    assert_eq!(
        strip_stamps(&fs::read(d.join("y/current")).unwrap()),
        input.as_bytes()
    );
    assert!(fs::read(d.join("n/current")).unwrap().is_empty());
}

#[test]
fn partial_last_line_gets_a_newline() {
    let p = both(&["./m"], b"a\nb", |_| {});
    assert_eq!(
        fs::read(p.ours.1.path().join("m/current")).unwrap(),
        b"a\nb\n".to_vec()
    );
    same_as_reference(&p, &["m"]);
}

// ---------------------------------------------------------------- alerts

#[test]
fn alerts_cut_at_200_bytes() {
    let mut input = Vec::new();
    for n in [199usize, 200, 201, 1500] {
        input.extend(std::iter::repeat_n(b'x', n));
        input.push(b'\n');
    }
    input.extend(b"partial");
    let p = both(&["e"], &input, |_| {});
    let e = &p.ours.0.stderr;
    let lines: Vec<&[u8]> = e.split_inclusive(|&c| c == b'\n').collect();
    let lens: Vec<usize> = lines.iter().map(|l| l.len()).collect();
    assert_eq!(lens, vec![200, 201, 204, 204, 8]);
    assert!(lines[2].ends_with(b"x...\n"));
    assert_eq!(lines[4], b"partial\n");
    same_as_reference(&p, &[]);
    // With t the stamp counts: 174 bytes of text fit, 175 get "...".
    let input = format!("{}\n{}\n", "y".repeat(174), "y".repeat(175));
    let o = run_with_input(&ml(), &["t", "e"], tempdir().path(), input.as_bytes());
    let lens: Vec<usize> = o
        .stderr
        .split_inclusive(|&c| c == b'\n')
        .map(|l| l.len())
        .collect();
    assert_eq!(lens, vec![201, 204]);
}

#[test]
fn alert_is_one_write_per_line() {
    // Through a pipe, each alert arrives as one piece.
    let d = tempdir();
    let mut c = Command::new(ml())
        .args(["e"])
        .current_dir(d.path())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut w = c.stdin.take().unwrap();
    w.write_all(format!("{}\nshort\n", "z".repeat(300)).as_bytes())
        .unwrap();
    drop(w);
    let mut s = Vec::new();
    c.stderr.take().unwrap().read_to_end(&mut s).unwrap();
    c.wait().unwrap();
    assert_eq!(s, format!("{}...\nshort\n", "z".repeat(200)).into_bytes());
}

// ---------------------------------------------------------- status files

#[test]
fn status_file_holds_the_last_selected_window() {
    let input = b"status: one\nother\nstatus: two\nlast\n";
    let p = both(
        &["-*", "+status:*", "=st", "=empty", "-*", "=never"],
        input,
        |d| {
            fs::write(d.join("st"), vec![b'Q'; 3000]).unwrap();
        },
    );
    let d = p.ours.1.path();
    let st = fs::read(d.join("st")).unwrap();
    assert_eq!(st.len(), 3000, "never truncated");
    assert_eq!(&st[..11], b"status: two");
    assert!(st[11..1001].iter().all(|&c| c == b'\n'));
    assert!(st[1001..].iter().all(|&c| c == b'Q'));
    assert_eq!(
        fs::read(d.join("never")).unwrap().len(),
        0,
        "created, never written"
    );
    assert_eq!(mode(&d.join("never")), 0o600);
    assert_eq!(fs::read(d.join("empty")).unwrap().len(), 1001);
    if let Some((_, rd)) = &p.reference {
        for f in ["st", "empty", "never"] {
            assert_eq!(
                fs::read(d.join(f)).unwrap(),
                fs::read(rd.path().join(f)).unwrap()
            );
            assert_eq!(mode(&d.join(f)), mode(&rd.path().join(f)));
        }
    }
}

#[test]
fn status_file_write_failure_pauses_and_term_waits() {
    let d = tempdir();
    let mut p = support::spawn(ml(), &["=/dev/full"], d.path(), |c| {
        c.stdin(Stdio::piped()).stderr(Stdio::piped());
    });
    feed(&mut p, b"x\n");
    let mut err = p.child.stderr.take().unwrap();
    let warning = b"multilog: warning: unable to write /dev/full, pausing: out of disk space\n";
    let mut buf = [0u8; 200];
    let n = err.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], warning);
    // SIGTERM does nothing during a pause loop: 5 s later the next
    // attempt fails the same way.
    p.signal(15);
    let n = err.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], warning);
    assert!(support::alive(p.pid()));
}

// ----------------------------------------------------- directory and write path

#[test]
fn directory_files_and_modes() {
    let p = both(&["./log"], b"hello\n", |_| {});
    let d = p.ours.1.path().join("log");
    assert_eq!(mode(&d), 0o700);
    assert_eq!(mode(&d.join("lock")), 0o600);
    assert_eq!(mode(&d.join("state")), 0o644);
    assert_eq!(mode(&d.join("current")), 0o744);
    assert_eq!(fs::read(d.join("current")).unwrap(), b"hello\n");
    same_as_reference(&p, &["log"]);
}

fn vector(input: &[u8], want: &[usize], current: usize) {
    let p = both(&["s4096", "n100", "./d"], input, |_| {});
    let e = describe(&p.ours.1.path().join("d"));
    let got: Vec<usize> = e
        .iter()
        .filter(|e| e.name.starts_with('@'))
        .map(|e| e.data.len())
        .collect();
    assert_eq!(got, want, "{}", sizes(&e));
    let cur = e.iter().find(|e| e.name == "current").unwrap();
    assert_eq!(cur.data.len(), current);
    let mut all: Vec<u8> = Vec::new();
    for e in &e {
        if e.name.starts_with('@') || e.name == "current" {
            all.extend(&e.data);
        }
    }
    assert_eq!(all, input, "every byte once, in order");
    same_as_reference(&p, &["d"]);
}

#[test]
fn write_path_conformance_vectors() {
    let v1: Vec<u8> = (0..300)
        .flat_map(|i| format!("line {i:04} {}\n", "x".repeat(80)).into_bytes())
        .collect();
    vector(
        &v1,
        &[
            2457, 2548, 2548, 2548, 2184, 2457, 2548, 2548, 2548, 2184, 2457,
        ],
        273,
    );
    let v2 = format!("{}\n{}\n", "a".repeat(10000), "b".repeat(10));
    vector(v2.as_bytes(), &[4096, 4096], 1820);
    let v3 = format!("{}\nnext\n", "a".repeat(2095));
    vector(v3.as_bytes(), &[2101], 0);
    let v4 = format!("{}\nnext\n", "a".repeat(2094));
    vector(v4.as_bytes(), &[2100], 0);
}

#[test]
fn write_path_matches_reference_on_random_inputs() {
    // Random line lengths 0..9000, several sizes, with and without a
    // partial last line; two directories with different sizes at once.
    let mut rng = Rng(0x5eed_0076);
    let mut rnd = |n: u64| rng.below(n);
    for case in 0..12 {
        let mut input = Vec::new();
        let lines = 20 + rnd(200);
        for i in 0..lines {
            let len = if rnd(4) == 0 { rnd(9000) } else { rnd(120) };
            input.extend((0..len).map(|k| b'a' + ((i + k) % 26) as u8));
            input.push(b'\n');
        }
        if case % 2 == 1 {
            input.extend(b"partial tail");
        }
        let sizes_ = ["s4096", "s5000", "s9999", "s20000"];
        let s1 = sizes_[case % 4];
        let s2 = sizes_[(case + 1) % 4];
        let p = both(&["n1000", s1, "./a", s2, "-*a*", "./b"], &input, |_| {});
        let a = describe(&p.ours.1.path().join("a"));
        let got = all_data(&p.ours.1.path().join("a"));
        let mut want = input.clone();
        if case % 2 == 1 {
            want.push(b'\n');
        }
        assert_eq!(got, want, "case {case}: {}", sizes(&a));
        same_as_reference(&p, &["a", "b"]);
    }
}

#[test]
fn clean_restart_continues_current() {
    // 5000 bytes left 0744, s4096: the first write rotates first.
    let p = both(&["s4096", "./d"], b"x\n", |d| {
        fs::create_dir(d.join("d")).unwrap();
        fs::write(d.join("d/current"), vec![b'o'; 5000]).unwrap();
        set_mode(&d.join("d/current"), 0o744);
    });
    let e = describe(&p.ours.1.path().join("d"));
    assert_eq!(
        sizes(&e),
        "@1.s=5000 current=2 lock=0",
        "no state made on a clean start"
    );
    same_as_reference(&p, &["d"]);
    // 3000 bytes: the first line closes the file.
    let p = both(&["s4096", "./d"], b"x\n", |d| {
        fs::create_dir(d.join("d")).unwrap();
        fs::write(d.join("d/current"), vec![b'o'; 3000]).unwrap();
        set_mode(&d.join("d/current"), 0o744);
    });
    let e = describe(&p.ours.1.path().join("d"));
    assert_eq!(sizes(&e), "@1.s=3002 current=0 lock=0");
    same_as_reference(&p, &["d"]);
}

// --------------------------------------------------------------- recovery

/// Builds a log directory by hand (name, mode, contents), runs multilog
/// on it with empty input, and compares with the reference.
fn recovery_case(files: &[(&str, u32, &str)], extra: &[&str], want: &str) {
    let prep = |d: &Path| {
        let l = d.join("log");
        fs::create_dir(&l).unwrap();
        for (n, m, data) in files {
            fs::write(l.join(n), data).unwrap();
            set_mode(&l.join(n), *m);
        }
    };
    let mut args = extra.to_vec();
    args.push("./log");
    let p = both(&args, b"", prep);
    assert_eq!(p.ours.0.status.code(), Some(0), "{}", stderr(&p.ours.0));
    let e = describe(&p.ours.1.path().join("log"));
    let got = e
        .iter()
        .map(|e| {
            format!(
                "{}:{:o}:{}",
                e.name,
                e.mode,
                String::from_utf8_lossy(&e.data)
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(got, want);
    same_as_reference(&p, &["log"]);
}

#[test]
fn recovery_after_a_kill_while_writing() {
    recovery_case(
        &[("current", 0o644, "killed"), ("state", 0o644, "statefoo")],
        &[],
        "@1.u:644:killed current:744: lock:600: state:644:",
    );
}

#[test]
fn recovery_after_a_crash_during_rotation() {
    // 2: after the rename, before the new current.
    recovery_case(
        &[("previous", 0o644, "prev")],
        &[],
        "@1.u:644:prev current:744: lock:600: state:644:",
    );
    // 3: new current made.
    recovery_case(
        &[("previous", 0o744, "prev"), ("current", 0o600, "")],
        &[],
        "@1.u:744:prev @2.u:600: current:744: lock:600: state:644:",
    );
}

#[test]
fn recovery_with_processor_output() {
    // 5: processor running: its partial output is dropped, previous kept.
    recovery_case(
        &[
            ("previous", 0o744, "raw"),
            ("processed", 0o644, "half"),
            ("newstate", 0o644, "ns"),
            ("state", 0o644, "st"),
            ("current", 0o644, "cur"),
        ],
        &[],
        "@1.u:744:raw @2.u:644:cur current:744: lock:600: state:644:",
    );
    // 6: processor finished: its output is kept, previous dropped.
    recovery_case(
        &[
            ("previous", 0o744, "raw"),
            ("processed", 0o744, "done"),
            ("newstate", 0o644, "ns"),
            ("state", 0o644, "st"),
            ("current", 0o644, "cur"),
        ],
        &[],
        "@1.s:744:done @2.u:644:cur current:744: lock:600: state:644:",
    );
    // 7: after newstate -> state: the state is still emptied.
    recovery_case(
        &[
            ("processed", 0o744, "done"),
            ("state", 0o644, "st"),
            ("current", 0o644, "cur"),
        ],
        &[],
        "@1.s:744:done @2.u:644:cur current:744: lock:600: state:644:",
    );
}

#[test]
fn recovery_skips_names_for_linked_files_and_keeps_clean_previous() {
    // 4: previous already linked to its archive: unlinked, no new name.
    let prep = |d: &Path| {
        let l = d.join("log");
        fs::create_dir(&l).unwrap();
        fs::write(l.join("previous"), "p").unwrap();
        fs::hard_link(l.join("previous"), l.join("@400000003b9aca0a075bcbf4.s")).unwrap();
        fs::write(l.join("current"), "c").unwrap();
        set_mode(&l.join("current"), 0o644);
    };
    let p = both(&["./log"], b"", prep);
    let e = describe(&p.ours.1.path().join("log"));
    assert_eq!(sizes(&e), "@1.s=1 @2.u=1 current=0 lock=0 state=0");
    same_as_reference(&p, &["log"]);
    // current 0744 and a stray previous: nothing changes.
    recovery_case(
        &[("current", 0o744, "c"), ("previous", 0o744, "p")],
        &[],
        "current:744:c lock:600: previous:744:p",
    );
}

// -------------------------------------------------------------- retention

#[test]
fn retention_keeps_fewer_than_n() {
    for (n, keep) in [("n2", 1), ("n3", 2), ("n4", 3)] {
        let input: Vec<u8> = (0..400)
            .flat_map(|i| format!("{i:05} {}\n", "r".repeat(94)).into_bytes())
            .collect();
        let p = both(&[n, "s4096", "./d"], &input, |_| {});
        let a = archives(&p.ours.1.path().join("d"));
        assert_eq!(a.len(), keep, "{n}");
        same_as_reference(&p, &["d"]);
    }
}

#[test]
fn retention_counts_foreign_names() {
    let prep = |d: &Path| {
        let l = d.join("d");
        fs::create_dir(&l).unwrap();
        for n in [
            "@0000000000000000000000000-foo",
            "@zzzzzzzzzzzzzzzzzzzzzzzzzzz",
            "@short",
            "plain",
        ] {
            fs::write(l.join(n), "f").unwrap();
        }
    };
    let input: Vec<u8> = (0..50)
        .flat_map(|i| format!("{i:05} {}\n", "r".repeat(94)).into_bytes())
        .collect();
    let p = both(&["n3", "s4096", "./d"], &input, prep);
    let d = p.ours.1.path().join("d");
    let mut names: Vec<String> = fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(!names.contains(&"@0000000000000000000000000-foo".to_string()));
    assert!(names.contains(&"@zzzzzzzzzzzzzzzzzzzzzzzzzzz".to_string()));
    assert!(names.contains(&"@short".to_string()) && names.contains(&"plain".to_string()));
    assert_eq!(
        archives(&d).len(),
        1,
        "n3: @zzz… counts as one of the 2 kept"
    );
    same_as_reference(&p, &["d"]);
}

// -------------------------------------------------------------- processor

#[test]
fn processor_protocol() {
    // The processor sees previous on 0, processed on 1, state on 4,
    // newstate on 5, runs in the directory, and its state is passed on.
    let script = "!echo \"cwd=$(basename $PWD) state=$(cat <&4)\"; for f in /proc/$$/fd/*; do echo \"fd${f##*/}=$(readlink $f)\"; done; tr a-z A-Z; echo gen$$ >&5; grep SigIgn /proc/$$/status >&2";
    let input = numbered(120, 60, "p");
    let d = tempdir();
    let o = run_with_input(&ml(), &["s4096", script, "./log"], d.path(), &input);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let l = d.path().join("log");
    let a = archives(&l);
    assert!(a.len() >= 2, "{a:?}");
    let first = String::from_utf8(fs::read(l.join(&a[0])).unwrap()).unwrap();
    assert!(first.starts_with("cwd=log state=\n"), "{first}");
    // fds 0, 1, 4, 5 as the protocol says; none of multilog's own
    // descriptors (lock, current, the directory) leak into the processor.
    let fds: Vec<&str> = first.lines().filter(|l| l.starts_with("fd")).collect();
    let logdir = fs::canonicalize(&l).unwrap().display().to_string();
    for (fd, file) in [
        ("fd0", "previous"),
        ("fd1", "processed"),
        ("fd4", "state"),
        ("fd5", "newstate"),
    ] {
        assert!(
            fds.contains(&format!("{fd}={logdir}/{file}").as_str()),
            "{fds:?}"
        );
    }
    let into_log = fds.iter().filter(|l| l.contains(&logdir)).count();
    assert_eq!(into_log, 4, "{fds:?}");
    assert!(first.contains("\nLINE 000 PPP"), "{first}");
    let second = String::from_utf8(fs::read(l.join(&a[1])).unwrap()).unwrap();
    assert!(
        second.starts_with("cwd=log state=gen"),
        "state carried: {second}"
    );
    assert_eq!(mode(&l.join(&a[0])), 0o744);
    assert!(a.iter().all(|n| n.ends_with(".s")));
    assert!(!l.join("previous").exists() && !l.join("processed").exists());
    assert!(l.join("state").exists() && !l.join("newstate").exists());
    // SIGPIPE reaches the processor at its default (not ignored).
    let err = stderr(&o);
    for line in err.lines() {
        let mask = u64::from_str_radix(line.trim_start_matches("SigIgn:").trim(), 16).unwrap();
        assert_eq!(
            mask & (1 << (13 - 1)),
            0,
            "SIGPIPE ignored in processor: {line}"
        );
    }
}

#[test]
fn empty_processor_discards_data() {
    let input = numbered(60, 90, "q");
    let p = both(&["s4096", "!", "./log"], &input, |_| {});
    let l = p.ours.1.path().join("log");
    let a = archives(&l);
    assert!(!a.is_empty());
    for n in &a {
        assert_eq!(fs::read(l.join(n)).unwrap().len(), 0);
    }
    same_as_reference(&p, &["log"]);
}

/// Runs multilog with a processor that misbehaves (`bad`) on its first
/// run and is `cat` afterwards. Returns stderr, the log data in order, the
/// input, and how many warnings were followed by a pause of 5 seconds
/// (multilog seen asleep, having asked for exactly that).
fn flaky_processor(bad: &str) -> (String, Vec<u8>, Vec<u8>, usize) {
    use std::io::BufRead;
    let d = tempdir();
    let flag = d.path().join("first-run-done");
    let script = format!(
        "!if [ -e {f} ]; then exec cat; else touch {f}; {bad}; fi",
        f = flag.display()
    );
    let input = numbered(60, 90, "f");
    fs::write(d.path().join("input"), &input).unwrap();
    let stdin = fs::File::open(d.path().join("input")).unwrap();
    let mut p = support::spawn(ml(), &["s4096", &script, "./log"], d.path(), |c| {
        c.stdin(stdin).stderr(Stdio::piped());
    });
    let pid = p.pid();
    let (mut err, mut pauses) = (String::new(), 0);
    for line in std::io::BufReader::new(p.child.stderr.take().unwrap()).lines() {
        err += &(line.unwrap() + "\n");
        let five = Some(Duration::from_secs(5));
        if support::wait_until(support::LONG, || support::sleep_request(pid) == five) {
            pauses += 1;
        }
    }
    let st = p.wait_timeout(support::LONG).expect("exits at the end");
    assert_eq!(st.code(), Some(0));
    (err, all_data(&d.path().join("log")), input, pauses)
}

#[test]
fn failing_processor_is_retried_after_five_seconds() {
    // Exit 1 once: one warning, one 5-second pause, and the archive is
    // made by a fresh run (the failed run's output is not kept).
    let (err, data, input, pauses) = flaky_processor("echo partial; exit 1");
    assert_eq!(pauses, 1);
    assert_eq!(
        err,
        "multilog: warning: processor failed in ./log, pausing\n"
    );
    assert_eq!(data, input);
}

#[test]
fn crashing_processor_costs_two_warnings() {
    let (err, data, input, pauses) = flaky_processor("exec sh -c 'kill -9 $$'");
    assert_eq!(pauses, 2);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].starts_with("multilog: warning: processor crashed in ./log, pausing: "));
    assert_eq!(
        lines[1],
        "multilog: warning: processor failed in ./log, pausing"
    );
    assert_eq!(data, input);
}

#[test]
fn processor_that_cannot_start_says_why() {
    // state deleted behind multilog's back: the child cannot open it.
    let d = tempdir();
    let mut p = support::spawn(ml(), &["s4096", "!cat", "./log"], d.path(), |c| {
        c.stdin(Stdio::piped()).stderr(Stdio::piped());
    });
    let l = d.path().join("log");
    assert!(support::wait_until(support::LONG, || l
        .join("state")
        .exists()));
    fs::remove_file(l.join("state")).unwrap();
    let input = numbered(60, 90, "u");
    feed(&mut p, &input);
    let mut err = p.child.stderr.take().unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while !String::from_utf8_lossy(&got).contains("processor failed") {
        let n = err.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend(&buf[..n]);
    }
    assert_eq!(
        String::from_utf8_lossy(&got),
        "multilog: fatal: unable to run cat: file does not exist\n\
         multilog: warning: processor failed in ./log, pausing\n"
    );
}

// ---------------------------------------------------------------- signals

fn feed(p: &mut support::Proc, data: &[u8]) {
    p.child.stdin.as_mut().unwrap().write_all(data).unwrap();
}

/// Waits until `path` holds exactly `want`.
fn wait_for(path: &Path, want: &[u8]) -> bool {
    support::wait_until(support::LONG, || {
        fs::read(path).map(|c| c == want).unwrap_or(false)
    })
}

fn spawn_fed(args: &[&str], dir: &Path) -> support::Proc {
    support::spawn(ml(), args, dir, |c| {
        c.stdin(Stdio::piped()).stderr(Stdio::piped());
    })
}

/// Voluntary context switches and CPU ticks (user + system) of `pid`.
fn wakeups_and_cpu(pid: i32) -> (u64, u64) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let switches = status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    let f = support::stat_fields(pid).unwrap();
    let ticks = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    (switches, ticks)
}

/// Bytes waiting in the pipe whose write end is `w` (FIONREAD).
fn in_pipe(w: &impl std::os::fd::AsFd) -> i32 {
    daemontools::sys::bytes_waiting(w.as_fd()).unwrap() as i32
}

#[test]
fn partial_line_in_a_pipe_costs_nothing_while_idle() {
    // A partial line stays in the pipe (a pipe that holds bytes is always
    // readable): multilog must not poll it. It waits for the line's end
    // with a few dozen wake-ups, backing off, and after a second takes the
    // partial line into memory; then it sleeps in the kernel until new
    // input comes: no wake-ups, no CPU.
    let d = tempdir();
    let mut p = spawn_fed(&["./log"], d.path());
    let cur = d.path().join("log/current");
    let start = wakeups_and_cpu(p.pid());
    feed(&mut p, b"one\npart");
    assert!(wait_for(&cur, b"one\n"));
    let w = p.child.stdin.take().unwrap();
    assert!(support::wait_until(support::LONG, || in_pipe(&w) == 0));
    let taken = wakeups_and_cpu(p.pid());
    assert!(
        taken.0 - start.0 <= 30,
        "{} wake-ups before the partial line was taken in",
        taken.0 - start.0
    );
    // Idle from here on (the window is not a timing assumption: any
    // wake-up at all is a failure, whenever it would come).
    std::thread::sleep(Duration::from_secs(2));
    let idle = wakeups_and_cpu(p.pid());
    assert!(
        idle.0 - taken.0 <= 1,
        "{} wake-ups while idle",
        idle.0 - taken.0
    );
    assert_eq!(idle.1, taken.1, "CPU ticks while idle");
    p.child.stdin = Some(w);
    feed(&mut p, b"ial\ntwo\n");
    assert!(wait_for(&cur, b"one\npartial\ntwo\n"));
}

#[test]
fn partial_line_at_the_end_of_a_pipe_gets_a_newline() {
    let d = tempdir();
    let mut p = spawn_fed(&["./log"], d.path());
    feed(&mut p, b"a\nb");
    drop(p.child.stdin.take());
    let st = p.wait_timeout(support::LONG).expect("exits at EOF");
    assert_eq!(st.code(), Some(0));
    assert_eq!(fs::read(d.path().join("log/current")).unwrap(), b"a\nb\n");
}

#[test]
fn lines_longer_than_a_pipe_holds_pass_whole() {
    // Lines of 1000 bytes or more are consumed in pieces (the pipe could
    // never hold them whole); without a kill they are logged whole.
    let d = tempdir();
    let mut input = b"short\n".to_vec();
    input.extend(std::iter::repeat_n(b'y', 300_000));
    input.extend(b"\nmiddle\n");
    input.extend(std::iter::repeat_n(b'z', 70_000));
    input.extend(b"\nend\n");
    let mut p = spawn_fed(&["s16777215", "./log"], d.path());
    let feeder = {
        let mut w = p.child.stdin.take().unwrap();
        let input = input.clone();
        std::thread::spawn(move || w.write_all(&input).unwrap())
    };
    let st = p.wait_timeout(support::LONG).expect("exits at EOF");
    feeder.join().unwrap();
    assert_eq!(st.code(), Some(0));
    assert!(fs::read(d.path().join("log/current")).unwrap() == input);
}

#[test]
fn term_when_idle_exits_at_once() {
    let d = tempdir();
    let mut p = spawn_fed(&["./log"], d.path());
    let cur = d.path().join("log/current");
    feed(&mut p, b"one\n");
    assert!(wait_for(&cur, b"one\n"));
    p.signal(15);
    let st = p.wait_timeout(support::LONG).expect("exits");
    assert_eq!(st.code(), Some(0));
    assert_eq!(mode(&cur), 0o744);
}

#[test]
fn term_mid_line_finishes_the_line_and_leaves_the_rest() {
    let d = tempdir();
    // Our own pipe, so the test can read what multilog left in it.
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let r2 = r.try_clone().unwrap();
    let mut w = fs::File::from(w);
    let mut p = support::spawn(ml(), &["./log"], d.path(), |c| {
        c.stdin(Stdio::from(r));
    });
    let cur = d.path().join("log/current");
    w.write_all(b"line1\nabc").unwrap();
    assert!(wait_for(&cur, b"line1\n"));
    // Let multilog settle: the partial line taken in, asleep until input
    // comes (a ppoll without a timeout) ...
    let pid = p.pid();
    let asleep = || {
        matches!(
            support::syscall(pid),
            Some((libc::SYS_ppoll, [_, _, 0, ..]))
        ) || matches!(support::syscall(pid), Some((libc::SYS_read, [0, ..])))
    };
    assert!(
        support::wait_until(support::LONG, asleep),
        "{:?}",
        support::syscall(pid)
    );
    let before = wakeups_and_cpu(pid).0;
    p.signal(15);
    // ... then TERM: it wakes, takes note, and sleeps again waiting for
    // the rest of the line (nothing else wakes it).
    assert!(
        support::wait_until(support::LONG, || wakeups_and_cpu(pid).0 > before
            && asleep()),
        "not waiting for the rest of the line: {:?}",
        support::syscall(pid)
    );
    w.write_all(b"def\nghi\n").unwrap();
    let st = p.wait_timeout(support::LONG).expect("exits");
    assert_eq!(st.code(), Some(0));
    assert_eq!(fs::read(&cur).unwrap(), b"line1\nabcdef\n");
    drop(w);
    let mut rest = Vec::new();
    fs::File::from(r2).read_to_end(&mut rest).unwrap();
    assert_eq!(
        rest, b"ghi\n",
        "the rest stays in the pipe for the next reader"
    );
}

#[test]
fn term_while_busy_is_acted_on_before_blocking() {
    // 0.76 blocks in read with a TERM that arrived during a processor run
    // pending; we exit at once (doc/multilog.8.md, "Signals while busy").
    let d = tempdir();
    let flag = d.path().join("proc-running");
    let go = d.path().join("go");
    let script = format!(
        "!touch {f}; while [ ! -e {go} ]; do sleep 0.01; done; cat",
        f = flag.display(),
        go = go.display()
    );
    let mut p = spawn_fed(&["s4096", &script, "./log"], d.path());
    let input = numbered(45, 90, "t");
    feed(&mut p, &input);
    assert!(support::wait_until(support::LONG, || flag.exists()));
    // The processor runs until `go` exists: TERM arrives during its run.
    p.signal(15);
    fs::write(&go, "").unwrap();
    let st = p
        .wait_timeout(support::LONG)
        .expect("exits without more input");
    assert_eq!(st.code(), Some(0));
    assert_eq!(all_data(&d.path().join("log")), input);
}

#[test]
fn alrm_rotates_only_non_empty_directories() {
    let d = tempdir();
    let mut p = spawn_fed(&["./a", "-*", "./b"], d.path());
    feed(&mut p, b"x\n");
    let a = d.path().join("a");
    assert!(support::wait_until(support::LONG, || fs::read(
        a.join("current")
    )
    .map(|c| c == b"x\n")
    .unwrap_or(false)));
    p.signal(14);
    assert!(support::wait_until(support::LONG, || archives(&a).len() == 1));
    assert_eq!(fs::read(a.join(&archives(&a)[0])).unwrap(), b"x\n");
    assert_eq!(fs::read(a.join("current")).unwrap(), b"");
    // Once the next line is in, the rotation pass is over: b, empty, was
    // left alone.
    feed(&mut p, b"y\n");
    assert!(support::wait_until(support::LONG, || fs::read(
        a.join("current")
    )
    .map(|c| c == b"y\n")
    .unwrap_or(false)));
    assert_eq!(archives(&a).len(), 1);
    assert!(archives(&d.path().join("b")).is_empty());
}

#[test]
fn second_multilog_is_refused_by_the_lock() {
    // Ours and the reference exclude each other too (flock, not fcntl).
    let progs: Vec<_> = std::iter::once(ml()).chain(reference("multilog")).collect();
    for first_prog in &progs {
        let d = tempdir();
        let mut first = support::spawn(first_prog, &["./log"], d.path(), |c| {
            c.stdin(Stdio::piped());
        });
        feed(&mut first, b"a\n");
        let cur = d.path().join("log/current");
        assert!(wait_for(&cur, b"a\n"));
        for prog in &progs {
            let o = run_with_input(prog, &["./log"], d.path(), b"b\n");
            assert_eq!(o.status.code(), Some(111));
            assert_eq!(
                stderr(&o),
                "multilog: fatal: unable to lock directory ./log: temporary failure\n"
            );
        }
        assert_eq!(fs::read(&cur).unwrap(), b"a\n");
    }
}

// ----------------------------------------------------------------- errors

#[test]
fn read_error_is_eof() {
    // stdin is a directory: read fails, multilog finishes normally.
    let d = tempdir();
    let o = Command::new(ml())
        .arg("./log")
        .current_dir(d.path())
        .stdin(fs::File::open(d.path()).unwrap())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(mode(&d.path().join("log/current")), 0o744);
}

#[test]
fn file_too_big_pauses_with_the_reference_message() {
    use std::os::unix::process::CommandExt;
    let d = tempdir();
    // A 10-byte file size limit (our softlimit) with SIGXFSZ ignored (the
    // shell's trap survives the exec), so write(2) fails with EFBIG.
    let mut c = Command::new("/bin/sh");
    c.arg("-c")
        .arg("trap '' XFSZ; exec \"$0\" -f 10 \"$1\" ./log")
        .arg(bin("softlimit"))
        .arg(ml())
        .current_dir(d.path())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped());
    c.process_group(0);
    let mut p = support::Proc {
        child: c.spawn().unwrap(),
    };
    feed(&mut p, b"0123456789abcdef\n");
    let mut err = p.child.stderr.take().unwrap();
    let mut buf = [0u8; 200];
    let n = err.read(&mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        b"multilog: warning: unable to write to ./log/current, pausing: file too big\n"
    );
    // The first 10 bytes are in, the rest waits: nothing is skipped.
    assert!(support::wait_until(support::LONG, || fs::read(
        d.path().join("log/current")
    )
    .map(|c| c == b"0123456789")
    .unwrap_or(false)));
}

#[test]
fn broken_stderr_kills_with_sigpipe() {
    use std::os::unix::process::ExitStatusExt;
    let d = tempdir();
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    drop(r);
    let o = Command::new(ml())
        .args(["e", "./log"])
        .current_dir(d.path())
        .stdin(Stdio::piped())
        .stderr(Stdio::from(w))
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(b"x\n").unwrap();
            c.wait()
        })
        .unwrap();
    assert_eq!(o.signal(), Some(13));
    assert_eq!(mode(&d.path().join("log/current")), 0o644);
}

#[test]
fn unreadable_cwd_is_fatal() {
    // As root every directory is readable: drop to nobody in a 0700
    // directory that root owns.
    let d = tempdir();
    fs::set_permissions(d.path(), fs::Permissions::from_mode(0o700)).unwrap();
    for prog in std::iter::once(ml()).chain(reference("multilog")) {
        // Our setuidgid switches to nobody before the exec.
        let mut c = Command::new(bin("setuidgid"));
        c.arg("nobody")
            .arg(&prog)
            .current_dir(d.path())
            .stdin(Stdio::null());
        let o = c.output().unwrap();
        assert_eq!(o.status.code(), Some(111), "{}", prog.display());
        assert_eq!(
            stderr(&o),
            "multilog: fatal: unable to switch to current directory: access denied\n"
        );
    }
}
