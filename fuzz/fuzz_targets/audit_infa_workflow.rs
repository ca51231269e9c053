//! Fuzz target `audit_infa_workflow`: the INFA_WORKFLOW audit extractor, with the invariants of
//! [`waymark_fuzz::audit`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| waymark_fuzz::audit("INFA_WORKFLOW", data));
