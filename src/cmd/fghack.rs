//! `fghack child`: run a program that backgrounds itself and wait until it
//! and everything it left behind are gone. The child gets 31 inheritable
//! copies of a pipe's write end; fghack reads the pipe to EOF, then reaps
//! the child and exits with its exit code.

use std::os::fd::IntoRawFd;

use nix::errno::Errno;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::ForkResult;

use crate::exec::Command;
use crate::fsio;
use crate::msg::{self, EXIT_TEMP, Line};
use crate::sys;

const PROG: &str = "fghack";

/// How many extra copies of the write end the child makes.
const DUPS: usize = 30;

pub fn main(args: &[&[u8]]) -> i32 {
    if args.len() < 2 {
        msg::usage(PROG, "fghack child");
    }
    // Prepared before fork so the child only dups and execs.
    let cmd = Command::with_current_env(&args[1..]);
    // Both ends inheritable, as pipe(2) makes them.
    let (rd, wr) =
        nix::unistd::pipe().unwrap_or_else(|e| msg::fatal(PROG, &[b"unable to create pipe"], e));
    let child = match sys::fork() {
        Err(e) => msg::fatal(PROG, &[b"unable to fork"], e),
        Ok(ForkResult::Child) => {
            drop(rd);
            for _ in 0..DUPS {
                // Each copy stays open (and inheritable) for the program.
                if let Ok(fd) = nix::unistd::dup(&wr) {
                    let _ = fd.into_raw_fd();
                }
            }
            let _ = wr.into_raw_fd();
            cmd.run_or_die(PROG)
        }
        Ok(ForkResult::Parent { child }) => child,
    };
    drop(wr);
    let mut byte = [0u8; 1];
    while let Ok(1) = fsio::read(&rd, &mut byte) {}
    let status = loop {
        match waitpid(child, None) {
            Err(Errno::EINTR) => continue,
            Err(e) => msg::fatal(PROG, &[b"wait failed"], e),
            Ok(st) => break st,
        }
    };
    match status {
        WaitStatus::Exited(_, code) => code,
        _ => Line::new(PROG, "fatal").s("child crashed").exit(EXIT_TEMP),
    }
}
