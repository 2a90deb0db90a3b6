//! daemontools' option parsing (sgetopt), written from its description for
//! the fuzz targets that compare `args::Getopt` with it.

/// One option: a known letter and its argument, or `Err(letter)` for an
/// unknown letter or a missing argument.
pub type Parsed<'a> = Result<(u8, Option<&'a [u8]>), u8>;

/// All options of `args` (args[0] is the program) and the index of the
/// first operand. `spec`: letters, each followed by `:` if it takes an
/// argument.
pub fn sgetopt<'a>(args: &[&'a [u8]], spec: &[u8]) -> (Vec<Parsed<'a>>, usize) {
    let mut out = Vec::new();
    let mut ind = 1;
    while ind < args.len() {
        let arg = args[ind];
        // Options end at an operand or `-`; `--` (or `--anything`) ends
        // them and is consumed.
        if arg.len() < 2 || arg[0] != b'-' {
            break;
        }
        if arg[1] == b'-' {
            ind += 1;
            break;
        }
        let mut pos = 1;
        ind += 1;
        while pos < arg.len() {
            let letter = arg[pos];
            pos += 1;
            let known = spec.iter().position(|&c| c == letter && c != b':');
            match known {
                None => out.push(Err(letter)),
                Some(i) if spec.get(i + 1) == Some(&b':') => {
                    if pos < arg.len() {
                        out.push(Ok((letter, Some(&arg[pos..]))));
                    } else if ind < args.len() {
                        out.push(Ok((letter, Some(args[ind]))));
                        ind += 1;
                    } else {
                        out.push(Err(letter));
                    }
                    break;
                }
                Some(_) => out.push(Ok((letter, None))),
            }
        }
    }
    (out, ind.min(args.len()))
}

/// argv from fuzz input: the program name, then the pieces between NULs.
pub fn argv<'a>(prog: &'a [u8], data: &'a [u8]) -> Vec<&'a [u8]> {
    let mut v = vec![prog];
    if !data.is_empty() {
        v.extend(data.split(|&c| c == 0));
    }
    v
}
