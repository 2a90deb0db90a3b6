//! The admin frontends `svcstart`, `svcstop`, `svcrestart`, `svcreset`
//! (the Syn-3 convention): act on a service through supervise, then verify
//! the result, with bounded waits; exit 0 if every service ended in the
//! wanted state, 1 otherwise, 100 on a usage error.
//!
//! - `svcstart`: removes `down` (so the service also starts at boot), runs
//!   `./start` if it is executable and lets its exit code decide, else sends
//!   `u` and waits until the service has been up for a second. On failure
//!   the service is left down and `down` is put back as it was.
//! - `svcstop`: creates `down`, runs `./stop` if executable and lets it
//!   decide, else sends `d` and waits until the service is down; with `-k`
//!   a service still running at the timeout gets `svc -k`.
//! - `svcrestart`: stop then start, only if the service is running; the
//!   `down` file is left alone.
//! - `svcreset`: stop if `down` exists, else start; `down` is left alone.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::args::{self, Getopt, Opt};
use crate::help::Help;
use crate::msg::{self, Line};
use crate::svctl::{self, Problem};
use crate::sys;

/// How long a service must stay up to count as started.
const SETTLE: Duration = Duration::from_secs(1);
/// Default bound on every wait.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Extra wait after `svc -k`.
const KILL_GRACE: Duration = Duration::from_secs(5);

struct Opts {
    prog: &'static str,
    /// Bound for waits; None = the default (and no bound on check scripts).
    timeout: Option<Duration>,
    kill: bool,
    quiet: bool,
}

impl Opts {
    fn wait_limit(&self) -> Duration {
        self.timeout.unwrap_or(DEFAULT_TIMEOUT)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Start,
    Stop,
    Restart,
    Reset,
}

pub fn svcstart(args: &[&[u8]]) -> i32 {
    main(args, &START, Mode::Start)
}
pub fn svcstop(args: &[&[u8]]) -> i32 {
    main(args, &STOP, Mode::Stop)
}
pub fn svcrestart(args: &[&[u8]]) -> i32 {
    main(args, &RESTART, Mode::Restart)
}
pub fn svcreset(args: &[&[u8]]) -> i32 {
    main(args, &RESET, Mode::Reset)
}

/// The options and exit codes, the same for the four programs.
macro_rules! options {
    () => {
        "  -t seconds  bound for each wait (default 10; decimals allowed); a start or
              stop script is bounded only when -t is given
  -k          svcstop, svcrestart: send KILL to a service still up at the
              timeout, then wait up to 5 more seconds
  -q          no progress output

Exit status: 0 if every service ended in the wanted state, 1 if not,
100 for a usage error.
"
    };
}

const START: Help = Help {
    prog: "svcstart",
    usage: "svcstart [-q] [-k] [-t seconds] dir ...",
    about: concat!(
        "\
Start each service and verify it: remove dir/down (so that it also starts at
boot), run dir/start if it is executable and let its exit code decide, else
send 'u' (svc -u) and wait until the service has been up, unpaused, for one
second. A service that does not start is left down, dir/down as it was.

",
        options!()
    ),
    page: "svcstart",
};

const STOP: Help = Help {
    prog: "svcstop",
    usage: "svcstop [-q] [-k] [-t seconds] dir ...",
    about: concat!(
        "\
Stop each service and verify it: create dir/down (so that it stays down at
boot), run dir/stop if it is executable and let its exit code decide, else
send 'd' (svc -d) and wait until the service is down.

",
        options!()
    ),
    page: "svcstart",
};

const RESTART: Help = Help {
    prog: "svcrestart",
    usage: "svcrestart [-q] [-k] [-t seconds] dir ...",
    about: concat!(
        "\
Restart each service that is running (stop, then start, both verified);
a stopped service is left alone. dir/down is not touched.

",
        options!()
    ),
    page: "svcstart",
};

const RESET: Help = Help {
    prog: "svcreset",
    usage: "svcreset [-q] [-k] [-t seconds] dir ...",
    about: concat!(
        "\
Bring each service to the state its dir/down file says: stopped if it
exists, started otherwise (both verified). dir/down is not touched.

",
        options!()
    ),
    page: "svcstart",
};

fn main(args: &[&[u8]], help: &Help, mode: Mode) -> i32 {
    help.check(args);
    let prog = help.prog;
    let mut o = Opts {
        prog,
        timeout: None,
        kill: false,
        quiet: false,
    };
    let mut g = Getopt::new(args, b"t:kq");
    for opt in g.by_ref() {
        match opt {
            Opt::Flag(b't', Some(v)) => {
                o.timeout = Some(args::seconds(v).unwrap_or_else(|| help.usage()))
            }
            Opt::Flag(b'k', _) => o.kill = true,
            Opt::Flag(b'q', _) => o.quiet = true,
            _ => help.usage(),
        }
    }
    let dirs = g.rest();
    if dirs.is_empty() {
        help.usage();
    }
    let mut failed = false;
    for d in dirs {
        let dir = Path::new(std::ffi::OsStr::from_bytes(d));
        let ok = match mode {
            Mode::Start => start(&o, d, dir, true),
            Mode::Stop => stop(&o, d, dir, true),
            Mode::Restart => restart(&o, d, dir),
            Mode::Reset => {
                if dir.join("down").exists() {
                    stop(&o, d, dir, false)
                } else {
                    start(&o, d, dir, false)
                }
            }
        };
        failed |= !ok;
    }
    i32::from(failed)
}

/// Progress output on stdout, e.g. `Starting DIR ...OK`.
fn say(o: &Opts, parts: &[&[u8]]) {
    if o.quiet {
        return;
    }
    let mut v = Vec::new();
    for p in parts {
        v.extend_from_slice(p);
    }
    let _ = msg::write_all(sys::StdFd::OUT, &v);
}

/// Polls `cond` every 50 ms, printing a dot each second, until it holds or
/// `limit` passes.
fn wait_for(o: &Opts, limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    let mut dots = 0u64;
    loop {
        if cond() {
            return true;
        }
        let elapsed = start.elapsed();
        if elapsed >= limit {
            return false;
        }
        if elapsed.as_secs() > dots {
            dots += 1;
            say(o, &[b"."]);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn finish(o: &Opts, ok: bool, why: &str) -> bool {
    if ok {
        say(o, &[b"OK\n"]);
    } else if why.is_empty() {
        say(o, &[b"FAILED\n"]);
    } else {
        say(o, &[b"FAILED (", why.as_bytes(), b")\n"]);
    }
    ok
}

fn warn(o: &Opts, name: &[u8], p: Problem) {
    Line::new(o.prog, "warning")
        .s("unable to control ")
        .b(name)
        .s(": ")
        .s(p.text())
        .emit();
}

fn up_and_settled(dir: &Path) -> bool {
    match svctl::status(dir) {
        Ok(st) => {
            st.pid != 0
                && st.paused == 0
                && svctl::age(&st) >= SETTLE
                && svctl::process_alive(st.pid)
        }
        Err(_) => false,
    }
}

fn is_down(dir: &Path) -> bool {
    matches!(svctl::status(dir), Ok(st) if st.pid == 0)
}

fn set_down_file(dir: &Path, present: bool) {
    let p = dir.join("down");
    if present {
        let _ = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(p);
    } else {
        let _ = std::fs::remove_file(p);
    }
}

fn start(o: &Opts, name: &[u8], dir: &Path, persist: bool) -> bool {
    say(o, &[b"Starting ", name, b" "]);
    if !wait_for(o, o.wait_limit(), || svctl::running(dir)) {
        return finish(o, false, "supervise not running");
    }
    let had_down = dir.join("down").exists();
    if persist {
        set_down_file(dir, false);
    }
    let ok = if executable(&dir.join("start")) {
        matches!(svctl::run_script(o.prog, dir, "./start", o.timeout), Ok(0))
    } else {
        match svctl::send(dir, b"u") {
            Ok(()) => wait_for(o, o.wait_limit(), || up_and_settled(dir)),
            Err(p) => {
                warn(o, name, p);
                false
            }
        }
    };
    if !ok {
        let _ = svctl::send(dir, b"d");
        if persist && had_down {
            set_down_file(dir, true);
        }
    }
    finish(o, ok, "")
}

fn stop(o: &Opts, name: &[u8], dir: &Path, persist: bool) -> bool {
    say(o, &[b"Stopping ", name, b" "]);
    if persist {
        set_down_file(dir, true);
    }
    if !svctl::running(dir) {
        return finish(o, false, "supervise not running");
    }
    if executable(&dir.join("stop")) {
        let ok = matches!(svctl::run_script(o.prog, dir, "./stop", o.timeout), Ok(0));
        return finish(o, ok, "");
    }
    if let Err(p) = svctl::send(dir, b"d") {
        warn(o, name, p);
        return finish(o, false, "");
    }
    if wait_for(o, o.wait_limit(), || is_down(dir)) {
        return finish(o, true, "");
    }
    if !o.kill {
        return finish(o, false, "still running");
    }
    let _ = svctl::send(dir, b"k");
    let ok = wait_for(o, KILL_GRACE, || is_down(dir));
    finish(o, ok, if ok { "" } else { "still running after KILL" })
}

fn restart(o: &Opts, name: &[u8], dir: &Path) -> bool {
    let running = svctl::running(dir) && matches!(svctl::status(dir), Ok(st) if st.pid != 0);
    if !running {
        say(o, &[name, b": not running, not restarted\n"]);
        return true;
    }
    stop(o, name, dir, false) && start(o, name, dir, false)
}
