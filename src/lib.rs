//! Shortcut replies: canned chat answers rendered with contact and session data.
//!
//! Data flows one way: request -> [`api`] -> [`render`] -> ([`catalog`], [`data`]) ->
//! [`template`] -> response. The API layer translates protobuf to domain types and maps
//! errors to statuses; the domain modules know nothing of protobuf. The top-level modules
//! form layers with no cycle between them (docs/architecture.md, "Layers"); `tests/layers.rs`
//! enforces the order.

pub mod api;
pub mod auth;
pub mod batch;
pub mod catalog;
pub mod config;
pub mod connections;
pub mod data;
pub mod describe;
pub mod error;
pub mod ids;
pub mod import;
pub mod limits;
pub mod pb;
pub mod render;
pub mod seed;
pub mod server;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod template;
pub mod workspace;
