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
/// handling of long records (cut to a head, as `LineReader` does; a `\r` at the end does not
/// count). The remaining bits pick
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
            } else if framed && record_len(r) > config.ingest.max_line_bytes {
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
            Change::Joined { key, .. } => {
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
            Change::Joined { key, .. } => {
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

/// The line framer (`waymark_pipeline::lines::LineReader`): the input read in chunks whose
/// sizes the input picks (with interrupted reads among them) gives exactly the frames of a
/// plain split of the whole input at `\n`; offsets follow each other without gap or overlap;
/// the length limit holds; and a reader stopped at an unterminated tail (a file still being
/// written) and started again at the tail's offset over the grown input loses and doubles
/// nothing.
///
/// Header bytes: 0 the line limit (small, around the 4 KiB block floor, or huge), 1 how much
/// of an oversized line is kept, 2–3 the seed of the read sizes, 4 where the input is cut for
/// the restart; the rest is the input.
pub fn lines(data: &[u8]) {
    let Some((header, input)) = data.split_first_chunk::<5>() else { return };
    let max = match header[0] & 7 {
        0..=3 => usize::from(header[0] >> 3),
        4 => 4095,
        5 => 4096,
        6 => 300 * 1024,
        _ => usize::MAX,
    };
    let head_keep = match header[1] {
        255 => DEAD_LETTER_MAX_RAW,
        n => usize::from(n),
    };
    let seed = u32::from(u16::from_le_bytes([header[2], header[3]]));
    let start = u64::from(header[4]) * 1000;
    let expected = plain_frames(input, start, max, head_keep);

    let whole = read_frames(Chunked::new(input, seed), start, max, head_keep, false);
    assert_eq!(whole.frames, expected, "chunked framing differs from a plain split");
    assert_eq!(whole.end, start + input.len() as u64, "the reader's final offset");
    for f in &whole.frames {
        match f {
            Owned::Line(_, bytes) | Owned::Tail(_, bytes) => {
                assert!(record_len(bytes) <= max, "a line of {} bytes over {max}", bytes.len());
                assert!(!bytes.contains(&b'\n'), "a newline inside a frame");
            }
            Owned::Oversized(_, head, len, _) => {
                assert!(*len > max as u64 && head.len() == head_keep.min(*len as usize));
            }
        }
    }

    // A file being written: only the first `cut` bytes exist at the first read, which stops
    // at an unterminated tail (held, not consumed, as `ingest` does for a file); the next
    // read starts at the tail's offset over the whole input.
    let cut = usize::from(header[4]) * input.len() / 255;
    let first = read_frames(Chunked::new(&input[..cut], seed), start, max, head_keep, true);
    let held = usize::try_from(first.end - start).expect("an offset inside the input");
    assert!(held <= cut, "consumed past what was written");
    let rest =
        read_frames(Chunked::new(&input[held..], seed ^ 0x5a5a), first.end, max, head_keep, false);
    let mut resumed = first.frames;
    resumed.extend(rest.frames);
    assert_eq!(resumed, expected, "a restart at a held tail (byte {held}) lost or doubled a line");
}

/// A frame with its bytes owned, for comparison.
#[derive(Debug, PartialEq, Eq)]
enum Owned {
    Line(u64, Vec<u8>),
    Oversized(u64, Vec<u8>, u64, bool),
    Tail(u64, Vec<u8>),
}

/// What the framer promises, computed from the whole input at once: a `\n` ends a line (a
/// `\r` before it stays in the line: the processor strips it, so it does not count towards the
/// limit), a line over `max` bytes is oversized with its first `head_keep` bytes, and bytes
/// after the last `\n` are a tail.
fn plain_frames(input: &[u8], start: u64, max: usize, head_keep: usize) -> Vec<Owned> {
    let mut out = Vec::new();
    let mut offset = start;
    let pieces: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    let last = pieces.len() - 1;
    for (i, piece) in pieces.into_iter().enumerate() {
        let terminated = i < last;
        if !terminated && piece.is_empty() {
            break;
        }
        out.push(if record_len(piece) > max {
            let head = piece[..head_keep.min(piece.len())].to_vec();
            Owned::Oversized(offset, head, piece.len() as u64, terminated)
        } else if terminated {
            Owned::Line(offset, piece.to_vec())
        } else {
            Owned::Tail(offset, piece.to_vec())
        });
        offset += piece.len() as u64 + u64::from(terminated);
    }
    out
}

/// A line's length as a record: without one `\r` at its end.
fn record_len(line: &[u8]) -> usize {
    line.strip_suffix(b"\r").unwrap_or(line).len()
}

struct Framed {
    frames: Vec<Owned>,
    /// The offset after the last frame consumed.
    end: u64,
}

/// Every frame of `reader`, checking that each starts where the previous one ended. With
/// `hold_tail`, reading stops before an unterminated frame (which is not consumed).
fn read_frames(
    reader: Chunked<'_>,
    start: u64,
    max: usize,
    head_keep: usize,
    hold_tail: bool,
) -> Framed {
    use waymark_pipeline::lines::{Frame, LineReader};
    let mut r = LineReader::new(reader, start, max, head_keep);
    let mut frames = Vec::new();
    let mut end = start;
    loop {
        let before = r.offset();
        let Some(frame) = r.next_frame().expect("reads never fail") else { break };
        let (owned, offset, consumed) = match frame {
            Frame::Line { offset, bytes } => {
                (Owned::Line(offset, bytes.to_vec()), offset, bytes.len() as u64 + 1)
            }
            Frame::Oversized { offset, head, len, terminated } => (
                Owned::Oversized(offset, head, len, terminated),
                offset,
                len + u64::from(terminated),
            ),
            Frame::Tail { offset, bytes } => {
                (Owned::Tail(offset, bytes.to_vec()), offset, bytes.len() as u64)
            }
        };
        assert_eq!(offset, before, "a frame does not start where the previous one ended");
        assert_eq!(r.offset(), offset + consumed, "the offset after a frame");
        let unterminated = matches!(owned, Owned::Tail(..) | Owned::Oversized(.., false));
        if hold_tail && unterminated {
            return Framed { frames, end };
        }
        frames.push(owned);
        end = r.offset();
    }
    assert!(r.next_frame().expect("reads never fail").is_none(), "a frame after the end");
    assert_eq!(r.offset(), end, "the offset moved after the end");
    Framed { frames, end }
}

/// A reader that hands out its input in chunks of pseudo-random sizes (1 byte to 4 KiB,
/// mostly small), now and then failing with `Interrupted` as a signal would.
struct Chunked<'a> {
    rest: &'a [u8],
    state: u32,
}

impl<'a> Chunked<'a> {
    fn new(input: &'a [u8], seed: u32) -> Chunked<'a> {
        Chunked { rest: input, state: seed.wrapping_mul(2_654_435_761) | 1 }
    }

    fn next(&mut self) -> u32 {
        // xorshift32
        self.state ^= self.state << 13;
        self.state ^= self.state >> 17;
        self.state ^= self.state << 5;
        self.state
    }
}

impl std::io::Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let r = self.next();
        if r.is_multiple_of(11) {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        let size = match r % 4 {
            0 => 1 + (r >> 8) % 4,
            1 => 1 + (r >> 8) % 64,
            2 => 1 + (r >> 8) % 1024,
            _ => 4096,
        };
        let n = (size as usize).min(buf.len()).min(self.rest.len());
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        Ok(n)
    }
}

/// The OpenLineage event parser: any body is a run or an error with a message, never a panic;
/// a run's key, row and status agree with the event; the row is bounded like every audit
/// row; and the event written back out as JSON reads as the same run.
pub fn lineage(data: &[u8]) {
    use waymark_core::audit::RunStatus;
    use waymark_core::lineage::{parse_run_event, SYSTEM_TYPE};
    let run = match parse_run_event(data) {
        Ok(run) => run,
        Err(e) => {
            assert!(!e.message.is_empty(), "an error without a message");
            // The same body read again gives the same refusal.
            assert_eq!(parse_run_event(data).err(), Some(e));
            return;
        }
    };
    let row = &run.row;
    check_row(SYSTEM_TYPE, row);
    let key_id = run.run_key.strip_prefix("OPENLINEAGE|").expect("the key names the system");
    assert!(!key_id.is_empty() && key_id.trim() == key_id, "run key `{}`", run.run_key);
    let run_id = row.run_id.as_deref().expect("a run has its id");
    assert!(!run_id.is_empty() && key_id.starts_with(run_id), "run id `{run_id}`, key `{key_id}`");
    if key_id.len() <= audit::MAX_NAME {
        assert_eq!(run_id, key_id, "the row's run id and the key differ");
    }
    assert!(row.folder_name.is_some(), "no namespace");
    assert!(row.workflow_name.as_deref().is_some_and(|w| !w.is_empty()), "no job name");
    let (status, start, end) = match run.event_type.as_str() {
        "START" => (RunStatus::Running, true, false),
        "RUNNING" => (RunStatus::Running, false, false),
        "COMPLETE" => (RunStatus::Success, false, true),
        "FAIL" | "ABORT" => (RunStatus::Failure, false, true),
        "OTHER" => (RunStatus::Unknown, false, false),
        other => panic!("event type `{other}` accepted"),
    };
    assert_eq!(row.status, status, "status of a {} event", run.event_type);
    assert_eq!((row.start_time.is_some(), row.end_time.is_some()), (start, end), "times");
    if run.event_type == "ABORT" {
        assert!(row.error_message.is_some(), "an abort without an error");
    }
    let kept = format!("openlineage_{}", run.event_type.to_ascii_lowercase());
    assert!(row.extra.contains_key(&kept), "the event is not kept under {kept}");
    let _ = row.to_json();
    assert_eq!(&audit::merge_rows(row, row), row, "a row merged with itself changed");

    // Written back out: the same run (the kept event compared after one more round, as a
    // float's text may read back one unit off).
    let event: serde_json::Value = serde_json::from_slice(data).expect("a run's body is JSON");
    let once = serde_json::to_vec(&event).expect("JSON writes");
    let again = parse_run_event(&once).unwrap_or_else(|e| panic!("rewritten event refused: {e}"));
    let without = |r: &waymark_core::lineage::LineageRun| {
        let mut r = r.clone();
        r.row.extra.remove(&kept);
        r
    };
    assert_eq!(without(&again), without(&run), "the rewritten event reads differently");
    let twice: serde_json::Value = serde_json::from_slice(&once).expect("written JSON reads");
    let twice = parse_run_event(&serde_json::to_vec(&twice).expect("JSON writes")).expect("again");
    assert_eq!(twice, again, "the event's second rewrite reads differently");
}

/// The JSON record reader: the view `FlatJson::parse` gives (the scanner, else `serde_json`)
/// is exactly `serde_json`'s, and a refusal is `serde_json`'s with the same message.
pub fn json_flat(data: &[u8]) {
    use waymark_core::parse::FlatJson;
    match (FlatJson::parse(data), FlatJson::parse_serde(data)) {
        (Ok(a), Ok(b)) => assert_eq!(a.entries(), b.entries(), "the views differ"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "the errors differ"),
        (a, b) => panic!("scanner {:?}, serde_json {:?}", a.map(|_| ()), b.map(|_| ())),
    }
}

/// The fast matcher of configured regexes: `data` is a pattern, a NUL byte, then a line. When
/// the fast matcher answers, its match and every group's span are `regex`'s; `Pattern`'s own
/// answer (fast, else `regex`) always is. Patterns get a `^` in front half the time, so that
/// most are ones the fast matcher reads.
pub fn pattern(data: &[u8]) {
    use waymark_core::parse::Pattern;
    let Some(cut) = data.iter().position(|&b| b == 0) else { return };
    let (Ok(pattern), Ok(text)) =
        (std::str::from_utf8(&data[..cut]), std::str::from_utf8(&data[cut + 1..]))
    else {
        return;
    };
    let anchored = format!("^{pattern}");
    for p in [pattern, anchored.as_str()] {
        let Ok(re) = regex::RegexBuilder::new(p).size_limit(1 << 20).build() else { continue };
        let re = Pattern::new(re);
        let want = re.slow_captures(text);
        if let Some(got) = re.fast_captures(text) {
            assert_eq!(got, want, "captures of {p:?}");
        }
        if let Some(got) = re.fast_is_match(text) {
            assert_eq!(got, want.is_some(), "is_match of {p:?}");
        }
    }
}
