//! The `1` actions (issue 16, after s6-log's `1`): every line selected at
//! a `1` action's position is also written to multilog's standard output,
//! whole (stamps included, not cut at the 1000-byte window), after the
//! action's prefix. So a logged service still shows up in the container's
//! log (`docker logs`) when svscan's output goes there.
//!
//! The lines are gathered in one buffer, in input order (a line selected
//! by two `1` actions appears twice, each time with its prefix), and
//! written to fd 1 before multilog takes more input and at exit. The
//! writes block like the log directories' (a reader that stops reading
//! pauses the logging). A write error ends the copies: multilog warns once
//! (`unable to write to stdout, no more copies`) and goes on logging.
//! SIGPIPE is blocked while copies exist, so a closed reader is a write
//! error, not the end of multilog.

use nix::sys::signal::{SigSet, SigmaskHow, Signal};

use super::{PROG, mark_slow};
use crate::msg;
use crate::sys;

/// The buffer is written out once it holds this much.
const HIGH: usize = 64 * 1024;

/// One `1` action.
struct Copy<'a> {
    prefix: &'a [u8],
    selected: bool,
    /// A long line (longer than the window) while it is gathered.
    line: Vec<u8>,
}

/// All the `1` actions of the script and the buffer they fill.
pub struct Copies<'a> {
    copies: Vec<Copy<'a>>,
    /// Whether any copy is selected for the current line.
    any: bool,
    buf: Vec<u8>,
    /// After a write error: no more copies.
    dead: bool,
}

impl<'a> Copies<'a> {
    pub fn new(prefixes: &[&'a [u8]]) -> Copies<'a> {
        if !prefixes.is_empty() {
            block_sigpipe();
        }
        Copies {
            copies: prefixes
                .iter()
                .map(|&prefix| Copy {
                    prefix,
                    selected: false,
                    line: Vec::new(),
                })
                .collect(),
            any: false,
            buf: Vec::new(),
            dead: false,
        }
    }

    /// The selection flag at copy `i`'s position for the current line.
    #[inline]
    pub fn select(&mut self, i: usize, selected: bool) {
        let c = &mut self.copies[i];
        c.selected = selected && !self.dead;
        self.any |= c.selected;
    }

    /// A whole line with its newline.
    #[inline(always)]
    pub fn put_line(&mut self, line: &[u8]) {
        if self.any {
            self.put_selected(line);
        }
    }

    #[inline(never)]
    fn put_selected(&mut self, line: &[u8]) {
        for c in self.copies.iter_mut().filter(|c| c.selected) {
            self.buf.extend_from_slice(c.prefix);
            self.buf.extend_from_slice(line);
        }
        self.line_done();
    }

    /// The window of a line whose rest follows (`more`, then `end`).
    pub fn start(&mut self, window: &[u8]) {
        for c in self.copies.iter_mut().filter(|c| c.selected) {
            c.line.clear();
            c.line.extend_from_slice(c.prefix);
            c.line.extend_from_slice(window);
        }
    }

    /// More of the line begun with `start`.
    pub fn more(&mut self, bytes: &[u8]) {
        for c in self.copies.iter_mut().filter(|c| c.selected) {
            c.line.extend_from_slice(bytes);
        }
    }

    /// The end of the line begun with `start`.
    pub fn end(&mut self) {
        if !self.any {
            return;
        }
        for c in self.copies.iter_mut().filter(|c| c.selected) {
            self.buf.extend_from_slice(&c.line);
            self.buf.push(b'\n');
            // keep the room for the next long line, but not a huge one's
            if c.line.capacity() > HIGH {
                c.line = Vec::new();
            }
        }
        self.line_done();
    }

    fn line_done(&mut self) {
        self.any = false;
        for c in &mut self.copies {
            c.selected = false;
        }
        if self.buf.len() >= HIGH {
            self.write();
        }
    }

    /// Writes the buffer to fd 1.
    pub fn write(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        mark_slow();
        if !self.dead
            && let Err(e) = msg::write_all(sys::StdFd::OUT, &self.buf)
        {
            msg::warn(
                PROG,
                &[b"unable to write to stdout, no more copies"],
                Some(e),
            );
            self.dead = true;
        }
        self.buf.clear();
    }
}

/// Whether multilog blocked SIGPIPE itself (the processor child unblocks
/// it again, so that it gets the signal mask multilog was started with).
static PIPE_BLOCKED: sys::Flag = sys::Flag::new();

fn block_sigpipe() {
    let Ok(mask) = SigSet::thread_get_mask() else {
        return;
    };
    if mask.contains(Signal::SIGPIPE) {
        return;
    }
    let mut set = SigSet::empty();
    set.add(Signal::SIGPIPE);
    if nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None).is_ok() {
        PIPE_BLOCKED.set();
    }
}

/// In a child about to exec: SIGPIPE as multilog found it.
pub fn restore_sigpipe() {
    if PIPE_BLOCKED.get() {
        let mut set = SigSet::empty();
        set.add(Signal::SIGPIPE);
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
    }
}
