//! The one regex that finds candidate lines for many patterns at once (see `matcher.rs`).

use memchr::{memchr, memrchr};
use regex::bytes::{Regex, RegexBuilder};
use regex_syntax::hir::{Hir, HirKind, Look};

/// One regex matching wherever any of `patterns` matches.
pub(super) fn alternation<S: AsRef<str>>(
    patterns: &[S],
    size_limit: usize,
) -> Result<Regex, regex::Error> {
    let alternation: Vec<String> = patterns.iter().map(|p| format!("(?:{})", p.as_ref())).collect();
    RegexBuilder::new(&alternation.join("|"))
        .multi_line(true)
        .crlf(true)
        .size_limit(size_limit)
        .build()
}

/// Literals one of which is in every match of `pattern` (found by the parser of [`relax`]),
/// or `None` when the pattern has no such set (a class, an optional part, case folding).
/// Of the sets a pattern offers, the rarest in logs is guessed: long literals, with a byte
/// other than a letter, digit or space (`##[`, `.py:`, `>`), and few of them (one of
/// `INFO|WARN|ERROR` is on most lines).
pub(super) fn required_literals(pattern: &str) -> Option<Vec<Vec<u8>>> {
    let hir = parser().parse(pattern).ok()?;
    required(&hir)
}

/// How rare a set of literals is guessed to be (higher: rarer); see [`required_literals`].
fn score(set: &[Vec<u8>]) -> i64 {
    let weight = |l: &Vec<u8>| {
        let punctuation = l.iter().any(|b| !b.is_ascii_alphanumeric() && *b != b' ');
        l.len() as i64 + if punctuation { 2 } else { 0 }
    };
    2 * set.iter().map(weight).min().unwrap_or(0) - (set.len() as i64 - 1)
}

fn required(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    match hir.kind() {
        HirKind::Literal(lit) if !lit.0.is_empty() => Some(vec![lit.0.to_vec()]),
        HirKind::Capture(cap) => required(&cap.sub),
        HirKind::Repetition(rep) if rep.min >= 1 => match rep.sub.kind() {
            // `={10,}`: the literal as many times as it must be there (bounded).
            HirKind::Literal(lit) if !lit.0.is_empty() => {
                Some(vec![lit.0.repeat((rep.min as usize).min(16))])
            }
            _ => required(&rep.sub),
        },
        // The first of the best: a pattern's leading literal is often its anchor.
        HirKind::Concat(subs) => {
            subs.iter().filter_map(required).fold(None, |best, set| match best {
                Some(b) if score(&b) >= score(&set) => Some(b),
                _ => Some(set),
            })
        }
        HirKind::Alternation(subs) => {
            let mut all = Vec::new();
            for sub in subs {
                all.extend(required(sub)?);
            }
            Some(all)
        }
        _ => None,
    }
}

fn parser() -> regex_syntax::Parser {
    regex_syntax::ParserBuilder::new().multi_line(true).crlf(true).utf8(false).build()
}

/// `pattern` without its Unicode word-boundary assertions: it matches wherever `pattern`
/// matches (and maybe more), and the lazy DFA never has to give up on it. The pattern itself
/// if it cannot be parsed here (it compiled, so this does not happen).
pub(super) fn relax(pattern: &str) -> String {
    match parser().parse(pattern) {
        Ok(hir) => without_unicode_word_boundaries(hir).to_string(),
        Err(_) => pattern.to_owned(),
    }
}

fn without_unicode_word_boundaries(hir: Hir) -> Hir {
    match hir.kind() {
        HirKind::Look(look) if is_unicode_word_look(*look) => Hir::empty(),
        HirKind::Concat(subs) => {
            Hir::concat(subs.iter().cloned().map(without_unicode_word_boundaries).collect())
        }
        HirKind::Alternation(subs) => {
            Hir::alternation(subs.iter().cloned().map(without_unicode_word_boundaries).collect())
        }
        HirKind::Repetition(rep) => {
            let mut rep = rep.clone();
            rep.sub = Box::new(without_unicode_word_boundaries(*rep.sub));
            Hir::repetition(rep)
        }
        HirKind::Capture(cap) => {
            let mut cap = cap.clone();
            cap.sub = Box::new(without_unicode_word_boundaries(*cap.sub));
            Hir::capture(cap)
        }
        _ => hir,
    }
}

fn is_unicode_word_look(look: Look) -> bool {
    matches!(
        look,
        Look::WordUnicode
            | Look::WordUnicodeNegate
            | Look::WordStartUnicode
            | Look::WordEndUnicode
            | Look::WordStartHalfUnicode
            | Look::WordEndHalfUnicode
    )
}

/// The start of the line holding `at`, not before `from` (a line start).
pub(super) fn line_start(block: &[u8], from: usize, at: usize) -> usize {
    memrchr(b'\n', &block[from..at]).map_or(from, |i| from + i + 1)
}

/// The end of the line holding `at` (its `\n`, or the block's end).
pub(super) fn line_end(block: &[u8], at: usize) -> usize {
    memchr(b'\n', &block[at..]).map_or(block.len(), |i| at + i)
}

#[cfg(test)]
mod tests {
    use super::required_literals;

    fn set(pattern: &str) -> Option<Vec<String>> {
        let lits = required_literals(pattern)?;
        Some(lits.into_iter().map(|l| String::from_utf8(l).expect("utf-8")).collect())
    }

    #[test]
    fn required_literals_are_in_every_match() {
        assert_eq!(set(r"^\[[0-9]{2}\] Batch [0-9]+"), Some(vec!["] Batch ".to_owned()]));
        assert_eq!(set(r"^={10,} [0-9]+ \| x"), Some(vec!["==========".to_owned()]));
        assert_eq!(set("(?:^|> )TM_6014[ :]"), Some(vec!["TM_6014".to_owned()]));
        assert_eq!(set("ab|cde"), Some(vec!["ab".to_owned(), "cde".to_owned()]));
        // A rare literal rather than words found on most lines.
        let iics = "^> ?[A-Z]{2,6}_[0-9]{3,} (?:INFO|WARN|WARNING|ERROR) [0-9]{4}-[0-9]{2}";
        assert_eq!(set(iics), Some(vec![">".to_owned()]));
        let github =
            r"^[0-9]{4}-[0-9]{2}T[0-9:.]+Z (?:##\[(?:group|error)\]|Current runner version)";
        let want = ["##[", "Current runner version"].map(str::to_owned).to_vec();
        assert_eq!(set(github), Some(want));
        // A branch without a literal, an optional part or case folding: no set.
        assert_eq!(set("ab|[0-9]+"), None);
        assert_eq!(set("(?:abc)?[0-9]"), None);
        assert_eq!(set("(?i)error"), None);
        assert_eq!(set(r"x(?i:error)"), Some(vec!["x".to_owned()]));
    }
}
