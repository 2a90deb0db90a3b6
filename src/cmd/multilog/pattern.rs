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
    /// Slots whose position never changes (set in `known` at every reset).
    fixed: u64,
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
            fixed: 0,
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

    /// The slot for skip byte `d`, added if new (None: no room).
    fn slot(&mut self, d: u8) -> Option<u8> {
        if let Some(i) = self.targets.iter().position(|&t| t == d) {
            return Some(i as u8);
        }
        if self.targets.len() == SLOTS {
            return None;
        }
        let slot = self.targets.len();
        self.targets.push(d);
        if self.stamped && d == b' ' {
            self.pos[slot] = STAMP - 1;
            self.fixed |= 1 << slot;
            self.known |= 1 << slot;
        }
        Some(slot as u8)
    }

    /// Forgets the previous line. Call before matching a new line.
    #[inline]
    pub fn reset(&mut self) {
        self.known = self.fixed;
    }

    /// The position of the first `targets[slot]` in `line`
    /// (`usize::MAX`: none).
    #[inline]
    fn first(&mut self, slot: usize, line: &[u8]) -> usize {
        if self.known & (1u64 << slot) == 0 {
            self.find(slot, line);
        }
        self.pos[slot]
    }

    #[inline(never)]
    fn find(&mut self, slot: usize, line: &[u8]) {
        let d = self.targets[slot];
        self.pos[slot] =
            if !self.stamped || d == b'@' || d.is_ascii_digit() || (b'a'..=b'f').contains(&d) {
                memchr::memchr(d, line).unwrap_or(usize::MAX)
            } else {
                memchr::memchr(d, &line[STAMP..]).map_or(usize::MAX, |i| i + STAMP)
            };
        self.known |= 1u64 << slot;
    }
}

/// The first `d` in `hay`: the skip of a `*`, which usually ends within a
/// few bytes; a short loop is cheaper there than setting up memchr.
#[inline]
fn find_byte(d: u8, hay: &[u8]) -> Option<usize> {
    let n = hay.len().min(16);
    if let Some(i) = hay[..n].iter().position(|&c| c == d) {
        return Some(i);
    }
    memchr::memchr(d, &hay[n..]).map(|i| i + n)
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
            Some(&Piece::Star(d)) => skips.slot(d),
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
                Piece::Star(d) => match find_byte(d, rest) {
                    Some(i) => rest = &rest[i..],
                    None => return false,
                },
                Piece::StarEnd => return true,
            }
        }
        rest.is_empty()
    }
}

/// A pattern `*d` + literal + pieces, reached through its table: `lit` is
/// matched at the first `d` of the line (`lit[0]` is `d`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Keyed<'a> {
    lit: &'a [u8],
    /// The literal's first (up to) eight bytes, little-endian, and which
    /// bits of an eight-byte load they fix: a cheap first rejection.
    head: u64,
    mask: u64,
    tail: Vec<Piece<'a>>,
}

impl<'a> Keyed<'a> {
    fn new(lit: &'a [u8], tail: &[Piece<'a>]) -> Keyed<'a> {
        let n = lit.len().min(8);
        let mut b = [0u8; 8];
        b[..n].copy_from_slice(&lit[..n]);
        let mask = if n == 8 {
            u64::MAX
        } else {
            (1u64 << (8 * n)) - 1
        };
        Keyed {
            lit,
            head: u64::from_le_bytes(b),
            mask,
            tail: tail.to_vec(),
        }
    }

    /// Matches all of `rest`, which starts at the skip byte.
    #[inline]
    fn matches(&self, rest: &[u8]) -> bool {
        let lit = self.lit;
        if rest.len() < lit.len() {
            return false;
        }
        if let Some(w) = rest.first_chunk::<8>() {
            if (u64::from_le_bytes(*w) ^ self.head) & self.mask != 0 {
                return false;
            }
            if lit.len() > 8 && !same(&rest[8..lit.len()], &lit[8..]) {
                return false;
            }
        } else if !same(&rest[..lit.len()], lit) {
            return false;
        }
        Pattern::matches_pieces(&self.tail, &rest[lit.len()..])
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
    /// (`cands[offsets[b]..offsets[b + 1]]`).
    tables: Vec<Table<'a>>,
    /// Patterns that are always tried.
    others: Vec<u32>,
    /// One of the patterns is `*`: every line matches.
    always: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Table<'a> {
    slot: u8,
    offsets: Box<[u32; 257]>,
    cands: Vec<Keyed<'a>>,
}

impl<'a> AnyOf<'a> {
    pub fn new(pats: Vec<Pattern<'a>>) -> AnyOf<'a> {
        let mut keyed: Vec<(u8, u8, u32)> = Vec::new();
        let mut others = Vec::new();
        for (id, p) in pats.iter().enumerate() {
            let id = id as u32;
            match (p.slot, p.pieces.first(), p.pieces.get(1)) {
                (Some(slot), Some(Piece::Star(_)), Some(Piece::Lit(lit))) if lit.len() >= 2 => {
                    keyed.push((slot, lit[1], id))
                }
                _ => others.push(id),
            }
        }
        // Stable: within a key, candidates stay in script order.
        keyed.sort_by_key(|&(slot, key, _)| (slot, key));
        let mut tables: Vec<Table> = Vec::new();
        for &(slot, key, id) in &keyed {
            if tables.last().map(|t| t.slot) != Some(slot) {
                tables.push(Table {
                    slot,
                    offsets: Box::new([0; 257]),
                    cands: Vec::new(),
                });
            }
            let t = tables.last_mut().expect("pushed");
            let pieces = &pats[id as usize].pieces;
            let Piece::Lit(lit) = pieces[1] else {
                unreachable!("keyed patterns have a literal second piece")
            };
            t.cands.push(Keyed::new(lit, &pieces[2..]));
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
            let (lo, hi) = (t.offsets[b as usize], t.offsets[b as usize + 1]);
            if lo == hi {
                continue;
            }
            // The leading skip is done: go on from the skip byte.
            let rest = &line[i..];
            if t.cands[lo as usize..hi as usize]
                .iter()
                .any(|k| k.matches(rest))
            {
                return true;
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

    /// (pattern, line, selected) as observed with daemontools 0.76, the
    /// cases of its own test script (`rts`, `matchtest`) included.
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

    /// More than 65,536 patterns in one run (a command line can hold about
    /// 190,000 arguments): each is still found, keyed or not.
    #[test]
    fn runs_longer_than_sixteen_bits() {
        let n = 70_000;
        let texts: Vec<Vec<u8>> = (0..n)
            .flat_map(|i| [format!("l{i}").into_bytes(), format!("*xk{i}").into_bytes()])
            .collect();
        let mut skips = Skips::new();
        let set = AnyOf::new(texts.iter().map(|t| Pattern::new(t, &mut skips)).collect());
        for i in [0, 1, 65_535, 65_536, 65_537, n - 1] {
            for line in [format!("l{i}"), format!("axk{i}")] {
                skips.reset();
                assert!(set.any(line.as_bytes(), &mut skips), "{line}");
            }
        }
        skips.reset();
        assert!(!set.any(b"axk70000", &mut skips));
    }

    /// A multilog `t` window: stamp, space, text.
    fn stamped(secs: u64, nano: u32, text: &str) -> Vec<u8> {
        let mut line = crate::tai64::Tai64n { secs, nano }.fmt().to_vec();
        line.push(b' ');
        line.extend(text.as_bytes());
        line
    }

    /// Whether any of `ps` matches `line`, through an `AnyOf` and by the
    /// model.
    fn any_both(ps: &[String], line: &[u8], mut skips: Skips) -> (bool, bool) {
        let set = AnyOf::new(
            ps.iter()
                .map(|p| Pattern::new(p.as_bytes(), &mut skips))
                .collect(),
        );
        skips.reset();
        let want = ps.iter().any(|p| model(p.as_bytes(), line));
        (set.any(line, &mut skips), want)
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
            let line = stamped(secs, nano, &text);
            let mut skips = Skips::for_stamped_lines();
            let pats: Vec<Pattern> = ps.iter().map(|p| Pattern::new(p.as_bytes(), &mut skips)).collect();
            skips.reset();
            for (c, p) in pats.iter().zip(&ps) {
                prop_assert_eq!(c.matches(&line, &mut skips), model(p.as_bytes(), &line));
            }
        }

        #[test]
        fn any_of_stamped_agrees(ps in prop::collection::vec("\\*[ :@a9x]?[ab: ]{0,12}\\*?[ab ]{0,3}", 1..8),
                                 secs in any::<u64>(), nano in any::<u32>(),
                                 text in "[ab: ]{0,24}") {
            // Long literals after a leading `*d` (the eight-byte first
            // rejection and the compare after it), on `t` windows.
            let line = stamped(secs, nano, &text);
            let (got, want) = any_both(&ps, &line, Skips::for_stamped_lines());
            prop_assert_eq!(got, want);
            let (got, want) = any_both(&ps, text.as_bytes(), Skips::new());
            prop_assert_eq!(got, want);
        }

        #[test]
        fn literal_pattern_is_equality(l in prop::collection::vec(1u8..=255, 0..20)) {
            let lit: Vec<u8> = l.iter().copied().filter(|&c| c != b'*').collect();
            prop_assert!(matches(&lit, &lit));
            prop_assert!(matches(b"*", &l));
        }
    }
}
