#![no_main]
//! See `remit_fuzz::cli_input` for the invariants this target asserts.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| remit_fuzz::cli_input::run(data));
