//! Opt-in cgroup2 containment (a `cgroup` file in the service directory):
//! `./run` starts in its own child of supervise's cgroup, so that every
//! process it leaves behind, even one that called setsid(2), can be found
//! and killed (`cgroup.kill`).
//!
//! The hierarchy is found in /proc/self/mountinfo (the first `cgroup2`
//! mount; on hybrid systems it sits beside cgroup v1, e.g. at
//! /sys/fs/cgroup/unified) and supervise's own cgroup in /proc/self/cgroup
//! (the `0::` line). The parsers are pure and fuzzed
//! (fuzz/fuzz_targets/lifecycle_cgroup.rs).
//!
//! The child is named after the service directory: its last path component
//! (bytes other than letters, digits, `-`, `_`, `.` become `_`) and its
//! device and inode numbers, e.g. `web.2049.131074`, so two services never
//! share one, and a supervise started again on the same directory finds
//! what the previous one left behind.

use std::ffi::CString;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;

use crate::fsio;

/// Undoes mountinfo's octal escapes (`\040` for a space, ...).
fn unoctal(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let oct = field.get(i + 1..i + 4).filter(|d| {
            field[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)) && d[0] <= b'3'
        });
        match oct {
            Some(d) => {
                out.push((d[0] - b'0') << 6 | (d[1] - b'0') << 3 | (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

/// The first cgroup2 mount in a /proc/self/mountinfo text: (root of the
/// mount inside the hierarchy, mount point).
pub fn cgroup2_mount(mountinfo: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    for line in mountinfo.split(|&c| c == b'\n') {
        let fields: Vec<&[u8]> = line.split(|&c| c == b' ').collect();
        // id parent dev root mountpoint options [optional...] - type source super
        if fields.len() < 10 {
            continue;
        }
        let Some(dash) = fields[6..].iter().position(|f| *f == b"-") else {
            continue;
        };
        if fields.get(6 + dash + 1) == Some(&&b"cgroup2"[..]) {
            return Some((unoctal(fields[3]), unoctal(fields[4])));
        }
    }
    None
}

/// The cgroup2 path of a /proc/self/cgroup text (the `0::PATH` line).
pub fn own_cgroup(text: &[u8]) -> Option<Vec<u8>> {
    text.split(|&c| c == b'\n')
        .find_map(|l| l.strip_prefix(b"0::"))
        .filter(|p| p.starts_with(b"/"))
        .map(<[u8]>::to_vec)
}

/// Where supervise's own cgroup is in the file system: the mount point plus
/// the path relative to the mount's root; None when the cgroup is not
/// below that root (not visible in this mount).
pub fn own_dir(mount_root: &[u8], mount_point: &[u8], own: &[u8]) -> Option<Vec<u8>> {
    let rel = if mount_root == b"/" {
        own
    } else {
        let rest = own.strip_prefix(mount_root)?;
        if !rest.is_empty() && rest[0] != b'/' {
            return None;
        }
        rest
    };
    let mut dir = mount_point.to_vec();
    if dir.last() == Some(&b'/') {
        dir.pop();
    }
    dir.extend_from_slice(rel);
    if dir.last() == Some(&b'/') {
        dir.pop();
    }
    Some(dir)
}

/// The child cgroup's name for a service directory.
pub fn child_name(last_component: &[u8], dev: u64, ino: u64) -> Vec<u8> {
    let mut name: Vec<u8> = last_component
        .iter()
        .take(64)
        .map(|&c| {
            if c.is_ascii_alphanumeric() || b"-_.".contains(&c) {
                c
            } else {
                b'_'
            }
        })
        .collect();
    if name.is_empty() {
        name.push(b'_');
    }
    name.extend_from_slice(format!(".{dev}.{ino}").as_bytes());
    // never a name of the kernel's interface files (`cgroup.*`)
    if name.starts_with(b"cgroup.") {
        name.insert(0, b'_');
    }
    name
}

/// A service's cgroup, ready for use.
pub struct Cgroup {
    /// Absolute path of the cgroup directory.
    pub dir: Vec<u8>,
    /// `DIR/cgroup.procs`, for the child to move itself in.
    pub procs: CString,
}

fn path(b: &[u8]) -> &std::path::Path {
    std::path::Path::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b))
}

fn join(dir: &[u8], file: &str) -> Vec<u8> {
    let mut p = dir.to_vec();
    p.push(b'/');
    p.extend_from_slice(file.as_bytes());
    p
}

/// Why containment is not possible.
pub type Unusable = String;

/// Creates (or finds) the service's cgroup below supervise's own.
pub fn setup() -> Result<Cgroup, Unusable> {
    let mountinfo = std::fs::read("/proc/self/mountinfo")
        .map_err(|e| format!("unable to read /proc/self/mountinfo: {e}"))?;
    let (root, point) = cgroup2_mount(&mountinfo).ok_or("no cgroup2 hierarchy is mounted")?;
    let cg = std::fs::read("/proc/self/cgroup")
        .map_err(|e| format!("unable to read /proc/self/cgroup: {e}"))?;
    let own = own_cgroup(&cg).ok_or("no cgroup2 line in /proc/self/cgroup")?;
    let parent = own_dir(&root, &point, &own).ok_or("supervise's cgroup is outside the mount")?;
    let here = nix::sys::stat::stat(".").map_err(|e| format!("unable to stat .: {e}"))?;
    let cwd = std::env::current_dir().map_err(|e| format!("unable to get cwd: {e}"))?;
    let last = cwd.file_name().map_or(&b""[..], |n| n.as_encoded_bytes());
    let dir = {
        let mut d = parent;
        d.push(b'/');
        d.extend_from_slice(&child_name(last, here.st_dev, here.st_ino));
        d
    };
    match nix::unistd::mkdir(&dir[..], Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => {
            let shown = String::from_utf8_lossy(&dir);
            return Err(format!(
                "unable to create {shown}: {}",
                crate::msg::errstr(e)
            ));
        }
    }
    let procs = join(&dir, "cgroup.procs");
    if let Err(e) = nix::unistd::access(&procs[..], nix::unistd::AccessFlags::W_OK) {
        let shown = String::from_utf8_lossy(&procs);
        return Err(format!(
            "unable to write {shown}: {}",
            crate::msg::errstr(e)
        ));
    }
    Ok(Cgroup {
        procs: CString::new(procs).map_err(|_| "NUL in the cgroup path")?,
        dir,
    })
}

impl Cgroup {
    /// The pids in the cgroup.
    pub fn pids(&self) -> Vec<i32> {
        let text = std::fs::read(path(self.procs.as_bytes())).unwrap_or_default();
        text.split(|c| c.is_ascii_whitespace())
            .filter_map(|w| std::str::from_utf8(w).ok()?.parse().ok())
            .collect()
    }

    /// Kills every process in it: `cgroup.kill` (Linux 5.14), else SIGKILL
    /// to each pid listed once.
    pub fn kill_all(&self) {
        let kill = join(&self.dir, "cgroup.kill");
        if let Ok(fd) = fsio::open_write(&kill)
            && nix::unistd::write(&fd, b"1").is_ok()
        {
            return;
        }
        for pid in self.pids() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
        }
    }

    /// Removes the (empty) cgroup, waiting up to `limit` for killed
    /// processes to be gone (`populated 0` in cgroup.events, which the
    /// kernel signals with POLLPRI).
    pub fn remove(&self, limit: Duration) {
        let end = Instant::now() + limit;
        let events = join(&self.dir, "cgroup.events");
        loop {
            // A fresh descriptor wakes poll for changes after its open, so
            // open first, then try: nothing falls between the two.
            let fd = fsio::open_read(&events);
            match std::fs::remove_dir(path(&self.dir)) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
                _ => return,
            }
            let left = end.saturating_duration_since(Instant::now());
            let Ok(fd) = fd else { return };
            if left.is_zero() {
                return;
            }
            let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLPRI)];
            let ms = u16::try_from(left.as_millis().min(1000)).unwrap_or(1000);
            let _ = nix::poll::poll(&mut fds, PollTimeout::from(ms));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &[u8] = b"31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime shared:5 - cgroup cgroup rw,name=systemd\n\
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:6 master:2 - cgroup2 cgroup2 rw\n";

    #[test]
    fn finds_the_cgroup2_mount() {
        assert_eq!(
            cgroup2_mount(HYBRID),
            Some((b"/".to_vec(), b"/sys/fs/cgroup/unified".to_vec()))
        );
        let v2 = b"25 1 0:22 /sub /sys/fs/cgroup\\040x rw - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            cgroup2_mount(v2),
            Some((b"/sub".to_vec(), b"/sys/fs/cgroup x".to_vec()))
        );
        assert_eq!(cgroup2_mount(b"1 2 3 / /x rw - cgroup cgroup rw\n"), None);
        assert_eq!(cgroup2_mount(b""), None);
        assert_eq!(cgroup2_mount(b"- - - - - - - cgroup2"), None);
    }

    #[test]
    fn own_cgroup_and_its_directory() {
        let text = b"4:memory:/x\n1:cpu:/\n0::/user.slice/a b\n";
        assert_eq!(own_cgroup(text), Some(b"/user.slice/a b".to_vec()));
        assert_eq!(own_cgroup(b"4:memory:/x\n"), None);
        assert_eq!(
            own_dir(b"/", b"/sys/fs/cgroup/unified", b"/"),
            Some(b"/sys/fs/cgroup/unified".to_vec())
        );
        assert_eq!(
            own_dir(b"/", b"/sys/fs/cgroup/", b"/a/b"),
            Some(b"/sys/fs/cgroup/a/b".to_vec())
        );
        assert_eq!(
            own_dir(b"/sub", b"/cg", b"/sub/svc"),
            Some(b"/cg/svc".to_vec())
        );
        assert_eq!(own_dir(b"/sub", b"/cg", b"/subway"), None);
        assert_eq!(own_dir(b"/sub", b"/cg", b"/other"), None);
    }

    #[test]
    fn child_names_are_safe_and_unique() {
        assert_eq!(child_name(b"web", 2049, 7), b"web.2049.7".to_vec());
        assert_eq!(child_name(b"a b/\xff", 1, 2), b"a_b__.1.2".to_vec());
        assert_eq!(child_name(b"..", 1, 2), b"...1.2".to_vec());
        assert_eq!(child_name(b"cgroup", 1, 2), b"_cgroup.1.2".to_vec());
        assert_eq!(child_name(b"", 1, 2), b"_.1.2".to_vec());
        assert_eq!(
            child_name(b"cgroup.procs", 1, 2),
            b"_cgroup.procs.1.2".to_vec()
        );
        assert_eq!(child_name(&[b'x'; 100], 1, 2).len(), 64 + 4);
    }

    #[test]
    fn octal_escapes() {
        assert_eq!(unoctal(b"a\\040b\\134"), b"a b\\".to_vec());
        assert_eq!(unoctal(b"a\\134\\011"), b"a\\\t".to_vec());
        assert_eq!(unoctal(b"\\9"), b"\\9".to_vec());
        assert_eq!(unoctal(b"\\477"), b"\\477".to_vec());
    }
}
