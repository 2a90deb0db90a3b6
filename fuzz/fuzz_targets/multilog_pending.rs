//! multilog's `pending` file, as a multilog starting on a pipe reads it.
//! The input is the file's bytes (its first `HEADER` bytes taken as this
//! pipe's identity, so that the records are looked at), then the bytes
//! at the pipe's head. Nothing may panic, and a record is only ever used
//! to skip logged bytes that the pipe holds, at a head the record names,
//! between the bytes the record saw there and after them.
#![no_main]

use daemontools::cmd::multilog::pending::{self, HEADER, SIZE};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (file, peek) = data.split_at(data.len().min(SIZE));
    let header = &file[..file.len().min(HEADER)];
    let Some((_, r)) = pending::parse(file, header) else {
        return;
    };
    if !r.plausible() {
        return;
    }
    let Some((head, skip)) = r.fit(peek) else {
        return;
    };
    assert!(head == r.to || head == r.from);
    assert_eq!(skip as u64, r.logged.saturating_sub(head));
    if skip > 0 {
        let first = r.heads().find(|(h, _)| *h == head).unwrap().1;
        assert!(!first.get().is_empty() && peek.starts_with(first.get()));
        assert!(peek[skip..].starts_with(r.after.get()));
    }
});
