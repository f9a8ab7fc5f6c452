#![no_main]
//! See `remit_fuzz::relay_client` for the invariants this target asserts.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| remit_fuzz::relay_client::run(data));
