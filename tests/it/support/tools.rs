//! Helpers shared by the process-state tool tests (tests/tools_*.rs):
//! running a program with an exact environment and a deadline, and running
//! ours and the reference side by side.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super as common;

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub out: Vec<u8>,
    pub err: Vec<u8>,
    /// Exit code, or None when killed by a signal.
    pub code: Option<i32>,
}

impl Run {
    pub fn out_str(&self) -> String {
        String::from_utf8_lossy(&self.out).into_owned()
    }
    pub fn err_str(&self) -> String {
        String::from_utf8_lossy(&self.err).into_owned()
    }
    /// stdout split into lines (without the newlines).
    pub fn lines(&self) -> Vec<String> {
        self.out_str().lines().map(str::to_string).collect()
    }
}

/// How to run: argv as bytes (argv[0] first, the program itself is given
/// separately), an exact environment (None: inherit
/// ours, with PATH set to our programs first), a working directory.
pub struct Spec<'a> {
    pub args: Vec<&'a [u8]>,
    pub env: Option<Vec<(&'a [u8], &'a [u8])>>,
    pub cwd: &'a Path,
}

impl<'a> Spec<'a> {
    pub fn new(cwd: &'a Path, args: &[&'a str]) -> Spec<'a> {
        Spec {
            args: args.iter().map(|a| a.as_bytes()).collect(),
            env: None,
            cwd,
        }
    }
    /// Runs with exactly this environment (in this order).
    pub fn env(mut self, env: &[(&'a str, &'a str)]) -> Spec<'a> {
        self.env = Some(
            env.iter()
                .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
                .collect(),
        );
        self
    }
}

/// Runs `prog` per `spec` with stdin /dev/null, stdout and stderr to
/// files, and a deadline (the process is SIGKILLed if it overruns, and
/// the test fails).
pub fn run(prog: &Path, spec: &Spec) -> Run {
    let tmp = common::tempdir();
    let (o, e) = (tmp.path().join("out"), tmp.path().join("err"));
    let mut c = match &spec.env {
        None => {
            let mut c = Command::new(prog);
            c.env("PATH", common::our_path());
            if let Some(arg0) = spec.args.first() {
                c.arg0(OsStr::from_bytes(arg0));
            }
            c
        }
        Some(env) => {
            // std sorts the variables it passes; `env -i` keeps the order
            // given (argv[0] then is the program's path, same basename).
            let mut c = Command::new("/usr/bin/env");
            c.env_clear().arg("-i");
            for (k, v) in env {
                c.arg(OsStr::from_bytes(&[*k, b"=", *v].concat()));
            }
            c.arg(prog);
            c
        }
    };
    c.args(spec.args.iter().skip(1).map(|a| OsStr::from_bytes(a)))
        .current_dir(spec.cwd)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&o).unwrap())
        .stderr(std::fs::File::create(&e).unwrap());
    let mut p = common::Proc {
        child: c.spawn().expect("spawn"),
    };
    let st = p
        .wait_timeout(common::LONG)
        .unwrap_or_else(|| panic!("{} {:?} did not finish", prog.display(), spec.args.len()));
    Run {
        out: std::fs::read(&o).unwrap(),
        err: std::fs::read(&e).unwrap(),
        code: st.code(),
    }
}

/// Runs our `name` per `spec`; when the reference is installed, runs it
/// too and asserts the same stdout, stderr and exit code. Returns ours.
pub fn same(name: &str, spec: &Spec) -> Run {
    let ours = run(&common::bin(name), spec);
    if let Some(r) = common::reference(name) {
        let theirs = run(&r, spec);
        assert_eq!(
            ours,
            theirs,
            "ours vs reference {name} {:?}: out {:?}/{:?} err {:?}/{:?}",
            spec.args
                .iter()
                .map(|a| String::from_utf8_lossy(a))
                .collect::<Vec<_>>(),
            ours.out_str(),
            theirs.out_str(),
            ours.err_str(),
            theirs.err_str()
        );
    }
    ours
}

/// Our program and the reference (if installed), to loop over.
pub fn both(name: &str) -> Vec<PathBuf> {
    let mut v = vec![common::bin(name)];
    v.extend(common::reference(name));
    v
}

/// Whether we run as root (uid 0).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Writes an executable file (mode 0755) with exactly `body`.
pub fn exe(path: &Path, body: &str) {
    common::script(path, body);
}

/// The Run a case should produce.
pub fn expect(code: i32, out: &str, err: &str) -> Run {
    Run {
        out: out.as_bytes().to_vec(),
        err: err.as_bytes().to_vec(),
        code: Some(code),
    }
}

/// Runs every case (argv, expected) of a table through `same`, in `cwd`.
pub fn table(cwd: &Path, cases: &[(Vec<&str>, Run)]) {
    for (args, want) in cases {
        assert_eq!(&same(args[0], &Spec::new(cwd, args)), want, "{args:?}");
    }
}
