//! `[scan]`: paths to scan, rules and system signatures (see `scan` for their use).

use serde::{Deserialize, Serialize};

/// `[scan]` section. Filled in by the scanner work.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScanSection {
    /// Files, folders or globs scanned when `waymark scan` gets no path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// Named rules.
    #[serde(default, rename = "rule", skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<ScanRuleRaw>,
    /// Content signatures that classify a file's system type.
    #[serde(default, rename = "signature", skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<SystemSignatureRaw>,
}

/// `[[scan.rule]]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScanRuleRaw {
    pub name: String,
}

/// `[[scan.signature]]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SystemSignatureRaw {
    pub system_type: String,
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
