//! What ships besides the programs: the manual pages made by scripts/mkman
//! from doc/*.md (every program has one, they render without a warning
//! from mandoc or groff, their SYNOPSIS says what the usage message says),
//! and `--help`/`--version` of the programs that are ours alone, while
//! daemontools 0.76's programs keep 0.76's reading of those words.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support::{self, tools};

/// The programs of daemontools 0.76. They keep 0.76's behaviour for
/// `--help` and `--version`; every other program of ours has both.
pub const DAEMONTOOLS_076: &[&str] = &[
    "envdir",
    "envuidgid",
    "fghack",
    "multilog",
    "pgrphack",
    "readproctitle",
    "setlock",
    "setuidgid",
    "softlimit",
    "supervise",
    "svc",
    "svok",
    "svscan",
    "svscanboot",
    "svstat",
    "tai64n",
    "tai64nlocal",
];

/// The programs that are ours alone.
pub fn our_own() -> Vec<String> {
    support::programs()
        .into_iter()
        .filter(|p| !DAEMONTOOLS_076.contains(&p.as_str()))
        .collect()
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs scripts/mkman into `out` (all of doc/), asserting success.
pub fn mkman(out: &Path, extra: &[&str]) {
    let o = Command::new("sh")
        .arg(repo().join("scripts/mkman"))
        .args(extra)
        .arg(out)
        .output()
        .unwrap();
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "mkman: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Every page name in the title lines of doc/*.md (`# svcstart(8),
/// svcstop(8), ...`), with the Markdown file.
fn titles() -> BTreeMap<String, PathBuf> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(repo().join("doc")).unwrap() {
        let path = e.unwrap().path();
        if !path.to_string_lossy().ends_with(".8.md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let title = text
            .lines()
            .find_map(|l| l.strip_prefix("# "))
            .unwrap_or_else(|| panic!("{}: no title", path.display()));
        for part in title.split(',') {
            let name = part.trim().strip_suffix("(8)").unwrap_or_else(|| {
                panic!("{}: title part {part:?} is not NAME(8)", path.display())
            });
            m.insert(name.to_string(), path.clone());
        }
    }
    m
}

fn run_tool(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A page rendered by mandoc as plain text (no overstrike), very wide so
/// that no line is broken.
fn render(page: &Path) -> String {
    let o = run_tool(
        Command::new("mandoc")
            .args(["-T", "ascii", "-O", "width=1000"])
            .arg(page),
    );
    assert!(o.status.success(), "mandoc {}", page.display());
    let mut plain = Vec::new();
    for &b in &o.stdout {
        if b == 8 {
            plain.pop();
        } else {
            plain.push(b);
        }
    }
    text(&plain)
}

/// The lines of a rendered section.
fn section(rendered: &str, name: &str) -> Vec<String> {
    rendered
        .lines()
        .skip_while(|l| *l != name)
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with(' '))
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Whitespace collapsed, `[ x ]` written `[x]`.
fn normalize(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace("[ ", "[")
        .replace(" ]", "]")
}

/// Whether a SYNOPSIS line says what a usage text says: the same words,
/// possibly followed by optional (bracketed) arguments that the usage
/// message leaves out, such as `[arg ...]` after `child`.
fn synopsis_says(synopsis: &str, usage: &str) -> bool {
    let (s, u) = (normalize(synopsis), normalize(usage));
    if s == u {
        return true;
    }
    let Some(rest) = s.strip_prefix(&u).and_then(|r| r.strip_prefix(' ')) else {
        return false;
    };
    // what is left must be bracketed groups only
    let mut depth = 0i32;
    for c in rest.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ' ' => {}
            _ if depth == 0 => return false,
            _ => {}
        }
        if depth < 0 {
            return false;
        }
    }
    depth == 0
}

/// The option letters of svc's `svc options: u up, d down, ...` message.
fn option_list_letters(text: &str) -> Option<Vec<char>> {
    let list = text.split_once(" options: ")?.1;
    let mut v: Vec<char> = list
        .split(", ")
        .filter_map(|item| item.chars().next())
        .collect();
    v.sort();
    Some(v)
}

/// The letters of the first `[-xyz]` group of a synopsis.
fn bracketed_letters(synopsis: &str) -> Option<Vec<char>> {
    let start = synopsis.find("[-")? + 2;
    let end = start + synopsis[start..].find(']')?;
    let mut v: Vec<char> = synopsis[start..end].chars().collect();
    v.sort();
    Some(v)
}

fn lint_tools() -> bool {
    for t in ["mandoc", "groff"] {
        if !support::have(t) {
            support::missing(&format!(
                "{t} is not installed (apt-get install mandoc groff-base)"
            ));
            return false;
        }
    }
    true
}

/// No message from `mandoc -T lint` (style messages included) nor from
/// groff as man(1) runs it (`-t`: tables go through tbl).
fn assert_lint_clean(page: &Path) {
    let o = run_tool(Command::new("mandoc").args(["-T", "lint"]).arg(page));
    assert!(
        o.status.success() && o.stdout.is_empty() && o.stderr.is_empty(),
        "mandoc -T lint {}:\n{}{}",
        page.display(),
        text(&o.stdout),
        text(&o.stderr)
    );
    let o = run_tool(
        Command::new("groff")
            .args(["-t", "-man", "-ww", "-z"])
            .arg(page),
    );
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "groff -t -man -ww -z {}:\n{}",
        page.display(),
        text(&o.stderr)
    );
}

/// All pages made in a temp dir, if mandoc and groff are there to check them.
fn pages() -> Option<tempfile::TempDir> {
    if !lint_tools() {
        return None;
    }
    let tmp = support::tempdir();
    mkman(tmp.path(), &[]);
    Some(tmp)
}

#[test]
fn every_program_has_a_page() {
    let titles = titles();
    let missing: Vec<String> = support::programs()
        .into_iter()
        .filter(|p| !titles.contains_key(p))
        .collect();
    assert!(
        missing.is_empty(),
        "programs without a doc/<prog>.8.md page (or a title naming them): {missing:?}"
    );
}

#[test]
fn pages_render_without_warnings() {
    let Some(tmp) = pages() else {
        return;
    };
    for (name, md) in titles() {
        let page = tmp.path().join(format!("{name}.8"));
        assert!(page.exists(), "{name}.8 not made from {}", md.display());
        assert_lint_clean(&page);
        // NAME as whatis/apropos read it: "name, ... - description"
        let rendered = render(&page);
        let name_line = section(&rendered, "NAME").join(" ");
        let (names, what) = name_line
            .split_once(" - ")
            .unwrap_or_else(|| panic!("{name}.8 NAME has no ' - ': {name_line:?}"));
        assert!(
            names.split(", ").any(|n| n == name) && !what.is_empty(),
            "{name}.8 NAME: {name_line:?}"
        );
        if support::have("lexgrog") {
            let o = run_tool(Command::new("lexgrog").arg(&page));
            assert!(o.status.success(), "lexgrog {name}.8: {}", text(&o.stdout));
        }
    }
}

/// The roff of one page, with the Markdown of the same paragraph, to see
/// that the conversion keeps what matters: fonts, escapes, the dash.
#[test]
fn page_roff_details() {
    let tmp = support::tempdir();
    mkman(
        tmp.path(),
        &["--date", "2024-05-06", "--source", "daemontools-rs 9.9"],
    );
    let svc = std::fs::read_to_string(tmp.path().join("svc.8")).unwrap();
    assert!(
        svc.contains(".TH SVC 8 2024-05-06 \"daemontools-rs 9.9\""),
        "{svc}"
    );
    assert!(svc.contains(".SH NAME\nsvc \\- control services monitored by supervise\n"));
    // (filled: the synopsis is wrapped at word boundaries)
    let synopsis = svc
        .split(".SH SYNOPSIS\n")
        .nth(1)
        .unwrap()
        .replace('\n', " ");
    assert!(
        synopsis
            .starts_with("\\fBsvc\\fR [\\fB\\-udopchaitkxq12\\fR] [\\fB\\-wu\\fR|\\fB\\-wU\\fR|")
    );
    assert!(synopsis.contains("[\\fB\\-T\\fR \\fIms\\fR] \\fIdir\\fR ... .SH"));
    assert!(
        svc.starts_with("'\\\" t\n"),
        "a page with a table asks for tbl"
    );
    // every line a roff request or text; no Markdown left over
    for l in svc.lines() {
        assert!(
            !l.starts_with('#') && !l.starts_with("|") && !l.contains('`'),
            "{l}"
        );
        assert!(!l.starts_with(' '), "leading blank (a break): {l:?}");
    }
    // the aliases of a page with several names are links to it
    for alias in ["svcstop", "svcrestart", "svcreset"] {
        assert_eq!(
            std::fs::read_link(tmp.path().join(format!("{alias}.8"))).unwrap(),
            PathBuf::from("svcstart.8")
        );
    }
    // --gzip: what Debian ships
    let gz = support::tempdir();
    mkman(gz.path(), &["--gzip", "--date", "2024-05-06"]);
    assert_eq!(
        std::fs::read_link(gz.path().join("svcstop.8.gz")).unwrap(),
        PathBuf::from("svcstart.8.gz")
    );
    let o = run_tool(
        Command::new("gzip")
            .arg("-dc")
            .arg(gz.path().join("svc.8.gz")),
    );
    assert!(text(&o.stdout).contains(".SH SYNOPSIS"));
}

/// Markdown constructs the pages may use, through mkman: the roff is
/// lint-clean and renders the text.
#[test]
fn converter_handles_the_markdown_pages_use() {
    if !lint_tools() {
        return;
    }
    let tmp = support::tempdir();
    let md = tmp.path().join("demo.8.md");
    std::fs::write(
        &md,
        "# demo(8), demo-alias(8)\n\n## NAME\ndemo \u{2014} try every construct\n\n\
         ## SYNOPSIS\n`demo` [`-v`] *dir* ...\\\n`demo` `--help`\n\n## DESCRIPTION\n\
         Text with `code`, *emphasis*, **strong**, ***both***, a literal \\* star,\n\
         2 * 3, snake_case, a [link](https://example.org/x), a [page](svc.8.md),\n\
         a backslash \\\\ and \\fB not a font, \u{2014} \u{2013} \u{2192}.\n\
         .dot and 'quote at line starts\n\n\
         ```\n#!/bin/sh\n.dot \\n -x\n\nexec multilog t ./main\n```\n\n\
         1. first\n   continued\n2. second:\n   - nested a\n   - nested b\n\n   more of item 2\n\n\
         > quoted\n\n\
         | name | meaning |\n|---|---|\n| `a|b` | pipe in code, escaped \\| pipe |\n\n\
         ### Sub `x`\nThe end with averyveryveryveryveryveryveryveryveryveryveryveryveryveryveryverylongword.\n",
    )
    .unwrap();
    let out = tmp.path().join("out");
    let o = Command::new("sh")
        .arg(repo().join("scripts/mkman"))
        .arg(&out)
        .arg(&md)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let page = out.join("demo.8");
    assert_lint_clean(&page);
    let r = render(&page);
    // SYNOPSIS: a line per line, a Markdown hard break (`\` at the end) dropped
    assert_eq!(
        section(&r, "SYNOPSIS"),
        ["demo [-v] dir ...", "demo --help"]
    );
    for want in [
        "demo - try every construct",
        "demo [-v] dir ...",
        "demo --help",
        "a literal * star, 2 * 3, snake_case, a link <https://example.org/x>, a page,",
        "a backslash \\ and \\fB not a font",
        ".dot and 'quote at line starts",
        "#!/bin/sh",
        ".dot \\n -x",
        "exec multilog t ./main",
        "1.  first continued",
        "more of item 2",
        "quoted",
        "a|b",
        "pipe in code, escaped | pipe",
        "averyveryveryveryveryveryveryveryveryveryveryveryveryveryveryverylongword.",
    ] {
        assert!(r.contains(want), "{want:?} not in:\n{r}");
    }
    assert_eq!(
        std::fs::read_link(out.join("demo-alias.8")).unwrap(),
        PathBuf::from("demo.8")
    );
    // a page without a title line is refused
    std::fs::write(&md, "## NAME\nx - y\n").unwrap();
    let o = Command::new("sh")
        .arg(repo().join("scripts/mkman"))
        .arg(&out)
        .arg(&md)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(111), "{}", text(&o.stderr));
}

/// Runs one of our programs with `args` in an empty directory, stdin
/// /dev/null, and returns its stderr.
fn stderr_of(prog: &str, args: &[&str]) -> String {
    let tmp = support::tempdir();
    let mut all = vec![prog];
    all.extend_from_slice(args);
    tools::run(&support::bin(prog), &tools::Spec::new(tmp.path(), &all)).err_str()
}

#[test]
fn synopsis_matches_usage_message() {
    let Some(tmp) = pages() else {
        return;
    };
    let mut compared = Vec::new();
    for prog in support::programs() {
        let page = tmp.path().join(format!("{prog}.8"));
        if !page.exists() {
            continue; // every_program_has_a_page reports it
        }
        let synopsis = section(&render(&page), "SYNOPSIS");
        let line = synopsis
            .iter()
            .find(|l| *l == &prog || l.starts_with(&format!("{prog} ")))
            .unwrap_or_else(|| panic!("{prog}.8 SYNOPSIS has no line for {prog}: {synopsis:?}"));
        // provoke the usage message the way the synopsis allows: a bad
        // option where there are options, no arguments where one is
        // required; a program with neither has no usage message
        let words: Vec<&str> = line.split_whitespace().skip(1).collect();
        let args: &[&str] = if line.contains("[-") {
            &["-@"]
        } else if words.first().is_some_and(|w| !w.starts_with('[')) {
            &[]
        } else {
            continue;
        };
        let err = stderr_of(&prog, args);
        if let Some(usage) = err
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{prog}: usage: ")))
        {
            assert!(
                synopsis_says(line, usage),
                "{prog}: usage message {usage:?} vs its page's SYNOPSIS {line:?}"
            );
            compared.push(prog.clone());
        } else if let Some(letters) = err
            .lines()
            .find(|l| l.starts_with(&format!("{prog} options: ")))
            .and_then(option_list_letters)
        {
            assert_eq!(
                bracketed_letters(line),
                Some(letters),
                "{prog}: option list vs SYNOPSIS {line:?}"
            );
            compared.push(prog.clone());
        }
    }
    // the probing found the usage messages we know of
    for known in [
        "envdir",
        "envuidgid",
        "fghack",
        "pgrphack",
        "setlock",
        "setuidgid",
        "softlimit",
        "supervise",
        "svc",
        "svok",
        "svcstart",
        "svcstop",
        "svcrestart",
        "svcreset",
        "svshutdown",
    ] {
        assert!(
            compared.iter().any(|c| c == known),
            "{known} not compared: {compared:?}"
        );
    }
}

#[test]
fn synopsis_rule() {
    assert!(synopsis_says(
        "setlock [-nNxX] file program [arg ...]",
        "setlock [ -nNxX ] file program [ arg ... ]"
    ));
    assert!(synopsis_says(
        "envdir dir child [arg ...]",
        "envdir dir child"
    ));
    assert!(!synopsis_says(
        "envdir d child [arg ...]",
        "envdir dir child"
    ));
    assert!(!synopsis_says("svok dir extra", "svok dir"));
    assert!(!synopsis_says("svok dir [x] y", "svok dir"));
    assert!(synopsis_says(
        "svcstart [-q] dir ...",
        "svcstart  [-q] dir ..."
    ));
    assert_eq!(
        option_list_letters("svc options: u up, d down, 1 SIGUSR1"),
        Some(vec!['1', 'd', 'u'])
    );
    assert_eq!(
        bracketed_letters("svc [-ud1] dir ..."),
        Some(vec!['1', 'd', 'u'])
    );
}

#[test]
fn our_programs_have_help_and_version() {
    let own = our_own();
    assert!(own.iter().any(|p| p == "svshutdown"), "{own:?}");
    let titles = titles();
    let tmp = support::tempdir();
    let have_mandoc = support::have("mandoc");
    if have_mandoc {
        mkman(tmp.path(), &[]);
    } else {
        support::missing("mandoc is not installed: --help not compared with the pages");
    }
    for prog in own {
        let help = tools::run(
            &support::bin(&prog),
            &tools::Spec::new(tmp.path(), &[&prog, "--help"]),
        );
        assert_eq!(help.code, Some(0), "{prog} --help: {}", help.err_str());
        assert!(help.err.is_empty(), "{prog} --help: {}", help.err_str());
        let out = help.out_str();
        let usage = out
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("usage: "))
            .unwrap_or_else(|| panic!("{prog} --help: first line is not 'usage: ...': {out}"));
        assert!(
            usage.starts_with(&format!("{prog} ")) || usage == prog,
            "{out}"
        );
        // a short description, then where the rest is
        assert!(
            out.lines().count() >= 4,
            "{prog} --help has no description: {out}"
        );
        let page = titles
            .get(&prog)
            .and_then(|md| md.file_name())
            .map(|f| f.to_string_lossy().trim_end_matches(".8.md").to_string())
            .unwrap_or_else(|| panic!("{prog} has no page"));
        assert!(
            out.contains(&format!("See {page}(8)")),
            "{prog} --help: {out}"
        );
        for l in out.lines() {
            assert!(
                l.len() <= 79,
                "{prog} --help line longer than 79 bytes: {l:?}"
            );
        }
        // the same synopsis as the usage message and the page
        let bad = stderr_of(&prog, &["-@"]);
        assert!(
            bad.contains(&format!("{prog}: usage: {usage}\n")),
            "{prog}: usage message {bad:?} vs --help {usage:?}"
        );
        if have_mandoc {
            let synopsis = section(&render(&tmp.path().join(format!("{prog}.8"))), "SYNOPSIS");
            assert!(
                synopsis.iter().any(|l| synopsis_says(l, usage)),
                "{prog} --help {usage:?} vs SYNOPSIS {synopsis:?}"
            );
        }
        let version = tools::run(
            &support::bin(&prog),
            &tools::Spec::new(tmp.path(), &[&prog, "--version"]),
        );
        assert_eq!(version.code, Some(0));
        assert_eq!(
            version.out_str(),
            format!("{prog} (daemontools-rs) {}\n", env!("CARGO_PKG_VERSION"))
        );
        assert!(version.err.is_empty());
    }
}

/// 0.76's programs read `--help` and `--version` as 0.76 does (getopt's
/// `--` end of options, a directory, a multilog action, an ignored
/// argument): the same output and exit code as Debian's build.
#[test]
fn daemontools_programs_keep_their_reading_of_help() {
    // svscanboot is left out: 0.76's ignores its arguments and would
    // start a tree on /service.
    for prog in DAEMONTOOLS_076.iter().filter(|p| **p != "svscanboot") {
        for word in ["--help", "--version"] {
            let tmp = support::tempdir();
            let ours = tools::same(prog, &tools::Spec::new(tmp.path(), &[prog, word]));
            assert!(
                !ours.out_str().contains("usage: ") && !ours.out_str().contains("daemontools-rs"),
                "{prog} {word}: {}",
                ours.out_str()
            );
        }
    }
    if support::reference("svc").is_none() {
        support::missing("Debian's daemontools is not installed");
    }
}
