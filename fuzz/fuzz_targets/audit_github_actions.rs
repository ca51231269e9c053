//! Fuzz target `audit_github_actions`: the GITHUB_ACTIONS audit extractor, with the invariants of
//! [`waymark_fuzz::audit`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| waymark_fuzz::audit("GITHUB_ACTIONS", data));
