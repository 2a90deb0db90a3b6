//! The Prometheus text exposition format (version 0.0.4) of services read
//! by `monitor`: `svstat --prometheus` prints it, svmetrics serves it.
//!
//! Every family has one HELP and one TYPE line before its samples, and all
//! samples of a family are together. No sample carries a timestamp (the
//! node_exporter textfile collector rejects a whole file for one). Label
//! values are the service names through `record::escape` (valid UTF-8 kept;
//! `%`, control characters and bytes that are not UTF-8 become `%HH`) and
//! then the format's quoting of `\` and `"`: both steps are reversible, so
//! two services never share a series, and the text is always valid UTF-8
//! without newlines.

use std::fmt::Write;
use std::rc::Rc;

use crate::monitor::{FastMap, LogSizes, Observed, View};
use crate::record::{Ending, escape};
use crate::status::Want;
use crate::tai64::{self, Tai64n};

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A sample's value.
enum Num {
    Int(i64),
    /// Unix seconds with milliseconds.
    Time(Tai64n),
}

impl From<bool> for Num {
    fn from(b: bool) -> Num {
        Num::Int(i64::from(b))
    }
}

impl From<u64> for Num {
    fn from(n: u64) -> Num {
        Num::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<i32> for Num {
    fn from(n: i32) -> Num {
        Num::Int(i64::from(n))
    }
}

/// A family of samples, one per supervised directory.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    value: fn(&View) -> Option<Num>,
}

/// The per-directory families (services and their loggers alike).
const SERVICE_FAMILIES: &[Family] = &[
    Family {
        name: "daemontools_service_up",
        kind: "gauge",
        help: "Whether ./run runs under a live supervise (1) or not (0).",
        value: |v| Some(v.up().into()),
    },
    Family {
        name: "daemontools_service_ready",
        kind: "gauge",
        help: "Whether the service is up and ready (up, for one without readiness source).",
        value: |v| v.ready().map(Num::from),
    },
    Family {
        name: "daemontools_service_want_up",
        kind: "gauge",
        help: "Whether supervise wants the service up (0 for down and for once).",
        value: |v| v.want().map(|w| (w == Want::Up).into()),
    },
    Family {
        name: "daemontools_service_normally_up",
        kind: "gauge",
        help: "Whether the service directory has no down file.",
        value: |v| v.normally_up.map(Num::from),
    },
    Family {
        name: "daemontools_service_paused",
        kind: "gauge",
        help: "Whether the service is paused (svc -p).",
        value: |v| v.paused().map(Num::from),
    },
    Family {
        name: "daemontools_service_state_change_timestamp_seconds",
        kind: "gauge",
        help: "Unix time when ./run last started or ended.",
        value: |v| v.since().map(Num::Time),
    },
    Family {
        name: "daemontools_service_starts_total",
        kind: "counter",
        help: "Starts of ./run since supervise began.",
        value: |v| v.starts().map(Num::from),
    },
    Family {
        name: "daemontools_service_last_exit_code",
        kind: "gauge",
        help: "Exit code of the last ./run that exited (absent after a signal).",
        value: |v| match v.last_exit()?.ending {
            Ending::Code(c) => Some(c.into()),
            Ending::Signal(_) => None,
        },
    },
    Family {
        name: "daemontools_service_last_exit_signal",
        kind: "gauge",
        help: "Signal number that ended the last ./run, 0 if it exited.",
        value: |v| match v.last_exit()?.ending {
            Ending::Code(_) => Some(0.into()),
            Ending::Signal(s) => Some(s.into()),
        },
    },
    Family {
        name: "daemontools_supervise_running",
        kind: "gauge",
        help: "Whether a supervise runs on the directory (svok).",
        value: |v| Some(v.supervise_running.into()),
    },
    Family {
        name: "daemontools_service_status_readable",
        kind: "gauge",
        help: "Whether the status files of a live supervise were read without a problem.",
        value: |v| Some(v.error.is_none().into()),
    },
];

/// A family of the log directories.
struct LogFamily {
    name: &'static str,
    help: &'static str,
    value: fn(&LogSizes) -> u64,
}

const LOG_FAMILIES: &[LogFamily] = &[
    LogFamily {
        name: "daemontools_log_current_bytes",
        help: "Size of the log directory's current file.",
        value: |s| s.current_bytes,
    },
    LogFamily {
        name: "daemontools_log_rotated_files",
        help: "Number of rotated files in the log directory.",
        value: |s| s.rotated_files,
    },
    LogFamily {
        name: "daemontools_log_rotated_bytes",
        help: "Total size of the rotated files in the log directory.",
        value: |s| s.rotated_bytes,
    },
];

/// A name that is its own label value: printable ASCII other than `%`,
/// `\` and `"` (most service names).
fn plain(name: &[u8]) -> bool {
    name.iter()
        .all(|&c| (b' '..0x7f).contains(&c) && !matches!(c, b'%' | b'\\' | b'"'))
}

/// The quoted label value of `name`.
fn label_of(name: &[u8]) -> String {
    let mut l = String::with_capacity(name.len() + 2);
    if plain(name) {
        l.push('"');
        l.extend(name.iter().map(|&c| c as char));
        l.push('"');
    } else {
        label_value(name, &mut l);
    }
    l
}

/// A label value, quoted: `"` + the escaped name + `"`.
pub fn label_value(name: &[u8], out: &mut String) {
    let mut text = String::with_capacity(name.len());
    escape(name, &mut text);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            // escape() leaves no control character; kept for the format's sake
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
}

/// `NAME{service=LABEL} VALUE`.
fn sample(out: &mut String, name: &str, label: &str, value: Num) {
    let mut num = itoa::Buffer::new();
    out.push_str(name);
    out.push_str("{service=");
    out.push_str(label);
    out.push_str("} ");
    match value {
        Num::Int(n) => out.push_str(num.format(n)),
        Num::Time(t) => {
            out.push_str(num.format(tai64::label_to_unix(t.secs)));
            let ms = (t.nano / 1_000_000).min(999) as u16;
            let digits = [
                b'.',
                b'0' + (ms / 100) as u8,
                b'0' + (ms / 10 % 10) as u8,
                b'0' + (ms % 10) as u8,
            ];
            out.push_str(std::str::from_utf8(&digits).unwrap_or(".000"));
        }
    }
    out.push('\n');
}

/// Number of per-directory families: the service families, then the log
/// directory families.
const PARTS: usize = SERVICE_FAMILIES.len() + LOG_FAMILIES.len();

/// The sample lines of one directory, family by family, with what they
/// were made from.
struct Piece {
    view: View,
    sizes: Option<LogSizes>,
    text: String,
    /// End of each family's lines in `text`.
    ends: [usize; PARTS],
    /// The last render that used it.
    round: u64,
    /// Unique among the pieces a renderer made.
    serial: u64,
}

impl Piece {
    fn build(view: &View, sizes: Option<&LogSizes>, round: u64, serial: u64) -> Piece {
        let label = label_of(&view.name);
        let mut text = String::with_capacity(900);
        let mut ends = [0; PARTS];
        for (i, f) in SERVICE_FAMILIES.iter().enumerate() {
            if let Some(n) = (f.value)(view) {
                sample(&mut text, f.name, &label, n);
            }
            ends[i] = text.len();
        }
        for (i, f) in LOG_FAMILIES.iter().enumerate() {
            if let Some(s) = sizes {
                sample(&mut text, f.name, &label, Num::from((f.value)(s)));
            }
            ends[SERVICE_FAMILIES.len() + i] = text.len();
        }
        Piece {
            view: view.clone(),
            sizes: sizes.copied(),
            text,
            ends,
            round,
            serial,
        }
    }

    fn part(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }
}

/// Renders the exposition, keeping each directory's lines until what they
/// say changes: a long-running exporter (svmetrics) formats only the
/// services whose state changed since the last scrape. What is compared
/// is everything the lines are made from (the whole `View` and the log
/// sizes), so the output is the same as a fresh render's.
/// When the pieces of a render are the very pieces of the one before, in
/// the same order (no service changed), its text is the last text again.
#[derive(Default)]
pub struct Renderer {
    pieces: FastMap<Vec<u8>, Piece>,
    round: u64,
    serials: u64,
    /// The serials of the last render's pieces, in order, and its text.
    last: Vec<u64>,
    last_text: Rc<String>,
}

impl Renderer {
    pub fn new() -> Renderer {
        Renderer::default()
    }

    /// Appends the exposition of `services` (each with its logger and log
    /// directory) to `out`. A name seen before (`svstat --prometheus x x`,
    /// or `x/log` given besides `x`) is left out, so no series appears
    /// twice.
    pub fn render(&mut self, services: &[Observed], out: &mut String) {
        out.push_str(&self.render_shared(services));
    }

    /// `render` into a shared text: the last one again (no copy) when no
    /// service changed.
    pub fn render_shared(&mut self, services: &[Observed]) -> Rc<String> {
        self.round += 1;
        let round = self.round;
        let mut order: Vec<&[u8]> = Vec::with_capacity(services.len() * 2);
        let mut up = 0;
        for o in services {
            let dirs = [
                (Some(&o.service), o.logdir.as_ref()),
                (o.log.as_ref(), None),
            ];
            for (view, sizes) in dirs {
                let Some(view) = view else { continue };
                let serial = self.serials;
                match self.pieces.get_mut(&view.name[..]) {
                    Some(p) if p.round == round => continue,
                    Some(p) if p.view == *view && p.sizes.as_ref() == sizes => p.round = round,
                    Some(p) => {
                        self.serials += 1;
                        *p = Piece::build(view, sizes, round, serial);
                    }
                    None => {
                        self.serials += 1;
                        let p = Piece::build(view, sizes, round, serial);
                        self.pieces.insert(view.name.clone(), p);
                    }
                }
                order.push(&view.name);
                up += usize::from(view.up());
            }
        }
        let pieces: Vec<&Piece> = order.iter().map(|n| &self.pieces[*n]).collect();
        let same = pieces.len() == self.last.len()
            && pieces.iter().zip(&self.last).all(|(p, s)| p.serial == *s);
        if same {
            return Rc::clone(&self.last_text);
        }
        self.last = pieces.iter().map(|p| p.serial).collect();
        let mut text = String::new();
        let out = &mut text;
        out.reserve(pieces.iter().map(|p| p.text.len()).sum::<usize>() + 4096);
        let families = SERVICE_FAMILIES
            .iter()
            .map(|f| (f.name, f.kind, f.help))
            .chain(LOG_FAMILIES.iter().map(|f| (f.name, "gauge", f.help)));
        for (i, (name, kind, help)) in families.enumerate() {
            header(out, name, kind, help);
            for p in &pieces {
                out.push_str(p.part(i));
            }
        }
        header(
            out,
            "daemontools_services",
            "gauge",
            "Supervised directories reported (services and their loggers).",
        );
        let _ = writeln!(out, "daemontools_services {}", pieces.len());
        header(
            out,
            "daemontools_services_up",
            "gauge",
            "Supervised directories reported whose ./run is up.",
        );
        let _ = writeln!(out, "daemontools_services_up {up}");
        drop(pieces);
        // forget the directories that are gone
        self.pieces.retain(|_, p| p.round == round);
        self.last_text = Rc::new(text);
        Rc::clone(&self.last_text)
    }
}

/// `Renderer::render` once.
pub fn render(services: &[Observed], out: &mut String) {
    Renderer::new().render(services, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record;
    use crate::status::Status;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn label(b: &[u8]) -> String {
        let mut s = String::new();
        label_value(b, &mut s);
        s
    }

    /// The inverse of `label_value`: the name's bytes.
    fn unlabel(s: &str) -> Vec<u8> {
        let inner = &s[1..s.len() - 1];
        let mut text = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next().unwrap() {
                    'n' => text.push('\n'),
                    c => text.push(c),
                }
            } else {
                text.push(c);
            }
        }
        record::unescape(&text).unwrap()
    }

    #[test]
    fn labels_quote_and_escape() {
        assert_eq!(label(b"web"), "\"web\"");
        assert_eq!(label(b"a \"b\" \\c"), "\"a \\\"b\\\" \\\\c\"");
        assert_eq!(label(b"new\nline"), "\"new%0Aline\"");
        assert_eq!(label(b"caf\xc3\xa9 \xff"), "\"caf\u{e9} %FF\"");
        assert_eq!(label(b"100%"), "\"100%25\"");
    }

    proptest! {
        #[test]
        fn label_values_are_injective_valid_one_line_text(
            a in proptest::collection::vec(any::<u8>(), 0..24),
            b in proptest::collection::vec(any::<u8>(), 0..24),
        ) {
            let (la, lb) = (label(&a), label(&b));
            prop_assert_eq!(a == b, la == lb);
            prop_assert_eq!(unlabel(&la), a);
            prop_assert!(!la.contains('\n'));
        }
    }

    #[test]
    fn names_that_look_alike_stay_apart() {
        let names: [&[u8]; 8] = [
            b"a b", b"a%20b", b"a\\b", b"a\\\\b", b"a\"b", b"a\xffb", b"a%FFb", b"a\nb",
        ];
        let labels: HashSet<String> = names.iter().map(|n| label(n)).collect();
        assert_eq!(labels.len(), names.len());
    }

    fn view(name: &[u8], pid: u32) -> View {
        View {
            name: name.to_vec(),
            supervise_running: true,
            normally_up: Some(true),
            status: Some(Status {
                stamp: Tai64n::from_unix(1_700_000_000, 123_456),
                pid,
                paused: 0,
                want: b'u',
            }),
            record: None,
            error: None,
        }
    }

    #[test]
    fn a_name_given_twice_or_as_another_logger_is_reported_once() {
        let with_log = Observed {
            service: view(b"x", 7),
            log: Some(view(b"x/log", 8)),
            logdir: None,
        };
        let alone = |name: &[u8]| Observed {
            service: view(name, 9),
            log: None,
            logdir: None,
        };
        let mut out = String::new();
        render(&[alone(b"x/log"), with_log, alone(b"x")], &mut out);
        let ups: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("daemontools_service_up{"))
            .collect();
        assert_eq!(
            ups,
            [
                "daemontools_service_up{service=\"x/log\"} 1",
                "daemontools_service_up{service=\"x\"} 1"
            ]
        );
        assert!(out.contains("\ndaemontools_services 2\n"));
    }

    #[test]
    fn a_renderer_gives_what_a_fresh_render_gives() {
        let mut services = vec![
            Observed {
                service: view(b"a", 7),
                log: Some(view(b"a/log", 8)),
                logdir: None,
            },
            Observed {
                service: view(b"b", 0),
                log: None,
                logdir: None,
            },
        ];
        let mut r = Renderer::new();
        let fresh = |s: &[Observed]| {
            let mut out = String::new();
            render(s, &mut out);
            out
        };
        fn again(r: &mut Renderer, s: &[Observed]) -> String {
            let mut out = String::new();
            r.render(s, &mut out);
            out
        }
        assert_eq!(again(&mut r, &services), fresh(&services));
        let serials = r.serials;
        assert_eq!(again(&mut r, &services), fresh(&services));
        assert_eq!(r.serials, serials, "nothing changed: nothing rebuilt");
        services[1].service.status.as_mut().unwrap().pid = 9;
        assert_eq!(again(&mut r, &services), fresh(&services));
        assert_eq!(r.serials, serials + 1, "one rebuilt");
        services.remove(0);
        assert_eq!(again(&mut r, &services), fresh(&services));
        assert_eq!(r.pieces.len(), 1, "the gone service forgotten");
        services.reverse();
        services.push(Observed {
            service: view(b"c", 0),
            log: None,
            logdir: None,
        });
        services.reverse();
        assert_eq!(again(&mut r, &services), fresh(&services));
    }

    #[test]
    fn exposition_groups_families_and_has_no_timestamps() {
        let mut log = view(b"web/log", 8);
        log.error = Some("bad status.json (state)".into());
        let services = [
            Observed {
                service: view(b"web", 7),
                log: Some(log),
                logdir: Some(LogSizes {
                    current_bytes: 10,
                    rotated_files: 2,
                    rotated_bytes: 300,
                }),
            },
            Observed {
                service: view(b"db", 0),
                log: None,
                logdir: None,
            },
        ];
        let mut out = String::new();
        render(&services, &mut out);
        assert!(out.ends_with('\n'));
        assert!(out.contains("daemontools_service_up{service=\"web\"} 1\n"));
        assert!(out.contains("daemontools_service_up{service=\"web/log\"} 1\n"));
        assert!(out.contains("daemontools_service_up{service=\"db\"} 0\n"));
        assert!(out.contains("daemontools_service_ready{service=\"db\"} 0\n"));
        assert!(out.contains("daemontools_service_ready{service=\"web\"} 1\n"));
        assert!(out.contains(
            "daemontools_service_state_change_timestamp_seconds{service=\"web\"} 1700000000.123\n"
        ));
        assert!(out.contains("daemontools_service_status_readable{service=\"web/log\"} 0\n"));
        assert!(out.contains("daemontools_log_rotated_bytes{service=\"web\"} 300\n"));
        assert!(out.contains("\ndaemontools_services 3\n"));
        assert!(out.contains("\ndaemontools_services_up 2\n"));
        // one HELP and one TYPE per family, every sample after them and
        // next to the others of its family; two fields per sample (no
        // timestamp)
        let mut seen = Vec::<String>::new();
        let mut current = String::new();
        for line in out.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                current = rest.split(' ').next().unwrap().to_string();
                assert!(!seen.contains(&current), "{current} twice");
                seen.push(current.clone());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert_eq!(name, current, "{line}");
                let value = match line.rsplit_once('}') {
                    Some((_, v)) => v,
                    None => line.split_once(' ').unwrap().1,
                };
                assert_eq!(value.split_whitespace().count(), 1, "{line}");
            }
        }
    }
}
