//! Where a flow stopped: the last event of every system it went through, and the failures
//! among them.

use serde::Serialize;

use super::EventView;

/// The state of a flow, as its last events say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum VerdictState {
    /// No event at all.
    Empty,
    /// The last event of every system is a success.
    Succeeded,
    /// The last event of at least one system is a failure.
    Failed,
}

/// A system's last event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stop {
    pub system_id: String,
    pub checkpoint_id: String,
    pub status: String,
    pub timestamp: String,
    pub failure_reason: Option<String>,
}

/// Where a flow stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Verdict {
    pub state: VerdictState,
    /// The failures among the last events of the systems.
    pub failed_at: Vec<Stop>,
    /// The flow's last event.
    pub last: Option<Stop>,
    /// The same in one sentence, for people.
    pub text: String,
}

impl Stop {
    fn of(e: &EventView) -> Stop {
        Stop {
            system_id: e.system_id.clone(),
            checkpoint_id: e.checkpoint_id.clone(),
            status: e.status.clone(),
            timestamp: e.timestamp.clone(),
            failure_reason: e.failure_reason.clone(),
        }
    }
}

impl Verdict {
    /// The verdict on a flow's events, in time order.
    pub fn of(events: &[EventView]) -> Verdict {
        let mut last: Vec<&EventView> = Vec::new();
        for e in events {
            match last.iter_mut().find(|l| l.system_id == e.system_id) {
                Some(slot) => *slot = e,
                None => last.push(e),
            }
        }
        let failed_at: Vec<Stop> =
            last.iter().filter(|e| e.status == "FAILURE").map(|e| Stop::of(e)).collect();
        let Some(end) = events.last() else {
            return Verdict {
                state: VerdictState::Empty,
                failed_at,
                last: None,
                text: "no events".to_owned(),
            };
        };
        let (state, text) = if failed_at.is_empty() {
            let text = format!(
                "last step {} {} {} at {}",
                end.system_id, end.checkpoint_id, end.status, end.timestamp
            );
            (VerdictState::Succeeded, text)
        } else {
            let parts: Vec<String> = failed_at
                .iter()
                .map(|s| {
                    let why = s.failure_reason.as_deref().unwrap_or("reason not (yet) known");
                    format!("{} {} ({why})", s.system_id, s.checkpoint_id)
                })
                .collect();
            (VerdictState::Failed, format!("stopped with FAILURE at {}", parts.join("; ")))
        };
        Verdict { state, failed_at, last: Some(Stop::of(end)), text }
    }
}
