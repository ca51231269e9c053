//! The warehouse SQL: Snowflake's dialect, sent over the connector protocol to the warehouse,
//! never to waymark's own store. It lives here, beside the client that sends it, because it is
//! a property of the target (the seed's table names, Snowflake's types and `MERGE`), not of a
//! store backend; `waymark-store` keeps every statement that touches waymark's own rows.
//!
//! Every load goes through a session's temporary staging table of text columns, filled by one
//! `INSERT` with array bindings (the form Snowflake takes multi-row binds in), then one `MERGE`
//! into the target that casts the text to the target's types:
//! - `EVENTS` and `LOGSCAN_RESULTS` are insert-only: `WHEN NOT MATCHED THEN INSERT` on the
//!   row's key in waymark (the origin `(SOURCE_ID, POSITION)`, the scan result's `ID`), so a
//!   replay of rows already loaded inserts nothing.
//! - `ETL_LOG_AUDIT` is upserted on `RUN_KEY`, the seed's rule in SQL: a known value is never
//!   overwritten by a blank (`COALESCE(new, old)`), a final status never by `RUNNING` or
//!   `UNKNOWN` (`CASE`), and `SOURCE_NAME`/`TARGET_NAME` (JSON arrays) are merged: the known
//!   names in their order, then the new ones not yet there. The merged arrays are computed by a
//!   statement of their own (`FLATTEN` both, keep each name's first place, `ARRAY_AGG` in that
//!   order) into a second temporary table the `MERGE` joins.

use waymark_store::{Column, ColumnType, ExportTable};

/// A target table: its name, columns (upper case) and key.
#[derive(Debug, Clone, Copy)]
pub struct TargetTable {
    pub table: ExportTable,
    /// The seed's name.
    pub name: &'static str,
    /// The temporary staging table of this session.
    pub stage: &'static str,
    /// Key columns (upper case).
    pub key: &'static [&'static str],
    /// Upserted (`ETL_LOG_AUDIT`) rather than insert-only.
    pub upsert: bool,
}

/// The tables `waymark export --to snowflake://` loads, in load order: scan results before
/// the runs that point at them, then events.
pub const TARGETS: [TargetTable; 3] = [
    TargetTable {
        table: ExportTable::ScanResults,
        name: "LOGSCAN_RESULTS",
        stage: "WAYMARK_STAGE_LOGSCAN_RESULTS",
        key: &["ID"],
        upsert: false,
    },
    TargetTable {
        table: ExportTable::Runs,
        name: "ETL_LOG_AUDIT",
        stage: "WAYMARK_STAGE_ETL_LOG_AUDIT",
        key: &["RUN_KEY"],
        upsert: true,
    },
    TargetTable {
        table: ExportTable::Events,
        name: "EVENTS",
        stage: "WAYMARK_STAGE_EVENTS",
        key: &["SOURCE_ID", "POSITION"],
        upsert: false,
    },
];

/// The temporary table the merged name arrays of `ETL_LOG_AUDIT` are computed into.
const MERGED_NAMES: &str = "WAYMARK_MERGED_NAMES";

/// The target for an exportable table, if it is loaded into Snowflake.
pub fn target(table: ExportTable) -> Option<&'static TargetTable> {
    TARGETS.iter().find(|t| t.table == table)
}

/// A quoted identifier (the names here are ours, upper case, never from input).
fn ident(name: &str) -> String {
    format!("\"{}\"", name.to_ascii_uppercase().replace('"', "\"\""))
}

fn sql_type(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Int => "NUMBER(38,0)",
        ColumnType::Float => "FLOAT",
        ColumnType::Text => "VARCHAR",
        // UTC, microseconds.
        ColumnType::Timestamp => "TIMESTAMP_NTZ(6)",
        ColumnType::TextList => "ARRAY",
    }
}

/// A staged (text) column cast to its target type.
fn cast(alias: &str, c: &Column) -> String {
    let col = format!("{alias}.{}", ident(c.name));
    match c.ty {
        ColumnType::Text => col,
        ColumnType::TextList => format!("PARSE_JSON({col})"),
        ty => format!("{col}::{}", sql_type(ty)),
    }
}

impl TargetTable {
    pub fn columns(&self) -> &'static [Column] {
        self.table.columns()
    }

    /// The target table, created if missing.
    pub fn create(&self) -> String {
        let cols: Vec<String> = self
            .columns()
            .iter()
            .map(|c| {
                let null = if c.nullable { "" } else { " NOT NULL" };
                format!("{} {}{null}", ident(c.name), sql_type(c.ty))
            })
            .collect();
        let key: Vec<String> = self.key.iter().map(|k| ident(k)).collect();
        format!(
            "CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY ({}))",
            ident(self.name),
            cols.join(", "),
            key.join(", ")
        )
    }

    /// The session's staging table: every column text.
    pub fn create_stage(&self) -> String {
        let cols: Vec<String> =
            self.columns().iter().map(|c| format!("{} VARCHAR", ident(c.name))).collect();
        format!("CREATE TEMPORARY TABLE IF NOT EXISTS {} ({})", ident(self.stage), cols.join(", "))
    }

    /// Empties the staging table before a chunk.
    pub fn clear_stage(&self) -> String {
        format!("DELETE FROM {}", ident(self.stage))
    }

    /// Fills the staging table: one bind per column, each an array of the chunk's values.
    pub fn insert_stage(&self) -> String {
        let marks = vec!["?"; self.columns().len()].join(", ");
        format!("INSERT INTO {} VALUES ({marks})", ident(self.stage))
    }

    fn key_match(&self) -> String {
        self.key
            .iter()
            .map(|k| format!("T.{0} = S.{0}", ident(k)))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    fn column_list(&self) -> String {
        self.columns().iter().map(|c| ident(c.name)).collect::<Vec<_>>().join(", ")
    }

    /// The `MERGE` of the staged chunk into the target.
    pub fn merge(&self) -> String {
        if self.upsert {
            return self.merge_upsert();
        }
        let casts: Vec<String> = self
            .columns()
            .iter()
            .map(|c| format!("{} AS {}", cast("S", c), ident(c.name)))
            .collect();
        let values: Vec<String> =
            self.columns().iter().map(|c| format!("S.{}", ident(c.name))).collect();
        format!(
            "MERGE INTO {target} T USING (SELECT {casts} FROM {stage} S) S ON {on} \
             WHEN NOT MATCHED THEN INSERT ({cols}) VALUES ({values})",
            target = ident(self.name),
            casts = casts.join(", "),
            stage = ident(self.stage),
            on = self.key_match(),
            cols = self.column_list(),
            values = values.join(", "),
        )
    }

    /// The merged-names table of this session (`ETL_LOG_AUDIT` only).
    pub fn create_merged_names(&self) -> String {
        format!(
            "CREATE TEMPORARY TABLE IF NOT EXISTS {MERGED_NAMES} (\"RUN_KEY\" VARCHAR, \
             \"WHICH\" VARCHAR, \"NAMES\" ARRAY)"
        )
    }

    pub fn clear_merged_names(&self) -> String {
        format!("DELETE FROM {MERGED_NAMES}")
    }

    /// Computes the union of the known and the staged names of `column` per run: each name at
    /// its first place, the known ones first.
    pub fn merge_names(&self, column: &str) -> String {
        let col = ident(column);
        let target = ident(self.name);
        let stage = ident(self.stage);
        format!(
            "INSERT INTO {MERGED_NAMES} (\"RUN_KEY\", \"WHICH\", \"NAMES\") \
             SELECT \"RUN_KEY\", '{column}', ARRAY_AGG(\"NAME\") WITHIN GROUP (ORDER BY \"ORD\") \
             FROM (SELECT \"RUN_KEY\", \"NAME\", MIN(\"ORD\") AS \"ORD\" FROM (\
             SELECT T.\"RUN_KEY\" AS \"RUN_KEY\", F.VALUE::VARCHAR AS \"NAME\", F.INDEX AS \"ORD\" \
             FROM {target} T JOIN {stage} S ON T.\"RUN_KEY\" = S.\"RUN_KEY\", \
             LATERAL FLATTEN(input => T.{col}) F \
             UNION ALL \
             SELECT S.\"RUN_KEY\" AS \"RUN_KEY\", F.VALUE::VARCHAR AS \"NAME\", \
             1000000000 + F.INDEX AS \"ORD\" \
             FROM {stage} S, LATERAL FLATTEN(input => PARSE_JSON(S.{col})) F\
             ) AS U GROUP BY \"RUN_KEY\", \"NAME\") AS N GROUP BY \"RUN_KEY\""
        )
    }

    /// The never-blank upsert of `ETL_LOG_AUDIT` (the rule of `waymark_core::audit::merge`).
    fn merge_upsert(&self) -> String {
        let mut select = Vec::new();
        for c in self.columns() {
            let name = ident(c.name);
            let value = match c.name {
                "source_name" | "target_name" => format!(
                    "COALESCE(M_{w}.\"NAMES\", {cast}) AS {name}",
                    w = c.name,
                    cast = cast("S", c)
                ),
                _ => format!("{} AS {name}", cast("S", c)),
            };
            select.push(value);
        }
        let updates: Vec<String> = self
            .columns()
            .iter()
            .filter(|c| !self.key.contains(&c.name.to_ascii_uppercase().as_str()))
            .map(|c| {
                let n = ident(c.name);
                let value = match c.name {
                    // A final status is not undone by a partial document's RUNNING or UNKNOWN.
                    "status" => format!(
                        "CASE WHEN S.{n} = 'UNKNOWN' THEN T.{n} \
                         WHEN S.{n} = 'RUNNING' AND T.{n} IN ('SUCCESS', 'FAILURE') THEN T.{n} \
                         ELSE S.{n} END"
                    ),
                    // The first load's time stays the row's creation.
                    "created_at" => format!("COALESCE(T.{n}, S.{n})"),
                    _ => format!("COALESCE(S.{n}, T.{n})"),
                };
                format!("{n} = {value}")
            })
            .collect();
        let values: Vec<String> =
            self.columns().iter().map(|c| format!("S.{}", ident(c.name))).collect();
        format!(
            "MERGE INTO {target} T USING (SELECT {select} FROM {stage} S \
             LEFT JOIN {MERGED_NAMES} M_source_name ON M_source_name.\"RUN_KEY\" = S.\"RUN_KEY\" \
             AND M_source_name.\"WHICH\" = 'SOURCE_NAME' \
             LEFT JOIN {MERGED_NAMES} M_target_name ON M_target_name.\"RUN_KEY\" = S.\"RUN_KEY\" \
             AND M_target_name.\"WHICH\" = 'TARGET_NAME') S ON {on} \
             WHEN MATCHED THEN UPDATE SET {updates} \
             WHEN NOT MATCHED THEN INSERT ({cols}) VALUES ({values})",
            target = ident(self.name),
            select = select.join(", "),
            stage = ident(self.stage),
            on = self.key_match(),
            updates = updates.join(", "),
            cols = self.column_list(),
            values = values.join(", "),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_has_its_key_among_its_columns() {
        for t in TARGETS {
            for k in t.key {
                assert!(t.columns().iter().any(|c| c.name.eq_ignore_ascii_case(k)), "{k}");
            }
            assert!(t.create().starts_with(&format!("CREATE TABLE IF NOT EXISTS \"{}\"", t.name)));
        }
    }

    #[test]
    fn the_audit_merge_never_blanks_and_inserts_only_the_others() {
        let audit = target(ExportTable::Runs).unwrap().merge();
        assert!(audit
            .contains("\"ERROR_MESSAGE\" = COALESCE(S.\"ERROR_MESSAGE\", T.\"ERROR_MESSAGE\")"));
        assert!(!audit.contains("\"RUN_KEY\" = COALESCE"), "the key is not updated");
        let events = target(ExportTable::Events).unwrap().merge();
        assert!(events.contains("WHEN NOT MATCHED THEN INSERT"));
        assert!(!events.contains("WHEN MATCHED"));
    }
}
