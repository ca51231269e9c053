//! `waymark serve` as a real process on 127.0.0.1: the API answers the same values as the
//! CLI's `--json`, the bearer token, the Content-Security-Policy and the body limit, SIGTERM,
//! the OpenLineage receiver fed by the official Python client, Prometheus scraping `/metrics`,
//! and the systemd unit.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use util::Dir;

/// A running `waymark serve`, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `serve` on an ephemeral port and waits until it listens.
    fn start(dir: &Dir, args: &[&str]) -> Server {
        let mut child = dir
            .cmd()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start waymark serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read the listen line");
        let addr = line
            .trim()
            .rsplit("http://")
            .next()
            .filter(|a| a.contains(':'))
            .unwrap_or_else(|| panic!("serve did not say where it listens: {line:?}"))
            .to_owned();
        Server { child, addr }
    }

    fn get(&self, path: &str) -> Response {
        http(&self.addr, "GET", path, &[], b"")
    }

    fn json(&self, path: &str) -> Value {
        let r = self.get(path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("GET {path}: {e}: {}", r.text()))
    }

    /// Every item of a list, following the cursors.
    fn all_items(&self, path: &str, limit: usize) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut url = format!("{path}{sep}limit={limit}");
        let mut out = Vec::new();
        loop {
            let page = self.json(&url);
            out.extend(page["items"].as_array().expect("items").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => url = format!("{path}{sep}limit={limit}&cursor={c}"),
                None => return out,
            }
        }
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request on its own connection.
fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("send");
    // A server may answer (413) before reading a large body; a reset then is fine.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Response {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        while let Some(nl) = rest.windows(2).position(|w| w == b"\r\n") {
            let size =
                usize::from_str_radix(String::from_utf8_lossy(&rest[..nl]).trim(), 16).unwrap_or(0);
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[nl + 2..nl + 2 + size]);
            rest = &rest[nl + 2 + size + 2..];
        }
        body = out;
    }
    Response { status, headers, body }
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A store with simulated flows (some noise: dead letters) and audited runs.
fn store(dir: &Dir) {
    let records = dir.path("flows.log");
    let truth = dir.path("truth.jsonl");
    util::simulate(dir, &["--flows", "400", "--seed", "9", "--noise", "0.02"], &records, &truth);
    dir.run(&["ingest", records.to_str().expect("path")]);
    let etl = repo().join("fixtures/etl");
    dir.run(&["scan", "--audit", etl.to_str().expect("path")]);
}

fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Reports a test whose subject is missing; under CI that is a failure.
fn skipped(why: &str) {
    assert!(!is_ci(), "not skipped under CI: {why}");
    eprintln!("skipped: {why}");
}

#[test]
fn api_answers_are_the_cli_json_answers() {
    let dir = Dir::new();
    store(&dir);
    let server = Server::start(&dir, &[]);

    let cli_status: Value = serde_json::from_str(&dir.run(&["status", "--json"])).expect("status");
    assert_eq!(server.json("/api/v1/status"), cli_status);
    assert!(cli_status["events"].as_u64().expect("events") > 1000);

    let cli_failures = json_lines(&dir.run(&["failures", "--json", "--limit", "0"]));
    assert!(cli_failures.len() > 50, "enough failures to page through");
    assert_eq!(server.all_items("/api/v1/failures", 1000), cli_failures);
    assert_eq!(
        server.all_items("/api/v1/failures", 7),
        cli_failures,
        "pages of 7 give the same rows"
    );
    let cmf = json_lines(&dir.run(&[
        "failures",
        "--json",
        "--limit",
        "0",
        "--system",
        "cmf",
        "--since",
        "2020-01-01",
    ]));
    assert_eq!(server.all_items("/api/v1/failures?system=cmf&since=2020-01-01", 13), cmf);

    for cid in cli_failures.iter().take(5).map(|f| f["correlation_id"].as_str().expect("cid")) {
        let cli: Value = serde_json::from_str(&dir.run(&["trace", cid, "--json"])).expect("trace");
        assert_eq!(server.json(&format!("/api/v1/flows/{cid}")), cli, "flow {cid}");
        assert_ne!(cli["verdict"]["state"], "empty");
    }

    let cli_dead = json_lines(&dir.run(&["dead-letters", "--json", "--limit", "0"]));
    assert!(!cli_dead.is_empty(), "noise makes dead letters");
    assert_eq!(server.all_items("/api/v1/dead-letters", 5), cli_dead);
    let cli_orphans = json_lines(&dir.run(&["orphans", "--json", "--limit", "0"]));
    assert_eq!(server.all_items("/api/v1/orphans", 5), cli_orphans);

    // Runs: the CLI shows the latest runs oldest first, the API pages them latest first.
    let mut cli_runs = json_lines(&dir.run(&["runs", "--json", "--limit", "0"]));
    assert!(cli_runs.len() >= 5, "the fixtures hold runs");
    cli_runs.reverse();
    let api_runs = server.all_items("/api/v1/runs", 2);
    assert_eq!(api_runs, cli_runs);
    let failed = json_lines(&dir.run(&["runs", "--json", "--status", "failure", "--limit", "0"]));
    assert_eq!(server.all_items("/api/v1/runs?status=FAILURE", 100).len(), failed.len());
    let key = api_runs[0]["run_key"].as_str().expect("run_key");
    let one = server.json(&format!("/api/v1/runs/{}", encode(key)));
    assert_eq!(one, api_runs[0]);

    let scan = server.all_items("/api/v1/scan-results?severity=ERROR", 10);
    assert!(!scan.is_empty() && scan.iter().all(|r| r["severity"] == "ERROR"));
    let summary = server.json("/api/v1/summary");
    assert_eq!(summary["events"], cli_status["events"]);
    assert_eq!(summary["failures"], cli_status["failures"]);

    // Errors are JSON with a status that fits.
    let missing = server.get("/api/v1/flows/no-such-flow");
    assert_eq!(missing.status, 404);
    let body: Value = serde_json::from_slice(&missing.body).expect("JSON error");
    assert!(body["error"].as_str().expect("message").contains("no-such-flow"));
    for (path, status) in [
        ("/api/v1/failures?cursor=garbage", 400),
        ("/api/v1/failures?limit=0", 400),
        ("/api/v1/failures?since=yesterday", 400),
        ("/api/v1/runs?status=DONE", 400),
        ("/api/v1/runs/nope", 404),
        ("/api/v1/nothing-here", 404),
    ] {
        let r = server.get(path);
        assert_eq!(r.status, status, "{path}: {}", r.text());
        let v: Value = serde_json::from_slice(&r.body)
            .unwrap_or_else(|_| panic!("{path}: not JSON: {}", r.text()));
        assert_eq!(v["status"], status);
    }

    let doc = server.json("/api/v1/openapi.json");
    assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
    for p in [
        "/api/v1/flows/{correlation_id}",
        "/api/v1/failures",
        "/api/v1/runs/{run_key}",
        "/api/v1/lineage",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} in the OpenAPI document");
    }
    assert!(doc["components"]["schemas"].get("FlowTrace").is_some());
}

/// Percent-encodes a path segment.
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

#[test]
fn token_csp_body_limit_and_sigterm() {
    let dir = Dir::new();
    let token_file = dir.write("token", b"s3cret-token\n");
    let config = dir.write("serve.toml", b"[[source]]\ntype = \"openlineage\"\n");
    let mut server = Server::start(
        &dir,
        &[
            "--token-file",
            token_file.to_str().expect("path"),
            "--config",
            config.to_str().expect("path"),
        ],
    );
    let health = server.get("/health");
    assert_eq!(health.status, 200, "health needs no token");
    let bearer = [("Authorization", "Bearer s3cret-token")];
    for path in ["/api/v1/status", "/ready", "/metrics", "/api/v1/openapi.json", "/api/v1/failures"]
    {
        let refused = server.get(path);
        assert_eq!(refused.status, 401, "{path} without a token");
        assert_eq!(refused.header("www-authenticate"), Some("Bearer"));
        let wrong =
            http(&server.addr, "GET", path, &[("Authorization", "Bearer s3cret-tokem")], b"");
        assert_eq!(wrong.status, 401, "{path} with a wrong token");
        let ok = http(&server.addr, "GET", path, &bearer, b"");
        assert_eq!(ok.status, 200, "{path} with the token: {}", ok.text());
    }
    for r in [server.get("/health"), server.get("/api/v1/status"), server.get("/nope")] {
        let csp = r.header("content-security-policy").expect("a CSP header on every answer");
        assert!(
            csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
    let big = vec![b' '; 2 << 20];
    let too_large = http(&server.addr, "POST", "/api/v1/lineage", &bearer, &big);
    assert_eq!(too_large.status, 413, "{}", too_large.text());

    let pid = server.child.id().to_string();
    let t = Instant::now();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
    assert!(killed.success());
    let status = loop {
        if let Some(s) = server.child.try_wait().expect("wait") {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "serve must stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "SIGTERM is a clean stop: {status}");
}

#[test]
fn serve_check_validates_the_config() {
    let dir = Dir::new();
    let good = dir.write("good.toml", b"[[source]]\ntype = \"file\"\npaths = [\"/var/log/flows/*.log\"]\n\n[[source]]\ntype = \"openlineage\"\n");
    let out = dir.run(&["--config", good.to_str().expect("path"), "serve", "--check"]);
    assert!(out.contains("2 source(s)") && out.contains("file-0 (file)"), "{out}");
    let bad =
        dir.write("bad.toml", b"[[source]]\ntype = \"scan\"\npaths = []\ninterval_secs = 0\n");
    let out = dir
        .cmd()
        .args(["--config", bad.to_str().expect("path"), "serve", "--check"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("source[0].paths") && err.contains("source[0].interval_secs"), "{err}");
}

/// The official client's events, as a script: a run that completes, one that fails, one that
/// only starts.
const CLIENT: &str = r#"
import sys
from openlineage.client import OpenLineageClient
from openlineage.client.transport.http import HttpConfig, HttpTransport, ApiKeyTokenProvider
from openlineage.client.event_v2 import RunEvent, RunState, Run, Job, InputDataset, OutputDataset
from openlineage.client.facet_v2 import error_message_run, output_statistics_output_dataset

url, token = sys.argv[1], sys.argv[2]
client = OpenLineageClient(transport=HttpTransport(HttpConfig(
    url=url, endpoint="api/v1/lineage", timeout=10,
    auth=ApiKeyTokenProvider({"apiKey": token}))))
producer = "https://example.invalid/waymark-test"

def event(state, run_id, job, time, facets=None, inputs=(), outputs=()):
    client.emit(RunEvent(eventType=state, eventTime=time, producer=producer,
        run=Run(runId=run_id, facets=facets or {}), job=Job(namespace="shop", name=job),
        inputs=list(inputs), outputs=list(outputs)))

src = [InputDataset(namespace="postgres://db:5432", name="public.orders")]
out = [OutputDataset(namespace="duckdb", name="main.orders_clean", outputFacets={
    "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(rowCount=4812)})]
ok, bad, open_ = sys.argv[3], sys.argv[4], sys.argv[5]
event(RunState.START, ok, "load_orders", "2025-05-04T10:00:00Z", inputs=src)
event(RunState.COMPLETE, ok, "load_orders", "2025-05-04T10:01:11.500Z", inputs=src, outputs=out)
event(RunState.START, bad, "load_items", "2025-05-04T11:00:00Z")
event(RunState.FAIL, bad, "load_items", "2025-05-04T11:00:30Z", facets={
    "errorMessage": error_message_run.ErrorMessageRunFacet(
        message="relation \"items\" does not exist", programmingLanguage="SQL")})
event(RunState.START, open_, "load_stock", "2025-05-04T12:00:00Z")
print("sent")
"#;

#[test]
fn openlineage_events_from_the_python_client_become_runs() {
    let script = repo().join("scripts/install-openlineage.sh");
    let out = Command::new("bash").arg(&script).output().expect("run the install script");
    if !out.status.success() {
        skipped(&format!(
            "openlineage-python not installed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
        return;
    }
    let python = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let dir = Dir::new();
    let config =
        dir.write("serve.toml", b"[[source]]\ntype = \"openlineage\"\nname = \"lineage\"\n");
    let token = dir.write("token", b"ol-token");
    let server = Server::start(
        &dir,
        &[
            "--config",
            config.to_str().expect("path"),
            "--token-file",
            token.to_str().expect("path"),
        ],
    );
    let ids = [
        "0190a0b0-0000-7000-8000-00000000000a",
        "0190a0b0-0000-7000-8000-00000000000b",
        "0190a0b0-0000-7000-8000-00000000000c",
    ];
    let sent = Command::new(&python)
        .arg("-c")
        .arg(CLIENT)
        .args([&format!("http://{}", server.addr), "ol-token", ids[0], ids[1], ids[2]])
        .output()
        .expect("run the client");
    assert!(sent.status.success(), "client: {}", String::from_utf8_lossy(&sent.stderr));

    let bearer = [("Authorization", "Bearer ol-token")];
    let get = |path: &str| -> Value {
        let r = http(&server.addr, "GET", path, &bearer, b"");
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        serde_json::from_slice(&r.body).expect("JSON")
    };
    let runs = get("/api/v1/runs?system=OPENLINEAGE")["items"].as_array().expect("items").clone();
    assert_eq!(runs.len(), 3, "{runs:?}");
    let by_id = |id: &str| {
        runs.iter().find(|r| r["run_id"] == id).cloned().unwrap_or_else(|| panic!("run {id}"))
    };
    let ok = by_id(ids[0]);
    assert_eq!(ok["status"], "SUCCESS");
    assert_eq!(
        (ok["start_time"].as_str(), ok["end_time"].as_str()),
        (Some("2025-05-04T10:00:00Z"), Some("2025-05-04T10:01:11.5Z"))
    );
    assert_eq!(ok["duration_seconds"], 71.5);
    assert_eq!(ok["source_name"], serde_json::json!(["public.orders"]));
    assert_eq!(ok["target_name"], serde_json::json!(["main.orders_clean"]));
    assert_eq!(ok["target_rows"], 4812);
    assert_eq!(
        (ok["folder_name"].as_str(), ok["workflow_name"].as_str()),
        (Some("shop"), Some("load_orders"))
    );
    assert_eq!(
        ok["extra"]["openlineage_complete"]["run"]["runId"], ids[0],
        "the raw event is kept"
    );
    let bad = by_id(ids[1]);
    assert_eq!(bad["status"], "FAILURE");
    assert_eq!(bad["error_message"], "relation \"items\" does not exist");
    assert_eq!(bad["end_time"], "2025-05-04T11:00:30Z");
    let open = by_id(ids[2]);
    assert_eq!((open["status"].as_str(), open["end_time"].as_str()), (Some("RUNNING"), None));

    // The CLI shows the same runs.
    let cli = json_lines(&dir.run(&["runs", "--json", "--system", "OPENLINEAGE"]));
    assert_eq!(cli.len(), 3);
    assert!(cli
        .iter()
        .any(|r| r["run_id"] == ids[1] && r["error_message"] == bad["error_message"]));

    // A malformed event: 400 with what is wrong, and a dead letter.
    let broken = br#"{"eventType":"COMPLETE","eventTime":"2025-05-04T10:00:00Z","job":{"namespace":"n","name":"j"}}"#;
    let r = http(
        &server.addr,
        "POST",
        "/api/v1/lineage",
        &[bearer[0], ("Content-Type", "application/json")],
        broken,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("run.runId"), "{}", r.text());
    let dead = get("/api/v1/dead-letters?source=lineage");
    assert_eq!(dead["items"][0]["kind"], "missing_field");
    assert_eq!(dead["items"][0]["raw"], String::from_utf8_lossy(broken).as_ref());
}

/// A free port on loopback (bound and released; a race with another process is unlikely).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

#[test]
fn prometheus_scrapes_the_metrics() {
    let script = repo().join("scripts/install-prometheus.sh");
    let out = Command::new("bash").arg(&script).output().expect("run the install script");
    if !out.status.success() {
        skipped(&format!("prometheus not installed: {}", String::from_utf8_lossy(&out.stderr)));
        return;
    }
    let prometheus = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let dir = Dir::new();
    let server = Server::start(&dir, &[]);
    for _ in 0..5 {
        assert_eq!(server.get("/api/v1/status").status, 200);
    }
    let port = free_port();
    let config = dir.write(
        "prometheus.yml",
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: waymark\n    static_configs:\n      - targets: ['{}']\n",
            server.addr
        )
        .as_bytes(),
    );
    let mut prom = Command::new(&prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let query = "/api/v1/query?query=waymark_http_requests_total%7Broute%3D%22%2Fapi%2Fv1%2Fstatus%22%2Cstatus%3D%22200%22%7D";
    let t = Instant::now();
    let value = loop {
        let answer = TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(|_| http(&format!("127.0.0.1:{port}"), "GET", query, &[], b""));
        if let Some(r) = answer.filter(|r| r.status == 200) {
            let v: Value = serde_json::from_slice(&r.body).expect("JSON");
            if let Some(n) = v["data"]["result"][0]["value"][1].as_str() {
                break n.parse::<f64>().expect("a number");
            }
        }
        assert!(t.elapsed() < Duration::from_secs(90), "Prometheus never scraped the counter");
        std::thread::sleep(Duration::from_millis(300));
    };
    let _ = prom.kill();
    let _ = prom.wait();
    assert_eq!(value, 5.0, "the five status requests, read back through Prometheus");
}

#[test]
fn the_systemd_unit_verifies() {
    let unit = repo().join("packaging/waymark.service");
    let text = std::fs::read_to_string(&unit).expect("packaging/waymark.service");
    assert!(text.contains("--listen 127.0.0.1:"), "the unit binds loopback");
    let Ok(which) = Command::new("systemd-analyze").arg("--version").output() else {
        skipped("systemd-analyze is absent");
        return;
    };
    assert!(which.status.success());
    // verify checks that ExecStart exists: point it at the binary under test.
    let dir = Dir::new();
    let bin = env!("CARGO_BIN_EXE_waymark");
    let local = text.replace("/usr/local/bin/waymark", bin);
    let path = dir.write("waymark.service", local.as_bytes());
    let out = Command::new("systemd-analyze").arg("verify").arg(&path).output().expect("verify");
    let err = String::from_utf8_lossy(&out.stderr);
    let problems: Vec<&str> = err.lines().filter(|l| l.contains("waymark.service")).collect();
    assert!(out.status.success() && problems.is_empty(), "systemd-analyze verify: {err}");
}

/// Appends `bytes` to `path` (created when missing).
fn append(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("open");
    f.write_all(bytes).expect("append");
}

/// Waits until the store holds exactly `truth`, or fails after a minute.
fn wait_for_truth(db: &Path, truth: &[Vec<String>]) {
    let t = Instant::now();
    loop {
        let now = util::events(db);
        if now == truth {
            return;
        }
        if t.elapsed() > Duration::from_secs(90) {
            util::assert_same_rows(&now, truth, "events followed by serve");
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn serve_follows_files_through_rotation_and_a_kill() {
    let dir = Dir::new();
    let records = dir.path("all.log");
    let truth_path = dir.path("truth.jsonl");
    util::simulate(&dir, &["--flows", "1500", "--seed", "21"], &records, &truth_path);
    let truth = util::truth(&truth_path);
    let all = std::fs::read(&records).expect("records");
    let logs = dir.path("logs");
    std::fs::create_dir(&logs).expect("logs dir");
    let config = util::file_source_config(&dir, &logs.join("*"));
    let args = ["--config", config.to_str().expect("path")];
    let app = logs.join("app.log");
    // Chunks cut anywhere: lines arrive in pieces.
    let cuts: Vec<usize> =
        (1..=10).map(|i| all.len() * i / 10 + 7 * i).map(|c| c.min(all.len())).collect();
    let mut at = 0;
    let mut server = Server::start(&dir, &args);
    // A writer writes whole lines: before a rotation it finishes the line in hand.
    let finish_line = |at: &mut usize| {
        let rest = all[*at..].iter().position(|b| *b == b'\n').map_or(all.len() - *at, |p| p + 1);
        append(&app, &all[*at..*at + rest]);
        *at += rest;
    };
    for (i, &cut) in cuts.iter().enumerate() {
        if at < cut {
            append(&app, &all[at..cut]);
            at = cut;
        }
        std::thread::sleep(Duration::from_millis(200));
        match i {
            // logrotate `create`: rename, then a new file.
            3 => {
                finish_line(&mut at);
                std::fs::rename(&app, logs.join("app.log.1")).expect("rotate");
            }
            // a kill at an arbitrary instant, then a restart
            5 => {
                server.child.kill().expect("SIGKILL");
                let _ = server.child.wait();
                server = Server::start(&dir, &args);
            }
            // copy-truncate (the copy appears whole: a copy seen half-written is another
            // case, see the report of the branch)
            7 => {
                finish_line(&mut at);
                std::fs::copy(&app, dir.path("app.log.2")).expect("copy");
                std::fs::rename(dir.path("app.log.2"), logs.join("app.log.2")).expect("move");
                std::fs::OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(&app)
                    .expect("truncate");
            }
            _ => {}
        }
    }
    append(&app, &all[at..]);
    wait_for_truth(&dir.db(), &truth);
    let status = server.json("/api/v1/status");
    assert_eq!(status["events"].as_u64(), Some(truth.len() as u64));
    let metrics = server.get("/metrics").text();
    assert!(metrics.contains("waymark_events_stored_total{source=\"flows\"}"), "{metrics}");
    drop(server);
    // A restart reads nothing twice.
    let server = Server::start(&dir, &args);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(util::events(&dir.db()), truth);
    drop(server);
}

/// Waits until `cond` holds, or fails after `secs` seconds saying what was awaited.
fn wait_until(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < Duration::from_secs(secs), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// `kill -HUP`.
fn sighup(child: &Child) {
    let ok = Command::new("kill").args(["-HUP", &child.id().to_string()]).status().expect("kill");
    assert!(ok.success());
}

#[cfg(feature = "kafka")]
#[test]
fn serve_runs_kafka_and_scan_sources_and_reload_adds_one_without_touching_the_others() {
    let dir = Dir::new();
    let broker = util::Broker::start(3);
    // Flows on topic `raw-logs`; more flows (other ids) later on topic `late`.
    let produce = |seed: &str, topic: &str, flows: &str| {
        let args = ["--flows", flows, "--seed", seed, "--topic", topic];
        let truth = dir.path(&format!("truth-{seed}.jsonl"));
        util::simulate(&dir, &["--flows", flows, "--seed", seed], &dir.path("sim.log"), &truth);
        let out = dir.cmd().args(["simulate", "--brokers", &broker.bootstrap]).args(args).output();
        util::assert_success(&out.expect("simulate"), &args);
        util::truth(&truth)
    };
    let first = produce("31", "raw-logs", "800");
    let etl = dir.path("etl");
    std::fs::create_dir(&etl).expect("etl dir");
    let fixtures = repo().join("fixtures/etl/infa_session");
    std::fs::copy(fixtures.join("classic_failed_db_error.log"), etl.join("failed.log"))
        .expect("copy a session log");
    let kafka = |name: &str, topic: &str| {
        format!(
            "[[source]]\ntype = \"kafka\"\nname = \"{name}\"\nbrokers = \"{}\"\ntopics = [\"{topic}\"]\ngroup = \"g-{name}\"\n\
             settings = {{ \"session.timeout.ms\" = \"6000\", \"heartbeat.interval.ms\" = \"500\" }}\n",
            broker.bootstrap
        )
    };
    let scan = format!(
        "[[source]]\ntype = \"scan\"\nname = \"etl\"\npaths = [\"{}\"]\ninterval_secs = 1\n",
        etl.display()
    );
    let config = dir.path("serve.toml");
    std::fs::write(&config, format!("{}{scan}", kafka("bus", "raw-logs"))).expect("config");
    let server = Server::start(&dir, &["--config", config.to_str().expect("path")]);
    wait_for_truth(&dir.db(), &first);
    wait_until("the session log's run", 60, || {
        server.json("/api/v1/runs")["items"].as_array().is_some_and(|r| !r.is_empty())
    });
    let runs = server.json("/api/v1/runs");
    assert_eq!(runs["items"][0]["status"], "FAILURE", "{runs}");
    // The lag comes with librdkafka's statistics, once a second: wait for the next ones.
    for needle in [
        "waymark_events_stored_total{source=\"bus\"}",
        "waymark_kafka_lag_messages{source=\"bus\",topic=\"raw-logs\",partition=",
        "waymark_batch_commit_seconds_bucket",
        "waymark_scan_matches_total{source=\"etl\"}",
    ] {
        wait_until(&format!("{needle} in /metrics"), 30, || {
            server.get("/metrics").text().contains(needle)
        });
    }

    // A good reload adds a source; the others keep running where they are.
    let positions = |s: &Server| -> Vec<(String, u64)> {
        let st = s.json("/api/v1/status");
        let mut v: Vec<(String, u64)> = st["sources"]
            .as_array()
            .expect("sources")
            .iter()
            .filter(|x| x["kind"] == "kafka")
            .map(|x| {
                (x["name"].as_str().unwrap_or("").to_owned(), x["position"].as_u64().unwrap_or(0))
            })
            .collect();
        v.sort();
        v
    };
    let before = positions(&server);
    std::fs::write(&config, format!("{}{scan}{}", kafka("bus", "raw-logs"), kafka("late", "late")))
        .expect("config");
    sighup(&server.child);
    let second = produce("32", "late", "300");
    let mut truth: Vec<Vec<String>> = first.iter().chain(&second).cloned().collect();
    truth.sort();
    wait_for_truth(&dir.db(), &truth);
    let after = positions(&server);
    for (name, pos) in &before {
        assert!(after.contains(&(name.clone(), *pos)), "{name} moved: {before:?} → {after:?}");
    }
    // A bad one is refused: everything keeps running, the new source included.
    std::fs::write(&config, b"[[source]]\ntype = \"kafka\"\nbrokers = \"\"\ntopics = []\n")
        .expect("config");
    sighup(&server.child);
    let third = produce("33", "late", "100");
    truth.extend(third);
    truth.sort();
    wait_for_truth(&dir.db(), &truth);
    assert_eq!(server.json("/api/v1/status")["dead_letters"].as_u64(), Some(0));
}
