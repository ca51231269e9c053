//! The join of split failures: a failure detail attaches its reason to the FAILURE event of the
//! same system and correlation id, whichever of the two arrives first.
//!
//! The correlator is pure: it keeps the halves that wait for a partner in memory and returns
//! [`Change`]s that a store applies in the same transaction as the events, so the waiting
//! halves survive a restart ([`Correlator::restore`]). Time is event time, kept per source: the
//! watermark of a source (a file, a Kafka partition) is the latest event timestamp read from it,
//! and a half that waited longer than the time-to-live by its own source's clock becomes an
//! orphan. Event time rather than the wall clock makes a replay after a crash produce exactly
//! the same rows; per source, because sources advance independently (a partition taken over
//! from a dead consumer is far behind the others, and its halves are not late).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use crate::event::{Detail, Event, Origin, Status};

/// What the store must do, in order, to mirror the correlator's decisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Store a new event (its reason may already be joined).
    Insert { origin: Origin, event: Event },
    /// Fill the reason of an event stored earlier (identified by its origin).
    Attach { event: Origin, reason: String },
    /// Remember a half that waits for its partner.
    Wait(Pending),
    /// Forget a waiting half: it found its partner, `by`, the half just read (described as it
    /// would have waited). One writer's store just forgets `key`. A store shared by several
    /// writers, where another writer may have joined `key` meanwhile (a half restored into two
    /// memories, or joined in SQL by another process), checks that `key` still waits; if it does
    /// not, the join is void and `by` waits instead (see the PostgreSQL store).
    Joined { key: Origin, by: Pending },
    /// A waiting half outlived the time-to-live: it stays, marked as an orphan.
    Orphaned { key: Origin },
}

/// Which half is waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PendingKind {
    /// A FAILURE event waiting for its reason.
    Failure,
    /// A reason waiting for its FAILURE event.
    Reason,
}

impl PendingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PendingKind::Failure => "failure",
            PendingKind::Reason => "reason",
        }
    }

    pub fn parse(s: &str) -> Option<PendingKind> {
        match s {
            "failure" => Some(PendingKind::Failure),
            "reason" => Some(PendingKind::Reason),
            _ => None,
        }
    }
}

/// A waiting half, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The origin of the record (for a failure, also the key of its event row).
    pub key: Origin,
    pub kind: PendingKind,
    pub system_id: String,
    pub correlation_id: String,
    /// Event time of the half (for a detail without time: the watermark when it arrived).
    pub ts_micros: i64,
    /// The reason, for a waiting reason.
    pub reason: Option<String>,
}

/// Counts of a correlator's decisions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JoinCounts {
    /// Reasons joined to their failure.
    pub joined: u64,
    /// Halves that became orphans.
    pub orphaned: u64,
}

type Key = (String, String);

/// An orphan kept for a late partner: its origin and, for a reason, the reason.
type RecentOrphan = (Origin, Option<String>);

/// The join state and its rules.
#[derive(Debug)]
pub struct Correlator {
    ttl_micros: i64,
    joinable: HashSet<String>,
    failures: HashMap<Key, VecDeque<(i64, Origin)>>,
    reasons: HashMap<Key, VecDeque<(i64, Origin, String)>>,
    /// Per source, (expiry time, key) of its waiting halves, to find the expired ones in order.
    expiry: HashMap<u32, BTreeSet<(i64, Origin)>>,
    /// key -> (kind, system, correlation id), to remove an expired half from its queue.
    index: HashMap<Origin, (PendingKind, Key)>,
    watermarks: HashMap<u32, i64>,
    /// Sources whose input ended (stdin closed, a file version retired or read to its end):
    /// their halves are timed by the latest event time of all sources from then on.
    ended: HashSet<u32>,
    /// The latest orphans of this run, so that a partner arriving after the time-to-live
    /// still joins them (bounded by [`RECENT_ORPHANS`]; older ones are joined by the store
    /// when their partner becomes an orphan in turn).
    recent: HashMap<(PendingKind, Key), VecDeque<RecentOrphan>>,
    recent_order: VecDeque<((PendingKind, Key), Origin)>,
    counts: JoinCounts,
}

/// Orphans kept in memory for a late partner.
pub const RECENT_ORPHANS: usize = 65_536;

impl Correlator {
    /// `joinable`: systems that log reasons separately; only their failures wait for one.
    pub fn new(joinable: impl IntoIterator<Item = String>, ttl_secs: u64) -> Correlator {
        Correlator {
            ttl_micros: i64::try_from(ttl_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX),
            joinable: joinable.into_iter().collect(),
            failures: HashMap::new(),
            reasons: HashMap::new(),
            expiry: HashMap::new(),
            index: HashMap::new(),
            watermarks: HashMap::new(),
            ended: HashSet::new(),
            recent: HashMap::new(),
            recent_order: VecDeque::new(),
            counts: JoinCounts::default(),
        }
    }

    /// Reloads the halves still waiting and the sources' watermarks, as a store kept them.
    pub fn restore(
        &mut self,
        waiting: impl IntoIterator<Item = Pending>,
        watermarks: impl IntoIterator<Item = (u32, i64)>,
    ) {
        for (source, wm) in watermarks {
            let slot = self.watermarks.entry(source).or_insert(wm);
            *slot = (*slot).max(wm);
        }
        for p in waiting {
            if !self.index.contains_key(&p.key) {
                self.remember(p);
            }
        }
    }

    /// Reloads the latest orphans a store kept (at most [`RECENT_ORPHANS`], oldest first), so
    /// that a restart joins a late partner exactly as one uninterrupted run would.
    pub fn restore_orphans(&mut self, orphans: impl IntoIterator<Item = Pending>) {
        for p in orphans {
            let k = (p.system_id, p.correlation_id);
            if !self
                .recent
                .get(&(p.kind, k.clone()))
                .is_some_and(|q| q.iter().any(|e| e.0 == p.key))
            {
                self.remember_orphan(p.kind, k, p.key, p.reason);
            }
        }
    }

    /// Forgets the waiting halves that came from one source (a Kafka partition handed to
    /// another consumer, which reloads them from the store).
    pub fn forget_source(&mut self, source: u32) {
        let keys: Vec<Origin> = self.index.keys().copied().filter(|k| k.source == source).collect();
        for key in keys {
            let Some((kind, k)) = self.index.remove(&key) else { continue };
            match kind {
                PendingKind::Failure => remove_where(&mut self.failures, &k, |e| e.1 == key),
                PendingKind::Reason => remove_where(&mut self.reasons, &k, |e| e.1 == key),
            }
        }
        self.expiry.remove(&source);
        self.watermarks.remove(&source);
        self.ended.remove(&source);
    }

    /// Marks a source as ended: no record will come from it any more. Its waiting halves no
    /// longer wait for its own clock, which has stopped, but for the latest event time read
    /// from any source; those already past the time-to-live by that clock become orphans now.
    /// (An orphan still joins a partner that turns up later: see the store's late join.)
    pub fn end_source(&mut self, source: u32, out: &mut Vec<Change>) {
        if self.ended.insert(source) {
            self.expire_ended(out);
        }
    }

    /// The sources with a clock, in no order.
    pub fn sources(&self) -> Vec<u32> {
        self.watermarks.keys().copied().collect()
    }

    /// The latest event time read from any source.
    pub fn global_watermark(&self) -> Option<i64> {
        self.watermarks.values().copied().max()
    }

    /// The event-time watermark of one source.
    pub fn watermark(&self, source: u32) -> Option<i64> {
        self.watermarks.get(&source).copied()
    }

    pub fn counts(&self) -> JoinCounts {
        self.counts
    }

    /// Halves currently waiting.
    pub fn waiting(&self) -> usize {
        self.index.len()
    }

    /// Takes one event; pushes the changes it causes.
    pub fn event(&mut self, origin: Origin, mut event: Event, out: &mut Vec<Change>) {
        let key = origin;
        let waits = event.status == Status::Failure
            && event.failure_reason.is_none()
            && self.joinable.contains(&*event.system_id);
        if waits {
            let k = (event.system_id.to_string(), event.correlation_id.clone());
            let found = self.take_reason(&k).or_else(|| {
                let (key, reason) = self.take_recent(PendingKind::Reason, &k)?;
                Some((key, reason.unwrap_or_default()))
            });
            let pending = Pending {
                key,
                kind: PendingKind::Failure,
                system_id: k.0,
                correlation_id: k.1,
                ts_micros: event.ts_micros,
                reason: None,
            };
            if let Some((reason_key, reason)) = found {
                event.failure_reason = Some(reason);
                self.counts.joined += 1;
                out.push(Change::Joined { key: reason_key, by: pending });
            } else {
                out.push(Change::Insert { origin, event: event.clone() });
                out.push(Change::Wait(pending.clone()));
                self.remember(pending);
                self.advance(origin.source, event.ts_micros, out);
                return;
            }
        }
        let ts = event.ts_micros;
        out.push(Change::Insert { origin, event });
        self.advance(origin.source, ts, out);
    }

    /// Takes one failure detail; pushes the changes it causes.
    pub fn detail(&mut self, origin: Origin, detail: Detail, out: &mut Vec<Change>) {
        let k = (detail.system_id.to_string(), detail.correlation_id);
        let found = self
            .take_failure(&k)
            .or_else(|| self.take_recent(PendingKind::Failure, &k).map(|(key, _)| key));
        let ts_micros = detail.ts_micros.or(self.watermark(origin.source)).unwrap_or(i64::MIN);
        let pending = Pending {
            key: origin,
            kind: PendingKind::Reason,
            system_id: k.0,
            correlation_id: k.1,
            ts_micros,
            reason: Some(detail.failure_reason),
        };
        if let Some(event) = found {
            self.counts.joined += 1;
            let reason = pending.reason.clone().unwrap_or_default();
            out.push(Change::Joined { key: event, by: pending });
            out.push(Change::Attach { event, reason });
        } else {
            out.push(Change::Wait(pending.clone()));
            self.remember(pending);
        }
        if let Some(ts) = detail.ts_micros {
            self.advance(origin.source, ts, out);
        }
    }

    fn remember(&mut self, p: Pending) {
        let k = (p.system_id, p.correlation_id);
        let expires = self.expires_at(p.ts_micros);
        self.expiry.entry(p.key.source).or_default().insert((expires, p.key));
        self.index.insert(p.key, (p.kind, k.clone()));
        match p.kind {
            PendingKind::Failure => {
                self.failures.entry(k).or_default().push_back((p.ts_micros, p.key))
            }
            PendingKind::Reason => {
                let reason = p.reason.unwrap_or_default();
                self.reasons.entry(k).or_default().push_back((p.ts_micros, p.key, reason));
            }
        }
    }

    /// The oldest failure waiting for this system and id (by event time, then arrival).
    fn take_failure(&mut self, k: &Key) -> Option<Origin> {
        let queue = self.failures.get_mut(k)?;
        let (pos, &(ts, key)) =
            queue.iter().enumerate().min_by_key(|(_, (ts, key))| (*ts, *key))?;
        queue.remove(pos);
        if queue.is_empty() {
            self.failures.remove(k);
        }
        self.forget(ts, key);
        Some(key)
    }

    /// The oldest reason waiting (in arrival order: reasons may carry no time).
    fn take_reason(&mut self, k: &Key) -> Option<(Origin, String)> {
        let queue = self.reasons.get_mut(k)?;
        let (ts, key, reason) = queue.pop_front()?;
        if queue.is_empty() {
            self.reasons.remove(k);
        }
        self.forget(ts, key);
        Some((key, reason))
    }

    /// A reason that came before any event has no date (`i64::MIN`): it waits until joined.
    fn expires_at(&self, ts: i64) -> i64 {
        if ts == i64::MIN {
            i64::MAX
        } else {
            ts.saturating_add(self.ttl_micros)
        }
    }

    fn forget(&mut self, ts: i64, key: Origin) {
        let expires = self.expires_at(ts);
        if let Some(set) = self.expiry.get_mut(&key.source) {
            set.remove(&(expires, key));
        }
        self.index.remove(&key);
    }

    /// Moves a source's watermark and turns its halves that outlived the time-to-live into
    /// orphans.
    fn advance(&mut self, source: u32, ts: i64, out: &mut Vec<Change>) {
        let before = self.global_watermark();
        let wm = self.watermarks.entry(source).or_insert(ts);
        *wm = (*wm).max(ts);
        let wm = *wm;
        self.expire(source, wm, out);
        if !self.ended.is_empty() && before.is_none_or(|b| wm > b) {
            self.expire_ended(out);
        }
    }

    /// Expires the halves of ended sources by the latest event time of all sources.
    fn expire_ended(&mut self, out: &mut Vec<Change>) {
        let Some(global) = self.global_watermark() else { return };
        let ended: Vec<u32> = self.ended.iter().copied().collect();
        for source in ended {
            self.expire(source, global, out);
        }
    }

    /// Turns `source`'s halves that expire before `clock` into orphans.
    fn expire(&mut self, source: u32, clock: i64, out: &mut Vec<Change>) {
        let wm = clock;
        loop {
            let Some(expiry) = self.expiry.get_mut(&source) else { return };
            let Some(&(expires, key)) = expiry.first() else { return };
            if expires >= wm {
                return;
            }
            expiry.pop_first();
            let Some((kind, k)) = self.index.remove(&key) else { continue };
            let reason = match kind {
                PendingKind::Failure => {
                    remove_where(&mut self.failures, &k, |e| e.1 == key);
                    None
                }
                PendingKind::Reason => {
                    let reason = self
                        .reasons
                        .get(&k)
                        .and_then(|q| q.iter().find(|e| e.1 == key))
                        .map(|e| e.2.clone());
                    remove_where(&mut self.reasons, &k, |e| e.1 == key);
                    reason
                }
            };
            self.counts.orphaned += 1;
            out.push(Change::Orphaned { key });
            self.remember_orphan(kind, k, key, reason);
        }
    }
}

impl Correlator {
    fn remember_orphan(&mut self, kind: PendingKind, k: Key, key: Origin, reason: Option<String>) {
        if self.recent_order.len() >= RECENT_ORPHANS {
            if let Some((old, old_key)) = self.recent_order.pop_front() {
                if let Some(q) = self.recent.get_mut(&old) {
                    q.retain(|e| e.0 != old_key);
                    if q.is_empty() {
                        self.recent.remove(&old);
                    }
                }
            }
        }
        self.recent_order.push_back(((kind, k.clone()), key));
        self.recent.entry((kind, k)).or_default().push_back((key, reason));
    }

    /// The oldest recent orphan of `kind` for this system and id.
    fn take_recent(&mut self, kind: PendingKind, k: &Key) -> Option<(Origin, Option<String>)> {
        let slot = (kind, k.clone());
        let q = self.recent.get_mut(&slot)?;
        let found = q.pop_front();
        if q.is_empty() {
            self.recent.remove(&slot);
        }
        if let Some((key, _)) = &found {
            self.recent_order.retain(|e| e.1 != *key);
        }
        found
    }
}

fn remove_where<T>(map: &mut HashMap<Key, VecDeque<T>>, k: &Key, pred: impl Fn(&T) -> bool) {
    if let Some(q) = map.get_mut(k) {
        q.retain(|e| !pred(e));
        if q.is_empty() {
            map.remove(k);
        }
    }
}

#[cfg(test)]
mod tests;
