//! The seed's orchestrator and its four producers: realistic flows in the seed formats.
//!
//! Each flow gets a new correlation id. fedebom goes INITIATED → CHECKPOINT_1 (may fail, its
//! reason sent as a separate record, then retried) → CHECKPOINT_2 → FINALIZED; then the path
//! downstream is drawn: fedebom → cmf → (reporting ∥ bcis) or fedebom → (reporting ∥ bcis).
//! cmf fails and retries like fedebom with its CMF_ERROR line; reporting and bcis carry their
//! reasons inline and stop where they fail. Records of all flows are interleaved in time order;
//! a separate reason may be sent just before its failure. The same seed gives the same output.
//!
//! Alongside the records it returns the truth: the events a correct pipeline ends with.

use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// Knobs of a simulation.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub flows: u64,
    pub seed: u64,
    /// Probability that a retried checkpoint (fedebom CHECKPOINT_1, cmf CMF_CHECKPOINT_2)
    /// fails before it succeeds; it can fail up to twice.
    pub p_fail: f64,
    /// Probability that a reporting or bcis checkpoint fails (and its system stops there).
    pub p_fail_inline: f64,
    /// Probability that the path goes through cmf.
    pub p_cmf: f64,
    /// Probability that a separate reason is sent before its failure.
    pub p_reason_first: f64,
    /// Probability of a noise record (not in any known format) after each record.
    pub p_noise: f64,
    /// First flow's start, seconds since the epoch.
    pub start_secs: i64,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            flows: 1000,
            seed: 1,
            p_fail: 0.3,
            p_fail_inline: 0.05,
            p_cmf: 0.5,
            p_reason_first: 0.2,
            p_noise: 0.0,
            start_secs: 1_746_354_600, // 2025-05-04T10:30:00Z, the seed's first timestamp
        }
    }
}

/// One record as a producer sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRecord {
    /// The Kafka key: the correlation id, so one flow stays in one partition, in order.
    pub key: String,
    pub payload: Vec<u8>,
    pub noise: bool,
}

/// One event of the truth, with the schema's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TruthEvent {
    pub system_id: String,
    pub checkpoint_id: String,
    pub timestamp: String,
    pub status: String,
    pub correlation_id: String,
    pub failure_reason: Option<String>,
}

/// A simulation's output.
#[derive(Debug, Default)]
pub struct Simulation {
    pub records: Vec<SimRecord>,
    pub truth: Vec<TruthEvent>,
}

impl Simulation {
    pub fn noise(&self) -> usize {
        self.records.iter().filter(|r| r.noise).count()
    }
}

struct Emitted {
    /// Sort key: time in milliseconds, then order of creation.
    at_ms: i64,
    seq: u64,
    record: SimRecord,
}

struct Flow<'a> {
    rng: &'a mut SmallRng,
    cfg: &'a SimConfig,
    cid: String,
    out: &'a mut Vec<Emitted>,
    truth: &'a mut Vec<TruthEvent>,
    seq: &'a mut u64,
}

/// Runs the orchestrator.
pub fn simulate(cfg: &SimConfig) -> Simulation {
    let mut rng = SmallRng::seed_from_u64(cfg.seed);
    let mut out = Vec::new();
    let mut truth = Vec::new();
    let mut seq = 0;
    for i in 0..cfg.flows {
        let cid = format!("{:08x}-{:04x}-{i:06}", rng.random::<u32>(), rng.random::<u16>());
        // Flows start 0.5 s apart on average and last about a minute: dozens run at once.
        let start_ms = cfg.start_secs * 1000 + i as i64 * 500 + rng.random_range(0..400);
        let mut flow =
            Flow { rng: &mut rng, cfg, cid, out: &mut out, truth: &mut truth, seq: &mut seq };
        flow.run(start_ms);
    }
    out.sort_by_key(|e| (e.at_ms, e.seq));
    Simulation { records: out.into_iter().map(|e| e.record).collect(), truth }
}

fn ts(ms: i64) -> String {
    // The seed's producers log local wall-clock seconds without a zone.
    let text = waymark_core::normalize::format_utc(ms.div_euclid(1000) * 1_000_000);
    text.trim_end_matches('Z').to_owned()
}

impl Flow<'_> {
    fn run(&mut self, start_ms: i64) {
        let mut t = self.fedebom(start_ms);
        if self.rng.random_bool(self.cfg.p_cmf) {
            t = self.cmf(t);
        }
        // reporting and bcis run in parallel: their records interleave.
        self.reporting(t);
        let lag = self.rng.random_range(0..1500);
        self.bcis(t + lag);
    }

    fn step(&mut self) -> i64 {
        self.rng.random_range(500..3000)
    }

    fn fedebom(&mut self, mut t: i64) -> i64 {
        self.json_event("fedebom", "INITIATED", "SUCCESS", t, None);
        t += self.step();
        let event = |f: &mut Self, t, status: &str| {
            f.json_event("fedebom", "CHECKPOINT_1", status, t, None)
        };
        t = self.retried(t, "fedebom", event, |f, t, reason| {
            let payload = format!(
                r#"{{"system": "fedebom", "correlation_id": "{}", "failure_reason": "{reason}"}}"#,
                f.cid
            );
            f.emit(t, payload);
        }, "FAILURE_REASON");
        for cp in ["CHECKPOINT_2", "FINALIZED"] {
            t += self.step();
            self.json_event("fedebom", cp, "SUCCESS", t, None);
        }
        t + self.step()
    }

    fn cmf(&mut self, mut t: i64) -> i64 {
        self.cmf_event("CMF_CHECKPOINT_1", "SUCCESS", t);
        t += self.step();
        let event = |f: &mut Self, t, status: &str| f.cmf_event("CMF_CHECKPOINT_2", status, t);
        t = self.retried(
            t,
            "cmf",
            event,
            |f, t, reason| {
                let line = format!("{} CMF CMF_ERROR: (ID: {}) - {reason}", ts(t), f.cid);
                f.emit(t, line);
            },
            "CMF_FAILURE_REASON",
        );
        t += self.step();
        self.cmf_event("CMF_FINALIZED", "SUCCESS", t);
        t + self.step()
    }

    /// A checkpoint that fails up to twice, each failure followed (or preceded) by its
    /// separate reason, then succeeds.
    fn retried(
        &mut self,
        mut t: i64,
        system: &str,
        event: impl Fn(&mut Self, i64, &str),
        reason: impl Fn(&mut Self, i64, &str),
        reason_prefix: &str,
    ) -> i64 {
        let mut failures = 0;
        while failures < 2 && self.rng.random_bool(self.cfg.p_fail) {
            failures += 1;
            let why = format!("{reason_prefix}_{}", self.rng.random_range(1..=5));
            if self.rng.random_bool(self.cfg.p_reason_first) {
                reason(self, t - 1, &why);
                event(self, t, "FAILURE");
            } else {
                event(self, t, "FAILURE");
                reason(self, t + 1, &why);
            }
            self.truth_reason(system, &why);
            t += self.step();
        }
        event(self, t, "SUCCESS");
        t
    }

    /// Gives the last FAILURE of the truth its reason (its record came separately).
    fn truth_reason(&mut self, system: &str, why: &str) {
        let cid = &self.cid;
        let last =
            self.truth.iter_mut().rev().find(|e| e.correlation_id == *cid && e.system_id == system);
        if let Some(e) = last.filter(|e| e.status == "FAILURE") {
            e.failure_reason = Some(why.to_owned());
        }
    }

    fn reporting(&mut self, mut t: i64) {
        for cp in [
            "REPORTING_INITIATED",
            "REPORTING_CHECKPOINT_1",
            "REPORTING_CHECKPOINT_2",
            "REPORTING_FINALIZED",
        ] {
            if self.rng.random_bool(self.cfg.p_fail_inline) {
                let why = format!("REPORTING_FAILURE_REASON_{}", self.rng.random_range(1..=3));
                self.json_event("reporting", cp, "FAILURE", t, Some(&why));
                return;
            }
            self.json_event("reporting", cp, "SUCCESS", t, None);
            t += self.step();
        }
    }

    fn bcis(&mut self, mut t: i64) {
        for cp in ["BCIS_INITIALIZED", "BCIS_CHECKPOINT_1", "BCIS_CHECKPOINT_2", "BCIS_FINALIZED"] {
            if self.rng.random_bool(self.cfg.p_fail_inline) {
                let why = format!("BCIS_FAILURE_REASON_{}", self.rng.random_range(1..=3));
                let line = format!("{} BCIS: {cp} - FAILURE (ID: {}) - {why}", ts(t), self.cid);
                self.truth_event("bcis", cp, "FAILURE", t, Some(&why));
                self.emit(t, line);
                return;
            }
            let line = format!("{} BCIS: {cp} - SUCCESS (ID: {})", ts(t), self.cid);
            self.truth_event("bcis", cp, "SUCCESS", t, None);
            self.emit(t, line);
            t += self.step();
        }
    }

    fn json_event(&mut self, system: &str, cp: &str, status: &str, t: i64, reason: Option<&str>) {
        let mut payload = format!(
            r#"{{"system": "{system}", "checkpoint": "{cp}", "status": "{status}", "timestamp": "{}", "correlation_id": "{}""#,
            ts(t),
            self.cid
        );
        if let Some(r) = reason {
            payload.push_str(&format!(r#", "failure_reason": "{r}""#));
        }
        payload.push('}');
        self.truth_event(system, cp, status, t, reason);
        self.emit(t, payload);
    }

    fn cmf_event(&mut self, cp: &str, status: &str, t: i64) {
        let line = format!("{} CMF: {cp} - {status} (ID: {})", ts(t), self.cid);
        self.truth_event("cmf", cp, status, t, None);
        self.emit(t, line);
    }

    fn truth_event(&mut self, system: &str, cp: &str, status: &str, t: i64, reason: Option<&str>) {
        self.truth.push(TruthEvent {
            system_id: system.to_owned(),
            checkpoint_id: cp.to_owned(),
            timestamp: format!("{}Z", ts(t)),
            status: status.to_owned(),
            correlation_id: self.cid.clone(),
            failure_reason: reason.map(str::to_owned),
        });
    }

    fn emit(&mut self, at_ms: i64, payload: String) {
        *self.seq += 1;
        let record =
            SimRecord { key: self.cid.clone(), payload: payload.into_bytes(), noise: false };
        self.out.push(Emitted { at_ms, seq: *self.seq, record });
        if self.cfg.p_noise > 0.0 && self.rng.random_bool(self.cfg.p_noise) {
            *self.seq += 1;
            let record =
                SimRecord { key: self.cid.clone(), payload: self.noise(at_ms), noise: true };
            self.out.push(Emitted { at_ms, seq: *self.seq, record });
        }
    }

    /// A record no parser accepts, of one of the kinds seen in real feeds.
    fn noise(&mut self, t: i64) -> Vec<u8> {
        let cid = &self.cid;
        match self.rng.random_range(0..7) {
            0 => br#"{"system": "fedebom", "checkpoint": "CHECKPOINT_1", "status": "FAI"#.to_vec(),
            1 => format!(r#"{{"system": "payroll", "checkpoint": "P1", "status": "SUCCESS", "correlation_id": "{cid}"}}"#).into_bytes(),
            2 => format!("{} BCIS: BCIS_CHECKPOINT_1 - MAYBE (ID: {cid})", ts(t)).into_bytes(),
            3 => format!("04/05/2025 10:30 CMF: CMF_CHECKPOINT_1 - SUCCESS (ID: {cid})").into_bytes(),
            4 => format!(r#"{{"system": "reporting", "checkpoint": "REPORTING_INITIATED", "status": "SUCCESS", "correlation_id": "{cid}"}}"#).into_bytes(),
            5 => b"\xff\xfe binary \x00 garbage".to_vec(),
            _ => b"WARN connection reset by peer, retrying".to_vec(),
        }
    }
}

/// Keeps an average rate by sleeping when ahead of schedule.
pub struct Pacer {
    per_record: Option<Duration>,
    started: Instant,
    sent: u32,
}

impl Pacer {
    pub fn new(rate: Option<f64>) -> Pacer {
        let per_record = rate.filter(|r| *r > 0.0).map(|r| Duration::from_secs_f64(1.0 / r));
        Pacer { per_record, started: Instant::now(), sent: 0 }
    }

    pub fn wait(&mut self) {
        let Some(step) = self.per_record else { return };
        let due = self.started + step * self.sent;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        self.sent = self.sent.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_output_and_flows_follow_the_seed() {
        let cfg = SimConfig { flows: 200, p_noise: 0.05, ..Default::default() };
        let a = simulate(&cfg);
        let b = simulate(&cfg);
        assert_eq!(a.records, b.records);
        assert_eq!(a.truth, b.truth);
        assert!(a.noise() > 0);
        let cids: std::collections::HashSet<&str> =
            a.truth.iter().map(|e| e.correlation_id.as_str()).collect();
        assert_eq!(cids.len(), 200);
        // Every FAILURE of the truth has its reason; every flow starts with fedebom INITIATED.
        assert!(a.truth.iter().all(|e| e.status == "SUCCESS" || e.failure_reason.is_some()));
        let first: Vec<&TruthEvent> =
            a.truth.iter().filter(|e| e.checkpoint_id == "INITIATED").collect();
        assert_eq!(first.len(), 200);
        let retried = a
            .truth
            .iter()
            .filter(|e| e.checkpoint_id == "CHECKPOINT_1" && e.status == "FAILURE")
            .count();
        assert!(retried > 20, "{retried}");
        assert!(a.truth.iter().any(|e| e.system_id == "cmf"));
        assert!(a.truth.iter().any(|e| e.system_id == "bcis" && e.status == "FAILURE"));
        let c = simulate(&SimConfig { seed: 2, ..cfg });
        assert_ne!(a.records, c.records);
    }
}
