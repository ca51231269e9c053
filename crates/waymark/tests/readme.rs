//! The README's promises that a test can hold it to.

mod util;

use util::Dir;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap()
}

/// The configuration example of the README is valid and does what it says.
#[test]
fn the_configuration_example_is_valid() {
    let readme = readme();
    let text = &readme[readme.find("## Configuration").expect("a Configuration section")..];
    let start = text.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + text[start..].find("```").unwrap();
    let dir = Dir::new();
    let config = dir.write("user.toml", &text.as_bytes()[start..end]);
    let out = dir.cmd().arg("--config").arg(&config).args(["config", "check"]).output().unwrap();
    util::assert_success(&out, &["config check"]);
    let ok = String::from_utf8_lossy(&out.stdout);
    assert!(ok.contains("payroll") && ok.contains("billing"), "{ok}");
    // The billing system joins its separate reasons.
    let log = dir.write(
        "billing.log",
        b"2025-05-04T10:00:00 BILLING CHARGE FAILURE id=b-1\n\
          2025-05-04T10:00:01 BILLING-ERR id=b-1 card declined\n",
    );
    let mut c = dir.cmd();
    c.arg("--config").arg(&config).arg("ingest").arg(&log);
    util::assert_success(&c.output().unwrap(), &["ingest"]);
    let trace = dir.run(&["trace", "b-1", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&trace).unwrap();
    assert_eq!(v["events"][0]["failure_reason"], "card declined");
    // The zone of zoneless timestamps is the configured one (Paris, UTC+2 in May).
    assert_eq!(v["events"][0]["timestamp"], "2025-05-04T08:00:00Z");
}

/// Every command the README's table names exists and has a --help.
#[test]
fn every_command_in_the_readme_has_help() {
    let dir = Dir::new();
    for cmd in [
        "ingest",
        "simulate",
        "trace",
        "failures",
        "orphans",
        "dead-letters",
        "status",
        "sql",
        "scan",
        "audit",
        "runs",
        "export",
        "demo",
        "alerts",
        "flows",
    ] {
        assert!(readme().contains(&format!("`{cmd}")), "{cmd} is not in the README");
        let out = dir.cmd().args([cmd, "--help"]).output().unwrap();
        util::assert_success(&out, &[cmd, "--help"]);
    }
}

/// Every TOML block of the README is a valid configuration (`config check` says so).
#[test]
fn every_toml_block_is_a_valid_configuration() {
    let text = readme();
    let dir = Dir::new();
    let mut checked = 0;
    for (i, block) in text.split("```toml\n").skip(1).enumerate() {
        let body = &block[..block.find("```").expect("a closed block")];
        let config = dir.write(&format!("block{i}.toml"), body.as_bytes());
        let out = dir.cmd().arg("--config").arg(&config).args(["config", "check"]).output();
        let out = out.expect("run config check");
        assert!(
            out.status.success(),
            "README toml block {i} is not valid:\n{body}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} toml blocks found");
}
