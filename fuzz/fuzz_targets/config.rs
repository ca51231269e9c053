//! Fuzz target `config`: see [`waymark_fuzz::config`] for the invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| waymark_fuzz::config(data));
