//! Loading, merging and reporting errors with paths and lines.

use super::*;

fn load(text: &str) -> Result<Config, ConfigErrors> {
    Config::load(Some(&ConfigSource { name: "user.toml", text }))
}

#[test]
fn builtin_is_valid_and_has_the_four_seed_systems() {
    let c = Config::load(None).unwrap();
    assert_eq!(c.parsers.system_names(), ["fedebom", "reporting", "cmf", "bcis"]);
    let mut joinable = c.parsers.joinable_systems();
    joinable.sort();
    assert_eq!(joinable, ["cmf", "fedebom"]);
    assert_eq!(c.ingest.max_line_bytes, 1 << 20);
}

#[test]
fn unknown_field_is_reported_with_its_line() {
    let err = load("[ingest]\nbatch_records = 10\nbatch_size = 3\n").unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert_eq!(err.0[0].line, Some(3));
    assert!(err.0[0].message.contains("unknown field `batch_size`"), "{}", err.0[0].message);
}

#[test]
fn every_semantic_error_is_reported_at_once() {
    let text = r#"
[ingest]
timezone = "Mars/Olympus"

[[system]]
name = "a"
format = "regex"
match = { regex = '(' }
pattern = '^(?P<timestamp>\S+) (?P<status>\w+)$'
timestamp_formats = ["nonsense"]

[[system]]
name = "b"
format = "xml"
match = { prefix = "B" }
"#;
    let err = load(text).unwrap_err();
    let found: Vec<(String, Option<usize>)> =
        err.0.iter().map(|e| (e.path.clone(), e.line)).collect();
    let expect = [
        ("ingest.timezone", Some(3)),
        ("system[0].match.regex", Some(8)),
        ("system[0].pattern", Some(9)),
        ("system[0].pattern", Some(9)),
        ("system[0].timestamp_formats[0]", Some(10)),
        ("system[1].format", Some(14)),
    ];
    for (path, line) in expect {
        assert!(
            found.iter().any(|(p, l)| p == path && *l == line),
            "missing {path}:{line:?} in {found:?}"
        );
    }
    let shown = err.to_string();
    assert!(shown.starts_with(&format!("{} configuration errors", err.0.len())), "{shown}");
    assert!(shown.contains("user.toml:14: system[1].format: unknown format `xml`"), "{shown}");
}

#[test]
fn show_prints_a_config_that_loads_back_the_same() {
    let c = Config::load(None).unwrap();
    let shown = c.to_toml();
    let again = load(&shown).unwrap();
    assert_eq!(again.to_toml(), shown);
    assert_eq!(again.parsers.system_names(), c.parsers.system_names());
}

#[test]
fn sources_parse_by_type_and_report_errors_with_paths() {
    let text = r#"
[[source]]
type = "file"
paths = ["/var/log/flows/*.log"]

[[source]]
type = "kafka"
brokers = "127.0.0.1:9092"
topics = ["flows"]
settings = { "fetch.min.bytes" = "1" }

[[source]]
type = "scan"
name = "etl"
paths = ["/logs"]
interval_secs = 30

[[source]]
type = "openlineage"
"#;
    let c = Config::load(Some(&ConfigSource { name: "u.toml", text })).unwrap();
    let kinds: Vec<&str> = c.raw.sources.iter().map(SourceRaw::kind).collect();
    assert_eq!(kinds, ["file", "kafka", "scan", "openlineage"]);
    assert_eq!(c.raw.sources[0].name(0), "file-0");
    assert_eq!(c.raw.sources[2].name(2), "etl");

    let bad = r#"
[[source]]
type = "file"
paths = []

[[source]]
type = "scan"
name = "file-0"
paths = ["/x"]
interval_secs = 0
"#;
    let err = Config::load(Some(&ConfigSource { name: "u.toml", text: bad })).unwrap_err();
    let text = err.to_string();
    for want in ["source[0].paths", "source[1].name", "source[1].interval_secs"] {
        assert!(text.contains(want), "{want} in {text}");
    }
    let unknown = "[[source]]\ntype = \"ftp\"\n";
    assert!(Config::load(Some(&ConfigSource { name: "u.toml", text: unknown })).is_err());
}

/// Found by the `config` fuzz target: a control character in a comment is a syntax error,
/// and the message must say so (the TOML parser's own message was empty).
#[test]
fn fuzz_regression_nul_in_comment_has_a_message() {
    let errors = load("[ingest]\n# a comment \0 with NUL\n").unwrap_err();
    assert_eq!(errors.0.len(), 1);
    assert_eq!((errors.0[0].line, errors.0[0].message.as_str()), (Some(2), "invalid TOML syntax"));
}
