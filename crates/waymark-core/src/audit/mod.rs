//! Audit extractors: one row per ETL run (see issue 4).
