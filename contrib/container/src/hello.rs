//! `container-hello`: the example service of the container image. A scratch
//! image has no shell, so its `run` is a symbolic link to this program: it
//! says it is ready through the notification descriptor named by the
//! service's `notification-fd` file (3 here; nothing happens when it is not
//! open), then writes a numbered line every `HELLO_INTERVAL` seconds (default
//! 5) to standard output, which svscan pipes to its logger.

use std::io::Write;
use std::time::Duration;

fn main() {
    // readiness: one newline on fd 3 (the notification-fd convention)
    // (reopened through /proc: the same pipe, no unsafe descriptor use)
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/fd/3")
    {
        let _ = f.write_all(b"\n");
    }
    let secs: u64 = std::env::var("HELLO_INTERVAL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let mut out = std::io::stdout().lock();
    for n in 1u64.. {
        if writeln!(out, "hello {n}")
            .and_then(|()| out.flush())
            .is_err()
        {
            std::process::exit(111);
        }
        std::thread::sleep(Duration::from_secs(secs));
    }
}
