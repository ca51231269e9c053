//! `[audit]`: field mappings per system type (see [`crate::audit`] for their use).
//!
//! A mapping names an audit field (a column of `etl_log_audit`, or any other name, which then
//! lands in the row's `extra` object), where its value comes from (a regex capture over the
//! run's lines, or a JSON pointer into the run's JSON records), its type and how several
//! matches combine. Validation into [`crate::audit::AuditConfig`] happens in
//! [`crate::audit::mapping`], so that every error is reported with its path and line.

use serde::{Deserialize, Serialize};
use toml::Spanned;

/// `[audit]` section.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSection {
    /// A run still `RUNNING` this many seconds after its start is flagged as stale by
    /// `waymark runs` (default 86400, one day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_timeout_secs: Option<u64>,
    /// Field mappings per system type.
    #[serde(default, rename = "system", skip_serializing_if = "Vec::is_empty")]
    pub systems: Vec<AuditSystemRaw>,
}

/// `[[audit.system]]`: the field mappings of one system type.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSystemRaw {
    /// The system type as the classifier names it (`INFA_SESSION`, `DBT`, or a user's own).
    pub system_type: String,
    /// The mappings; a user field replaces the built-in field of the same name.
    #[serde(default, rename = "field", skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<AuditFieldRaw>,
}

/// `[[audit.system.field]]`: where one audit field's value comes from.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuditFieldRaw {
    /// The audit field: a column such as `run_id` or `source_rows`, or a custom name
    /// (kept in the row's `extra` JSON object).
    pub name: String,
    /// Regex tried on every line of the run; the value is the capture named `value`, else
    /// capture 1, else the whole match. Exactly one of `regex` and `pointer` is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<Spanned<String>>,
    /// JSON pointer (RFC 6901, like `/info/invocation_id`) tried on every JSON record of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<Spanned<String>>,
    /// `text`, `integer`, `timestamp` or `list` (default: the column's own type, else `text`).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<Spanned<String>>,
    /// How several matches combine: `first`, `last`, `sum` (integers) or `list` (default:
    /// `list` for lists, else `first`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub combine: Option<Spanned<String>>,
}

impl AuditSection {
    /// `self` with `user` on top: systems merge by type, fields by name (a user field replaces
    /// the built-in one of the same name, new ones are added).
    pub(crate) fn merge(mut self, user: AuditSection) -> AuditSection {
        self.running_timeout_secs = user.running_timeout_secs.or(self.running_timeout_secs);
        for sys in user.systems {
            match self.systems.iter_mut().find(|s| s.system_type == sys.system_type) {
                Some(base) => super::merge_named(&mut base.fields, sys.fields, |f| f.name.clone()),
                None => self.systems.push(sys),
            }
        }
        self
    }
}
