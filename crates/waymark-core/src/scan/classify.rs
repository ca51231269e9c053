//! The system type of a file, from signatures in its content (never from its name).

use regex::bytes::Regex;

use super::line::strip_ansi;
use super::prefilter::{alternation, line_end, line_start, relax};
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
}

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
        Classifier { signatures, any, index }
    }

    /// Classifies a file from its first bytes ([`super::HEAD_BYTES`] are enough). CI logs
    /// embed other tools' output, so their signatures carry a higher priority.
    pub fn classify(&self, head: &[u8]) -> Classification {
        let head = strip_ansi(head);
        let first = match &self.any {
            Some(any) => self.first_by_line(any, &head).map(|k| self.index[k]),
            None => self
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
            let tried = best.unwrap_or(self.index.len());
            best = (0..tried)
                .find(|&k| {
                    let (i, j) = self.index[k];
                    self.signatures[i].patterns[j].is_match(line)
                })
                .or(best);
            pos = end + 1;
        }
        best
    }

    /// The types the signatures can assign.
    pub fn system_types(&self) -> Vec<String> {
        self.signatures.iter().map(|s| s.system_type.clone()).collect()
    }
}
