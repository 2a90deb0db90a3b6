//! softlimit (doc/softlimit.8.md): option parsing and messages, and the limits the
//! child really gets (its /proc/self/limits), side by side with the
//! reference. Expectations are derived from the hard limits this test
//! process has (the tools inherit them).

use crate::support;
use std::collections::HashMap;

use crate::support::tools::{Run, Spec, expect, same};
use nix::sys::resource::{Resource, getrlimit};

const USAGE: &str = "softlimit: usage: softlimit [-a allbytes] [-c corebytes] [-d databytes] \
[-f filebytes] [-l lockbytes] [-m membytes] [-o openfiles] [-p processes] [-r residentbytes] \
[-s stackbytes] [-t cpusecs] child\n";

const INF: u64 = u64::MAX;

fn usage(before: &str) -> Run {
    expect(100, "", &format!("{before}{USAGE}"))
}

#[test]
fn usage_and_bad_values() {
    let t = support::tempdir();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["softlimit"], ""),
        (vec!["softlimit", "-m", "5000"], ""),
        (vec!["softlimit", "--"], ""),
        (
            vec!["softlimit", "-z", "true"],
            "softlimit: illegal option -- z\n",
        ),
        (vec!["softlimit", "-mz"], ""),
        (
            vec!["softlimit", "-m"],
            "softlimit: option requires an argument -- m\n",
        ),
        (
            vec!["softlimit", "-t", "5", "-x", "true"],
            "softlimit: illegal option -- x\n",
        ),
        (vec!["softlimit", "-m", "12x", "true"], ""),
        (vec!["softlimit", "-m", "0x10", "true"], ""),
        (vec!["softlimit", "-o", "-5", "true"], ""),
        (vec!["softlimit", "-c", "==", "true"], ""),
        (vec!["softlimit", "-c", "=1", "true"], ""),
        (vec!["softlimit", "-t", " 1", "true"], ""),
        (vec!["softlimit", "-t1 ", "true"], ""),
        (
            vec!["/some/where/mysoft", "-q", "true"],
            "mysoft: illegal option -- q\n",
        ),
    ];
    for (args, before) in cases {
        let got = same("softlimit", &Spec::new(t.path(), &args));
        assert_eq!(got, usage(before), "{args:?}");
    }
}

/// (soft, hard) per /proc/self/limits row name.
fn parse_limits(text: &str) -> HashMap<String, (u64, u64)> {
    let num = |s: &str| {
        if s == "unlimited" {
            INF
        } else {
            s.parse().unwrap()
        }
    };
    text.lines()
        .skip(1)
        .map(|l| {
            let (name, rest) = l.split_at(26);
            let mut f = rest.split_whitespace();
            let soft = num(f.next().unwrap());
            let hard = num(f.next().unwrap());
            (name.trim().to_string(), (soft, hard))
        })
        .collect()
}

/// Runs `softlimit OPTS cat /proc/self/limits` (ours and the reference,
/// which must agree byte for byte) and returns the parsed limits.
fn child_limits(opts: &[&str]) -> HashMap<String, (u64, u64)> {
    let t = support::tempdir();
    let mut args = vec!["softlimit"];
    args.extend(opts);
    args.extend(["cat", "/proc/self/limits"]);
    let r = same("softlimit", &Spec::new(t.path(), &args));
    assert_eq!(r.code, Some(0), "{opts:?}: {}", r.err_str());
    parse_limits(&r.out_str())
}

fn hard(r: Resource) -> u64 {
    getrlimit(r).unwrap().1
}

fn soft(r: Resource) -> u64 {
    getrlimit(r).unwrap().0
}

const ROWS: [(&str, Resource); 10] = [
    ("Max address space", Resource::RLIMIT_AS),
    ("Max core file size", Resource::RLIMIT_CORE),
    ("Max data size", Resource::RLIMIT_DATA),
    ("Max file size", Resource::RLIMIT_FSIZE),
    ("Max locked memory", Resource::RLIMIT_MEMLOCK),
    ("Max open files", Resource::RLIMIT_NOFILE),
    ("Max processes", Resource::RLIMIT_NPROC),
    ("Max resident set", Resource::RLIMIT_RSS),
    ("Max stack size", Resource::RLIMIT_STACK),
    ("Max cpu time", Resource::RLIMIT_CPU),
];

/// Checks that exactly the rows in `changed` have the given soft limits
/// (clamped to the hard limit) and every limit else is untouched.
fn expect_limits(opts: &[&str], changed: &[(Resource, u64)]) {
    let got = child_limits(opts);
    for (row, r) in ROWS {
        let want_soft = changed
            .iter()
            .rev()
            .find(|(c, _)| *c == r)
            .map(|&(_, v)| v.min(hard(r)))
            .unwrap_or_else(|| soft(r));
        assert_eq!(got[row], (want_soft, hard(r)), "{opts:?}: {row}");
    }
}

#[test]
fn each_option_sets_its_resources() {
    use Resource::*;
    let m = 300_000_000;
    expect_limits(&["-a", "300000000"], &[(RLIMIT_AS, m)]);
    expect_limits(&["-c", "12345"], &[(RLIMIT_CORE, 12345)]);
    expect_limits(&["-d", "300000000"], &[(RLIMIT_DATA, m)]);
    expect_limits(&["-f", "77777"], &[(RLIMIT_FSIZE, 77777)]);
    expect_limits(&["-l", "65536"], &[(RLIMIT_MEMLOCK, 65536)]);
    expect_limits(
        &["-m", "300000000"],
        &[
            (RLIMIT_DATA, m),
            (RLIMIT_STACK, m),
            (RLIMIT_MEMLOCK, m),
            (RLIMIT_AS, m),
        ],
    );
    expect_limits(&["-o", "77"], &[(RLIMIT_NOFILE, 77)]);
    expect_limits(&["-p", "500"], &[(RLIMIT_NPROC, 500)]);
    expect_limits(&["-r", "4096000"], &[(RLIMIT_RSS, 4096000)]);
    expect_limits(&["-s", "1048576"], &[(RLIMIT_STACK, 1048576)]);
    expect_limits(&["-t", "100"], &[(RLIMIT_CPU, 100)]);
    expect_limits(
        &["-t100", "-o77"],
        &[(RLIMIT_CPU, 100), (RLIMIT_NOFILE, 77)],
    );
}

#[test]
fn values_equals_clamping_wrapping_and_order() {
    use Resource::*;
    expect_limits(&["-o", "="], &[(RLIMIT_NOFILE, hard(RLIMIT_NOFILE))]);
    expect_limits(&["-c", "="], &[(RLIMIT_CORE, hard(RLIMIT_CORE))]);
    expect_limits(&["-o", "99999999999"], &[(RLIMIT_NOFILE, 99999999999)]);
    expect_limits(&["-c", "18446744073709551617"], &[(RLIMIT_CORE, 1)]);
    expect_limits(&["-c", "18446744073709551615"], &[(RLIMIT_CORE, INF)]);
    expect_limits(&["-c", "000042"], &[(RLIMIT_CORE, 42)]);
    expect_limits(&["-c", ""], &[(RLIMIT_CORE, 0)]);
    // Repeated letters: the last wins; overlapping options in order.
    expect_limits(&["-o", "50", "-o", "60"], &[(RLIMIT_NOFILE, 60)]);
    let (m, s) = (400_000_000, 5_000_000);
    expect_limits(
        &["-m", "400000000", "-s", "5000000"],
        &[
            (RLIMIT_DATA, m),
            (RLIMIT_STACK, m),
            (RLIMIT_MEMLOCK, m),
            (RLIMIT_AS, m),
            (RLIMIT_STACK, s),
        ],
    );
    expect_limits(
        &["-s", "5000000", "-m", "400000000"],
        &[
            (RLIMIT_STACK, s),
            (RLIMIT_DATA, m),
            (RLIMIT_STACK, m),
            (RLIMIT_MEMLOCK, m),
            (RLIMIT_AS, m),
        ],
    );
    // `--` ends the options.
    expect_limits(&["-t", "9", "--"], &[(RLIMIT_CPU, 9)]);
}

#[test]
fn tiny_limits_reach_the_child() {
    let t = support::tempdir();
    // NPROC does not stop exec (and root ignores it anyway).
    let r = same(
        "softlimit",
        &Spec::new(t.path(), &["softlimit", "-p0", "echo", "x"]),
    );
    assert_eq!(r.out, b"x\n");
    // `-m ''` means 0 bytes: a dynamically linked program cannot start.
    let r = same(
        "softlimit",
        &Spec::new(t.path(), &["softlimit", "-c", "0", "-m", "", "/bin/true"]),
    );
    assert_ne!(r.code, Some(0));
    // Zero open files: the child cannot even open its libraries.
    let r = same(
        "softlimit",
        &Spec::new(t.path(), &["softlimit", "-o", "0", "/bin/true"]),
    );
    assert_ne!(r.code, Some(0));
}
