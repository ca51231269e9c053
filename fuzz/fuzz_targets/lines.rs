//! Fuzz target `lines`: the line framer (`waymark_pipeline::lines::LineReader`) in chunks,
//! with the invariants of [`waymark_fuzz::lines`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| waymark_fuzz::lines(data));
