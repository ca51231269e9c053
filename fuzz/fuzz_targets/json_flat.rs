//! Fuzz target `json_flat`: the JSON record scanner against `serde_json`, with the invariants
//! of [`waymark_fuzz::json_flat`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| waymark_fuzz::json_flat(data));
