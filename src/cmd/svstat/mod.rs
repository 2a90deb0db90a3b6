//! `svstat dir ...`: one status line per directory on stdout, exactly as
//! 0.76 prints it; `svstat --long dir ...` adds the lifecycle record;
//! `svstat --json` and `svstat --prometheus` are for machines.

use nix::errno::Errno;

mod buffer;
mod long;
mod machine;

use crate::fsio;
use crate::msg::{self, errstr};
use crate::status::{self, Status};
use crate::sys;
use buffer::BufOut;

const PROG: &str = "svstat";

type Out = BufOut<sys::StdFd>;

pub fn main(args: &[&[u8]]) -> i32 {
    // 0.76 would take these for directory names; no real tree has one.
    match args.get(1).copied() {
        Some(b"--long") => return long::main(&args[2..]),
        Some(b"--json") => return machine::json(&args[2..]),
        Some(b"--prometheus") => return machine::prometheus(&args[2..]),
        _ => {}
    }
    let dirs = args.get(1..).unwrap_or(&[]);
    // Opened even when there is no directory: 0.76 fails the same way.
    let here = fsio::open_read(b".")
        .unwrap_or_else(|e| msg::fatal(PROG, &[b"unable to open current directory"], e));
    // 0.76's 1024-byte stdout buffer, filled piece by piece as it does, so
    // the write(2) calls fall at the same points. Write errors are ignored
    // as there (a closed pipe kills us with SIGPIPE, as it kills 0.76).
    let mut out = BufOut::new(sys::StdFd::OUT, 1024);
    let state = StateFiles::from_env();
    for dir in dirs {
        let _ = out.put(dir);
        let _ = out.put(b": ");
        describe(&mut out, dir, state);
        let _ = out.put(b"\n");
        if let Err(e) = nix::unistd::fchdir(&here) {
            // 0.76 dies without flushing what is still buffered.
            msg::fatal(PROG, &[b"unable to set directory"], e);
        }
    }
    let _ = out.flush();
    0
}

/// A problem text, put in 0.76's two pieces: `what` and then `detail`
/// (an errno text or `bad format`).
fn problem(out: &mut Out, what: &str, detail: Option<&str>) {
    let _ = out.put(what.as_bytes());
    if let Some(d) = detail {
        let _ = out.put(d.as_bytes());
    }
}

/// A problem as 0.76 reports it: what, then the errno text or `bad format`.
type Problem = (&'static str, Option<&'static str>);

/// Where the state files are from inside a service directory: `supervise`
/// (0.76), or where `SUPERVISEDIR` says (found again in each directory).
#[derive(Clone, Copy)]
enum StateFiles {
    Supervise,
    FromEnv,
}

impl StateFiles {
    /// `SUPERVISEDIR` looked up once, not per directory.
    fn from_env() -> StateFiles {
        if crate::svctl::StateDirs::from_env().is_default() {
            StateFiles::Supervise
        } else {
            StateFiles::FromEnv
        }
    }

    /// The path of state file `name` (`ok`, `status`, ...) from here.
    fn path(self, name: &str) -> std::borrow::Cow<'static, [u8]> {
        match (self, name) {
            (StateFiles::Supervise, "ok") => b"supervise/ok".into(),
            (StateFiles::Supervise, "status") => b"supervise/status".into(),
            (StateFiles::Supervise, "status.json") => b"supervise/status.json".into(),
            _ => crate::svctl::state_file_here(name).into(),
        }
    }
}

/// Reads the service in the current directory (svstat has chdir'ed into
/// it) the way 0.76 does, check by check: (record, normally up).
fn read_here(state: StateFiles) -> Result<(Status, bool), Problem> {
    let normally_up = match nix::sys::stat::stat("down") {
        Ok(_) => false,
        Err(Errno::ENOENT) => true,
        Err(e) => return Err(("unable to stat down: ", Some(errstr(e)))),
    };
    match fsio::open_write(&state.path("ok")) {
        Ok(_) => {}
        Err(Errno::ENXIO) => return Err(("supervise not running", None)),
        Err(e) => return Err(("unable to open supervise/ok: ", Some(errstr(e)))),
    }
    let fd = match fsio::open_read(&state.path("status")) {
        Ok(fd) => fd,
        Err(e) => return Err(("unable to open supervise/status: ", Some(errstr(e)))),
    };
    let mut rec = [0u8; status::LEN];
    let r = fsio::read(&fd, &mut rec);
    drop(fd);
    match r {
        Ok(n) if n == status::LEN => Ok((Status::decode(&rec), normally_up)),
        Ok(_) => Err(("unable to read supervise/status: ", Some("bad format"))),
        // Deliberate difference: 0.76 formats stale buffer bytes here.
        Err(e) => Err(("unable to read supervise/status: ", Some(errstr(e)))),
    }
}

/// Appends the status text of `dir`.
fn describe(out: &mut Out, dir: &[u8], state: StateFiles) {
    if let Err(e) = nix::unistd::chdir(dir) {
        return problem(out, "unable to chdir: ", Some(errstr(e)));
    }
    let (st, normally_up) = match read_here(state) {
        Ok(v) => v,
        Err((what, detail)) => return problem(out, what, detail),
    };
    // time(2) per directory, after the read, as 0.76's tai_now.
    let now = sys::unix_time();
    st.describe_pieces(normally_up, now, |p| {
        let _ = out.put(p);
    });
}
