//! A configured regex (a text system's `match` or pattern), with a fast matcher for the usual
//! shape: anchored at the start, literals, character classes repeated, captures, optional parts.
//!
//! The fast matcher is a small backtracking machine over the pattern's `regex-syntax` HIR, the
//! same tree the `regex` crate compiles: a backtracker tries the alternatives in priority order,
//! which is exactly the leftmost-first match (and the captures) that `regex` reports for a
//! pattern anchored at the start. It runs without allocating for the usual line. A pattern it
//! cannot read (no `^`, look-arounds other than `^` and `$`, unbounded repetition of a group,
//! byte classes) and a line whose backtracking would take long (a step budget, a bounded stack)
//! go to `regex`, as every pattern did before. Tests and a fuzz target compare the two.
//!
//! Why: on the seed's text formats `regex`'s captures (one-pass DFA) were a quarter of the
//! parse time; a class run followed by a literal outside the class needs no backtracking at all
//! and is read here at a table lookup per byte.

use regex::Regex;
use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// Capture groups (including the whole match, group 0) the fast matcher keeps on its stack.
const MAX_GROUPS: usize = 12;
/// Instructions of a program at most.
const MAX_INSTS: usize = 4096;
/// Choice points kept without allocating; more go to a vector.
const INLINE_FRAMES: usize = 8;
/// Choice points at most; a line that needs more goes to `regex`.
const MAX_FRAMES: usize = 256;

/// A compiled configured regex.
#[derive(Debug)]
pub struct Pattern {
    re: Regex,
    fast: Option<Program>,
}

/// Where each group matched (byte ranges), as `regex::Captures` would report.
pub(crate) enum Spans<'t> {
    Fast { slots: [usize; 2 * MAX_GROUPS], groups: usize },
    Slow(regex::Captures<'t>),
}

const NONE: usize = usize::MAX;

/// Each group's byte range, `None` for a group that took no part (tests and fuzz targets).
pub type GroupSpans = Vec<Option<(usize, usize)>>;

impl<'t> Spans<'t> {
    /// Group `g`'s text, if it took part in the match.
    pub(crate) fn get(&self, text: &'t str, g: usize) -> Option<&'t str> {
        match self {
            Spans::Fast { slots, groups } => {
                if g >= *groups {
                    return None;
                }
                let (s, e) = (slots[2 * g], slots[2 * g + 1]);
                if s == NONE || e == NONE {
                    return None;
                }
                text.get(s..e)
            }
            Spans::Slow(caps) => caps.get(g).map(|m| m.as_str()),
        }
    }
}

impl Pattern {
    pub fn new(re: Regex) -> Pattern {
        let fast = Program::compile(re.as_str());
        Pattern { re, fast }
    }

    pub(crate) fn regex(&self) -> &Regex {
        &self.re
    }

    /// Whether the fast matcher reads this pattern (tests).
    #[doc(hidden)]
    pub fn is_fast(&self) -> bool {
        self.fast.is_some()
    }

    pub(crate) fn is_match(&self, text: &str) -> bool {
        if let Some(p) = &self.fast {
            if let Some(found) = p.run(text, false) {
                return found.is_some();
            }
        }
        self.re.is_match(text)
    }

    pub(crate) fn captures<'t>(&self, text: &'t str) -> Option<Spans<'t>> {
        if let Some(p) = &self.fast {
            if let Some(found) = p.run(text, true) {
                return found;
            }
        }
        self.re.captures(text).map(Spans::Slow)
    }

    /// `regex` alone: the groups' byte ranges of the match (tests and fuzz targets).
    #[doc(hidden)]
    pub fn slow_captures(&self, text: &str) -> Option<GroupSpans> {
        let caps = self.re.captures(text)?;
        Some(caps.iter().map(|m| m.map(|m| (m.start(), m.end()))).collect())
    }

    /// Whether `regex` alone finds a match (tests and fuzz targets).
    #[doc(hidden)]
    pub fn slow_is_match(&self, text: &str) -> bool {
        self.re.is_match(text)
    }

    /// The fast matcher alone, `want_spans` false as for a `match` test: `None` when it leaves
    /// the line to `regex` (tests and fuzz targets).
    #[doc(hidden)]
    pub fn fast_is_match(&self, text: &str) -> Option<bool> {
        Some(self.fast.as_ref()?.run(text, false)?.is_some())
    }

    /// The fast matcher alone: `None` when it leaves the line to `regex` (tests and fuzz targets).
    #[doc(hidden)]
    pub fn fast_captures(&self, text: &str) -> Option<Option<GroupSpans>> {
        let found = self.fast.as_ref()?.run(text, true)?;
        Some(found.map(|s| {
            let Spans::Fast { slots, groups } = s else { return Vec::new() };
            (0..groups)
                .map(|g| {
                    let (a, b) = (slots[2 * g], slots[2 * g + 1]);
                    (a != NONE && b != NONE).then_some((a, b))
                })
                .collect()
        }))
    }
}

/// A set of characters: a table for ASCII, sorted ranges for the rest.
#[derive(Debug)]
struct CharSet {
    /// Per byte: 1 an ASCII character of the set, 0 an ASCII one outside it, 2 a byte of a
    /// longer character (looked up in `ranges`).
    bytes: [u8; 256],
    ranges: Vec<(char, char)>,
}

impl CharSet {
    /// The set of the characters in `ranges` (inclusive, sorted as `regex-syntax` gives them).
    fn new(ranges: impl IntoIterator<Item = (char, char)>) -> CharSet {
        let mut bytes = [0u8; 256];
        bytes[0x80..].fill(2);
        let mut wide = Vec::new();
        for (lo, hi) in ranges {
            for c in lo..=hi.min('\x7f') {
                bytes[c as usize] = 1;
            }
            if hi >= '\u{80}' {
                wide.push((lo.max('\u{80}'), hi));
            }
        }
        CharSet { bytes, ranges: wide }
    }

    /// Whether the ASCII byte `b` is in the set.
    fn has_ascii(&self, b: u8) -> bool {
        self.bytes[usize::from(b)] == 1
    }

    /// From `pos`, as many characters of the set as there are, at most `limit`: the end and
    /// the count.
    #[inline]
    fn run(&self, text: &str, mut pos: usize, limit: u32) -> (usize, u32) {
        let bytes = text.as_bytes();
        let mut count = 0u32;
        while count < limit {
            // ASCII characters of the set, a table lookup each.
            let rest = bytes.get(pos..).unwrap_or_default();
            let room = (limit - count) as usize;
            let rest = if room < rest.len() { &rest[..room] } else { rest };
            let n = rest.iter().position(|&b| self.bytes[usize::from(b)] != 1);
            let n = n.unwrap_or(rest.len());
            pos += n;
            count += n as u32;
            if count >= limit {
                break;
            }
            match bytes.get(pos) {
                Some(&b) if self.bytes[usize::from(b)] == 2 => match self.step(text, pos) {
                    Some(len) => {
                        pos += len;
                        count += 1;
                    }
                    None => break,
                },
                _ => break,
            }
        }
        (pos, count)
    }

    fn contains(&self, c: char) -> bool {
        if c.is_ascii() {
            return self.has_ascii(c as u8);
        }
        self.ranges
            .binary_search_by(|&(lo, hi)| {
                if hi < c {
                    std::cmp::Ordering::Less
                } else if lo > c {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
    }

    /// The next character at `pos` if it is in the set, and its length.
    #[inline]
    fn step(&self, text: &str, pos: usize) -> Option<usize> {
        let b = *text.as_bytes().get(pos)?;
        if b < 0x80 {
            return self.has_ascii(b).then_some(1);
        }
        let c = text.get(pos..)?.chars().next()?;
        self.contains(c).then(|| c.len_utf8())
    }
}

#[derive(Debug)]
enum Inst {
    /// These bytes next.
    Lit(Box<[u8]>),
    /// One character of the set.
    Char(usize),
    /// Between `min` and `max` characters of set `set`. `possessive`: what follows can never
    /// start with a character of the set, so giving characters back cannot help.
    Run {
        set: usize,
        min: u32,
        max: Option<u32>,
        greedy: bool,
        possessive: bool,
    },
    /// Try `first`, then `second`.
    Split {
        first: usize,
        second: usize,
    },
    Jump(usize),
    Save(usize),
    End,
    Match,
}

/// The fast matcher's program.
#[derive(Debug)]
struct Program {
    insts: Vec<Inst>,
    sets: Vec<CharSet>,
    groups: usize,
}

#[derive(Clone, Copy, Default)]
enum Frame {
    /// Continue at `pc`, at `pos`.
    #[default]
    Nothing,
    Alt {
        pc: usize,
        pos: usize,
    },
    /// Put `slot` back to `old`.
    Restore {
        slot: usize,
        old: usize,
    },
    /// A greedy run at `pos` after `count` characters may give one back (not below `min`),
    /// then continue at `pc`.
    Shorter {
        pc: usize,
        pos: usize,
        count: u32,
        min: u32,
    },
    /// A lazy run at `pos` after `count` characters may take one more of `set` (up to `max`).
    Longer {
        pc: usize,
        set: usize,
        pos: usize,
        count: u32,
        max: u32,
    },
}

/// The choice points: a few inline, then a vector.
struct Stack {
    inline: [Frame; INLINE_FRAMES],
    len: usize,
    spill: Vec<Frame>,
}

impl Stack {
    fn push(&mut self, f: Frame) -> Option<()> {
        if self.len < INLINE_FRAMES {
            self.inline[self.len] = f;
        } else if self.len < MAX_FRAMES {
            self.spill.push(f);
        } else {
            return None;
        }
        self.len += 1;
        Some(())
    }

    fn pop(&mut self) -> Option<Frame> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        if self.len < INLINE_FRAMES {
            Some(self.inline[self.len])
        } else {
            self.spill.pop()
        }
    }
}

impl Program {
    /// The program of a pattern the fast matcher reads, else `None`.
    fn compile(pattern: &str) -> Option<Program> {
        let hir = regex_syntax::ParserBuilder::new().build().parse(pattern).ok()?;
        let mut items: Vec<&Hir> = match hir.kind() {
            HirKind::Concat(items) => items.iter().collect(),
            _ => vec![&hir],
        };
        // Anchored at the start, and nowhere else.
        if !matches!(items.first().map(|h| h.kind()), Some(HirKind::Look(Look::Start))) {
            return None;
        }
        items.remove(0);
        let mut p = Program { insts: Vec::new(), sets: Vec::new(), groups: 1 };
        p.insts.push(Inst::Save(0));
        for h in items {
            p.emit(h)?;
        }
        p.insts.push(Inst::Save(1));
        p.insts.push(Inst::Match);
        if p.groups > MAX_GROUPS || p.insts.len() > MAX_INSTS {
            return None;
        }
        p.mark_possessive();
        Some(p)
    }

    fn set(&mut self, class: &Class) -> Option<usize> {
        let Class::Unicode(u) = class else { return None };
        Some(self.push_set(CharSet::new(u.ranges().iter().map(|r| (r.start(), r.end())))))
    }

    fn push_set(&mut self, set: CharSet) -> usize {
        self.sets.push(set);
        self.sets.len() - 1
    }

    /// A class, or a one-character literal, as a set.
    fn single(&mut self, h: &Hir) -> Option<usize> {
        match h.kind() {
            HirKind::Class(c) => self.set(c),
            HirKind::Literal(lit) => {
                let s = std::str::from_utf8(&lit.0).ok()?;
                let mut chars = s.chars();
                let c = chars.next()?;
                if chars.next().is_some() {
                    return None;
                }
                Some(self.push_set(CharSet::new([(c, c)])))
            }
            _ => None,
        }
    }

    fn emit(&mut self, h: &Hir) -> Option<()> {
        // Repetitions of groups are copied: a pattern that grows past this is left to `regex`.
        if self.insts.len() > MAX_INSTS {
            return None;
        }
        match h.kind() {
            HirKind::Empty => {}
            HirKind::Literal(lit) => {
                std::str::from_utf8(&lit.0).ok()?;
                self.insts.push(Inst::Lit(lit.0.clone()));
            }
            HirKind::Class(c) => {
                let set = self.set(c)?;
                self.insts.push(Inst::Char(set));
            }
            HirKind::Look(Look::End) => self.insts.push(Inst::End),
            HirKind::Look(_) => return None,
            HirKind::Capture(cap) => {
                let g = usize::try_from(cap.index).ok()?;
                if g >= MAX_GROUPS {
                    return None;
                }
                self.groups = self.groups.max(g + 1);
                self.insts.push(Inst::Save(2 * g));
                self.emit(&cap.sub)?;
                self.insts.push(Inst::Save(2 * g + 1));
            }
            HirKind::Concat(items) => {
                for item in items {
                    self.emit(item)?;
                }
            }
            HirKind::Alternation(alts) => {
                // Split(a, next); a; Jump(end); next: Split(b, …) …; last
                let mut jumps = Vec::new();
                for (i, alt) in alts.iter().enumerate() {
                    if i + 1 < alts.len() {
                        let split = self.insts.len();
                        self.insts.push(Inst::Split { first: split + 1, second: 0 });
                        self.emit(alt)?;
                        jumps.push(self.insts.len());
                        self.insts.push(Inst::Jump(0));
                        let next = self.insts.len();
                        self.insts[split] = Inst::Split { first: split + 1, second: next };
                    } else {
                        self.emit(alt)?;
                    }
                }
                let end = self.insts.len();
                for j in jumps {
                    self.insts[j] = Inst::Jump(end);
                }
            }
            HirKind::Repetition(rep) => {
                if let Some(set) = self.single(&rep.sub) {
                    self.insts.push(Inst::Run {
                        set,
                        min: rep.min,
                        max: rep.max,
                        greedy: rep.greedy,
                        possessive: false,
                    });
                    return Some(());
                }
                // A group: a fixed number of times, or optional.
                match (rep.min, rep.max) {
                    (n, Some(m)) if n == m && n <= 8 => {
                        for _ in 0..n {
                            self.emit(&rep.sub)?;
                        }
                    }
                    (0, Some(1)) => {
                        let split = self.insts.len();
                        self.insts.push(Inst::Jump(0));
                        self.emit(&rep.sub)?;
                        let end = self.insts.len();
                        self.insts[split] = if rep.greedy {
                            Inst::Split { first: split + 1, second: end }
                        } else {
                            Inst::Split { first: end, second: split + 1 }
                        };
                    }
                    _ => return None,
                }
            }
        }
        Some(())
    }

    /// A greedy run followed (past captures) by a literal starting outside its set, or by the
    /// end, keeps everything it took: a shorter run leaves a character of the set where the
    /// literal (or the end) would have to begin.
    fn mark_possessive(&mut self) {
        for i in 0..self.insts.len() {
            let Inst::Run { set, greedy: true, .. } = self.insts[i] else { continue };
            let mut j = i + 1;
            while let Some(Inst::Save(_)) = self.insts.get(j) {
                j += 1;
            }
            let keeps = match self.insts.get(j) {
                Some(Inst::End) => true,
                Some(Inst::Lit(bytes)) => {
                    bytes.first().is_some_and(|&b| b < 0x80 && !self.sets[set].has_ascii(b))
                }
                _ => false,
            };
            if let Inst::Run { possessive, .. } = &mut self.insts[i] {
                *possessive = keeps;
            }
        }
    }

    /// Runs the program at the start of `text`. `None`: left to `regex` (budget or stack
    /// exhausted); `Some(None)`: no match.
    fn run<'t>(&self, text: &'t str, want_spans: bool) -> Option<Option<Spans<'t>>> {
        let bytes = text.as_bytes();
        let mut slots = [NONE; 2 * MAX_GROUPS];
        let mut stack =
            Stack { inline: [Frame::Nothing; INLINE_FRAMES], len: 0, spill: Vec::new() };
        let mut budget: usize = 64 + 16 * bytes.len();
        let (mut pc, mut pos) = (0usize, 0usize);
        loop {
            budget = budget.checked_sub(1)?;
            let ok = match &self.insts[pc] {
                Inst::Lit(lit) => {
                    let ok = bytes.get(pos..).is_some_and(|rest| rest.starts_with(lit));
                    if ok {
                        pos += lit.len();
                        pc += 1;
                    }
                    ok
                }
                Inst::Char(set) => match self.sets[*set].step(text, pos) {
                    Some(n) => {
                        pos += n;
                        pc += 1;
                        true
                    }
                    None => false,
                },
                &Inst::Run { set, min, max, greedy: true, possessive } => {
                    let (end, count) = self.sets[set].run(text, pos, max.unwrap_or(u32::MAX));
                    pos = end;
                    budget = budget.checked_sub(count as usize / 8)?;
                    let ok = count >= min;
                    if ok {
                        if !possessive && count > min {
                            stack.push(Frame::Shorter { pc: pc + 1, pos, count, min })?;
                        }
                        pc += 1;
                    }
                    ok
                }
                &Inst::Run { set, min, max, greedy: false, .. } => {
                    let cs = &self.sets[set];
                    let mut count = 0u32;
                    let mut ok = true;
                    while count < min {
                        match cs.step(text, pos) {
                            Some(n) => {
                                pos += n;
                                count += 1;
                            }
                            None => {
                                ok = false;
                                break;
                            }
                        }
                    }
                    if ok {
                        let max = max.unwrap_or(u32::MAX);
                        if count < max {
                            stack.push(Frame::Longer { pc: pc + 1, set, pos, count, max })?;
                        }
                        pc += 1;
                    }
                    ok
                }
                &Inst::Split { first, second } => {
                    stack.push(Frame::Alt { pc: second, pos })?;
                    pc = first;
                    true
                }
                &Inst::Jump(to) => {
                    pc = to;
                    true
                }
                &Inst::Save(slot) => {
                    if stack.len > 0 {
                        stack.push(Frame::Restore { slot, old: slots[slot] })?;
                    }
                    slots[slot] = pos;
                    pc += 1;
                    true
                }
                Inst::End => {
                    let ok = pos == bytes.len();
                    pc += 1;
                    ok
                }
                Inst::Match => {
                    let groups = if want_spans { self.groups } else { 0 };
                    return Some(Some(Spans::Fast { slots, groups }));
                }
            };
            if ok {
                continue;
            }
            // Backtrack to the latest choice point.
            loop {
                budget = budget.checked_sub(1)?;
                match stack.pop() {
                    None => return Some(None),
                    Some(Frame::Nothing) => {}
                    Some(Frame::Restore { slot, old }) => slots[slot] = old,
                    Some(Frame::Alt { pc: to, pos: at }) => {
                        (pc, pos) = (to, at);
                        break;
                    }
                    Some(Frame::Shorter { pc: to, pos: at, count, min }) => {
                        // Give back the last character.
                        let mut back = at - 1;
                        while !text.is_char_boundary(back) {
                            back -= 1;
                        }
                        let count = count - 1;
                        if count > min {
                            stack.push(Frame::Shorter { pc: to, pos: back, count, min })?;
                        }
                        (pc, pos) = (to, back);
                        break;
                    }
                    Some(Frame::Longer { pc: to, set, pos: at, count, max }) => {
                        if let Some(n) = self.sets[set].step(text, at) {
                            let count = count + 1;
                            if count < max {
                                stack.push(Frame::Longer {
                                    pc: to,
                                    set,
                                    pos: at + n,
                                    count,
                                    max,
                                })?;
                            }
                            (pc, pos) = (to, at + n);
                            break;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The built-in text systems' patterns and a few that exercise every instruction.
    const PATTERNS: &[&str] = &[
        r"^\S+ CMF[: ]",
        r"^(?P<timestamp>\S+) CMF: (?P<checkpoint_id>\S+) - (?P<status>\w+) \(ID: (?P<correlation_id>[^)]+)\)$",
        r"^(?P<timestamp>\S+) CMF CMF_ERROR: \(ID: (?P<correlation_id>[^)]+)\) - (?P<failure_reason>.*)$",
        r"^\S+ BCIS: ",
        r"^(?P<timestamp>\S+) BCIS: (?P<checkpoint_id>\S+) - (?P<status>\w+) \(ID: (?P<correlation_id>[^)]+)\)(?: - (?P<failure_reason>.*))?$",
        r"^(a+)(a+)$",
        r"^(a*?)(a*)b",
        r"^(\w+)\s*=\s*(.*?)\s*$",
        r"^(?i)id: (\w{2,4}) (x|xy|xyz)(z?)$",
        r"^(?:ab|a)(b)?c",
        r"^([^,]*),([^,]*),(.*)",
        r"^é+(ü|ß)?(.)$",
        r"^(?:(\d{4})-)?(\d\d)",
        r"^.{0,3}?(x)",
        r"^(a|b){3}c$",
        r"^()$",
        r"^[^\s]+ +(?P<rest>.+)",
    ];

    /// Patterns the fast matcher leaves to `regex`.
    const SLOW: &[&str] = &[r"CMF", r"^a\b", r"(?m)^a$", r"^(ab)+", r"^(?-u:\w)", r"a|^b"];

    fn compare(re: &Pattern, text: &str) {
        if let Some(found) = re.fast_captures(text) {
            assert_eq!(found, re.slow_captures(text), "{} on {text:?}", re.regex().as_str());
        }
        if let Some(found) = re.fast_is_match(text) {
            assert_eq!(found, re.slow_is_match(text), "{} on {text:?}", re.regex().as_str());
        }
        let spans = re.captures(text);
        assert_eq!(spans.is_some(), re.slow_is_match(text));
        if let (Some(spans), Some(want)) = (spans, re.slow_captures(text)) {
            for (g, w) in want.iter().enumerate() {
                assert_eq!(spans.get(text, g), w.map(|(a, b)| &text[a..b]));
            }
        }
    }

    fn pattern(p: &str) -> Pattern {
        Pattern::new(Regex::new(p).unwrap())
    }

    #[test]
    fn reads_the_usual_patterns_and_leaves_the_rest_to_regex() {
        for p in PATTERNS {
            assert!(pattern(p).is_fast(), "{p}");
        }
        for p in SLOW {
            assert!(!pattern(p).is_fast(), "{p}");
        }
    }

    #[test]
    fn agrees_with_regex_on_seed_lines() {
        let lines = [
            "2025-05-04T10:30:07 CMF: CMF_CHECKPOINT_1 - SUCCESS (ID: 5ca3764b-7304-000002)",
            "2025-05-04T10:30:10 CMF CMF_ERROR: (ID: 5ca3764b-7304-000002) - CMF_FAILURE_REASON_2",
            "2025-05-04T10:30:09 BCIS: BCIS_INITIALIZED - SUCCESS (ID: bbf83318-2ead-000001)",
            "2025-05-04T10:30:09 BCIS: BCIS_X - FAILURE (ID: bbf83318-2ead-000001) - why (not)",
            "2025-05-04T10:30:09 BCIS: BCIS_X - FAILURE (ID: bbf83318-2ead-000001) - ",
            "2025-05-04T10:30:09 BCIS: BCIS_X - FAILURE (ID: bbf83318-2ead-000001) -",
            "2025-05-04T10:30:09 BCIS: BCIS_X - FAILURE (ID: a) - b\nc",
            "2025-05-04T10:30:09 BCIS: BCIS_X - FAILURE (ID: )",
            "2025-05-04T10:30:09 BCIS: BCIS_X - FAILURÉ (ID: a)",
            "2025-05-04T10:30:09  CMF: x - SUCCESS (ID: a)",
            " CMF: x - SUCCESS (ID: a)",
            "aaaa",
            "aaab",
            "key = value  ",
            "ID: ABC xyzz",
            "id: ab xy",
            "abc",
            "abbc",
            "a,b,c,d",
            "ééüx",
            "éé\n",
            "2025-05",
            "05",
            "abx",
            "abac",
            "",
            "x  tail",
        ];
        for p in PATTERNS.iter().chain(SLOW) {
            let re = pattern(p);
            for l in lines {
                compare(&re, l);
            }
        }
    }

    #[test]
    fn long_backtracking_goes_to_regex() {
        let re = pattern(r"^(a*)(a*)(a*)(a*)b$");
        let text = "a".repeat(200);
        assert_eq!(re.fast_captures(&text), None);
        compare(&re, &text);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn agrees_with_regex_on_any_line(
            i in 0..PATTERNS.len(),
            text in "[a-cxyzIDSUCE\\-:() ,=é\u{2003}\\n0-9_]{0,40}",
        ) {
            compare(&pattern(PATTERNS[i]), &text);
        }

        #[test]
        fn agrees_with_regex_on_edited_seed_lines(
            i in 0..5usize,
            line in proptest::sample::select(vec![
                "2025-05-04T10:30:07 CMF: CMF_CHECKPOINT_1 - SUCCESS (ID: 5ca3764b-7304-000002)",
                "2025-05-04T10:30:10 CMF CMF_ERROR: (ID: 5ca3764b-7304-000002) - CMF_FAILURE_REASON_2",
                "2025-05-04T10:30:09 BCIS: BCIS_X - FAILURE (ID: bbf83318-2ead-000001) - why",
            ]),
            at in 0..90usize,
            insert in "[ ()\\-:a\n\u{2003}é]{0,3}",
            cut in 0..4usize,
        ) {
            let mut text = line.to_owned();
            let mut at = at.min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let mut end = (at + cut).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            text.replace_range(at..end, &insert);
            compare(&pattern(PATTERNS[i]), &text);
        }
    }
}
