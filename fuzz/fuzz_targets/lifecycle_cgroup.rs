//! supervise's readers of /proc/self/mountinfo and /proc/self/cgroup and
//! its cgroup naming: any bytes, no panic; names stay single, safe path
//! components.
#![no_main]

use daemontools::cmd::supervise::cgroup::{cgroup2_mount, child_name, own_cgroup, own_dir};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mount = cgroup2_mount(data);
    let own = own_cgroup(data);
    if let (Some((root, point)), Some(own)) = (mount, own) {
        if let Some(dir) = own_dir(&root, &point, &own) {
            assert!(dir.len() <= point.len() + own.len());
        }
    }
    let (head, tail) = data.split_at(data.len() / 2);
    if let Some(dir) = own_dir(head, b"/sys/fs/cgroup", tail) {
        assert!(dir.starts_with(b"/sys/fs/cgroup"));
    }
    let name = child_name(data, data.len() as u64, 7);
    assert!(!name.contains(&b'/') && !name.contains(&0));
    assert!(!name.starts_with(b"cgroup.") && name != b"." && name != b"..");
});
