//! Compiles `proto/neardup/v1/neardup.proto` into Rust in `OUT_DIR` when feature `server`
//! is on: protox parses it in pure Rust (no `protoc` on the machine), the encoded
//! descriptor set is kept for server reflection, and tonic-prost-build generates the
//! messages, the client and the server from it.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Otherwise cargo reruns this script whenever any file of the package changes.
    println!("cargo:rerun-if-changed=build.rs");
    // Without the feature the build dependencies are not even compiled in.
    #[cfg(feature = "server")]
    compile_proto()?;
    Ok(())
}

#[cfg(feature = "server")]
fn compile_proto() -> Result<(), Box<dyn std::error::Error>> {
    use prost::Message as _;

    const PROTO: &str = "proto/neardup/v1/neardup.proto";
    // tonic-prost-build's own rerun option does nothing in 0.14, so say it ourselves.
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile([PROTO], ["proto"])?;
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("neardup_descriptor.bin"), descriptors.encode_to_vec())?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
