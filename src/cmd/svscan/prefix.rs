//! `SVSCAN_PREFIX_LOGS=1`: the output of services without `log/` reaches
//! svscan's standard output (where `docker logs` looks) with each line
//! prefixed by the service's name.
//!
//! svscan never reads those pipes itself: if it did and died, every such
//! service would get EPIPE. Each unlogged service gets a pipe, held open by
//! svscan like a log pipe, whose read end svscan hands (SCM_RIGHTS over a
//! socket pair) to a catch-all process it forks. The catch-all reads every
//! pipe, prefixes each line with `NAME: ` and writes whole lines: every
//! write(2) is at most PIPE_BUF bytes and holds only complete lines, so
//! lines never interleave with other writers of the same pipe. A line too
//! long for one write is split visibly: its first piece carries `NAME: `,
//! every following piece `NAME+ `. If the catch-all dies, svscan starts a
//! new one and hands it every read end again (nothing is lost: svscan holds
//! the pipes); if svscan dies, the catch-all goes on reading.

use std::collections::HashMap;
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::socket::{self, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType};
use nix::unistd::ForkResult;

use crate::msg::Line;
use crate::sys;

use super::PROG;

/// One write to standard output: whole lines, at most this many bytes (the
/// size up to which writes to a pipe are atomic).
const PIPE_BUF: usize = 4096;
/// Longest service name handed over (a directory entry's name).
const NAME_MAX: usize = 255;

/// svscan's side: the socket to the catch-all and its pid.
pub struct Prefixer {
    sock: Option<OwnedFd>,
    pub pid: i32,
}

impl Prefixer {
    pub fn new() -> Prefixer {
        Prefixer { sock: None, pid: 0 }
    }

    /// Forks a catch-all and hands it `streams` (name, read end). Errors
    /// are warned about; the next scan tries again.
    pub fn start<'a>(&mut self, streams: impl Iterator<Item = (&'a [u8], RawFd)>) {
        let (ours, theirs) = match socket::socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        ) {
            Ok(p) => p,
            Err(e) => return warn("unable to create socket for the output prefixer", e),
        };
        match sys::fork() {
            Err(e) => warn("unable to fork the output prefixer", e),
            Ok(ForkResult::Child) => {
                drop(ours);
                serve(theirs)
            }
            Ok(ForkResult::Parent { child }) => {
                self.pid = child.as_raw();
                self.sock = Some(ours);
                for (name, fd) in streams {
                    self.add(name, fd);
                }
            }
        }
    }

    /// Hands the catch-all one more stream.
    pub fn add(&mut self, name: &[u8], fd: RawFd) {
        let Some(sock) = &self.sock else {
            return;
        };
        let name = &name[..name.len().min(NAME_MAX)];
        let fds = [fd];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        let iov = [IoSlice::new(name)];
        let r = socket::sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None);
        if let Err(e) = r {
            warn("unable to hand a pipe to the output prefixer", e);
        }
    }

    /// The catch-all died: forget its socket (a new one is started with
    /// every stream by the next scan).
    pub fn died(&mut self) {
        self.pid = 0;
        self.sock = None;
    }

    /// Tells the catch-all that no more streams will come: it exits once
    /// every pipe it reads has reached its end.
    pub fn finish(&mut self) {
        self.sock = None;
    }
}

fn warn(what: &str, e: Errno) {
    Line::new(PROG, "warning").s(what).err(e).emit();
}

/// One service's pipe in the catch-all.
struct Stream {
    fd: OwnedFd,
    name: Vec<u8>,
    /// Bytes of a line not yet complete.
    partial: Vec<u8>,
    /// Some of the current line was already written (as a `NAME: ` piece).
    continued: bool,
}

/// The catch-all: reads the socket for new streams and every stream for
/// lines, until the socket is closed and every stream has ended.
fn serve(sock: OwnedFd) -> ! {
    // not "svscan" in ps (svshutdown looks for svscan processes)
    let _ = nix::sys::prctl::set_name(c"svscan-prefix");
    for sig in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGALRM,
        Signal::SIGPIPE,
    ] {
        let _ = sys::ignore(sig);
    }
    for sig in [Signal::SIGCHLD, Signal::SIGHUP] {
        let _ = sys::uncatch(sig);
    }
    // hold no copy of svscan's pipes: a stream ends when its service and
    // svscan have closed theirs
    sys::close_from_except(3, &[sock.as_raw_fd()]);
    let mut out = stdout();
    let mut streams: HashMap<RawFd, Stream> = HashMap::new();
    let mut sock = Some(sock);
    let mut buf = vec![0u8; 64 * 1024];
    while sock.is_some() || !streams.is_empty() {
        let mut fds: Vec<PollFd> = Vec::with_capacity(streams.len() + 1);
        if let Some(s) = &sock {
            fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
        }
        let keys: Vec<RawFd> = streams.keys().copied().collect();
        for k in &keys {
            fds.push(PollFd::new(streams[k].fd.as_fd(), PollFlags::POLLIN));
        }
        match nix::poll::poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => sys::exit_now(111),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        let mut ready = ready.into_iter();
        if sock.is_some() && ready.next() == Some(true) {
            match receive(sock.as_ref().expect("socket")) {
                Ok(Some(s)) => {
                    streams.insert(s.fd.as_raw_fd(), s);
                }
                Ok(None) => sock = None,
                Err(_) => {}
            }
        }
        for (k, r) in keys.iter().zip(ready) {
            if !r {
                continue;
            }
            let st = streams.get_mut(k).expect("stream");
            match nix::unistd::read(&st.fd, &mut buf) {
                Ok(0) => {
                    // end of input: a last partial line ends here
                    if !st.partial.is_empty() || st.continued {
                        let rest = std::mem::take(&mut st.partial);
                        out.piece(&st.name, &rest, st.continued);
                    }
                    streams.remove(k);
                }
                Ok(n) => take(&mut out, st, &buf[..n]),
                Err(Errno::EINTR) | Err(Errno::EAGAIN) => {}
                Err(_) => {
                    streams.remove(k);
                }
            }
        }
        out.flush();
    }
    out.flush();
    sys::exit_now(0)
}

/// Receives one stream: the name as the payload, the read end as
/// SCM_RIGHTS. None when svscan closed its end.
fn receive(sock: &OwnedFd) -> Result<Option<Stream>, Errno> {
    let mut name = [0u8; NAME_MAX];
    let (len, fd) = sys::recv_with_fd(sock, &mut name)?;
    match fd {
        None if len == 0 => Ok(None),
        None => Err(Errno::EPROTO),
        Some(fd) => Ok(Some(Stream {
            fd,
            name: name[..len].to_vec(),
            partial: Vec::new(),
            continued: false,
        })),
    }
}

/// Splits `data` into lines for `st`'s service.
fn take(out: &mut Output<impl FnMut(&[u8])>, st: &mut Stream, mut data: &[u8]) {
    let room = piece_room(&st.name);
    while let Some(i) = memchr::memchr(b'\n', data) {
        let (line, rest) = (&data[..i], &data[i + 1..]);
        if st.partial.is_empty() {
            emit(out, st, line, room);
        } else {
            let mut whole = std::mem::take(&mut st.partial);
            whole.extend_from_slice(line);
            emit(out, st, &whole, room);
        }
        data = rest;
    }
    st.partial.extend_from_slice(data);
    // a line longer than one write: its full pieces go out now
    while st.partial.len() >= room {
        let piece: Vec<u8> = st.partial.drain(..room).collect();
        out.piece(&st.name, &piece, st.continued);
        st.continued = true;
    }
}

/// Writes a complete line (the rest of one, if `st.continued`).
fn emit(out: &mut Output<impl FnMut(&[u8])>, st: &mut Stream, mut line: &[u8], room: usize) {
    while line.len() > room {
        out.piece(&st.name, &line[..room], st.continued);
        st.continued = true;
        line = &line[room..];
    }
    out.piece(&st.name, line, st.continued);
    st.continued = false;
}

/// How many bytes of a line fit in one write after the prefix.
fn piece_room(name: &[u8]) -> usize {
    PIPE_BUF - name.len() - 3
}

/// Standard output, gathered into writes of whole lines of at most
/// PIPE_BUF bytes, each handed to `write`.
struct Output<W: FnMut(&[u8])> {
    buf: Vec<u8>,
    write: W,
}

/// The catch-all's output: standard output (errors are ignored: there is
/// nowhere to report them).
fn stdout() -> Output<impl FnMut(&[u8])> {
    Output {
        buf: Vec::with_capacity(PIPE_BUF),
        write: |b: &[u8]| {
            let _ = crate::msg::write_all(std::io::stdout().as_fd(), b);
        },
    }
}

impl<W: FnMut(&[u8])> Output<W> {
    /// `NAME: text` (or `NAME+ text` for a continuation) and a newline.
    fn piece(&mut self, name: &[u8], text: &[u8], continued: bool) {
        let len = name.len() + 2 + text.len() + 1;
        if self.buf.len() + len > PIPE_BUF {
            self.flush();
        }
        self.buf.extend_from_slice(name);
        self.buf
            .extend_from_slice(if continued { b"+ " } else { b": " });
        self.buf.extend_from_slice(text);
        self.buf.push(b'\n');
    }

    fn flush(&mut self) {
        if !self.buf.is_empty() {
            (self.write)(&self.buf);
            self.buf.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pieces `take` produces for the chunks, as written.
    fn pieces(name: &[u8], chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let (r, w) = nix::unistd::pipe().unwrap();
        drop(w);
        let mut st = Stream {
            fd: r,
            name: name.to_vec(),
            partial: Vec::new(),
            continued: false,
        };
        let mut written = Vec::new();
        {
            let mut out = Output {
                buf: Vec::new(),
                write: |b: &[u8]| {
                    assert!(b.len() <= PIPE_BUF);
                    written.extend_from_slice(b)
                },
            };
            for c in chunks {
                take(&mut out, &mut st, c);
            }
            out.flush();
        }
        written
            .split_inclusive(|&c| c == b'\n')
            .map(<[u8]>::to_vec)
            .collect()
    }

    #[test]
    fn lines_get_the_name() {
        assert_eq!(
            pieces(b"web", &[b"one\ntw", b"o\n"]),
            vec![b"web: one\n".to_vec(), b"web: two\n".to_vec()]
        );
    }

    #[test]
    fn long_lines_are_split_visibly() {
        let room = piece_room(b"x");
        let mut long = vec![b'a'; room * 2 + 5];
        long.push(b'\n');
        let p = pieces(b"x", &[&long[..1000], &long[1000..]]);
        assert_eq!(p.len(), 3);
        assert!(p[0].starts_with(b"x: ") && p[0].len() == PIPE_BUF);
        assert!(p[1].starts_with(b"x+ "));
        assert_eq!(p[2], b"x+ aaaaa\n".to_vec());
        for piece in &p {
            assert!(piece.len() <= PIPE_BUF);
        }
        // the next line starts afresh
        assert_eq!(pieces(b"x", &[&long, b"b\n"]).last().unwrap(), b"x: b\n");
    }
}
