//! `svshutdown [-q] [-t seconds] [dir]`: stop a whole supervision tree
//! without losing a log line (the `svscan.rc stop` sequence of the
//! daemontools "logging patch" how-to), default dir `/service`:
//!
//! 1. Every svscan whose working directory is DIR gets SIGTERM, so nothing
//!    is respawned (a 0.76-style svscan dies; ours in its opt-in shutdown
//!    mode runs this same sequence itself, and we wait for it).
//! 2. Every supervised logger (`DIR/*/log`, `DIR/.svscan/log`) gets
//!    `svc -ox`: it is not restarted, and its supervise exits once the
//!    logger exits, which it does at the end of its input.
//! 3. Every supervised service `DIR/*` runs its `./shutdown` hook if it is
//!    executable, then gets `svc -dx`.
//! 4. Wait until every service supervise is gone; after the timeout, the
//!    services still up get `svc -k`.
//! 5. Wait until the loggers have drained their pipes and exited; loggers
//!    still running after the timeout (a pipe kept open by a stray process)
//!    get `svc -dx`, which makes multilog finish its current line and exit.
//!
//! Exit 0 when nothing of the tree is left, 1 otherwise, 100 on usage.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::args::{self, Getopt, Opt};
use crate::help::Help;
use crate::msg::Line;
use crate::svctl;

const PROG: &str = "svshutdown";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

const HELP: Help = Help {
    prog: PROG,
    usage: "svshutdown [-q] [-t seconds] [dir]",
    about: "\
Stop the whole supervision tree in dir (default /service) without losing a
log line: SIGTERM to the svscan running in dir, svc -ox to every logger,
./shutdown (if executable) and svc -dx to every service, then wait until
the services are gone (KILL after the timeout) and the loggers have drained
their pipes and exited.

  -t seconds  bound for each wait (default 30; decimals allowed)
  -q          no progress messages

Exit status: 0 if nothing of the tree is left, 1 if something is (named on
standard error), 100 for a usage error.
",
    page: PROG,
};

fn usage() -> ! {
    HELP.usage()
}

pub fn main(args: &[&[u8]]) -> i32 {
    HELP.check(args);
    let mut timeout = DEFAULT_TIMEOUT;
    let mut quiet = false;
    let mut g = Getopt::new(args, b"qt:");
    for o in g.by_ref() {
        match o {
            Opt::Flag(b'q', _) => quiet = true,
            Opt::Flag(b't', Some(v)) => timeout = args::seconds(v).unwrap_or_else(|| usage()),
            _ => {
                usage();
            }
        }
    }
    let rest = g.rest();
    if rest.len() > 1 {
        usage();
    }
    let dir = PathBuf::from(OsStr::from_bytes(
        rest.first().copied().unwrap_or(b"/service"),
    ));
    let t = Tree {
        dir,
        quiet,
        timeout,
    };
    if t.run() { 0 } else { 1 }
}

struct Tree {
    dir: PathBuf,
    quiet: bool,
    timeout: Duration,
}

/// The supervised directories of a tree.
struct Members {
    services: Vec<PathBuf>,
    logs: Vec<PathBuf>,
}

impl Tree {
    fn info(&self, parts: &[&[u8]]) {
        if self.quiet {
            return;
        }
        let mut l = Line::new(PROG, "info");
        for p in parts {
            l = l.b(p);
        }
        l.emit();
    }

    fn name<'a>(&self, p: &'a Path) -> &'a [u8] {
        p.as_os_str().as_bytes()
    }

    fn members(&self) -> Result<Members, nix::errno::Errno> {
        let mut m = Members {
            services: Vec::new(),
            logs: Vec::new(),
        };
        let rd = std::fs::read_dir(&self.dir)
            .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
        let mut names: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
        names.sort();
        for n in names {
            let p = self.dir.join(&n);
            // svscan runs non-dot subdirectories and their `log`, plus
            // `.svscan/log` (its own logger)
            let dot = n.as_bytes().starts_with(b".");
            if !p.is_dir() || (dot && n.as_bytes() != b".svscan") {
                continue;
            }
            let log = p.join("log");
            if log.is_dir() {
                m.logs.push(log);
            }
            if !dot {
                m.services.push(p);
            }
        }
        Ok(m)
    }

    fn run(&self) -> bool {
        let scanners = scanners_of(&self.dir);
        for pid in &scanners {
            self.info(&[b"stopping svscan ", pid.to_string().as_bytes()]);
            let _ = nix::sys::signal::kill(Pid::from_raw(*pid), Signal::SIGTERM);
        }
        let mut ok = true;
        if !wait_for(self.timeout, || {
            scanners.iter().all(|&p| !svctl::process_alive(p as u32))
        }) {
            ok = false;
            for &p in scanners.iter().filter(|&&p| svctl::process_alive(p as u32)) {
                Line::new(PROG, "warning")
                    .s("svscan ")
                    .s(&p.to_string())
                    .s(" did not exit")
                    .emit();
            }
        }
        let m = match self.members() {
            Ok(m) => m,
            Err(e) => {
                Line::new(PROG, "fatal")
                    .s("unable to read ")
                    .b(self.name(&self.dir))
                    .err(e)
                    .emit();
                return false;
            }
        };
        let mut stop = Stop { tree: self, m };
        ok & svctl::stop_tree(&mut stop, PROG, self.timeout)
    }
}

/// The tree seen from outside: a supervise runs on a directory while
/// something reads its `supervise/ok`.
struct Stop<'a> {
    tree: &'a Tree,
    m: Members,
}

impl svctl::StopTree for Stop<'_> {
    fn left(&mut self, logs: bool) -> Vec<PathBuf> {
        let dirs = if logs { &self.m.logs } else { &self.m.services };
        dirs.iter().filter(|d| svctl::running(d)).cloned().collect()
    }

    fn wait_empty(&mut self, logs: bool, limit: Duration) -> bool {
        let dirs = if logs { &self.m.logs } else { &self.m.services };
        wait_for(limit, || dirs.iter().all(|d| !svctl::running(d)))
    }

    fn info(&self, parts: &[&[u8]]) {
        self.tree.info(parts)
    }
}

fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Processes named `svscan` whose working directory is `dir`.
fn scanners_of(dir: &Path) -> Vec<i32> {
    let Ok(want) = std::fs::canonicalize(dir) else {
        return Vec::new();
    };
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id() as i32;
    rd.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/comm"))
                .map(|c| c == b"svscan\n")
                .unwrap_or(false)
                && std::fs::read_link(format!("/proc/{pid}/cwd"))
                    .map(|c| c == want)
                    .unwrap_or(false)
        })
        .collect()
}
