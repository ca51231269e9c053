//! Helpers shared by the CLI tests: a temp dir, the binary, and reading the store.

#![allow(dead_code, unreachable_pub)]

pub mod scenario;
pub mod store;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temporary folder with a store in it.
pub struct Dir {
    pub tmp: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Dir {
        Dir { tmp: tempfile::tempdir().expect("temp dir") }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    pub fn db(&self) -> PathBuf {
        self.path("waymark.db")
    }

    /// `waymark` with `--db` pointing into this folder.
    pub fn cmd(&self) -> Command {
        self.cmd_db(&self.db())
    }

    pub fn cmd_db(&self, db: &Path) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_waymark"));
        c.current_dir(self.tmp.path()).env_remove("WAYMARK_CONFIG").arg("--db").arg(db);
        c
    }

    /// Runs and expects success; returns stdout.
    pub fn run(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().expect("run waymark");
        assert_success(&out, args);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn write(&self, name: &str, content: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, content).expect("write");
        p
    }
}

pub fn assert_success(out: &Output, args: &[&str]) {
    assert!(
        out.status.success(),
        "waymark {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Rows of a query as text, for comparisons.
pub fn rows(db: &Path, sql: &str) -> Vec<Vec<String>> {
    let conn = rusqlite::Connection::open(db).expect("open db");
    let mut stmt = conn.prepare(sql).expect("prepare");
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => "NULL".to_owned(),
                        rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                        rusqlite::types::ValueRef::Real(v) => v.to_string(),
                        rusqlite::types::ValueRef::Text(t) => {
                            String::from_utf8_lossy(t).into_owned()
                        }
                        rusqlite::types::ValueRef::Blob(b) => format!("{b:?}"),
                    })
                })
                .collect::<rusqlite::Result<Vec<String>>>()
        })
        .expect("query");
    rows.map(|r| r.expect("row")).collect()
}

pub fn count(db: &Path, sql: &str) -> u64 {
    rows(db, sql)[0][0].parse().expect("a count")
}

/// The events of a store as sorted JSON-like rows with the schema's field names.
pub fn events(db: &Path) -> Vec<Vec<String>> {
    let mut r = rows(
        db,
        "SELECT system_id, checkpoint_id, timestamp, status, correlation_id, \
         coalesce(failure_reason, 'NULL') FROM events",
    );
    r.sort();
    r
}

/// The truth file of `waymark simulate --truth` in the same shape as [`events`].
pub fn truth(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).expect("truth");
    let mut out: Vec<Vec<String>> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("truth line");
            [
                "system_id",
                "checkpoint_id",
                "timestamp",
                "status",
                "correlation_id",
                "failure_reason",
            ]
            .iter()
            .map(|k| v[k].as_str().unwrap_or("NULL").to_owned())
            .collect()
        })
        .collect();
    out.sort();
    out
}

/// Runs `waymark simulate` into `records` with `--truth`, returning the noise count it reports.
pub fn simulate(dir: &Dir, extra: &[&str], records: &Path, truth: &Path) -> u64 {
    let out = dir
        .cmd()
        .args(["simulate", "-o"])
        .arg(records)
        .arg("--truth")
        .arg(truth)
        .args(extra)
        .output()
        .expect("simulate");
    assert_success(&out, extra);
    let err = String::from_utf8_lossy(&out.stderr);
    // "simulated N flows: R records (K noise), ..."
    let k = err.split(" noise").next().and_then(|s| s.rsplit('(').next()).unwrap_or("0");
    k.trim().parse().unwrap_or_else(|_| panic!("cannot read the noise count in {err}"))
}

/// Compares two sorted row sets and fails with a short account of the difference.
pub fn assert_same_rows(actual: &[Vec<String>], expected: &[Vec<String>], what: &str) {
    if actual == expected {
        return;
    }
    let missing: Vec<&Vec<String>> =
        expected.iter().filter(|r| actual.binary_search(r).is_err()).collect();
    let extra: Vec<&Vec<String>> =
        actual.iter().filter(|r| expected.binary_search(r).is_err()).collect();
    let dups = actual.windows(2).filter(|w| w[0] == w[1]).count();
    panic!(
        "{what}: {} rows stored, {} expected; {} missing (first: {:?}), {} unexpected (first: {:?}), {} doubled",
        actual.len(),
        expected.len(),
        missing.len(),
        missing.iter().take(3).collect::<Vec<_>>(),
        extra.len(),
        extra.iter().take(3).collect::<Vec<_>>(),
        dups
    );
}

/// Says, past the test harness's capture, that a check did not run and why. Under `CI=true`
/// a subject that CI must have (`required`) fails the test instead of skipping it.
pub fn skipped(what: &str, why: &str, required: bool) {
    use std::io::Write as _;
    if required && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{what}: {why} (required under CI=true)");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED {what}: {why}");
}

/// The shared corpus beside the repository (`../shared/corpus`), or `None` after saying so
/// (a failure under `CI=true`, where it must be there).
pub fn shared_corpus(what: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    if dir.is_dir() {
        return Some(dir);
    }
    skipped(what, &format!("{} is absent", dir.display()), true);
    None
}

/// A `serve` configuration with one file source, `flows`, following `pattern` (a glob).
pub fn file_source_config(dir: &Dir, pattern: &Path) -> PathBuf {
    let toml = format!(
        "[[source]]\ntype = \"file\"\nname = \"flows\"\npaths = [\"{}\"]\n",
        pattern.display()
    );
    dir.write("serve.toml", toml.as_bytes())
}

/// librdkafka's mock cluster (`waymark mock-broker`) in its own process, on 127.0.0.1;
/// stopped on drop.
pub struct Broker {
    pub child: std::process::Child,
    pub bootstrap: String,
}

impl Broker {
    pub fn start(partitions: u32) -> Broker {
        use std::io::BufRead as _;
        let mut child = Command::new(env!("CARGO_BIN_EXE_waymark"))
            .args(["mock-broker", "--partitions", &partitions.to_string()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the mock broker");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("the broker's stdout");
        std::io::BufReader::new(stdout).read_line(&mut line).expect("the broker's address");
        let bootstrap = line.trim().to_owned();
        assert!(
            bootstrap.starts_with("127.0.0.1:"),
            "the broker must listen on loopback: {bootstrap}"
        );
        Broker { child, bootstrap }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
