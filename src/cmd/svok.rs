//! `svok dir`: exit 0 if supervise is running on dir, 100 if not.

use nix::errno::Errno;

use crate::fsio;
use crate::msg::{self, EXIT_USAGE};

const PROG: &str = "svok";

pub fn main(args: &[&[u8]]) -> i32 {
    let Some(dir) = args.get(1) else {
        msg::usage(PROG, "svok dir")
    };
    if let Err(e) = nix::unistd::chdir(*dir) {
        msg::fatal(PROG, &[b"unable to chdir to ", dir], e);
    }
    match fsio::open_write(&crate::svctl::state_file_here("ok")) {
        Ok(_) => 0,
        Err(Errno::ENOENT | Errno::ENXIO) => EXIT_USAGE,
        Err(e) => msg::fatal(PROG, &[b"unable to open ", dir, b"/supervise/ok"], e),
    }
}
