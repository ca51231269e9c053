//! Text helpers shared by the extractors: lines of a document, escapes, bounds and times.

use std::borrow::Cow;
use std::sync::LazyLock;

use jiff::tz::TimeZone;
use regex::Regex;

use crate::normalize::{TimeParser, TsFormat};

/// Longest line an extractor looks at; the rest of a longer line is ignored.
const MAX_LINE: usize = 64 * 1024;

/// ANSI colour sequences and Jenkins ConsoleNotes (`ESC[8mha:<base64>ESC[0m`).
static ESCAPES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\x1b\[8mha:[A-Za-z0-9+/=]*\x1b\[0m|\x1b\[[0-9;?]*[A-Za-z]").expect("static regex")
});

/// A document as text lines (lossy UTF-8, CRLF or LF, each line bounded).
#[derive(Debug)]
pub(crate) struct Document<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) text: Cow<'a, str>,
}

impl<'a> Document<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Document<'a> {
        let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        Document { bytes, text: String::from_utf8_lossy(bytes) }
    }

    /// The physical lines, without line ends.
    pub(crate) fn lines(&self) -> Vec<&str> {
        let mut lines: Vec<&str> = self
            .text
            .split('\n')
            .map(|l| clip_str(l.strip_suffix('\r').unwrap_or(l), MAX_LINE))
            .collect();
        if lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        lines
    }

    /// The lines with ANSI escapes and ConsoleNotes removed.
    pub(crate) fn clean_lines(&self) -> Vec<String> {
        self.lines().into_iter().map(|l| strip_escapes(l).into_owned()).collect()
    }
}

/// Removes ANSI escapes and Jenkins ConsoleNotes.
pub(crate) fn strip_escapes(line: &str) -> Cow<'_, str> {
    if line.contains('\x1b') {
        ESCAPES.replace_all(line, "")
    } else {
        Cow::Borrowed(line)
    }
}

/// Most lines kept of a multi-line message (an error and its continuation lines).
pub(crate) const MAX_BLOCK_LINES: usize = 24;

/// A multi-line message being collected: its first line and the continuation lines below it
/// (database messages after `WRT_8229`, dbt `Database Error in model` blocks, tracebacks),
/// bounded in lines and bytes, ANSI escapes removed, trailing blank lines dropped.
#[derive(Debug, Default, Clone)]
pub(crate) struct Block {
    lines: Vec<String>,
    bytes: usize,
}

impl Block {
    pub(crate) fn push(&mut self, line: &str) {
        if self.lines.len() >= MAX_BLOCK_LINES || self.bytes >= super::MAX_ERROR {
            return;
        }
        let line = strip_escapes(line);
        let line = line.trim_end();
        self.bytes += line.len() + 1;
        self.lines.push(line.to_owned());
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub(crate) fn first(&self) -> Option<&str> {
        self.lines.first().map(String::as_str)
    }

    /// The first non-blank line after the first, trimmed.
    pub(crate) fn first_continuation(&self) -> Option<String> {
        self.lines.iter().skip(1).map(|l| l.trim()).find(|l| !l.is_empty()).map(str::to_owned)
    }

    /// The lines joined with `\n`, without trailing blank lines; `None` when blank.
    pub(crate) fn text(&self) -> Option<String> {
        let end = self.lines.iter().rposition(|l| !l.trim().is_empty())? + 1;
        let text = self.lines[..end].join("\n");
        let text = text.trim_start_matches('\n');
        Some(clip(text, super::MAX_ERROR))
    }
}

/// A message as a tool wrote it (maybe multi-line, maybe coloured), cleaned: ANSI escapes
/// removed, each line's trailing spaces and the trailing blank lines dropped, bounded.
pub(crate) fn clean_message(message: &str) -> String {
    let mut b = Block::default();
    for line in message.split('\n') {
        b.push(line.strip_suffix('\r').unwrap_or(line));
    }
    b.text().unwrap_or_default()
}

/// At most `max` bytes of `s`, cut at a character boundary.
pub(crate) fn clip_str(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// [`clip_str`] as an owned string.
pub(crate) fn clip(s: &str, max: usize) -> String {
    clip_str(s, max).to_owned()
}

/// A bracketed value after `marker`: `text [value] ...` gives `value`.
pub(crate) fn bracket_after<'t>(text: &'t str, marker: &str) -> Option<&'t str> {
    let rest = &text[text.find(marker)? + marker.len()..];
    let rest = rest.trim_start().strip_prefix('[')?;
    Some(&rest[..rest.find(']')?])
}

/// The integer in `[n]` after `marker`.
pub(crate) fn count_after(text: &str, marker: &str) -> Option<i64> {
    bracket_after(text, marker)?.trim().parse().ok()
}

/// The integer after `marker` (`Applied: 310` gives 310).
pub(crate) fn number_after(text: &str, marker: &str) -> Option<i64> {
    let rest = text[text.find(marker)? + marker.len()..].trim_start();
    let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Reads the timestamps ETL logs write: ISO 8601 (also with a comma before the fraction),
/// asctime (`Mon Jan 06 10:12:01 2025`, day also space-padded) and the Workflow Monitor's
/// `1/6/2025 11:59:48 AM`. Zoneless ones are read in the configured zone.
#[derive(Debug, Clone)]
pub struct TimeReader {
    parser: TimeParser,
}

impl TimeReader {
    pub fn new(zone: TimeZone) -> TimeReader {
        let formats = vec![
            TsFormat::Iso8601,
            TsFormat::Strftime("%a %b %d %H:%M:%S %Y".into()),
            TsFormat::Strftime("%m/%d/%Y %I:%M:%S %p".into()),
            TsFormat::Strftime("%Y.%m.%d %H:%M:%S".into()),
        ];
        TimeReader { parser: TimeParser::new(formats, zone) }
    }

    /// Microseconds since the epoch.
    pub fn parse(&self, text: &str) -> Option<i64> {
        let text = clip_str(text.trim(), 64);
        if text.is_empty() {
            return None;
        }
        if let Some(t) = self.parser.parse(text) {
            return Some(t);
        }
        // `2025-01-09 03:00:00,412` (log4j) and `Mon Jan  6 ...` (padded day).
        let fixed: String = if text.contains(',') && text.as_bytes().first()?.is_ascii_digit() {
            text.replacen(',', ".", 1)
        } else {
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        };
        self.parser.parse(&fixed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_shape() {
        let t = TimeReader::new(TimeZone::UTC);
        let f = |s: &str| t.parse(s).map(crate::normalize::format_utc);
        assert_eq!(f("Mon Jan 06 10:12:01 2025").as_deref(), Some("2025-01-06T10:12:01Z"));
        assert_eq!(f("Mon Jan  6 10:12:01 2025").as_deref(), Some("2025-01-06T10:12:01Z"));
        assert_eq!(f("1/6/2025 12:03:05 PM").as_deref(), Some("2025-01-06T12:03:05Z"));
        assert_eq!(f("1/6/2025 11:59:48 AM").as_deref(), Some("2025-01-06T11:59:48Z"));
        assert_eq!(f("2025-01-09 03:00:00,412").as_deref(), Some("2025-01-09T03:00:00.412Z"));
        assert_eq!(
            f("2025-01-10T05:00:48.1660010Z").as_deref(),
            Some("2025-01-10T05:00:48.166001Z")
        );
        assert_eq!(f("not a time"), None);
        let paris = TimeReader::new(crate::normalize::parse_zone("+01:00").unwrap());
        let micros = paris.parse("Mon Jan 06 10:12:01 2025").unwrap();
        assert_eq!(crate::normalize::format_utc(micros), "2025-01-06T09:12:01Z");
    }

    #[test]
    fn lines_escapes_and_bounds() {
        let d = Document::new(b"a\r\nb\n\x1b[31mc\x1b[0m\n");
        assert_eq!(d.lines(), vec!["a", "b", "\x1b[31mc\x1b[0m"]);
        assert_eq!(d.clean_lines(), vec!["a", "b", "c"]);
        assert_eq!(strip_escapes("\x1b[8mha:////4Ib=\x1b[0mStarted"), "Started");
        assert_eq!(clip_str("héllo", 2), "h");
        assert_eq!(count_after("Read [1500] rows", "Read"), Some(1500));
        assert_eq!(number_after("Applied: 310   Rejected: 0", "Rejected:"), Some(0));
        assert_eq!(bracket_after("table [T1] at", "table"), Some("T1"));
    }
}
