//! The pages' handlers: each reads its filters from the query string (GET forms: the URL is
//! the state), asks the [`QueryStore`] and renders with maud.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;
use waymark_core::answer::{parse_time_filter, FlagClock, Page, RunView, VerdictState};
use waymark_core::audit::RunStatus;
use waymark_store::{
    DeadLetterQuery, FailureQuery, OrphanQuery, PageRequest, QueryStore, RunQuery, ScanResultQuery,
};

use super::{
    encode, gantt, layout, query_string, status_class, swimlane, time, visible, Nav, PageError,
};
use crate::{ApiError, AppState};

/// Rows per list page.
const ROWS: usize = 100;

/// Hours the overview's chart shows when no window is chosen.
const CHART_HOURS: usize = 48;

type PageResult = Result<Response, PageError>;

/// Every filter any page takes; the empty value of a GET form means "no filter".
#[derive(Debug, Default, Deserialize)]
pub(super) struct Filters {
    q: Option<String>,
    system: Option<String>,
    checkpoint: Option<String>,
    status: Option<String>,
    since: Option<String>,
    until: Option<String>,
    kind: Option<String>,
    source: Option<String>,
    severity: Option<String>,
    rule: Option<String>,
    file_path: Option<String>,
    logscan_id: Option<String>,
    flagged: Option<String>,
    state: Option<String>,
    cursor: Option<String>,
}

fn get(v: &Option<String>) -> &str {
    v.as_deref().map(str::trim).unwrap_or("")
}

fn some(v: &Option<String>) -> Option<String> {
    Some(get(v)).filter(|s| !s.is_empty()).map(str::to_owned)
}

impl Filters {
    fn window(&self) -> Result<(Option<i64>, Option<i64>), ApiError> {
        let one = |name: &str, v: &Option<String>| {
            some(v)
                .map(|s| {
                    parse_time_filter(&s).map_err(|e| ApiError::bad_request(format!("{name}: {e}")))
                })
                .transpose()
        };
        Ok((one("since", &self.since)?, one("until", &self.until)?))
    }

    fn page(&self) -> PageRequest {
        PageRequest { cursor: some(&self.cursor), limit: ROWS }
    }

    /// The query string of these filters with `cursor` replaced.
    fn with_cursor(&self, names: &[&str], cursor: &str) -> String {
        let mut pairs: Vec<(&str, &str)> = names.iter().map(|n| (*n, self.value(n))).collect();
        pairs.push(("cursor", cursor));
        query_string(&pairs)
    }

    fn value(&self, name: &str) -> &str {
        match name {
            "q" => get(&self.q),
            "system" => get(&self.system),
            "checkpoint" => get(&self.checkpoint),
            "status" => get(&self.status),
            "since" => get(&self.since),
            "until" => get(&self.until),
            "kind" => get(&self.kind),
            "source" => get(&self.source),
            "severity" => get(&self.severity),
            "rule" => get(&self.rule),
            "file_path" => get(&self.file_path),
            "logscan_id" => get(&self.logscan_id),
            "flagged" => get(&self.flagged),
            "state" => get(&self.state),
            _ => "",
        }
    }

    /// A GET form with a text field per name (and `choices` as selects).
    fn form(&self, action: &str, fields: &[(&str, &str)], choices: &[(&str, &[&str])]) -> Markup {
        html! {
            form.filters method="get" action=(action) {
                @for (name, label) in fields {
                    label { (label) " " input type="text" name=(name) value=(self.value(name)) size="14"; }
                }
                @for (name, options) in choices {
                    label { (name) " "
                        select name=(name) {
                            option value="" { "any" }
                            @for o in options.iter() {
                                option value=(o) selected[self.value(name) == *o] { (o) }
                            }
                        }
                    }
                }
                button type="submit" { "Apply" }
                " " a href=(action) { "clear" }
            }
        }
    }
}

fn clock(state: &AppState) -> FlagClock {
    FlagClock {
        now_micros: jiff::Timestamp::now().as_microsecond(),
        running_timeout_secs: state.config().audit.running_timeout_secs,
    }
}

fn next_link<T>(page: &Page<T>, f: &Filters, path: &str, names: &[&str]) -> Markup {
    html! {
        @if let Some(c) = &page.next_cursor {
            p.more { a rel="next" href={ (path) (f.with_cursor(names, c)) } { "Next " (ROWS) " →" } }
        }
    }
}

fn run_title(r: &RunView) -> String {
    let parts: Vec<&str> = [&r.folder_name, &r.workflow_name, &r.session_name]
        .iter()
        .filter_map(|p| p.as_deref())
        .collect();
    if parts.is_empty() {
        r.run_id.clone().unwrap_or_else(|| r.run_key.clone())
    } else {
        parts.join(" / ")
    }
}

fn run_href(r: &RunView) -> String {
    format!("/runs/{}", encode(&r.run_key))
}

fn flow_href(id: &str) -> String {
    format!("/flows/{}", encode(id))
}

fn origin(source: &str, position: u64) -> Markup {
    html! { span.origin { (source) " @ " (position) } }
}

fn runs_table(runs: &[RunView]) -> Markup {
    html! {
        table.runs {
            thead { tr { th { "Run" } th { "Type" } th { "Status" } th { "Start" } th { "Rows s/t/r" } th { "Flags" } th { "First error" } } }
            tbody {
                @for r in runs {
                    tr.{ "st-" (status_class(&r.status)) } {
                        td { a href=(run_href(r)) { (run_title(r)) } }
                        td { (r.system_type) }
                        td { span.badge.(status_class(&r.status)) { (r.status) } }
                        td { @if let Some(t) = &r.start_time { (time(t)) } }
                        td.num { (opt_num(r.source_rows)) "/" (opt_num(r.target_rows)) "/" (opt_num(r.rejected_rows)) }
                        td { @for fl in &r.flags { span.badge.warn { (fl) } " " } }
                        td.msg { (r.error_message.as_deref().map(first_line).unwrap_or_default()) }
                    }
                }
            }
        }
    }
}

fn opt_num(n: Option<i64>) -> String {
    n.map(|n| n.to_string()).unwrap_or_else(|| "–".into())
}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() > 160 {
        format!("{}…", line.chars().take(160).collect::<String>())
    } else {
        line.to_owned()
    }
}

/// A horizontal bar scaled to `max`, as SVG.
fn bar(value: u64, max: u64, class: &str) -> Markup {
    let w = if max == 0 { 0.0 } else { value as f64 / max as f64 * 200.0 };
    html! {
        svg.bar width="204" height="12" viewBox="0 0 204 12" aria-hidden="true" {
            rect class=(class) x="0" y="1" width=(format!("{w:.1}")) height="10" {}
        }
    }
}

/// `/`: failed and flagged runs first, then running, then succeeded; failures by system and
/// checkpoint; dead letters and orphans by reason; the sources.
pub(super) async fn overview(
    State(state): State<AppState>,
    Query(f): Query<Filters>,
) -> PageResult {
    let (since, until) = f.window()?;
    let clock = clock(&state);
    let data = state
        .store
        .read(move |s| {
            let status = s.status()?;
            let summary = s.summary(since, until)?;
            let runs_of = |st: Option<RunStatus>, flagged: bool, n: usize| {
                let q = RunQuery { status: st, flagged, since, until, ..RunQuery::all(clock) };
                s.run_page(&q, &PageRequest::first(n))
            };
            let failed = runs_of(Some(RunStatus::Failure), false, 20)?;
            let flagged = runs_of(None, true, 20)?;
            let running = runs_of(Some(RunStatus::Running), false, 10)?;
            let succeeded = runs_of(Some(RunStatus::Success), false, 10)?;
            let dead =
                s.dead_letter_page(&DeadLetterQuery::default(), &PageRequest::first(1000))?;
            let orphans = s.orphan_page(
                &OrphanQuery { since, until, ..OrphanQuery::default() },
                &PageRequest::first(1000),
            )?;
            Ok((status, summary, failed, flagged, running, succeeded, dead, orphans))
        })
        .await?;
    let (status, summary, failed, flagged, running, succeeded, dead, orphans) = data;
    // Failed or flagged first (a run both failed and flagged once), then running, succeeded.
    let mut attention: Vec<RunView> = failed.items;
    for r in flagged.items {
        if !attention.iter().any(|a| a.run_key == r.run_key) {
            attention.push(r);
        }
    }
    let mut dead_by: BTreeMap<(String, String), u64> = BTreeMap::new();
    for d in &dead.items {
        *dead_by.entry((d.kind.clone(), d.source.clone())).or_default() += 1;
    }
    let mut orphans_by: BTreeMap<(String, String), u64> = BTreeMap::new();
    for o in &orphans.items {
        let reason = o.failure_reason.clone().unwrap_or_else(|| "(no reason)".into());
        *orphans_by.entry((o.kind.clone(), reason)).or_default() += 1;
    }
    let mut by_cp: Vec<_> = summary.by_checkpoint.iter().filter(|c| c.failure > 0).collect();
    by_cp.sort_by_key(|c| std::cmp::Reverse(c.failure));
    let max_sys = summary.by_system.iter().map(|s| s.failure).max().unwrap_or(0);
    let max_cp = by_cp.first().map(|c| c.failure).unwrap_or(0);
    // Without a window the chart shows the latest hours that have events.
    let hours = if since.is_none() && until.is_none() {
        &summary.by_hour[summary.by_hour.len().saturating_sub(CHART_HOURS)..]
    } else {
        &summary.by_hour[..]
    };
    let max_hour = hours.iter().map(|h| h.success + h.failure).max().unwrap_or(0);
    let body = html! {
        h1 { "Overview" }
        (f.form("/", &[("since", "since"), ("until", "until")], &[]))
        section.counts {
            a.count href="/flows" { b { (summary.events) } " events" }
            a.count.bad[summary.failures > 0] href="/flows" { b { (summary.failures) } " failures" }
            a.count href="/flows" { b { (status.failures_without_reason) } " without reason" }
            span.count { b { (status.waiting) } " waiting" }
            a.count.warn[status.orphans > 0] href="/orphans" { b { (status.orphans) } " orphans" }
            a.count.warn[status.dead_letters > 0] href="/dead-letters" { b { (status.dead_letters) } " dead letters" }
        }
        section {
            h2 { "ETL runs that need attention" }
            @if attention.is_empty() { p.muted { "No failed or flagged run." } }
            @else { (runs_table(&attention)) }
            p { a href="/runs?status=FAILURE" { "All failed runs" } " · " a href="/runs?flagged=1" { "All flagged runs" } }
            h2 { "Running" }
            @if running.items.is_empty() { p.muted { "No run is running." } } @else { (runs_table(&running.items)) }
            h2 { "Succeeded (latest)" }
            @if succeeded.items.is_empty() { p.muted { "No succeeded run." } } @else { (runs_table(&succeeded.items)) }
        }
        div.grid {
            section {
                h2 { "Failures per system" }
                table { tbody {
                    @for s in &summary.by_system {
                        tr { td { a href={ "/flows" (query_string(&[("system", &s.system_id)])) } { (s.system_id) } }
                             td.num { (s.failure) } td { (bar(s.failure, max_sys, "bad")) } td.num.muted { (s.success) " ok" } }
                    }
                } }
            }
            section {
                h2 { "Failures per checkpoint" }
                @if by_cp.is_empty() { p.muted { "None." } }
                table { tbody {
                    @for c in by_cp.iter().take(20) {
                        tr { td { (c.system_id) " · " a href={ "/flows" (query_string(&[("system", &c.system_id), ("checkpoint", &c.checkpoint_id)])) } { (c.checkpoint_id) } }
                             td.num { (c.failure) } td { (bar(c.failure, max_cp, "bad")) } }
                    }
                } }
            }
        }
        section {
            h2 { "Events per hour" @if hours.len() < summary.by_hour.len() { " (the latest " (hours.len()) " hours with events)" } }
            @if hours.is_empty() { p.muted { "No event in the window." } }
            @else {
                @let n = hours.len();
                @let bw = (800.0 / n as f64).clamp(2.0, 40.0);
                svg.hours width=(format!("{:.0}", bw * n as f64 + 2.0)) height="84" role="img" aria-label="Events per hour" {
                    @for (i, h) in hours.iter().enumerate() {
                        @let total = h.success + h.failure;
                        @let th = if max_hour == 0 { 0.0 } else { total as f64 / max_hour as f64 * 80.0 };
                        @let fh = if max_hour == 0 { 0.0 } else { h.failure as f64 / max_hour as f64 * 80.0 };
                        g { title { (h.hour) " UTC: " (h.success) " ok, " (h.failure) " failed" }
                            rect.ok x=(format!("{:.1}", i as f64 * bw)) y=(format!("{:.1}", 82.0 - th)) width=(format!("{:.1}", (bw - 1.0).max(1.0))) height=(format!("{:.1}", th - fh)) {}
                            rect.bad x=(format!("{:.1}", i as f64 * bw)) y=(format!("{:.1}", 82.0 - fh)) width=(format!("{:.1}", (bw - 1.0).max(1.0))) height=(format!("{:.1}", fh)) {} }
                    }
                }
                p.muted { (hours.first().map(|h| h.hour.as_str()).unwrap_or("")) " … " (hours.last().map(|h| h.hour.as_str()).unwrap_or("")) " UTC" }
            }
        }
        div.grid {
            section {
                h2 { "Dead letters by reason" }
                @if dead_by.is_empty() { p.muted { "None." } }
                table { tbody { @for ((kind, source), n) in &dead_by {
                    tr { td { a href={ "/dead-letters" (query_string(&[("kind", kind), ("source", source)])) } { (kind) } } td { (source) } td.num { (n) } }
                } } }
                @if dead.next_cursor.is_some() { p.muted { "(of the first 1000)" } }
            }
            section {
                h2 { "Orphans by reason" }
                @if orphans_by.is_empty() { p.muted { "None." } }
                table { tbody { @for ((kind, reason), n) in &orphans_by {
                    tr { td { a href={ "/orphans" (query_string(&[("kind", kind)])) } { (kind) } } td.msg { (reason) } td.num { (n) } }
                } } }
                @if orphans.next_cursor.is_some() { p.muted { "(of the first 1000)" } }
            }
        }
        section {
            h2 { "Sources" }
            table {
                thead { tr { th { "Kind" } th { "Name" } th { "Position" } } }
                tbody { @for s in &status.sources { tr { td { (s.kind) } td { (s.name) } td.num { (s.position) } } } }
            }
        }
    };
    Ok(layout("Overview", Nav::Overview, body).into_response())
}

/// `/flows`: an exact correlation id opens its flow; otherwise the flows with failures that
/// match the prefix and filters, each once, the latest failure first on the page.
pub(super) async fn flows(State(state): State<AppState>, Query(f): Query<Filters>) -> PageResult {
    let q = get(&f.q).to_owned();
    if !q.is_empty() && f.cursor.is_none() {
        let id = q.clone();
        let flow = state.store.read(move |s| s.flow(&id)).await?;
        if !flow.events.is_empty() {
            return Ok(Redirect::to(&flow_href(&q)).into_response());
        }
    }
    if let Some(want) = some(&f.state) {
        return flow_states(&state, &f, &want).await;
    }
    let (since, until) = f.window()?;
    let fq = FailureQuery {
        system: some(&f.system),
        checkpoint: some(&f.checkpoint),
        since,
        until,
        without_reason: false,
    };
    let page = f.page();
    let failures = state.store.read(move |s| s.failure_page(&fq, &page)).await?;
    let mut seen = std::collections::HashSet::new();
    let rows: Vec<_> = failures
        .items
        .iter()
        .filter(|e| e.correlation_id.starts_with(&q))
        .filter(|e| seen.insert(e.correlation_id.clone()))
        .collect();
    let names = ["q", "system", "checkpoint", "since", "until"];
    let body = html! {
        h1 { "Flows" }
        (f.form("/flows", &[("q", "correlation id"), ("system", "system"), ("checkpoint", "checkpoint"), ("since", "since"), ("until", "until")], &[("state", FLOW_STATES)]))
        @if !q.is_empty() { p.muted { "No flow has the id " code { (q) } " exactly; flows with failures whose id starts with it:" } }
        @else { p.muted { "Flows with failures (a correlation id opens any flow)." } }
        table {
            thead { tr { th { "Correlation id" } th { "System" } th { "Checkpoint" } th { "Failed at" } th { "Reason" } } }
            tbody { @for e in &rows {
                tr { td { a href=(flow_href(&e.correlation_id)) { (e.correlation_id) } } td { (e.system_id) } td { (e.checkpoint_id) }
                     td { (time(&e.timestamp)) } td.msg { (e.failure_reason.as_deref().unwrap_or("(reason not known)")) } }
            } }
        }
        @if rows.is_empty() { p.muted { "No flow matches." } }
        (next_link(&failures, &f, "/flows", &names))
    };
    Ok(layout("Flows", Nav::Flows, body).into_response())
}

/// The flow states a `/flows` filter offers (against the `[[expect.flow]]` shapes).
const FLOW_STATES: &[&str] = &["failed", "stalled", "in-progress", "complete"];

/// `/flows?state=…`: the flows of the alert lookback judged against the `[[expect.flow]]`
/// shapes, the latest first, other filters applied to the listed flows.
async fn flow_states(state: &AppState, f: &Filters, want: &str) -> PageResult {
    let wanted = waymark_core::alert::FlowState::parse(want).ok_or_else(|| {
        ApiError::bad_request(format!("state: `{want}` is not {}", FLOW_STATES.join(", ")))
    })?;
    let lookback = state.config().alert.flow_lookback_micros;
    let Some(listed) = crate::api::judged_flows(state, Some(wanted), 0).await? else {
        let body = html! {
            h1 { "Flows" }
            (f.form("/flows", &[("q", "correlation id"), ("system", "system")], &[("state", FLOW_STATES)]))
            p.muted { "No [[expect.flow]] shape in the configuration: flows have no state to judge. See the README's Alerts section." }
        };
        return Ok(layout("Flows", Nav::Flows, body).into_response());
    };
    let (q, system) = (get(&f.q), get(&f.system));
    let rows: Vec<_> = listed
        .iter()
        .rev()
        .filter(|s| s.correlation_id.starts_with(q))
        .filter(|s| system.is_empty() || s.system.as_deref() == Some(system))
        .take(ROWS * 5)
        .collect();
    let iso = |m: i64| waymark_core::normalize::format_utc(m);
    let body = html! {
        h1 { "Flows " span.badge.(if wanted == waymark_core::alert::FlowState::Complete { "ok" } else { "bad" }) { (wanted.as_str()) } }
        (f.form("/flows", &[("q", "correlation id"), ("system", "system")], &[("state", FLOW_STATES)]))
        p.muted { (rows.len()) " flow(s) with an event in the last " (lookback / 3_600_000_000) " h, judged now against their shape; the latest first." }
        table.flow-states {
            thead { tr { th { "Correlation id" } th { "Shape" } th { "Since" } th { "System" } th { "Checkpoint" } th { "Reason" } th { "Latest event" } } }
            tbody { @for s in &rows {
                tr { td { a href=(flow_href(&s.correlation_id)) { (s.correlation_id) } } td { (s.family) }
                     td { (time(&iso(s.since_micros))) } td { (s.system.as_deref().unwrap_or("")) }
                     td { (s.checkpoint.as_deref().unwrap_or("")) } td.msg { (s.reason.as_deref().unwrap_or("")) }
                     td { (time(&iso(s.last_micros))) } }
            } }
        }
        @if rows.is_empty() { p.muted { "No flow is " (wanted.as_str()) "." } }
    };
    Ok(layout("Flows", Nav::Flows, body).into_response())
}

/// `/records?source=&position=`: a record's bytes read again from its file, escaped, control
/// bytes visible.
pub(super) async fn record(
    State(state): State<AppState>,
    Query(f): Query<crate::api::RecordParams>,
) -> PageResult {
    let r = crate::api::read_record(&state, f).await?;
    let body = html! {
        h1 { "Record" }
        p { (origin(&r.source, r.position)) }
        @match &r.text {
            Some(text) => {
                pre.raw { (visible(text)) }
                @if r.truncated { p.muted { "(cut at the configured max_line_bytes)" } }
            }
            None => p.muted { "Not available: " (r.reason.as_deref().unwrap_or("unknown")) "." },
        }
    };
    Ok(layout("Record", Nav::Flows, body).into_response())
}

/// `/alerts`: the active alerts, then the latest notifications and how their delivery went.
pub(super) async fn alerts(State(state): State<AppState>) -> PageResult {
    let view = state.store.read(|s| waymark_store::alert::alerts_view(s, 50)).await?;
    let rules = state.config().alert.rules.len();
    let iso = |m: i64| waymark_core::normalize::format_utc(m);
    let body = html! {
        h1 { "Alerts" }
        @if rules == 0 { p.muted { "No [[alert.rule]] in the configuration: nothing is evaluated." } }
        h2 { "Active (" (view.active.len()) ")" }
        @if view.active.is_empty() { p.muted { "No active alert." } }
        @else {
            table.alerts {
                thead { tr { th { "Since" } th { "Severity" } th { "Rule" } th { "System" } th { "Job" } th { "Subject" } th { "Summary" } } }
                tbody { @for a in &view.active {
                    tr.st-bad { td { (time(&iso(a.since_micros))) } td { span.badge.(if a.severity.as_str() == "critical" { "bad" } else { "warn" }) { (a.severity.as_str()) } }
                        td { (a.rule) } td { (a.system) } td { (a.job) }
                        td { @match a.annotations.get("correlation_id") {
                            Some(cid) => a href=(flow_href(cid)) { (a.subject) },
                            None => (a.subject),
                        } }
                        td.msg { (a.summary) } }
                } }
            }
        }
        h2 { "Latest notifications" }
        @if view.deliveries.is_empty() { p.muted { "None sent yet." } }
        @else {
            table.deliveries {
                thead { tr { th { "Created" } th { "Sink" } th { "Action" } th { "Alert" } th { "State" } th { "Attempts" } th { "Last answer" } } }
                tbody { @for d in &view.deliveries {
                    @let n = &d.notification;
                    tr { td { (time(&iso(n.created_micros))) } td { (n.sink) } td { (n.action.as_str()) } td { (n.firing.key) }
                         td { span.badge.(match d.state.as_str() { "delivered" => "ok", "failed" => "bad", _ => "warn" }) { (d.state.as_str()) } }
                         td.num { (d.attempts) }
                         td.msg { @if let Some(e) = &d.last_error { (e) } @else if let Some(st) = d.last_status { (st) } } }
                } }
            }
        }
    };
    Ok(layout("Alerts", Nav::Alerts, body).into_response())
}

/// `/flows/{correlation_id}`: the verdict, the swimlane, the events with their origin.
pub(super) async fn flow(State(state): State<AppState>, Path(id): Path<String>) -> PageResult {
    let key = id.clone();
    let flow = state.store.read(move |s| s.flow(&key)).await?;
    if flow.events.is_empty() {
        return Err(ApiError::not_found(format!("no events for correlation id {id}")).into());
    }
    let class = match flow.verdict.state {
        VerdictState::Failed => "bad",
        VerdictState::Succeeded => "ok",
        VerdictState::Empty => "muted",
    };
    let body = html! {
        h1 { "Flow " code { (flow.correlation_id) } }
        p.verdict.(class) { (flow.verdict.text) }
        @for s in &flow.verdict.failed_at {
            p.stop { "Stopped at " b { (s.system_id) " · " (s.checkpoint_id) } " (" (time(&s.timestamp)) ") because "
                b.reason { (s.failure_reason.as_deref().unwrap_or("(reason not known yet)")) } }
        }
        div.scroll { (swimlane::svg(&flow)) }
        h2 { "Events (" (flow.events.len()) ")" }
        table.events {
            thead { tr { th { "Time" } th { "System" } th { "Checkpoint" } th { "Status" } th { "Reason" } th { "Origin and record" } } }
            tbody { @for e in &flow.events {
                tr.{ "st-" (status_class(&e.status)) } {
                    td { (time(&e.timestamp)) } td { (e.system_id) } td { (e.checkpoint_id) }
                    td { span.badge.(status_class(&e.status)) { (e.status) } }
                    td.msg { (e.failure_reason.as_deref().unwrap_or("")) }
                    td { details { summary { (origin(&e.source, e.position)) }
                        pre.raw { (serde_json::to_string_pretty(e).unwrap_or_default()) }
                        a href={ "/records" (query_string(&[("source", &e.source), ("position", &e.position.to_string())])) } { "the raw record" } } }
                }
            } }
        }
    };
    Ok(layout(&format!("Flow {}", flow.correlation_id), Nav::Flows, body).into_response())
}

/// `/runs` with filters.
pub(super) async fn runs(State(state): State<AppState>, Query(f): Query<Filters>) -> PageResult {
    let (since, until) = f.window()?;
    let status = some(&f.status)
        .map(|s| {
            RunStatus::from_word(&s.to_ascii_uppercase()).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "status: `{s}` is not SUCCESS, FAILURE, RUNNING or UNKNOWN"
                ))
            })
        })
        .transpose()?;
    let q = RunQuery {
        status,
        system_type: some(&f.system),
        since,
        until,
        flagged: some(&f.flagged).is_some(),
        clock: clock(&state),
    };
    let page = f.page();
    let runs = state.store.read(move |s| s.run_page(&q, &page)).await?;
    let names = ["system", "status", "flagged", "since", "until"];
    let body = html! {
        h1 { "Runs" }
        form.filters method="get" action="/runs" {
            label { "system type " input type="text" name="system" value=(f.value("system")) size="14"; }
            label { "status " select name="status" {
                option value="" { "any" }
                @for o in ["FAILURE", "RUNNING", "SUCCESS", "UNKNOWN"] { option value=(o) selected[f.value("status").eq_ignore_ascii_case(o)] { (o) } }
            } }
            label { input type="checkbox" name="flagged" value="1" checked[some(&f.flagged).is_some()]; " flagged only" }
            label { "since " input type="text" name="since" value=(f.value("since")) size="14"; }
            label { "until " input type="text" name="until" value=(f.value("until")) size="14"; }
            button type="submit" { "Apply" } " " a href="/runs" { "clear" }
        }
        @if runs.items.is_empty() { p.muted { "No run matches." } } @else { (runs_table(&runs.items)) }
        (next_link(&runs, &f, "/runs", &names))
    };
    Ok(layout("Runs", Nav::Runs, body).into_response())
}

/// `/runs/{run_key}`: the first error on top, counts, sources and targets, the scanned lines
/// of its log around the error.
pub(super) async fn run(State(state): State<AppState>, Path(key): Path<String>) -> PageResult {
    let clock = clock(&state);
    let k = key.clone();
    let (run, scanned) = state
        .store
        .read(move |s| {
            let Some(run) = s.run(&k, clock)? else { return Ok((None, Vec::new())) };
            let scanned = match run.logscan_id {
                Some(id) => {
                    let q = ScanResultQuery { logscan_id: Some(id), ..ScanResultQuery::default() };
                    s.scan_result_page(&q, &PageRequest::first(1000))?.items
                }
                None => Vec::new(),
            };
            Ok((Some(run), scanned))
        })
        .await?;
    let Some(r) = run else {
        return Err(ApiError::not_found(format!("no run with key {key}")).into());
    };
    let first_scanned_error = scanned.iter().position(|l| l.severity == "ERROR");
    let first_error =
        r.error_message.clone().or_else(|| first_scanned_error.map(|i| scanned[i].line.clone()));
    // The scanned lines around the first error (all of them when there is no error).
    let around: &[_] = match first_scanned_error {
        Some(i) => &scanned[i.saturating_sub(10)..(i + 11).min(scanned.len())],
        None => &scanned[..scanned.len().min(50)],
    };
    let first_id = first_scanned_error.map(|i| scanned[i].id);
    let steps: Vec<gantt::StepBar> = r.steps.iter().map(gantt::StepBar::from_json).collect();
    let body = html! {
        h1 { (run_title(&r)) " " span.badge.(status_class(&r.status)) { (r.status) } }
        @if let Some(e) = &first_error {
            section.first-error { h2 { "First error" } pre.raw { (visible(e)) } }
        }
        @for fl in &r.flags { p.badge.warn { (fl) } }
        dl.facts {
            dt { "System type" } dd { (r.system_type) }
            @if let Some(id) = &r.run_id { dt { "Run id" } dd { (id) } }
            dt { "Start" } dd { @if let Some(t) = &r.start_time { (time(t)) } @else { "–" } }
            dt { "End" } dd { @if let Some(t) = &r.end_time { (time(t)) } @else { "–" } }
            @if let Some(d) = &r.duration_seconds { dt { "Duration (s)" } dd { (d) } }
            dt { "Rows read" } dd.num { (opt_num(r.source_rows)) }
            dt { "Rows written" } dd.num { (opt_num(r.target_rows)) }
            dt { "Rows rejected" } dd.num { (opt_num(r.rejected_rows)) }
            dt { "Sources" } dd { @for s in &r.source_name { code { (s) } " " } }
            dt { "Targets" } dd { @for s in &r.target_name { code { (s) } " " } }
            @if let Some(lf) = &r.log_file { dt { "Log" } dd { code { (lf) } } }
            dt { "Key" } dd { code { (r.run_key) } }
        }
        @if !steps.is_empty() {
            h2 { "Steps (" (steps.len()) ")" }
            div.scroll { (gantt::svg(&steps)) }
            details open[steps.len() <= 30] {
                summary { "Steps as a table" }
                table.steps {
                    thead { tr { th { "Step" } th { "Kind" } th { "Status" } th { "Start" } th { "Duration" } th { "Rows" } th { "Message" } } }
                    tbody { @for s in &steps {
                        tr.{ "st-" (status_class(&s.status)) } {
                            td { code { (s.name) } } td { (s.kind.as_deref().unwrap_or("")) }
                            td { span.badge.(status_class(&s.status)) { (s.status) } }
                            td { @if let Some((_, t)) = &s.start { (time(t)) } }
                            td.num { (s.seconds().map(gantt::format_secs).unwrap_or_default()) }
                            td.num { (opt_num(s.rows)) }
                            td.msg { (s.message.as_deref().map(visible).unwrap_or_default()) }
                        }
                    } }
                }
            }
        }
        @if !r.extra.is_empty() {
            details { summary { "More fields" } pre.raw { (serde_json::to_string_pretty(&r.extra).unwrap_or_default()) } }
        }
        h2 { "Scanned lines" @if first_id.is_some() { " around the first error" } }
        @if around.is_empty() { p.muted { "No scanned line for this run's log." } }
        @else {
            table.scan { tbody { @for l in around {
                tr.hit[Some(l.id) == first_id] { td.num { (l.line_number) } td { span.badge.(status_class(&l.severity)) { (l.severity) } }
                    td { (l.rule) } td { pre.line { (visible(&l.line)) } } }
            } } }
            @if let Some(id) = r.logscan_id { p { a href={ "/scan-results" (query_string(&[("logscan_id", &id.to_string())])) } { "All scan results of this log" } } }
        }
    };
    Ok(layout(&run_title(&r), Nav::Runs, body).into_response())
}

/// `/scan-results` with filters.
pub(super) async fn scan_results(
    State(state): State<AppState>,
    Query(f): Query<Filters>,
) -> PageResult {
    let logscan_id = match some(&f.logscan_id) {
        Some(s) => Some(
            s.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("logscan_id: `{s}` is not a number")))?,
        ),
        None => None,
    };
    let q = ScanResultQuery {
        system_type: some(&f.system),
        severity: some(&f.severity),
        rule: some(&f.rule),
        file_path: some(&f.file_path),
        logscan_id,
    };
    let page = f.page();
    let rows = state.store.read(move |s| s.scan_result_page(&q, &page)).await?;
    let names = ["system", "severity", "rule", "file_path", "logscan_id"];
    let body = html! {
        h1 { "Scan results" }
        (f.form("/scan-results", &[("system", "system type"), ("rule", "rule"), ("file_path", "file"), ("logscan_id", "log scan id")], &[("severity", &["ERROR", "WARNING", "INFO"])]))
        table.scan {
            thead { tr { th { "File" } th { "Line" } th { "Severity" } th { "Rule" } th { "Text" } } }
            tbody { @for l in &rows.items {
                tr { td { code { (l.file_path) } } td.num { (l.line_number) } td { span.badge.(status_class(&l.severity)) { (l.severity) } }
                     td { (l.rule) } td { pre.line { (visible(&l.line)) } } }
            } }
        }
        @if rows.items.is_empty() { p.muted { "No scan result matches." } }
        (next_link(&rows, &f, "/scan-results", &names))
    };
    Ok(layout("Scan results", Nav::Scan, body).into_response())
}

/// `/dead-letters` with filters; the raw bytes escaped, non-printable ones as `\xNN`.
pub(super) async fn dead_letters(
    State(state): State<AppState>,
    Query(f): Query<Filters>,
) -> PageResult {
    let q = DeadLetterQuery { kind: some(&f.kind), source: some(&f.source) };
    let page = f.page();
    let rows = state.store.read(move |s| s.dead_letter_page(&q, &page)).await?;
    let names = ["kind", "source"];
    let body = html! {
        h1 { "Dead letters" }
        (f.form("/dead-letters", &[("kind", "kind"), ("source", "source")], &[]))
        table {
            thead { tr { th { "Origin" } th { "Kind" } th { "Reason" } th { "Record" } } }
            tbody { @for d in &rows.items {
                tr { td { (origin(&d.source, d.position)) } td { (d.kind) } td.msg { (d.reason) }
                     td { details { summary { (d.raw_len) " bytes" } pre.raw { (visible(&d.raw)) } } } }
            } }
        }
        @if rows.items.is_empty() { p.muted { "No dead letter matches." } }
        (next_link(&rows, &f, "/dead-letters", &names))
    };
    Ok(layout("Dead letters", Nav::DeadLetters, body).into_response())
}

/// `/orphans` with filters.
pub(super) async fn orphans(State(state): State<AppState>, Query(f): Query<Filters>) -> PageResult {
    let (since, until) = f.window()?;
    let q = OrphanQuery { system: some(&f.system), kind: some(&f.kind), since, until };
    let page = f.page();
    let rows = state.store.read(move |s| s.orphan_page(&q, &page)).await?;
    let names = ["system", "kind", "since", "until"];
    let body = html! {
        h1 { "Orphans" }
        (f.form("/orphans", &[("system", "system"), ("since", "since"), ("until", "until")], &[("kind", &["failure", "reason"])]))
        table {
            thead { tr { th { "Time" } th { "Kind" } th { "System" } th { "Correlation id" } th { "Reason" } th { "Origin" } } }
            tbody { @for o in &rows.items {
                tr { td { (time(&o.timestamp)) } td { (o.kind) } td { (o.system_id) }
                     td { a href=(flow_href(&o.correlation_id)) { (o.correlation_id) } }
                     td.msg { (o.failure_reason.as_deref().unwrap_or("")) } td { (origin(&o.source, o.position)) } }
            } }
        }
        @if rows.items.is_empty() { p.muted { "No orphan matches." } }
        (next_link(&rows, &f, "/orphans", &names))
    };
    Ok(layout("Orphans", Nav::Orphans, body).into_response())
}
