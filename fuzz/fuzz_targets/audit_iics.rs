//! Fuzz target `audit_iics`: the IICS job log audit extractor, with the invariants of
//! [`waymark_fuzz::audit`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| waymark_fuzz::audit("IICS", data));
