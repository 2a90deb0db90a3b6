//! `pgrphack child`: run child in a new session and process group.

use crate::exec::Command;
use crate::msg;

const PROG: &str = "pgrphack";

pub fn main(args: &[&[u8]]) -> i32 {
    if args.len() < 2 {
        msg::usage(PROG, "pgrphack child");
    }
    // Fails with EPERM for a process-group leader; the child then simply
    // runs in the original group, as with daemontools.
    let _ = nix::unistd::setsid();
    Command::with_current_env(&args[1..]).run_or_die(PROG)
}
