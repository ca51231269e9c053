//! The system type of a file, from signatures in its content (never from its name).

use aho_corasick::{AhoCorasick, Input, MatchKind};
use regex::bytes::Regex;

use super::line::strip_ansi;
use super::prefilter::{alternation, line_end, line_start, relax, required_literals};
use super::UNKNOWN;

/// One system type's signature: any of its patterns found in the head classifies the file.
#[derive(Debug, Clone)]
pub struct Signature {
    pub system_type: String,
    pub priority: i32,
    pub patterns: Vec<Regex>,
}

/// A file's type and the evidence for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub system_type: String,
    /// Which signature pattern matched, and on which line of the head; `None` for UNKNOWN.
    pub evidence: Option<String>,
}

/// Signatures in the order they are tried: highest priority first, then as declared.
#[derive(Debug, Clone, Default)]
pub struct Classifier {
    signatures: Vec<Signature>,
    /// Every pattern of every signature (relaxed, as the matcher's), in one regex that finds
    /// the lines worth trying the patterns on. See: issue 15.
    any: Option<Regex>,
    /// (signature, pattern) in the order they are tried: the first that matches wins.
    index: Vec<(usize, usize)>,
    /// Literals one of which every pattern's match contains: a line without any of them
    /// cannot match, and `any` runs only on the lines that have one. Most signature patterns
    /// start with a class (`^[0-9]{4}-`), so `any` alone has no literal prefilter and its
    /// lazy DFA reads every byte of every head (13 % of a literal-rule scan). `None` when
    /// too many patterns have no rare literal. See: issue 15.
    required: Option<Literals>,
}

/// The lines worth trying, found by literals (see [`Classifier::required`]).
#[derive(Debug, Clone)]
struct Literals {
    /// The rare literals of most patterns.
    searcher: AhoCorasick,
    /// The other patterns (an index into `index`, its relaxed regex): each searched alone,
    /// with the regex's own prefilter. A short literal (`>`) would make most lines
    /// candidates, and slow the literal searcher down.
    alone: Vec<(usize, Regex)>,
}

/// Literals shorter than this are not rare enough for [`Literals::searcher`].
const RARE_LEN: usize = 3;
/// More patterns than this without a rare literal: [`Literals`] would not pay.
const MAX_ALONE: usize = 3;

impl Classifier {
    pub fn new(mut signatures: Vec<Signature>) -> Classifier {
        // A stable sort keeps the declared order among equal priorities.
        signatures.sort_by_key(|s| std::cmp::Reverse(s.priority));
        let mut index = Vec::new();
        let mut patterns = Vec::new();
        for (i, sig) in signatures.iter().enumerate() {
            for (j, re) in sig.patterns.iter().enumerate() {
                index.push((i, j));
                patterns.push(re.as_str());
            }
        }
        // Each pattern compiled alone, so the alternation compiles too; if it grows too big,
        // the patterns are tried one by one over the whole head.
        let relaxed: Vec<String> = patterns.iter().map(|p| relax(p)).collect();
        let any = if patterns.is_empty() { None } else { alternation(&relaxed, 1 << 26).ok() };
        let required = if any.is_some() { literals(&patterns, &relaxed) } else { None };
        Classifier { signatures, any, index, required }
    }

    /// Classifies a file from its first bytes ([`super::HEAD_BYTES`] are enough). CI logs
    /// embed other tools' output, so their signatures carry a higher priority.
    pub fn classify(&self, head: &[u8]) -> Classification {
        let head = strip_ansi(head);
        let first = match (&self.any, &self.required) {
            (Some(any), Some(required)) => {
                self.first_by_literal(any, required, &head).map(|k| self.index[k])
            }
            (Some(any), None) => self.first_by_line(any, &head).map(|k| self.index[k]),
            (None, _) => self
                .index
                .iter()
                .copied()
                .find(|&(i, j)| self.signatures[i].patterns[j].is_match(&head)),
        };
        let Some((i, j)) = first else {
            return Classification { system_type: UNKNOWN.to_owned(), evidence: None };
        };
        let (sig, re) = (&self.signatures[i], &self.signatures[i].patterns[j]);
        let start = re.find(&head).map_or(0, |m| m.start());
        let line = memchr::memchr_iter(b'\n', &head[..start]).count() + 1;
        Classification {
            system_type: sig.system_type.clone(),
            evidence: Some(format!("/{}/ at line {line}", re.as_str())),
        }
    }

    /// The first pattern (an index into `index`) that matches a line of `head`: the patterns
    /// are tried only on the lines `any` finds, each line with its line end, so that `^`, `$`
    /// and `\b` see what they see in the whole head. Signature patterns match within a line
    /// (as rules do): a match spanning lines is not looked for.
    fn first_by_line(&self, any: &Regex, head: &[u8]) -> Option<usize> {
        let mut best: Option<usize> = None;
        let mut pos = 0;
        while pos < head.len() && best != Some(0) {
            let Some(m) = any.find_at(head, pos) else { break };
            let start = line_start(head, pos, m.start());
            let end = line_end(head, m.start());
            let line = &head[start..(end + 1).min(head.len())];
            best = self.first_in_line(line, best);
            pos = end + 1;
        }
        best
    }

    /// As [`Classifier::first_by_line`], with the lines found by their required literals: the
    /// same lines are tried (a line where a pattern matches has one of its literals), `any`
    /// first, and the same answer results.
    fn first_by_literal(&self, any: &Regex, required: &Literals, head: &[u8]) -> Option<usize> {
        let mut best: Option<usize> = None;
        let mut pos = 0;
        while pos < head.len() && best != Some(0) {
            let input = Input::new(head).span(pos..head.len());
            let Some(m) = required.searcher.find(input) else { break };
            let start = line_start(head, pos, m.start());
            let end = line_end(head, m.start());
            let line = &head[start..(end + 1).min(head.len())];
            if any.is_match(line) {
                best = self.first_in_line(line, best);
            }
            pos = end + 1;
        }
        // The patterns without a rare literal, each over the whole head, as long as they
        // could still win.
        for (k, relaxed) in &required.alone {
            if best.is_some_and(|b| b <= *k) {
                break;
            }
            let (i, j) = self.index[*k];
            if self.matches_a_line(relaxed, &self.signatures[i].patterns[j], head) {
                best = Some(*k);
            }
        }
        best
    }

    /// Whether `pattern` matches within a line of `head`, the lines found by `relaxed` (as
    /// in [`Classifier::first_by_line`]).
    fn matches_a_line(&self, relaxed: &Regex, pattern: &Regex, head: &[u8]) -> bool {
        let mut pos = 0;
        while pos < head.len() {
            let Some(m) = relaxed.find_at(head, pos) else { return false };
            let start = line_start(head, pos, m.start());
            let end = line_end(head, m.start());
            if pattern.is_match(&head[start..(end + 1).min(head.len())]) {
                return true;
            }
            pos = end + 1;
        }
        false
    }

    /// The first pattern before `best` that matches `line`, else `best`.
    fn first_in_line(&self, line: &[u8], best: Option<usize>) -> Option<usize> {
        let tried = best.unwrap_or(self.index.len());
        (0..tried)
            .find(|&k| {
                let (i, j) = self.index[k];
                self.signatures[i].patterns[j].is_match(line)
            })
            .or(best)
    }

    /// Whether lines are found by the required literals of the signature patterns.
    pub fn has_literal_prefilter(&self) -> bool {
        self.required.is_some()
    }

    /// The same classifier, finding lines with `any` alone (to compare both ways in tests).
    #[cfg(test)]
    pub(crate) fn without_literal_prefilter(mut self) -> Classifier {
        self.required = None;
        self
    }

    /// The types the signatures can assign.
    pub fn system_types(&self) -> Vec<String> {
        self.signatures.iter().map(|s| s.system_type.clone()).collect()
    }
}

/// The literal searcher of most patterns, and the patterns searched alone; `None` when too
/// many have no rare literal, or a literal holds a line end (a line could then match
/// without holding it whole).
fn literals(patterns: &[&str], relaxed: &[String]) -> Option<Literals> {
    let mut rare = Vec::new();
    let mut alone = Vec::new();
    for (k, p) in patterns.iter().enumerate() {
        match required_literals(p) {
            Some(set) if set.iter().all(|l| l.len() >= RARE_LEN) => rare.extend(set),
            _ => alone.push((k, alternation(&relaxed[k..=k], 1 << 26).ok()?)),
        }
    }
    if rare.iter().any(|l| l.contains(&b'\n')) || alone.len() > MAX_ALONE {
        return None;
    }
    let searcher = AhoCorasick::builder().match_kind(MatchKind::LeftmostFirst).build(&rare).ok()?;
    Some(Literals { searcher, alone })
}
