//! The system type of a file, from signatures in its content (never from its name).

use regex::bytes::{Regex, RegexSet, RegexSetBuilder};

use super::line::strip_ansi;
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
    /// Every pattern of every signature, in the order they are tried, so that one pass over
    /// the head finds them all; the lowest matching index wins.
    set: Option<RegexSet>,
    /// (signature, pattern) of each set index.
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
        // Each pattern compiled alone, so the set compiles too; if it grows too big, the
        // patterns are tried one by one.
        let set = RegexSetBuilder::new(patterns)
            .multi_line(true)
            .crlf(true)
            .size_limit(1 << 26)
            .build()
            .ok();
        Classifier { signatures, set, index }
    }

    /// Classifies a file from its first bytes ([`super::HEAD_BYTES`] are enough). CI logs
    /// embed other tools' output, so their signatures carry a higher priority.
    pub fn classify(&self, head: &[u8]) -> Classification {
        let head = strip_ansi(head);
        let first = match &self.set {
            Some(set) => set.matches(&head).iter().next().map(|k| self.index[k]),
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

    /// The types the signatures can assign.
    pub fn system_types(&self) -> Vec<String> {
        self.signatures.iter().map(|s| s.system_type.clone()).collect()
    }
}
