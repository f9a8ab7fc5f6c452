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

/// Writes the `client_records` seeds: the engine's records built by
/// `remit_client::internal::samples`, and (run with `PAY_THREAD_RECORDS=DIR` set, after
/// replaying the `pay_thread` corpus, which then writes every thread record it saves) the
/// payment thread records found in `DIR`, each behind its selector byte:
/// `PAY_THREAD_RECORDS=/tmp/rmpt cargo test --manifest-path fuzz/Cargo.toml --release -- --ignored --test-threads 1`
#[test]
#[ignore = "writes seed files into fuzz/corpus/client_records"]
fn write_client_records_seeds() {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/client_records");
    std::fs::create_dir_all(&out).expect("corpus directory");
    for (i, seed) in remit_fuzz::client_records::seeds().into_iter().enumerate() {
        std::fs::write(out.join(format!("seed-engine-{i}")), seed).expect("write seed");
    }
    let Some(dir) = std::env::var_os("PAY_THREAD_RECORDS") else {
        return;
    };
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/pay_thread");
    for entry in std::fs::read_dir(corpus).expect("pay_thread corpus") {
        remit_fuzz::pay_thread::run(&std::fs::read(entry.expect("entry").path()).expect("read"));
    }
    for entry in std::fs::read_dir(&dir).expect("PAY_THREAD_RECORDS") {
        let path = entry.expect("entry").path();
        let mut input = vec![3u8];
        input.extend(std::fs::read(&path).expect("read"));
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        std::fs::write(out.join(format!("seed-thread-{name}")), input).expect("write seed");
    }
}
