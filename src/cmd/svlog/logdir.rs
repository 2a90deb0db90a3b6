//! Finding a log directory and the files in it.
//!
//! An argument names a log directory when it holds `current` (or
//! multilog's `lock`, there also while `current` is renamed); otherwise a
//! service directory (`DIR/log/main`, the layout of daemontools' and
//! runit's documentation) or a log service directory (`DIR/main`) is
//! looked for. The files are the archives `@` + 24 hex digits + `.s` or
//! `.u` (0.76's names, and s6-log's and svlogd's), also compressed
//! (`.s.gz`, `.u.gz`), in name order (which is time order), then
//! `current`. multilog's other files (`lock`, `state`, `newstate`,
//! `previous`, `processed`) are not log files; other names starting with
//! `@` are reported and skipped (except `.tmp` and `.new` files, which a
//! compressor may be writing), anything else is ignored.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirEntryExt;
use std::path::Path;

use nix::errno::Errno;

use super::stamp::{self, Stamp};

/// A log directory to read.
#[derive(Debug, Clone)]
pub struct LogDir {
    /// The path as given, with `/log/main` or `/main` added if found that
    /// way: used to open files and in messages.
    pub path: Vec<u8>,
    /// The service's name, for tagging merged lines.
    pub tag: Vec<u8>,
}

impl LogDir {
    /// `path/name`.
    pub fn file(&self, name: &[u8]) -> Vec<u8> {
        join(&self.path, name)
    }
}

/// `dir/name`, without doubling a slash.
pub fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = dir.to_vec();
    if !p.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

pub fn path(b: &[u8]) -> &Path {
    Path::new(std::ffi::OsStr::from_bytes(b))
}

/// Why an argument is not a log directory.
#[derive(Debug)]
pub enum NotFound {
    /// The argument cannot be opened as a directory.
    Open(Errno),
    /// A directory, but no log in it.
    NoLog,
}

fn exists(p: &[u8]) -> bool {
    nix::sys::stat::stat(p).is_ok()
}

/// Finds the log directory an argument names.
pub fn find(arg: &[u8]) -> Result<LogDir, NotFound> {
    match nix::sys::stat::stat(arg) {
        Err(e) => return Err(NotFound::Open(e)),
        Ok(st) if st.st_mode & libc::S_IFMT != libc::S_IFDIR => {
            return Err(NotFound::Open(Errno::ENOTDIR));
        }
        Ok(_) => {}
    }
    // `lock` marks a log directory while `current` is being rotated.
    let is_log = |d: &[u8]| exists(&join(d, b"current")) || exists(&join(d, b"lock"));
    let candidates = [join(arg, b"log/main"), join(arg, b"main")];
    let path = if is_log(arg) {
        arg.to_vec()
    } else if let Some(p) = candidates.iter().find(|p| is_log(p)) {
        p.clone()
    } else if list(arg).is_ok_and(|l| !l.archives.is_empty()) {
        arg.to_vec()
    } else {
        return Err(NotFound::NoLog);
    };
    let tag = tag_of(&path);
    Ok(LogDir { path, tag })
}

/// The service name of a log directory: `/service/NAME/log/main`,
/// `/service/NAME/log`, `.../NAME/main` and `/var/log/NAME` all give NAME.
pub fn tag_of(dir: &[u8]) -> Vec<u8> {
    let real = std::fs::canonicalize(path(dir))
        .map(|p| p.as_os_str().as_bytes().to_vec())
        .unwrap_or_else(|_| dir.to_vec());
    let parts: Vec<&[u8]> = real
        .split(|&c| c == b'/')
        .filter(|p| !p.is_empty() && *p != b".")
        .collect();
    let n = parts.len();
    let pick = match parts.as_slice() {
        [.., _, b"log", b"main"] => n - 3,
        [.., _, b"main"] | [.., _, b"log"] => n - 2,
        [] => return b"/".to_vec(),
        _ => n - 1,
    };
    parts[pick].to_vec()
}

/// A rotated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archive {
    /// The file name.
    pub name: Vec<u8>,
    /// The time in its name: when it was rotated (or recovered).
    pub stamp: Stamp,
    /// `.u`: recovered after an unclean stop, possibly cut off.
    pub unclean: bool,
    /// `.gz`: compressed with gzip.
    pub gzip: bool,
    /// The inode number (from the directory entry; 0 if not known).
    pub ino: u64,
}

impl Archive {
    /// The name without a compression suffix, `@` + 24 hex + `.s`: the
    /// same for a file and its compressed form.
    pub fn stem(&self) -> &[u8] {
        &self.name[..27]
    }
}

/// What an archive-like name is.
pub fn parse_name(name: &[u8]) -> Option<Archive> {
    if name.len() < 27 || name[25] != b'.' {
        return None;
    }
    let stamp = stamp::label(&name[..25])?;
    let unclean = match name[26] {
        b's' => false,
        b'u' => true,
        _ => return None,
    };
    let gzip = match &name[27..] {
        b"" => false,
        b".gz" => true,
        _ => return None,
    };
    Some(Archive {
        name: name.to_vec(),
        stamp,
        unclean,
        gzip,
        ino: 0,
    })
}

/// The archives of a directory, oldest first, and the names starting with
/// `@` that are not archives.
#[derive(Debug, Default)]
pub struct Listing {
    pub archives: Vec<Archive>,
    pub foreign: Vec<Vec<u8>>,
}

/// Lists a log directory. Where a file and its compressed form both exist
/// (compression under way), the uncompressed one is read.
pub fn list(dir: &[u8]) -> Result<Listing, Errno> {
    let rd = std::fs::read_dir(path(dir)).map_err(errno)?;
    let mut out = Listing::default();
    for entry in rd {
        let entry = entry.map_err(errno)?;
        let name = entry.file_name();
        let name = name.as_bytes();
        if name.first() != Some(&b'@') {
            continue;
        }
        match parse_name(name) {
            Some(mut a) => {
                a.ino = entry.ino();
                out.archives.push(a)
            }
            // A compressor's file being written.
            None if name.ends_with(b".tmp") || name.ends_with(b".new") => {}
            None => out.foreign.push(name.to_vec()),
        }
    }
    // Name order is 0.76's order; the plain file sorts before its `.gz`.
    out.archives.sort_by(|a, b| a.name.cmp(&b.name));
    out.archives
        .dedup_by(|later, earlier| later.stem() == earlier.stem());
    out.foreign.sort();
    Ok(out)
}

/// Lists a directory until two listings in a row hold the same files
/// (a file renamed or compressed during a listing may be missed by it).
pub fn list_stable(dir: &[u8]) -> Result<Listing, Errno> {
    let stems =
        |l: &Listing| -> Vec<Vec<u8>> { l.archives.iter().map(|a| a.stem().to_vec()).collect() };
    let mut before = list(dir)?;
    for _ in 0..50 {
        let after = list(dir)?;
        if stems(&before) == stems(&after) {
            return Ok(after);
        }
        before = after;
    }
    Ok(before)
}

/// The errno of an I/O error (EIO when it has none).
pub fn errno(e: std::io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let a = parse_name(b"@400000003b9aca0a075bcbf4.s").unwrap();
        assert_eq!(a.stamp, Stamp::new(1_000_000_000, 123_456_500));
        assert!(!a.unclean && !a.gzip);
        let a = parse_name(b"@400000003b9aca0a075bcbf4.u.gz").unwrap();
        assert!(a.unclean && a.gzip);
        assert_eq!(a.stem(), b"@400000003b9aca0a075bcbf4.u");
        for bad in [
            &b"@400000003b9aca0a075bcbf4.x"[..],
            b"@400000003b9aca0a075bcbf4.s.bz2",
            b"@400000003b9aca0a075bcbf4",
            b"@400000003B9ACA0A075BCBF4.s",
            b"@short",
            b"@400000003b9aca0a075bcbf4.s~",
        ] {
            assert_eq!(parse_name(bad), None);
        }
    }

    #[test]
    fn tags() {
        assert_eq!(tag_of(b"/nonexistent/svc/nginx/log/main"), b"nginx");
        assert_eq!(tag_of(b"/nonexistent/svc/nginx/log"), b"nginx");
        assert_eq!(tag_of(b"/nonexistent/var/log/nginx"), b"nginx");
        assert_eq!(tag_of(b"/nonexistent/x/main/"), b"x");
    }
}
