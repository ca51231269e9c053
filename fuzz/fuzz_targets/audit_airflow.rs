//! Fuzz target `audit_airflow`: the Airflow task log audit extractor, with the invariants of
//! [`waymark_fuzz::audit`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| waymark_fuzz::audit("AIRFLOW", data));
