//! Flow states: a flow (one correlation id across systems) against its family's shape.

use serde::Serialize;

use super::config::FlowExpect;
use crate::{Event, Status};

/// Where a flow stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FlowState {
    /// Every required step reached one of its final checkpoints.
    Complete,
    /// A FAILURE without a later SUCCESS of the same checkpoint, in a required step.
    Failed,
    /// A required step's deadline passed with no final checkpoint and no failure.
    Stalled,
    /// None of the above yet.
    InProgress,
}

impl FlowState {
    pub const ALL: [FlowState; 4] =
        [FlowState::Complete, FlowState::Failed, FlowState::Stalled, FlowState::InProgress];

    pub fn as_str(self) -> &'static str {
        match self {
            FlowState::Complete => "complete",
            FlowState::Failed => "failed",
            FlowState::Stalled => "stalled",
            FlowState::InProgress => "in-progress",
        }
    }

    pub fn parse(s: &str) -> Option<FlowState> {
        FlowState::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// A flow's state and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FlowStatus {
    pub correlation_id: String,
    /// The `[[expect.flow]]` it belongs to.
    pub family: String,
    pub state: FlowState,
    /// Its first event, microseconds since the epoch.
    pub first_micros: i64,
    /// Its latest event.
    pub last_micros: i64,
    /// The system that failed or stalled.
    pub system: Option<String>,
    /// The failed checkpoint, or the final checkpoints a stalled step is waiting for.
    pub checkpoint: Option<String>,
    /// The failure's reason.
    pub reason: Option<String>,
    /// When the state began: the failure's time, or the deadline that passed.
    pub since_micros: i64,
}

/// The family of a flow: the first shape whose correlation-id glob matches and that has a
/// step for one of the flow's systems.
pub fn family<'a>(shapes: &'a [FlowExpect], cid: &str, events: &[Event]) -> Option<&'a FlowExpect> {
    shapes.iter().find(|f| {
        f.correlation_id.is_match(cid)
            && f.steps.iter().any(|s| events.iter().any(|e| *e.system_id == *s.system))
    })
}

/// The state of one flow at `now` (microseconds). Events may come in any order.
pub fn flow_status(
    shapes: &[FlowExpect],
    cid: &str,
    events: &[Event],
    now: i64,
) -> Option<FlowStatus> {
    let shape = family(shapes, cid, events)?;
    let mut sorted: Vec<&Event> = events.iter().collect();
    sorted.sort_by_key(|e| e.ts_micros);
    let first = sorted.first()?.ts_micros;
    let last = sorted.last()?.ts_micros;
    let mut status = FlowStatus {
        correlation_id: cid.to_owned(),
        family: shape.name.clone(),
        state: FlowState::InProgress,
        first_micros: first,
        last_micros: last,
        system: None,
        checkpoint: None,
        reason: None,
        since_micros: first,
    };
    let required = || shape.steps.iter().filter(|s| !s.optional);
    let done = |step: &super::config::FlowStep| {
        sorted.iter().any(|e| {
            *e.system_id == *step.system
                && e.status == Status::Success
                && step.finals.iter().any(|g| g.is_match(&e.checkpoint_id))
        })
    };
    if required().all(done) {
        status.state = FlowState::Complete;
        status.since_micros = last;
        return Some(status);
    }
    // The latest unrecovered failure of a required step.
    let failure = sorted.iter().rev().find(|f| {
        f.status == Status::Failure
            && required().any(|s| *s.system == *f.system_id)
            && !sorted.iter().any(|e| {
                e.status == Status::Success
                    && e.system_id == f.system_id
                    && e.checkpoint_id == f.checkpoint_id
                    && e.ts_micros > f.ts_micros
            })
    });
    if let Some(f) = failure {
        status.state = FlowState::Failed;
        status.system = Some(f.system_id.to_string());
        status.checkpoint = Some(f.checkpoint_id.clone());
        status.reason = f.failure_reason.clone();
        status.since_micros = f.ts_micros;
        return Some(status);
    }
    let overdue = required()
        .filter(|s| !done(s))
        .map(|s| (first.saturating_add(s.within_micros), s))
        .filter(|(deadline, _)| *deadline < now)
        .min_by_key(|(deadline, _)| *deadline);
    if let Some((deadline, step)) = overdue {
        status.state = FlowState::Stalled;
        status.system = Some(step.system.clone());
        let finals: Vec<&str> = step.finals.iter().map(|g| g.as_str()).collect();
        status.checkpoint = Some(finals.join("|"));
        status.since_micros = deadline;
    }
    Some(status)
}
