//! A temp service directory with a supervise on it, for the integration
//! tests: start our (or the reference) supervise, talk to it with our svc,
//! svok and svstat, read the pids and signals the service recorded, and end
//! every process by PID on drop.

use std::fs;
use std::io::Read;
use std::process::ChildStderr;

use daemontools::record::Record;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::{LONG, Proc, wait_until};

/// A service that appends `start PID` and then the name of every signal it
/// catches to ./events. TERM, INT, QUIT are recorded and end it.
pub const RECORDER: &str = r#"#!/bin/sh
echo "start $$" >> events
for s in HUP ALRM USR1 USR2 CONT; do trap "echo $s >> events" $s; done
for s in TERM INT QUIT; do trap "echo $s >> events; exit 0" $s; done
while :; do sleep 1 & wait $!; done
"#;

pub struct Svc {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub dir: PathBuf,
    pub sup: Option<Proc>,
}

impl Svc {
    pub fn new(run: &str) -> Svc {
        let tmp = super::tempdir();
        let root = tmp.path().to_path_buf();
        let dir = root.join("s");
        super::script(&dir.join("run"), run);
        Svc {
            _tmp: tmp,
            root,
            dir,
            sup: None,
        }
    }

    pub fn start_with(&mut self, prog: &Path) {
        let p = super::spawn(prog, &["s"], &self.root, |c| {
            c.stdout(Stdio::null()).stderr(Stdio::piped());
        });
        self.sup = Some(p);
        assert!(
            wait_until(LONG, || self.svok()),
            "supervise did not come up"
        );
    }

    pub fn start(&mut self) {
        self.start_with(&super::bin("supervise"));
    }

    pub fn svc(&self, opts: &str) {
        let out = super::run(super::bin("svc"), &[opts, "s"], &self.root);
        assert_eq!(out.status.code(), Some(0));
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn svok(&self) -> bool {
        super::run(super::bin("svok"), &["s"], &self.root)
            .status
            .code()
            == Some(0)
    }

    pub fn svstat(&self) -> String {
        let out = super::run(super::bin("svstat"), &["s"], &self.root);
        String::from_utf8(out.stdout).unwrap()
    }

    /// pid recorded in supervise/status (0 if none).
    pub fn pid(&self) -> u32 {
        status_pid(&self.dir.join("supervise/status"))
    }

    pub fn events(&self) -> Vec<String> {
        fs::read_to_string(self.dir.join("events"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn starts(&self) -> Vec<u32> {
        self.events()
            .iter()
            .filter_map(|l| l.strip_prefix("start ").map(|p| p.parse().unwrap()))
            .collect()
    }

    pub fn wait_event(&self, what: &str) -> bool {
        wait_until(LONG, || self.events().iter().any(|l| l == what))
    }

    /// Waits until the service runs with a pid other than `old`.
    pub fn wait_new_pid(&self, old: u32) -> u32 {
        let mut pid = 0;
        assert!(
            wait_until(LONG, || {
                pid = self.pid();
                pid != 0 && pid != old && self.starts().contains(&pid)
            }),
            "no new service process (old {old}, events {:?})",
            self.events()
        );
        pid
    }

    pub fn sup_mut(&mut self) -> &mut Proc {
        self.sup.as_mut().unwrap()
    }

    /// `svc -dx`, then supervise must exit 0.
    pub fn stop_and_exit(&mut self) {
        self.svc("-dx");
        let st = self.sup_mut().wait_timeout(LONG);
        assert_eq!(
            st.and_then(|st| st.code()),
            Some(0),
            "supervise did not exit 0"
        );
    }

    /// Reads supervise's stderr until `line` was seen `times` times; every
    /// line read must be `line`.
    pub fn expect_stderr_lines(&mut self, line: &str, times: usize) {
        let mut err = self.sup_mut().child.stderr.take().unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while got
            .windows(line.len())
            .filter(|w| *w == line.as_bytes())
            .count()
            < times
        {
            let n = err.read(&mut buf).unwrap();
            assert!(
                n > 0,
                "stderr closed early: {:?}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
        }
        // keep the pipe open: supervise dies of SIGPIPE on a closed stderr
        self.sup_mut().child.stderr = Some(err);
        for l in String::from_utf8_lossy(&got).lines() {
            assert_eq!(l, line.trim_end());
        }
    }
}

/// Waits until our supervise has written, after `state/status`, the
/// record and the summary that go with it (the summary holds the same 18
/// bytes): until then it may hold a file open for writing. Returns at
/// once for a supervise that keeps no record (0.76).
pub fn wait_state_written(state: &Path) {
    if !state.join("status.json").exists() {
        return;
    }
    let caught_up = wait_until(LONG, || {
        let st = fs::read(state.join("status")).unwrap_or_default();
        let sum = fs::read(state.join("summary")).unwrap_or_default();
        st.len() >= 18 && sum.len() == 64 && sum[8..26] == st[..18]
    });
    assert!(caught_up, "{state:?}: no summary in step with the status");
}

/// The pid recorded in a status file (0 if none or unreadable).
pub fn status_pid(status: &Path) -> u32 {
    match fs::read(status) {
        Ok(b) if b.len() >= 18 => u32::from_le_bytes(b[12..16].try_into().unwrap()),
        _ => 0,
    }
}

/// Waits until a status file records a running service and returns its
/// pid (svok answers as soon as supervise runs, before it starts ./run).
pub fn wait_status_pid(status: &Path) -> u32 {
    let mut pid = 0;
    assert!(
        wait_until(LONG, || {
            pid = status_pid(status);
            pid != 0
        }),
        "no service started in {}",
        status.display()
    );
    pid
}

/// Kills the service whose pid a status file records, when dropped: for
/// tests that run supervise without `Svc` (drop it after the supervise).
pub struct KillStatusPid(pub PathBuf);

impl Drop for KillStatusPid {
    fn drop(&mut self) {
        let pid = status_pid(&self.0);
        if pid != 0 {
            super::send_signal(pid as i32, 9);
        }
    }
}

impl Drop for Svc {
    fn drop(&mut self) {
        // End supervise first (so it cannot start the service again), then
        // the service by the pids supervise and the service recorded.
        drop(self.sup.take());
        let pid = self.pid();
        if pid != 0 {
            super::send_signal(pid as i32, 9);
        }
        for p in self.starts() {
            super::send_signal(p as i32, 9);
        }
    }
}

/// The record in `s/supervise/status.json`, if readable.
pub fn record(s: &Svc) -> Option<Record> {
    let text = fs::read(s.dir.join("supervise/status.json")).ok()?;
    Record::parse(&text).ok()
}

/// Waits until the record satisfies `cond`; returns it.
pub fn wait_record(s: &Svc, what: &str, cond: impl Fn(&Record) -> bool) -> Record {
    let mut last = None;
    let ok = wait_until(LONG, || {
        last = record(s);
        last.as_ref().is_some_and(&cond)
    });
    assert!(ok, "{what}: last record {last:#?}");
    last.unwrap()
}

/// supervise's stderr, read without blocking; kept open for the whole test
/// (supervise dies of SIGPIPE on a closed stderr).
pub struct Stderr {
    pipe: ChildStderr,
    text: String,
}

impl Stderr {
    pub fn take(s: &mut Svc) -> Stderr {
        let pipe = s.sup_mut().child.stderr.take().unwrap();
        nix::fcntl::fcntl(
            &pipe,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )
        .unwrap();
        Stderr {
            pipe,
            text: String::new(),
        }
    }

    pub fn lines(&mut self) -> Vec<String> {
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            self.text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        self.text.lines().map(str::to_string).collect()
    }

    pub fn wait_line(&mut self, line: &str) {
        let ok = wait_until(LONG, || self.lines().iter().any(|l| l == line));
        assert!(ok, "no {line:?} in stderr {:?}", self.text);
    }
}
