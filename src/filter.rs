//! The loop shared by tai64n and tai64nlocal: read standard input in
//! blocks, transform, and write standard output, writing out everything
//! before every read (so a line that arrives alone is passed on at once,
//! as the reference's flush-before-read does). EOF exits 0; a read or
//! write error exits 111 without a message; a vanished reader kills the
//! program with SIGPIPE (left at its default).

use nix::errno::Errno;

use crate::msg::{self, EXIT_TEMP};
use crate::sys::StdFd;

const READ_SIZE: usize = 64 * 1024;
/// Input is transformed in pieces of this size so the output stays bounded.
const PIECE: usize = 4096;
/// Output is written out once this much has gathered.
const OUT_HIGH: usize = 64 * 1024;

/// Runs `feed(input_piece, output)` over all of standard input; returns
/// the exit code.
pub fn run(mut feed: impl FnMut(&[u8], &mut Vec<u8>)) -> i32 {
    let mut inbuf = vec![0u8; READ_SIZE];
    // Worst case per piece: every byte a line, each given 26 more bytes.
    let mut out: Vec<u8> = Vec::with_capacity(OUT_HIGH + 27 * PIECE);
    loop {
        if !out.is_empty() {
            if msg::write_all(StdFd::OUT, &out).is_err() {
                return EXIT_TEMP;
            }
            out.clear();
        }
        let n = match nix::unistd::read(StdFd::IN, &mut inbuf) {
            Ok(0) => return 0,
            Ok(n) => n,
            Err(Errno::EINTR) => continue,
            Err(_) => return EXIT_TEMP,
        };
        for piece in inbuf[..n].chunks(PIECE) {
            feed(piece, &mut out);
            if out.len() >= OUT_HIGH {
                if msg::write_all(StdFd::OUT, &out).is_err() {
                    return EXIT_TEMP;
                }
                out.clear();
            }
        }
    }
}
