//! The built-in rule packs and signatures against the ETL fixtures, and rule configuration.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::*;
use crate::config::{Config, ConfigSource};

fn builtin() -> ScanConfig {
    Config::load(None).expect("built-in config").scan
}

fn fixtures() -> Vec<(PathBuf, serde_json::Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/etl");
    let mut out = Vec::new();
    for tool in std::fs::read_dir(&dir).expect("fixtures/etl") {
        let tool = tool.expect("dir entry").path();
        if !tool.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&tool).expect("tool dir") {
            let f = f.expect("dir entry").path();
            let name = f.to_string_lossy().into_owned();
            if let Some(base) = name.strip_suffix(".expected.json") {
                let expected =
                    serde_json::from_slice(&std::fs::read(&f).expect("read")).expect("json");
                let log = std::fs::read_dir(&tool)
                    .expect("tool dir")
                    .map(|e| e.expect("entry").path())
                    .find(|p| {
                        let s = p.to_string_lossy();
                        s.starts_with(&format!("{base}.")) && !s.ends_with(".expected.json")
                    })
                    .expect("log next to its expected.json");
                out.push((log, expected));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 19, "expected the ETL fixtures, found {}", out.len());
    out
}

/// (1-based line, rule name, severity) of every match in a whole file, as the scanner does it.
fn scan_all(
    config: &ScanConfig,
    bytes: &[u8],
    csv_hint: Option<u8>,
) -> (String, Vec<(u64, String, Severity)>) {
    let class = config.classifier.classify(&bytes[..bytes.len().min(HEAD_BYTES)]);
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let layout = CsvLayout::detect(first, csv_hint);
    let view = config.matcher.view(&class.system_type, layout.as_ref());
    let mut hits = Vec::new();
    view.scan(bytes, |h| {
        let r = view.rule(h.rule);
        hits.push((h.line_index + 1, r.name.clone(), r.severity));
    });
    (class.system_type, hits)
}

#[test]
fn builtin_packs_classify_every_fixture_and_flag_exactly_its_error_lines() {
    let config = builtin();
    let mut failures = Vec::new();
    for (log, expected) in fixtures() {
        let bytes = std::fs::read(&log).expect("read fixture");
        let (system, hits) = scan_all(&config, &bytes, None);
        let want_system = expected["system_type"].as_str().expect("system_type");
        if system != want_system {
            failures
                .push(format!("{}: classified {system}, expected {want_system}", log.display()));
        }
        let want: BTreeSet<u64> = expected["error_lines"]
            .as_array()
            .expect("error_lines")
            .iter()
            .map(|v| v.as_u64().expect("line number"))
            .collect();
        let got: BTreeSet<u64> =
            hits.iter().filter(|h| h.2 == Severity::Error).map(|h| h.0).collect();
        for missed in want.difference(&got) {
            failures.push(format!("{}:{missed}: error line not flagged ERROR", log.display()));
        }
        for extra in got.difference(&want) {
            let rule = hits.iter().find(|h| h.0 == *extra).map(|h| h.1.as_str()).unwrap_or("");
            failures.push(format!(
                "{}:{extra}: flagged ERROR by {rule}, not an error line",
                log.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn tallies_names_and_warnings_are_not_errors() {
    let config = builtin();
    let view = config.matcher.view("INFA_SESSION", None);
    for line in [
        "READER_1_1_1> BLKR_16019 Read [4812] rows, read [0] error rows for source table [C]",
        "MAPPING> TM_6018 The session completed with [0] row transformation errors.",
        "TRANSF_1_1_1> DBG_21216 Finished transformations for Source Qualifier [SQ]. Total errors [0]",
        "06:15:03.953051 [info ] [MainThread]: Done. PASS=1 WARN=0 ERROR=1 SKIP=1 TOTAL=3",
        "06:15:03.951517 [info ] [MainThread]: Completed with 1 error, 0 partial successes",
        "MAPPING> TM_6307 DTM error log disabled.",
        "Workflow run error code: [0]",
        "Database driver error...",
        "MAPPING> TM_6185 Warning. Code page validation is disabled in this session.",
        "2025-01-10T02:15:01.0203320Z ##[warning]deprecated Node.js version",
        r#"{"level": "INFO", "message": "objects extracted 688, objects failed 0"}"#,
    ] {
        view.scan(line.as_bytes(), |h| {
            let rule = view.rule(h.rule);
            assert_ne!(rule.severity, Severity::Error, "{line} flagged by {}", rule.name);
        });
    }
}

#[test]
fn one_row_per_line_with_the_most_severe_rule_and_offsets() {
    let config = builtin();
    let view = config.matcher.view("INFA_SESSION", None);
    let block = b"ok line\nWRITER_1_*_1> WRT_8229 Database errors occurred: \nfoo\r\nDIRECTOR> TM_6014 Initializing session [s] at [Mon Jan 06 02:00:04 2025].\r\n";
    let mut hits = Vec::new();
    let lines = view.scan(block, |h| {
        hits.push((h.line_index, h.offset, view.rule(h.rule).name.clone(), h.line.to_vec()))
    });
    assert_eq!(lines, 4);
    assert_eq!(hits.len(), 2);
    assert_eq!((hits[0].0, hits[0].1, hits[0].2.as_str()), (1, 8, "infa_error_code"));
    assert_eq!((hits[1].0, hits[1].2.as_str()), (3, "infa_session_start"));
    assert!(!hits[1].3.ends_with(b"\r"));
}

#[test]
fn ansi_split_keywords_are_found_after_stripping() {
    let rule = RuleBuilder::new("x", Severity::Error).regex("ERROR creating").expect("rule");
    let m = Matcher::new(vec![rule]).expect("matcher");
    let view = m.view("UNKNOWN", None);
    let mut n = 0;
    view.scan(b"a\n1 of 2 \x1b[31mERROR\x1b[0m creating model\nb\n", |h| {
        assert_eq!(h.line_index, 1);
        n += 1;
    });
    assert_eq!(n, 1);
}

#[test]
fn column_rules_target_their_column_only() {
    let mut b = RuleBuilder::new("sev", Severity::Error);
    b.column(Some("Severity"));
    let m = Matcher::new(vec![b.regex("^ERROR$").expect("rule")]).expect("matcher");
    let layout = CsvLayout::detect(b"Message,Severity,Node", Some(b',')).expect("header");
    let view = m.view("UNKNOWN", Some(&layout));
    let mut lines = Vec::new();
    view.scan(b"Message,Severity,Node\nERROR in text,INFO,n1\n\"a, b\",ERROR,n2\n", |h| {
        lines.push(h.line_index)
    });
    assert_eq!(lines, [2]);
    // Without a header naming the column the rule never matches.
    let view = m.view("UNKNOWN", None);
    view.scan(b"x,ERROR,y\n", |_| panic!("no column, no match"));
}

#[test]
fn rules_apply_to_their_systems_only() {
    let config = builtin();
    let line = br#"      "status": "error","#;
    let mut n = 0;
    config.matcher.view("DBT", None).scan(line, |_| n += 1);
    config.matcher.view("JENKINS", None).scan(line, |_| n += 10);
    assert_eq!(n, 1);
}

#[test]
fn config_errors_are_all_reported_with_paths_and_lines() {
    let text = r#"
[[scan.rule]]
name = "a"
severity = "FATAL"
regex = '('

[[scan.rule]]
name = "b"
severity = "ERROR"
keywords = ["x"]
systems = ["NOPE"]

[[scan.rule]]
name = "c"
severity = "INFO"

[[scan.signature]]
system_type = "my tool"
patterns = ['[']
"#;
    let err = Config::load(Some(&ConfigSource { name: "u.toml", text })).unwrap_err();
    let got: Vec<(String, Option<usize>)> =
        err.0.iter().map(|e| (e.path.clone(), e.line)).collect();
    for want in [
        ("scan.rule.a.severity".to_owned(), Some(4)),
        ("scan.rule.a.regex".to_owned(), Some(5)),
        ("scan.rule.b.systems".to_owned(), None),
        ("scan.rule.c".to_owned(), None),
        ("scan.signature.my tool.system_type".to_owned(), None),
        ("scan.signature.my tool.patterns[0]".to_owned(), Some(19)),
    ] {
        assert!(got.contains(&want), "{want:?} not in {got:?}");
    }
}

#[test]
fn user_rules_and_signatures_override_and_extend_the_builtins() {
    let text = r#"
[[scan.rule]]
name = "ci_failure"
severity = "WARNING"
keywords = ["Finished: FAILURE"]

[[scan.rule]]
name = "oracle_error"
enabled = false

[[scan.signature]]
system_type = "MY_TOOL"
patterns = ['^MYTOOL v[0-9]']
"#;
    let config = Config::load(Some(&ConfigSource { name: "u.toml", text })).expect("valid").scan;
    assert_eq!(config.classifier.classify(b"MYTOOL v2\nStarted by timer\n").system_type, "MY_TOOL");
    let view = config.matcher.view("JENKINS", None);
    let mut got = Vec::new();
    view.scan(b"Finished: FAILURE\nORA-00942: x\n", |h| got.push(view.rule(h.rule).severity));
    assert_eq!(got, [Severity::Warning]);
}

#[test]
fn rules_file_replaces_the_rules() {
    let config = builtin();
    let replaced = config.with_rules_file("foo[0-9]\n\nbar\n", Severity::Info).expect("valid");
    assert_eq!(replaced.matcher.rules().len(), 2);
    assert_eq!(replaced.matcher.rules()[1].name, "rules_file:3");
    let err = config.with_rules_file("ok\n(\n", Severity::Info).unwrap_err();
    assert!(err[0].starts_with("line 2:"), "{err:?}");
}

#[test]
fn classification_evidence_names_the_pattern_and_line() {
    let c = builtin()
        .classifier
        .classify(b"hello\nDIRECTOR> TM_6014 Initializing session [s] at [x].\n");
    assert_eq!(c.system_type, "INFA_SESSION");
    assert!(c.evidence.as_deref().is_some_and(|e| e.ends_with("at line 2")), "{c:?}");
    assert_eq!(builtin().classifier.classify(b"plain text\n").system_type, UNKNOWN);
}

/// (1-based line, rule name) of every hit of `rules` (one regex each, in order) in `text`.
fn hits_of(rules: &[(&str, Severity)], text: &str) -> Vec<(u64, String)> {
    let rules = rules
        .iter()
        .enumerate()
        .map(|(i, (p, sev))| RuleBuilder::new(&format!("r{i}"), *sev).regex(p).expect("rule"))
        .collect();
    let matcher = Matcher::new(rules).expect("matcher");
    let view = matcher.view(UNKNOWN, None);
    let mut hits = Vec::new();
    view.scan(text.as_bytes(), |h| hits.push((h.line_index + 1, view.rule(h.rule).name.clone())));
    hits
}

#[test]
fn unicode_word_boundaries_stay_exact_around_non_ascii_text() {
    // The block regex drops `\b` (so that non-ASCII bytes keep it on the fast path); the rule
    // itself still decides, with Unicode word boundaries.
    let text = "é ORA-12345 x\nxORA-12345\néORA-12345\nORA-123456\nплохо ORA-00001\n";
    let hits = hits_of(&[(r"\bORA-[0-9]{5}\b", Severity::Error)], text);
    assert_eq!(hits, vec![(1, "r0".to_owned()), (5, "r0".to_owned())]);
}

#[test]
fn escape_lines_are_checked_alone_and_line_numbers_stay_right() {
    let text = "ok\n\x1b[31mERR\x1b[0mOR one\nERROR two\n\x1b[1mplain\x1b[0m\nx\n\x1b[8mha:AAA=\x1b[0mFATAL three\nFATAL four";
    let hits = hits_of(&[("ERROR", Severity::Error), ("FATAL", Severity::Warning)], text);
    let want = [(2, "r0"), (3, "r0"), (6, "r1"), (7, "r1")];
    assert_eq!(hits, want.map(|(l, r)| (l, r.to_owned())).to_vec());
}

#[test]
fn the_most_severe_rule_wins_whatever_the_order_of_matches_in_the_line() {
    let rules = [("Failed", Severity::Info), ("ERROR", Severity::Error), ("E", Severity::Error)];
    let hits = hits_of(&rules, "Failed with ERROR\nFailed\nEh\n");
    let want = [(1, "r1"), (2, "r0"), (3, "r2")];
    assert_eq!(hits, want.map(|(l, r)| (l, r.to_owned())).to_vec());
}

#[test]
fn a_higher_priority_signature_wins_even_further_down_the_head() {
    let sig = |t: &str, priority, p: &str| Signature {
        system_type: t.to_owned(),
        priority,
        patterns: vec![compile_signature(p).expect("signature")],
    };
    let classifier =
        Classifier::new(vec![sig("LOW", 1, r"^low tool \d+$"), sig("HIGH", 9, r"^\[high\] ")]);
    let head = "low tool 1\nnoise [high] not at line start\nlow tool 2\n[high] run\n";
    let c = classifier.classify(head.as_bytes());
    assert_eq!(c.system_type, "HIGH");
    assert_eq!(c.evidence.as_deref(), Some(r"/^\[high\] / at line 4"));
    let c = classifier.classify(b"noise\n\x1b[1mlow tool 7\x1b[0m\r\n");
    assert_eq!(c.system_type, "LOW");
    assert_eq!(classifier.classify(b"low tool x\n").system_type, UNKNOWN);
}

#[test]
fn signatures_found_by_their_literals_classify_as_the_full_search_does() {
    let with = builtin().classifier;
    assert!(with.has_literal_prefilter(), "every built-in signature has a required literal");
    let without = builtin().classifier.without_literal_prefilter();
    let mut heads: Vec<Vec<u8>> = fixtures()
        .into_iter()
        .map(|(log, _)| {
            let bytes = std::fs::read(&log).expect("fixture");
            bytes[..bytes.len().min(HEAD_BYTES)].to_vec()
        })
        .collect();
    // Near misses and lines that only match once escapes are gone or with CRLF ends.
    for text in [
        "2025-01-10T05:00:45.9110318Z ##[group]Run x\n",
        "2025-01-10T05:00:45Z ##[grou\n",
        "x\n==========   2025-01-06 02:00:00.1 | 0123456789abcdef0123456789abcdef0123 ==========\r\n",
        "\x1b[1mStarted by \x1b[0mtimer\n",
        "INFO : LM_36435 [Mon Jan 06 02:00:00 2025] : x\nRunning with dbt=1.8\n",
        "> TM_6014 no\n\t TM_6014 x\n",
        // IICS's line has no rare literal (`>`): searched alone, it still wins or loses by
        // priority.
        "Running with dbt=1.8\n> CDI_12345 INFO 2025-01-06T02:00:00Z x\n",
        "> CDI_12345 INFO 2025-01-06T02:00:00Z x\nStarted by timer\n",
        ">CDI_1 INFO 2025\n",
        "no signature here\nnor here",
        "",
    ] {
        heads.push(text.as_bytes().to_vec());
    }
    for head in &heads {
        assert_eq!(
            with.classify(head),
            without.classify(head),
            "{}",
            String::from_utf8_lossy(head)
        );
    }
    let types: Vec<String> = heads[heads.len() - 5..heads.len() - 2]
        .iter()
        .map(|h| with.classify(h).system_type)
        .collect();
    assert_eq!(types, ["IICS", "JENKINS", UNKNOWN]);
}

#[test]
fn a_block_counts_its_lines_whatever_the_path() {
    let config = builtin();
    let csv = CsvLayout::detect(b"Severity,Timestamp,Message", Some(b',')).expect("header");
    let column = config.matcher.view("INFA_WORKFLOW", Some(&csv));
    let fast = config.matcher.view(UNKNOWN, None);
    let no_rules = Matcher::new(Vec::new()).expect("empty matcher");
    let none = no_rules.view(UNKNOWN, None);
    for (text, lines) in [("", 0), ("a\n", 1), ("a\nb", 2), ("\n\n", 2), ("x\nORA-00942 y\nz", 3)] {
        for view in [&column, &fast, &none] {
            assert_eq!(view.scan(text.as_bytes(), |_| {}), lines, "{text:?}");
        }
    }
}
