//! Helpers for the logging tests: running multilog with input from a
//! regular file (so reads are exactly 1024 bytes, as the conformance
//! vectors of tests/it/multilog.rs assume), and describing a log directory independently of the archive
//! stamps so that ours and the reference's can be compared.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super as common;

/// Runs `prog args` in `cwd` with `input` as stdin, read from a regular
/// file.
pub fn run_with_input(prog: &Path, args: &[&str], cwd: &Path, input: &[u8]) -> Output {
    let inp = tempfile::NamedTempFile::new().unwrap();
    fs::write(inp.path(), input).unwrap();
    Command::new(prog)
        .args(args)
        .current_dir(cwd)
        .env("PATH", common::our_path())
        .stdin(fs::File::open(inp.path()).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run")
}

/// One file of a log directory, with archive names reduced to their
/// order and suffix (`@1.s`, `@2.u`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub mode: u32,
    pub data: Vec<u8>,
}

/// Whether `name` looks like an archive made by multilog.
pub fn is_archive(name: &str) -> bool {
    name.len() == 27
        && name.starts_with('@')
        && name[1..25].bytes().all(|c| c.is_ascii_hexdigit())
        && (name.ends_with(".s") || name.ends_with(".u"))
}

/// The archive names of `dir`, oldest first.
pub fn archives(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| is_archive(n))
        .collect();
    v.sort();
    v
}

/// The directory's contents: archives in order (renamed `@N.x`), then
/// the other files by name.
pub fn describe(dir: &Path) -> Vec<Entry> {
    let mut out = Vec::new();
    for (i, n) in archives(dir).iter().enumerate() {
        let p = dir.join(n);
        out.push(Entry {
            name: format!("@{}.{}", i + 1, &n[26..]),
            mode: mode(&p),
            data: fs::read(&p).unwrap(),
        });
    }
    let mut others: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !is_archive(n))
        .collect();
    others.sort();
    for n in others {
        let p = dir.join(&n);
        out.push(Entry {
            name: n,
            mode: mode(&p),
            data: if p.is_file() {
                fs::read(&p).unwrap()
            } else {
                Vec::new()
            },
        });
    }
    out
}

/// Sizes only, for readable failure messages: `@1.s=2457 ... current=273`.
pub fn sizes(entries: &[Entry]) -> String {
    entries
        .iter()
        .map(|e| format!("{}={}", e.name, e.data.len()))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

pub fn set_mode(p: &Path, m: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
}

/// All log data of a directory in order: archives oldest first, then
/// `current`.
pub fn all_data(dir: &Path) -> Vec<u8> {
    let mut v = Vec::new();
    for n in archives(dir) {
        v.extend(fs::read(dir.join(n)).unwrap());
    }
    if let Ok(c) = fs::read(dir.join("current")) {
        v.extend(c);
    }
    v
}

/// Runs the same multilog script with ours and (if installed) the
/// reference, each in a fresh directory, and returns both outputs and
/// working directories. Directory arguments should be relative.
pub struct Pair {
    pub ours: (Output, tempfile::TempDir),
    pub reference: Option<(Output, tempfile::TempDir)>,
}

pub fn both(args: &[&str], input: &[u8], prepare: impl Fn(&Path)) -> Pair {
    let go = |prog: PathBuf| {
        let d = common::tempdir();
        prepare(d.path());
        let out = run_with_input(&prog, args, d.path(), input);
        (out, d)
    };
    Pair {
        ours: go(common::bin("multilog")),
        reference: common::reference("multilog").map(go),
    }
}

/// A stamp-free view of multilog `t` output: drops the 26-byte stamps
/// after checking their form.
pub fn strip_stamps(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in data.split_inclusive(|&c| c == b'\n') {
        assert!(line.len() >= 26, "short stamped line {line:?}");
        assert_eq!(line[0], b'@');
        assert!(line[1..25].iter().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(line[25], b' ');
        out.extend_from_slice(&line[26..]);
    }
    out
}

/// A small deterministic random number generator (xorshift) for test
/// inputs.
pub struct Rng(pub u64);

impl Rng {
    /// A number in 0..n.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// `lines` numbered lines of about `width` bytes made of `fill`.
pub fn numbered(lines: usize, width: usize, fill: &str) -> Vec<u8> {
    (0..lines)
        .flat_map(|i| format!("line {i:03} {}\n", fill.repeat(width)).into_bytes())
        .collect()
}
