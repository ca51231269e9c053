//! Fuzz target `scan`: see [`waymark_fuzz::scan`] for the invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| waymark_fuzz::scan(data));
