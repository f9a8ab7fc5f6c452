//! Replays the committed corpus of every target (fuzz/corpus/<target>/) through the same code
//! the fuzzer runs, so `cargo test --manifest-path fuzz/Cargo.toml` re-checks every input that
//! ever found new coverage, and every minimized crash added there.

use std::path::Path;

#[test]
fn corpus_replays() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (name, run) in remit_fuzz::TARGETS {
        let dir = root.join(name);
        let mut count = 0;
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries {
                let path = entry.expect("corpus entry").path();
                let data = std::fs::read(&path).expect("corpus file");
                run(&data);
                count += 1;
            }
        }
        assert!(count > 0, "no corpus for {name} in {}", dir.display());
    }
}
