//! Globs with `*` (any text, possibly empty): job names, checkpoints and correlation ids.

/// A compiled glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    parts: Vec<String>,
    text: String,
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        Glob { parts: pattern.split('*').map(str::to_owned).collect(), text: pattern.to_owned() }
    }

    /// Matches everything.
    pub fn any() -> Glob {
        Glob::new("*")
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_match(&self, s: &str) -> bool {
        let Some((first, rest)) = self.parts.split_first() else { return s.is_empty() };
        let Some(mut s) = s.strip_prefix(first.as_str()) else { return false };
        let Some((last, middle)) = rest.split_last() else { return s.is_empty() };
        for part in middle {
            match s.find(part.as_str()) {
                Some(at) => s = &s[at + part.len()..],
                None => return false,
            }
        }
        s.len() >= last.len() && s.ends_with(last.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    #[test]
    fn globs() {
        let cases = [
            ("*", "", true),
            ("*", "abc", true),
            ("FINALIZED", "FINALIZED", true),
            ("FINALIZED", "FINALIZED_X", false),
            ("*_FINALIZED", "REPORT_FINALIZED", true),
            ("*_FINALIZED", "FINALIZED", false),
            ("s_m_*", "s_m_load", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "acb", false),
            ("ab*ba", "aba", false),
            ("ORD-*", "ord-1", false),
        ];
        for (g, s, want) in cases {
            assert_eq!(Glob::new(g).is_match(s), want, "{g} ~ {s}");
        }
    }
}
