//! Following files as they grow: a writer appends simulated flows in pieces (lines cut in
//! the middle), rotates by rename and by copy-truncate, and starts a new file, while
//! [`follow`] polls; the store ends with exactly the simulator's truth.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use waymark_core::config::Config;
use waymark_pipeline::follow::{follow, FollowOptions};
use waymark_pipeline::simulate::{simulate, SimConfig};
use waymark_store::{EventStore, SqliteStore};

fn append(path: &Path, bytes: &[u8]) {
    let mut f = fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
}

type Row = (String, String, String, String, String, Option<String>);

#[test]
fn followed_files_grow_rotate_and_appear_and_the_store_ends_with_the_truth() {
    let config: &'static Config = Box::leak(Box::new(Config::load(None).unwrap()));
    let sim = simulate(&SimConfig { flows: 300, seed: 5, ..SimConfig::default() });
    let mut text = Vec::new();
    for r in &sim.records {
        text.extend_from_slice(&r.payload);
        text.push(b'\n');
    }
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    fs::create_dir(&logs).unwrap();
    let db = dir.path().join("w.db");
    let stop = AtomicBool::new(false);
    let opts = FollowOptions {
        paths: vec![logs.display().to_string()],
        interval: Duration::from_millis(20),
    };
    std::thread::scope(|scope| {
        let follower = scope.spawn(|| {
            let mut store = SqliteStore::open(&db).unwrap();
            follow(config, &mut store, &opts, &stop, |_| {}).unwrap();
        });
        // The writer: ten pieces cut anywhere (mid-line too); a rename rotation after the
        // fourth (the writer finishes its line in the renamed file), a copy-truncate after the
        // seventh, and a second file for the last two.
        let (app, app1, app2, other) = (
            logs.join("app.log"),
            logs.join("app.log.1"),
            logs.join("app.log.2"),
            logs.join("b.log"),
        );
        let step = text.len() / 10 + 1;
        let mut pos = 0;
        for i in 0..10 {
            let end = ((i + 1) * step).min(text.len());
            if pos < end {
                append(if i >= 8 { &other } else { &app }, &text[pos..end]);
                pos = end;
            }
            std::thread::sleep(Duration::from_millis(60));
            if i == 3 {
                fs::rename(&app, &app1).unwrap();
                let rest = text[pos..].iter().position(|b| *b == b'\n').unwrap() + 1;
                append(&app1, &text[pos..pos + rest]);
                pos += rest;
                fs::write(&app, b"").unwrap();
            }
            if i == 7 {
                // The second file starts with a whole line too.
                let rest = text[pos..].iter().position(|b| *b == b'\n').unwrap() + 1;
                append(&app, &text[pos..pos + rest]);
                pos += rest;
            }
            if i == 6 {
                // A writer writes whole lines: the copy is taken between two of them.
                let rest = text[pos..].iter().position(|b| *b == b'\n').unwrap() + 1;
                append(&app, &text[pos..pos + rest]);
                pos += rest;
                std::thread::sleep(Duration::from_millis(100));
                fs::copy(&app, &app2).unwrap();
                fs::OpenOptions::new().write(true).open(&app).unwrap().set_len(0).unwrap();
            }
        }
        assert_eq!(pos, text.len());
        let want: BTreeSet<Row> = sim
            .truth
            .iter()
            .map(|t| {
                (
                    t.system_id.clone(),
                    t.checkpoint_id.clone(),
                    t.timestamp.clone(),
                    t.status.clone(),
                    t.correlation_id.clone(),
                    t.failure_reason.clone(),
                )
            })
            .collect();
        let ids: BTreeSet<String> = sim.truth.iter().map(|t| t.correlation_id.clone()).collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut got = Vec::new();
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            let reader = SqliteStore::open(&db).unwrap();
            got = ids
                .iter()
                .flat_map(|id| reader.trace(id).unwrap())
                .map(|r| {
                    let e = r.event;
                    (
                        e.system_id.to_string(),
                        e.checkpoint_id.clone(),
                        e.timestamp(),
                        e.status.as_str().to_owned(),
                        e.correlation_id.clone(),
                        e.failure_reason.clone(),
                    )
                })
                .collect::<Vec<Row>>();
            if got.len() >= want.len() && got.iter().all(|r| r.5.is_some() || r.3 != "FAILURE") {
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
        follower.join().unwrap();
        let unique: BTreeSet<Row> = got.iter().cloned().collect();
        assert_eq!(unique.len(), got.len(), "rows stored twice");
        let missing: Vec<&Row> = want.difference(&unique).take(3).collect();
        let extra: Vec<&Row> = unique.difference(&want).take(3).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "missing {missing:?}, unexpected {extra:?}"
        );
    });
}
