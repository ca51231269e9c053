//! Fuzz target `audit_mass_ingestion`: the MASS_INGESTION audit extractor, with the invariants of
//! [`waymark_fuzz::audit`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| waymark_fuzz::audit("MASS_INGESTION", data));
