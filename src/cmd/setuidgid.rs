//! `setuidgid account child`: run child with the account's uid and gid and
//! exactly one supplementary group, the account's primary gid.

use nix::unistd::{Gid, Uid};

use crate::account;
use crate::exec::Command;
use crate::msg;

const PROG: &str = "setuidgid";

pub fn main(args: &[&[u8]]) -> i32 {
    if args.len() < 3 {
        msg::usage(PROG, "setuidgid account child");
    }
    let ids = account::lookup_or_die(PROG, args[1]);
    let gid = Gid::from_raw(ids.gid);
    if let Err(e) = nix::unistd::setgroups(&[gid]).and_then(|()| nix::unistd::setgid(gid)) {
        msg::fatal(PROG, &[b"unable to setgid"], e);
    }
    if let Err(e) = nix::unistd::setuid(Uid::from_raw(ids.uid)) {
        msg::fatal(PROG, &[b"unable to setuid"], e);
    }
    Command::with_current_env(&args[2..]).run_or_die(PROG)
}
