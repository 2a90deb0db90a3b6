//! A small GET-only HTTP/1.1 server on std::net and poll(2), one thread,
//! no async runtime: what svmetrics needs to answer scrapes whatever other
//! clients do.
//!
//! Why not a crate: tiny_http (and rouille on it) has no read or write
//! timeouts (tiny-http/tiny-http#143), so one idle client holds a worker
//! forever; hyper and the servers on it need an async runtime. What a
//! scrape endpoint needs is small, and all of it is bounded here:
//! - connections: at most `Limits::connections` open; a new one beyond
//!   that evicts the connection idle the longest (one waiting for its
//!   next request, or failing to finish one), never one being answered;
//! - request heads: at most `Limits::head` bytes (431 beyond), read within
//!   `Limits::request` of their first byte (then the connection is
//!   closed); a connection that sends nothing is closed after
//!   `Limits::idle`; requests with a body are refused (400);
//! - responses: a client that takes nothing for `Limits::stall`, or has
//!   not taken the whole response after `Limits::write`, is dropped; at
//!   most `Limits::pending` bytes of responses are held at once (further
//!   requests wait for room, their scrape made when it is their turn).
//!
//! Keep-alive and pipelined requests are answered in order. Errors close
//! the connection after the response (write side first, then the rest of
//! the request is read and dropped for a moment, so the client sees the
//! response rather than a reset).

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::socket::MsgFlags;

use super::http::{self, Head, Request};

/// The bounds of the server (see the module's description).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub connections: usize,
    pub head: usize,
    pub idle: Duration,
    pub request: Duration,
    pub stall: Duration,
    pub write: Duration,
    pub pending: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            connections: 128,
            head: 8192,
            idle: Duration::from_secs(60),
            request: Duration::from_secs(10),
            stall: Duration::from_secs(10),
            write: Duration::from_secs(60),
            pending: 64 << 20,
        }
    }
}

/// How long a closing connection is read and dropped before it is closed.
const LINGER: Duration = Duration::from_secs(2);

/// New connections taken per wake-up (others wait for the next one).
const ACCEPT_BATCH: usize = 64;

/// A response to a request.
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.as_bytes().to_vec(),
        }
    }
}

/// What answers the requests (GET and HEAD only reach it).
pub trait Handler {
    fn get(&mut self, path: &[u8]) -> Response;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for (the rest of) a request head.
    Reading,
    /// A whole request waits for room in `Limits::pending`.
    Queued,
    /// Sending a response.
    Writing,
    /// Response sent, write side shut: reading and dropping until EOF.
    Lingering,
}

struct Conn {
    stream: TcpStream,
    phase: Phase,
    /// Received bytes not answered yet.
    inbuf: Vec<u8>,
    /// The response being sent, and how much of it went.
    out: Vec<u8>,
    sent: usize,
    close_after: bool,
    /// When the current phase began (for Reading: when the connection
    /// became idle).
    since: Instant,
    /// Reading: when the first byte of the current request came.
    first_byte: Option<Instant>,
    /// Writing: when bytes last went out.
    progress: Instant,
    dead: bool,
}

impl Conn {
    fn new(stream: TcpStream, now: Instant) -> Conn {
        Conn {
            stream,
            phase: Phase::Reading,
            inbuf: Vec::new(),
            out: Vec::new(),
            sent: 0,
            close_after: false,
            since: now,
            first_byte: None,
            progress: now,
            dead: false,
        }
    }

    /// When this connection must be given up.
    fn deadline(&self, l: &Limits) -> Instant {
        match self.phase {
            Phase::Reading => match self.first_byte {
                Some(t) => t + l.request,
                None => self.since + l.idle,
            },
            Phase::Queued => self.since + l.write,
            Phase::Writing => (self.progress + l.stall).min(self.since + l.write),
            Phase::Lingering => self.since + LINGER,
        }
    }

    fn events(&self) -> PollFlags {
        match self.phase {
            Phase::Reading | Phase::Lingering => PollFlags::POLLIN,
            Phase::Writing => PollFlags::POLLOUT,
            Phase::Queued => PollFlags::empty(),
        }
    }
}

pub struct Server<H: Handler> {
    listener: TcpListener,
    limits: Limits,
    handler: H,
    conns: Vec<Conn>,
    /// Bytes of responses held by Writing connections.
    pending: usize,
    /// accept(2) failed for lack of descriptors: retry after this.
    accept_pause: Option<Instant>,
}

impl<H: Handler> Server<H> {
    pub fn new(listener: TcpListener, limits: Limits, handler: H) -> std::io::Result<Server<H>> {
        listener.set_nonblocking(true)?;
        Ok(Server {
            listener,
            limits,
            handler,
            conns: Vec::new(),
            pending: 0,
            accept_pause: None,
        })
    }

    /// Serves forever.
    pub fn run(&mut self) -> ! {
        loop {
            self.turn();
        }
    }

    /// One wait for events and the work they bring.
    pub fn turn(&mut self) {
        let now = Instant::now();
        self.expire(now);
        let listen = self.accept_pause.is_none_or(|t| t <= now);
        let mut wake = self.conns.iter().map(|c| c.deadline(&self.limits)).min();
        if let Some(t) = self.accept_pause.filter(|_| !listen) {
            wake = Some(wake.map_or(t, |w| w.min(t)));
        }
        let timeout = match wake {
            None => PollTimeout::NONE,
            Some(t) => {
                let ms = t.saturating_duration_since(now).as_millis() + 1;
                PollTimeout::try_from(ms.min(60_000) as i32).unwrap_or(PollTimeout::MAX)
            }
        };
        let ready: Vec<PollFlags> = {
            let mut fds: Vec<PollFd> = Vec::with_capacity(self.conns.len() + 1);
            let events = if listen {
                PollFlags::POLLIN
            } else {
                PollFlags::empty()
            };
            fds.push(PollFd::new(self.listener.as_fd(), events));
            for c in &self.conns {
                fds.push(PollFd::new(c.stream.as_fd(), c.events()));
            }
            match nix::poll::poll(&mut fds, timeout) {
                Ok(_) => fds
                    .iter()
                    .map(|f| f.revents().unwrap_or(PollFlags::empty()))
                    .collect(),
                Err(_) => return,
            }
        };
        let now = Instant::now();
        for (i, r) in ready.iter().enumerate().skip(1) {
            if r.is_empty() {
                continue;
            }
            let c = i - 1;
            match self.conns[c].phase {
                Phase::Reading => self.read(c, now),
                Phase::Writing => self.write(c, now),
                Phase::Lingering => linger(&mut self.conns[c]),
                Phase::Queued => {}
            }
        }
        self.serve_queued(now);
        self.reap();
        if ready[0].contains(PollFlags::POLLIN) {
            self.accept(now);
        }
    }

    /// Drops the connections past their deadline.
    fn expire(&mut self, now: Instant) {
        let l = self.limits;
        for c in &mut self.conns {
            if c.deadline(&l) <= now {
                c.dead = true;
            }
        }
        self.reap();
    }

    /// Removes dead connections (closing them), keeping `pending` right.
    fn reap(&mut self) {
        let mut pending = self.pending;
        self.conns.retain(|c| {
            if c.dead && c.phase == Phase::Writing {
                pending -= c.out.len();
            }
            !c.dead
        });
        self.pending = pending;
    }

    fn accept(&mut self, now: Instant) {
        for _ in 0..ACCEPT_BATCH {
            let stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionAborted => continue,
                Err(_) => {
                    // EMFILE and the like: stop listening for a moment
                    // rather than spin on a listener that stays readable
                    self.accept_pause = Some(now + Duration::from_millis(100));
                    return;
                }
            };
            self.accept_pause = None;
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            let _ = stream.set_nodelay(true);
            if self.conns.len() >= self.limits.connections && !self.evict() {
                // every connection is being answered: this one is closed
                continue;
            }
            self.conns.push(Conn::new(stream, now));
        }
    }

    /// Closes the connection idle the longest (waiting for a request, or
    /// for the rest of one); false if every connection is being answered.
    fn evict(&mut self) -> bool {
        let victim = self
            .conns
            .iter()
            .enumerate()
            .filter(|(_, c)| matches!(c.phase, Phase::Reading | Phase::Lingering))
            .min_by_key(|(_, c)| (c.phase == Phase::Reading, c.first_byte.unwrap_or(c.since)))
            .map(|(i, _)| i);
        match victim {
            Some(i) => {
                self.conns.swap_remove(i);
                true
            }
            None => false,
        }
    }

    fn read(&mut self, i: usize, now: Instant) {
        let head = self.limits.head;
        let c = &mut self.conns[i];
        let have = c.inbuf.len();
        if have >= head {
            // cannot happen: a full buffer was answered with 431
            c.dead = true;
            return;
        }
        c.inbuf.resize(head, 0);
        let n = match c.stream.read(&mut c.inbuf[have..]) {
            Ok(0) => {
                c.dead = true;
                0
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => 0,
            Err(_) => {
                c.dead = true;
                0
            }
        };
        c.inbuf.truncate(have + n);
        if c.dead {
            return;
        }
        if n > 0 && c.first_byte.is_none() {
            c.first_byte = Some(now);
        }
        self.answer(i, now);
    }

    /// Answers the request at the start of connection `i`'s buffer, if it
    /// is whole and there is room for a response.
    fn answer(&mut self, i: usize, now: Instant) {
        let limits = self.limits;
        let c = &mut self.conns[i];
        let (status, close, consumed, req) = match http::parse(&c.inbuf, limits.head) {
            Head::Incomplete => return,
            Head::TooLarge => (431, true, c.inbuf.len(), None),
            Head::Bad => (400, true, c.inbuf.len(), None),
            Head::Version => (505, true, c.inbuf.len(), None),
            Head::Done(r, n) => (200, !r.keep_alive, n, Some(Owned::from(&r))),
        };
        // a scrape may be large: wait for room when others are being sent
        if self.pending > limits.pending && self.conns.iter().any(|c| c.phase == Phase::Writing) {
            let c = &mut self.conns[i];
            if c.phase != Phase::Queued {
                c.phase = Phase::Queued;
                c.since = now;
            }
            return;
        }
        let resp = match &req {
            None => Response::text(status, http_error_text(status)),
            Some(r) if r.body => Response::text(400, "svmetrics: requests take no body\n"),
            Some(r) if r.method != b"GET" && r.method != b"HEAD" => {
                Response::text(405, "svmetrics: only GET and HEAD\n")
            }
            Some(r) => self.handler.get(&r.path),
        };
        let head_only = req.as_ref().is_some_and(|r| r.method == b"HEAD");
        let close = close || resp.status == 400;
        let c = &mut self.conns[i];
        c.out.clear();
        http::response_head(
            resp.status,
            resp.content_type,
            resp.body.len(),
            close,
            &mut c.out,
        );
        if !head_only {
            c.out.extend_from_slice(&resp.body);
        }
        c.inbuf.drain(..consumed);
        c.sent = 0;
        c.close_after = close;
        c.phase = Phase::Writing;
        c.since = now;
        c.progress = now;
        c.first_byte = None;
        self.pending += c.out.len();
        self.write(i, now);
    }

    fn write(&mut self, i: usize, now: Instant) {
        let c = &mut self.conns[i];
        while c.sent < c.out.len() {
            let flags = MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT;
            match nix::sys::socket::send(c.stream.as_raw_fd(), &c.out[c.sent..], flags) {
                Ok(n) => {
                    c.sent += n;
                    c.progress = now;
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return,
                Err(_) => {
                    c.dead = true;
                    return;
                }
            }
        }
        self.pending -= c.out.len();
        c.out = Vec::new();
        c.sent = 0;
        if c.close_after {
            let _ = c.stream.shutdown(std::net::Shutdown::Write);
            c.phase = Phase::Lingering;
            c.since = now;
            return;
        }
        c.phase = Phase::Reading;
        c.since = now;
        if !c.inbuf.is_empty() {
            // a pipelined request: its time starts now
            c.first_byte = Some(now);
            self.answer(i, now);
        } else {
            c.inbuf = Vec::new();
        }
    }

    /// Answers queued requests while there is room, oldest first.
    fn serve_queued(&mut self, now: Instant) {
        loop {
            if self.pending > self.limits.pending
                && self.conns.iter().any(|c| c.phase == Phase::Writing)
            {
                return;
            }
            let next = self
                .conns
                .iter()
                .enumerate()
                .filter(|(_, c)| c.phase == Phase::Queued && !c.dead)
                .min_by_key(|(_, c)| c.since)
                .map(|(i, _)| i);
            let Some(i) = next else { return };
            self.answer(i, now);
        }
    }

    /// The number of open connections (for tests).
    #[cfg(test)]
    pub fn open(&self) -> usize {
        self.conns.len()
    }
}

/// Reads and drops what a closing client still sends.
fn linger(c: &mut Conn) {
    let mut buf = [0u8; 4096];
    loop {
        match c.stream.read(&mut buf) {
            Ok(0) => {
                c.dead = true;
                return;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(_) => {
                c.dead = true;
                return;
            }
        }
    }
}

fn http_error_text(status: u16) -> &'static str {
    match status {
        431 => "svmetrics: request head too large\n",
        505 => "svmetrics: HTTP/1.0 and HTTP/1.1 only\n",
        _ => "svmetrics: bad request\n",
    }
}

/// The parts of a request kept after its buffer changes.
struct Owned {
    method: Vec<u8>,
    path: Vec<u8>,
    body: bool,
}

impl From<&Request<'_>> for Owned {
    fn from(r: &Request<'_>) -> Owned {
        Owned {
            method: r.method.to_vec(),
            path: r.path.to_vec(),
            body: r.body,
        }
    }
}
