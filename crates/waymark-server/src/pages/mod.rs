//! The dashboard: server-rendered HTML pages (maud, escaped by default) on the same listener,
//! token and [`QueryStore`](waymark_store::QueryStore) as the JSON API.
//!
//! - `/` the overview; `/flows` and `/flows/{correlation_id}` (the swimlane, [`swimlane`]);
//!   `/runs` and `/runs/{run_key}` (its steps as a Gantt chart, [`gantt`]); `/scan-results`,
//!   `/dead-letters`, `/orphans`, `/alerts` ([`views`]);
//! - `/assets/…`: the stylesheet and the one script, compiled into the binary.
//!
//! Every filter is a GET form, so the URL is the state. The pages are whole without JavaScript;
//! the script (`assets/app.js`, served from the binary: the CSP allows no inline script) only
//! shows local times on hover and refreshes `<main>` in place every 15 s.

mod gantt;
mod swimlane;
mod views;

use axum::http::header;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup, DOCTYPE};

use crate::{ApiError, AppState};

const STYLE: &str = include_str!("../../assets/style.css");
const SCRIPT: &str = include_str!("../../assets/app.js");

/// The dashboard's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(views::overview))
        .route("/flows", get(views::flows))
        .route("/flows/{correlation_id}", get(views::flow))
        .route("/runs", get(views::runs))
        .route("/runs/{run_key}", get(views::run))
        .route("/scan-results", get(views::scan_results))
        .route("/dead-letters", get(views::dead_letters))
        .route("/orphans", get(views::orphans))
        .route("/alerts", get(views::alerts))
        .route("/records", get(views::record))
        .route("/login", get(login_form).post(login))
        .route("/logout", get(logout))
        .route("/assets/style.css", get(style))
        .route("/assets/app.js", get(script))
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=300")], body)
        .into_response()
}

/// Which section of the navigation a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nav {
    Overview,
    Flows,
    Runs,
    Scan,
    DeadLetters,
    Orphans,
    Alerts,
}

/// A whole page around `body`.
fn layout(title: &str, nav: Nav, body: Markup) -> Html<String> {
    let item = |n: Nav, href: &str, label: &str| {
        html! {
            a href=(href) aria-current=[(n == nav).then_some("page")] { (label) }
        }
    };
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · waymark" }
                link rel="icon" href="data:,";
                link rel="stylesheet" href="/assets/style.css";
                script src="/assets/app.js" defer {}
            }
            body {
                header {
                    nav {
                        strong { "waymark" }
                        (item(Nav::Overview, "/", "Overview"))
                        (item(Nav::Flows, "/flows", "Flows"))
                        (item(Nav::Runs, "/runs", "Runs"))
                        (item(Nav::Scan, "/scan-results", "Scan results"))
                        (item(Nav::DeadLetters, "/dead-letters", "Dead letters"))
                        (item(Nav::Orphans, "/orphans", "Orphans"))
                        (item(Nav::Alerts, "/alerts", "Alerts"))
                    }
                }
                main id="main" data-refresh="15" { (body) }
                footer { "Times in UTC (hover for local time). " a href="/api/v1/openapi.json" { "JSON API" } }
            }
        }
    };
    Html(page.into_string())
}

/// Where `/login` sends a browser back to: a path of this site only.
#[derive(Debug, Default, serde::Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

/// The form `/login` posts.
#[derive(Debug, serde::Deserialize)]
struct LoginForm {
    token: String,
    next: Option<String>,
}

/// A local path to go back to (`/…`, never `//host` or a scheme): anything else is `/`.
fn local(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/",
    }
}

fn login_page(next: &str, failed: bool) -> Html<String> {
    layout(
        "Sign in",
        Nav::Overview,
        html! {
            h1 { "Sign in" }
            @if failed { p.error { "That is not the token." } }
            p.muted { "This waymark requires its token (the one of --token-file or WAYMARK_TOKEN). \
                       The browser keeps it in an HttpOnly cookie for this site, for 12 hours." }
            form.filters method="post" action="/login" {
                input type="hidden" name="next" value=(next);
                label { "token " input type="password" name="token" autocomplete="current-password" autofocus; }
                button type="submit" { "Sign in" }
            }
        },
    )
}

async fn login_form(axum::extract::Query(q): axum::extract::Query<LoginQuery>) -> Html<String> {
    login_page(local(q.next.as_deref()), false)
}

/// Checks the token; sets the cookie and goes back, or shows the form again with 401.
async fn login(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    let next = local(form.next.as_deref()).to_owned();
    let Some(token) = state.token.as_deref() else {
        return axum::response::Redirect::to(&next).into_response();
    };
    if !crate::ops::is_token(&form.token, token) {
        return (StatusCode::UNAUTHORIZED, login_page(&next, true)).into_response();
    }
    let cookie = format!(
        "{}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200",
        crate::ops::TOKEN_COOKIE,
        token
    );
    let mut response = axum::response::Redirect::to(&next).into_response();
    if let Ok(v) = header::HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

async fn logout() -> Response {
    let cookie =
        format!("{}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0", crate::ops::TOKEN_COOKIE);
    let mut response = axum::response::Redirect::to("/login").into_response();
    if let Ok(v) = header::HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// An error as a page (the API answers JSON; the pages answer HTML).
#[derive(Debug)]
pub struct PageError(ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> PageError {
        PageError(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status: StatusCode = self.0.status;
        let body = layout(
            status.canonical_reason().unwrap_or("error"),
            Nav::Overview,
            html! {
                h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
                p.error { (self.0.message) }
                p { a href="/" { "Back to the overview" } }
            },
        );
        (status, body).into_response()
    }
}

/// A time (RFC 3339 UTC) the script titles with the browser's local time.
fn time(rfc3339: &str) -> Markup {
    html! { time datetime=(rfc3339) title={ (rfc3339) " UTC" } { (short_time(rfc3339)) } }
}

/// `2025-05-04T10:30:00.123456Z` as `2025-05-04 10:30:00`.
fn short_time(rfc3339: &str) -> String {
    let t = rfc3339.replacen('T', " ", 1);
    let t = t.trim_end_matches('Z');
    match t.find('.') {
        Some(dot) => t[..dot].to_owned(),
        None => t.to_owned(),
    }
}

/// Text with every control and non-printable character shown as an escape (`\xNN`, `\u{…}`),
/// so a dead letter's bytes are visible and never interpreted; markup is escaped by maud.
fn visible(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n\n"),
            '\t' => out.push_str("\\t"),
            '\u{FFFD}' => out.push_str("\\u{FFFD}"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02X}", c as u32));
            }
            c if c.is_control()
                || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}') =>
            {
                out.push_str(&format!("\\u{{{:04X}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// A query string from (name, value) pairs, empty values left out.
fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        out.push(if out.is_empty() { '?' } else { '&' });
        out.push_str(&encode(k));
        out.push('=');
        out.push_str(&encode(v));
    }
    out
}

/// Percent-encodes a path segment or query value.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The CSS class of a status word.
fn status_class(status: &str) -> &'static str {
    match status.to_ascii_uppercase().as_str() {
        "SUCCESS" | "SUCCEEDED" => "ok",
        "FAILURE" | "FAILED" | "ERROR" => "bad",
        "RUNNING" | "WARNING" => "warn",
        _ => "muted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_escapes_control_bytes() {
        assert_eq!(visible("a\u{0}b\u{1b}[31m\u{7f}"), "a\\x00b\\x1B[31m\\x7F");
        assert_eq!(visible("x\u{FFFD}\u{202E}"), "x\\u{FFFD}\\u{202E}");
        assert_eq!(visible("\\x41"), "\\\\x41");
    }

    #[test]
    fn query_strings_drop_empty_values_and_encode() {
        assert_eq!(query_string(&[("q", "a b&c"), ("system", "")]), "?q=a%20b%26c");
        assert_eq!(query_string(&[("a", ""), ("b", "")]), "");
        assert_eq!(encode("x/y#z"), "x%2Fy%23z");
    }

    #[test]
    fn short_times() {
        assert_eq!(short_time("2025-05-04T10:30:00.123456Z"), "2025-05-04 10:30:00");
        assert_eq!(short_time("2025-05-04T10:30:00Z"), "2025-05-04 10:30:00");
    }
}
