//! envdir's file reader, differential: `Reader` against a transcription of
//! what envdir.c does with its one buffer (openreadclose, byte_chr, the
//! trailing-blank loop, NUL to newline, stralloc_0, the value read as a C
//! string), then the changes applied to an environment.
//!
//! Input: files separated by the byte 0xff: each is a name (up to its first
//! 0xfe; no `/` or NUL, as readdir gives) and the content after it; a file
//! without 0xfe does not exist (a dangling symlink). A first piece starting
//! with 0xfd is the starting environment instead, entries separated by NUL.

#![no_main]

use daemontools::cmd::envdir::Reader;
use daemontools::exec::apply_env;
use libfuzzer_sys::fuzz_target;

/// envdir.c's buffer and one step of its loop: `Some(NAME=VALUE)` or
/// `None` (unset), as handed to pathexec_env.
struct CModel {
    sa: Vec<u8>,
}

impl CModel {
    fn step(&mut self, content: Option<&[u8]>) -> Option<Vec<u8>> {
        if let Some(c) = content {
            self.sa = c.to_vec();
        }
        if self.sa.is_empty() {
            return None;
        }
        let mut len = self
            .sa
            .iter()
            .position(|&c| c == b'\n')
            .unwrap_or(self.sa.len());
        while len > 0 && (self.sa[len - 1] == b' ' || self.sa[len - 1] == b'\t') {
            len -= 1;
        }
        self.sa.truncate(len);
        for c in &mut self.sa {
            if *c == 0 {
                *c = b'\n';
            }
        }
        self.sa.push(0);
        // pathexec_env(name, sa.s): the value is a C string.
        let value_end = self.sa.iter().position(|&c| c == 0).expect("terminated");
        Some(self.sa[..value_end].to_vec())
    }
}

fuzz_target!(|data: &[u8]| {
    let mut pieces: Vec<&[u8]> = data.split(|&c| c == 0xff).collect();
    let mut env: Vec<&[u8]> = Vec::new();
    if let Some(first) = pieces.first().and_then(|p| p.strip_prefix(&[0xfd])) {
        env = first.split(|&c| c == 0).collect();
        pieces.remove(0);
    }
    let mut reader = Reader::new();
    let mut model = CModel { sa: Vec::new() };
    let mut changes = Vec::new();
    let mut last: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
    for piece in pieces {
        let (name, content) = match piece.iter().position(|&c| c == 0xfe) {
            Some(i) => (&piece[..i], Some(&piece[i + 1..])),
            None => (piece, None),
        };
        if name.is_empty() || name.starts_with(b".") || name.iter().any(|&c| c == 0 || c == b'/') {
            continue;
        }
        let change = reader.change(name, content);
        let want = match model.step(content) {
            Some(value) => [name, b"=", &value].concat(),
            None => name.to_vec(),
        };
        assert_eq!(change, want);
        assert!(!change.contains(&0));
        changes.push(change);
    }
    // Applied in order: a variable whose name has no `=` ends up set to its
    // last value (or unset); everything else of the environment stays.
    let new = apply_env(&env, &changes);
    for c in &changes {
        let key_len = c.iter().position(|&b| b == b'=').unwrap_or(c.len());
        last.retain(|(k, _)| k[..] != c[..key_len]);
        last.push((
            c[..key_len].to_vec(),
            (key_len < c.len()).then(|| c.clone()),
        ));
    }
    for (key, entry) in &last {
        if let Some(e) = entry {
            assert!(new.contains(&&e[..]), "{key:?} set");
        }
    }
    assert!(new.len() <= env.len() + changes.len());
});
