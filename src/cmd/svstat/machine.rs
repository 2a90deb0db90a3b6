//! `svstat --json dir ...` and `svstat --prometheus dir ...`: the status
//! for machines (see `monitor`).
//!
//! `--json` prints one JSON object per directory, one per line (JSON
//! Lines), written by serde_json: the fields of svstat(8)'s JSON section,
//! with the logger's in a nested `log` object when `DIR/log` is a
//! directory. Exit 0 when no object has an `error`, 1 otherwise.
//!
//! `--prometheus` prints the Prometheus text format of all of them at once
//! (for node_exporter's textfile collector); exit 0, whatever the services'
//! states (they are in the metrics).
//!
//! Either exits 111 if standard output cannot be written.

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::monitor::{self, View};
use crate::msg::{self, EXIT_TEMP};
use crate::prometheus::Exposition;
use crate::record::{self, Ending, State};
use crate::sys;
use crate::tai64::Tai64n;

const PROG: &str = "svstat";

fn write_out(text: &[u8]) {
    if let Err(e) = msg::write_all(sys::StdFd::OUT, text) {
        msg::fatal(PROG, &[b"unable to write output"], e);
    }
}

pub fn json(dirs: &[&[u8]]) -> i32 {
    let mut code = 0;
    let mut line = Vec::with_capacity(1024);
    let mut reader = monitor::Reader::new();
    for dir in dirs {
        let o = reader.observe(dir, dir.to_vec());
        if o.service.error.is_some() || o.log.as_ref().is_some_and(|l| l.error.is_some()) {
            code = 1;
        }
        let obj = Json {
            view: &o.service,
            log: o.log.as_ref(),
            now: Tai64n::now(),
        };
        line.clear();
        if serde_json::to_writer(&mut line, &obj).is_err() {
            // only an I/O error of the writer can fail it; a Vec has none
            return EXIT_TEMP;
        }
        line.push(b'\n');
        write_out(&line);
    }
    code
}

/// Each directory is read and reduced to its samples at once (nothing of
/// it kept but its label and values); the text is written family by
/// family at the end, in pieces of `prometheus::PIECE` bytes.
pub fn prometheus(dirs: &[&[u8]]) -> i32 {
    let mut reader = monitor::Reader::new();
    let mut exposition = Exposition::with_capacity(dirs.len());
    let mut o = monitor::Observed::new();
    for dir in dirs {
        reader.observe_into(dir, dir, &mut o);
        exposition.add_observed(&o);
    }
    let _ = exposition.write(|piece| {
        write_out(piece);
        Ok::<(), std::convert::Infallible>(())
    });
    0
}

/// One directory as a JSON object.
struct Json<'a> {
    view: &'a View,
    log: Option<&'a View>,
    now: Tai64n,
}

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.view;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("dir", &record::escaped(&v.name))?;
        m.serialize_entry("supervise_running", &v.supervise_running)?;
        m.serialize_entry("state", &v.state().map(State::name))?;
        m.serialize_entry("pid", &v.pid())?;
        m.serialize_entry("seconds", &v.seconds(self.now))?;
        m.serialize_entry("since", &v.since().map(monitor::unix_seconds))?;
        m.serialize_entry("want", &v.want().map(record::want_name))?;
        m.serialize_entry("paused", &v.paused())?;
        m.serialize_entry("normally_up", &v.normally_up)?;
        m.serialize_entry("ready", &v.ready())?;
        let ready_error = v.record.as_ref().and_then(|r| r.ready_error);
        m.serialize_entry("ready_error", &ready_error.map(record::ReadyError::name))?;
        m.serialize_entry("starts", &v.starts())?;
        m.serialize_entry("last_exit", &v.last_exit().map(LastExit))?;
        m.serialize_entry("error", &v.error)?;
        if let Some(log) = self.log {
            let nested = Json {
                view: log,
                log: None,
                now: self.now,
            };
            m.serialize_entry("log", &nested)?;
        }
        m.end()
    }
}

/// `last_exit`: `code` or `signal` (the other null), `signal_name`,
/// `core_dumped`, `at` (Unix seconds).
struct LastExit<'a>(&'a record::Exit);

impl Serialize for LastExit<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let (code, signal) = match e.ending {
            Ending::Code(c) => (Some(c), None),
            Ending::Signal(sig) => (None, Some(sig)),
        };
        let mut m = s.serialize_map(Some(6))?;
        m.serialize_entry("pid", &e.pid)?;
        m.serialize_entry("code", &code)?;
        m.serialize_entry("signal", &signal)?;
        m.serialize_entry("signal_name", &signal.map(record::signal_name))?;
        m.serialize_entry("core_dumped", &e.core_dumped)?;
        m.serialize_entry("at", &monitor::unix_seconds(e.at))?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Exit;
    use crate::status::Status;
    use serde_json::Value;

    fn text(v: &View, log: Option<&View>) -> Value {
        let j = Json {
            view: v,
            log,
            now: Tai64n::from_unix(1_700_000_010, 0),
        };
        serde_json::from_slice(&serde_json::to_vec(&j).unwrap()).unwrap()
    }

    #[test]
    fn fields_in_the_documented_order_and_forms() {
        let mut r = record::sample();
        r.state = State::Up;
        r.pid = 42;
        r.last_exit = Some(Exit {
            pid: 41,
            ending: Ending::Signal(9),
            core_dumped: false,
            at: Tai64n::from_unix(1_700_000_000, 500_000),
            watchdog: false,
        });
        let v = View {
            name: b"/service/a \"b\"\xff".to_vec(),
            supervise_running: true,
            normally_up: Some(false),
            status: Some(Status {
                stamp: r.since,
                pid: 42,
                paused: 1,
                want: b'u',
            }),
            record: Some(record::Summary::new(&r, r.status())),
            error: None,
        };
        let dead = View {
            name: b"/service/a/log".to_vec(),
            supervise_running: false,
            normally_up: Some(true),
            status: None,
            record: None,
            error: Some("supervise not running".into()),
        };
        let raw = serde_json::to_string(&Json {
            view: &v,
            log: Some(&dead),
            now: Tai64n::from_unix(1_700_000_010, 0),
        })
        .unwrap();
        let keys = [
            "dir",
            "supervise_running",
            "state",
            "pid",
            "seconds",
            "since",
            "want",
            "paused",
            "normally_up",
            "ready",
            "ready_error",
            "starts",
            "last_exit",
            "error",
            "log",
        ];
        let mut at = 0;
        for k in keys {
            let pos = raw[at..].find(&format!("\"{k}\":")).unwrap() + at;
            at = pos;
        }
        let j = text(&v, Some(&dead));
        assert_eq!(j["dir"], "/service/a \"b\"%FF");
        assert_eq!(j["state"], "up");
        assert_eq!(
            (j["pid"].as_u64(), j["seconds"].as_u64()),
            (Some(42), Some(10))
        );
        assert_eq!(j["since"].as_f64(), Some(1_700_000_000.123));
        assert_eq!(
            (j["want"].as_str(), j["paused"].as_bool()),
            (Some("up"), Some(true))
        );
        assert_eq!(j["ready"], true);
        assert_eq!(j["ready_error"], Value::Null);
        assert_eq!(j["starts"], 7);
        assert_eq!(j["last_exit"]["signal_name"], "SIGKILL");
        assert_eq!(j["last_exit"]["code"], Value::Null);
        assert_eq!(j["last_exit"]["at"].as_f64(), Some(1_700_000_000.5));
        assert_eq!(j["error"], Value::Null);
        let l = &j["log"];
        assert_eq!(l["supervise_running"], false);
        assert_eq!(l["state"], Value::Null);
        assert_eq!(l["pid"], Value::Null);
        assert_eq!(l["normally_up"], true);
        assert_eq!(l["error"], "supervise not running");
        assert!(l.get("log").is_none());
    }
}
