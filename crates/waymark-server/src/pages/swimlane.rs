//! A flow's swimlane as inline SVG, drawn on the server: one lane per system (in the order the
//! flow reached them), each event a mark on a shared time axis, failures drawn as red squares
//! with their reason beside them, retries (the same system and checkpoint again) numbered.

use std::collections::HashMap;

use maud::{html, Markup};
use waymark_core::answer::FlowTrace;

const LABEL_W: f64 = 150.0;
const PLOT_W: f64 = 760.0;
const LANE_H: f64 = 96.0;
const TOP: f64 = 60.0;
/// The least horizontal room between two marks (the labels are slanted to fit).
const GAP: f64 = 26.0;

/// The swimlane of `flow`; every event is one `<g class="ev">` with its fields as data
/// attributes (the browser test reads them).
pub(super) fn svg(flow: &FlowTrace) -> Markup {
    let lanes: Vec<&str> = flow.systems.iter().map(String::as_str).collect();
    let lane_of = |s: &str| lanes.iter().position(|l| *l == s).unwrap_or(0);
    let height = TOP + LANE_H * lanes.len().max(1) as f64 + 26.0;
    let (lo, hi) = flow
        .events
        .iter()
        .fold((i64::MAX, i64::MIN), |(lo, hi), e| (lo.min(e.ts_micros), hi.max(e.ts_micros)));
    let n = flow.events.len();
    // On the time axis; events at one instant (or a flow of one event) spread by their order,
    // and marks closer than GAP pushed right (the axis stays monotonic), widening the plot.
    let mut xs: Vec<f64> = Vec::with_capacity(n);
    for (i, e) in flow.events.iter().enumerate() {
        let t = if hi > lo {
            LABEL_W + 10.0 + (e.ts_micros - lo) as f64 / (hi - lo) as f64 * (PLOT_W - 150.0)
        } else {
            LABEL_W + 10.0 + i as f64 * GAP
        };
        let x = match xs.last() {
            Some(prev) => t.max(prev + GAP),
            None => t,
        };
        xs.push(x);
    }
    let width = xs.last().map_or(LABEL_W + PLOT_W, |x| (x + 150.0).max(LABEL_W + PLOT_W));
    let y = |lane: usize| TOP + LANE_H * lane as f64 + LANE_H * 0.62;
    let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
    let mut failures = 0_usize;
    let points: Vec<(f64, f64)> =
        flow.events.iter().zip(&xs).map(|(e, x)| (*x, y(lane_of(&e.system_id)))).collect();
    let path: String = points
        .iter()
        .enumerate()
        .map(|(i, (px, py))| format!("{}{px:.1},{py:.1}", if i == 0 { "M" } else { " L" }))
        .collect();
    let span = if hi > lo { format_span(hi - lo) } else { String::from("one instant") };
    html! {
        svg.swimlane xmlns="http://www.w3.org/2000/svg" role="img"
            viewBox={ "0 0 " (width) " " (height) } width=(width) height=(height)
            aria-label={ "Swimlane of " (flow.correlation_id) } {
            @for (l, system) in lanes.iter().enumerate() {
                rect.lane x="0" y=(TOP + LANE_H * l as f64) width=(width) height=(LANE_H) {}
                text.lane-label x="8" y=(TOP + LANE_H * l as f64 + LANE_H / 2.0) { (system) }
            }
            @if let (Some(first), Some(last)) = (flow.events.first(), flow.events.last()) {
                text.axis x=(LABEL_W + 10.0) y="15" { (super::short_time(&first.timestamp)) }
                text.axis x=(width - 10.0) y="15" text-anchor="end" { (super::short_time(&last.timestamp)) " (" (span) ")" }
            }
            path.route d=(path) {}
            @for (i, e) in flow.events.iter().enumerate() {
                @let (px, py) = points[i];
                @let k = seen.entry((e.system_id.as_str(), e.checkpoint_id.as_str())).or_insert(0);
                @let attempt = { *k += 1; *k };
                @let failed = e.status.eq_ignore_ascii_case("FAILURE");
                g.ev.failed[failed] data-system=(e.system_id) data-checkpoint=(e.checkpoint_id)
                    data-status=(e.status) data-timestamp=(e.timestamp) data-attempt=(attempt) {
                    title {
                        (e.system_id) " · " (e.checkpoint_id) " · " (e.status) " · " (e.timestamp) " UTC"
                        @if let Some(r) = &e.failure_reason { " · " (r) }
                    }
                    @if failed {
                        rect.mark x=(px - 7.0) y=(py - 7.0) width="14" height="14" {}
                    } @else {
                        circle.mark cx=(px) cy=(py) r="7" {}
                    }
                    text.cp x=(px + 3.0) y=(py - 11.0) transform=(format!("rotate(-35 {:.1} {:.1})", px + 3.0, py - 11.0)) {
                        (e.checkpoint_id)
                        @if attempt > 1 { " (retry " (attempt - 1) ")" }
                    }
                    @if failed {
                        // Reasons of failures in a row alternate between two lines.
                        @let row = { failures += 1; failures % 2 };
                        text.reason x=(px - 6.0) y=(py + 20.0 + 13.0 * row as f64) {
                            (e.failure_reason.as_deref().unwrap_or("(reason not known)"))
                        }
                    }
                }
            }
        }
    }
}

fn format_span(micros: i64) -> String {
    let s = micros / 1_000_000;
    match s {
        0 => format!("{} ms", micros / 1000),
        1..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        _ => format!("{:.1} h", s as f64 / 3600.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use waymark_core::answer::{EventView, Verdict};

    fn ev(system: &str, cp: &str, status: &str, ts: i64, reason: Option<&str>) -> EventView {
        EventView {
            system_id: system.into(),
            checkpoint_id: cp.into(),
            timestamp: format!("2025-01-01T00:00:{ts:02}Z"),
            status: status.into(),
            correlation_id: "c1".into(),
            failure_reason: reason.map(Into::into),
            source: "f".into(),
            position: 0,
            ts_micros: ts * 1_000_000,
        }
    }

    #[test]
    fn one_mark_per_event_retries_numbered_and_text_escaped() {
        let events = vec![
            ev("a", "load", "SUCCESS", 0, None),
            ev(
                "b",
                "<img src=x onerror=alert(2)>",
                "FAILURE",
                5,
                Some("<script>alert(1)</script>"),
            ),
            ev("b", "<img src=x onerror=alert(2)>", "SUCCESS", 9, None),
        ];
        let flow = FlowTrace {
            correlation_id: "c1".into(),
            systems: vec!["a".into(), "b".into()],
            verdict: Verdict::of(&events),
            events,
        };
        let out = svg(&flow).into_string();
        assert_eq!(out.matches("<g class=\"ev").count(), 3);
        assert_eq!(out.matches("class=\"ev failed\"").count(), 1);
        assert!(out.contains("(retry 1)"));
        assert!(!out.contains("<script>") && !out.contains("<img"));
        assert!(out.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }
}
