//! Fuzz target `audit_jenkins`: the JENKINS audit extractor, with the invariants of
//! [`waymark_fuzz::audit`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| waymark_fuzz::audit("JENKINS", data));
