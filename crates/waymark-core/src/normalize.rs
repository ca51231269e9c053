//! Normalization of field values into the one event schema: timestamps and statuses.
//!
//! Timestamps become microseconds since the epoch plus RFC 3339 text in UTC. The common ISO 8601
//! shapes take a hand-written fast path (the parser runs once per record, at millions of records
//! a second); everything else goes through `jiff`'s strptime. The fast path is checked against
//! `jiff` by a property test.

use std::collections::HashMap;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;

use crate::event::Status;

/// One accepted timestamp format.
#[derive(Debug, Clone)]
pub enum TsFormat {
    /// `YYYY-MM-DD[T ]HH:MM:SS[.f][Z|±HH:MM|±HHMM]`.
    Iso8601,
    /// Seconds since the epoch (integer or decimal).
    EpochSecs,
    /// Milliseconds since the epoch.
    EpochMillis,
    /// A strftime pattern as `jiff` understands it.
    Strftime(String),
}

impl TsFormat {
    pub fn parse(spec: &str) -> Result<TsFormat, crate::Error> {
        Ok(match spec {
            "iso8601" | "rfc3339" => TsFormat::Iso8601,
            "epoch_secs" => TsFormat::EpochSecs,
            "epoch_millis" => TsFormat::EpochMillis,
            s if s.contains('%') => TsFormat::Strftime(s.to_owned()),
            s => return Err(crate::Error::TimeFormat(s.to_owned())),
        })
    }
}

/// Parses a zone name: `UTC`, a fixed offset like `+02:00`, or an IANA name.
pub fn parse_zone(name: &str) -> Result<TimeZone, crate::Error> {
    let bad = |e: jiff::Error| crate::Error::Zone { name: name.to_owned(), reason: e.to_string() };
    if name.eq_ignore_ascii_case("utc") || name == "Z" {
        return Ok(TimeZone::UTC);
    }
    if let Some(secs) = parse_offset(name.as_bytes()) {
        let offset = jiff::tz::Offset::from_seconds(secs).map_err(bad)?;
        return Ok(TimeZone::fixed(offset));
    }
    TimeZone::get(name).map_err(bad)
}

/// Reads timestamps in an ordered list of formats, zoneless ones in a given zone.
#[derive(Debug, Clone)]
pub struct TimeParser {
    formats: Vec<TsFormat>,
    zone: TimeZone,
    zone_is_utc: bool,
}

impl TimeParser {
    pub fn new(formats: Vec<TsFormat>, zone: TimeZone) -> TimeParser {
        let zone_is_utc = zone == TimeZone::UTC;
        TimeParser { formats, zone, zone_is_utc }
    }

    /// Microseconds since the epoch, or `None` when no format accepts the text.
    pub fn parse(&self, text: &str) -> Option<i64> {
        let text = text.trim();
        self.formats.iter().find_map(|f| self.parse_one(f, text))
    }

    fn parse_one(&self, format: &TsFormat, text: &str) -> Option<i64> {
        match format {
            TsFormat::Iso8601 => self.iso(text),
            TsFormat::EpochSecs => {
                let secs: f64 = text.parse().ok()?;
                finite_micros(secs * 1e6)
            }
            TsFormat::EpochMillis => {
                let ms: f64 = text.parse().ok()?;
                finite_micros(ms * 1e3)
            }
            TsFormat::Strftime(fmt) => self.strftime(fmt, text),
        }
    }

    fn iso(&self, text: &str) -> Option<i64> {
        let iso = parse_iso(text.as_bytes())?;
        match iso.offset_secs {
            Some(off) => Some(iso.utc_micros - off as i64 * 1_000_000),
            None if self.zone_is_utc => Some(iso.utc_micros),
            None => self.in_zone(iso.civil()?),
        }
    }

    fn strftime(&self, fmt: &str, text: &str) -> Option<i64> {
        let tm = jiff::fmt::strtime::parse(fmt, text).ok()?;
        if let Ok(ts) = tm.to_timestamp() {
            return Some(ts.as_microsecond());
        }
        self.in_zone(tm.to_datetime().ok()?)
    }

    fn in_zone(&self, dt: DateTime) -> Option<i64> {
        let zoned = self.zone.to_ambiguous_zoned(dt).compatible().ok()?;
        Some(zoned.timestamp().as_microsecond())
    }
}

fn finite_micros(v: f64) -> Option<i64> {
    // Bounded to years 0001..9999 so that formatting can never overflow.
    (v.is_finite() && (-62_135_596_800e6..253_402_300_800e6).contains(&v)).then_some(v as i64)
}

/// A parsed ISO 8601 timestamp before its zone is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Iso {
    /// The wall-clock fields read as if they were UTC.
    pub utc_micros: i64,
    /// The offset written in the text, if any.
    pub offset_secs: Option<i32>,
}

impl Iso {
    fn civil(self) -> Option<DateTime> {
        let ts = jiff::Timestamp::from_microsecond(self.utc_micros).ok()?;
        Some(ts.to_zoned(TimeZone::UTC).datetime())
    }
}

/// The fast path: `YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|±HH:MM|±HHMM|±HH]`, validated fully.
pub fn parse_iso(b: &[u8]) -> Option<Iso> {
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if b[10] != b'T' && b[10] != b't' && b[10] != b' ' {
        return None;
    }
    let year = digits(&b[0..4])? as i64;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let (hour, minute, second) = (digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 || year == 0 {
        return None;
    }
    let mut rest = &b[19..];
    let mut micros = 0i64;
    if let Some((b'.' | b',', frac)) = rest.split_first() {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        for (i, c) in frac[..n.min(6)].iter().enumerate() {
            micros += (c - b'0') as i64 * 10i64.pow(5 - i as u32);
        }
        rest = &frac[n..];
    }
    let offset_secs = match rest {
        [] => None,
        [b'Z' | b'z'] => Some(0),
        [sign @ (b'+' | b'-'), ..] => {
            let secs = parse_offset(rest)?;
            let _ = sign;
            Some(secs)
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + (hour * 3600 + minute * 60 + second) as i64;
    Some(Iso { utc_micros: secs * 1_000_000 + micros, offset_secs })
}

/// `±HH`, `±HHMM` or `±HH:MM` in seconds east of UTC.
fn parse_offset(b: &[u8]) -> Option<i32> {
    let (sign, rest) = match b.split_first()? {
        (b'+', rest) => (1, rest),
        (b'-', rest) => (-1, rest),
        _ => return None,
    };
    let (h, m) = match rest {
        [h1, h2] => (digits(&[*h1, *h2])?, 0),
        [h1, h2, m1, m2] => (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?),
        [h1, h2, b':', m1, m2] => (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?),
        _ => return None,
    };
    (h <= 23 && m <= 59).then(|| sign * (h * 3600 + m * 60) as i32)
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as u32))
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + (m <= 2) as i64, m, d)
}

/// RFC 3339 in UTC: `2025-05-04T10:30:00Z`, with the fraction only when there is one
/// (trailing zeros dropped).
///
/// Written digit by digit: it runs once per event, and `fmt` machinery was a tenth of the
/// parse time. Years outside 0..=9999 cannot occur (parsers bound them).
pub fn format_utc(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000) as u32;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400) as u32;
    let mut b = [0u8; 27];
    put(&mut b[0..4], y.clamp(0, 9999) as u32);
    b[4] = b'-';
    put(&mut b[5..7], m);
    b[7] = b'-';
    put(&mut b[8..10], d);
    b[10] = b'T';
    put(&mut b[11..13], sod / 3600);
    b[13] = b':';
    put(&mut b[14..16], sod / 60 % 60);
    b[16] = b':';
    put(&mut b[17..19], sod % 60);
    let mut len = 19;
    if frac != 0 {
        b[19] = b'.';
        put(&mut b[20..26], frac);
        len = 26;
        while b[len - 1] == b'0' {
            len -= 1;
        }
    }
    b[len] = b'Z';
    String::from_utf8_lossy(&b[..=len]).into_owned()
}

/// Writes `v` as zero-padded decimal digits filling `out`.
fn put(out: &mut [u8], mut v: u32) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Maps raw status values onto the two canonical ones.
#[derive(Debug, Clone, Default)]
pub struct StatusMap {
    /// Empty means: accept exactly `SUCCESS` and `FAILURE`.
    map: HashMap<String, Status>,
}

impl StatusMap {
    pub fn new(map: HashMap<String, Status>) -> StatusMap {
        StatusMap { map }
    }

    pub fn get(&self, raw: &str) -> Option<Status> {
        if self.map.is_empty() {
            return Status::from_canonical(raw);
        }
        self.map.get(raw).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn utc(formats: &[&str]) -> TimeParser {
        TimeParser::new(
            formats.iter().map(|f| TsFormat::parse(f).unwrap()).collect(),
            TimeZone::UTC,
        )
    }

    #[test]
    fn seed_timestamps() {
        let p = utc(&["iso8601"]);
        let us = p.parse("2025-05-04T10:30:00").unwrap();
        assert_eq!(format_utc(us), "2025-05-04T10:30:00Z");
        assert_eq!(
            format_utc(p.parse("2025-05-04T10:30:00.250+02:00").unwrap()),
            "2025-05-04T08:30:00.25Z"
        );
        assert_eq!(
            format_utc(p.parse("2025-01-06T10:00:00.1000000Z").unwrap()),
            "2025-01-06T10:00:00.1Z"
        );
    }

    #[test]
    fn invalid_dates_are_rejected() {
        let p = utc(&["iso8601"]);
        for bad in [
            "2025-02-29T00:00:00",
            "2025-13-01T00:00:00",
            "2025-05-04T24:00:00",
            "2025-05-04",
            "x",
            "2025-05-04T10:30:00+",
        ] {
            assert_eq!(p.parse(bad), None, "{bad}");
        }
        assert!(p.parse("2024-02-29T00:00:00").is_some());
    }

    #[test]
    fn zoneless_times_take_the_configured_zone() {
        let p = TimeParser::new(vec![TsFormat::Iso8601], parse_zone("+02:00").unwrap());
        assert_eq!(format_utc(p.parse("2025-05-04T10:30:00").unwrap()), "2025-05-04T08:30:00Z");
        let p = TimeParser::new(vec![TsFormat::Iso8601], parse_zone("Europe/Paris").unwrap());
        assert_eq!(format_utc(p.parse("2025-01-04T10:30:00").unwrap()), "2025-01-04T09:30:00Z");
    }

    #[test]
    fn formats_are_tried_in_order() {
        let p = utc(&["%d/%m/%Y %H:%M:%S", "epoch_millis"]);
        assert_eq!(format_utc(p.parse("04/05/2025 10:30:00").unwrap()), "2025-05-04T10:30:00Z");
        assert_eq!(format_utc(p.parse("1746354600000").unwrap()), "2025-05-04T10:30:00Z");
        assert_eq!(p.parse("2025-05-04T10:30:00"), None);
    }

    proptest! {
        #[test]
        fn fast_path_agrees_with_jiff(secs in -2_000_000_000i64..4_000_000_000i64, us in 0i64..1_000_000) {
            let ts = jiff::Timestamp::from_microsecond(secs * 1_000_000 + us).unwrap();
            let text = ts.strftime("%Y-%m-%dT%H:%M:%S%.6f").to_string();
            let got = parse_iso(text.as_bytes()).unwrap();
            prop_assert_eq!(got.utc_micros, ts.as_microsecond());
            prop_assert_eq!(format_utc(got.utc_micros), ts.to_string());
        }

        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = utc(&["iso8601", "epoch_secs", "%Y %j"]).parse(&s);
        }
    }
}
