//! Generated tonic/prost code for the `eidas.bridge.v1` gRPC API. No logic lives here.
//!
//! The `.proto` sources are in `proto/eidas/bridge/v1/`; `build.rs` compiles them with protox,
//! so no system `protoc` is needed.
#![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]

/// The `eidas.bridge.v1` package.
pub mod pb {
    tonic::include_proto!("eidas.bridge.v1");
}

/// The benchmark-only `eidas.bridge.bench.v1` package (`BenchEcho`): served by
/// `eidas-bridge bench` as its baseline, never by the gateway, and absent from
/// [`FILE_DESCRIPTOR_SET`].
pub mod bench {
    tonic::include_proto!("eidas.bridge.bench.v1");
}

/// The encoded `FileDescriptorSet` of the package, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/eidas_bridge_v1_descriptor.bin"));
