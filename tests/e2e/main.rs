//! End-to-end tests: the real server binary over a real gRPC connection on loopback.

mod attachments;
mod audiences;
mod authoring;
mod batch;
mod compiled;
mod connections;
mod consistency;
mod crash;
mod crud;
mod data_file;
mod data_sources;
mod details;
mod folders;
mod formatting;
mod harness;
mod holes;
mod hostile;
mod import;
mod inputs;
mod language;
mod lazy;
mod limits;
mod observability;
mod readme;
mod render;
mod replicas;
mod search;
mod security;
mod server;
mod snippets;
mod store_outage;
mod usage;
mod variants;
mod visibility;
mod warnings;
mod web;
mod workspaces;
mod zendesk_export;

use shortcuts::pb;

pub const DEMO: &str = "demo";
pub const JANE: &str = "8b5f4e1e-3c0a-4c5e-9f3e-2a7d1c0b9e11";
pub const NO_PLAN_CONTACT: &str = "5a7c9e11-2b4d-4f6a-8c1e-3d5f7b9a0c33";
pub const HOSTILE_CONTACT: &str = "c3e1a5f7-9b2d-4e6f-8a0c-1d3f5b7e9a44";
pub const JANE_SESSION: &str = "session_4f8a2b6c-1d3e-4a5b-9c7d-8e0f1a2b3c4d";
pub const ACME_CONTACT: &str = "11111111-2222-4333-8444-555555555555";

pub fn create(workspace: &str, bang: &str, body: &str) -> pb::CreateShortcutRequest {
    pb::CreateShortcutRequest {
        workspace_id: workspace.into(),
        bang: bang.into(),
        title: format!("Title of {bang}"),
        body: body.into(),
        ..Default::default()
    }
}

pub fn inline(body: &str, contact_id: &str) -> pb::RenderTemplateRequest {
    pb::RenderTemplateRequest {
        workspace_id: DEMO.into(),
        body: body.into(),
        contact_id: contact_id.into(),
        ..Default::default()
    }
}

/// A `google.protobuf.Struct` from JSON.
pub fn structure(json: serde_json::Value) -> prost_types::Struct {
    fn value(json: serde_json::Value) -> prost_types::Value {
        use prost_types::value::Kind;
        let kind = match json {
            serde_json::Value::Null => Kind::NullValue(0),
            serde_json::Value::Bool(b) => Kind::BoolValue(b),
            serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap()),
            serde_json::Value::String(s) => Kind::StringValue(s),
            serde_json::Value::Array(a) => Kind::ListValue(prost_types::ListValue {
                values: a.into_iter().map(value).collect(),
            }),
            serde_json::Value::Object(_) => Kind::StructValue(structure(json)),
        };
        prost_types::Value { kind: Some(kind) }
    }
    match json {
        serde_json::Value::Object(map) => prost_types::Struct {
            fields: map.into_iter().map(|(k, v)| (k, value(v))).collect(),
        },
        other => panic!("not an object: {other}"),
    }
}

/// A shortcut as a read returns it, from a write's answer: the same, without the consistency
/// token that only a write hands out (see consistency.rs).
#[track_caller]
pub fn as_read(written: &pb::Shortcut) -> pb::Shortcut {
    assert!(
        !written.consistency_token.is_empty(),
        "a write's answer has a token"
    );
    pb::Shortcut {
        consistency_token: String::new(),
        ..written.clone()
    }
}

/// Asserts a call failed with `code` and a message containing every one of `needles`.
#[track_caller]
pub fn assert_status<T: std::fmt::Debug>(
    result: Result<tonic::Response<T>, tonic::Status>,
    code: tonic::Code,
    needles: &[&str],
) -> tonic::Status {
    let status = result.expect_err("the call should have failed");
    assert_eq!(status.code(), code, "{status:?}");
    for needle in needles {
        assert!(
            status.message().contains(needle),
            "{:?} does not mention {needle:?}",
            status.message()
        );
    }
    status
}
