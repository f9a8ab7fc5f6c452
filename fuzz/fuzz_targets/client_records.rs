#![no_main]
//! See `remit_fuzz::client_records` for the invariants this target asserts.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| remit_fuzz::client_records::run(data));
