//! The system type of a file, from signatures in its content (never from its name).

use regex::bytes::Regex;

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
}

impl Classifier {
    pub fn new(mut signatures: Vec<Signature>) -> Classifier {
        // A stable sort keeps the declared order among equal priorities.
        signatures.sort_by_key(|s| std::cmp::Reverse(s.priority));
        Classifier { signatures }
    }

    /// Classifies a file from its first bytes ([`super::HEAD_BYTES`] are enough). CI logs
    /// embed other tools' output, so their signatures carry a higher priority.
    pub fn classify(&self, head: &[u8]) -> Classification {
        let head = strip_ansi(head);
        for sig in &self.signatures {
            for re in &sig.patterns {
                if let Some(m) = re.find(&head) {
                    let line = memchr::memchr_iter(b'\n', &head[..m.start()]).count() + 1;
                    return Classification {
                        system_type: sig.system_type.clone(),
                        evidence: Some(format!("/{}/ at line {line}", re.as_str())),
                    };
                }
            }
        }
        Classification { system_type: UNKNOWN.to_owned(), evidence: None }
    }

    /// The types the signatures can assign.
    pub fn system_types(&self) -> Vec<String> {
        self.signatures.iter().map(|s| s.system_type.clone()).collect()
    }
}
