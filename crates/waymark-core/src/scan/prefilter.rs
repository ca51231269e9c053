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

/// `pattern` without its Unicode word-boundary assertions: it matches wherever `pattern`
/// matches (and maybe more), and the lazy DFA never has to give up on it. The pattern itself
/// if it cannot be parsed here (it compiled, so this does not happen).
pub(super) fn relax(pattern: &str) -> String {
    let parsed = regex_syntax::ParserBuilder::new()
        .multi_line(true)
        .crlf(true)
        .utf8(false)
        .build()
        .parse(pattern);
    match parsed {
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
