//! multilog's script: the actions chosen by each argument's first byte,
//! and the `s`/`n`/`!` settings in force at each directory. A pure parser
//! (no I/O), so it can be fuzzed.

/// `s` default and bounds.
pub const SIZE_DEFAULT: u64 = 99999;
pub const SIZE_MIN: u64 = 4096;
pub const SIZE_MAX: u64 = 16_777_215;
/// `n` default and lower bound.
pub const NUM_DEFAULT: u64 = 10;
pub const NUM_MIN: u64 = 2;

/// Settings a directory takes from its position in the script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings<'a> {
    pub size: u64,
    pub num: u64,
    /// The `!` command; `Some(b"")` for a bare `!`.
    pub processor: Option<&'a [u8]>,
}

impl Default for Settings<'_> {
    fn default() -> Self {
        Settings {
            size: SIZE_DEFAULT,
            num: NUM_DEFAULT,
            processor: None,
        }
    }
}

/// Parses an unsigned decimal prefix like daemontools' `scan_ulong`: no
/// sign, no spaces, stops at the first non-digit, wraps modulo 2^64.
pub fn scan_ulong(s: &[u8]) -> u64 {
    let mut v: u64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            break;
        }
        v = v.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
    }
    v
}

/// One per-line action, in script order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// `+pattern`
    Select(&'a [u8]),
    /// `-pattern`
    Deselect(&'a [u8]),
    /// `e`
    Alert,
    /// `=file`: index into `Script::status`.
    Status(usize),
    /// A directory: index into `Script::dirs`.
    Dir(usize),
}

/// A parsed script. 0.76 validates nothing: every argument is an action
/// chosen by its first byte, and unknown ones are ignored.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Script<'a> {
    /// `t` as the first argument.
    pub timestamp: bool,
    pub actions: Vec<Action<'a>>,
    /// Status file names, in script order.
    pub status: Vec<&'a [u8]>,
    /// Directories with the `s`, `n` and `!` in force at their position.
    pub dirs: Vec<(&'a [u8], Settings<'a>)>,
}

pub fn parse<'a>(script: &[&'a [u8]]) -> Script<'a> {
    let mut s = Script {
        timestamp: script.first().and_then(|a| a.first()) == Some(&b't'),
        ..Script::default()
    };
    let mut set = Settings::default();
    for &arg in script {
        let Some((&first, rest)) = arg.split_first() else {
            continue;
        };
        match first {
            b'+' => s.actions.push(Action::Select(rest)),
            b'-' => s.actions.push(Action::Deselect(rest)),
            b'e' => s.actions.push(Action::Alert),
            b'=' => {
                s.actions.push(Action::Status(s.status.len()));
                s.status.push(rest);
            }
            b's' => {
                set.size = scan_ulong(rest).clamp(SIZE_MIN, SIZE_MAX);
            }
            b'n' => set.num = scan_ulong(rest).max(NUM_MIN),
            b'!' => set.processor = Some(rest),
            b'.' | b'/' => {
                s.actions.push(Action::Dir(s.dirs.len()));
                s.dirs.push((arg, set));
            }
            _ => {}
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p<'a>(args: &[&'a str]) -> Script<'a> {
        let v: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        parse(&v)
    }

    #[test]
    fn empty_script() {
        let s = p(&[]);
        assert!(!s.timestamp);
        assert!(s.actions.is_empty() && s.dirs.is_empty() && s.status.is_empty());
    }

    #[test]
    fn every_action() {
        let s = p(&[
            "t",
            "-*",
            "+* fatal: *",
            "e",
            "=status",
            "s5000",
            "n5",
            "!gzip",
            "./main",
            "/abs",
        ]);
        assert!(s.timestamp);
        assert_eq!(
            s.actions,
            vec![
                Action::Deselect(b"*"),
                Action::Select(b"* fatal: *"),
                Action::Alert,
                Action::Status(0),
                Action::Dir(0),
                Action::Dir(1),
            ]
        );
        assert_eq!(s.status, vec![&b"status"[..]]);
        let set = Settings {
            size: 5000,
            num: 5,
            processor: Some(b"gzip"),
        };
        assert_eq!(s.dirs, vec![(&b"./main"[..], set), (&b"/abs"[..], set)]);
    }

    #[test]
    fn t_only_first_and_prefixes_ignored() {
        let s = p(&["tai", "x", "T", "log", "", "t", "efoo"]);
        assert!(s.timestamp);
        assert_eq!(s.actions, vec![Action::Alert]);
        assert!(!p(&["e", "t"]).timestamp);
        assert!(p(&["tfoo"]).timestamp);
    }

    #[test]
    fn sizes_and_counts_clamp_and_stick() {
        let s = p(&[
            "./a",
            "s4096",
            "./b",
            "sabc",
            "./c",
            "s99999999",
            "n0",
            "./d",
            "s5000x",
            "n1",
            "./e",
            "n",
            "nabc",
            "n7",
            "./f",
        ]);
        let sizes: Vec<u64> = s.dirs.iter().map(|d| d.1.size).collect();
        let nums: Vec<u64> = s.dirs.iter().map(|d| d.1.num).collect();
        assert_eq!(sizes, vec![99999, 4096, 4096, 16777215, 5000, 5000]);
        assert_eq!(nums, vec![10, 10, 10, 2, 2, 7]);
    }

    #[test]
    fn processor_sticks_and_bare_bang_is_empty_command() {
        let s = p(&["./a", "!cat", "./b", "!", "./c", ".", "/"]);
        let procs: Vec<Option<&[u8]>> = s.dirs.iter().map(|d| d.1.processor).collect();
        assert_eq!(
            procs,
            vec![
                None,
                Some(&b"cat"[..]),
                Some(&b""[..]),
                Some(&b""[..]),
                Some(&b""[..])
            ]
        );
        assert_eq!(s.dirs[3].0, b".");
        assert_eq!(s.dirs[4].0, b"/");
    }

    #[test]
    fn bare_equals_is_an_empty_status_name() {
        let s = p(&["="]);
        assert_eq!(s.status, vec![&b""[..]]);
        assert_eq!(s.actions, vec![Action::Status(0)]);
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_counts_match(args in prop::collection::vec(
            prop::collection::vec(any::<u8>(), 0..12), 0..12))
        {
            let v: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
            let s = parse(&v);
            let dirs = v.iter().filter(|a| matches!(a.first(), Some(b'.' | b'/'))).count();
            let eqs = v.iter().filter(|a| a.first() == Some(&b'=')).count();
            prop_assert_eq!(s.dirs.len(), dirs);
            prop_assert_eq!(s.status.len(), eqs);
            for d in &s.dirs {
                prop_assert!((4096..=16777215).contains(&d.1.size));
                prop_assert!(d.1.num >= 2);
            }
        }
    }

    #[test]
    fn scan_ulong_like_daemontools() {
        assert_eq!(scan_ulong(b""), 0);
        assert_eq!(scan_ulong(b"abc"), 0);
        assert_eq!(scan_ulong(b"5000x"), 5000);
        assert_eq!(scan_ulong(b"-5"), 0);
        assert_eq!(scan_ulong(b" 5"), 0);
        assert_eq!(scan_ulong(b"18446744073709551616"), 0);
        assert_eq!(scan_ulong(b"18446744073709551617"), 1);
    }
}
