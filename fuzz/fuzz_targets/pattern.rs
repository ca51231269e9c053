//! Fuzz target `pattern`: the fast matcher of configured regexes against `regex`, with the
//! invariants of [`waymark_fuzz::pattern`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| waymark_fuzz::pattern(data));
