//! Compiles `proto/` with protox (pure Rust, no system `protoc`) and writes the descriptor
//! set that server reflection serves.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/shortcuts/v1/shortcuts.proto"];
    println!("cargo:rerun-if-changed=proto");

    let fds = protox::compile(protos, ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("shortcuts_descriptor.bin"),
        fds.encode_to_vec(),
    )?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // Methods added to a service later (ContactDataSourceService.ListContacts) answer
        // UNIMPLEMENTED in servers written before them instead of breaking their build.
        .generate_default_stubs(true)
        .compile_fds(fds)?;
    Ok(())
}
