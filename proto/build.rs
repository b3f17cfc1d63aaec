//! Compiles `eidas/bridge/v1/*.proto` with protox (a pure-Rust protobuf compiler), so building needs no
//! system `protoc`. The encoded descriptor set is kept for gRPC server reflection.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "eidas/bridge/v1/common.proto",
    "eidas/bridge/v1/trust.proto",
    "eidas/bridge/v1/identity.proto",
    "eidas/bridge/v1/addressing.proto",
    "eidas/bridge/v1/exchange.proto",
    "eidas/bridge/v1/peer.proto",
    "eidas/bridge/v1/journal.proto",
];

/// Benchmark-only services (`eidas-bridge bench`): generated in their own package and left out of
/// the descriptor set above, so reflection never advertises what the gateway does not serve.
const BENCH_PROTOS: &[&str] = &["eidas/bridge/bench/v1/bench.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS.iter().chain(BENCH_PROTOS) {
        println!("cargo:rerun-if-changed={proto}");
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptors = protox::compile(PROTOS, ["."])?;
    let encoded = prost::Message::encode_to_vec(&descriptors);
    std::fs::write(out_dir.join("eidas_bridge_v1_descriptor.bin"), encoded)?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(protox::compile(BENCH_PROTOS, ["."])?)?;
    Ok(())
}
