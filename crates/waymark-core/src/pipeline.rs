//! One record in, its effects out: checks, parse, normalize and correlate, in that order.
//!
//! A [`Processor`] owns the correlator; a source frames its input into records and calls
//! [`Processor::record`] with each one and its origin, collecting everything into a [`Batch`]
//! that a store commits in one transaction together with the positions it reached.

use crate::config::Config;
use crate::correlate::{Change, Correlator, Pending};
use crate::event::Origin;
use crate::parse::{Parsed, Parsers, Reject, RejectKind};

/// At most this many bytes of a rejected record are kept in `dead_letters`.
pub const DEAD_LETTER_MAX_RAW: usize = 64 * 1024;

/// A rejected record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub origin: Origin,
    /// The record's bytes, cut at [`DEAD_LETTER_MAX_RAW`].
    pub raw: Vec<u8>,
    /// The record's real length.
    pub raw_len: u64,
    pub reason: Reject,
}

/// What a run did, record by record; summed over batches for the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Records read, blank ones included.
    pub records: u64,
    pub blank: u64,
    pub events: u64,
    pub details: u64,
    pub joined: u64,
    pub orphaned: u64,
    pub rejected: u64,
    /// Rejections per kind, in [`RejectKind::ALL`] order.
    pub rejected_by_kind: [u64; RejectKind::ALL.len()],
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.records += o.records;
        self.blank += o.blank;
        self.events += o.events;
        self.details += o.details;
        self.joined += o.joined;
        self.orphaned += o.orphaned;
        self.rejected += o.rejected;
        for (a, b) in self.rejected_by_kind.iter_mut().zip(o.rejected_by_kind) {
            *a += b;
        }
    }
}

/// A source's position after a batch, with the identity of what was read up to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePosition {
    pub source: u32,
    pub position: u64,
    /// A fingerprint of the bytes before `position` (files), to tell a file that was replaced
    /// or truncated from the one read so far.
    pub identity: Option<String>,
}

/// Everything one transaction stores.
#[derive(Debug, Default)]
pub struct Batch {
    /// Store changes in order.
    pub changes: Vec<Change>,
    pub dead_letters: Vec<DeadLetter>,
    /// The positions to resume from, reached by this batch.
    pub positions: Vec<SourcePosition>,
    /// The correlator's watermark of each source this batch touched.
    pub watermarks: Vec<(u32, i64)>,
    pub counts: Counts,
}

impl Batch {
    /// Records that position `pos` of `source` is reached (replacing an earlier one).
    pub fn set_position(&mut self, source: u32, position: u64, identity: Option<String>) {
        let new = SourcePosition { source, position, identity };
        match self.positions.iter_mut().find(|p| p.source == source) {
            Some(slot) => *slot = new,
            None => self.positions.push(new),
        }
    }

    /// Records the event-time watermark a source reached.
    pub fn set_watermark(&mut self, source: u32, watermark: i64) {
        match self.watermarks.iter_mut().find(|(s, _)| *s == source) {
            Some(slot) => slot.1 = watermark,
            None => self.watermarks.push((source, watermark)),
        }
    }

    /// Records processed into this batch.
    pub fn len(&self) -> u64 {
        self.counts.records
    }

    pub fn is_empty(&self) -> bool {
        self.counts.records == 0
    }
}

/// Checks, parses and correlates records.
#[derive(Debug)]
pub struct Processor<'c> {
    parsers: &'c Parsers,
    correlator: Correlator,
    max_line_bytes: usize,
}

impl<'c> Processor<'c> {
    pub fn new(config: &'c Config) -> Processor<'c> {
        let correlator =
            Correlator::new(config.parsers.joinable_systems(), config.ingest.join_ttl_secs);
        Processor {
            parsers: &config.parsers,
            correlator,
            max_line_bytes: config.ingest.max_line_bytes,
        }
    }

    /// Reloads the join state a store kept.
    pub fn restore(&mut self, waiting: Vec<Pending>, watermarks: Vec<(u32, i64)>) {
        self.correlator.restore(waiting, watermarks);
    }

    /// Reloads the latest orphans a store kept (see [`Correlator::restore_orphans`]).
    pub fn restore_orphans(&mut self, orphans: Vec<Pending>) {
        self.correlator.restore_orphans(orphans);
    }

    /// The input of `source` ended (see [`Correlator::end_source`]): its halves are timed by
    /// the latest event time of all sources from now on; those already expired by it become
    /// orphans in `batch`.
    pub fn end_source(&mut self, source: u32, batch: &mut Batch) {
        let before = self.correlator.counts();
        self.correlator.end_source(source, &mut batch.changes);
        batch.counts.orphaned += self.correlator.counts().orphaned - before.orphaned;
    }

    /// Forgets the halves waiting from one source (see [`Correlator::forget_source`]).
    pub fn forget_source(&mut self, source: u32) {
        self.correlator.forget_source(source);
    }

    /// An empty message (Kafka): a dead letter, unlike a blank line of a file.
    pub fn empty(&mut self, origin: Origin, batch: &mut Batch) {
        batch.counts.records += 1;
        reject(batch, origin, b"", 0, Reject::new(RejectKind::Empty, "empty message"));
    }

    /// The sources the join state knows (those with a clock).
    pub fn sources(&self) -> Vec<u32> {
        self.correlator.sources()
    }

    /// Halves waiting for their partner now.
    pub fn waiting(&self) -> usize {
        self.correlator.waiting()
    }

    /// One record (without its line terminator) from `origin`.
    pub fn record(&mut self, origin: Origin, bytes: &[u8], batch: &mut Batch) {
        batch.counts.records += 1;
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if bytes.iter().all(u8::is_ascii_whitespace) {
            batch.counts.blank += 1;
            return;
        }
        if bytes.len() > self.max_line_bytes {
            let msg = format!("{} bytes, over the limit of {}", bytes.len(), self.max_line_bytes);
            return reject(
                batch,
                origin,
                bytes,
                bytes.len() as u64,
                Reject::new(RejectKind::TooLong, msg),
            );
        }
        if let Some(at) = memchr::memchr(0, bytes) {
            let r = Reject::new(RejectKind::NulByte, format!("NUL byte at offset {at}"));
            return reject(batch, origin, bytes, bytes.len() as u64, r);
        }
        self.parsed(origin, bytes, batch);
    }

    /// A record longer than the limit that the framer did not keep whole: `head` is its start.
    pub fn oversized(&mut self, origin: Origin, head: &[u8], len: u64, batch: &mut Batch) {
        batch.counts.records += 1;
        let msg = format!("{len} bytes, over the limit of {}", self.max_line_bytes);
        reject(batch, origin, head, len, Reject::new(RejectKind::TooLong, msg));
    }

    fn parsed(&mut self, origin: Origin, bytes: &[u8], batch: &mut Batch) {
        let before = self.correlator.counts();
        match self.parsers.parse_bytes(bytes) {
            Ok(Parsed::Event(e)) => {
                batch.counts.events += 1;
                self.correlator.event(origin, e, &mut batch.changes);
            }
            Ok(Parsed::Detail(d)) => {
                batch.counts.details += 1;
                self.correlator.detail(origin, d, &mut batch.changes);
            }
            Err(r) => return reject(batch, origin, bytes, bytes.len() as u64, r),
        }
        let after = self.correlator.counts();
        batch.counts.joined += after.joined - before.joined;
        batch.counts.orphaned += after.orphaned - before.orphaned;
        if let Some(wm) = self.correlator.watermark(origin.source) {
            batch.set_watermark(origin.source, wm);
        }
    }
}

fn reject(batch: &mut Batch, origin: Origin, bytes: &[u8], len: u64, reason: Reject) {
    batch.counts.rejected += 1;
    if let Some(i) = RejectKind::ALL.iter().position(|k| *k == reason.kind) {
        batch.counts.rejected_by_kind[i] += 1;
    }
    let raw = bytes[..bytes.len().min(DEAD_LETTER_MAX_RAW)].to_vec();
    batch.dead_letters.push(DeadLetter { origin, raw, raw_len: len, reason });
}

#[cfg(test)]
mod tests;
