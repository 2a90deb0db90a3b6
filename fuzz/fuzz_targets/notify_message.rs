//! What supervise reads from outside for readiness: notify datagrams
//! (systemd's sd_notify protocol, from any process that can reach the
//! socket) and the files `notification-fd` and `notify-socket`. Any bytes,
//! no panic; what the parser keeps comes from the datagram, and writing
//! it back out as a datagram parses to the same message.
#![no_main]

use daemontools::cmd::supervise::readiness::{MAX_DATAGRAM, Message, parse_message};
use daemontools::cmd::supervise::settings::{parse_access, parse_fd};
use libfuzzer_sys::fuzz_target;

/// The datagram a well-behaved sender would send for `m`.
fn render(m: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    let mut line = |k: &str, v: &[u8]| {
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        out.extend_from_slice(v);
        out.push(b'\n');
    };
    for (on, key) in [
        (m.ready, "READY"),
        (m.reloading, "RELOADING"),
        (m.stopping, "STOPPING"),
        (m.barrier, "BARRIER"),
        (m.fdstore, "FDSTORE"),
        (m.watchdog_ping, "WATCHDOG"),
    ] {
        if on {
            line(key, b"1");
        }
    }
    if m.watchdog_trigger {
        line("WATCHDOG", b"trigger");
    }
    if let Some(s) = m.status {
        line("STATUS", s);
    }
    if let Some(p) = m.main_pid {
        line("MAINPID", p.to_string().as_bytes());
    }
    if let Some(u) = m.watchdog_usec {
        line("WATCHDOG_USEC", u.to_string().as_bytes());
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let data = &data[..data.len().min(MAX_DATAGRAM)];
    let m = parse_message(data);
    if let Some(s) = m.status {
        assert!(!s.contains(&b'\n'));
        let mut line = b"STATUS=".to_vec();
        line.extend_from_slice(s);
        assert!(data.windows(line.len()).any(|w| w == line.as_slice()));
    }
    if let Some(p) = m.main_pid {
        assert!(p > 0 && p <= i32::MAX as u32);
    }
    if m.ready {
        assert!(data.split(|&c| c == b'\n').any(|l| l == b"READY=1"));
    }
    let text = render(&m);
    let again = parse_message(&text);
    assert_eq!(again, Message { bad: 0, ..m.clone() });

    if let Some(fd) = parse_fd(data) {
        assert!(fd >= 0);
    }
    let _ = parse_access(data);
});
