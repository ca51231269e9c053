//! One matched line: escapes removed, length bounded, and its own timestamp.

use std::borrow::Cow;

use jiff::tz::TimeZone;
use regex::bytes::Regex;

use crate::normalize::{format_utc, parse_zone, TimeParser, TsFormat};

/// Removes ANSI escape sequences and Jenkins ConsoleNotes (`ESC[8mha:<base64>ESC[0m`).
pub fn strip_ansi(line: &[u8]) -> Cow<'_, [u8]> {
    let Some(first) = memchr::memchr(0x1b, line) else {
        return Cow::Borrowed(line);
    };
    // Whole runs between escapes are copied at once: a Jenkins console has one on most lines.
    let mut out = Vec::with_capacity(line.len());
    let mut i = first;
    out.extend_from_slice(&line[..i]);
    while i < line.len() {
        i += escape_len(&line[i..]);
        let next = memchr::memchr(0x1b, &line[i.min(line.len())..]).map_or(line.len(), |k| i + k);
        if i < next {
            out.extend_from_slice(&line[i..next]);
        }
        i = next;
    }
    Cow::Owned(out)
}

/// Length of the escape sequence at the start of `s` (which starts with ESC).
fn escape_len(s: &[u8]) -> usize {
    if s.starts_with(b"\x1b[8mha:") {
        if let Some(end) = memchr::memmem::find(&s[7..], b"\x1b[0m") {
            return 7 + end + 4;
        }
    }
    match s.get(1) {
        Some(b'[') => {
            // CSI: parameter and intermediate bytes, then one final byte.
            let body = s[2..].iter().take_while(|b| (0x20..0x40).contains(*b)).count();
            (2 + body + 1).min(s.len())
        }
        Some(_) => 2,
        None => 1,
    }
}

/// The text stored for a matched line: escapes removed, invalid UTF-8 replaced, at most
/// `max` bytes (cut at a character boundary, marked with `…`).
pub fn clean_line(line: &[u8], max: usize) -> String {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let stripped = strip_ansi(line);
    // `from_utf8` first: its validation is several times faster than the lossy chunking.
    let text = match std::str::from_utf8(&stripped) {
        Ok(valid) => Cow::Borrowed(valid),
        Err(_) => String::from_utf8_lossy(&stripped),
    };
    if text.len() <= max {
        return text.into_owned();
    }
    let mut cut = max.saturating_sub(3);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &text[..cut])
}

/// Finds the timestamp a line carries: an ISO 8601 / log4j prefix (`2025-01-09 04:30:41,902`,
/// GitHub's `2025-01-10T05:00:45.9110318Z`), a JSON `"timestamp"`/`"ts"` field, a Windows
/// `M/D/YYYY h:mm:ss AM` (Informatica Monitor exports) or an asctime `Tue Jan 07 01:30:17 2025`
/// (PowerCenter). Zoneless times are read in the configured zone.
#[derive(Debug, Clone)]
pub struct LineTimes {
    iso: TimeParser,
    json: Regex,
    mdy: Regex,
    asctime: Regex,
}

impl Default for LineTimes {
    fn default() -> LineTimes {
        LineTimes::new("UTC")
    }
}

/// Only this much of a line is searched for a timestamp.
const SEARCH: usize = 512;

impl LineTimes {
    /// `zone` is `[ingest] timezone` (already validated; an invalid one falls back to UTC).
    pub fn new(zone: &str) -> LineTimes {
        let zone = parse_zone(zone).unwrap_or(TimeZone::UTC);
        // These patterns are fixed; they cannot fail to compile.
        let re = |p: &str| Regex::new(p).unwrap_or_else(|_| Regex::new("$^").expect("trivial"));
        LineTimes {
            iso: TimeParser::new(vec![TsFormat::Iso8601], zone),
            json: re(
                r#""(?:timestamp|ts|time|@timestamp)": ?"([0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.,]+(?:Z|[+-][0-9]{2}:?[0-9]{2})?)""#,
            ),
            mdy: re(
                r"^(?:[A-Za-z]+\t)?([0-9]{1,2})/([0-9]{1,2})/([0-9]{4}) ([0-9]{1,2}):([0-9]{2}):([0-9]{2})(?: ?([AaPp][Mm]))?",
            ),
            asctime: re(
                r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +([0-9]{1,2}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([0-9]{4})",
            ),
        }
    }

    /// The line's timestamp as RFC 3339 UTC, if it has one.
    pub fn extract(&self, line: &[u8]) -> Option<String> {
        let line = strip_ansi(&line[..line.len().min(SEARCH)]);
        // Each regex runs only where a byte it needs is present: most lines have no `"` or `/`.
        let has = |b: u8| memchr::memchr(b, &line).is_some();
        let micros = self
            .iso_prefix(&line)
            .or_else(|| if has(b'"') { self.json_field(&line) } else { None })
            .or_else(|| if has(b'/') { self.mdy(&line) } else { None })
            .or_else(|| if has(b':') { self.asctime(&line) } else { None })?;
        Some(format_utc(micros))
    }

    fn iso_prefix(&self, line: &[u8]) -> Option<i64> {
        let line = line.strip_prefix(b"[").unwrap_or(line);
        let len = iso_len(line)?;
        self.iso.parse(std::str::from_utf8(&line[..len]).ok()?)
    }

    fn json_field(&self, line: &[u8]) -> Option<i64> {
        let caps = self.json.captures(line)?;
        self.iso.parse(std::str::from_utf8(caps.get(1)?.as_bytes()).ok()?)
    }

    fn mdy(&self, line: &[u8]) -> Option<i64> {
        let c = self.mdy.captures(line)?;
        let num = |i: usize| -> Option<u32> {
            std::str::from_utf8(c.get(i)?.as_bytes()).ok()?.parse().ok()
        };
        let (month, day, year) = (num(1)?, num(2)?, num(3)?);
        let (mut hour, minute, second) = (num(4)?, num(5)?, num(6)?);
        if let Some(ampm) = c.get(7) {
            let pm = ampm.as_bytes()[0].eq_ignore_ascii_case(&b'p');
            if hour == 0 || hour > 12 {
                return None;
            }
            hour = hour % 12 + if pm { 12 } else { 0 };
        }
        self.civil(year, month, day, hour, minute, second)
    }

    fn asctime(&self, line: &[u8]) -> Option<i64> {
        let c = self.asctime.captures(line)?;
        let name = c.get(1)?.as_bytes();
        let month = MONTHS.iter().position(|m| m.as_bytes() == name)? as u32 + 1;
        let num = |i: usize| -> Option<u32> {
            std::str::from_utf8(c.get(i)?.as_bytes()).ok()?.parse().ok()
        };
        self.civil(num(6)?, month, num(2)?, num(3)?, num(4)?, num(5)?)
    }

    fn civil(&self, y: u32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<i64> {
        self.iso.parse(&format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}"))
    }
}

const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Length of an ISO 8601 timestamp at the start of `b`: date, time, optional fraction
/// (`.` or `,`), optional `Z` or offset. Validity is checked by the parser.
fn iso_len(b: &[u8]) -> Option<usize> {
    if b.len() < 19 || !b[0].is_ascii_digit() || b[4] != b'-' {
        return None;
    }
    let mut n = 19;
    if matches!(b.get(n), Some(b'.' | b',')) {
        let digits = b[n + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 {
            n += 1 + digits;
        }
    }
    match b.get(n) {
        Some(b'Z' | b'z') => n += 1,
        Some(b'+' | b'-') => {
            let rest = &b[n + 1..];
            let d = |i: usize| rest.get(i).is_some_and(u8::is_ascii_digit);
            if d(0) && d(1) && rest.get(2) == Some(&b':') && d(3) && d(4) {
                n += 6;
            } else if d(0) && d(1) && d(2) && d(3) {
                n += 5;
            }
        }
        _ => {}
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(line: &str, expect: Option<&str>) {
        assert_eq!(LineTimes::new("UTC").extract(line.as_bytes()).as_deref(), expect, "{line}");
    }

    #[test]
    fn timestamps_of_each_format() {
        // Microsecond precision: the seventh digit of GitHub's fractions is dropped.
        check("2025-01-10T05:00:45.9110318Z ##[error]x", Some("2025-01-10T05:00:45.911031Z"));
        check("2025-01-09 04:30:41,902 ERROR [x] y", Some("2025-01-09T04:30:41.902Z"));
        check("2025-01-06 04:00:03 : ERROR : (1 | M)", Some("2025-01-06T04:00:03Z"));
        check(
            r#"{"timestamp": "2025-02-12T02:34:12.771Z", "level": "ERROR"}"#,
            Some("2025-02-12T02:34:12.771Z"),
        );
        check("ERROR\t1/6/2025 12:02:55 PM\tnode\tW\tWRT_8229\tx", Some("2025-01-06T12:02:55Z"));
        check("INFO\t1/6/2025 12:02:55 AM\tnode", Some("2025-01-06T00:02:55Z"));
        check(
            "ERROR : LM_36488 [Tue Jan 07 01:30:17 2025] : (4312|4460) x",
            Some("2025-01-07T01:30:17Z"),
        );
        check("06:15:03.861473 [debug] [Thread-1]: x", None);
        check("02:00:17  Finished: FAILURE", None);
        check("2025-02-30 10:00:00 bad date", None);
        let paris = LineTimes::new("+01:00");
        assert_eq!(
            paris.extract(b"2025-01-09 04:30:41 x").as_deref(),
            Some("2025-01-09T03:30:41Z")
        );
    }

    #[test]
    fn escapes_are_stripped_and_lines_bounded() {
        let note = b"\x1b[8mha:////4Ib0yVnQ3cF==\x1b[0mStarted by timer";
        assert_eq!(&*strip_ansi(note), b"Started by timer");
        assert_eq!(&*strip_ansi(b"[\x1b[31mERROR\x1b[0m in 0.5s]"), b"[ERROR in 0.5s]");
        assert_eq!(clean_line("é".repeat(10).as_bytes(), 8), "éé…");
        assert_eq!(clean_line(b"a\r", 8), "a");
        assert_eq!(&*strip_ansi(b"x\x1b"), b"x");
    }
}
