//! `softlimit [-acdflmoprst n] child`: run child with lower soft resource
//! limits. Each option is applied at once, in command-line order; only the
//! soft limit changes, clamped to the hard limit; `=` means "as high as the
//! hard limit".

use nix::sys::resource::{Resource, getrlimit, setrlimit};

use crate::args::{Getopt, Opt};
use crate::exec::Command;
use crate::msg;

const PROG: &str = "softlimit";

const USAGE: &str = "softlimit [-a allbytes] [-c corebytes] [-d databytes] [-f filebytes] \
[-l lockbytes] [-m membytes] [-o openfiles] [-p processes] [-r residentbytes] \
[-s stackbytes] [-t cpusecs] child";

fn die_usage() -> ! {
    msg::usage(PROG, USAGE)
}

/// The resources an option letter sets on Linux, in daemontools' order
/// (`-o` sets RLIMIT_NOFILE and then RLIMIT_OFILE, the same resource).
pub fn resources(letter: u8) -> &'static [Resource] {
    use Resource::*;
    match letter {
        b'a' => &[RLIMIT_AS],
        b'c' => &[RLIMIT_CORE],
        b'd' => &[RLIMIT_DATA],
        b'f' => &[RLIMIT_FSIZE],
        b'l' => &[RLIMIT_MEMLOCK],
        b'm' => &[RLIMIT_DATA, RLIMIT_STACK, RLIMIT_MEMLOCK, RLIMIT_AS],
        b'o' => &[RLIMIT_NOFILE, RLIMIT_NOFILE],
        b'p' => &[RLIMIT_NPROC],
        b'r' => &[RLIMIT_RSS],
        b's' => &[RLIMIT_STACK],
        b't' => &[RLIMIT_CPU],
        _ => &[],
    }
}

/// The new soft limit for argument `arg` given the hard limit, or None
/// when `arg` is neither `=` nor all digits. The empty string is 0 and
/// numbers wrap modulo 2^64, as daemontools' scan_ulong does.
pub fn soft_value(arg: &[u8], hard: u64) -> Option<u64> {
    if arg == b"=" {
        return Some(hard);
    }
    if !arg.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = arg.iter().fold(0u64, |n, &c| {
        n.wrapping_mul(10).wrapping_add(u64::from(c - b'0'))
    });
    Some(n.min(hard))
}

fn apply(resource: Resource, arg: &[u8]) {
    let (_, hard) =
        getrlimit(resource).unwrap_or_else(|e| msg::fatal(PROG, &[b"getrlimit failed"], e));
    let Some(soft) = soft_value(arg, hard) else {
        die_usage()
    };
    if let Err(e) = setrlimit(resource, soft, hard) {
        msg::fatal(PROG, &[b"setrlimit failed"], e);
    }
}

pub fn main(args: &[&[u8]]) -> i32 {
    let mut opts = Getopt::new(args, b"a:c:d:f:l:m:o:p:r:s:t:");
    for o in opts.by_ref() {
        match o {
            Opt::Flag(letter, Some(arg)) => {
                for &r in resources(letter) {
                    apply(r, arg);
                }
            }
            _ => die_usage(),
        }
    }
    let child = opts.rest();
    if child.is_empty() {
        die_usage();
    }
    Command::with_current_env(child).run_or_die(PROG)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INF: u64 = u64::MAX;

    #[test]
    fn values() {
        assert_eq!(soft_value(b"=", 20000), Some(20000));
        assert_eq!(soft_value(b"=", INF), Some(INF));
        assert_eq!(soft_value(b"", INF), Some(0));
        assert_eq!(soft_value(b"2000000", INF), Some(2000000));
        assert_eq!(soft_value(b"99999999", 20000), Some(20000));
        assert_eq!(soft_value(b"18446744073709551617", INF), Some(1));
        assert_eq!(soft_value(b"18446744073709551615", INF), Some(INF));
        assert_eq!(soft_value(b"000123", INF), Some(123));
        for bad in [&b"12x"[..], b"0x10", b"-5", b"==", b" 1", b"1 ", b"=1"] {
            assert_eq!(soft_value(bad, INF), None, "{bad:?}");
        }
    }

    #[test]
    fn letters() {
        assert_eq!(resources(b'm').len(), 4);
        assert_eq!(resources(b'o'), &[Resource::RLIMIT_NOFILE; 2]);
        for l in b"acdflmoprst" {
            assert!(!resources(*l).is_empty());
        }
    }

    proptest::proptest! {
        #[test]
        fn any_digits_wrap(n in proptest::prelude::any::<u128>()) {
            let s = n.to_string();
            proptest::prop_assert_eq!(soft_value(s.as_bytes(), INF), Some(n as u64));
        }
    }
}
