#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ward::fuzzing::catalogue(data));
