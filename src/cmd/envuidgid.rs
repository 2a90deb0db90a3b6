//! `envuidgid account child`: run child with `GID` and `UID` set to the
//! account's ids in the environment (no ids are changed).

use crate::account;
use crate::exec::{Command, apply_env};
use crate::msg;
use crate::sys;

const PROG: &str = "envuidgid";

pub fn main(args: &[&[u8]]) -> i32 {
    if args.len() < 3 {
        msg::usage(PROG, "envuidgid account child");
    }
    let ids = account::lookup_or_die(PROG, args[1]);
    // GID first, then UID: the order decides where they land in the
    // environment array.
    let changes = [
        format!("GID={}", ids.gid).into_bytes(),
        format!("UID={}", ids.uid).into_bytes(),
    ];
    let old = sys::environ();
    let new = apply_env(&old, &changes);
    Command::new(args[2], &args[2..], &new, &old).run_or_die(PROG)
}
