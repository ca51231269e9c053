//! Broken surroundings (issue 16), driven through the real binary: the disk filling up under
//! `ingest`, another process holding the SQLite write lock, and (with the `kafka` feature) the
//! broker going away mid-consume. In each case waymark says what happened, commits whole
//! batches or nothing, and a run after the fault ends with exactly the simulator's truth.

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use util::{assert_same_rows, count, events, rows, simulate, truth, Dir};

/// A config with small batches, so that a fault meets a run with batches already committed.
const SMALL_BATCHES: &str = "[ingest]\nbatch_records = 500\n";

/// A tmpfs mounted for the test, unmounted on drop.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it); `None` when mounting is not
    /// allowed here (not root, or no mount namespace rights).
    fn mount(path: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(path).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "waymark-faults"])
            .arg(path)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(Tmpfs { path: path.to_owned() })
    }

    fn resize(&self, size: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.path)
            .output()
            .expect("run mount");
        assert!(out.status.success(), "remount: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Says visibly that a test could not run; under CI its subject must be there.
fn skipped(test: &str, why: &str) {
    eprintln!("SKIPPED {test}: {why}");
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{test} must run under CI: {why}");
}

/// The position stored for the records file, and the events a clean run over exactly the
/// bytes before it stores: what the store must hold if it committed whole batches only.
fn clean_prefix_events(dir: &Dir, records: &Path, db: &Path) -> (u64, Vec<Vec<String>>) {
    let stored = rows(db, "SELECT position FROM sources WHERE kind = 'file'");
    let position: u64 = stored.first().map_or(0, |r| r[0].parse().expect("a position"));
    let all = std::fs::read(records).expect("records");
    let prefix = dir.write("prefix.log", &all[..position as usize]);
    let clean = dir.path("clean.db");
    let out = dir.cmd_db(&clean).arg("ingest").arg(&prefix).output().expect("ingest");
    util::assert_success(&out, &["ingest", "prefix.log"]);
    (position, events(&clean))
}

#[test]
fn a_full_disk_stops_ingest_with_whole_batches_only_and_a_rerun_ends_with_the_truth() {
    let dir = Dir::new();
    let (records, truth_path) = (dir.path("flows.log"), dir.path("truth.jsonl"));
    let noise = simulate(
        &dir,
        &["--flows", "4000", "--seed", "31", "--noise", "0.01"],
        &records,
        &truth_path,
    );
    let config = dir.write("small.toml", SMALL_BATCHES.as_bytes());
    let disk = match Tmpfs::mount(&dir.path("store"), "1m") {
        Ok(disk) => disk,
        Err(why) => return skipped("disk full", &format!("cannot mount a tmpfs: {why}")),
    };
    let db = disk.path.join("waymark.db");
    let ingest = || {
        dir.cmd_db(&db).arg("--config").arg(&config).arg("ingest").arg(&records).output().unwrap()
    };

    let out = ingest();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "ingest into a full disk must fail; stderr: {stderr}");
    assert!(stderr.contains("full"), "the error must say the store is full: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Whole batches only: the rows stored are those of a clean run up to the stored position,
    // and the batches table agrees with them.
    let (position, expected) = clean_prefix_events(&dir, &records, &db);
    let stored = events(&db);
    assert!(position > 0, "some batches fit before the disk filled up");
    assert_same_rows(&stored, &expected, "events after the disk filled up vs a clean prefix run");
    assert_eq!(count(&db, "SELECT coalesce(sum(events), 0) FROM batches"), stored.len() as u64);

    disk.resize("256m");
    let out = ingest();
    util::assert_success(&out, &["ingest", "after space was freed"]);
    assert_same_rows(&events(&db), &truth(&truth_path), "events vs truth after the rerun");
    assert_eq!(count(&db, "SELECT count(*) FROM dead_letters"), noise);
}

/// Holds SQLite's write lock on `db` from another connection (another process's view: its
/// own file handle and lock) for `hold`, then releases it. Returns once the lock is held.
fn hold_write_lock(db: &Path, hold: Duration) -> std::thread::JoinHandle<()> {
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let db = db.to_owned();
    let handle = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(&db).expect("open the store");
        conn.execute_batch("BEGIN IMMEDIATE").expect("take the write lock");
        held_tx.send(()).unwrap();
        std::thread::sleep(hold);
        conn.execute_batch("COMMIT").expect("release the write lock");
    });
    held_rx.recv().expect("the lock is held");
    handle
}

/// A store that has read the first `lines` lines of `records` (the file then grew to its
/// whole content, as a log being written does).
fn store_with_first_lines(dir: &Dir, records: &Path, lines: usize) -> PathBuf {
    let all = std::fs::read_to_string(records).unwrap();
    let head: String = all.split_inclusive('\n').take(lines).collect();
    std::fs::write(records, &head).unwrap();
    dir.run(&["ingest", records.to_str().unwrap()]);
    std::fs::write(records, &all).unwrap();
    dir.db()
}

#[test]
fn a_store_locked_by_another_writer_is_waited_for_with_a_log_line_and_then_written() {
    let dir = Dir::new();
    let (records, truth_path) = (dir.path("flows.log"), dir.path("truth.jsonl"));
    simulate(&dir, &["--flows", "1500", "--seed", "32"], &records, &truth_path);
    let db = store_with_first_lines(&dir, &records, 100);
    // Well inside the store's bound on waiting for the lock (10 s).
    let locker = hold_write_lock(&db, Duration::from_secs(2));
    let out = dir.cmd().arg("ingest").arg(&records).output().unwrap();
    locker.join().unwrap();
    util::assert_success(&out, &["ingest", "while locked"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("locked by another writer: waiting"), "the wait is logged: {stderr}");
    assert_same_rows(&events(&db), &truth(&truth_path), "events vs truth after waiting");
}

#[test]
fn a_lock_held_past_the_store_s_wait_is_either_outwaited_or_a_clear_error_and_loses_nothing() {
    let dir = Dir::new();
    let (records, truth_path) = (dir.path("flows.log"), dir.path("truth.jsonl"));
    simulate(&dir, &["--flows", "1500", "--seed", "33"], &records, &truth_path);
    let db = store_with_first_lines(&dir, &records, 100);
    let before = events(&db);
    let position = rows(&db, "SELECT position FROM sources");
    // Past SQLite's own wait for the lock (10 s): the run either retries on (a bounded retry
    // above the store) and finishes once the lock is free, or stops with a clear error.
    let locker = hold_write_lock(&db, Duration::from_secs(14));
    let out = dir.cmd().arg("ingest").arg(&records).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("locked by another writer"), "the wait is logged: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    locker.join().unwrap();
    if out.status.success() {
        eprintln!("ingest outwaited a 14 s lock");
    } else {
        eprintln!("ingest stopped on a 14 s lock: {stderr}");
        assert!(stderr.contains("cannot commit"), "a clear error: {stderr}");
        assert_eq!(events(&db), before, "nothing written while the lock was held");
        assert_eq!(rows(&db, "SELECT position FROM sources"), position, "no position moved");
        dir.run(&["ingest", records.to_str().unwrap()]);
    }
    // Nothing lost, nothing doubled, either way.
    assert_same_rows(&events(&db), &truth(&truth_path), "events vs truth");
}

#[cfg(feature = "kafka")]
mod kafka {
    //! The broker gone mid-consume. `waymark mock-broker` takes its brokers down on SIGUSR1
    //! and up again on SIGUSR2, keeping the topic, as a restarted broker keeps its log.

    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use super::util::{assert_same_rows, assert_success, events, simulate, truth, Dir};

    /// A child process killed when the test ends, whatever happens.
    struct Killed(Option<Child>);

    impl Killed {
        fn child(&self) -> &Child {
            self.0.as_ref().expect("running")
        }
    }

    impl Drop for Killed {
        fn drop(&mut self) {
            if let Some(mut child) = self.0.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    fn signal(child: &Child, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name}");
    }

    /// Produces one simulation to the broker and returns its truth.
    fn produce(dir: &Dir, bootstrap: &str, seed: &str) -> Vec<Vec<String>> {
        let (records, truth_path) =
            (dir.path(&format!("{seed}.log")), dir.path(&format!("{seed}.jsonl")));
        let args = ["--flows", "2000", "--seed", seed];
        simulate(dir, &args, &records, &truth_path);
        let out = dir.cmd().args(["simulate", "--brokers", bootstrap]).args(args).output().unwrap();
        assert_success(&out, &args);
        truth(&truth_path)
    }

    fn wait_for_rows(dir: &Dir, n: usize, within: Duration) {
        let started = Instant::now();
        // The consumer creates the file before its tables: until they exist, nothing is stored.
        let stored = || -> Option<usize> {
            let conn = rusqlite::Connection::open(dir.db()).ok()?;
            conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0)).ok()
        };
        while started.elapsed() < within {
            if dir.db().exists() && stored().is_some_and(|got| got >= n) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("the consumer did not store {n} events within {within:?}");
    }

    #[test]
    fn a_broker_down_mid_consume_is_waited_for_and_the_run_ends_with_the_truth() {
        let dir = Dir::new();
        let mut broker = Command::new(env!("CARGO_BIN_EXE_waymark"))
            .args(["mock-broker", "--partitions", "3"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the mock broker");
        let mut line = String::new();
        BufReader::new(broker.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let broker = Killed(Some(broker));
        let bootstrap = line.trim().to_owned();

        let mut expected = produce(&dir, &bootstrap, "41");
        let consumer = dir
            .cmd()
            .args(["consume", "--brokers", &bootstrap, "--exit-when-idle", "12", "--json"])
            .args(["-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut consumer = Killed(Some(consumer));
        wait_for_rows(&dir, expected.len(), Duration::from_secs(60));

        // The broker goes away under a running consumer, comes back, and gets new data.
        signal(broker.child(), "USR1");
        std::thread::sleep(Duration::from_secs(4));
        let still = consumer.0.as_mut().expect("running").try_wait().unwrap();
        assert!(still.is_none(), "the consumer must outlive the outage, it ended: {still:?}");
        signal(broker.child(), "USR2");
        expected.extend(produce(&dir, &bootstrap, "42"));
        expected.sort();

        let out = consumer.0.take().expect("running").wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_success(&out, &["consume", "across a broker outage"]);
        let logged: Vec<&str> =
            stderr.lines().filter(|l| l.contains("librdkafka") || l.contains("kafka")).collect();
        eprintln!("the consumer's log of the outage:\n{}", logged.join("\n"));
        assert!(
            stderr.contains("librdkafka") || stderr.contains("kafka error"),
            "the outage is logged: {stderr}"
        );
        assert_same_rows(&events(&dir.db()), &expected, "events vs truth across the outage");
        drop(broker);
    }
}

/// A `waymark serve` started for a fault test, killed if the test ends before it stopped.
struct Serve {
    child: std::process::Child,
}

impl Serve {
    /// Starts `serve` on an ephemeral port and returns once it says where it listens.
    fn start(dir: &Dir, args: &[&str]) -> Serve {
        use std::io::BufRead;
        let mut child = dir
            .cmd()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("start waymark serve");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        std::io::BufReader::new(stdout).read_line(&mut line).expect("read the listen line");
        assert!(line.contains("http://127.0.0.1:"), "serve did not say where it listens: {line:?}");
        Serve { child }
    }

    /// Sends SIGTERM and waits for the exit; fails if it takes longer than `bound`.
    fn terminate(mut self, bound: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let t = std::time::Instant::now();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        assert!(sent.success(), "kill -TERM {pid}");
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(t.elapsed() < bound, "serve still running {bound:?} after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `serve` following a log that a writer keeps appending to (whole lines, paced), stopped by
/// SIGTERM twice while lines arrive and started again each time: every stop is a clean exit
/// within the grace period plus the source's current poll, and once the writer is done the
/// store holds exactly the simulator's truth, and the same dead letters as one `ingest` of the
/// final file into a fresh store: nothing lost, nothing doubled.
#[test]
fn serve_stopped_by_sigterm_under_load_exits_cleanly_and_restarts_lose_and_double_nothing() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{mpsc, Arc};
    let dir = Dir::new();
    let (records, truth_path) = (dir.path("flows.log"), dir.path("truth.jsonl"));
    let noise = simulate(
        &dir,
        &["--flows", "3000", "--seed", "43", "--noise", "0.01"],
        &records,
        &truth_path,
    );
    let all = std::fs::read(&records).expect("records");
    let logs = dir.path("logs");
    std::fs::create_dir(&logs).expect("logs dir");
    let app = logs.join("app.log");
    let config = util::file_source_config(&dir, &logs.join("*"));
    // The documented bound: the grace period for requests in hand, and the file source's
    // current poll (a batch of a few thousand lines) to commit.
    let grace = 3;
    let bound = Duration::from_secs(grace + 27);
    let grace = grace.to_string();
    let args = ["--config", config.to_str().expect("path"), "--shutdown-grace-secs", &grace];

    // The writer: whole lines, 50 at a time every 10 ms; at each gate (40% and 75% of the
    // file) it waits for the test, which then lets it go on and sends SIGTERM at once, so
    // that each stop meets lines arriving and lines in hand.
    let lines: Vec<&[u8]> = all.split_inclusive(|b| *b == b'\n').collect();
    let gates = [lines.len() * 2 / 5, lines.len() * 3 / 4];
    let written = Arc::new(AtomicUsize::new(0));
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let writer = {
        let (app, written) = (app.clone(), Arc::clone(&written));
        let lines: Vec<Vec<u8>> = lines.iter().map(|l| l.to_vec()).collect();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&app)
                .expect("open the log");
            for (i, chunk) in lines.chunks(50).enumerate() {
                if gates.iter().any(|g| (i * 50..(i + 1) * 50).contains(g)) {
                    go_rx.recv().expect("the test lets the writer go on");
                }
                f.write_all(&chunk.concat()).expect("append");
                written.fetch_add(chunk.len(), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };

    let mut serve = Serve::start(&dir, &args);
    for (stop, gate) in gates.iter().enumerate() {
        while written.load(Ordering::SeqCst) < gate / 50 * 50 {
            std::thread::sleep(Duration::from_millis(20));
        }
        // serve has been reading: wait for its first commit before the first stop.
        while stop == 0 && count(&dir.db(), "SELECT count(*) FROM events") == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
        go_tx.send(()).expect("the writer waits");
        let status = serve.terminate(bound);
        assert!(status.success(), "SIGTERM number {} is a clean stop: {status}", stop + 1);
        serve = Serve::start(&dir, &args);
    }
    writer.join().expect("the writer");
    assert_eq!(std::fs::read(&app).expect("the log"), all, "the writer wrote the whole file");

    // Running until the file is consumed (or a minute and a half, then a failure that shows
    // the difference).
    let truth = truth(&truth_path);
    let t = std::time::Instant::now();
    while events(&dir.db()) != truth && t.elapsed() < Duration::from_secs(90) {
        std::thread::sleep(Duration::from_millis(300));
    }
    let status = serve.terminate(bound);
    assert!(status.success(), "the last SIGTERM is a clean stop: {status}");
    assert_same_rows(&events(&dir.db()), &truth, "events after SIGTERMs and restarts vs truth");

    let once = dir.path("once.db");
    let out = dir.cmd_db(&once).arg("ingest").arg(&app).output().expect("ingest");
    util::assert_success(&out, &["ingest", "app.log"]);
    let dead = "SELECT position, kind, raw_len, hex(raw) FROM dead_letters ORDER BY position";
    assert_eq!(rows(&dir.db(), dead), rows(&once, dead), "dead letters vs one ingest");
    assert_eq!(count(&dir.db(), "SELECT count(*) FROM dead_letters"), noise);
    assert_eq!(events(&once), truth, "one ingest of the final file");
}
