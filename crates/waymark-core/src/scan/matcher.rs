//! All rules in one matcher, run over whole blocks of lines.
//!
//! The search is ripgrep's: one regex (every rule's pattern in one alternation) runs over the
//! block; at a hit, `memchr` finds the line around it, the rules are tried on that line in
//! priority order (the first that matches is the best; one `is_match` with its own literal
//! prefilter each, cheaper than a `RegexSet`'s overlapping search), and the search resumes
//! after the line. Because the regex finds the leftmost
//! match, no line before the hit can match, so nothing is missed; a match that spans lines
//! only costs one rejected check.
//!
//! Two things keep that regex on its fast path (a literal prefilter, then the lazy DFA):
//! - It is a *relaxed* alternation: Unicode word boundaries (`\b`) are dropped from it, so it
//!   matches a superset of the lines the rules match (each rule checks them exactly). A
//!   Unicode `\b` makes the lazy DFA give up at the first non-ASCII byte and the whole rest
//!   of the block is then searched by the much slower PikeVM: one Jenkins console with four
//!   non-ASCII lines took a second for 700 KB (ripgrep has the same problem).
//! - Lines with escape sequences (colour codes, Jenkins ConsoleNotes) are found by `memchr`
//!   and checked one by one after stripping the escapes, instead of adding `\x1b` to the
//!   alternation: a one-byte literal disables the multi-literal (Teddy) prefilter, which made
//!   a literal rule list 8 times slower. See: issue 15.

use std::borrow::Cow;

use memchr::{memchr, memchr_iter};
use regex::bytes::{Regex, RegexBuilder};

use super::csv::{split_fields, CsvLayout};
use super::line::strip_ansi;
use super::prefilter::{alternation, line_end, line_start, relax};
use super::Severity;

/// Compiled regexes may use this much memory each.
const SIZE_LIMIT: usize = 1 << 24;

/// One named rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub severity: Severity,
    /// System types it applies to; empty for all.
    pub systems: Vec<String>,
    /// For CSV logs: the column it searches.
    pub column: Option<String>,
    /// The regex source (keywords escaped and joined).
    pub pattern: String,
    regex: Regex,
}

/// Builds a [`Rule`] from a regex or a keyword list.
#[derive(Debug, Clone)]
pub struct RuleBuilder {
    name: String,
    severity: Severity,
    systems: Vec<String>,
    column: Option<String>,
}

impl RuleBuilder {
    pub fn new(name: &str, severity: Severity) -> RuleBuilder {
        RuleBuilder { name: name.to_owned(), severity, systems: Vec::new(), column: None }
    }

    pub fn systems(&mut self, systems: &[String]) -> &mut RuleBuilder {
        self.systems = systems.to_vec();
        self
    }

    pub fn column(&mut self, column: Option<&str>) -> &mut RuleBuilder {
        self.column = column.map(str::to_owned);
        self
    }

    /// A rule matching lines where `pattern` matches.
    pub fn regex(&self, pattern: &str) -> Result<Rule, String> {
        let regex = compile(pattern)?;
        Ok(Rule {
            name: self.name.clone(),
            severity: self.severity,
            systems: self.systems.clone(),
            column: self.column.clone(),
            pattern: pattern.to_owned(),
            regex,
        })
    }

    /// A rule matching lines that contain any of `keywords` (taken literally).
    pub fn keywords(&self, keywords: &[String], ignore_case: bool) -> Result<Rule, String> {
        if keywords.iter().any(|k| k.is_empty()) {
            return Err("a keyword is empty (it would match every line)".to_owned());
        }
        let alternation: Vec<String> = keywords.iter().map(|k| regex::escape(k)).collect();
        let flags = if ignore_case { "(?i)" } else { "" };
        self.regex(&format!("{flags}(?:{})", alternation.join("|")))
    }
}

fn compile(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .multi_line(true)
        .crlf(true)
        .size_limit(SIZE_LIMIT)
        .build()
        .map_err(|e| e.to_string())
}

/// Every enabled rule, compiled.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    rules: Vec<Rule>,
    /// The line rules, most severe first, then in declared order.
    by_priority: Vec<usize>,
    /// The prefilter over blocks: every line rule, relaxed (see the module doc).
    any: Option<Regex>,
}

impl Matcher {
    pub fn new(rules: Vec<Rule>) -> Result<Matcher, String> {
        let line_rules: Vec<usize> =
            rules.iter().enumerate().filter(|(_, r)| r.column.is_none()).map(|(i, _)| i).collect();
        let patterns: Vec<&str> = line_rules.iter().map(|&i| rules[i].pattern.as_str()).collect();
        let any = if patterns.is_empty() {
            None
        } else {
            let relaxed: Vec<String> = patterns.iter().map(|p| relax(p)).collect();
            let any = alternation(&relaxed, SIZE_LIMIT * 4)
                .or_else(|_| alternation(&patterns, SIZE_LIMIT * 4))
                .map_err(|e| e.to_string())?;
            Some(any)
        };
        let mut by_priority = line_rules;
        by_priority.sort_by_key(|&i| std::cmp::Reverse(rules[i].severity));
        Ok(Matcher { rules, by_priority, any })
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rules that apply to one file: its system type and, for a CSV log, its header.
    pub fn view(&self, system_type: &str, csv: Option<&CsvLayout>) -> View<'_> {
        let applies = |r: &Rule| r.systems.is_empty() || r.systems.iter().any(|s| s == system_type);
        let allowed: Vec<bool> = self.rules.iter().map(applies).collect();
        let mut columns = Vec::new();
        if let Some(layout) = csv {
            for (i, r) in self.rules.iter().enumerate().filter(|(i, _)| allowed[*i]) {
                if let Some(col) = r.column.as_deref().and_then(|c| layout.index(c)) {
                    columns.push((i, col));
                }
            }
        }
        let delimiter = csv.map_or(b',', |l| l.delimiter);
        View { matcher: self, allowed, columns, delimiter }
    }
}

/// One matched line of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit<'a> {
    /// 0-based line index within the block.
    pub line_index: u64,
    /// Offset of the line's first byte within the block.
    pub offset: usize,
    /// The line, without its line end.
    pub line: &'a [u8],
    /// The winning rule (most severe, then first declared), an index into [`Matcher::rules`].
    pub rule: usize,
}

/// The rules of one file.
#[derive(Debug)]
pub struct View<'m> {
    matcher: &'m Matcher,
    allowed: Vec<bool>,
    /// (rule, column index) of the column rules this file's header supports.
    columns: Vec<(usize, usize)>,
    delimiter: u8,
}

impl View<'_> {
    pub fn rule(&self, index: usize) -> &Rule {
        &self.matcher.rules[index]
    }

    /// Calls `hit` for each matching line of `block` and returns the number of lines in it.
    /// Every `\n` ends a line; bytes after the last one are a last line (the caller passes
    /// only complete lines, or a final line it knows is complete).
    pub fn scan(&self, block: &[u8], mut hit: impl FnMut(Hit<'_>)) -> u64 {
        let newlines = if self.columns.is_empty() {
            self.scan_fast(block, &mut hit)
        } else {
            self.scan_each(block, &mut hit)
        };
        newlines + u64::from(!block.is_empty() && !block.ends_with(b"\n"))
    }

    /// Returns the number of `\n`s in `block`, counted once as the hits are found.
    fn scan_fast(&self, block: &[u8], hit: &mut impl FnMut(Hit<'_>)) -> u64 {
        let Some(any) = &self.matcher.any else {
            return memchr_iter(b'\n', block).count() as u64;
        };
        let mut lines = LineCounter::default();
        let mut pos = 0usize;
        while pos < block.len() {
            // The regex searches up to the next line with an escape sequence; that line is
            // checked on its own, escapes stripped.
            let esc_line = memchr(0x1b, &block[pos..]).map(|i| line_start(block, pos, pos + i));
            let limit = esc_line.unwrap_or(block.len());
            let region = &block[..limit];
            while pos < limit {
                let Some(m) = any.find_at(region, pos) else { break };
                let start = line_start(block, pos, m.start());
                let end = line_end(block, m.start());
                let line = trim_cr(&block[start..end]);
                if let Some(rule) = self.best_line_rule(line, None) {
                    hit(Hit {
                        line_index: lines.index_of(block, start),
                        offset: start,
                        line,
                        rule,
                    });
                }
                pos = end + 1;
            }
            let Some(start) = esc_line else { break };
            let end = line_end(block, start);
            let line = trim_cr(&block[start..end]);
            let stripped = strip_ansi(line);
            if any.is_match(&stripped) {
                if let Some(rule) = self.best_of(&stripped, None) {
                    hit(Hit {
                        line_index: lines.index_of(block, start),
                        offset: start,
                        line,
                        rule,
                    });
                }
            }
            pos = end + 1;
        }
        lines.index_of(block, block.len())
    }

    /// The path for CSV logs with column rules: every line is split into fields.
    fn scan_each(&self, block: &[u8], hit: &mut impl FnMut(Hit<'_>)) -> u64 {
        let mut start = 0usize;
        let mut line_index = 0u64;
        while start < block.len() {
            let end = memchr(b'\n', &block[start..]).map_or(block.len(), |i| start + i);
            let line = trim_cr(&block[start..end]);
            let column_rule = self.best_column_rule(line);
            if let Some(rule) = self.best_line_rule(line, column_rule) {
                hit(Hit { line_index, offset: start, line, rule });
            }
            line_index += 1;
            start = end + 1;
        }
        line_index - u64::from(!block.is_empty() && !block.ends_with(b"\n"))
    }

    /// The most severe allowed rule matching `line` (ties: the first declared), considering
    /// `also`, an already matched rule.
    fn best_line_rule(&self, line: &[u8], also: Option<usize>) -> Option<usize> {
        let text: Cow<'_, [u8]> =
            if memchr(0x1b, line).is_some() { strip_ansi(line) } else { Cow::Borrowed(line) };
        self.best_of(&text, also)
    }

    /// Like [`View::best_line_rule`], for a line without escape sequences.
    fn best_of(&self, text: &[u8], also: Option<usize>) -> Option<usize> {
        // Rules in priority order: the first that matches is the best; `also` stops the
        // search where rules can no longer beat it.
        for &rule in &self.matcher.by_priority {
            if let Some(b) = also {
                if self.better(Some(b), rule) == b {
                    return also;
                }
            }
            if self.allowed[rule] && self.matcher.rules[rule].regex.is_match(text) {
                return Some(self.better(also, rule));
            }
        }
        also
    }

    fn best_column_rule(&self, line: &[u8]) -> Option<usize> {
        let fields = split_fields(line, self.delimiter);
        let mut best = None;
        for &(rule, col) in &self.columns {
            let Some(field) = fields.get(col) else { continue };
            if self.matcher.rules[rule].regex.is_match(&strip_ansi(field)) {
                best = Some(self.better(best, rule));
            }
        }
        best
    }

    fn better(&self, best: Option<usize>, rule: usize) -> usize {
        let rules = &self.matcher.rules;
        match best {
            Some(b) if rules[b].severity > rules[rule].severity => b,
            Some(b) if rules[b].severity == rules[rule].severity && b < rule => b,
            _ => rule,
        }
    }
}

/// Counts lines up to each hit, once over the block (hits come in order).
#[derive(Default)]
struct LineCounter {
    counted_to: usize,
    line_index: u64,
}

impl LineCounter {
    /// The 0-based index of the line starting at `start` (not before the last one asked).
    fn index_of(&mut self, block: &[u8], start: usize) -> u64 {
        self.line_index += memchr_iter(b'\n', &block[self.counted_to..start]).count() as u64;
        self.counted_to = start;
        self.line_index
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}
