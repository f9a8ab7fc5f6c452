//! The library half of the `remit` command line: what it reads from people and files, parsed
//! where tests and the fuzzer (`fuzz/`, target `cli_input`) can reach it without a relay. The
//! commands themselves are in the `remit` binary (src/main.rs).
//!
//! The public interface is the [`input`] module; it serves the binary, its tests and the fuzz
//! target, and makes no promise to other users. The binary's test hooks are compiled only with
//! the `internal` feature, which the crate's tests turn on and a shipped binary never has.
#![forbid(unsafe_code)]

pub mod input;
