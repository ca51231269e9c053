//! Alerts end to end, through the binary, against real receivers on 127.0.0.1: a signed
//! webhook (retries, one delivery per id, a SIGKILL while a delivery is pending), Slack and
//! PagerDuty payloads, and Debian's Prometheus Alertmanager (installed by
//! `scripts/alertmanager.sh`).

mod util;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use util::{assert_success, Dir};

/// A request as the receiver got it.
#[derive(Debug, Clone)]
struct Got {
    path: String,
    headers: BTreeMap<String, String>,
    body: String,
    /// The status it was answered with.
    status: u16,
}

/// A planned answer: the status and an optional `Retry-After`.
type Planned = (u16, Option<String>);

/// An HTTP receiver on 127.0.0.1 answering each request with the next planned status
/// (then `then`), recording what it got.
#[derive(Clone)]
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Got>>>,
    plan: Arc<Mutex<Vec<Planned>>>,
    then: Arc<Mutex<u16>>,
}

impl Receiver {
    fn start(plan: &[u16], then: u16) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let r = Receiver {
            port: listener.local_addr().unwrap().port(),
            got: Arc::default(),
            plan: Arc::new(Mutex::new(plan.iter().map(|s| (*s, None)).collect())),
            then: Arc::new(Mutex::new(then)),
        };
        let me = r.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                me.serve(stream);
            }
        });
        r
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn serve(&self, mut stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
        let mut headers = BTreeMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let len: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
        let mut body = vec![0; len];
        let _ = reader.read_exact(&mut body);
        let (status, retry_after) = {
            let mut plan = self.plan.lock().unwrap();
            if plan.is_empty() {
                (*self.then.lock().unwrap(), None)
            } else {
                plan.remove(0)
            }
        };
        let body = String::from_utf8_lossy(&body).into_owned();
        self.got.lock().unwrap().push(Got { path, headers, body, status });
        let extra = retry_after.map(|s| format!("retry-after: {s}\r\n")).unwrap_or_default();
        let _ = write!(
            stream,
            "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n{extra}\r\nok"
        );
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    fn set_then(&self, status: u16) {
        *self.then.lock().unwrap() = status;
    }
}

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn now_secs() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn iso(secs: i64) -> String {
    jiff::Timestamp::from_second(secs).unwrap().to_string()
}

/// fedebom records of flow `cid`: received at `t`, and optionally finalized at `t + 30`.
fn fedebom(cid: &str, t: i64, finalized: bool) -> String {
    let mut s = format!(
        "{{\"system\":\"fedebom\",\"checkpoint\":\"RECEIVED\",\"timestamp\":\"{}\",\"status\":\"SUCCESS\",\"correlation_id\":\"{cid}\"}}\n",
        iso(t)
    );
    if finalized {
        s += &format!(
            "{{\"system\":\"fedebom\",\"checkpoint\":\"FINALIZED\",\"timestamp\":\"{}\",\"status\":\"SUCCESS\",\"correlation_id\":\"{cid}\"}}\n",
            iso(t + 30)
        );
    }
    s
}

/// Ingests records from a new file of the folder.
fn ingest(dir: &Dir, name: &str, text: &str) {
    let path = dir.write(name, text.as_bytes());
    dir.run(&["ingest", path.to_str().unwrap()]);
}

const FLOW: &str = r#"
[[expect.flow]]
name = "orders"
[[expect.flow.step]]
system = "fedebom"
final = ["FINALIZED"]
within_secs = 60
"#;

fn alerts_once(dir: &Dir, config: &Path) {
    let out =
        dir.cmd().arg("--config").arg(config).args(["alerts", "run", "--once"]).output().unwrap();
    assert_success(&out, &["alerts", "run", "--once"]);
}

fn alerts_json(dir: &Dir) -> Value {
    serde_json::from_str(&dir.run(&["alerts", "--json", "--limit", "100"])).unwrap()
}

/// Verifies a Standard Webhooks signature the way a receiver does.
fn verify(g: &Got) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(SECRET.strip_prefix("whsec_").unwrap())
        .unwrap();
    let (id, ts) = (&g.headers["webhook-id"], &g.headers["webhook-timestamp"]);
    let mut mac = <Hmac<Sha256>>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.{}", g.body).as_bytes());
    let want = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    g.headers["webhook-signature"].split(' ').any(|s| s == format!("v1,{want}"))
}

fn webhook_config(dir: &Dir, rx: &Receiver) -> PathBuf {
    let text = format!(
        "{FLOW}
[[alert.rule]]
name = \"FlowStalled\"
kind = \"flow_stalled\"
severity = \"critical\"

[[alert.sink]]
name = \"hook\"
type = \"webhook\"
url = \"{}\"
secret_env = \"WM_TEST_HOOK_SECRET\"
retry_initial_ms = 20
retry_max_secs = 1
",
        rx.url("/hook")
    );
    dir.write("alerts.toml", text.as_bytes())
}

#[test]
fn webhook_retries_500_twice_then_delivers_once_signed() {
    let dir = Dir::new();
    let rx = Receiver::start(&[500, 500], 200);
    let config = webhook_config(&dir, &rx);
    ingest(&dir, "a.jsonl", &fedebom("ord-1", now_secs() - 600, false));
    let mut rounds = 0;
    while !rx.got().iter().any(|g| g.status == 200) {
        rounds += 1;
        assert!(rounds < 200, "never delivered: {:?}", rx.got());
        std::thread::sleep(Duration::from_millis(60));
        let out = dir
            .cmd()
            .env("WM_TEST_HOOK_SECRET", SECRET)
            .arg("--config")
            .arg(&config)
            .args(["alerts", "run", "--once"])
            .output()
            .unwrap();
        assert_success(&out, &["alerts", "run", "--once"]);
    }
    let got = rx.got();
    assert_eq!(got.iter().map(|g| g.status).collect::<Vec<_>>(), [500, 500, 200]);
    let ids: Vec<&str> = got.iter().map(|g| g.headers["webhook-id"].as_str()).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "same id on every retry: {ids:?}");
    assert!(got.iter().all(verify), "every attempt is signed");
    let body: Value = serde_json::from_str(&got[2].body).unwrap();
    assert_eq!(body["type"], "alert.trigger");
    assert_eq!(body["data"]["firing"]["key"], "FlowStalled|orders|ord-1");
    assert_eq!(body["data"]["notification_id"], ids[0]);
    // Nothing more to send: the alert is active and delivered.
    dir.cmd()
        .env("WM_TEST_HOOK_SECRET", SECRET)
        .arg("--config")
        .arg(&config)
        .args(["alerts", "run", "--once"])
        .output()
        .unwrap();
    assert_eq!(rx.got().len(), 3);
    let listed = alerts_json(&dir);
    assert_eq!(listed["active"].as_array().unwrap().len(), 1);
    let d = &listed["deliveries"][0];
    assert_eq!((d["state"].as_str(), d["attempts"].as_u64()), (Some("delivered"), Some(3)));
    // A tampered body fails verification (the check can fail).
    let mut bad = got[2].clone();
    bad.body = bad.body.replace("ord-1", "ord-2");
    assert!(!verify(&bad));
}

#[test]
fn a_4xx_is_a_permanent_failure_shown_by_alerts() {
    let dir = Dir::new();
    let rx = Receiver::start(&[], 404);
    let config = webhook_config(&dir, &rx);
    ingest(&dir, "a.jsonl", &fedebom("ord-9", now_secs() - 600, false));
    let out = dir
        .cmd()
        .env("WM_TEST_HOOK_SECRET", SECRET)
        .arg("--config")
        .arg(&config)
        .args(["alerts", "run", "--once"])
        .output()
        .unwrap();
    assert_success(&out, &["alerts"]);
    let out = dir
        .cmd()
        .env("WM_TEST_HOOK_SECRET", SECRET)
        .arg("--config")
        .arg(&config)
        .args(["alerts", "run", "--once"])
        .output()
        .unwrap();
    assert_success(&out, &["alerts"]);
    assert_eq!(rx.got().len(), 1, "not retried");
    let listed = alerts_json(&dir);
    let d = &listed["deliveries"][0];
    assert_eq!(d["state"], "failed");
    assert_eq!(d["last_status"], 404);
    let table = dir.run(&["alerts"]);
    assert!(table.contains("failed") && table.contains("HTTP 404"), "{table}");
}

fn spawn_loop(dir: &Dir, config: &Path) -> Child {
    dir.cmd()
        .env("WM_TEST_HOOK_SECRET", SECRET)
        .arg("--config")
        .arg(config)
        .args(["alerts", "run", "--interval", "0.1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..600 {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// `waymark serve` evaluating and delivering (its `[alert] interval_secs` set to one second).
fn spawn_serve(dir: &Dir, config: &Path) -> Child {
    let text = std::fs::read_to_string(config).unwrap() + "\n[alert]\ninterval_secs = 1\n";
    let served = dir.write("served.toml", text.as_bytes());
    dir.cmd()
        .env("WM_TEST_HOOK_SECRET", SECRET)
        .arg("--config")
        .arg(served)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn sigkill_while_a_delivery_is_pending_then_restart_delivers_once() {
    // The same with `alerts run --interval` and with `serve` doing the rounds.
    for spawn in [spawn_loop as fn(&Dir, &Path) -> Child, spawn_serve] {
        sigkill_then_restart(spawn);
    }
}

fn sigkill_then_restart(spawn: fn(&Dir, &Path) -> Child) {
    let dir = Dir::new();
    let rx = Receiver::start(&[], 503);
    let config = webhook_config(&dir, &rx);
    ingest(&dir, "a.jsonl", &fedebom("ord-2", now_secs() - 600, false));
    let mut child = spawn(&dir, &config);
    wait_for("a first attempt", || !rx.got().is_empty());
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let pending = util::rows(&dir.db(), "SELECT notification_id, state FROM alert_outbox");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0][1], "pending", "killed while the delivery is pending");
    rx.set_then(200);
    let mut child = spawn(&dir, &config);
    wait_for("the delivery", || rx.got().iter().any(|g| g.status == 200));
    // Let it run a few more rounds: nothing new must be sent.
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap();
    child.wait().unwrap();
    let got = rx.got();
    let accepted: std::collections::BTreeSet<&str> =
        got.iter().filter(|g| g.status == 200).map(|g| g.headers["webhook-id"].as_str()).collect();
    assert_eq!(accepted.len(), 1, "one notification as seen by a deduplicating receiver");
    assert_eq!(accepted.iter().next().unwrap(), &pending[0][0].as_str(), "the pending one");
    assert!(got.iter().all(|g| g.headers["webhook-id"] == pending[0][0]), "no second notification");
    let rows = util::rows(&dir.db(), "SELECT state FROM alert_outbox");
    assert_eq!(rows, [["delivered"]]);
}

#[test]
fn slack_and_pagerduty_payloads_have_their_documented_shapes() {
    let dir = Dir::new();
    let slack = Receiver::start(&[], 200);
    slack.plan.lock().unwrap().push((429, Some("1".into())));
    let pd = Receiver::start(&[], 202);
    let text = format!(
        "{FLOW}
[alert]
dashboard_url = \"http://waymark.example:8080\"

[[alert.rule]]
name = \"FlowStalled\"
kind = \"flow_stalled\"
severity = \"critical\"

[[alert.sink]]
name = \"slack\"
type = \"slack\"
url = \"{}\"
retry_initial_ms = 10

[[alert.sink]]
name = \"pd\"
type = \"pagerduty\"
url = \"{}\"
secret_env = \"WM_TEST_PD_KEY\"
",
        slack.url("/services/T/B/X"),
        pd.url("/v2/enqueue")
    );
    let config = dir.write("alerts.toml", text.as_bytes());
    let run = |dir: &Dir| {
        let out = dir
            .cmd()
            .env("WM_TEST_PD_KEY", "R0UT1NGKEY0000000000000000000000")
            .arg("--config")
            .arg(&config)
            .args(["alerts", "run", "--once"])
            .output()
            .unwrap();
        assert_success(&out, &["alerts", "run"]);
    };
    let t = now_secs() - 600;
    ingest(&dir, "a.jsonl", &fedebom("ord-3", t, false));
    run(&dir);
    assert_eq!(slack.got().len(), 1);
    assert_eq!(slack.got()[0].status, 429);
    // Retry-After: 1 is honoured: the next attempt is at least a second later.
    let rows = util::rows(
        &dir.db(),
        "SELECT o.next_attempt_us - CAST((julianday(a.at) - 2440587.5) * 86400000000.0 AS INTEGER)
         FROM alert_outbox o JOIN alert_attempts a ON a.outbox_id = o.id WHERE o.sink = 'slack'",
    );
    let wait: i64 = rows[0][0].parse().unwrap();
    assert!(wait >= 999_000, "waits for Retry-After (1 s): {wait} µs");
    wait_for("the slack retry", || {
        run(&dir);
        slack.got().iter().any(|g| g.status == 200)
    });
    ingest(&dir, "b.jsonl", &(fedebom("ord-3", t, true).lines().nth(1).unwrap().to_owned() + "\n"));
    run(&dir);
    let slack_got: Vec<Value> = slack
        .got()
        .iter()
        .filter(|g| g.status == 200)
        .map(|g| serde_json::from_str(&g.body).unwrap())
        .collect();
    assert_eq!(slack_got.len(), 2, "trigger and resolve");
    for (msg, word) in slack_got.iter().zip(["[FIRING]", "[RESOLVED]"]) {
        let text = msg["text"].as_str().unwrap();
        assert!(text.starts_with(word) && text.contains("ord-3"), "{text}");
        let blocks = msg["blocks"].as_array().unwrap();
        assert!(!blocks.is_empty() && blocks.len() <= 50);
        for b in blocks {
            match b["type"].as_str().unwrap() {
                "section" => {
                    assert_eq!(b["text"]["type"], "mrkdwn");
                    assert!(b["text"]["text"].as_str().unwrap().len() <= 3000);
                }
                "context" => {
                    let els = b["elements"].as_array().unwrap();
                    assert!(!els.is_empty() && els.len() <= 10);
                    assert!(els.iter().all(|e| e["type"] == "mrkdwn"));
                }
                other => panic!("unexpected block type {other}"),
            }
        }
    }
    assert!(slack_got[0].to_string().contains("<http://waymark.example:8080/trace/ord-3|"));
    let pd_got: Vec<Value> =
        pd.got().iter().map(|g| serde_json::from_str(&g.body).unwrap()).collect();
    assert_eq!(pd_got.len(), 2);
    assert!(pd
        .got()
        .iter()
        .all(|g| g.path == "/v2/enqueue" && g.headers["content-type"] == "application/json"));
    let (trigger, resolve) = (&pd_got[0], &pd_got[1]);
    assert_eq!(trigger["routing_key"], "R0UT1NGKEY0000000000000000000000");
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["dedup_key"], "FlowStalled|orders|ord-3");
    let p = &trigger["payload"];
    assert!(p["summary"].as_str().unwrap().contains("ord-3"));
    assert!(p["summary"].as_str().unwrap().len() <= 1024);
    assert!(!p["source"].as_str().unwrap().is_empty());
    assert!(["critical", "error", "warning", "info"].contains(&p["severity"].as_str().unwrap()));
    assert!(p["timestamp"].as_str().unwrap().parse::<jiff::Timestamp>().is_ok());
    assert_eq!(p["custom_details"]["correlation_id"], "ord-3");
    assert_eq!(trigger["links"][0]["href"], "http://waymark.example:8080/trace/ord-3");
    assert_eq!(resolve["event_action"], "resolve");
    assert_eq!(resolve["dedup_key"], trigger["dedup_key"]);
    assert!(resolve.get("payload").is_none());
}

/// `waymark flows --state` and `waymark config check` with an alert error.
#[test]
fn flows_by_state_and_config_check() {
    let dir = Dir::new();
    let config = dir.write("f.toml", FLOW.as_bytes());
    let t = now_secs();
    ingest(
        &dir,
        "a.jsonl",
        &(fedebom("stalled-1", t - 600, false)
            + &fedebom("done-1", t - 600, true)
            + &fedebom("young-1", t - 10, false)),
    );
    let flows = |state: &str| -> Vec<String> {
        let out = dir
            .cmd()
            .arg("--config")
            .arg(&config)
            .args(["flows", "--json", "--state", state])
            .output()
            .unwrap();
        assert_success(&out, &["flows"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["correlation_id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(flows("stalled"), ["stalled-1"]);
    assert_eq!(flows("complete"), ["done-1"]);
    assert_eq!(flows("in-progress"), ["young-1"]);
    assert!(flows("failed").is_empty());
    let bad = dir.write(
        "bad.toml",
        b"[[alert.sink]]\nname = \"s\"\ntype = \"slack\"\nurl = \"not a url\"\n",
    );
    let out = dir.cmd().arg("--config").arg(&bad).args(["config", "check"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:4: alert.sink[0].url: must be an http:// or https:// URL"),
        "{err}"
    );
}

/// Alertmanager's own API, over HTTP.
fn am_alerts(port: u16) -> Vec<Value> {
    let url = format!("http://127.0.0.1:{port}/api/v2/alerts");
    let body = ureq::get(&url).call().unwrap().body_mut().read_to_string().unwrap();
    serde_json::from_str(&body).unwrap()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Kills the child when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn alertmanager_binary() -> Option<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/alertmanager.sh");
    let ok =
        Command::new("bash").arg(&script).stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    if !ok {
        return None;
    }
    let out =
        Command::new("sh").args(["-c", "command -v prometheus-alertmanager"]).output().ok()?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (!path.is_empty()).then(|| PathBuf::from(path))
}

fn session_logs(dir: &Dir, rerun: bool) -> PathBuf {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/etl/infa_session");
    let logs = dir.path("logs");
    std::fs::create_dir_all(&logs).unwrap();
    if rerun {
        // The same session run again the next day, successfully (a fixture's successful run
        // under the failed session's names).
        let ok = std::fs::read_to_string(fixtures.join("classic_success.log")).unwrap();
        let rerun = ok
            .replace("s_m_load_customer_orders", "s_m_load_gl_balances")
            .replace("wf_fin_daily_load", "wf_fin_monthly_close")
            .replace("118204", "118999")
            .replace("Mon Jan 06", "Wed Jan 08");
        std::fs::write(logs.join("rerun.log"), rerun).unwrap();
    } else {
        std::fs::copy(fixtures.join("classic_failed_db_error.log"), logs.join("failed.log"))
            .unwrap();
    }
    logs
}

#[test]
fn alertmanager_end_to_end_fires_and_resolves() {
    let Some(binary) = alertmanager_binary() else {
        util::skipped(
            "alertmanager end to end",
            "prometheus-alertmanager could not be installed",
            true,
        );
        return;
    };
    let dir = Dir::new();
    let am_port = free_port();
    let am_config = dir.write(
        "am.yml",
        b"route:\n  receiver: 'null'\n  group_wait: 0s\nreceivers:\n  - name: 'null'\n",
    );
    let am = Command::new(&binary)
        .arg(format!("--config.file={}", am_config.display()))
        .arg(format!("--storage.path={}", dir.path("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _am = Killed(am);
    wait_for("alertmanager to listen", || {
        ureq::get(&format!("http://127.0.0.1:{am_port}/api/v2/status")).call().is_ok()
    });
    let text = format!(
        "{FLOW}
[alert]
dashboard_url = \"http://waymark.example\"
run_lookback_secs = 315360000

[[alert.rule]]
name = \"FlowStalled\"
kind = \"flow_stalled\"
severity = \"critical\"

[[alert.rule]]
name = \"SessionFailed\"
kind = \"run_failed\"
system_type = \"INFA_SESSION\"

[[alert.sink]]
name = \"am\"
type = \"alertmanager\"
url = \"http://127.0.0.1:{am_port}/\"
resend_secs = 60
"
    );
    let config = dir.write("alerts.toml", text.as_bytes());
    let t = now_secs() - 600;
    ingest(&dir, "a.jsonl", &fedebom("ord-am", t, false));
    let logs = session_logs(&dir, false);
    dir.run(&["scan", "--audit", logs.to_str().unwrap()]);
    alerts_once(&dir, &config);

    let mut alerts = Vec::new();
    wait_for("two alerts in alertmanager", || {
        alerts = am_alerts(am_port);
        alerts.len() == 2
    });
    let by_name = |name: &str| -> Value {
        alerts.iter().find(|a| a["labels"]["alertname"] == name).cloned().unwrap_or(Value::Null)
    };
    let flow = by_name("FlowStalled");
    let labels: BTreeMap<String, Value> = serde_json::from_value(flow["labels"].clone()).unwrap();
    assert_eq!(labels.keys().collect::<Vec<_>>(), ["alertname", "job", "severity", "system"]);
    assert_eq!(
        (flow["labels"]["system"].as_str(), flow["labels"]["job"].as_str()),
        (Some("fedebom"), Some("orders"))
    );
    assert_eq!(flow["labels"]["severity"], "critical");
    assert_eq!(flow["annotations"]["correlation_id"], "ord-am");
    assert_eq!(flow["annotations"]["link"], "http://waymark.example/trace/ord-am");
    assert_eq!(flow["status"]["state"], "active");
    let session = by_name("SessionFailed");
    assert_eq!(session["labels"]["system"], "INFA_SESSION");
    assert_eq!(session["labels"]["job"], "s_m_load_gl_balances");
    assert_eq!(session["labels"]["severity"], "warning");
    assert_eq!(session["annotations"]["run_id"], "118377");
    assert_eq!(session["status"]["state"], "active");

    // The flow completes; the session succeeds on a rerun.
    ingest(
        &dir,
        "b.jsonl",
        &(fedebom("ord-am", t, true).lines().nth(1).unwrap().to_owned() + "\n"),
    );
    let logs = session_logs(&dir, true);
    dir.run(&["scan", "--audit", logs.to_str().unwrap()]);
    alerts_once(&dir, &config);
    let listed = alerts_json(&dir);
    assert!(listed["active"].as_array().unwrap().is_empty(), "{listed}");
    wait_for("the alerts to resolve in alertmanager", || {
        am_alerts(am_port).iter().all(|a| a["status"]["state"] != "active")
    });
    let resolves = util::rows(
        &dir.db(),
        "SELECT count(*) FROM alert_outbox WHERE action = 'resolve' AND state = 'delivered'",
    );
    assert_eq!(resolves, [["2"]]);
}

/// The README's alert configuration is valid.
#[test]
fn the_readme_alert_example_is_valid() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let section = &readme[readme.find("## Alerts").expect("an Alerts section")..];
    let start = section.find("```toml\n").unwrap() + "```toml\n".len();
    let end = start + section[start..].find("```").unwrap();
    let dir = Dir::new();
    let config = dir.write("alerts.toml", &section.as_bytes()[start..end]);
    let out = dir.cmd().arg("--config").arg(&config).args(["config", "check"]).output().unwrap();
    assert_success(&out, &["config", "check"]);
}

/// `waymark serve` runs the rules itself: a session log scanned by its `scan` source and a
/// stalled flow fire to a signed webhook, once each; the API and the dashboard list them, and
/// the flow is listed by its state.
#[test]
fn serve_evaluates_the_rules_and_lists_alerts_and_flow_states() {
    let dir = Dir::new();
    let rx = Receiver::start(&[], 200);
    ingest(&dir, "a.jsonl", &fedebom("ord-serve", now_secs() - 600, false));
    let logs = session_logs(&dir, false);
    let text = format!(
        "{FLOW}
[alert]
interval_secs = 1
run_lookback_secs = 315360000

[[alert.rule]]
name = \"FlowStalled\"
kind = \"flow_stalled\"

[[alert.rule]]
name = \"SessionFailed\"
kind = \"run_failed\"
system_type = \"INFA_SESSION\"

[[alert.sink]]
name = \"hook\"
type = \"webhook\"
url = \"{}\"
secret_env = \"WM_TEST_HOOK_SECRET\"

[[source]]
type = \"scan\"
name = \"etl\"
paths = [\"{}\"]
interval_secs = 1
",
        rx.url("/hook"),
        logs.display()
    );
    let config = dir.write("serve.toml", text.as_bytes());
    let mut child = dir
        .cmd()
        .env("WM_TEST_HOOK_SECRET", SECRET)
        .arg("--config")
        .arg(&config)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _serve = Killed(child);
    let base = line.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");
    let get = |path: &str| -> String {
        ureq::get(&format!("{base}{path}")).call().unwrap().into_body().read_to_string().unwrap()
    };
    wait_for("both alerts delivered", || {
        let got = rx.got();
        ["FlowStalled|orders|ord-serve", "SessionFailed|INFA_SESSION|"]
            .iter()
            .all(|k| got.iter().any(|g| g.status == 200 && g.body.contains(k)))
    });
    assert!(rx.got().iter().all(verify), "signed");
    // More rounds send nothing new.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(rx.got().len(), 2, "{:?}", rx.got());
    let api: Value = serde_json::from_str(&get("/api/v1/alerts")).unwrap();
    let mut rules: Vec<&str> =
        api["active"].as_array().unwrap().iter().map(|a| a["rule"].as_str().unwrap()).collect();
    rules.sort();
    assert_eq!(rules, ["FlowStalled", "SessionFailed"]);
    assert_eq!(api["deliveries"].as_array().unwrap().len(), 2);
    assert_eq!(api, alerts_json(&dir), "the API answers what `alerts --json` prints");
    let page = get("/alerts");
    assert!(page.contains("FlowStalled") && page.contains("s_m_load_gl_balances"), "{page}");
    assert!(page.contains("href=\"/flows/ord-serve\""), "the flow alert links to the flow");
    let stalled: Value = serde_json::from_str(&get("/api/v1/flows?state=stalled")).unwrap();
    let ids: Vec<&str> =
        stalled.as_array().unwrap().iter().map(|f| f["correlation_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["ord-serve"]);
    let complete: Value = serde_json::from_str(&get("/api/v1/flows?state=complete")).unwrap();
    assert_eq!(complete.as_array().unwrap().len(), 0);
    let page = get("/flows?state=stalled");
    assert!(page.contains("href=\"/flows/ord-serve\""), "{page}");
}
