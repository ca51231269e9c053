//! Fuzz target `record`: see [`waymark_fuzz::record`] for the invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| waymark_fuzz::record(data));
