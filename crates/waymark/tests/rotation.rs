//! `waymark ingest` across log rotation: a file is recognised by its content, not its path,
//! so logrotate's `create` (rename), `copytruncate`, delayed compression and a rotated file
//! given together with its successor each end with exactly the simulator's truth — run once,
//! and run again.

mod util;

use std::fs;
use std::io::Write;
use std::path::Path;

use util::{count, events, simulate, truth, Dir};

/// The simulated records split in three parts at line boundaries, and the truth file.
fn flows(dir: &Dir) -> ([Vec<u8>; 3], std::path::PathBuf) {
    let (records, truth_path) = (dir.path("all.log"), dir.path("truth.jsonl"));
    simulate(dir, &["--flows", "400", "--seed", "11"], &records, &truth_path);
    let all = fs::read(&records).unwrap();
    fs::remove_file(&records).unwrap();
    let cut =
        |at: usize| all[at..].iter().position(|b| *b == b'\n').map_or(all.len(), |i| at + i + 1);
    let (a, b) = (cut(all.len() / 3), cut(2 * all.len() / 3));
    ([all[..a].to_vec(), all[a..b].to_vec(), all[b..].to_vec()], truth_path)
}

fn append(path: &Path, bytes: &[u8]) {
    fs::OpenOptions::new().create(true).append(true).open(path).unwrap().write_all(bytes).unwrap();
}

fn gzip(from: &Path, to: &Path) {
    let bytes = fs::read(from).unwrap();
    let mut enc =
        flate2::write::GzEncoder::new(fs::File::create(to).unwrap(), flate2::Compression::fast());
    enc.write_all(&bytes).unwrap();
    enc.finish().unwrap();
    fs::remove_file(from).unwrap();
}

fn ingest(dir: &Dir, files: &[&str]) -> serde_json::Value {
    let mut args = vec!["ingest", "--json"];
    args.extend_from_slice(files);
    serde_json::from_str(&dir.run(&args)).unwrap()
}

/// The store holds the truth, nothing doubled; a second run reads nothing.
fn assert_truth_and_idempotent(dir: &Dir, truth_path: &Path, files: &[&str]) {
    util::assert_same_rows(&events(&dir.db()), &truth(truth_path), "events vs truth");
    let again = ingest(dir, files);
    assert_eq!(again["records"].as_u64(), Some(0), "a rerun reads nothing: {again}");
    util::assert_same_rows(&events(&dir.db()), &truth(truth_path), "events vs truth, rerun");
}

#[test]
fn logrotate_create_rotated_file_and_successor_in_one_command() {
    let dir = Dir::new();
    let ([p1, p2, p3], truth_path) = flows(&dir);
    let (log, log1) = (dir.path("app.log"), dir.path("app.log.1"));
    fs::write(&log, &p1).unwrap();
    ingest(&dir, &["app.log"]);
    // logrotate `create`: rename, the writer still appends to the renamed file for a while,
    // then a new file at the old path.
    fs::rename(&log, &log1).unwrap();
    append(&log1, &p2);
    fs::write(&log, &p3).unwrap();
    let s = ingest(&dir, &["app.log", "app.log.1"]);
    let moved: Vec<&serde_json::Value> =
        s["inputs"].as_array().unwrap().iter().filter(|i| !i["moved_from"].is_null()).collect();
    assert_eq!(moved.len(), 1, "the summary says which file was recognised: {s}");
    assert!(moved[0]["name"].as_str().unwrap().ends_with("app.log.1"));
    assert_eq!(moved[0]["from"].as_u64(), Some(p1.len() as u64), "continued where it stopped");
    assert_truth_and_idempotent(&dir, &truth_path, &["app.log", "app.log.1"]);
}

#[test]
fn copytruncate_copy_continues_and_the_truncated_file_starts_anew() {
    let dir = Dir::new();
    let ([p1, p2, p3], truth_path) = flows(&dir);
    let (log, log1) = (dir.path("app.log"), dir.path("app.log.1"));
    fs::write(&log, &p1).unwrap();
    ingest(&dir, &["app.log"]);
    append(&log, &p2);
    // logrotate `copytruncate`: copy, then truncate in place; the writer goes on.
    fs::copy(&log, &log1).unwrap();
    fs::OpenOptions::new().write(true).open(&log).unwrap().set_len(0).unwrap();
    append(&log, &p3);
    ingest(&dir, &["app.log", "app.log.1"]);
    assert_truth_and_idempotent(&dir, &truth_path, &["app.log", "app.log.1"]);
}

#[test]
fn a_rotated_file_compressed_later_is_continued_in_decompressed_bytes() {
    let dir = Dir::new();
    let ([p1, p2, p3], truth_path) = flows(&dir);
    let (log, log1, log1gz) =
        (dir.path("app.log"), dir.path("app.log.1"), dir.path("app.log.1.gz"));
    fs::write(&log, &p1).unwrap();
    ingest(&dir, &["app.log"]);
    fs::rename(&log, &log1).unwrap();
    append(&log1, &p2);
    fs::write(&log, &p3).unwrap();
    // Only the new file is read now; the rotated one is compressed before the next run
    // (logrotate `delaycompress`), with lines that were never read.
    ingest(&dir, &["app.log"]);
    gzip(&log1, &log1gz);
    let s = ingest(&dir, &["app.log", "app.log.1.gz"]);
    let gz = s["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"].as_str().unwrap().ends_with(".gz"))
        .unwrap();
    assert_eq!(gz["from"].as_u64(), Some(p1.len() as u64), "{s}");
    assert_truth_and_idempotent(&dir, &truth_path, &["app.log", "app.log.1.gz"]);
    // And once more compressed again under another name (app.log.2.gz): still nothing new.
    fs::rename(&log1gz, dir.path("app.log.2.gz")).unwrap();
    let s = ingest(&dir, &["app.log", "app.log.2.gz"]);
    assert_eq!(s["records"].as_u64(), Some(0), "{s}");
}

#[test]
fn a_file_replaced_by_other_content_is_a_new_version_and_the_old_one_can_come_back() {
    let dir = Dir::new();
    let ([p1, p2, _], _) = flows(&dir);
    let (log, old) = (dir.path("app.log"), dir.path("old.log"));
    fs::write(&log, &p1).unwrap();
    ingest(&dir, &["app.log"]);
    fs::rename(&log, &old).unwrap();
    fs::write(&log, &p2).unwrap();
    let s = ingest(&dir, &["app.log"]);
    let why = s["inputs"][0]["new_version"].as_str();
    assert!(matches!(why, Some("replaced" | "truncated")), "{s}");
    let before = count(&dir.db(), "SELECT count(*) FROM events");
    // The first version turns up under another path in a later run: recognised, not doubled.
    let s = ingest(&dir, &["app.log", "old.log"]);
    assert_eq!(s["records"].as_u64(), Some(0), "{s}");
    assert_eq!(count(&dir.db(), "SELECT count(*) FROM events"), before);
}

/// copy-truncate seen in the middle: the copy is still being written while the original is
/// intact. The half-made copy is recognised as a copy of a file being read and left alone;
/// once the original is truncated, the finished copy continues the source. Nothing doubled.
#[test]
fn copytruncate_caught_while_the_copy_is_being_made_doubles_nothing() {
    let dir = Dir::new();
    let ([p1, p2, p3], truth_path) = flows(&dir);
    let (log, log1) = (dir.path("app.log"), dir.path("app.log.1"));
    fs::write(&log, &p1).unwrap();
    ingest(&dir, &["app.log"]);
    append(&log, &p2);
    // The copy so far: half of what app.log holds.
    let whole = fs::read(&log).unwrap();
    fs::write(&log1, &whole[..whole.len() / 2]).unwrap();
    let s = ingest(&dir, &["app.log", "app.log.1"]);
    let copy = s["inputs"].as_array().unwrap().iter().find(|i| !i["copy_of"].is_null());
    assert!(copy.is_some_and(|c| c["name"].as_str().unwrap().ends_with("app.log.1")), "{s}");
    // The copy completes, the original is truncated, the writer goes on.
    fs::write(&log1, &whole).unwrap();
    fs::OpenOptions::new().write(true).open(&log).unwrap().set_len(0).unwrap();
    append(&log, &p3);
    ingest(&dir, &["app.log", "app.log.1"]);
    assert_truth_and_idempotent(&dir, &truth_path, &["app.log", "app.log.1"]);
}
