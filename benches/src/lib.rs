//! Benchmarks live in `benches/`; this library is empty. See `benches/README.md` for how to run
//! them and the figures measured on the project's machine.
#![forbid(unsafe_code)]
