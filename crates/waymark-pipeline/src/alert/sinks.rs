//! What each sink receives: the HTTP request for one notification (URL, headers, JSON body),
//! built without I/O so that tests can check the documented shapes.
//!
//! - Alertmanager `POST /api/v2/alerts`: labels `alertname`, `system`, `job`, `severity` (low
//!   cardinality). Alertmanager identifies an alert by its labels, so all active firings with
//!   the same labels are one alert there: it stays firing while any of them is active (the
//!   subjects listed in the annotations) and gets `endsAt` when the last one resolves.
//! - Slack incoming webhook: `text` (the fallback) and `blocks`.
//! - PagerDuty Events API v2: `dedup_key` = the firing's identity, `trigger`/`resolve`.
//! - Webhook per Standard Webhooks: `webhook-id` (the notification id, the same on every
//!   retry), `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>` over
//!   `id.timestamp.body`, with the key from a `whsec_<base64>` secret.

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use waymark_core::alert::{Action, AlertSink, Firing, Notification};
use waymark_core::normalize::format_utc;

/// One HTTP request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

fn request(url: String, body: &Value) -> Request {
    Request {
        url,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string(),
    }
}

fn rfc3339(micros: i64) -> String {
    format_utc(micros)
}

/// The labels Alertmanager identifies an alert by.
pub fn am_labels(f: &Firing) -> [(&'static str, &str); 4] {
    [
        ("alertname", f.rule.as_str()),
        ("system", f.system.as_str()),
        ("job", f.job.as_str()),
        ("severity", f.severity.as_str()),
    ]
}

/// Most subjects listed in one Alertmanager alert's annotations.
const MAX_SUBJECTS: usize = 20;

/// The Alertmanager request for the group of `n`'s firing: `group` are the active firings with
/// the same labels (empty: the alert ends at `now`). Active alerts end `4 × resend` after `now`
/// unless re-sent, so an alert whose sender died resolves by itself.
pub fn alertmanager(sink: &AlertSink, n: &Notification, group: &[Firing], now: i64) -> Request {
    let f = &n.firing;
    let labels: Map<String, Value> =
        am_labels(f).iter().map(|(k, v)| ((*k).to_owned(), Value::from(*v))).collect();
    let mut annotations = Map::new();
    let (starts, ends, shown) = match group.first() {
        Some(first) => {
            let starts = group.iter().map(|g| g.since_micros).min().unwrap_or(first.since_micros);
            let resend = i64::try_from(sink.resend_secs).unwrap_or(60) * 1_000_000;
            (starts, now.saturating_add(4 * resend), first)
        }
        None => (f.since_micros, now, f),
    };
    annotations.insert("summary".into(), shown.summary.clone().into());
    for (k, v) in &shown.annotations {
        annotations.insert(k.clone(), v.clone().into());
    }
    if group.len() > 1 {
        let subjects: Vec<&str> =
            group.iter().take(MAX_SUBJECTS).map(|g| g.subject.as_str()).collect();
        annotations.insert("subjects".into(), subjects.join(", ").into());
        annotations.insert("count".into(), group.len().to_string().into());
        annotations
            .insert("summary".into(), format!("{} ({} in all)", shown.summary, group.len()).into());
    }
    let mut alert = json!({
        "labels": labels,
        "annotations": annotations,
        "startsAt": rfc3339(starts.min(now)),
        "endsAt": rfc3339(ends.max(starts)),
    });
    if let Some(link) = shown.annotations.get("link") {
        alert["generatorURL"] = link.clone().into();
    }
    let url = format!("{}/api/v2/alerts", sink.url.trim_end_matches('/'));
    request(url, &json!([alert]))
}

fn emoji(n: &Notification) -> &'static str {
    match (n.action, n.firing.severity) {
        (Action::Resolve, _) => ":white_check_mark:",
        (_, waymark_core::alert::Severity::Critical) => ":red_circle:",
        (_, waymark_core::alert::Severity::Warning) => ":warning:",
        _ => ":information_source:",
    }
}

/// Slack's mrkdwn escapes.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A Slack incoming-webhook message.
pub fn slack(sink: &AlertSink, n: &Notification) -> Request {
    let f = &n.firing;
    let state = if n.action == Action::Resolve { "RESOLVED" } else { "FIRING" };
    let text = format!("[{state}] {}: {}", f.rule, f.summary);
    let mut details: Vec<String> = f
        .annotations
        .iter()
        .filter(|(k, _)| k.as_str() != "link")
        .map(|(k, v)| format!("*{}*: {}", slack_escape(k), slack_escape(v)))
        .collect();
    details.truncate(10);
    let mut blocks = vec![json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": format!("{} *{}* {}", emoji(n), slack_escape(&text), "")},
    })];
    if !details.is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": details.join("\n")},
        }));
    }
    let mut context = vec![json!({"type": "mrkdwn", "text": format!(
        "severity *{}* · system `{}` · job `{}` · since {}",
        f.severity.as_str(), slack_escape(&f.system), slack_escape(&f.job), rfc3339(f.since_micros)
    )})];
    if let Some(link) = f.annotations.get("link") {
        context.push(json!({"type": "mrkdwn", "text": format!("<{link}|open in waymark>")}));
    }
    blocks.push(json!({"type": "context", "elements": context}));
    request(sink.url.clone(), &json!({"text": text, "blocks": blocks}))
}

/// A PagerDuty Events API v2 event.
pub fn pagerduty(sink: &AlertSink, n: &Notification, routing_key: &str) -> Request {
    let f = &n.firing;
    let mut body = json!({
        "routing_key": routing_key,
        "event_action": n.action.as_str(),
        "dedup_key": f.key,
    });
    if n.action == Action::Trigger {
        let summary: String = f.summary.chars().take(1024).collect();
        body["payload"] = json!({
            "summary": summary,
            "source": format!("waymark/{}", f.system),
            "severity": f.severity.as_str(),
            "timestamp": rfc3339(f.since_micros),
            "component": f.system,
            "group": f.job,
            "class": f.kind.as_str(),
            "custom_details": f.annotations,
        });
        if let Some(link) = f.annotations.get("link") {
            body["links"] = json!([{"href": link, "text": "open in waymark"}]);
        }
    }
    request(sink.url.clone(), &body)
}

/// The webhook's JSON body (before signing).
pub fn webhook_body(n: &Notification) -> Value {
    json!({
        "type": format!("alert.{}", n.action.as_str()),
        "timestamp": rfc3339(n.created_micros),
        "data": {
            "notification_id": n.id,
            "action": n.action.as_str(),
            "firing": n.firing,
        },
    })
}

/// The HMAC key of a Standard Webhooks secret (`whsec_` + base64).
pub fn webhook_key(secret: &str) -> Result<Vec<u8>, String> {
    let b64 = secret.trim().strip_prefix("whsec_").unwrap_or(secret.trim());
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("the webhook secret is not whsec_<base64>: {e}"))
}

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
pub fn webhook_signature(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = <Hmac<Sha256>>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!("v1,{sig}")
}

/// A signed webhook request, stamped at `now` (the timestamp is the attempt's).
pub fn webhook(sink: &AlertSink, n: &Notification, key: &[u8], now: i64) -> Request {
    let body = webhook_body(n).to_string();
    let ts = now.div_euclid(1_000_000);
    let sig = webhook_signature(key, &n.id, ts, &body);
    Request {
        url: sink.url.clone(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("webhook-id".into(), n.id.clone()),
            ("webhook-timestamp".into(), ts.to_string()),
            ("webhook-signature".into(), sig),
        ],
        body,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use waymark_core::alert::{
        Action, AlertSink, Firing, Notification, RuleKind, Severity, SinkKind,
    };

    use super::*;

    /// The Standard Webhooks reference vector (standard-webhooks/standard-webhooks tests).
    #[test]
    fn webhook_signature_matches_the_reference_vector() {
        let key = webhook_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = webhook_signature(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(webhook_key("whsec_not base64!").is_err());
    }

    fn sink(kind: SinkKind) -> AlertSink {
        AlertSink {
            name: "s".into(),
            kind,
            url: "http://127.0.0.1:9093/".into(),
            secret: None,
            resend_secs: 60,
            retry_initial_ms: 1000,
            retry_max_secs: 300,
            max_attempts: 12,
            min_interval_ms: 0,
        }
    }

    fn firing(subject: &str) -> Firing {
        Firing {
            key: format!("R|fedebom|{subject}"),
            rule: "R".into(),
            kind: RuleKind::FlowStalled,
            severity: Severity::Critical,
            system: "fedebom".into(),
            job: "orders".into(),
            subject: subject.into(),
            summary: format!("flow {subject} stalled"),
            annotations: BTreeMap::from([("correlation_id".into(), subject.into())]),
            since_micros: 1_000_000_000_000_000,
        }
    }

    fn alert(r: &Request) -> Value {
        serde_json::from_str::<Value>(&r.body).unwrap()[0].clone()
    }

    #[test]
    fn alertmanager_groups_firings_with_the_same_labels() {
        let now = 1_000_000_100_000_000;
        let (a, b) = (firing("c1"), firing("c2"));
        let n = Notification::new("s", Action::Resolve, &a, now);
        // c1 resolved while c2 is active: the Alertmanager alert stays firing.
        let r = alertmanager(&sink(SinkKind::Alertmanager), &n, std::slice::from_ref(&b), now);
        assert_eq!(r.url, "http://127.0.0.1:9093/api/v2/alerts");
        let v = alert(&r);
        assert_eq!(v["labels"]["alertname"], "R");
        assert_eq!(v["annotations"]["correlation_id"], "c2");
        assert_eq!(v["endsAt"], format_utc(now + 240_000_000));
        // The last one resolved: it ends now.
        let v = alert(&alertmanager(&sink(SinkKind::Alertmanager), &n, &[], now));
        assert_eq!(v["endsAt"], format_utc(now));
        assert_eq!(v["startsAt"], format_utc(a.since_micros));
        // Both active: one alert listing both.
        let v = alert(&alertmanager(&sink(SinkKind::Alertmanager), &n, &[a, b], now));
        assert_eq!(v["annotations"]["subjects"], "c1, c2");
        assert_eq!(v["annotations"]["count"], "2");
    }

    #[test]
    fn slack_text_is_escaped() {
        let mut f = firing("<!channel>");
        f.summary = "a & <b>".into();
        let r = slack(&sink(SinkKind::Slack), &Notification::new("s", Action::Trigger, &f, 0));
        let v: Value = serde_json::from_str(&r.body).unwrap();
        let blocks = v["blocks"].to_string();
        assert!(!blocks.contains("<!channel>") && blocks.contains("&lt;!channel&gt;"), "{blocks}");
    }
}
