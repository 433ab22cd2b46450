//! Generated protobuf and gRPC code for `shortcuts.v1`.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

tonic::include_proto!("shortcuts.v1");

/// The encoded descriptor set of our protos, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("shortcuts_descriptor");
