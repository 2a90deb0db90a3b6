//! Crash safety: multilog is fed through a pipe that holds a backlog and
//! stays open (as svscan holds it), and is killed with SIGKILL at many
//! random points (while writing, during rotations, while a processor
//! runs, during start-up recovery), then restarted on the same pipe; a
//! last multilog runs to the end of the input.
//!
//! Every line of the input carries its own byte offset in the input (and
//! long lines carry the offset of every 11 bytes), so every piece found in
//! the log directories (`current`, `@*.s`, `@*.u`, stamps removed) is
//! located exactly in the input. The test then checks what issue 10 asks:
//! no complete line is lost, no line under 1000 bytes is ever torn, and
//! what a kill makes the next multilog log again is at most 4 KiB of
//! input. With compression on (`g`, issue 16), a third directory's
//! archives are compressed while the kills land (a `@*.s` and its
//! `@*.s.gz` are one archive, read once); in the end every archive is
//! compressed exactly once.

use crate::support;
use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::support::logs::Rng;

/// What a kill may make the next multilog log again (issue 10).
const MAX_DOUBLED: u64 = 4096;
/// Lines shorter than this are never torn.
const WHOLE: usize = 1000;

/// The input: lines that name their own offset. Short lines are
/// `L<offset>:xxx\n`; long ones `B<offset>:` then `+<offset>` every 11
/// bytes, then `\n`.
struct Input {
    data: Vec<u8>,
    /// (start, end) of every line, the newline included.
    lines: Vec<(usize, usize)>,
}

impl Input {
    fn new(rng: &mut Rng, total: usize) -> Input {
        let mut data = Vec::new();
        let mut lines = Vec::new();
        // Long lines, in the first 400 KB (the kills are over before the
        // writer gets much further): a few of 1000-5000 bytes, two longer
        // than a pipe holds (64 KiB).
        let mut long_at: Vec<(usize, usize)> = (0..10)
            .map(|_| (rng.below(400_000) as usize, 1000 + rng.below(4000) as usize))
            .collect();
        long_at.push((30_000, 90_000));
        long_at.push((200_000, 140_000));
        long_at.sort();
        let mut next_long = 0;
        while data.len() < total {
            let start = data.len();
            if next_long < long_at.len() && start >= long_at[next_long].0 {
                let len = long_at[next_long].1;
                next_long += 1;
                data.extend_from_slice(format!("B{start:010}:").as_bytes());
                while data.len() + 12 <= start + len {
                    let at = data.len();
                    data.extend_from_slice(format!("+{at:010}").as_bytes());
                }
            } else {
                data.extend_from_slice(format!("L{start:010}:").as_bytes());
                let fill = rng.below(100) as usize;
                data.extend(std::iter::repeat_n(b'x', fill));
            }
            data.push(b'\n');
            lines.push((start, data.len()));
        }
        Input { data, lines }
    }

    /// Keeps the first `n` bytes (a whole number of lines).
    fn truncate(&mut self, n: usize) {
        self.data.truncate(n);
        self.lines.retain(|l| l.1 <= n);
        assert_eq!(self.lines.last().map_or(0, |l| l.1), n);
    }

    fn is_long(&self, line: (usize, usize)) -> bool {
        line.1 - line.0 >= WHOLE
    }

    /// The line that contains offset `at`.
    fn line_at(&self, at: usize) -> (usize, usize) {
        let i = self.lines.partition_point(|l| l.1 <= at);
        self.lines[i]
    }

    /// Where `piece` (stamp removed) lies in the input, if it can be told
    /// from its text, after checking it byte for byte.
    fn locate(&self, piece: &[u8]) -> Option<usize> {
        let num = |b: &[u8]| -> Option<usize> {
            let s = std::str::from_utf8(b.get(..10)?).ok()?;
            s.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| s.parse().ok())?
        };
        let start = match piece.first() {
            Some(b'L' | b'B') if piece.get(11) == Some(&b':') => num(&piece[1..])?,
            _ => {
                let i = piece.iter().position(|&c| c == b'+')?;
                num(&piece[i + 1..])?.checked_sub(i)?
            }
        };
        (self.data.get(start..start + piece.len()) == Some(piece)).then_some(start)
    }
}

/// The pieces of a log directory: located ones as (start, end) with a
/// count, and unlocated ones (short tails of long lines) by content. A
/// file is read once however many names it has.
#[derive(Default, Clone)]
struct Pieces {
    located: BTreeMap<(usize, usize), u32>,
    unlocated: Vec<Vec<u8>>,
}

fn pieces(dir: &Path, input: &Input) -> Pieces {
    let mut out = Pieces::default();
    let Ok(rd) = fs::read_dir(dir) else {
        return out;
    };
    // The files in the order of their contents: archives, then the files
    // of a rotation, then `current`. While `previous` exists,
    // `processed` is the processor's copy of it.
    let mut names: Vec<String> = rd
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('@'))
        .collect();
    names.sort();
    if !dir.join("previous").exists() {
        names.push("processed".into());
    }
    names.extend(["previous".into(), "current".into()]);
    let mut inodes = std::collections::HashSet::new();
    // Archives read in their plain form: their `.gz` (made by a
    // compression that a kill stopped before it removed the plain file)
    // holds the same lines.
    let mut read_plain = std::collections::HashSet::new();
    // Where the last file's last piece ended, if it ended inside a line.
    let mut carry: Option<usize> = None;
    for name in names {
        let path = dir.join(&name);
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        if !meta.is_file() || !inodes.insert(meta.ino()) {
            continue;
        }
        let data = match name.strip_suffix(".gz") {
            Some(stem) if read_plain.contains(stem) => continue,
            Some(_) => {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(fs::File::open(&path).unwrap())
                    .read_to_end(&mut out)
                    .unwrap_or_else(|e| panic!("{name}: a broken gzip file: {e}"));
                out
            }
            None => {
                read_plain.insert(name.clone());
                fs::read(&path).unwrap()
            }
        };
        let texts: Vec<&[u8]> = data
            .split_inclusive(|&c| c == b'\n')
            .enumerate()
            .map(|(i, line)| {
                let stamped = line.len() >= 26 && line[0] == b'@' && line[25] == b' ';
                // Only a long line continued from the last file (split by
                // the size limit, as in 0.76) starts a file without a stamp.
                assert!(
                    stamped || i == 0,
                    "{name}: a piece without its stamp: {:?}",
                    String::from_utf8_lossy(&line[..line.len().min(60)])
                );
                if stamped { &line[26..] } else { line }
            })
            .collect();
        let fits = |at: usize, text: &[u8]| input.data.get(at..at + text.len()) == Some(text);
        let mut at: Vec<Option<usize>> = texts.iter().map(|t| input.locate(t)).collect();
        // A piece too short to name its offset: the continuation of the
        // last file's last piece, or the end of a long line that a kill
        // split, just before the next piece of its file.
        if let (Some(c), Some(None)) = (carry, at.first())
            && !data.starts_with(b"@")
            && fits(c, texts[0])
        {
            at[0] = Some(c);
        }
        for i in (0..texts.len().saturating_sub(1)).rev() {
            if at[i].is_none() {
                at[i] = at[i + 1]
                    .and_then(|n| n.checked_sub(texts[i].len()))
                    .filter(|&n| fits(n, texts[i]));
            }
        }
        carry = None;
        for (text, at) in texts.iter().zip(&at) {
            match at {
                Some(s) => *out.located.entry((*s, s + text.len())).or_default() += 1,
                None => out.unlocated.push(text.to_vec()),
            }
            carry = at
                .filter(|_| !text.ends_with(b"\n"))
                .map(|s| s + text.len());
        }
    }
    out
}

/// Checks a finished log directory against the input: every short line
/// is there whole at least once and never in pieces; every long line is
/// covered by its pieces. Returns the number of bytes logged twice.
fn check_final(dir: &Path, input: &Input) -> u64 {
    let p = pieces(dir, input);
    let name = dir.display();
    let mut logged = vec![false; input.lines.len()];
    let mut extra = 0u64;
    // Long lines: how far from their start the pieces reach.
    let mut covered: BTreeMap<usize, usize> = BTreeMap::new();
    let mut long_pieces: Vec<(usize, usize)> = Vec::new();
    for (&(s, e), &n) in &p.located {
        let line = input.line_at(s);
        if input.is_long(line) {
            assert!(e <= line.1, "{name}: piece {s}..{e} runs past its line");
            long_pieces.push((s, e));
        } else {
            assert_eq!((s, e), line, "{name}: a line under {WHOLE} bytes was torn");
            logged[input.lines.partition_point(|l| l.0 < s)] = true;
        }
        extra += (e - s) as u64 * (n as u64 - 1);
    }
    long_pieces.sort();
    for (s, e) in long_pieces {
        let line = input.line_at(s);
        let reach = covered.entry(line.0).or_insert(line.0);
        if s <= *reach {
            extra += (*reach).min(e).saturating_sub(s) as u64;
            *reach = (*reach).max(e);
        }
    }
    let mut tails = p.unlocated.clone();
    for (i, &line) in input.lines.iter().enumerate() {
        if !input.is_long(line) {
            assert!(logged[i], "{name}: line {line:?} lost");
            continue;
        }
        let reach = covered.get(&line.0).copied().unwrap_or(line.0);
        if reach == line.1 {
            continue;
        }
        // The rest of a torn long line too short to name its offset.
        let k = tails
            .iter()
            .position(|t| {
                t.len() <= 11
                    && line.1 - t.len() <= reach
                    && input.data[line.1 - t.len()..line.1] == t[..]
            })
            .unwrap_or_else(|| {
                panic!("{name}: long line {line:?} lost from {reach} (unlocated: {tails:?})")
            });
        let t = tails.swap_remove(k);
        extra += (reach - (line.1 - t.len())) as u64;
    }
    // Short ends of long lines that were logged whole already (the last
    // piece of a file, so not placed by the piece after them).
    for t in &tails {
        assert!(
            t.len() <= 11
                && input
                    .lines
                    .iter()
                    .any(|&l| input.is_long(l) && input.data[l.1 - t.len()..l.1] == t[..]),
            "{name}: a piece not from the input: {t:?}"
        );
        extra += t.len() as u64;
    }
    extra
}

/// Per run: the pieces a run logged are those in `now` that were not in
/// `before`. A run starts where the input was consumed; what it logs
/// again is the input between there and the end of what the last run
/// that logged anything had logged (`frontier`). Pushes that amount.
fn account(before: &Pieces, now: &Pieces, frontier: &mut usize, doubled: &mut Vec<u64>) {
    let new: Vec<(usize, usize)> = now
        .located
        .iter()
        .filter(|(k, n)| before.located.get(k).copied().unwrap_or(0) < **n)
        .map(|(k, _)| *k)
        .collect();
    if let (Some(first), Some(last)) = (
        new.iter().map(|&(s, _)| s).min(),
        new.iter().map(|&(_, e)| e).max(),
    ) {
        doubled.push(frontier.saturating_sub(first) as u64);
        *frontier = last;
    }
}

fn children(pid: i32) -> Vec<i32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// `pid` and all its descendants.
fn tree(pid: i32) -> Vec<i32> {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        all.extend(children(all[i]));
        i += 1;
    }
    all
}

fn stopped(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next());
            matches!(state, Some("T") | Some("t") | Some("Z"))
        })
        .unwrap_or(true)
}

/// A temporary directory on tmpfs if there is one (the test is about
/// kills, not the disk; fsyncs on a disk make it slow).
fn fast_tempdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(d) = tempfile::Builder::new().prefix("dtrs").tempdir_in(shm)
    {
        return d;
    }
    support::tempdir()
}

/// Where multilog's input comes from.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Source {
    Pipe,
    Socket,
    File,
}

/// Writes `data` to `w` in writes of mixed sizes, mostly 4096 bytes cut
/// anywhere in a line (as a stdio writer makes them), until `stop` is set
/// (then it completes the line in progress) or a write fails. Returns how
/// much it wrote.
///
/// With `bursts`, it pauses for 5 ms after every that many bytes: a
/// multilog far from a rotation takes megabytes in milliseconds, and
/// random kill moments must still find input in the pipe.
fn feed(mut w: fs::File, data: Vec<u8>, stop: Arc<AtomicBool>, bursts: Option<usize>) -> usize {
    let mut sizes = Rng(42);
    let mut at = 0;
    let mut burst = 0;
    while at < data.len() {
        // (a pause only at the end of a line: multilog takes a partial
        // line that waits into memory after a second, where a kill loses
        // it, as documented; a loaded machine can stretch 5 ms that far)
        if let Some(b) = bursts
            && burst >= b
            && data[at - 1] == b'\n'
        {
            std::thread::sleep(Duration::from_millis(5));
            burst = 0;
        }
        let n = match sizes.below(10) {
            0 => 1 + sizes.below(100) as usize,
            1 => 20_000,
            _ => 4096,
        };
        let mut end = (at + n).min(data.len());
        let line_end = |at: usize| {
            data[at..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(data.len(), |i| at + i + 1)
        };
        if stop.load(Ordering::SeqCst) {
            if data[at - 1] == b'\n' {
                break;
            }
            end = line_end(at);
        } else if bursts.is_some_and(|b| burst + (end - at) >= b) {
            // the burst ends with a line (the pause above comes next)
            end = line_end(end - 1);
        }
        if w.write_all(&data[at..end]).is_err() {
            break;
        }
        burst += end - at;
        at = end;
    }
    at
}

/// The log directories of a scenario.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Small files (a rotation every few KiB) and a processor.
    Rotating,
    /// The same plus a compressed directory.
    Gzip,
    /// One directory of 1 MB files: multilog is mostly far from a
    /// rotation, where it consumes at the line that would take the kept
    /// input past the bound instead of at 1 KiB boundaries.
    Far,
}

/// The scenario of issue 10: `kills` multilogs on the same input, each
/// SIGKILLed at a random moment (every third inside a processor run),
/// then one that runs to the end of the input. Checks that no line is
/// lost, no line under 1000 bytes is torn, and every kill makes the next
/// multilog log at most `MAX_DOUBLED` bytes of input again.
fn kills_lose_nothing(source: Source, total: usize, kills: usize, seed: u64, layout: Layout) {
    let gzip = layout == Layout::Gzip;
    let processor = layout != Layout::Far;
    let bursts = (layout == Layout::Far).then_some(1 << 20);
    let d = fast_tempdir();
    let mut rng = Rng(seed);
    let mut input = Input::new(&mut rng, total);
    let stop = Arc::new(AtomicBool::new(false));
    // The end multilog reads (every multilog gets a copy; the test holds
    // it open between them, as svscan holds a log pipe), and the writer.
    let (stdin, feeder): (std::os::fd::OwnedFd, _) = match source {
        Source::Pipe => {
            let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
            let (data, stop) = (input.data.clone(), stop.clone());
            let w = fs::File::from(w);
            (
                r,
                Some(std::thread::spawn(move || feed(w, data, stop, bursts))),
            )
        }
        Source::Socket => {
            let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
            let (data, stop) = (input.data.clone(), stop.clone());
            let w = fs::File::from(std::os::fd::OwnedFd::from(b));
            (
                a.into(),
                Some(std::thread::spawn(move || feed(w, data, stop, bursts))),
            )
        }
        Source::File => {
            let path = d.path().join("input");
            fs::write(&path, &input.data).unwrap();
            (fs::File::open(&path).unwrap().into(), None)
        }
    };
    let (mut args, mut dirs) = if processor {
        (
            vec!["t", "s4096", "n100000", "./plain"],
            vec![d.path().join("plain")],
        )
    } else {
        (
            vec!["t", "s1000000", "n100", "./far"],
            vec![d.path().join("far")],
        )
    };
    if gzip {
        args.extend(["s65536", "g9", "./gz", "g0"]);
        dirs.push(d.path().join("gz"));
    }
    if processor {
        args.extend(["s16384", "!sleep 0.005; exec cat", "./proc"]);
        dirs.push(d.path().join("proc"));
    }
    let n = dirs.len();
    let mut before = vec![Pieces::default(); n];
    let mut frontier = vec![0usize; n];
    let mut doubled: Vec<Vec<u64>> = vec![Vec::new(); n];
    let (mut in_processor, mut in_rotation, mut in_compression) = (0, 0, 0);
    let t0 = Instant::now();
    for k in 0..kills {
        let fd = stdin.try_clone().unwrap();
        let p = support::spawn(support::bin("multilog"), &args, d.path(), |c| {
            c.stdin(Stdio::from(fd)).stderr(Stdio::null());
        });
        let pid = p.pid();
        if processor && k % 3 == 0 {
            // Inside a processor run (and so inside a rotation).
            let end = Instant::now() + support::LONG;
            while children(pid).is_empty() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(1));
            }
        } else if gzip && k % 3 == 1 {
            // While an archive is compressed (if one is within a second).
            let tmp = d.path().join("gz/gzip.tmp");
            let end = Instant::now() + Duration::from_secs(1);
            while !tmp.exists() && Instant::now() < end {
                std::thread::sleep(Duration::from_micros(200));
            }
        } else if layout == Layout::Far {
            std::thread::sleep(Duration::from_micros(rng.below(8_000)));
        } else {
            std::thread::sleep(Duration::from_millis(rng.below(60)));
        }
        // Stop multilog first (a stopped process cannot fork), then its
        // processor, if one runs; look; then kill them all.
        support::send_signal(pid, 19);
        assert!(support::wait_until(support::LONG, || stopped(pid)));
        let procs = tree(pid);
        for &q in &procs[1..] {
            support::send_signal(q, 19);
        }
        if procs.len() > 1 {
            in_processor += 1;
        }
        if dirs.iter().any(|d| d.join("previous").exists()) {
            in_rotation += 1;
        }
        if gzip && d.path().join("gz/gzip.tmp").exists() {
            in_compression += 1;
        }
        let now: Vec<Pieces> = dirs.iter().map(|dir| pieces(dir, &input)).collect();
        if source == Source::File {
            // The file offset (shared with our descriptor) is where the
            // input was consumed: every line before it is in both logs.
            let consumed = nix::unistd::lseek(&stdin, 0, nix::unistd::Whence::SeekCur).unwrap();
            for (j, n) in now.iter().enumerate() {
                let reach = n.located.keys().map(|&(_, e)| e).max().unwrap_or(0);
                assert!(
                    consumed as usize <= reach.max(input.lines[0].0),
                    "kill {k}: input consumed to {consumed}, {} logged to {reach}",
                    dirs[j].display()
                );
            }
        }
        for j in 0..n {
            account(&before[j], &now[j], &mut frontier[j], &mut doubled[j]);
        }
        before = now;
        for &q in procs.iter().rev() {
            support::send_signal(q, 9);
        }
        drop(p); // reaps multilog
        // A processor killed between fork and exec held the directory's
        // lock too: the next multilog starts once it is gone.
        assert!(support::wait_until(support::LONG, || procs
            .iter()
            .all(|&q| !support::alive(q))));
    }
    // The last run: the rest of the input, then EOF. The writer stops
    // (at the end of a line); a file is cut short after a line 100 KB on.
    stop.store(true, Ordering::SeqCst);
    if source == Source::File {
        let at = nix::unistd::lseek(&stdin, 0, nix::unistd::Whence::SeekCur).unwrap() as usize;
        let cut = input.line_at((at + 100_000).min(input.data.len() - 1)).1;
        fs::OpenOptions::new()
            .write(true)
            .open(d.path().join("input"))
            .unwrap()
            .set_len(cut as u64)
            .unwrap();
        input.truncate(cut);
    }
    let fd = stdin.try_clone().unwrap();
    if source != Source::File {
        drop(stdin);
    }
    let mut p = support::spawn(support::bin("multilog"), &args, d.path(), |c| {
        c.stdin(Stdio::from(fd));
    });
    // The feeder ends (and closes its end) only if multilog keeps
    // reading: wait for multilog first, so a stuck one fails the test
    // (and is killed, which ends the feeder) instead of hanging it.
    let st = p
        .wait_timeout(Duration::from_secs(120))
        .expect("final run ends at EOF");
    assert_eq!(st.code(), Some(0));
    if let Some(f) = feeder {
        input.truncate(f.join().unwrap());
    }
    eprintln!(
        "{source:?}: {kills} kills ({in_processor} in a processor run, {in_rotation} during a \
         rotation, {in_compression} during a compression), {} bytes in {} lines, {:?}",
        input.data.len(),
        input.lines.len(),
        t0.elapsed()
    );
    if gzip {
        assert!(in_compression >= 1, "no kill landed in a compression");
        // At the end of the input every archive is compressed, once.
        let names: Vec<String> = fs::read_dir(&dirs[1])
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        let archives: Vec<&String> = names.iter().filter(|n| n.starts_with('@')).collect();
        assert!(archives.len() > 5, "{names:?}");
        for a in &archives {
            assert!(
                a.ends_with(".s.gz") || a.ends_with(".u.gz"),
                "{a} not compressed"
            );
        }
        assert!(!names.iter().any(|n| n == "gzip.tmp"), "{names:?}");
    }
    assert!(
        !processor || in_processor >= kills / 3 - 1,
        "kills inside the processor: {in_processor}"
    );
    for j in 0..n {
        account(
            &before[j],
            &pieces(&dirs[j], &input),
            &mut frontier[j],
            &mut doubled[j],
        );
        let extra = check_final(&dirs[j], &input);
        eprintln!(
            "{}: input logged twice per kill {:?}, {extra} bytes in all",
            dirs[j].display(),
            doubled[j]
        );
        for (k, &b) in doubled[j].iter().enumerate() {
            assert!(b <= MAX_DOUBLED, "kill {k}: {b} bytes logged twice");
        }
        // Every byte logged twice is accounted to a kill (but a short end
        // of a long line that closes a file is not placed: up to 11 bytes
        // per kill are then found only here).
        let accounted = doubled[j].iter().sum::<u64>();
        assert!(
            accounted <= extra && extra <= accounted + 11 * kills as u64,
            "{accounted} bytes logged twice accounted to kills, {extra} found"
        );
    }
}

#[test]
fn sigkill_with_a_backlog_in_a_pipe_loses_no_line() {
    kills_lose_nothing(
        Source::Pipe,
        4_000_000,
        30,
        0xdead_beef_0076,
        Layout::Rotating,
    );
}

#[test]
fn sigkill_during_compression_loses_no_line() {
    kills_lose_nothing(Source::Pipe, 4_000_000, 30, 0x6219_0016, Layout::Gzip);
}

/// Many more kills, at other points (the long tier:
/// `cargo test --profile ci -- --include-ignored`).
#[test]
#[ignore = "long tier: a minute or more"]
fn sigkill_many_times_with_a_backlog_in_a_pipe_loses_no_line() {
    kills_lose_nothing(
        Source::Pipe,
        40_000_000,
        400,
        0x0076_beef_dead,
        Layout::Rotating,
    );
}

#[test]
fn sigkill_with_a_backlog_in_a_socket_loses_no_line() {
    kills_lose_nothing(Source::Socket, 2_000_000, 12, 0x50c_0076, Layout::Rotating);
}

#[test]
fn sigkill_reading_a_file_loses_no_line() {
    kills_lose_nothing(Source::File, 2_000_000, 12, 0xf11e_0076, Layout::Rotating);
}

#[test]
fn sigkill_far_from_a_rotation_loses_no_line() {
    kills_lose_nothing(Source::Pipe, 16_000_000, 30, 0xfa7_0076, Layout::Far);
}

#[test]
fn sigkill_reading_a_file_far_from_a_rotation_loses_no_line() {
    kills_lose_nothing(Source::File, 16_000_000, 12, 0xfa7_f11e, Layout::Far);
}

// ---- the `pending` record (doc/multilog.8.md, "SIGKILL") ----

/// What a multilog killed on `pipe` would have left in `pending`: the
/// input logged up to `logged`, consumed up to 0, the bytes it saw at the
/// head and after the logged bytes (the file's layout: magic, boot id,
/// device and inode of the pipe, then two slots of a sequence number and a
/// record: logged, from, to, and three strings of a length byte and 16
/// bytes: after, at from, at to).
fn pending_file(pipe: &std::os::fd::OwnedFd, logged: u64, head: &[u8], after: &[u8]) -> Vec<u8> {
    let st = nix::sys::stat::fstat(pipe).unwrap();
    let mut f = b"dtrsPND3".to_vec();
    let boot = fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let hex: Vec<u8> = boot.bytes().filter(u8::is_ascii_hexdigit).collect();
    for pair in hex.chunks(2) {
        f.push(u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap());
    }
    f.extend(st.st_dev.to_le_bytes());
    f.extend(st.st_ino.to_le_bytes());
    let mut slot = 1u64.to_le_bytes().to_vec();
    for word in [logged, 0, 0] {
        slot.extend(word.to_le_bytes());
    }
    for s in [after, head, head] {
        let s = &s[..s.len().min(16)];
        slot.push(s.len() as u8);
        slot.extend(s);
        slot.extend(std::iter::repeat_n(0, 16 - s.len()));
    }
    slot.resize(88, 0);
    f.extend(&slot);
    f.extend([0; 88]);
    f
}

/// multilog `./main` reading `input` from a pipe, with `pending` in
/// ./main first (made from the pipe by `record`); returns `current` and
/// the pipe's size afterwards.
fn log_with_record(
    input: &[u8],
    record: impl FnOnce(&std::os::fd::OwnedFd) -> Vec<u8>,
) -> (String, i32) {
    let d = fast_tempdir();
    fs::create_dir(d.path().join("main")).unwrap();
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    fs::write(d.path().join("main/pending"), record(&r)).unwrap();
    fs::File::from(w).write_all(input).unwrap(); // and closed: EOF after it
    let keep = r.try_clone().unwrap();
    let mut p = support::spawn(support::bin("multilog"), &["./main"], d.path(), |c| {
        c.stdin(Stdio::from(r));
    });
    let st = p.wait_timeout(support::LONG).expect("multilog ends at EOF");
    assert!(st.success(), "{st:?}");
    let size = nix::fcntl::fcntl(&keep, nix::fcntl::FcntlArg::F_GETPIPE_SZ).unwrap();
    let current = fs::read_to_string(d.path().join("main/current")).unwrap();
    (current, size)
}

const THREE: &[u8] = b"line one\nline two\nline three\n";

#[test]
fn a_killed_multilogs_record_skips_the_lines_it_logged() {
    let (current, size) = log_with_record(THREE, |r| {
        pending_file(r, 18, b"line one\nline two", b"line three\n")
    });
    assert_eq!(current, "line three\n");
    // The pipe was given room for two blocks of 128 KiB.
    assert!(size >= 256 * 1024, "pipe size {size}");
}

#[test]
fn a_record_that_does_not_fit_the_pipe_skips_nothing() {
    // Other bytes at the head: another reader took input since.
    let (current, _) = log_with_record(THREE, |r| {
        pending_file(r, 18, b"line zero\nline o", b"line three\n")
    });
    assert_eq!(current, "line one\nline two\nline three\n");
    // Other bytes after the logged ones.
    let (current, _) = log_with_record(THREE, |r| {
        pending_file(r, 18, b"line one\nline two", b"line four\n")
    });
    assert_eq!(current, "line one\nline two\nline three\n");
    // Another pipe (its inode is not this one's).
    let (current, _) = log_with_record(THREE, |r| {
        let mut f = pending_file(r, 18, b"line one\nline two", b"line three\n");
        f[32] ^= 1;
        f
    });
    assert_eq!(current, "line one\nline two\nline three\n");
    // More logged than the pipe holds.
    let (current, _) = log_with_record(THREE, |r| pending_file(r, 40, b"line one\nline two", b""));
    assert_eq!(current, "line one\nline two\nline three\n");
}
