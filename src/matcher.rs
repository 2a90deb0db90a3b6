//! multilog's pattern matcher (`+pattern`, `-pattern`).
//!
//! A pattern is matched against the whole line window. The scan is
//! anchored and never backtracks: a `*` followed by a byte `d` skips line
//! bytes up to the first `d` (without consuming it), a `*` at the end
//! matches whatever is left, and every other pattern byte must equal the
//! next line byte. There is no escape character. The run time is linear;
//! the skips use `memchr` and literal runs are compared in bulk.

/// Whether `pattern` matches all of `line`.
pub fn matches(pattern: &[u8], line: &[u8]) -> bool {
    let mut pat = pattern;
    let mut line = line;
    loop {
        match pat.first() {
            None => return line.is_empty(),
            Some(b'*') => {
                let Some(&d) = pat.get(1) else {
                    return true;
                };
                match memchr::memchr(d, line) {
                    Some(i) => line = &line[i..],
                    None => return false,
                }
                pat = &pat[1..];
            }
            Some(_) => {
                // A run of literal bytes up to the next star (or the end).
                // Runs are short and mismatches show early: compare byte by
                // byte rather than calling memcmp.
                let run = memchr::memchr(b'*', pat).unwrap_or(pat.len());
                if line.len() < run {
                    return false;
                }
                for k in 0..run {
                    if line[k] != pat[k] {
                        return false;
                    }
                }
                line = &line[run..];
                pat = &pat[run..];
            }
        }
    }
}

/// `a == b` for slices of equal length, eight bytes at a time (literal
/// runs are short: a call to memcmp costs more than the comparison).
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        if u64::from_ne_bytes(x.try_into().expect("8 bytes"))
            != u64::from_ne_bytes(y.try_into().expect("8 bytes"))
        {
            return false;
        }
    }
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for k in 0..ra.len() {
        if ra[k] != rb[k] {
            return false;
        }
    }
    true
}

/// The most distinct leading skip bytes a `Skips` cache remembers.
const SLOTS: usize = 64;

/// Per-line cache of "first position of byte d" shared by the patterns of
/// a script: scripts usually have many patterns starting with the same
/// `*d` (`'-* status: *' '-* new msg *' ...`), and the first skip of each
/// is the same scan of the line.
pub struct Skips {
    targets: Vec<u8>,
    pos: [usize; SLOTS],
    known: u64,
    /// Lines start with a multilog `t` stamp (`@`, 24 lowercase hex
    /// digits, a space), whose bytes need no scanning.
    stamped: bool,
}

/// Length of a stamp and its space at the start of a `t` window.
const STAMP: usize = 26;

impl Default for Skips {
    fn default() -> Self {
        Skips::new()
    }
}

impl Skips {
    pub fn new() -> Skips {
        Skips {
            targets: Vec::new(),
            pos: [0; SLOTS],
            known: 0,
            stamped: false,
        }
    }

    /// A cache for windows that begin with a stamp and a space (multilog
    /// `t`): a space is then always first found at 25, and a byte that
    /// cannot occur in a stamp is searched for after it.
    pub fn for_stamped_lines() -> Skips {
        Skips {
            stamped: true,
            ..Skips::new()
        }
    }

    /// Forgets the previous line. Call before matching a new line.
    #[inline]
    pub fn reset(&mut self) {
        self.known = 0;
    }

    /// The position of the first `targets[slot]` in `line`
    /// (`usize::MAX`: none).
    #[inline]
    fn first(&mut self, slot: usize, line: &[u8]) -> usize {
        let bit = 1u64 << slot;
        if self.known & bit == 0 {
            let d = self.targets[slot];
            self.pos[slot] = if !self.stamped {
                memchr::memchr(d, line).unwrap_or(usize::MAX)
            } else if d == b' ' {
                STAMP - 1
            } else if d == b'@' || d.is_ascii_digit() || (b'a'..=b'f').contains(&d) {
                memchr::memchr(d, line).unwrap_or(usize::MAX)
            } else {
                memchr::memchr(d, &line[STAMP..]).map_or(usize::MAX, |i| i + STAMP)
            };
            self.known |= bit;
        }
        self.pos[slot]
    }
}

/// One piece of a prepared pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece<'a> {
    /// Bytes that must follow literally.
    Lit(&'a [u8]),
    /// A `*` followed by byte `d`: skip to the first `d`.
    Star(u8),
    /// A final `*`: the rest of the line matches.
    StarEnd,
}

/// A pattern prepared once for matching many lines: split into literal
/// runs and stars, with its leading `*d` skip (if any) shared through a
/// `Skips` cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern<'a> {
    pieces: Vec<Piece<'a>>,
    slot: Option<u8>,
}

impl<'a> Pattern<'a> {
    /// Prepares `text`, registering its leading `*d` skip (if any) in
    /// `skips`.
    pub fn new(text: &'a [u8], skips: &mut Skips) -> Pattern<'a> {
        let mut pieces = Vec::new();
        let mut i = 0;
        while i < text.len() {
            if text[i] == b'*' {
                pieces.push(match text.get(i + 1) {
                    Some(&d) => Piece::Star(d),
                    None => Piece::StarEnd,
                });
                i += 1;
            } else {
                let run = memchr::memchr(b'*', &text[i..]).unwrap_or(text.len() - i);
                pieces.push(Piece::Lit(&text[i..i + run]));
                i += run;
            }
        }
        let slot = match pieces.first() {
            Some(&Piece::Star(d)) => match skips.targets.iter().position(|&t| t == d) {
                Some(i) => Some(i as u8),
                None if skips.targets.len() < SLOTS => {
                    skips.targets.push(d);
                    Some((skips.targets.len() - 1) as u8)
                }
                None => None,
            },
            _ => None,
        };
        Pattern { pieces, slot }
    }

    /// Same result as `matches(text, line)`; `skips` must have been reset
    /// since `line` changed.
    #[inline]
    pub fn matches(&self, line: &[u8], skips: &mut Skips) -> bool {
        match self.slot {
            Some(slot) => match skips.first(slot as usize, line) {
                usize::MAX => false,
                i => Self::matches_pieces(&self.pieces[1..], &line[i..]),
            },
            None => Self::matches_pieces(&self.pieces, line),
        }
    }

    /// Matches `pieces` against all of `rest`.
    #[inline]
    fn matches_pieces(pieces: &[Piece], mut rest: &[u8]) -> bool {
        for piece in pieces {
            match *piece {
                Piece::Lit(lit) => {
                    if rest.len() < lit.len() || !same(&rest[..lit.len()], lit) {
                        return false;
                    }
                    rest = &rest[lit.len()..];
                }
                Piece::Star(d) => match memchr::memchr(d, rest) {
                    Some(i) => rest = &rest[i..],
                    None => return false,
                },
                Piece::StarEnd => return true,
            }
        }
        rest.is_empty()
    }
}

/// A run of consecutive patterns of the same kind (`-a -b -c`): the run
/// only needs to know whether *any* of them matches, so the patterns are
/// indexed by the byte that follows their leading `*d` skip, and a line is
/// tried only against the patterns that can match it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnyOf<'a> {
    pats: Vec<Pattern<'a>>,
    /// Per leading skip slot: the candidates for each following byte
    /// (`ids[offsets[b]..offsets[b + 1]]`).
    tables: Vec<Table>,
    /// Patterns that are always tried.
    others: Vec<u16>,
    /// One of the patterns is `*`: every line matches.
    always: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Table {
    slot: u8,
    offsets: Box<[u16; 257]>,
    ids: Vec<u16>,
}

impl<'a> AnyOf<'a> {
    pub fn new(pats: Vec<Pattern<'a>>) -> AnyOf<'a> {
        let mut keyed: Vec<(u8, u8, u16)> = Vec::new();
        let mut others = Vec::new();
        for (id, p) in pats.iter().enumerate() {
            let id = id as u16;
            match (p.slot, p.pieces.first(), p.pieces.get(1)) {
                (Some(slot), Some(Piece::Star(_)), Some(Piece::Lit(lit))) if lit.len() >= 2 => {
                    keyed.push((slot, lit[1], id))
                }
                _ => others.push(id),
            }
        }
        keyed.sort();
        let mut tables: Vec<Table> = Vec::new();
        for &(slot, key, id) in &keyed {
            if tables.last().map(|t| t.slot) != Some(slot) {
                tables.push(Table {
                    slot,
                    offsets: Box::new([0; 257]),
                    ids: Vec::new(),
                });
            }
            let t = tables.last_mut().expect("pushed");
            t.ids.push(id);
            t.offsets[key as usize + 1] += 1;
        }
        for t in &mut tables {
            for b in 0..256 {
                t.offsets[b + 1] += t.offsets[b];
            }
        }
        let always = pats.iter().any(|p| p.pieces == [Piece::StarEnd]);
        AnyOf {
            pats,
            tables,
            others,
            always,
        }
    }

    /// Whether any pattern matches `line` (`skips` reset for this line).
    #[inline]
    pub fn any(&self, line: &[u8], skips: &mut Skips) -> bool {
        if self.always {
            return true;
        }
        for t in &self.tables {
            let i = skips.first(t.slot as usize, line);
            // No `d` in the line (i is usize::MAX), or nothing after it.
            let Some(&b) = line.get(i.saturating_add(1)) else {
                continue;
            };
            let ids = &t.ids[t.offsets[b as usize] as usize..t.offsets[b as usize + 1] as usize];
            for &id in ids {
                // The leading skip is done: go on from the second piece.
                let p = &self.pats[id as usize];
                if Pattern::matches_pieces(&p.pieces[1..], &line[i..]) {
                    return true;
                }
            }
        }
        self.others
            .iter()
            .any(|&id| self.pats[id as usize].matches(line, skips))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The algorithm byte by byte, as the definition states it; the fast
    /// version must agree with it everywhere.
    fn model(pattern: &[u8], line: &[u8]) -> bool {
        let (mut p, mut l) = (0, 0);
        loop {
            if p == pattern.len() {
                return l == line.len();
            }
            let ch = pattern[p];
            p += 1;
            if ch == b'*' {
                if p == pattern.len() {
                    return true;
                }
                let d = pattern[p];
                loop {
                    if l == line.len() {
                        return false;
                    }
                    if line[l] == d {
                        break;
                    }
                    l += 1;
                }
                continue;
            }
            if l == line.len() || line[l] != ch {
                return false;
            }
            l += 1;
        }
    }

    /// (pattern, line, selected) as observed with daemontools 0.76
    /// (spec logging.md §4.2, including the rts `matchtest` cases).
    const TABLE: &[(&[u8], &[u8], bool)] = &[
        (b"one", b"one", true),
        (b"one", b"on", false),
        (b"one", b"onetwo", false),
        (b"one", b"one*", false),
        (b"", b"", true),
        (b"", b"x", false),
        (b"*", b"", true),
        (b"*", b"anything at all", true),
        (b"one*", b"one", true),
        (b"one*", b"onetwo", true),
        (b"one*", b"one*", true),
        (b"one*", b"", false),
        (b"one*", b"on", false),
        (b"one*", b"onf", false),
        (b"one*", b"x", false),
        (b"* one", b" one", true),
        (b"* one", b"x one", true),
        (b"* one", b"xy one", true),
        (b"* one", b"* one", true),
        (b"* one", b"one", false),
        (b"* one", b" two", false),
        (b"* one", b"  one", false),
        (b"* one", b"xy one ", false),
        (b"* one", b" x one", false),
        (b"* * one", b"  one", true),
        (b"* * one", b"x  one", true),
        (b"* * one", b" y one", true),
        (b"* * one", b"x y one", true),
        (b"* * one", b" x one", true),
        (b"* * one", b"one", false),
        (b"* * one", b" one", false),
        (b"* * one", b"   one", false),
        (b"*a", b"banana", false),
        (b"*a*", b"banana", true),
        (b"b*a", b"banana", false),
        (b"b*n*", b"banana", true),
        (b"**", b"a*b", true),
        (b"**", b"ab", false),
        (
            b"named[*]: Cleaned cache *",
            b"named[135]: Cleaned cache of 3121 RRs",
            true,
        ),
        (b"a*b", b"a\0b", true),
        (b"?", b"x", false),
        (b"?", b"?", true),
        (b"[a]", b"a", false),
        (b"\\*", b"\\x", true),
    ];

    #[test]
    fn reference_table() {
        for &(p, l, want) in TABLE {
            assert_eq!(
                matches(p, l),
                want,
                "pattern {:?} line {:?}",
                String::from_utf8_lossy(p),
                String::from_utf8_lossy(l)
            );
            assert_eq!(model(p, l), want);
            let mut skips = Skips::new();
            let c = Pattern::new(p, &mut skips);
            skips.reset();
            assert_eq!(c.matches(l, &mut skips), want);
        }
    }

    #[test]
    fn more_leads_than_slots() {
        let texts: Vec<Vec<u8>> = (0..100u8).map(|i| vec![b'*', i + 130, b'z']).collect();
        let mut skips = Skips::new();
        let pats: Vec<Pattern> = texts.iter().map(|t| Pattern::new(t, &mut skips)).collect();
        for i in 0..100u8 {
            let line = [b'x', i + 130, b'z'];
            skips.reset();
            for (j, p) in pats.iter().enumerate() {
                assert_eq!(p.matches(&line, &mut skips), j == i as usize);
            }
        }
    }

    fn small_alphabet(max: usize) -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(prop::sample::select(vec![b'a', b'b', b'*', b' ']), 0..max)
    }

    proptest! {
        #[test]
        fn agrees_with_model_small_alphabet(p in small_alphabet(8), l in small_alphabet(16)) {
            prop_assert_eq!(matches(&p, &l), model(&p, &l));
        }

        #[test]
        fn agrees_with_model_any_bytes(p in prop::collection::vec(any::<u8>(), 0..12),
                                       l in prop::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(matches(&p, &l), model(&p, &l));
        }

        #[test]
        fn shared_skips_agree(ps in prop::collection::vec(small_alphabet(6), 1..6),
                              lines in prop::collection::vec(small_alphabet(16), 1..4)) {
            let mut skips = Skips::new();
            let compiled: Vec<Pattern> = ps.iter().map(|p| Pattern::new(p, &mut skips)).collect();
            for l in &lines {
                skips.reset();
                for (c, p) in compiled.iter().zip(&ps) {
                    prop_assert_eq!(c.matches(l, &mut skips), model(p, l));
                }
            }
        }

        #[test]
        fn any_of_agrees(ps in prop::collection::vec(small_alphabet(6), 1..8),
                         lines in prop::collection::vec(small_alphabet(16), 1..4)) {
            let mut skips = Skips::new();
            let set = AnyOf::new(ps.iter().map(|p| Pattern::new(p, &mut skips)).collect());
            for l in &lines {
                skips.reset();
                prop_assert_eq!(set.any(l, &mut skips), ps.iter().any(|p| model(p, l)));
            }
        }

        #[test]
        fn stamped_skips_agree(ps in prop::collection::vec("[* @a9xf:]{0,6}", 1..8),
                               secs in any::<u64>(), nano in any::<u32>(),
                               text in "[* @a9xf:]{0,16}") {
            let mut line = crate::tai64::Tai64n { secs, nano }.fmt().to_vec();
            line.push(b' ');
            line.extend(text.as_bytes());
            let mut skips = Skips::for_stamped_lines();
            let pats: Vec<Pattern> = ps.iter().map(|p| Pattern::new(p.as_bytes(), &mut skips)).collect();
            skips.reset();
            for (c, p) in pats.iter().zip(&ps) {
                prop_assert_eq!(c.matches(&line, &mut skips), model(p.as_bytes(), &line));
            }
        }

        #[test]
        fn literal_pattern_is_equality(l in prop::collection::vec(1u8..=255, 0..20)) {
            let lit: Vec<u8> = l.iter().copied().filter(|&c| c != b'*').collect();
            prop_assert!(matches(&lit, &lit));
            prop_assert!(matches(b"*", &l));
        }
    }
}
