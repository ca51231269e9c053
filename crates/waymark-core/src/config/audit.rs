//! `[audit]`: field mappings per system type (see `audit` for their use).

use serde::{Deserialize, Serialize};

/// `[audit]` section. Filled in by the audit work.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSection {
    /// Field mappings per system type.
    #[serde(default, rename = "system", skip_serializing_if = "Vec::is_empty")]
    pub systems: Vec<AuditSystemRaw>,
}

/// `[[audit.system]]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSystemRaw {
    pub system_type: String,
    #[serde(default, rename = "field", skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<AuditFieldRaw>,
}

/// `[[audit.system.field]]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuditFieldRaw {
    pub name: String,
}

impl AuditSection {
    pub(crate) fn merge(mut self, user: AuditSection) -> AuditSection {
        super::merge_named(&mut self.systems, user.systems, |s| s.system_type.clone());
        self
    }
}
