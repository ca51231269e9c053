//! Fuzz target `audit_infa_session`: the INFA_SESSION audit extractor, with the invariants of
//! [`waymark_fuzz::audit`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| waymark_fuzz::audit("INFA_SESSION", data));
