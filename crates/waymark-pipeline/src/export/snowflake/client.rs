//! A Snowflake client on the connector REST protocol (the one the official drivers speak),
//! blocking, on `ureq`: `login-request` with a password gives a session
//! token (key-pair JWT is not built yet); `query-request` runs one statement, with positional or array (multi-row) bindings;
//! a statement still running when the answer comes (codes 333333/333334) is polled at its
//! result URL; `session?delete=true` logs out.
//!
//! Results: DML answers carry a JSON `rowset` (the rows inserted, updated, deleted), which is
//! read; queries and DDL may answer in Arrow (`rowsetBase64`), whose rows are counted from
//! `total` but not decoded (the loader reads no query result). Secrets are never logged or
//! formatted: `Debug` of the config redacts them.

use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value as Json};

use super::{Auth, SnowflakeConfig};

/// One bound parameter: a Snowflake type name and one value (or one per row).
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub ty: &'static str,
    pub value: BindValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BindValue {
    One(Option<String>),
    /// One value per row: the statement runs once per row, as one statement.
    Rows(Vec<Option<String>>),
}

/// What a statement answered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryResult {
    pub query_id: String,
    /// The columns' names.
    pub columns: Vec<String>,
    /// The rows of a JSON result (`None`: the answer was Arrow, not decoded).
    pub rowset: Option<Vec<Vec<Option<String>>>>,
    /// The rows the answer holds.
    pub total: u64,
}

impl QueryResult {
    /// The first row's value of the column named `name` (DML counts), as a number.
    pub fn count(&self, name: &str) -> Option<u64> {
        let i = self.columns.iter().position(|c| c.eq_ignore_ascii_case(name))?;
        self.rowset.as_ref()?.first()?.get(i)?.as_deref()?.parse().ok()
    }
}

/// A logged-in session.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: String,
    sequence: u64,
    /// The server's bound on binds sent inline (`CLIENT_STAGE_ARRAY_BINDING_THRESHOLD`; 0 or
    /// absent: none stated).
    pub bind_threshold: Option<u64>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("base", &self.base).finish_non_exhaustive()
    }
}

/// A random request id (UUID version 4 text), as the protocol's `requestId`.
fn request_id() -> String {
    use rand::{RngCore, SeedableRng};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let seed =
        nanos ^ (u64::from(std::process::id()) << 32) ^ COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut b = [0u8; 16];
    rand::rngs::SmallRng::seed_from_u64(seed).fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Percent-encodes a query parameter value.
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The error of an answer with `success: false`, without anything the request carried.
fn failure(what: &str, body: &Json) -> anyhow::Error {
    let code = body.get("code").and_then(Json::as_str).unwrap_or("?");
    let message = body.get("message").and_then(Json::as_str).unwrap_or("no message");
    anyhow::anyhow!("snowflake {what} failed: {code}: {}", message.trim())
}

impl Client {
    /// Logs in; the session uses the configured warehouse, database, schema and role.
    pub fn login(cfg: &SnowflakeConfig, timeout: Duration) -> anyhow::Result<Client> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .user_agent(concat!("waymark/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let mut url = format!(
            "{}/session/v1/login-request?requestId={}&databaseName={}&schemaName={}",
            cfg.base_url,
            request_id(),
            enc(&cfg.database),
            enc(&cfg.schema)
        );
        if let Some(w) = &cfg.warehouse {
            url.push_str(&format!("&warehouse={}", enc(w)));
        }
        if let Some(r) = &cfg.role {
            url.push_str(&format!("&roleName={}", enc(r)));
        }
        let mut data = json!({
            "CLIENT_APP_ID": "waymark",
            "CLIENT_APP_VERSION": env!("CARGO_PKG_VERSION"),
            "ACCOUNT_NAME": cfg.account_name(),
            "LOGIN_NAME": cfg.user,
            "CLIENT_ENVIRONMENT": {"APPLICATION": "waymark", "OS": std::env::consts::OS},
            "SESSION_PARAMETERS": {"AUTOCOMMIT": true},
        });
        // Hook: key-pair authentication sets `AUTHENTICATOR = SNOWFLAKE_JWT` and `TOKEN` (a JWT
        // signed with the user's RSA key) here instead of the password.
        let Auth::Password(password) = &cfg.auth;
        data["PASSWORD"] = json!(password.expose());
        let body = json!({ "data": data });
        let answer = post(&agent, &url, None, &body).context("snowflake login")?;
        if answer.get("success").and_then(Json::as_bool) != Some(true) {
            return Err(failure("login", &answer));
        }
        let token = answer
            .pointer("/data/token")
            .and_then(Json::as_str)
            .context("snowflake login answered no session token")?
            .to_owned();
        let bind_threshold = answer
            .pointer("/data/parameters")
            .and_then(Json::as_array)
            .and_then(|ps| ps.iter().find(|p| p["name"] == "CLIENT_STAGE_ARRAY_BINDING_THRESHOLD"))
            .and_then(|p| p["value"].as_u64())
            .filter(|v| *v > 0);
        Ok(Client { agent, base: cfg.base_url.clone(), token, sequence: 0, bind_threshold })
    }

    /// Runs one statement and waits for its answer.
    pub fn query(&mut self, sql: &str, bindings: &[Binding]) -> anyhow::Result<QueryResult> {
        self.sequence += 1;
        let url = format!("{}/queries/v1/query-request?requestId={}", self.base, request_id());
        let mut body = json!({
            "sqlText": sql,
            "asyncExec": false,
            "sequenceId": self.sequence,
            "querySubmissionTime": jiff::Timestamp::now().as_millisecond(),
        });
        if !bindings.is_empty() {
            let mut b = serde_json::Map::new();
            for (i, binding) in bindings.iter().enumerate() {
                let value = match &binding.value {
                    BindValue::One(v) => json!(v),
                    BindValue::Rows(vs) => json!(vs),
                };
                b.insert((i + 1).to_string(), json!({"type": binding.ty, "value": value}));
            }
            body["bindings"] = Json::Object(b);
        }
        let mut answer = post(&self.agent, &url, Some(&self.token), &body)?;
        // A statement still running after the server's wait: poll its result.
        let mut polls = 0u32;
        while matches!(answer.get("code").and_then(Json::as_str), Some("333333" | "333334")) {
            let path = answer
                .pointer("/data/getResultUrl")
                .and_then(Json::as_str)
                .context("snowflake answered `in progress` without a result URL")?
                .to_owned();
            std::thread::sleep(Duration::from_millis(200u64 << polls.min(4)));
            polls += 1;
            answer = get(&self.agent, &format!("{}{path}", self.base), &self.token)?;
        }
        if answer.get("success").and_then(Json::as_bool) != Some(true) {
            return Err(failure("statement", &answer));
        }
        Ok(read_result(&answer))
    }

    /// Ends the session (best effort).
    pub fn logout(self) {
        let url = format!("{}/session?delete=true&requestId={}", self.base, request_id());
        let _ = post(&self.agent, &url, Some(&self.token), &json!({}));
    }
}

fn read_result(answer: &Json) -> QueryResult {
    let data = &answer["data"];
    let columns = data["rowtype"]
        .as_array()
        .map(|cols| {
            cols.iter().map(|c| c["name"].as_str().unwrap_or_default().to_owned()).collect()
        })
        .unwrap_or_default();
    let rowset = data["rowset"].as_array().map(|rows| {
        rows.iter()
            .map(|r| {
                r.as_array()
                    .map(|cells| {
                        cells
                            .iter()
                            .map(|c| match c {
                                Json::Null => None,
                                Json::String(s) => Some(s.clone()),
                                other => Some(other.to_string()),
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect::<Vec<Vec<Option<String>>>>()
    });
    let total = data["total"].as_u64().unwrap_or(0);
    let query_id = data["queryId"].as_str().unwrap_or_default().to_owned();
    QueryResult { query_id, columns, rowset, total }
}

fn auth_header(token: &str) -> String {
    format!("Snowflake Token=\"{token}\"")
}

fn post(agent: &ureq::Agent, url: &str, token: Option<&str>, body: &Json) -> anyhow::Result<Json> {
    let mut req = agent
        .post(url)
        .header("Content-Type", "application/json")
        .header("Accept", "application/snowflake");
    if let Some(t) = token {
        req = req.header("Authorization", &auth_header(t));
    }
    let bytes = serde_json::to_vec(body)?;
    answer(req.send(&bytes[..]))
}

fn get(agent: &ureq::Agent, url: &str, token: &str) -> anyhow::Result<Json> {
    let req = agent
        .get(url)
        .header("Accept", "application/snowflake")
        .header("Authorization", &auth_header(token));
    answer(req.call())
}

/// Reads a JSON answer; an HTTP error status is an error with the answer's message.
fn answer(sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> anyhow::Result<Json> {
    let mut resp = sent.map_err(|e| anyhow::anyhow!("snowflake request: {e}"))?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(256 * 1024 * 1024)
        .read_to_string()
        .context("reading snowflake's answer")?;
    let parsed: Result<Json, _> = serde_json::from_str(&text);
    match parsed {
        Ok(body) if (200..300).contains(&status) => Ok(body),
        Ok(body) => Err(failure(&format!("request (HTTP {status})"), &body)),
        Err(_) => {
            let head: String = text.chars().take(200).collect();
            bail!("snowflake answered HTTP {status}, not JSON: {}", head.trim())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_uuid_v4_text() {
        let id = request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, request_id());
    }

    #[test]
    fn dml_counts_are_read_from_a_json_rowset() {
        let answer = json!({"success": true, "data": {
            "rowtype": [{"name": "number of rows inserted"}, {"name": "number of rows updated"}],
            "rowset": [["3", "2"]], "total": 1, "queryId": "q"}});
        let r = read_result(&answer);
        assert_eq!(r.count("number of rows inserted"), Some(3));
        assert_eq!(r.count("number of rows updated"), Some(2));
        assert_eq!(r.count("number of rows deleted"), None);
    }

    #[test]
    fn a_failure_says_code_and_message() {
        let e = failure(
            "statement",
            &json!({"success": false, "code": "002003", "message": "no table"}),
        );
        assert_eq!(e.to_string(), "snowflake statement failed: 002003: no table");
    }
}
