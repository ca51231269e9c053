//! Fuzz target `lineage`: the OpenLineage RunEvent parser, with the invariants of
//! [`waymark_fuzz::lineage`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| waymark_fuzz::lineage(data));
