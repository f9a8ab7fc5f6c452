//! The library half of the `remit` command line: what it reads from people and files, parsed
//! where tests and the fuzzer (`fuzz/`, target `cli_input`) can reach it without a relay. The
//! commands themselves are in the `remit` binary (src/main.rs).
#![forbid(unsafe_code)]

pub mod input;
