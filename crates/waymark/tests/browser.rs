//! The dashboard in a real browser: `waymark serve` (with a token) on a store built by
//! `simulate` + `ingest` + `scan --audit`, plus hostile records and a hostile ETL log, driven in
//! headless Chromium (Debian's package, by `playwright-core`; both installed by
//! `scripts/chromium.sh`) by `tests/browser/dashboard.cjs`: every page has data and no console
//! error, a searched correlation id opens its swimlane with every event of the truth, a failed
//! run shows its first error, filters live in the URL, hostile text stays text, the CSP is
//! sent. It takes the README's screenshots into `docs/screenshots/`. Skipped (visibly) without
//! Chromium or Node, failing under `CI=true`.

mod util;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use util::Dir;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn repo() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    repo.canonicalize().unwrap_or(repo)
}

fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Chromium and the node_modules holding playwright-core, when both are there.
fn browser() -> Option<(PathBuf, PathBuf)> {
    let chromium = PathBuf::from("/usr/bin/chromium");
    let home = std::env::var_os("HOME")?;
    let modules = PathBuf::from(home).join(".cache/waymark/node/node_modules");
    let node = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    (chromium.exists() && node && modules.join("playwright-core/package.json").exists())
        .then_some((chromium, modules))
}

/// Records whose checkpoint name and failure reason are markup, and a failure that never meets
/// its reason (an orphan once an event two hours later has passed).
const HOSTILE_RECORDS: &str = r#"{"system": "fedebom", "checkpoint": "INITIATED", "status": "SUCCESS", "timestamp": "2025-05-04T11:00:00", "correlation_id": "hostile-0001"}
{"system": "fedebom", "checkpoint": "<img src=x onerror=alert(2)>", "status": "FAILURE", "timestamp": "2025-05-04T11:00:05", "correlation_id": "hostile-0001"}
{"system": "fedebom", "correlation_id": "hostile-0001", "failure_reason": "<script>alert(1)</script> <a href=\"javascript:alert(3)\">click</a>"}
{"system": "fedebom", "checkpoint": "CHECKPOINT_1", "status": "FAILURE", "timestamp": "2025-05-04T11:30:00", "correlation_id": "orphan-0001"}
{"system": "fedebom", "checkpoint": "CHECKPOINT_1", "status": "SUCCESS", "timestamp": "2025-05-04T14:00:00", "correlation_id": "late-0001"}
"#;

/// The store: simulated flows (with noise), the ETL fixtures audited, hostile records and a
/// hostile ETL log; returns the flow with the most events and its truth.
fn store(dir: &Dir) -> (String, Vec<serde_json::Value>) {
    let records = dir.path("flows.log");
    let truth = dir.path("truth.jsonl");
    util::simulate(dir, &["--flows", "300", "--seed", "9", "--noise", "0.02"], &records, &truth);
    dir.run(&["ingest", records.to_str().expect("path")]);
    let hostile = dir.write("hostile.log", HOSTILE_RECORDS.as_bytes());
    dir.run(&["ingest", hostile.to_str().expect("path")]);
    dir.run(&["scan", "--audit", repo().join("fixtures/etl").to_str().expect("path")]);
    // A failed Informatica session whose error line carries markup.
    let fixture = std::fs::read_to_string(
        repo().join("fixtures/etl/infa_session/classic_failed_db_error.log"),
    )
    .expect("fixture");
    let payload = r#"<script>alert(1)</script> <img src=x onerror=alert(2)> <a href="javascript:alert(3)">click</a>"#;
    let log = fixture.replacen(
        "WRT_8229 Database errors occurred: ",
        &format!("WRT_8229 Database errors occurred: {payload}"),
        1,
    );
    assert_ne!(log, fixture, "the fixture has no WRT_8229 line to poison");
    std::fs::create_dir_all(dir.path("hostile/infa_session")).expect("mkdir");
    let log = log.replace("s_m_load_gl_balances", "s_m_hostile_load");
    dir.write("hostile/infa_session/hostile_run.log", log.as_bytes());
    dir.run(&["scan", "--audit", dir.path("hostile").to_str().expect("path")]);

    // The flow with the most events (retries and several systems), and its truth.
    let text = std::fs::read_to_string(&truth).expect("truth");
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).expect("truth line")).collect();
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for l in &lines {
        *counts.entry(l["correlation_id"].as_str().expect("id")).or_default() += 1;
    }
    let cid = counts.iter().max_by_key(|(_, n)| **n).map(|(c, _)| *c).expect("a flow");
    let expected: Vec<serde_json::Value> =
        lines.iter().filter(|l| l["correlation_id"] == cid).cloned().collect();
    (cid.to_owned(), expected)
}

/// `waymark serve` with `token` on an ephemeral port: the server and its base URL.
fn serve(dir: &Dir, token: &str) -> (Server, String) {
    let token_file = dir.write("token", token.as_bytes());
    let mut child = dir
        .cmd()
        .args(["serve", "--listen", "127.0.0.1:0", "--token-file"])
        .arg(&token_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start waymark serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("listen line");
    let base = line.trim().rsplit(' ').next().expect("address").to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "serve said {line:?}");
    (Server(child), base)
}

#[test]
fn the_dashboard_in_headless_chromium() {
    let Some((chromium, modules)) = browser() else {
        assert!(!is_ci(), "Chromium or playwright-core missing under CI: run scripts/chromium.sh");
        eprintln!("skipped: Chromium or playwright-core missing (run scripts/chromium.sh)");
        return;
    };
    let dir = Dir::new();
    let (cid, expected) = store(&dir);
    let token = "dashboard-test-token";
    let (_server, base) = serve(&dir, token);

    let shots = repo().join("docs/screenshots");
    std::fs::create_dir_all(&shots).expect("screenshots folder");
    let out = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/dashboard.cjs"))
        .env("NODE_PATH", &modules)
        .env("BASE", &base)
        .env("TOKEN", token)
        .env("CHROMIUM", &chromium)
        .env("CID", &cid)
        .env("TRUTH", serde_json::to_string(&expected).expect("json"))
        .env("HOSTILE_CID", "hostile-0001")
        .env("HOSTILE_LOG", "hostile_run.log")
        .env("SHOTS", &shots)
        .output()
        .expect("run node");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.trim_end().ends_with("ok"),
        "the browser test failed:\n{said}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One GET with the bearer token: status, headers (lowercase names) and body.
fn get(base: &str, path: &str, token: &str) -> (u16, Vec<(String, String)>, String) {
    let auth = format!("Bearer {token}");
    request(base, "GET", path, &[("Authorization", &auth)], "")
}

/// One HTTP/1.1 request on its own connection: status, headers (names in lower case), body.
fn request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req += &format!("{k}: {v}\r\n");
    }
    req += &format!("Content-Length: {}\r\n\r\n{body}", body.len());
    s.write_all(req.as_bytes()).expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("headers");
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok());
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status.expect("status"), headers, body.to_owned())
}

/// Without a browser (so it runs everywhere): every page answers HTML with the CSP and data,
/// hostile text comes escaped, an unknown flow is an HTML 404, and the token is required.
#[test]
fn pages_answer_escaped_html_with_the_csp() {
    let dir = Dir::new();
    let (cid, _) = store(&dir);
    let token = "pages-test-token";
    let (_server, base) = serve(&dir, token);
    let flow = format!("/flows/{cid}");
    let hostile_log = dir.path("hostile/infa_session/hostile_run.log");
    let scanned =
        format!("/scan-results?file_path={}", encode(hostile_log.to_str().expect("path")));
    for (path, data) in [
        ("/", "FAILURE"),
        ("/flows", "<td><a href=\"/flows/"),
        (flow.as_str(), "class=\"ev"),
        ("/runs?status=FAILURE", "FAILURE"),
        ("/scan-results?severity=ERROR", "ERROR"),
        ("/dead-letters", "bytes</summary>"),
        ("/orphans", "orphan-0001"),
        ("/flows/hostile-0001", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        (scanned.as_str(), "&lt;img src=x onerror=alert(2)&gt;"),
    ] {
        let (status, headers, body) = get(&base, path, token);
        assert_eq!(status, 200, "{path}: {body}");
        let header = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert!(header("content-type").is_some_and(|v| v.starts_with("text/html")), "{path}");
        assert!(
            header("content-security-policy").is_some_and(|v| v.contains("script-src 'self'")),
            "{path}: no CSP"
        );
        assert!(body.contains(data), "{path}: {data:?} not in the page");
        for raw in ["<script>alert", "<img src=x", "href=\"javascript:"] {
            assert!(!body.contains(raw), "{path}: unescaped {raw:?}");
        }
    }
    // An event's raw record, read again from its file: the line at its byte offset.
    let (_, _, trace) = get(&base, &format!("/api/v1/flows/{cid}"), token);
    let trace: serde_json::Value = serde_json::from_str(&trace).expect("trace json");
    let input = std::fs::read(dir.path("flows.log")).expect("the ingested file");
    for e in trace["events"].as_array().expect("events") {
        let (source, position) =
            (e["source"].as_str().expect("source"), e["position"].as_u64().expect("position"));
        let at = &input[position as usize..];
        let line = &at[..at.iter().position(|b| *b == b'\n').expect("a whole line")];
        let path = format!("/api/v1/records?source={}&position={position}", encode(source));
        let (status, _, body) = get(&base, &path, token);
        assert_eq!(status, 200, "{path}: {body}");
        let r: serde_json::Value = serde_json::from_str(&body).expect("record json");
        assert_eq!(r["available"], true, "{r}");
        assert_eq!(r["text"].as_str().map(str::as_bytes), Some(line), "{r}");
        assert!(line.windows(cid.len()).any(|w| w == cid.as_bytes()), "the record is the flow's");
    }
    let first = &trace["events"][0];
    let page = format!(
        "/records?source={}&position={}",
        encode(first["source"].as_str().expect("source")),
        first["position"]
    );
    let (status, _, body) = get(&base, &page, token);
    assert!(status == 200 && body.contains(&cid), "{page}: {body}");
    let (status, _, _) = get(&base, "/api/v1/records?source=%2Fetc%2Fpasswd&position=0", token);
    assert_eq!(status, 404, "only a source's file is read");
    let (status, _, body) = get(&base, "/flows/no-such-flow", token);
    assert_eq!(status, 404);
    assert!(body.contains("<main") && body.contains("no-such-flow"), "{body}");
    // A page without the token sends a browser to sign in; the API answers 401.
    let (status, headers, _) = get(&base, "/runs?status=FAILURE", "wrong-token");
    assert_eq!(status, 303);
    let location = |h: &[(String, String)]| {
        h.iter().find(|(k, _)| k == "location").map(|(_, v)| v.clone()).unwrap_or_default()
    };
    assert_eq!(location(&headers), "/login?next=%2Fruns%3Fstatus%3DFAILURE");
    assert_eq!(get(&base, "/api/v1/status", "wrong-token").0, 401);
    let (status, _, body) = request(&base, "GET", "/login?next=%2Fruns", &[], "");
    assert!(status == 200 && body.contains("type=\"password\""), "{body}");
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let (status, headers, _) = request(&base, "POST", "/login", &form, "token=wrong&next=%2Fruns");
    assert_eq!(status, 401);
    assert!(!headers.iter().any(|(k, _)| k == "set-cookie"));
    let body = format!("token={token}&next=%2Fruns");
    let (status, headers, _) = request(&base, "POST", "/login", &form, &body);
    assert_eq!((status, location(&headers).as_str()), (303, "/runs"));
    let cookie = headers.iter().find(|(k, _)| k == "set-cookie").map(|(_, v)| v.clone());
    let cookie = cookie.expect("a cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_owned();
    let (status, _, body) = request(&base, "GET", "/runs", &[("Cookie", &pair)], "");
    assert!(status == 200 && body.contains("FAILURE"), "signed in by the cookie");
    // Only a path of this site is a place to go back to.
    let body = format!("token={token}&next=%2F%2Fevil.example%2F");
    let (_, headers, _) = request(&base, "POST", "/login", &form, &body);
    assert_eq!(location(&headers), "/");
    // The search box: an exact id redirects to its flow.
    let (status, headers, _) = get(&base, &format!("/flows?q={cid}"), token);
    assert_eq!(status, 303);
    assert!(headers.iter().any(|(k, v)| k == "location" && v == &flow), "{headers:?}");
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
