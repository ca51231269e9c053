//! A run's steps as a Gantt chart in inline SVG, drawn on the server: one row per step in the
//! run's order, a bar from its start to its end on a shared time axis, coloured by status, the
//! failed step's message beside its bar. Steps the log gave no times for are listed without a
//! bar. Every step is one `<g class="step">` with its fields as data attributes.

use maud::{html, Markup};

const LABEL_W: f64 = 260.0;
const PLOT_W: f64 = 640.0;
const ROW_H: f64 = 22.0;
const TOP: f64 = 24.0;
/// Rows drawn at most; a run with more lists the rest in the table only.
pub(super) const MAX_ROWS: usize = 200;

/// One step as the query layer gives it (`RunView.steps`: JSON objects).
#[derive(Debug)]
pub(super) struct StepBar {
    pub(super) name: String,
    pub(super) kind: Option<String>,
    pub(super) status: String,
    pub(super) start: Option<(i64, String)>,
    pub(super) end: Option<(i64, String)>,
    pub(super) rows: Option<i64>,
    pub(super) message: Option<String>,
}

impl StepBar {
    pub(super) fn from_json(v: &serde_json::Value) -> StepBar {
        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        let time = |k: &str| {
            let t = text(k)?;
            let micros = t.parse::<jiff::Timestamp>().ok()?.as_microsecond();
            Some((micros, t))
        };
        StepBar {
            name: text("name").unwrap_or_default(),
            kind: text("kind"),
            status: text("status").unwrap_or_else(|| "UNKNOWN".into()),
            start: time("start_time"),
            end: time("end_time"),
            rows: v.get("rows").and_then(serde_json::Value::as_i64),
            message: text("message"),
        }
    }

    /// Seconds from start to end, when both are known.
    pub(super) fn seconds(&self) -> Option<f64> {
        match (&self.start, &self.end) {
            (Some((s, _)), Some((e, _))) if e >= s => Some((e - s) as f64 / 1e6),
            _ => None,
        }
    }
}

/// The chart of `steps` (an empty markup when no step has a time).
pub(super) fn svg(steps: &[StepBar]) -> Markup {
    let shown = &steps[..steps.len().min(MAX_ROWS)];
    let times = shown.iter().flat_map(|s| [s.start.as_ref(), s.end.as_ref()]).flatten();
    let (lo, hi) = times.fold((i64::MAX, i64::MIN), |(lo, hi), (t, _)| (lo.min(*t), hi.max(*t)));
    if lo > hi {
        return html! {};
    }
    let span = (hi - lo).max(1) as f64;
    let x = |t: i64| LABEL_W + (t - lo) as f64 / span * PLOT_W;
    let height = TOP + ROW_H * shown.len() as f64 + 8.0;
    let width = LABEL_W + PLOT_W + 220.0;
    html! {
        svg.gantt xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Steps of the run"
            viewBox={ "0 0 " (width) " " (height) } width=(width) height=(height) {
            text.axis x=(LABEL_W) y="14" { (super::short_time(&ts_text(lo))) }
            text.axis x=(LABEL_W + PLOT_W) y="14" text-anchor="end" { (super::short_time(&ts_text(hi))) " (" (format_secs(span / 1e6)) ")" }
            @for (i, s) in shown.iter().enumerate() {
                @let y = TOP + ROW_H * i as f64;
                @let class = super::status_class(&s.status);
                g.step.(class) data-name=(s.name) data-status=(s.status) {
                    title {
                        (s.name) " · " (s.status)
                        @if let Some(secs) = s.seconds() { " · " (format_secs(secs)) }
                        @if let Some(m) = &s.message { " · " (m) }
                    }
                    text.step-label x=(LABEL_W - 6.0) y=(y + 15.0) text-anchor="end" { (clip(&s.name, 40)) }
                    @match (&s.start, &s.end) {
                        (Some((a, _)), Some((b, _))) => {
                            rect.bar x=(format!("{:.1}", x(*a))) y=(y + 4.0)
                                width=(format!("{:.1}", (x(*b) - x(*a)).max(2.0))) height=(ROW_H - 8.0) {}
                        }
                        (Some((a, _)), None) | (None, Some((a, _))) => {
                            rect.bar.open x=(format!("{:.1}", x(*a))) y=(y + 4.0) width="3" height=(ROW_H - 8.0) {}
                        }
                        (None, None) => {
                            text.axis x=(LABEL_W + 4.0) y=(y + 15.0) { "no times in the log" }
                        }
                    }
                    @if class == "bad" {
                        @let end = s.end.as_ref().or(s.start.as_ref()).map_or(LABEL_W, |(t, _)| x(*t));
                        text.reason x=(format!("{:.1}", end + 6.0)) y=(y + 15.0) {
                            (clip(s.message.as_deref().unwrap_or("failed"), 60))
                        }
                    }
                }
            }
        }
    }
}

fn ts_text(micros: i64) -> String {
    jiff::Timestamp::from_microsecond(micros).map(|t| t.to_string()).unwrap_or_default()
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        format!("{}…", s.chars().take(n).collect::<String>())
    } else {
        s.to_owned()
    }
}

/// Seconds for people: `850 ms`, `42 s`, `3.5 min`, `2.1 h`.
pub(super) fn format_secs(secs: f64) -> String {
    if secs < 1.0 {
        format!("{:.0} ms", secs * 1000.0)
    } else if secs < 120.0 {
        format!("{secs:.0} s")
    } else if secs < 7200.0 {
        format!("{:.1} min", secs / 60.0)
    } else {
        format!("{:.1} h", secs / 3600.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, status: &str, start: Option<&str>, end: Option<&str>) -> StepBar {
        StepBar::from_json(&serde_json::json!({
            "name": name, "kind": "model", "status": status,
            "start_time": start, "end_time": end, "rows": 3, "message": "<b>boom</b>",
        }))
    }

    #[test]
    fn one_bar_per_timed_step_in_order_failures_marked_and_text_escaped() {
        let steps = vec![
            step("model.a", "SUCCESS", Some("2025-01-01T00:00:00Z"), Some("2025-01-01T00:00:10Z")),
            step(
                "<img src=x>",
                "FAILURE",
                Some("2025-01-01T00:00:10Z"),
                Some("2025-01-01T00:00:30Z"),
            ),
            step("model.c", "SUCCESS", None, None),
        ];
        assert_eq!(steps[1].seconds(), Some(20.0));
        let out = svg(&steps).into_string();
        assert_eq!(out.matches("<g class=\"step").count(), 3);
        assert_eq!(out.matches("class=\"bar\"").count(), 2);
        assert!(out.contains("class=\"step bad\""));
        assert!(out.contains("no times in the log"));
        assert!(!out.contains("<img") && !out.contains("<b>"));
        // The second bar starts where the first ends: at a third of the plot.
        assert!(out.contains(&format!("x=\"{:.1}\"", LABEL_W + PLOT_W / 3.0)), "{out}");
    }

    #[test]
    fn no_chart_without_times() {
        let steps = vec![step("a", "SUCCESS", None, None)];
        assert!(svg(&steps).into_string().is_empty());
        assert_eq!(format_secs(0.25), "250 ms");
        assert_eq!(format_secs(300.0), "5.0 min");
    }
}
