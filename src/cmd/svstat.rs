//! `svstat dir ...`: one status line per directory on stdout.

use nix::errno::Errno;

use crate::buffer::BufOut;
use crate::fsio;
use crate::msg::{self, errstr};
use crate::status::{self, Status};
use crate::sys;

const PROG: &str = "svstat";

pub fn main(args: &[&[u8]]) -> i32 {
    let dirs = args.get(1..).unwrap_or(&[]);
    if dirs.is_empty() {
        return 0;
    }
    let here = fsio::open_read(b".")
        .unwrap_or_else(|e| msg::fatal(PROG, &[b"unable to open current directory"], e));
    let now = sys::gettimeofday().0;
    let mut out = BufOut::new(sys::fd(1), 1024);
    let mut line = Vec::with_capacity(128);
    for dir in dirs {
        line.clear();
        line.extend_from_slice(dir);
        line.extend_from_slice(b": ");
        describe(&mut line, now);
        line.push(b'\n');
        let _ = out.put(&line);
        if let Err(e) = nix::unistd::fchdir(&here) {
            let _ = out.flush();
            msg::fatal(PROG, &[b"unable to set directory"], e);
        }
    }
    let _ = out.flush();
    0
}

fn problem(line: &mut Vec<u8>, what: &str, e: Option<Errno>) {
    line.extend_from_slice(what.as_bytes());
    if let Some(e) = e {
        line.extend_from_slice(b": ");
        line.extend_from_slice(errstr(e).as_bytes());
    }
}

/// Appends the status text of the directory named at the start of `line`.
fn describe(line: &mut Vec<u8>, now: i64) {
    let dir_len = line.len() - 2;
    if let Err(e) = nix::unistd::chdir(&line[..dir_len]) {
        return problem(line, "unable to chdir", Some(e));
    }
    let normally_up = match nix::sys::stat::stat("down") {
        Ok(_) => false,
        Err(Errno::ENOENT) => true,
        Err(e) => return problem(line, "unable to stat down", Some(e)),
    };
    match fsio::open_write(b"supervise/ok") {
        Ok(_) => {}
        Err(Errno::ENXIO) => return problem(line, "supervise not running", None),
        Err(e) => return problem(line, "unable to open supervise/ok", Some(e)),
    }
    let fd = match fsio::open_read(b"supervise/status") {
        Ok(fd) => fd,
        Err(e) => return problem(line, "unable to open supervise/status", Some(e)),
    };
    let mut rec = [0u8; status::LEN];
    match fsio::read(&fd, &mut rec) {
        Ok(n) if n == status::LEN => {}
        Ok(_) => return problem(line, "unable to read supervise/status: bad format", None),
        Err(e) => return problem(line, "unable to read supervise/status", Some(e)),
    }
    line.extend_from_slice(&Status::decode(&rec).describe(normally_up, now));
}
