//! Writes the payment known-answer vectors: `cargo run -p remit-pay --example payment_vectors --
//! spec/vectors`. tests/vectors.rs regenerates them and compares byte for byte.

#[path = "../tests/support/gen.rs"]
mod generator;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "spec/vectors".into());
    for (name, text) in generator::generate()? {
        let path = std::path::Path::new(&dir).join(&name);
        std::fs::write(&path, text)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
