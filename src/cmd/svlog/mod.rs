//! `svlog [-f] [-n N] [--since T] [--until T] [--utc | --raw] DIR...`: reads
//! multilog directories (the `journalctl -u NAME -f` daemontools never
//! had).
//!
//! The lines of each directory are its archives in name order (0.76's
//! order, which is time order) and then `current`, with TAI64N stamps shown
//! as tai64nlocal shows them, as RFC 3339 UTC (`--utc`) or untouched
//! (`--raw`). Several directories are merged in time order, each line
//! tagged with its service. `-n N` prints the last N lines, reading plain
//! files backward from the end; `--since`/`--until` pick the files from
//! the stamps in their names and then test each line; `-f` follows the
//! directory across rotations (inotify, with a 1-second rescan as a
//! fallback), reading each line once. See doc/svlog.8.md.

pub mod follow;
pub mod logdir;
pub mod reader;
pub mod stamp;
pub mod stream;
pub mod tail;
pub mod when;

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::rc::Rc;

use nix::errno::Errno;

use crate::help::Help;
use crate::msg::{EXIT_TEMP, EXIT_USAGE, Line};
use logdir::{Archive, LogDir, NotFound};
use stamp::Stamp;
use stream::{Mode, Output, Piece, Src, Stream, Window};

pub const PROG: &str = "svlog";

const HELP: Help = Help {
    prog: PROG,
    usage: "svlog [-f] [-n lines] [--since t] [--until t] [--utc | --raw] dir ...",
    about: "\
Print the lines of multilog directories (a service directory means its
log/main), rotated files first, then current, with TAI64N stamps shown as
local time; several directories are merged in time order.

  -f          follow: print new lines as they come, across rotations
  -n lines    print only the last lines
  --since t, --until t
              only lines stamped in that window (journalctl's times:
              '2026-12-01 21:39', '-1h', 'yesterday', '@1796161180')
  --utc       show stamps as RFC 3339 times in UTC
  --raw       leave stamps as they are

Exit code 0; 100 for a usage error; 111 if a directory or file cannot be read.
",
    page: PROG,
};

/// Files rotated more than this long after `--until` are not read (a
/// line is stamped when multilog reads it and may reach the next file a
/// moment later).
const UNTIL_SLACK_NS: i128 = 10 * 1_000_000_000;

/// Lines shown before following when `-n` is not given (journalctl's and
/// tail's default).
const FOLLOW_LINES: u64 = 10;

/// The command line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Opts<'a> {
    pub follow: bool,
    pub lines: Option<u64>,
    pub since: Option<&'a [u8]>,
    pub until: Option<&'a [u8]>,
    pub utc: bool,
    pub raw: bool,
    pub dirs: Vec<&'a [u8]>,
}

/// Parses the command line; None on a usage error. Short options group
/// (`-fn20`); long ones take `--name value` or `--name=value`; `--` ends
/// the options.
pub fn parse_args<'a>(args: &[&'a [u8]]) -> Option<Opts<'a>> {
    let mut o = Opts::default();
    let mut i = 1;
    let number = |v: &[u8]| -> Option<u64> {
        if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(v).ok()?.parse().ok()
    };
    while i < args.len() {
        let a = args[i];
        i += 1;
        if a == b"--" {
            break;
        }
        if let Some(long) = a.strip_prefix(b"--") {
            let (name, inline) = match memchr::memchr(b'=', long) {
                Some(eq) => (&long[..eq], Some(&long[eq + 1..])),
                None => (long, None),
            };
            let takes = matches!(name, b"since" | b"until" | b"lines");
            let value = if takes {
                match inline {
                    Some(v) => Some(v),
                    None => {
                        i += 1;
                        Some(*args.get(i - 1)?)
                    }
                }
            } else if inline.is_some() {
                return None;
            } else {
                None
            };
            match name {
                b"since" => o.since = value,
                b"until" => o.until = value,
                b"lines" => o.lines = Some(number(value?)?),
                b"follow" => o.follow = true,
                b"utc" => o.utc = true,
                b"raw" => o.raw = true,
                _ => return None,
            }
            continue;
        }
        if a.len() < 2 || a[0] != b'-' {
            i -= 1;
            break;
        }
        let mut j = 1;
        while j < a.len() {
            match a[j] {
                b'f' => o.follow = true,
                b'n' => {
                    let v = if j + 1 < a.len() {
                        &a[j + 1..]
                    } else {
                        i += 1;
                        args.get(i - 1)?
                    };
                    o.lines = Some(number(v)?);
                    break;
                }
                _ => return None,
            }
            j += 1;
        }
    }
    o.dirs = args[i.min(args.len())..].to_vec();
    if o.dirs.is_empty() || (o.utc && o.raw) {
        return None;
    }
    Some(o)
}

fn usage() -> ! {
    HELP.usage()
}

/// The current time as svlog uses it.
fn now() -> Stamp {
    let (s, us) = crate::sys::gettimeofday();
    Stamp::new(s, us * 1000)
}

fn time_arg(opt: &str, arg: Option<&[u8]>, now: Stamp) -> Option<Stamp> {
    let arg = arg?;
    let t = when::parse(arg).and_then(|w| when::resolve(&w, now, &when::system_local));
    match t {
        Some(t) => Some(t),
        None => Line::new(PROG, "fatal")
            .s("unable to understand ")
            .s(opt)
            .s(" time ")
            .b(arg)
            .s(" (use YYYY-MM-DD HH:MM:SS, RFC 3339, -10min, yesterday, @SECONDS)")
            .exit(EXIT_USAGE),
    }
}

/// `current` (or `previous`) as opened for a snapshot.
pub struct Current {
    pub file: Rc<File>,
    pub dev: u64,
    pub ino: u64,
    pub len: u64,
    pub mtime: Stamp,
}

impl Current {
    /// Opens `current`; None when there is none.
    pub fn open(dir: &LogDir) -> io::Result<Option<Current>> {
        Current::open_name(dir, b"current")
    }

    pub fn open_name(dir: &LogDir, name: &[u8]) -> io::Result<Option<Current>> {
        let f = match stream::open_file(&dir.file(name)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let m = f.metadata()?;
        Ok(Some(Current {
            file: Rc::new(f),
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: Stamp::new(m.mtime(), m.mtime_nsec() as u32),
        }))
    }
}

/// A directory's archives and its open `current`, taken so that no
/// rotation fell between the listing and the opening.
pub struct Snapshot {
    pub archives: Vec<Archive>,
    /// The `current` before it, retired but not archived yet (a rotation
    /// under way, or a processor running).
    pub previous: Option<Current>,
    pub current: Option<Current>,
    /// Names starting with `@` that are not archives.
    pub foreign: Vec<Vec<u8>>,
}

fn fatal_dir(what: &str, dir: &[u8], e: Errno) -> ! {
    Line::new(PROG, "fatal")
        .s(what)
        .b(dir)
        .err(e)
        .exit(EXIT_TEMP)
}

/// `current`, `previous` and the archives, taken so that they fit: the
/// files opened are still `current` and `previous` after the listing,
/// so every archive listed is older than both (multilog unlinks
/// `previous` before it links a processor's output into place). A
/// `previous` that is also an archive (linked, not yet unlinked) is
/// dropped. Directories rotating faster than svlog can list them are
/// taken as they are after a while.
pub fn view(dir: &LogDir) -> io::Result<Snapshot> {
    let mut tries = 0;
    loop {
        let current = Current::open_name(dir, b"current")?;
        let previous = Current::open_name(dir, b"previous")?;
        let listing =
            logdir::list_stable(&dir.path).map_err(|e| io::Error::from_raw_os_error(e as i32))?;
        let still = |name: &[u8], f: &Option<Current>| {
            f.as_ref().is_none_or(|c| {
                nix::sys::stat::stat(dir.file(name).as_slice())
                    .is_ok_and(|st| (st.st_dev, st.st_ino) == (c.dev, c.ino))
            })
        };
        tries += 1;
        if (still(b"current", &current) && still(b"previous", &previous)) || tries >= 100 {
            let previous = previous.filter(|p| {
                !listing.archives.iter().any(|a| a.ino == p.ino)
                    && current.as_ref().is_none_or(|c| c.ino != p.ino)
                    && !newest_is(dir, &listing.archives, p)
            });
            return Ok(Snapshot {
                archives: listing.archives,
                foreign: listing.foreign,
                previous,
                current,
            });
        }
    }
}

/// Whether the newest archive holds what `previous` holds (it was linked
/// into place and compressed before multilog removed `previous`).
fn newest_is(dir: &LogDir, archives: &[Archive], previous: &Current) -> bool {
    let Some(a) = archives.last() else {
        return false;
    };
    let Ok((f, gzip)) = stream::open_archive(&dir.file(&a.name), a.gzip) else {
        return false;
    };
    let theirs = reader::identity(&Rc::new(f), gzip);
    let ours = reader::identity(&previous.file, false);
    matches!((theirs, ours), (Ok(a), Ok(b)) if a == b)
}

/// Takes a snapshot of `dir`, reporting foreign `@` names once.
pub fn snapshot(dir: &LogDir) -> Snapshot {
    let snap = view(dir)
        .unwrap_or_else(|e| fatal_dir("unable to read directory ", &dir.path, logdir::errno(e)));
    for name in &snap.foreign {
        stream::warn(
            &dir.file(name),
            "skipped: not a log file name (@ + 24 hex digits + .s or .u, .gz allowed)",
        );
    }
    snap
}

/// Where the complete lines of a plain file end: after its last newline
/// in `from..len` (None if there is none).
pub fn complete_end(file: &File, from: u64, len: u64) -> io::Result<Option<u64>> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut hi = len;
    while hi > from {
        let lo = hi.saturating_sub(buf.len() as u64).max(from);
        let n = (hi - lo) as usize;
        file.read_exact_at(&mut buf[..n], lo)?;
        if let Some(q) = memchr::memrchr(b'\n', &buf[..n]) {
            return Ok(Some(lo + q as u64 + 1));
        }
        hi = lo;
    }
    Ok(None)
}

/// An archive as a piece to read (opened when reached).
pub fn archive_piece(dir: &LogDir, a: &Archive, lo: Stamp, src: Option<Src>) -> Piece {
    let path = dir.file(&a.name);
    Piece {
        src: src.unwrap_or(Src::Path {
            path: path.clone(),
            gzip: a.gzip,
        }),
        name: path,
        start: 0,
        end: None,
        joins: !a.unclean,
        mid_line: false,
        lo,
        hi: a.stamp,
        warn_open_end: false,
    }
}

/// The pieces of a snapshot, oldest first. When following, `current`
/// ends at its last newline (the rest is read once it is complete).
pub fn pieces(dir: &LogDir, snap: &Snapshot, follow: bool) -> io::Result<Vec<Piece>> {
    let mut out = Vec::with_capacity(snap.archives.len() + 1);
    let mut lo = Stamp::MIN;
    for a in &snap.archives {
        out.push(archive_piece(dir, a, lo, None));
        lo = a.stamp;
    }
    if let Some(p) = &snap.previous {
        out.push(Piece {
            name: dir.file(b"previous"),
            src: Src::Plain(p.file.clone()),
            start: 0,
            end: Some(p.len),
            joins: true,
            mid_line: false,
            lo,
            hi: p.mtime.max(lo),
            warn_open_end: false,
        });
        lo = p.mtime.max(lo);
    }
    if let Some(c) = &snap.current {
        let end = if follow {
            complete_end(&c.file, 0, c.len)?.unwrap_or(0)
        } else {
            c.len
        };
        out.push(Piece {
            name: dir.file(b"current"),
            src: Src::Plain(c.file.clone()),
            start: 0,
            end: Some(end),
            joins: false,
            mid_line: false,
            lo,
            hi: c.mtime.max(lo),
            warn_open_end: !follow,
        });
    }
    Ok(out)
}

/// Narrows `pieces` to the window and to the last `lines` lines.
pub fn select(pieces: &mut Vec<Piece>, w: &Window, lines: Option<u64>) -> io::Result<()> {
    if !w.is_all() {
        let first = tail::first_in_window(pieces, w);
        let last = tail::last_in_window(pieces, w, UNTIL_SLACK_NS);
        match (first, last) {
            (Some(a), Some(b)) if a <= b => {
                if a > 0 && pieces[a - 1].joins && !tail::ends_with_newline(&pieces[a - 1])? {
                    pieces[a].mid_line = true;
                }
                pieces.truncate(b + 1);
                pieces.drain(..a);
            }
            _ => pieces.clear(),
        }
    }
    if let Some(n) = lines {
        if pieces.is_empty() {
            return Ok(());
        }
        if let Some((i, off)) = tail::find(pieces, pieces.len() - 1, n, w)? {
            pieces.drain(..i.min(pieces.len()));
            if let Some(p) = pieces.first_mut() {
                p.start = off;
                p.mid_line = false;
            }
        }
    }
    Ok(())
}

pub fn main(args: &[&[u8]]) -> i32 {
    HELP.check(args);
    let o = parse_args(args).unwrap_or_else(|| usage());
    if o.follow && o.until.is_some() {
        Line::new(PROG, "usage")
            .s("-f cannot be combined with --until")
            .exit(EXIT_USAGE);
    }
    let t = now();
    let window = Window {
        since: time_arg("--since", o.since, t).unwrap_or(Stamp::MIN),
        until: time_arg("--until", o.until, t).unwrap_or(Stamp::MAX),
    };
    let mode = if o.utc {
        Mode::Utc
    } else if o.raw {
        Mode::Raw
    } else {
        Mode::Local
    };
    let dirs: Vec<LogDir> = o
        .dirs
        .iter()
        .map(|d| match logdir::find(d) {
            Ok(l) => l,
            Err(NotFound::Open(e)) => fatal_dir("unable to open directory ", d, e),
            Err(NotFound::NoLog) => Line::new(PROG, "fatal")
                .s("no log in ")
                .b(d)
                .s(": it has no current, log/main/current or main/current")
                .exit(EXIT_TEMP),
        })
        .collect();
    let lines = o
        .lines
        .or((o.follow && o.since.is_none()).then_some(FOLLOW_LINES));

    let mut out = Output::new(mode);
    if dirs.len() > 1 {
        out.tag_width = dirs.iter().map(|d| d.tag.len()).max().unwrap_or(0);
    }
    let mut plans = Vec::with_capacity(dirs.len());
    for d in &dirs {
        let snap = snapshot(d);
        let mut ps = pieces(d, &snap, o.follow)
            .unwrap_or_else(|e| fatal_dir("unable to read ", &d.path, logdir::errno(e)));
        select(&mut ps, &window, lines)
            .unwrap_or_else(|e| fatal_dir("unable to read ", &d.path, logdir::errno(e)));
        plans.push((snap, ps));
    }
    let make = |plans: &[(Snapshot, Vec<Piece>)], quiet: bool| -> Vec<Stream> {
        dirs.iter()
            .zip(plans)
            .map(|(d, (_, ps))| {
                let mut s = Stream::new(d.tag.as_slice().into(), ps.clone(), window, Stamp::MIN);
                s.quiet = quiet;
                s
            })
            .collect()
    };
    let mut skip = 0;
    if let (Some(n), true) = (lines, dirs.len() > 1) {
        let total = stream::merge(&mut make(&plans, true), &mut out, u64::MAX);
        skip = total.saturating_sub(n);
    }
    let mut streams = make(&plans, false);
    match streams.as_mut_slice() {
        [one] if one.can_pump(&out) => one.pump(&mut out),
        all => {
            stream::merge(all, &mut out, skip);
        }
    }
    out.flush().unwrap_or_else(|e| stream::output_failed(e));
    let failed = streams.iter().any(|s| s.failed);
    if o.follow {
        let keys: Vec<Stamp> = streams.iter().map(|s| s.key).collect();
        drop(streams);
        return follow::run(dirs, plans.into_iter().map(|(s, _)| s).collect(), keys, out);
    }
    if failed { EXIT_TEMP } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(a: &[&str]) -> Option<Opts<'static>> {
        let v: Vec<&'static [u8]> = std::iter::once("svlog")
            .chain(a.iter().copied())
            .map(|s| -> &'static [u8] { Box::leak(s.as_bytes().to_vec().into_boxed_slice()) })
            .collect();
        let v: &'static [&'static [u8]] = Box::leak(v.into_boxed_slice());
        parse_args(v)
    }

    #[test]
    fn options() {
        let o = parse(&["-fn", "20", "--since", "-10min", "--utc", "a", "b"]).unwrap();
        assert!(o.follow && o.utc && !o.raw);
        assert_eq!(o.lines, Some(20));
        assert_eq!(o.since, Some(&b"-10min"[..]));
        assert_eq!(o.dirs, vec![&b"a"[..], &b"b"[..]]);
        let o = parse(&["-n5", "--until=2026-12-01 10:00", "--raw", "--", "-dir"]).unwrap();
        assert_eq!(o.lines, Some(5));
        assert_eq!(o.until, Some(&b"2026-12-01 10:00"[..]));
        assert_eq!(o.dirs, vec![&b"-dir"[..]]);
        let o = parse(&["--lines=0", "--follow", "x"]).unwrap();
        assert_eq!((o.lines, o.follow), (Some(0), true));
        for bad in [
            &[][..],
            &["-n"],
            &["-n", "x", "d"],
            &["-x", "d"],
            &["--utc", "--raw", "d"],
            &["--bogus", "d"],
            &["--utc=1", "d"],
            &["--since"],
            &["-f"],
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
