//! `svmetrics [-l address:port] [scandir]`: a Prometheus exporter for a
//! supervision tree. It answers `GET /metrics` with the metrics of every
//! service in SCANDIR (the directories svscan would supervise, and
//! `.svscan/log`), read afresh on each scrape (`monitor`, `prometheus`),
//! over the bounded server of `server`. Meant to run as a service of the
//! tree it reports: without a SCANDIR it reads `..`, the scan directory
//! of the service directory it runs in. See doc/svmetrics.8.md.

pub mod http;
pub mod server;

use std::net::{SocketAddr, TcpListener};

use nix::errno::Errno;

use crate::args::{Getopt, Opt};
use crate::help::Help;
use crate::monitor::{Observed, Reader};
use crate::msg::{EXIT_TEMP, EXIT_USAGE, Line};
use crate::prometheus::{self, Renderer};
use server::{Handler, Limits, Response, Server};

const PROG: &str = "svmetrics";

/// Where it listens by default: loopback only (the metrics name every
/// service and pid; exposing them is a choice), on a port among those
/// Prometheus exporters use by convention (9100-9999).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9177";

const HELP: Help = Help {
    prog: PROG,
    usage: "svmetrics [-l address:port] [scandir]",
    about: "\
Serve the Prometheus metrics of every service in scandir (default .., the
scan directory of the service svmetrics runs as) at GET /metrics, read
afresh on each scrape.

  -l address:port  where to listen (default 127.0.0.1:9177; numeric, IPv6
                   as [::1]:9177)

Exit status: 100 for a usage error, 111 if it cannot listen; otherwise it
runs until it is killed.
",
    page: PROG,
};

pub fn main(args: &[&[u8]]) -> i32 {
    HELP.check(args);
    let mut listen = DEFAULT_LISTEN.as_bytes();
    let mut g = Getopt::new(args, b"l:");
    for o in g.by_ref() {
        match o {
            Opt::Flag(b'l', Some(v)) => listen = v,
            _ => HELP.usage(),
        }
    }
    let rest = g.rest();
    if rest.len() > 1 {
        HELP.usage();
    }
    let scandir = rest.first().copied().unwrap_or(b"..").to_vec();
    let Some(addr) = std::str::from_utf8(listen)
        .ok()
        .and_then(|s| s.parse::<SocketAddr>().ok())
    else {
        Line::new(PROG, "fatal")
            .s("bad address (want ADDRESS:PORT, numeric): ")
            .b(listen)
            .exit(EXIT_USAGE)
    };
    let listener = TcpListener::bind(addr).unwrap_or_else(|e| {
        Line::new(PROG, "fatal")
            .s("unable to listen on ")
            .b(listen)
            .err(io_errno(&e))
            .exit(EXIT_TEMP)
    });
    let scrape = Scrape::new(scandir);
    let mut server = Server::new(listener, Limits::default(), scrape).unwrap_or_else(|e| {
        Line::new(PROG, "fatal")
            .s("unable to set up the listening socket")
            .err(io_errno(&e))
            .exit(EXIT_TEMP)
    });
    server.run()
}

fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(0))
}

/// The scrape: the tree's services, read and rendered.
pub struct Scrape {
    scandir: Vec<u8>,
    reader: Reader,
    renderer: Renderer,
    listing: Listing,
}

impl Scrape {
    pub fn new(scandir: Vec<u8>) -> Scrape {
        Scrape {
            scandir,
            reader: Reader::with_cache(),
            renderer: Renderer::new(),
            listing: Listing::default(),
        }
    }

    /// The exposition of the whole tree, or why SCANDIR cannot be listed.
    pub fn metrics(&mut self, out: &mut String) -> Result<(), Errno> {
        let names = self.listing.read(&self.scandir)?;
        let mut path = self.scandir.clone();
        if !path.ends_with(b"/") {
            path.push(b'/');
        }
        let base = path.len();
        let mut observed: Vec<Observed> = Vec::with_capacity(names.len());
        for name in names {
            path.truncate(base);
            path.extend_from_slice(name);
            observed.push(self.reader.observe(&path, name.clone()));
        }
        self.reader.end_round();
        self.renderer.render(&observed, out);
        Ok(())
    }
}

impl Handler for Scrape {
    fn get(&mut self, path: &[u8]) -> Response {
        match path {
            b"/metrics" => {
                let mut out = String::new();
                match self.metrics(&mut out) {
                    Ok(()) => Response {
                        status: 200,
                        content_type: prometheus::CONTENT_TYPE,
                        body: out.into_bytes(),
                    },
                    Err(e) => {
                        let line = Line::new(PROG, "warning")
                            .s("unable to read ")
                            .b(&self.scandir)
                            .err(e);
                        let text = line.into_bytes();
                        let _ = crate::msg::write_all(crate::sys::StdFd::ERR, &text);
                        Response {
                            status: 500,
                            content_type: "text/plain; charset=utf-8",
                            body: text,
                        }
                    }
                }
            }
            b"/" => Response::text(200, "svmetrics: the metrics are at /metrics\n"),
            _ => Response::text(404, "svmetrics: not found; the metrics are at /metrics\n"),
        }
    }
}

/// The names of the services in a scan directory, sorted: the
/// directories (or links to directories) whose names do not start with
/// `.`, as svscan starts them, and svscan's own logger `.svscan/log` when
/// there is one. The names are kept from one listing to the next and
/// sorted again only when they changed.
#[derive(Debug, Default)]
pub struct Listing {
    /// The names in directory order, as last read.
    raw: Vec<Vec<u8>>,
    /// `raw`, sorted, with `.svscan/log`.
    sorted: Vec<Vec<u8>>,
}

impl Listing {
    /// Lists `scandir` again.
    pub fn read(&mut self, scandir: &[u8]) -> Result<&[Vec<u8>], Errno> {
        use nix::dir::{Dir, Type};
        use nix::fcntl::{AtFlags, OFlag};
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let dirfd = nix::fcntl::open(scandir, flags, nix::sys::stat::Mode::empty())?;
        let mut dir = Dir::from_fd(dirfd.try_clone().map_err(|e| io_errno(&e))?)?;
        let mut same = 0;
        let mut changed = false;
        for entry in dir.iter() {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name.first() == Some(&b'.') {
                continue;
            }
            let is_dir = match entry.file_type() {
                Some(Type::Directory) => true,
                // a link (or a file system without d_type): where it leads
                Some(Type::Symlink) | None => {
                    nix::sys::stat::fstatat(&dirfd, entry.file_name(), AtFlags::empty())
                        .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
                }
                Some(_) => false,
            };
            if !is_dir {
                continue;
            }
            if !changed && self.raw.get(same).is_some_and(|n| n == name) {
                same += 1;
                continue;
            }
            if !changed {
                changed = true;
                self.raw.truncate(same);
            }
            self.raw.push(name.to_vec());
        }
        if changed || same != self.raw.len() || self.sorted.is_empty() {
            self.raw
                .truncate(if changed { self.raw.len() } else { same });
            self.sorted = self.raw.clone();
            self.sorted.sort_unstable();
        }
        let svscan_log = nix::sys::stat::fstatat(&dirfd, ".svscan/log", AtFlags::empty())
            .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR);
        let has = self.sorted.last().is_some_and(|n| n == b".svscan/log");
        match (svscan_log, has) {
            (true, false) => self.sorted.push(b".svscan/log".to_vec()),
            (false, true) => {
                self.sorted.pop();
            }
            _ => {}
        }
        Ok(&self.sorted)
    }
}
