//! daemontools' own getopt (`sgetopt`): options end at the first argument
//! not starting with `-`; `-` alone is an operand; an argument starting with
//! `--` (`--` itself, but also `--foo`) ends the options and is consumed;
//! letters group; an option argument is attached or the next
//! argument. Problems are reported as `NAME: illegal option -- X` or
//! `NAME: option requires an argument -- X`, NAME being argv[0]'s basename.

use crate::msg;

/// One parsed option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opt<'a> {
    /// A known letter, with its argument if the letter takes one.
    Flag(u8, Option<&'a [u8]>),
    /// An unknown letter or a missing argument; the message has been printed.
    Bad,
}

/// Iterates over the options of `args` (args[0] is the program name).
/// `spec` lists the letters; a letter followed by `:` takes an argument.
pub struct Getopt<'a> {
    args: &'a [&'a [u8]],
    spec: &'a [u8],
    /// Index of the first argument not yet consumed. After the iterator
    /// returns None, the operands are `args[ind..]`.
    pub ind: usize,
    pos: usize,
    quiet: bool,
}

impl<'a> Getopt<'a> {
    pub fn new(args: &'a [&'a [u8]], spec: &'a [u8]) -> Getopt<'a> {
        Getopt {
            args,
            spec,
            ind: 1,
            pos: 0,
            quiet: false,
        }
    }

    /// A parser that reports problems as `Opt::Bad` without printing.
    pub fn quiet(mut self) -> Getopt<'a> {
        self.quiet = true;
        self
    }

    /// The operands left after the options.
    pub fn rest(&self) -> &'a [&'a [u8]] {
        &self.args[self.ind.min(self.args.len())..]
    }

    fn complain(&self, what: &str, letter: u8) {
        if self.quiet {
            return;
        }
        let name = self.args.first().map(|a| msg::basename(a)).unwrap_or(b"");
        msg::Line::bare()
            .b(name)
            .s(": ")
            .s(what)
            .s(" -- ")
            .b(&[letter])
            .emit();
    }

    fn takes_arg(&self, letter: u8) -> Option<bool> {
        let i = self.spec.iter().position(|&c| c == letter && c != b':')?;
        Some(self.spec.get(i + 1) == Some(&b':'))
    }
}

impl<'a> Iterator for Getopt<'a> {
    type Item = Opt<'a>;

    fn next(&mut self) -> Option<Opt<'a>> {
        if self.pos == 0 {
            let arg = *self.args.get(self.ind)?;
            if arg.first() != Some(&b'-') || arg.len() == 1 {
                return None;
            }
            // sgetopt looks only at the second byte: `--foo` ends the
            // options and is consumed just like `--` (checked against 0.76).
            if arg[1] == b'-' {
                self.ind += 1;
                return None;
            }
            self.pos = 1;
        }
        let arg = self.args[self.ind];
        let letter = arg[self.pos];
        self.pos += 1;
        let at_end = self.pos >= arg.len();
        let advance = |g: &mut Self| {
            g.ind += 1;
            g.pos = 0;
        };
        match self.takes_arg(letter) {
            None => {
                if at_end {
                    advance(self);
                }
                self.complain("illegal option", letter);
                Some(Opt::Bad)
            }
            Some(false) => {
                if at_end {
                    advance(self);
                }
                Some(Opt::Flag(letter, None))
            }
            Some(true) => {
                if !at_end {
                    let value = &arg[self.pos..];
                    advance(self);
                    return Some(Opt::Flag(letter, Some(value)));
                }
                advance(self);
                match self.args.get(self.ind) {
                    Some(value) => {
                        self.ind += 1;
                        Some(Opt::Flag(letter, Some(value)))
                    }
                    None => {
                        self.complain("option requires an argument", letter);
                        Some(Opt::Bad)
                    }
                }
            }
        }
    }
}

/// A duration in seconds, decimals allowed (`-t 2.5`), for the options of
/// our own programs (not a daemontools syntax).
pub fn seconds(v: &[u8]) -> Option<std::time::Duration> {
    let f: f64 = std::str::from_utf8(v).ok()?.parse().ok()?;
    (0.0..1e9)
        .contains(&f)
        .then(|| std::time::Duration::from_secs_f64(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<'a>(args: &'a [&'a [u8]], spec: &'a [u8]) -> (Vec<Opt<'a>>, Vec<&'a [u8]>) {
        let mut g = Getopt::new(args, spec).quiet();
        let opts: Vec<Opt> = g.by_ref().collect();
        (opts, g.rest().to_vec())
    }

    #[test]
    fn grouped_letters_and_operands() {
        let args: &[&[u8]] = &[b"svc", b"-dx", b"-u", b"a", b"-k"];
        let (o, r) = parse(args, b"udx");
        assert_eq!(
            o,
            vec![
                Opt::Flag(b'd', None),
                Opt::Flag(b'x', None),
                Opt::Flag(b'u', None)
            ]
        );
        assert_eq!(r, vec![&b"a"[..], &b"-k"[..]]);
    }

    #[test]
    fn dash_and_double_dash() {
        let args: &[&[u8]] = &[b"p", b"-", b"x"];
        assert_eq!(parse(args, b"a").1, vec![&b"-"[..], &b"x"[..]]);
        let args: &[&[u8]] = &[b"p", b"--", b"-a"];
        let (o, r) = parse(args, b"a");
        assert!(o.is_empty());
        assert_eq!(r, vec![&b"-a"[..]]);
        // any argument starting with `--` ends the options and is consumed
        let args: &[&[u8]] = &[b"p", b"-a", b"--foo", b"-a", b"x"];
        let (o, r) = parse(args, b"a");
        assert_eq!(o, vec![Opt::Flag(b'a', None)]);
        assert_eq!(r, vec![&b"-a"[..], &b"x"[..]]);
        // but a `-` inside a group is an unknown letter
        let args: &[&[u8]] = &[b"p", b"-a-", b"x"];
        assert_eq!(parse(args, b"a").0, vec![Opt::Flag(b'a', None), Opt::Bad]);
    }

    #[test]
    fn option_arguments() {
        let args: &[&[u8]] = &[b"softlimit", b"-m5000", b"-o", b"10", b"-m", b"", b"prog"];
        let (o, r) = parse(args, b"m:o:");
        assert_eq!(
            o,
            vec![
                Opt::Flag(b'm', Some(b"5000")),
                Opt::Flag(b'o', Some(b"10")),
                Opt::Flag(b'm', Some(b"")),
            ]
        );
        assert_eq!(r, vec![&b"prog"[..]]);
    }

    #[test]
    fn seconds_values() {
        assert_eq!(
            seconds(b"2.5"),
            Some(std::time::Duration::from_millis(2500))
        );
        assert_eq!(seconds(b"0"), Some(std::time::Duration::ZERO));
        for bad in [&b""[..], b"-1", b"x", b"nan", b"inf", b"1e10"] {
            assert_eq!(seconds(bad), None);
        }
    }

    #[test]
    fn problems() {
        let args: &[&[u8]] = &[b"svc", b"-uz", b"d"];
        let (o, r) = parse(args, b"u");
        assert_eq!(o, vec![Opt::Flag(b'u', None), Opt::Bad]);
        assert_eq!(r, vec![&b"d"[..]]);
        let args: &[&[u8]] = &[b"softlimit", b"-m"];
        assert_eq!(parse(args, b"m:").0, vec![Opt::Bad]);
        let args: &[&[u8]] = &[b"x", b"-:"];
        assert_eq!(parse(args, b"a:").0, vec![Opt::Bad]);
    }
}
