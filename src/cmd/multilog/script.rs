//! multilog's script: the actions chosen by each argument's first byte,
//! and the settings in force at each directory. A pure parser (no I/O),
//! so it can be fuzzed.
//!
//! 0.76's actions (`t + - e = s n ! . /`) validate nothing, and every
//! other first byte is ignored without a word. The actions of issue 16
//! (`Z L R C M g D 1`, see doc/multilog.8.md) check their argument: a
//! malformed one makes `parse` fail, and multilog exits 111 before it
//! reads any input.

/// `s` default and bounds.
pub const SIZE_DEFAULT: u64 = 99999;
pub const SIZE_MIN: u64 = 4096;
pub const SIZE_MAX: u64 = 16_777_215;
/// `M` upper bound (1 TiB).
pub const BIG_SIZE_MAX: u64 = 1 << 40;
/// `n` default and lower bound.
pub const NUM_DEFAULT: u64 = 10;
pub const NUM_MIN: u64 = 2;
/// `g` without a level.
pub const GZIP_DEFAULT: u32 = 6;
/// `Z`/`L` without a digit count: microseconds, the clock's resolution.
pub const DIGITS_DEFAULT: u8 = 6;

/// Settings a directory takes from its position in the script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings<'a> {
    pub size: u64,
    pub num: u64,
    /// The `!` command; `Some(b"")` for a bare `!`.
    pub processor: Option<&'a [u8]>,
    /// `R`: the greatest age of `current`'s first line, in seconds (0: none).
    pub age: u64,
    /// `C`: the greatest total size of the archives, in bytes (0: none).
    pub cap: u64,
    /// `g`: the gzip level of the archives (0: not compressed).
    pub gzip: u32,
    /// `D`: lines that do not fit on a full disk are dropped and counted.
    pub drop: bool,
}

impl Default for Settings<'_> {
    fn default() -> Self {
        Settings {
            size: SIZE_DEFAULT,
            num: NUM_DEFAULT,
            processor: None,
            age: 0,
            cap: 0,
            gzip: 0,
            drop: false,
        }
    }
}

impl Settings<'_> {
    /// Whether the directory behaves exactly as in 0.76 (no new setting).
    pub fn classic(&self) -> bool {
        self.age == 0 && self.cap == 0 && self.gzip == 0 && !self.drop
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

/// A whole decimal number followed by at most one unit byte from
/// `units` (with its factor). None when anything else is there, when
/// there are no digits, or on overflow.
fn number_with_unit(s: &[u8], units: &[(u8, u64)]) -> Option<u64> {
    let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in &s[..digits] {
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    match &s[digits..] {
        [] => Some(v),
        [u] => {
            let (_, factor) = units.iter().find(|(c, _)| c == u)?;
            v.checked_mul(*factor)
        }
        _ => None,
    }
}

/// Sizes: bytes, or `k`, `m`, `g` (either case) for KiB, MiB, GiB.
const SIZE_UNITS: &[(u8, u64)] = &[
    (b'k', 1 << 10),
    (b'K', 1 << 10),
    (b'm', 1 << 20),
    (b'M', 1 << 20),
    (b'g', 1 << 30),
    (b'G', 1 << 30),
];

/// Ages: seconds, or `s`, `m`, `h`, `d`.
const AGE_UNITS: &[(u8, u64)] = &[(b's', 1), (b'm', 60), (b'h', 3600), (b'd', 86_400)];

/// A size argument (`C`, `M`).
pub fn parse_size(s: &[u8]) -> Option<u64> {
    number_with_unit(s, SIZE_UNITS)
}

/// An age argument (`R`).
pub fn parse_age(s: &[u8]) -> Option<u64> {
    number_with_unit(s, AGE_UNITS)
}

/// An optional single digit: None for anything else, `default` if empty.
fn one_digit(s: &[u8], default: u8) -> Option<u8> {
    match s {
        [] => Some(default),
        [d @ b'0'..=b'9'] => Some(d - b'0'),
        _ => None,
    }
}

/// Where a readable stamp's time is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// `Z`: UTC, `2026-12-01T21:39:40.123456Z`.
    Utc,
    /// `L`: local time with its offset, `2026-12-01T22:39:40.123456+01:00`.
    Local,
}

/// An RFC 3339 stamp put in front of every line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readable {
    pub zone: Zone,
    /// Digits after the decimal point (0-9; 0: none, and no point).
    pub digits: u8,
}

impl Readable {
    /// Its length with the space after it (never 0).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        let frac = if self.digits > 0 {
            1 + self.digits as usize
        } else {
            0
        };
        let zone = match self.zone {
            Zone::Utc => 1,
            Zone::Local => 6,
        };
        19 + frac + zone + 1
    }
}

/// The stamps in front of every line: `t`'s TAI64N label first, then the
/// readable stamps in script order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stamps {
    /// `t`.
    pub tai: bool,
    /// `Z` and `L`, at most one of each.
    pub readable: [Option<Readable>; 2],
}

/// The longest stamps: a label, a local stamp and a UTC stamp with nine
/// digits each.
pub const MAX_HEAD: usize = 26 + (19 + 10 + 6 + 1) + (19 + 10 + 1 + 1);

impl Stamps {
    pub fn any(&self) -> bool {
        self.tai || self.readable[0].is_some()
    }

    /// The length of the stamps and their spaces.
    pub fn len(&self) -> usize {
        let tai = if self.tai { 26 } else { 0 };
        tai + self
            .readable
            .iter()
            .flatten()
            .map(Readable::len)
            .sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        !self.any()
    }
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
    /// `1prefix`: index into `Script::copies`.
    Copy(usize),
}

/// A parsed script. 0.76 validates nothing: every argument is an action
/// chosen by its first byte, and unknown ones are ignored.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Script<'a> {
    pub stamps: Stamps,
    pub actions: Vec<Action<'a>>,
    /// Status file names, in script order.
    pub status: Vec<&'a [u8]>,
    /// Directories with the settings in force at their position.
    pub dirs: Vec<(&'a [u8], Settings<'a>)>,
    /// The prefixes of the `1` actions, in script order.
    pub copies: Vec<&'a [u8]>,
}

/// A malformed argument of one of the new actions.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid<'a> {
    /// The argument.
    pub arg: &'a [u8],
    /// What is wrong with it.
    pub why: &'static str,
}

pub fn parse<'a>(script: &[&'a [u8]]) -> Result<Script<'a>, Invalid<'a>> {
    let mut s = Script::default();
    // 0.76: `t` counts only as the first argument. The stamps of issue 16
    // come first too, in one leading run, in which a `t` also counts.
    let mut leading = true;
    let mut set = Settings::default();
    // The `C` in force and its text, checked against the size at each
    // directory.
    let mut cap_arg: &[u8] = b"";
    let bad = |arg, why| Err(Invalid { arg, why });
    for &arg in script {
        let Some((&first, rest)) = arg.split_first() else {
            leading = false;
            continue;
        };
        if leading && matches!(first, b't' | b'Z' | b'L') {
            if first == b't' {
                s.stamps.tai = true;
                continue;
            }
            let Some(digits) = one_digit(rest, DIGITS_DEFAULT) else {
                return bad(arg, "the digit count must be one digit, 0 to 9");
            };
            let zone = if first == b'Z' {
                Zone::Utc
            } else {
                Zone::Local
            };
            let slots = &mut s.stamps.readable;
            if slots.iter().flatten().any(|a| a.zone == zone) {
                return bad(arg, "a stamp given twice");
            }
            if let Some(slot) = slots.iter_mut().find(|x| x.is_none()) {
                *slot = Some(Readable { zone, digits });
            }
            continue;
        }
        leading = false;
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
                if set.cap != 0 && set.cap < set.size {
                    return Err(Invalid {
                        arg: cap_arg,
                        why: "the total size is below the size of current (s or M) of a later directory",
                    });
                }
                s.actions.push(Action::Dir(s.dirs.len()));
                s.dirs.push((arg, set));
            }
            b'Z' | b'L' => {
                return bad(arg, "stamps (t, Z, L) must come before every other action");
            }
            b'M' => match parse_size(rest) {
                Some(n) if (SIZE_MIN..=BIG_SIZE_MAX).contains(&n) => set.size = n,
                _ => {
                    return bad(
                        arg,
                        "the size must be 4096 to 1099511627776 bytes (units k, m, g)",
                    );
                }
            },
            b'C' => match parse_size(rest) {
                Some(n) => {
                    set.cap = n;
                    cap_arg = arg;
                }
                None => {
                    return bad(
                        arg,
                        "the total size must be a number of bytes (units k, m, g; 0: none)",
                    );
                }
            },
            b'R' => match parse_age(rest) {
                Some(n) => set.age = n,
                None => {
                    return bad(
                        arg,
                        "the age must be a number of seconds (units s, m, h, d; 0: none)",
                    );
                }
            },
            b'g' => match one_digit(rest, GZIP_DEFAULT as u8) {
                Some(l) => set.gzip = u32::from(l),
                None => return bad(arg, "the gzip level must be one digit, 1 to 9 (0: none)"),
            },
            b'D' => match rest {
                b"" | b"1" => set.drop = true,
                b"0" => set.drop = false,
                _ => return bad(arg, "D takes no argument (D0: off)"),
            },
            b'1' => {
                s.actions.push(Action::Copy(s.copies.len()));
                s.copies.push(rest);
            }
            _ => {}
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p<'a>(args: &[&'a str]) -> Script<'a> {
        let v: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        parse(&v).expect("a valid script")
    }

    /// The reason a script is refused, and the argument it names.
    fn refused(args: &[&str]) -> (String, &'static str) {
        let v: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        let e = parse(&v).expect_err("an invalid script");
        (String::from_utf8(e.arg.to_vec()).unwrap(), e.why)
    }

    #[test]
    fn empty_script() {
        let s = p(&[]);
        assert!(s.stamps.is_empty());
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
        assert!(s.stamps.tai);
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
            ..Settings::default()
        };
        assert!(set.classic());
        assert_eq!(s.dirs, vec![(&b"./main"[..], set), (&b"/abs"[..], set)]);
    }

    #[test]
    fn t_only_first_and_prefixes_ignored() {
        let s = p(&["tai", "x", "T", "log", "", "t", "efoo"]);
        assert!(s.stamps.tai);
        assert_eq!(s.actions, vec![Action::Alert]);
        assert!(!p(&["e", "t"]).stamps.tai);
        assert!(!p(&["", "t"]).stamps.tai);
        assert!(p(&["tfoo"]).stamps.tai);
        assert!(p(&["tfoo"]).stamps.readable[0].is_none());
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
    fn stamps_lead_the_script() {
        let utc = |digits| {
            Some(Readable {
                zone: Zone::Utc,
                digits,
            })
        };
        let local = |digits| {
            Some(Readable {
                zone: Zone::Local,
                digits,
            })
        };
        let s = p(&["t", "Z", "./a"]);
        assert!(s.stamps.tai);
        assert_eq!(s.stamps.readable, [utc(6), None]);
        assert_eq!(s.stamps.len(), 26 + 28);
        // A `t` anywhere in the leading run counts; the order of the
        // readable stamps is the script's.
        let s = p(&["L3", "t", "Z0", "+x"]);
        assert!(s.stamps.tai);
        assert_eq!(s.stamps.readable, [local(3), utc(0)]);
        assert_eq!(s.stamps.len(), 26 + (19 + 4 + 6 + 1) + (19 + 1 + 1));
        let s = p(&["L9", "Z9"]);
        assert_eq!(s.stamps.len(), MAX_HEAD - 26);
        // After another action: refused (a `t` there is ignored, as in 0.76).
        assert!(!p(&["Z", "e", "t"]).stamps.tai);
        for script in [&["e", "Z"][..], &["./a", "L"], &["", "Z"], &["t", "x", "L"]] {
            let (arg, why) = refused(script);
            assert_eq!(arg, *script.last().unwrap());
            assert!(why.contains("come before"), "{why}");
        }
        for bad in ["Z10", "Zx", "L-1", "L 6"] {
            assert_eq!(refused(&[bad]).0, bad);
        }
        assert_eq!(refused(&["Z", "t", "Z3"]).1, "a stamp given twice");
    }

    #[test]
    fn new_directory_settings_stick() {
        let s = p(&[
            "./a", "R90", "C64m", "g", "D", "./b", "M32m", "R2h", "g9", "./c", "s5000", "R0", "C0",
            "g0", "D0", "./d", "M4096", "./e",
        ]);
        let got: Vec<(u64, u64, u64, u32, bool)> = s
            .dirs
            .iter()
            .map(|(_, d)| (d.size, d.age, d.cap, d.gzip, d.drop))
            .collect();
        assert_eq!(
            got,
            vec![
                (99999, 0, 0, 0, false),
                (99999, 90, 64 << 20, 6, true),
                (32 << 20, 7200, 64 << 20, 9, true),
                (5000, 0, 0, 0, false),
                (4096, 0, 0, 0, false),
            ]
        );
        assert!(s.dirs[0].1.classic() && s.dirs[3].1.classic());
        assert!(!s.dirs[1].1.classic());
        // `s` keeps 0.76's clamp after an `M`.
        assert_eq!(p(&["M1g", "s99999999", "./a"]).dirs[0].1.size, SIZE_MAX);
    }

    #[test]
    fn malformed_arguments_are_refused() {
        for bad in [
            "R",
            "R-1",
            "R1x",
            "R1mm",
            "R99999999999999999999",
            "Rh",
            "C",
            "Ck",
            "C1t",
            "C1 ",
            "C18446744073709551615k",
            "M",
            "M4095",
            "M1099511627777",
            "M2t",
            "g10",
            "gx",
            "g-",
            "D2",
            "Dx",
            "D00",
        ] {
            let (arg, _) = refused(&["./a", bad, "./b"]);
            assert_eq!(arg, bad);
        }
        assert!(p(&["M1099511627776", "./a"]).dirs[0].1.size == BIG_SIZE_MAX);
        // A cap below the size of a later directory's `current`.
        let (arg, why) = refused(&["C8k", "s9000", "./a"]);
        assert_eq!((arg.as_str(), why.contains("below")), ("C8k", true));
        let (arg, _) = refused(&["s9000", "C4k", "./a"]);
        assert_eq!(arg, "C4k");
        p(&["s9000", "C9000", "./a"]);
        p(&["C4k", "s4096", "./a", "C0", "M1g", "./b"]);
        // Lowercase and uppercase units.
        assert_eq!(parse_size(b"3K"), Some(3072));
        assert_eq!(parse_size(b"2G"), Some(2 << 30));
        assert_eq!(parse_age(b"15m"), Some(900));
        assert_eq!(parse_age(b"1d"), Some(86400));
        assert_eq!(parse_age(b"07"), Some(7));
    }

    #[test]
    fn copies_keep_their_prefix_verbatim() {
        let s = p(&["1", "-x*", "1nginx: ", "./a", "1"]);
        assert_eq!(s.copies, vec![&b""[..], b"nginx: ", b""]);
        assert_eq!(
            s.actions,
            vec![
                Action::Copy(0),
                Action::Deselect(b"x*"),
                Action::Copy(1),
                Action::Dir(0),
                Action::Copy(2)
            ]
        );
    }

    #[test]
    fn bare_equals_is_an_empty_status_name() {
        let s = p(&["="]);
        assert_eq!(s.status, vec![&b""[..]]);
        assert_eq!(s.actions, vec![Action::Status(0)]);
    }

    proptest! {
        #[test]
        fn any_script_parses_or_names_a_new_action(args in prop::collection::vec(
            prop::collection::vec(prop::sample::select(b"tZLRCMgD1sn./+-e=!0123456789kmhdx ".to_vec()), 0..8), 0..10))
        {
            let v: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
            match parse(&v) {
                Ok(s) => {
                    prop_assert!(s.stamps.len() <= MAX_HEAD);
                    for d in &s.dirs {
                        prop_assert!((SIZE_MIN..=BIG_SIZE_MAX).contains(&d.1.size));
                        prop_assert!(d.1.cap == 0 || d.1.cap >= d.1.size);
                        prop_assert!(d.1.gzip <= 9);
                    }
                }
                Err(e) => {
                    // The argument named is one of the script's, of a
                    // letter that checks its argument.
                    prop_assert!(v.iter().any(|a| std::ptr::eq(*a, e.arg)));
                    prop_assert!(matches!(e.arg.first(), Some(b'Z' | b'L' | b'R' | b'C' | b'M' | b'g' | b'D')));
                }
            }
        }

        #[test]
        fn sizes_and_ages_read_back(n in 0u64..1 << 40, unit in 0usize..7) {
            let (suffix, factor) = [("", 1u64), ("k", 1 << 10), ("K", 1 << 10), ("m", 1 << 20),
                ("M", 1 << 20), ("g", 1 << 30), ("G", 1 << 30)][unit];
            let text = format!("{n}{suffix}");
            prop_assert_eq!(parse_size(text.as_bytes()), n.checked_mul(factor));
            let (suffix, factor) = [("", 1u64), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400), ("", 1), ("", 1)][unit];
            let text = format!("{n}{suffix}");
            prop_assert_eq!(parse_age(text.as_bytes()), n.checked_mul(factor));
        }
        #[test]
        fn parse_never_panics_and_counts_match(args in prop::collection::vec(
            prop::collection::vec(any::<u8>(), 0..12), 0..12))
        {
            // Without the letters of issue 16 (which check their argument),
            // every script is accepted, as in 0.76.
            let v: Vec<&[u8]> = args
                .iter()
                .filter(|a| !matches!(a.first(), Some(b'Z' | b'L' | b'R' | b'C' | b'M' | b'g' | b'D')))
                .map(|a| &a[..])
                .collect();
            let s = parse(&v).expect("0.76 scripts are always accepted");
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
