//! Running programs the daemontools way: `pathexec_run`'s PATH search and
//! `pathexec_env`'s ordered environment edits.

use std::ffi::CString;

use nix::errno::Errno;

use crate::sys;

/// Builds a C string from bytes that cannot contain NUL (argv elements and
/// environment entries). A NUL would have ended the C string, so the bytes
/// are cut there, exactly as C would see them.
pub fn cstring(b: &[u8]) -> CString {
    let end = memchr::memchr(0, b).unwrap_or(b.len());
    CString::new(&b[..end]).expect("no NUL before end")
}

/// Looks up NAME in an environment array: the first `NAME=` entry.
pub fn env_get<'a>(env: &[&'a [u8]], name: &[u8]) -> Option<&'a [u8]> {
    env.iter().find_map(|e| {
        (e.len() > name.len() && e.starts_with(name) && e[name.len()] == b'=')
            .then(|| &e[name.len() + 1..])
    })
}

/// Applies environment changes in order (`pathexec_env`): each entry is
/// `NAME=VALUE` (set) or `NAME` (unset). The first existing `NAME=` entry is
/// removed by moving the last entry into its slot; a set then appends.
pub fn apply_env<'a>(env: &[&'a [u8]], changes: &'a [Vec<u8>]) -> Vec<&'a [u8]> {
    let mut out: Vec<&[u8]> = env.to_vec();
    for c in changes {
        let key_len = memchr::memchr(b'=', c).unwrap_or(c.len());
        let key = &c[..key_len];
        if let Some(i) = out
            .iter()
            .position(|e| e.len() > key_len && e.starts_with(key) && e[key_len] == b'=')
        {
            out.swap_remove(i);
        }
        if key_len < c.len() {
            out.push(c);
        }
    }
    out
}

/// The prepared form of a command: C strings built before any fork.
pub struct Command {
    file: Vec<u8>,
    argv: Vec<CString>,
    envp: Vec<CString>,
    path: Option<Vec<u8>>,
}

impl Command {
    /// `file` is looked up via PATH taken from `search_env` (the program's
    /// own environment before any change); the program gets `argv` and
    /// `envp`.
    pub fn new(file: &[u8], argv: &[&[u8]], envp: &[&[u8]], search_env: &[&[u8]]) -> Command {
        Command {
            file: file.to_vec(),
            argv: argv.iter().map(|a| cstring(a)).collect(),
            envp: envp.iter().map(|e| cstring(e)).collect(),
            path: env_get(search_env, b"PATH").map(<[u8]>::to_vec),
        }
    }

    /// The common case: argv as given, the unchanged environment.
    pub fn with_current_env(argv: &[&[u8]]) -> Command {
        let env = sys::environ();
        Command::new(argv[0], argv, &env, &env)
    }

    /// Execs the program; returns only on failure, with the errno to report
    /// (`pathexec_run` rules: a name with `/` is tried once; otherwise every
    /// PATH element in order, an empty element meaning the cwd; ENOENT goes
    /// on, EACCES/EPERM/EISDIR are remembered and go on, anything else stops;
    /// no /bin/sh fallback; PATH unset means `/bin:/usr/bin`).
    pub fn exec(&self) -> Errno {
        if memchr::memchr(b'/', &self.file).is_some() {
            return self.try_exec(&self.file);
        }
        let path: &[u8] = self.path.as_deref().unwrap_or(b"/bin:/usr/bin");
        let mut remembered = None;
        let mut candidate = Vec::with_capacity(path.len() + self.file.len() + 2);
        for elem in path.split(|&c| c == b':') {
            candidate.clear();
            candidate.extend_from_slice(if elem.is_empty() { b"." } else { elem });
            candidate.push(b'/');
            candidate.extend_from_slice(&self.file);
            match self.try_exec(&candidate) {
                Errno::ENOENT => {}
                e @ (Errno::EACCES | Errno::EPERM | Errno::EISDIR) => remembered = Some(e),
                e => return e,
            }
        }
        remembered.unwrap_or(Errno::ENOENT)
    }

    /// Execs the program, or prints `PROG: fatal: unable to run FILE: ERR`
    /// and exits 111 (the last step of every process-state tool).
    pub fn run_or_die(&self, prog: &str) -> ! {
        let e = self.exec();
        crate::msg::fatal(prog, &[b"unable to run ", &self.file], e)
    }

    fn try_exec(&self, file: &[u8]) -> Errno {
        let f = cstring(file);
        match nix::unistd::execve(&f, &self.argv, &self.envp) {
            Err(e) => e,
            Ok(never) => match never {},
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_order_is_swap_remove_then_append() {
        // `env -i UID=5 A=1 GID=7 B=2 envuidgid daemon env` prints
        // GID=1, A=1, B=2, UID=1 with the reference.
        let env: Vec<&[u8]> = vec![b"UID=5", b"A=1", b"GID=7", b"B=2"];
        let changes = vec![b"GID=1".to_vec(), b"UID=1".to_vec()];
        let out = apply_env(&env, &changes);
        assert_eq!(out, vec![&b"GID=1"[..], b"A=1", b"B=2", b"UID=1"]);
    }

    #[test]
    fn unset_and_names_with_equals() {
        let env: Vec<&[u8]> = vec![b"A=1", b"X=0", b"B=2", b"C=3", b"NOEQ"];
        let changes = vec![b"X=v".to_vec(), b"NOEQ".to_vec(), b"C".to_vec()];
        let out = apply_env(&env, &changes);
        // X removed (NOEQ moves in), X=v appended; NOEQ never matches;
        // C removed (X=v moves in).
        assert_eq!(out, vec![&b"A=1"[..], b"NOEQ", b"B=2", b"X=v"]);
        assert_eq!(env_get(&env, b"B"), Some(&b"2"[..]));
        assert_eq!(env_get(&env, b"NOEQ"), None);
    }
}
