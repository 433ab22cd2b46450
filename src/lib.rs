//! Shortcut replies: canned chat answers rendered with contact and session data.
//!
//! Data flows one way: request -> `api` -> `render` -> ([`catalog`], [`data`]) ->
//! [`template`] -> response. The API layer translates protobuf to domain types and maps
//! errors to statuses; the domain modules know nothing of protobuf. The top-level modules
//! form layers with no cycle between them (docs/architecture.md, "Layers"); `tests/layers.rs`
//! enforces the order.
//!
//! Public are only the modules the binary, the end-to-end tests, the benchmarks and the load
//! tools use (`scripts/test.sh` builds their documentation with warnings as errors); the
//! rest is private to the crate.

pub(crate) mod api;
pub mod audience;
pub(crate) mod auth;
pub(crate) mod batch;
pub mod catalog;
pub mod config;
pub(crate) mod connections;
pub mod data;
pub(crate) mod describe;
pub mod error;
pub mod ids;
pub(crate) mod import;
pub(crate) mod limits;
pub mod pb;
pub(crate) mod render;
pub mod seed;
pub mod server;
pub(crate) mod store;
pub(crate) mod sync;
pub(crate) mod telemetry;
pub mod template;
pub mod usage;
pub(crate) mod web;
pub(crate) mod workspace;
