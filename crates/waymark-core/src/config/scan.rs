//! `[scan]`: paths to scan, rules and system signatures (see [`crate::scan`] for their use).
//!
//! [`build`] validates the merged section into a [`ScanConfig`], reporting every error with
//! its path (`scan.rule[3].regex`) and, when the value has a place in the file, its line.

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::Collector;
use crate::scan::{
    Classifier, LineTimes, Matcher, Rule, RuleBuilder, ScanConfig, Severity, Signature,
};

/// `[scan]` section.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScanSection {
    /// Files, folders or globs scanned when `waymark scan` gets no path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// Named rules; a user rule with a built-in's name replaces it.
    #[serde(default, rename = "rule", skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<ScanRuleRaw>,
    /// Content signatures that classify a file's system type; a user signature with a
    /// built-in's `system_type` replaces it.
    #[serde(default, rename = "signature", skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<SystemSignatureRaw>,
}

/// `[[scan.rule]]`: a keyword list or a regex, with a severity.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScanRuleRaw {
    /// Stored in `logscan_results.rule`; unique.
    pub name: String,
    /// `false` switches the rule off (for instance a built-in one).
    #[serde(default = "super::yes", skip_serializing_if = "super::is_true")]
    pub enabled: bool,
    /// `ERROR`, `WARNING` or `INFO`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Spanned<String>>,
    /// A regex (Rust `regex` syntax) searched in each line. Exactly one of `regex` and
    /// `keywords` is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<Spanned<String>>,
    /// Literal words or phrases; a line matches when it contains any of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// Match `keywords` regardless of case (a regex says so itself with `(?i)`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub ignore_case: bool,
    /// System types the rule applies to (`INFA_SESSION`, `DBT`, ..., `UNKNOWN`); empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub systems: Vec<String>,
    /// For CSV-structured logs: search only this column (by header name). The rule never
    /// matches a file without a header naming it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
}

/// `[[scan.signature]]`: content that identifies a system type.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SystemSignatureRaw {
    /// The type assigned, such as `INFA_SESSION` or a user-defined `MY_TOOL`.
    pub system_type: String,
    /// `false` switches the signature off.
    #[serde(default = "super::yes", skip_serializing_if = "super::is_true")]
    pub enabled: bool,
    /// Regexes searched in the head of the file (its first 64 KiB, ANSI escapes removed,
    /// multi-line mode); any one of them classifies the file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patterns: Vec<Spanned<String>>,
    /// When several signatures match, the highest priority wins, then the first declared.
    /// Default 100; the built-in ones are below 100 so that a user's own type wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl ScanSection {
    pub(crate) fn merge(mut self, user: ScanSection) -> ScanSection {
        if !user.paths.is_empty() {
            self.paths = user.paths;
        }
        super::merge_named(&mut self.rules, user.rules, |r| r.name.clone());
        super::merge_named(&mut self.signatures, user.signatures, |s| s.system_type.clone());
        self
    }
}

/// Validates and compiles the `[scan]` section; every error goes to `c`.
pub(crate) fn build(raw: &ScanSection, timezone: &str, c: &mut Collector<'_>) -> ScanConfig {
    let classifier = Classifier::new(signatures(raw, c));
    // Types named by any signature count as known, even a switched-off one, so that turning
    // off a built-in signature does not make the built-in rules invalid.
    let mut known: Vec<String> = crate::scan::BUILTIN_TYPES.iter().map(|s| s.to_string()).collect();
    for s in &raw.signatures {
        if !known.contains(&s.system_type) {
            known.push(s.system_type.clone());
        }
    }
    let mut rules = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, r) in raw.rules.iter().enumerate().filter(|(_, r)| r.enabled) {
        let path = entry_path("scan.rule", i, &r.name);
        if !seen.insert(r.name.as_str()) {
            c.push(format!("{path}.name"), None, format!("duplicate rule name `{}`", r.name));
        }
        if let Some(rule) = rule(r, &path, &known, c) {
            rules.push(rule);
        }
    }
    let matcher = Matcher::new(rules).unwrap_or_else(|e| {
        c.push("scan.rule", None, format!("the rules do not compile together: {e}"));
        Matcher::default()
    });
    let times = LineTimes::new(timezone);
    ScanConfig { paths: raw.paths.clone(), matcher, classifier, times }
}

fn signatures(raw: &ScanSection, c: &mut Collector<'_>) -> Vec<Signature> {
    let mut out = Vec::new();
    for (i, s) in raw.signatures.iter().enumerate().filter(|(_, s)| s.enabled) {
        let path = entry_path("scan.signature", i, &s.system_type);
        if let Err(e) = check_type_name(&s.system_type) {
            c.push(format!("{path}.system_type"), None, e);
        }
        if s.patterns.is_empty() {
            c.push(format!("{path}.patterns"), None, "at least one pattern is required");
            continue;
        }
        let mut patterns = Vec::new();
        for (j, p) in s.patterns.iter().enumerate() {
            match crate::scan::compile_signature(p.get_ref()) {
                Ok(re) => patterns.push(re),
                Err(e) => c.push(format!("{path}.patterns[{j}]"), Some(p.span()), e),
            }
        }
        let priority = s.priority.unwrap_or(100);
        out.push(Signature { system_type: s.system_type.clone(), priority, patterns });
    }
    out
}

/// `scan.rule.<name>`: after merging, an index would not point into the user's file.
fn entry_path(table: &str, index: usize, name: &str) -> String {
    if name.trim().is_empty() {
        format!("{table}[{index}]")
    } else {
        format!("{table}.{name}")
    }
}

fn check_type_name(name: &str) -> Result<(), crate::Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(crate::Error::Invalid(format!(
            "`{name}` is not a system type name (A-Z, 0-9 and _, at most 64)"
        )))
    }
}

fn rule(raw: &ScanRuleRaw, path: &str, known: &[String], c: &mut Collector<'_>) -> Option<Rule> {
    let before = c.errors.len();
    if raw.name.trim().is_empty() || raw.name.len() > 128 {
        c.push(format!("{path}.name"), None, "must be 1 to 128 characters");
    }
    let severity = match &raw.severity {
        None => {
            c.push(format!("{path}.severity"), None, "missing `severity` (ERROR, WARNING or INFO)");
            Severity::Info
        }
        Some(s) => Severity::parse(s.get_ref()).unwrap_or_else(|| {
            c.push(
                format!("{path}.severity"),
                Some(s.span()),
                format!("unknown severity `{}` (expected ERROR, WARNING or INFO)", s.get_ref()),
            );
            Severity::Info
        }),
    };
    for sys in raw.systems.iter().filter(|s| !known.contains(s)) {
        c.push(
            format!("{path}.systems"),
            None,
            format!("unknown system type `{sys}` (known: {})", known.join(", ")),
        );
    }
    let mut builder = RuleBuilder::new(&raw.name, severity);
    builder.systems(&raw.systems).column(raw.column.as_deref());
    let built = match (&raw.regex, raw.keywords.is_empty()) {
        (Some(re), true) => builder.regex(re.get_ref()).map_err(|e| (".regex", Some(re.span()), e)),
        (None, false) => {
            builder.keywords(&raw.keywords, raw.ignore_case).map_err(|e| (".keywords", None, e))
        }
        (Some(re), false) => {
            Err((".regex", Some(re.span()), "give either `regex` or `keywords`, not both".into()))
        }
        (None, true) => Err(("", None, "missing `regex` or `keywords`".to_owned())),
    };
    match built {
        Ok(rule) => (c.errors.len() == before).then_some(rule),
        Err((field, span, e)) => {
            c.push(format!("{path}{field}"), span, e);
            None
        }
    }
}
