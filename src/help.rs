//! `--help` and `--version` for the programs that are ours alone (not in
//! daemontools 0.76). A 0.76 program keeps 0.76's reading of those words
//! (a directory, a multilog action, an ignored argument): its help is its
//! manual page.
//!
//! The convention (doc/DESIGN.md): each such program has one `Help` value
//! holding its synopsis and a short description; `main` calls
//! `Help::check` first, and its usage errors go through `Help::usage`, so
//! the usage message, `--help` and the manual page's SYNOPSIS (compared by
//! the tests) say the same thing.

use crate::msg;
use crate::sys;

/// What `--help` prints for one program.
pub struct Help {
    /// The program's name, as in its messages.
    pub prog: &'static str,
    /// The synopsis, as in the usage message: `svcstop [-q] [-k] [-t seconds] dir ...`.
    pub usage: &'static str,
    /// A short description: what the program does, its options, its exit
    /// codes; lines of at most 79 bytes, each ending in a newline.
    pub about: &'static str,
    /// The manual page that documents it (`svcstart` for svcstop).
    pub page: &'static str,
}

impl Help {
    /// If the first argument is exactly `--help` or `--version`, prints the
    /// help or the version on standard output and exits 0 (111 if the
    /// output cannot be written). Any other argument list is left alone.
    pub fn check(&self, args: &[&[u8]]) {
        let text = match args.get(1).copied() {
            Some(b"--help") => self.text(),
            Some(b"--version") => version(self.prog),
            _ => return,
        };
        let code = match msg::write_all(sys::StdFd::OUT, text.as_bytes()) {
            Ok(()) => 0,
            Err(_) => msg::EXIT_TEMP,
        };
        std::process::exit(code)
    }

    /// The `--help` text.
    pub fn text(&self) -> String {
        format!(
            "usage: {}\n\n{}\nSee {}(8); {} --version prints the version.\n",
            self.usage, self.about, self.page, self.prog
        )
    }

    /// `PROG: usage: SYNOPSIS` on standard error and exit 100.
    pub fn usage(&self) -> ! {
        msg::usage(self.prog, self.usage)
    }
}

/// `PROG (daemontools-rs) VERSION`.
pub fn version(prog: &str) -> String {
    format!("{prog} (daemontools-rs) {}\n", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Help = Help {
        prog: "svdemo",
        usage: "svdemo [-q] dir ...",
        about: "Demonstrates.\n",
        page: "svdemo",
    };

    #[test]
    fn help_text_starts_with_the_usage_line() {
        let t = H.text();
        assert!(t.starts_with("usage: svdemo [-q] dir ...\n\nDemonstrates.\n"));
        assert!(t.ends_with("See svdemo(8); svdemo --version prints the version.\n"));
        assert_eq!(
            version("svdemo"),
            format!("svdemo (daemontools-rs) {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}
