//! The invariants the fuzz targets check, one function per target (the targets in
//! `fuzz_targets/` are one line each).
//!
//! Each function panics when an invariant breaks, which libFuzzer reports as a crash with the
//! input that caused it. Beyond "no panic", they check what the architecture promises: every
//! record is accounted for, a restart from the stored join state gives the same changes, scan
//! hits are exactly the lines a plain per-line search finds, and audit rows stay bounded and
//! merge without losing a known value. Allocation and time per input are bounded by libFuzzer
//! itself (`-malloc_limit_mb`, `-rss_limit_mb`, `-timeout`, set by `scripts/fuzz.sh`).

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use waymark_core::audit::{self, AuditContext, AuditRow};
use waymark_core::config::{Config, ConfigErrors, ConfigSource, RawConfig};
use waymark_core::correlate::{Change, Pending, PendingKind};
use waymark_core::pipeline::{Batch, Processor, DEAD_LETTER_MAX_RAW};
use waymark_core::scan::{self, CsvLayout, Matcher, RuleBuilder, Severity, View};
use waymark_core::Origin;

/// The built-in configuration, and one with a small record limit (so that the too-long path
/// is reached by short inputs), loaded once.
fn configs() -> &'static [Config; 2] {
    static CONFIGS: OnceLock<[Config; 2]> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let small = "[ingest]\nmax_line_bytes = 96\njoin_ttl_secs = 30\n";
        let small = Config::load(Some(&ConfigSource { name: "small.toml", text: small }));
        [
            Config::load(None).expect("the built-in configuration loads"),
            small.expect("the small configuration loads"),
        ]
    })
}

/// The record path: `data` is a header byte, then records separated by `\n`.
///
/// Header bits: 0 picks the configuration, 1–2 the number of sources the records are dealt
/// to, 3 Kafka mode (an empty record is an empty message, not a blank line), 4 the framer's
/// handling of long records (cut to a head, as `LineReader` does). The remaining bits pick
/// where the run "crashes": the records before it go through one processor, the rest through
/// a new one restored from what the store would hold, and the changes must be the same as
/// those of one uninterrupted run.
pub fn record(data: &[u8]) {
    let Some((&header, rest)) = data.split_first() else { return };
    let config = &configs()[usize::from(header & 1)];
    let sources = 1 + u32::from((header >> 1) & 3);
    let kafka = header & 8 != 0;
    let framed = header & 16 != 0;
    let records: Vec<&[u8]> = rest.split(|&b| b == b'\n').collect();
    let feed = |p: &mut Processor<'_>, batch: &mut Batch, from: usize, to: usize| {
        for (i, r) in records.iter().enumerate().take(to).skip(from) {
            let origin = Origin { source: 1 + i as u32 % sources, position: i as u64 };
            if kafka && r.is_empty() {
                p.empty(origin, batch);
            } else if framed && r.len() > config.ingest.max_line_bytes {
                p.oversized(origin, &r[..16.min(r.len())], r.len() as u64, batch);
            } else {
                p.record(origin, r, batch);
            }
        }
    };

    let mut whole = Processor::new(config);
    let mut one = Batch::default();
    feed(&mut whole, &mut one, 0, records.len());
    check_accounting(&one, records.len() as u64, whole.waiting());

    let cut = usize::from(header >> 5) * records.len() / 7;
    let mut first = Processor::new(config);
    let mut before = Batch::default();
    feed(&mut first, &mut before, 0, cut);
    let (waiting, orphans, watermarks) = stored_join_state(&before);
    let mut second = Processor::new(config);
    second.restore(waiting, watermarks);
    second.restore_orphans(orphans);
    let mut after = Batch::default();
    feed(&mut second, &mut after, cut, records.len());
    let mut resumed = before.changes;
    resumed.extend(after.changes);
    assert_eq!(resumed, one.changes, "a restart at record {cut} changed the outcome");
    assert_eq!(second.waiting(), whole.waiting(), "a restart changed the halves left waiting");
}

/// Every record ends in exactly one place, and the changes agree with the counts.
fn check_accounting(batch: &Batch, records: u64, waiting: usize) {
    let k = &batch.counts;
    assert_eq!(k.records, records, "records read");
    assert_eq!(k.records, k.blank + k.events + k.details + k.rejected, "records accounted for");
    assert_eq!(batch.dead_letters.len() as u64, k.rejected, "one dead letter per rejection");
    assert_eq!(k.rejected_by_kind.iter().sum::<u64>(), k.rejected, "rejections by kind");
    for d in &batch.dead_letters {
        assert!(d.raw.len() <= DEAD_LETTER_MAX_RAW && d.raw.len() as u64 <= d.raw_len);
    }
    let mut inserted = HashSet::new();
    let mut waits = HashMap::new();
    let mut orphans = HashSet::new();
    let (mut attached, mut reasons_waiting, mut joined, mut orphaned) = (0u64, 0u64, 0u64, 0u64);
    for change in &batch.changes {
        match change {
            Change::Insert { origin, event } => {
                assert!(inserted.insert(*origin), "an event stored twice");
                // The store formats the time of every event; it must not fail on any.
                assert!(!event.timestamp().is_empty());
            }
            Change::Attach { event, .. } => {
                assert!(inserted.contains(event), "a reason attached to no stored event");
                attached += 1;
            }
            Change::Wait(p) => {
                assert!(waits.insert(p.key, p.kind).is_none(), "a half waits twice");
                reasons_waiting += u64::from(p.kind == PendingKind::Reason);
            }
            Change::Joined { key } => {
                // A late partner may join an orphan: it was waiting, then orphaned.
                let was = waits.remove(key).is_some() || orphans.remove(key);
                assert!(was, "joined a half that was neither waiting nor an orphan");
                joined += 1;
            }
            Change::Orphaned { key } => {
                assert!(waits.remove(key).is_some(), "orphaned a half that was not waiting");
                orphans.insert(*key);
                orphaned += 1;
            }
        }
    }
    assert_eq!(inserted.len() as u64, k.events, "one stored event per event record");
    assert_eq!(attached + reasons_waiting, k.details, "every detail attached or waiting");
    assert_eq!((joined, orphaned), (k.joined, k.orphaned), "join counts");
    assert_eq!(waits.len(), waiting, "halves waiting");
}

/// What a store holds of the join state after committing `batch`: the halves still waiting
/// (orphans are kept as rows but no longer wait) and the watermarks.
type JoinState = (Vec<Pending>, Vec<Pending>, Vec<(u32, i64)>);

/// What a store holds of the join state after committing `batch`: the halves still waiting,
/// the orphans (which a late partner may still join; reloaded at start, oldest first) and the
/// watermarks.
fn stored_join_state(batch: &Batch) -> JoinState {
    let mut waiting: Vec<Pending> = Vec::new();
    let mut orphans: Vec<Pending> = Vec::new();
    for change in &batch.changes {
        match change {
            Change::Wait(p) => waiting.push(p.clone()),
            Change::Joined { key } => {
                waiting.retain(|p| p.key != *key);
                orphans.retain(|p| p.key != *key);
            }
            Change::Orphaned { key } => {
                if let Some(i) = waiting.iter().position(|p| p.key == *key) {
                    orphans.push(waiting.remove(i));
                }
            }
            Change::Insert { .. } | Change::Attach { .. } => {}
        }
    }
    orphans.sort_by_key(|p| (p.ts_micros, p.key));
    (waiting, orphans, batch.watermarks.clone())
}

/// The configuration loader: any text either loads or is refused with located errors; what
/// loads prints back to TOML that loads to the same configuration, and its parsers account
/// for every record (the text's own lines are the records).
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let lines = text.split('\n').count();
    let source = ConfigSource { name: "fuzz.toml", text };
    // The structural layer alone first: most mutations stop here, and a full load (which
    // compiles every built-in regex too) is only paid for a file that parses.
    if let Err(errors) = RawConfig::parse(&source) {
        check_errors(&errors, lines);
        return;
    }
    let config = match Config::load(Some(&source)) {
        Ok(config) => config,
        Err(errors) => return check_errors(&errors, lines),
    };
    let shown = config.to_toml();
    let again = Config::load(Some(&ConfigSource { name: "shown.toml", text: &shown }))
        .unwrap_or_else(|e| panic!("`config show` output does not load: {e}\n{shown}"));
    assert_eq!(again.to_toml(), shown, "`config show` is not a fixed point");

    let mut p = Processor::new(&config);
    let mut batch = Batch::default();
    for (i, line) in text.split('\n').enumerate() {
        p.record(Origin { source: 1, position: i as u64 }, line.as_bytes(), &mut batch);
    }
    check_accounting(&batch, lines as u64, p.waiting());
}

/// A refusal names at least one error, each with a message and a line inside the file.
fn check_errors(errors: &ConfigErrors, lines: usize) {
    assert!(!errors.0.is_empty(), "refused without an error");
    for e in &errors.0 {
        assert!(!e.message.is_empty(), "an error without a message");
        if e.file == "fuzz.toml" {
            let line = e.line.unwrap_or(1);
            assert!((1..=lines).contains(&line), "error line {line} of {lines}: {e}");
        }
    }
}

/// The built-in rules plus a rule on a CSV column, so that both scan paths are reached.
fn scan_matcher() -> &'static (Matcher, Vec<regex::bytes::Regex>) {
    static MATCHER: OnceLock<(Matcher, Vec<regex::bytes::Regex>)> = OnceLock::new();
    MATCHER.get_or_init(|| {
        let mut rules = configs()[0].scan.matcher.rules().to_vec();
        let mut column = RuleBuilder::new("fuzz_column", Severity::Warning);
        column.column(Some("message"));
        rules.push(column.keywords(&["fail".to_owned()], true).expect("a keyword rule"));
        let plain = rules
            .iter()
            .map(|r| {
                regex::bytes::RegexBuilder::new(&r.pattern)
                    .multi_line(true)
                    .crlf(true)
                    .build()
                    .expect("a rule compiles alone")
            })
            .collect();
        (Matcher::new(rules).expect("the rules compile together"), plain)
    })
}

/// The scanner: classification, CSV detection, the block matcher against a plain per-line
/// search with each rule alone, and the stored text and time of each hit.
///
/// Header byte: 0–1 the CSV delimiter the file name suggests (none, `,`, tab, `;`).
pub fn scan(data: &[u8]) {
    let Some((&header, doc)) = data.split_first() else { return };
    let config = &configs()[0].scan;
    let class = config.classifier.classify(&doc[..doc.len().min(scan::HEAD_BYTES)]);
    let known = config.classifier.system_types();
    assert!(class.system_type == scan::UNKNOWN || known.contains(&class.system_type));
    assert_eq!(class.evidence.is_some(), class.system_type != scan::UNKNOWN);

    let hint = [None, Some(b','), Some(b'\t'), Some(b';')][usize::from(header & 3)];
    let first = doc.split(|&b| b == b'\n').next().unwrap_or_default();
    let csv = CsvLayout::detect(first, hint);
    let (matcher, plain) = scan_matcher();
    let view = matcher.view(&class.system_type, csv.as_ref());
    let mut hits = Vec::new();
    let lines = view.scan(doc, |h| hits.push((h.line_index, h.offset, h.line.to_vec(), h.rule)));

    let expected = plain_scan(doc, &view, plain, csv.as_ref(), &class.system_type);
    assert_eq!(lines, expected.0, "lines counted");
    let found: Vec<(u64, usize, Vec<u8>, usize)> = hits.clone();
    assert_eq!(found, expected.1, "hits of the block matcher and of a per-line search differ");
    for (_, _, line, _) in &hits {
        let stored = scan::clean_line(line, scan::MAX_STORED_LINE);
        assert!(stored.len() <= scan::MAX_STORED_LINE, "stored line of {} bytes", stored.len());
        assert!(!stored.contains('\x1b'), "an escape left in a stored line");
        let _ = config.times.extract(line);
    }
}

type PlainHit = (u64, usize, Vec<u8>, usize);

/// Every line searched with every rule alone: the hits the block matcher must find.
fn plain_scan(
    doc: &[u8],
    view: &View<'_>,
    plain: &[regex::bytes::Regex],
    csv: Option<&CsvLayout>,
    system_type: &str,
) -> (u64, Vec<PlainHit>) {
    let mut hits = Vec::new();
    let mut lines = 0u64;
    let mut offset = 0usize;
    if doc.is_empty() {
        return (0, hits);
    }
    for raw in doc.split(|&b| b == b'\n') {
        let at = offset;
        offset += raw.len() + 1;
        if at == doc.len() {
            break; // after a final newline: no line
        }
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = scan::strip_ansi(line);
        let mut best: Option<usize> = None;
        for (i, re) in plain.iter().enumerate() {
            let rule = view.rule(i);
            let applies = rule.systems.is_empty() || rule.systems.iter().any(|s| s == system_type);
            let matched = match rule.column.as_deref() {
                None => re.is_match(&text),
                Some(col) => csv.and_then(|l| l.index(col)).is_some_and(|c| {
                    let fields = scan::split_fields(line, csv.map_or(b',', |l| l.delimiter));
                    fields.get(c).is_some_and(|f| re.is_match(&scan::strip_ansi(f)))
                }),
            };
            if applies && matched {
                let better = best.is_none_or(|b| view.rule(b).severity < rule.severity);
                if better {
                    best = Some(i);
                }
            }
        }
        if let Some(rule) = best {
            hits.push((lines, at, line.to_vec(), rule));
        }
        lines += 1;
    }
    (lines, hits)
}

/// One audit extractor: rows of the right type, bounded, serialisable, and merging a row with
/// itself or with an empty reading loses nothing.
pub fn audit(system_type: &str, data: &[u8]) {
    let config = &configs()[0].audit;
    let rows = audit::extract(config, system_type, data, &AuditContext::default());
    for (i, row) in rows.iter().enumerate() {
        check_row(system_type, row);
        let _ = row.to_json();
        let _ = row.run_key("fuzz", i);
        assert_eq!(&audit::merge_rows(row, row), row, "a row merged with itself changed");
        let blank = AuditRow::new(system_type);
        let kept = audit::merge_rows(row, &blank);
        assert_eq!((&kept.run_id, &kept.error_message), (&row.run_id, &row.error_message));
        assert_eq!((kept.start_time, kept.source_rows), (row.start_time, row.source_rows));
    }
    let _ = audit::detect_system_type(data);
}

fn check_row(system_type: &str, row: &AuditRow) {
    assert_eq!(row.system_type, system_type);
    for name in [&row.folder_name, &row.workflow_name, &row.session_name, &row.run_id] {
        let name = name.as_deref().unwrap_or_default();
        assert!(name.len() <= audit::MAX_NAME, "a name of {} bytes", name.len());
    }
    let error = row.error_message.as_deref().unwrap_or_default();
    assert!(error.len() <= audit::MAX_ERROR, "an error of {} bytes", error.len());
    for list in [&row.source_name, &row.target_name] {
        assert!(list.len() <= audit::MAX_LIST, "a list of {} names", list.len());
        let distinct: HashSet<&String> = list.iter().collect();
        assert_eq!(distinct.len(), list.len(), "a name listed twice: {list:?}");
        assert!(list.iter().all(|n| !n.trim().is_empty() && n.len() <= audit::MAX_NAME));
    }
}
