//! Writes the remit-session known-answer vectors.
//!
//! `cargo run -p remit-session --example session_vectors -- spec/vectors`
//! (the directory argument is relative to the workspace root when run from there).

#[path = "../tests/common/vectors.rs"]
mod vectors;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "spec/vectors".into());
    std::fs::create_dir_all(&dir)?;
    for (name, generate) in vectors::FILES {
        let path = std::path::Path::new(&dir).join(name);
        let mut text = serde_json::to_string_pretty(&generate())?;
        text.push('\n');
        std::fs::write(&path, text)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
