//! Compiles proto/remit/v1/*.proto with protox (pure Rust: no system `protoc` needed) and
//! generates the prost types into OUT_DIR/remit.v1.rs.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read at run time, not with env!: a build-script binary must not carry the path of the
    // checkout it was first compiled in.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR")?;
    let root = std::path::Path::new(&manifest_dir).join("../../proto");
    let files = ["session.proto", "content.proto", "relay.proto"]
        .map(|name| root.join("remit/v1").join(name));
    println!("cargo:rerun-if-changed={}", root.display());
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let descriptors = protox::compile(&files, [&root])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
