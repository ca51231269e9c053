//! The one write path of records: a batch and the positions it reached go to the store in
//! one transaction, retried while the store is busy, never split, never half-written.
//!
//! `ingest` (files, stdin, followed files) and `consume` (Kafka) both commit through
//! [`commit_with_retry`]; `consume` does it on a writer thread of its own ([`Writer`]) so that
//! polling and parsing go on meanwhile.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use waymark_core::pipeline::Batch;
use waymark_store::{EventStore, StoreError};

/// How long a busy store (another process holding the write lock) is waited for, in all,
/// before the run stops with an error; the batch stays uncommitted and is read again.
pub const BUSY_WAIT: Duration = Duration::from_secs(60);

/// Commits `batch`; while the store is busy, retries with a doubling delay (logged) up to
/// [`BUSY_WAIT`]. A lost database connection is restored by the store itself (PostgreSQL's runs
/// the batch again or finds it landed); one it could not restore, a full disk, any other error
/// stops at once with a clear message.
pub fn commit_with_retry(store: &mut dyn EventStore, batch: &Batch) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(100);
    loop {
        let attempt = Instant::now();
        match store.commit(batch) {
            Ok(()) => {
                crate::telemetry::batch_committed(batch.len(), attempt.elapsed());
                return Ok(());
            }
            Err(e @ StoreError::Busy { .. }) if started.elapsed() < BUSY_WAIT => {
                tracing::warn!(error = %e, retry_in = ?delay, waited = ?started.elapsed(), "the store is busy; retrying the batch");
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e @ StoreError::Busy { .. }) => {
                return Err(e).with_context(|| {
                    format!("the store stayed locked for {BUSY_WAIT:?}; nothing of the batch was written")
                });
            }
            Err(e @ StoreError::Full { .. }) => {
                return Err(e).context(
                    "the store's disk is full; nothing of the batch was written (free space and run again)",
                );
            }
            // The store restores a lost connection itself, for a bound (PostgreSQL: 60 s).
            Err(e @ StoreError::Lost { .. }) => {
                return Err(e).context(
                    "the database stayed out of reach; the batch may or may not have been stored (a rerun stores nothing twice)",
                );
            }
            Err(e) => return Err(e).context("cannot commit a batch to the store"),
        }
    }
}

/// What the writer reports for each batch it committed: the batch itself, handed back so that
/// freeing its rows (or reusing its buffers) costs the receiver's thread, not the writer's.
#[derive(Debug)]
pub struct Committed {
    pub batch: Batch,
}

/// A store handle that can move to the writer thread.
pub type BoxedEventStore = Box<dyn EventStore + Send>;

/// Commits batches to the store on its own thread, in order, acknowledging each.
pub struct Writer {
    tx: Option<SyncSender<Batch>>,
    acks: Receiver<anyhow::Result<Committed>>,
    handle: Option<JoinHandle<()>>,
    in_flight: usize,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").field("in_flight", &self.in_flight).finish()
    }
}

impl Writer {
    pub fn spawn(mut store: BoxedEventStore) -> Writer {
        // One batch waits while one commits (and one fills on the sender's side): the writer
        // is the slower stage, so a deeper queue would only hold more memory.
        let (tx, rx) = mpsc::sync_channel::<Batch>(1);
        let (ack_tx, acks) = mpsc::channel();
        let spawned = std::thread::Builder::new().name("store-writer".into()).spawn(move || {
            for batch in rx {
                let (t, records) = (Instant::now(), batch.len());
                let done = commit_with_retry(store.as_mut(), &batch).map(|()| Committed { batch });
                tracing::debug!(records, took = ?t.elapsed(), "batch committed");
                if ack_tx.send(done).is_err() {
                    return;
                }
            }
        });
        let handle = match spawned {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the store writer");
                None
            }
        };
        Writer { tx: Some(tx), acks, handle, in_flight: 0 }
    }

    pub fn send(&mut self, batch: Batch) -> anyhow::Result<()> {
        let tx = self.tx.as_ref().context("the store writer has stopped")?;
        tx.send(batch).ok().context("the store writer has stopped")?;
        self.in_flight += 1;
        Ok(())
    }

    /// The next acknowledgement: waits for it when `block`, else only takes one that is there.
    pub fn ack(&mut self, block: bool) -> Option<anyhow::Result<Committed>> {
        if self.in_flight == 0 {
            return None;
        }
        let ack = if block { self.acks.recv().ok() } else { self.acks.try_recv().ok() };
        if ack.is_some() {
            self.in_flight -= 1;
        }
        ack
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
