//! A scan directory with our svscan on it, in its own process group, for
//! the tests that need a whole tree (monitoring); every process of the
//! group is ended by PID on drop.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::Proc;

/// The command name of `pid` (`/proc/PID/comm`).
pub fn comm(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_default()
}

/// Ends process group `pgid` by PID: `first` (svscan), then every
/// supervise, then the rest, until nothing is left.
pub fn end_group(pgid: i32, first: &[i32]) {
    super::kill_all(first);
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let members = super::procs_with(2, pgid);
        if members.is_empty() || Instant::now() >= end {
            return;
        }
        let (sup, rest): (Vec<i32>, Vec<i32>) =
            members.iter().partition(|&&p| comm(p) == "supervise");
        super::kill_all(&sup);
        if sup.is_empty() {
            super::kill_all(&rest);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `root/service`, scanned by our svscan once `start` is called.
pub struct ScanTree {
    pub tmp: tempfile::TempDir,
    pub dir: PathBuf,
    scan: Option<Proc>,
}

impl ScanTree {
    pub fn new() -> ScanTree {
        let tmp = super::tempdir();
        let dir = tmp.path().join("service");
        fs::create_dir(&dir).unwrap();
        ScanTree {
            tmp,
            dir,
            scan: None,
        }
    }

    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// `service/NAME` (any bytes) with `run` and, if given, `log/run`.
    pub fn add(&self, name: &[u8], run: &str, log_run: Option<&str>) -> PathBuf {
        use std::os::unix::ffi::OsStrExt;
        let at = self.dir.join(std::ffi::OsStr::from_bytes(name));
        super::script(&at.join("run"), run);
        if let Some(l) = log_run {
            super::script(&at.join("log/run"), l);
        }
        at
    }

    /// Starts svscan (output to `root/svscan.out`).
    pub fn start(&mut self) {
        let out = fs::File::create(self.root().join("svscan.out")).unwrap();
        let err = out.try_clone().unwrap();
        let p = super::spawn(
            super::bin("svscan"),
            &[self.dir.to_str().unwrap()],
            self.root(),
            |c| {
                c.stdout(Stdio::from(out)).stderr(Stdio::from(err));
            },
        );
        self.scan = Some(p);
    }
}

impl Default for ScanTree {
    fn default() -> ScanTree {
        ScanTree::new()
    }
}

impl Drop for ScanTree {
    fn drop(&mut self) {
        if let Some(p) = self.scan.take() {
            let pgid = p.pid();
            drop(p); // SIGKILL svscan by PID and reap it
            end_group(pgid, &[]);
        }
    }
}
