//! The logic of Remit's fuzz targets, one module per target.
//!
//! Every `fuzz_targets/<name>.rs` is a one-line wrapper around `<name>::run(&[u8])`, so the
//! same code runs under libFuzzer and under `cargo test --manifest-path fuzz/Cargo.toml`, which
//! replays the committed corpus (tests/corpus.rs). Each `run` asserts invariants, not merely
//! "did not panic": a failed assertion is a crash to libFuzzer.
//!
//! Structure-aware targets decode their input with [`arbitrary::Unstructured`]; the others
//! take the bytes as they come.

pub mod cli_input;
pub mod client_records;
pub mod fixtures;
pub mod pay_content;
pub mod pay_money;
pub mod pay_thread;
pub mod relay_client;
pub mod relay_core;
pub mod session_decrypt;
pub mod session_interaction;
pub mod session_records;
pub mod wire_decode;
pub mod wire_frames;

/// A target's name and its entry point.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, by name: what the corpus replay test and `.ci/fuzz` iterate over.
pub const TARGETS: [Target; 12] = [
    ("wire_decode", wire_decode::run),
    ("wire_frames", wire_frames::run),
    ("session_decrypt", session_decrypt::run),
    ("session_interaction", session_interaction::run),
    ("session_records", session_records::run),
    ("pay_money", pay_money::run),
    ("pay_content", pay_content::run),
    ("pay_thread", pay_thread::run),
    ("relay_core", relay_core::run),
    ("relay_client", relay_client::run),
    ("cli_input", cli_input::run),
    ("client_records", client_records::run),
];
