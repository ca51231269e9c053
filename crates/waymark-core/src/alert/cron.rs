//! A 5-field cron schedule (`minute hour day-of-month month day-of-week`) in a time zone.
//!
//! Fields take `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, and lists `a,b`; months
//! and weekdays also take names (`jan`, `mon`); day-of-week 0 and 7 are Sunday. As in Vixie
//! cron, when both day fields are restricted a day matches either. Times are civil times of
//! the zone: a time skipped by a DST change does not happen, a repeated one happens once
//! (the earlier instant).

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    dom_restricted: bool,
    dow_restricted: bool,
    text: String,
}

const MONTHS: [&str; 12] =
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn field(text: &str, min: u32, max: u32, names: &[&str], what: &str) -> Result<u64, String> {
    let mut bits = 0u64;
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().map_err(|_| format!("{what}: bad step `{s}`"))?;
                if step == 0 {
                    return Err(format!("{what}: step must be at least 1"));
                }
                (r, step)
            }
            None => (item, 1),
        };
        let value = |v: &str| -> Result<u32, String> {
            let lower = v.to_ascii_lowercase();
            if let Some(i) = names.iter().position(|n| *n == lower) {
                return Ok(i as u32 + min);
            }
            let n: u32 = v.parse().map_err(|_| format!("{what}: bad value `{v}`"))?;
            if n < min || n > max {
                return Err(format!("{what}: {n} is outside {min}-{max}"));
            }
            Ok(n)
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(a)?, value(b)?);
            if a > b {
                return Err(format!("{what}: range {a}-{b} is backwards"));
            }
            (a, b)
        } else {
            let a = value(range)?;
            (a, if item.contains('/') { max } else { a })
        };
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

impl Schedule {
    /// Parses the 5-field syntax; the error names the field.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let f: Vec<&str> = text.split_whitespace().collect();
        let [min, hour, dom, mon, dow] = f.as_slice() else {
            return Err(format!(
                "a cron schedule has 5 fields (minute hour day-of-month month day-of-week), found {}",
                f.len()
            ));
        };
        let mut weekdays = field(dow, 0, 7, &DAYS, "day-of-week")?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays | 1) & 0x7f;
        }
        Ok(Schedule {
            minutes: field(min, 0, 59, &[], "minute")?,
            hours: field(hour, 0, 23, &[], "hour")? as u32,
            days: field(dom, 1, 31, &[], "day-of-month")? as u32,
            months: field(mon, 1, 12, &MONTHS, "month")? as u16,
            weekdays: weekdays as u8,
            dom_restricted: *dom != "*",
            dow_restricted: *dow != "*",
            text: text.to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn day_matches(&self, d: Date) -> bool {
        if self.months & (1 << d.month()) == 0 {
            return false;
        }
        let dom = self.days & (1 << d.day()) != 0;
        let dow = self.weekdays & (1 << d.weekday().to_sunday_zero_offset()) != 0;
        match (self.dom_restricted, self.dow_restricted) {
            (true, true) => dom || dow,
            (true, false) => dom,
            (false, true) => dow,
            (false, false) => true,
        }
    }

    /// The latest scheduled instant at or before `at`, looking back at most about 5 years
    /// (a schedule like `0 0 30 2 *` never happens).
    pub fn latest_at_or_before(&self, at: Timestamp, zone: &TimeZone) -> Option<Timestamp> {
        let local = zone.to_datetime(at);
        let mut date = local.date();
        for back in 0..(366 * 5) {
            if self.day_matches(date) {
                for hour in (0..24i8).rev().filter(|h| self.hours & (1 << h) != 0) {
                    for minute in (0..60i8).rev().filter(|m| self.minutes & (1 << m) != 0) {
                        let Ok(time) = Time::new(hour, minute, 0, 0) else { continue };
                        let dt = DateTime::from_parts(date, time);
                        if back == 0 && dt > local {
                            continue;
                        }
                        if let Some(ts) = instant(zone, dt).filter(|ts| *ts <= at) {
                            return Some(ts);
                        }
                    }
                }
            }
            date = date.yesterday().ok()?;
        }
        None
    }
}

/// The instant of a civil time, or none when a DST gap skips it.
fn instant(zone: &TimeZone, dt: DateTime) -> Option<Timestamp> {
    use jiff::tz::AmbiguousOffset;
    match zone.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).ok(),
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt).ok(),
        AmbiguousOffset::Gap { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn latest(expr: &str, zone: &str, at: &str) -> Option<String> {
        let zone = crate::normalize::parse_zone(zone).unwrap();
        Schedule::parse(expr).unwrap().latest_at_or_before(ts(at), &zone).map(|t| t.to_string())
    }

    #[test]
    fn latest_fire_time() {
        let cases = [
            ("0 2 * * *", "UTC", "2026-03-10T02:00:00Z", "2026-03-10T02:00:00Z"),
            ("0 2 * * *", "UTC", "2026-03-10T01:59:59Z", "2026-03-09T02:00:00Z"),
            ("*/15 * * * *", "UTC", "2026-03-10T10:44:00Z", "2026-03-10T10:30:00Z"),
            ("30 6 * * mon-fri", "UTC", "2026-03-08T12:00:00Z", "2026-03-06T06:30:00Z"),
            ("0 0 1 * *", "UTC", "2026-03-10T00:00:00Z", "2026-03-01T00:00:00Z"),
            ("0 12 * * 7", "UTC", "2026-03-10T00:00:00Z", "2026-03-08T12:00:00Z"),
            // 02:00 Berlin is 01:00 UTC in winter, 00:00 UTC in summer.
            ("0 2 * * *", "Europe/Berlin", "2026-01-15T12:00:00Z", "2026-01-15T01:00:00Z"),
            ("0 2 * * *", "Europe/Berlin", "2026-07-15T12:00:00Z", "2026-07-15T00:00:00Z"),
            // 29 March 2026: 02:30 does not exist in Berlin; the day before's run is the latest.
            ("30 2 * * *", "Europe/Berlin", "2026-03-29T12:00:00Z", "2026-03-28T01:30:00Z"),
            // Both day fields restricted: either matches (the 1st, or a Friday).
            ("0 0 1 * fri", "UTC", "2026-03-05T00:00:00Z", "2026-03-01T00:00:00Z"),
            ("0 0 1 * fri", "UTC", "2026-03-07T00:00:00Z", "2026-03-06T00:00:00Z"),
        ];
        for (expr, zone, at, want) in cases {
            assert_eq!(latest(expr, zone, at).as_deref(), Some(want), "{expr} in {zone} at {at}");
        }
        assert_eq!(latest("0 0 30 2 *", "UTC", "2026-03-10T00:00:00Z"), None);
    }

    #[test]
    fn bad_schedules_name_the_field() {
        for (expr, part) in [
            ("0 2 * *", "5 fields"),
            ("60 * * * *", "minute"),
            ("* 24 * * *", "hour"),
            ("* * 0 * *", "day-of-month"),
            ("* * * 13 *", "month"),
            ("* * * * 8", "day-of-week"),
            ("*/0 * * * *", "step"),
            ("5-1 * * * *", "backwards"),
            ("x * * * *", "minute"),
        ] {
            let err = Schedule::parse(expr).unwrap_err();
            assert!(err.contains(part), "{expr}: {err}");
        }
    }
}
