//! `envdir d child`: run child with environment variables set or unset from
//! the files in directory d.
//!
//! Each file not starting with `.` names a variable. An empty file unsets
//! it; otherwise its first line, with trailing spaces and tabs removed and
//! NUL bytes turned into newlines, becomes the value. Files are taken in
//! readdir order and the changes applied in that order (`exec::apply_env`).
//! One read buffer serves every file and is left alone when a file does not
//! exist (e.g. a dangling symlink); `Reader` reproduces what that does.

use std::os::fd::OwnedFd;

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::exec::{Command, apply_env};
use crate::fsio;
use crate::msg::{self, EXIT_TEMP, Line};
use crate::sys;

const PROG: &str = "envdir";

/// Read size of the C reader (one read(2) per 256 bytes).
const CHUNK: usize = 256;

/// envdir's reader state: the buffer shared by all files.
#[derive(Default)]
pub struct Reader {
    buf: Vec<u8>,
}

impl Reader {
    pub fn new() -> Reader {
        Reader::default()
    }

    /// The environment change for the file `name` whose content is
    /// `content` (None: the file does not exist, the buffer keeps what the
    /// previous file left in it). Returns `NAME=VALUE` or `NAME`.
    pub fn change(&mut self, name: &[u8], content: Option<&[u8]>) -> Vec<u8> {
        if let Some(c) = content {
            self.buf.clear();
            self.buf.extend_from_slice(c);
        }
        self.process(name)
    }

    /// Reads the file `name` in the cwd into the buffer: Ok(false) when it
    /// does not exist (buffer untouched).
    fn read_file(&mut self, name: &[u8]) -> Result<bool, Errno> {
        let fd = match fsio::open_read(name) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(false),
            Err(e) => return Err(e),
        };
        self.buf.clear();
        read_all(&fd, &mut self.buf)?;
        Ok(true)
    }

    /// Turns the buffer into the change for `name`, leaving in the buffer
    /// what the C code leaves there: the value plus a terminating NUL.
    fn process(&mut self, name: &[u8]) -> Vec<u8> {
        if self.buf.is_empty() {
            return name.to_vec();
        }
        let b = &mut self.buf;
        b.truncate(memchr::memchr(b'\n', b).unwrap_or(b.len()));
        while let Some(b' ' | b'\t') = b.last() {
            b.pop();
        }
        for c in b.iter_mut() {
            if *c == 0 {
                *c = b'\n';
            }
        }
        let mut entry = Vec::with_capacity(name.len() + 1 + b.len());
        entry.extend_from_slice(name);
        entry.push(b'=');
        entry.extend_from_slice(b);
        b.push(0);
        entry
    }
}

/// Reads to EOF, CHUNK bytes per read(2), appending to `buf`.
fn read_all(fd: &OwnedFd, buf: &mut Vec<u8>) -> Result<(), Errno> {
    loop {
        let len = buf.len();
        buf.resize(len + CHUNK, 0);
        let n = fsio::read(fd, &mut buf[len..]).inspect_err(|_| buf.truncate(len))?;
        buf.truncate(len + n);
        if n == 0 {
            return Ok(());
        }
    }
}

pub fn main(args: &[&[u8]]) -> i32 {
    if args.len() < 3 {
        Line::new(PROG, "usage")
            .s("envdir dir child")
            .exit(EXIT_TEMP);
    }
    let dir = args[1];
    let changes = read_dir(dir);
    let old = sys::environ();
    let new = apply_env(&old, &changes);
    Command::new(args[2], &args[2..], &new, &old).run_or_die(PROG)
}

/// Reads every variable file of `dir` (from the cwd) and returns the
/// changes in readdir order; the cwd is the same afterwards.
fn read_dir(dir: &[u8]) -> Vec<Vec<u8>> {
    let here = fsio::open_read(b".")
        .unwrap_or_else(|e| msg::fatal(PROG, &[b"unable to switch to current directory"], e));
    if let Err(e) = nix::unistd::chdir(dir) {
        msg::fatal(PROG, &[b"unable to switch to directory ", dir], e);
    }
    let unreadable = |e| -> ! { msg::fatal(PROG, &[b"unable to read directory ", dir], e) };
    let mut d = Dir::open(
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .unwrap_or_else(|e| unreadable(e));
    let mut reader = Reader::new();
    let mut changes = Vec::new();
    for entry in d.iter() {
        let entry = entry.unwrap_or_else(|e| unreadable(e));
        let name = entry.file_name().to_bytes();
        if name.first() == Some(&b'.') {
            continue;
        }
        if let Err(e) = reader.read_file(name) {
            msg::fatal(PROG, &[b"unable to read ", dir, b"/", name], e);
        }
        changes.push(reader.process(name));
    }
    drop(d);
    if let Err(e) = nix::unistd::fchdir(&here) {
        msg::fatal(PROG, &[b"unable to switch to starting directory"], e);
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(content: &[u8]) -> Vec<u8> {
        Reader::new().change(b"N", Some(content))
    }

    #[test]
    fn reading_rules() {
        assert_eq!(one(b"first line  \t \nsecond line\n"), b"N=first line");
        assert_eq!(one(b"a\0b\0c"), b"N=a\nb\nc");
        assert_eq!(one(b""), b"N");
        assert_eq!(one(b"\n"), b"N=");
        assert_eq!(one(b"  lead"), b"N=  lead");
        assert_eq!(one(b"trail \r"), b"N=trail \r");
        assert_eq!(one(b" \t"), b"N=");
        assert_eq!(one(b"x\0 "), b"N=x\n");
        assert_eq!(
            Reader::new().change(b"EQ=NAME", Some(b"x=y")),
            b"EQ=NAME=x=y"
        );
        assert_eq!(Reader::new().change(b"A=B", Some(b"")), b"A=B");
    }

    #[test]
    fn buffer_reuse_after_missing_file() {
        // Confirmed with the reference: DDD, CCC, BBB, AAA in readdir order,
        // DDD and BBB dangling.
        let mut r = Reader::new();
        assert_eq!(r.change(b"DDD", None), b"DDD");
        assert_eq!(r.change(b"CCC", Some(b"zz\n")), b"CCC=zz");
        assert_eq!(r.change(b"BBB", None), b"BBB=zz\n");
        assert_eq!(r.change(b"AAA", Some(b"hello\n")), b"AAA=hello");
        // Repeated misses cut at the newline the previous one produced.
        assert_eq!(r.change(b"E", None), b"E=hello\n");
        assert_eq!(r.change(b"F", None), b"F=hello");
        // An empty file leaves an empty buffer: a miss then unsets.
        assert_eq!(r.change(b"G", Some(b"")), b"G");
        assert_eq!(r.change(b"H", None), b"H");
        // NULs already turned into newlines cut the reused value.
        assert_eq!(r.change(b"I", Some(b"a\0b")), b"I=a\nb");
        assert_eq!(r.change(b"J", None), b"J=a");
        // A first-line-empty file leaves just the NUL behind.
        assert_eq!(r.change(b"K", Some(b"\nmore")), b"K=");
        assert_eq!(r.change(b"L", None), b"L=\n");
    }

    /// The value a file's content gives, as doc/envdir.8.md states it.
    fn documented_value(content: &[u8]) -> Vec<u8> {
        let line = content.split(|&c| c == b'\n').next().unwrap();
        let end = line
            .iter()
            .rposition(|&c| c != b' ' && c != b'\t')
            .map_or(0, |i| i + 1);
        line[..end]
            .iter()
            .map(|&c| if c == 0 { b'\n' } else { c })
            .collect()
    }

    proptest::proptest! {
        /// Any sequence of files and misses: no panic; a read file gives
        /// exactly the documented value (or an unset when empty); a miss after a
        /// set reuses that value's buffer; no NUL ever reaches a value.
        #[test]
        fn reader_matches_documentation(
            files in proptest::collection::vec(
                proptest::option::weighted(
                    0.8,
                    proptest::collection::vec(
                        proptest::prop_oneof![
                            proptest::prelude::Just(0u8),
                            proptest::prelude::Just(b'\n'),
                            proptest::prelude::Just(b' '),
                            proptest::prelude::Just(b'\t'),
                            proptest::prelude::Just(b'\r'),
                            proptest::prelude::any::<u8>(),
                        ],
                        0..40,
                    ),
                ),
                0..12,
            )
        ) {
            let mut r = Reader::new();
            let mut last: Option<Vec<u8>> = None;
            for f in &files {
                let change = r.change(b"N", f.as_deref());
                proptest::prop_assert!(!change.contains(&0));
                match f {
                    Some(c) if c.is_empty() => proptest::prop_assert_eq!(&change, b"N"),
                    Some(c) => {
                        let mut want = b"N=".to_vec();
                        want.extend(documented_value(c));
                        proptest::prop_assert_eq!(&change, &want);
                    }
                    None => match &last {
                        // A miss right after a set value: that value cut at
                        // its first newline, plus the newline from the NUL.
                        Some(prev) if !prev.contains(&b'\n') => {
                            let mut want = b"N=".to_vec();
                            want.extend(prev);
                            want.push(b'\n');
                            proptest::prop_assert_eq!(&change, &want);
                        }
                        _ => {}
                    },
                }
                last = match f {
                    Some(c) if !c.is_empty() => Some(documented_value(c)),
                    _ => None,
                };
            }
        }
    }
}
