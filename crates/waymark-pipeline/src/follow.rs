//! Following files as they grow: the `[[source]] type = "file"` of `waymark serve`.
//!
//! Each poll expands the configured paths and globs again (new files appear), then runs one
//! [`Ingest::cycle`] with the join state kept in memory between polls: each file is read from
//! its start the first time it is seen, then only what was appended; rotation (rename,
//! copy-truncate, later compression) is recognised by content as in `ingest`; a last line
//! without its newline waits until it is complete. Positions commit with their rows, so a
//! kill at any instant followed by a restart reads nothing twice and loses nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use waymark_core::config::Config;
use waymark_store::EventStore;

use crate::ingest::{Ends, Ingest, IngestReport, Input};
use crate::scan::expand;

/// How a followed source is asked to run.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// Files, folders (every file below) and globs.
    pub paths: Vec<String>,
    /// Time between polls.
    pub interval: Duration,
}

/// Follows the files until `stop` is set, calling `each` after every poll with what it read.
/// A poll that fails (the store is gone, the disk is full) is logged and retried at the next
/// interval with the join state reloaded from the store; the error of the last failed poll is
/// returned if the loop stops right after it.
pub fn follow(
    config: &Config,
    store: &mut dyn EventStore,
    opts: &FollowOptions,
    stop: &AtomicBool,
    mut each: impl FnMut(&IngestReport),
) -> anyhow::Result<()> {
    let mut ingest = Ingest::new(config);
    let mut last_error = None;
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let walked = expand(&opts.paths);
        for (path, error) in &walked.errors {
            tracing::debug!(path, error, "not followed now");
        }
        let inputs: Vec<Input> = walked.files.into_iter().map(Input::File).collect();
        match ingest.cycle(store, &inputs, Ends::WhenGone) {
            Ok(report) => {
                last_error = None;
                each(&report);
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "a poll of the followed files failed; retrying");
                last_error = Some(e);
            }
        }
        let rest = opts.interval.saturating_sub(started.elapsed());
        sleep_unless(stop, rest);
    }
    match last_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Sleeps for `d`, waking early when `stop` is set.
pub fn sleep_unless(stop: &AtomicBool, d: Duration) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= until {
            return;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(50)));
    }
}
