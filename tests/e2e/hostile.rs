//! Hostile input: malformed protobuf, control characters, huge and deeply nested values,
//! templates that try to escape or run away. Every one gets a clear status and the server
//! keeps serving.

use bytes::{Buf, BufMut};
use serde_json::json;
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use crate::harness::TestServer;
use crate::{DEMO, JANE, assert_status, create, inline, structure};
use shortcuts::pb;

/// Sends bytes as they are, to put malformed protobuf on the wire.
#[derive(Clone, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        Ok(Some(buf.copy_to_bytes(buf.remaining()).to_vec()))
    }
}

async fn still_serving(server: &TestServer) {
    let reply = server
        .client()
        .await
        .render_template(inline("ok <<contact.plan>>", JANE))
        .await
        .expect("the server still answers")
        .into_inner();
    assert_eq!(reply.text, "ok pro");
}

#[tokio::test]
async fn malformed_protobuf_is_refused() {
    let server = TestServer::start();
    let mut grpc = tonic::client::Grpc::new(server.channel().await);
    // CreateShortcutRequest{workspace_id: "demo", bang: <invalid UTF-8>}
    let mut message = vec![0x0a, 4];
    message.extend_from_slice(b"demo");
    message.extend_from_slice(&[0x12, 3, 0xff, 0xfe, 0x80]);
    for bytes in [message, vec![0x0a, 200, 1]] {
        grpc.ready().await.unwrap();
        let path =
            http::uri::PathAndQuery::from_static("/shortcuts.v1.ShortcutService/CreateShortcut");
        let status = grpc
            .unary(tonic::Request::new(bytes), path, RawCodec)
            .await
            .expect_err("malformed protobuf is refused");
        // gRPC's status-code table files protobuf parse failures under INTERNAL.
        assert_eq!(status.code(), Code::Internal, "{status:?}");
        assert!(
            status.message().contains("decode")
                || status.message().contains("UTF-8")
                || status.message().contains("buffer"),
            "{status:?}"
        );
    }
    still_serving(&server).await;
}

#[tokio::test]
async fn control_characters_and_huge_values_are_refused_by_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("s.db"), &["--max-request-bytes", "3145728"]);
    let mut client = server.client().await;
    let mut request = create(DEMO, "ok-bang", "body");
    request.title = "bad\0title".into();
    assert_status(
        client.create_shortcut(request).await,
        Code::InvalidArgument,
        &["title", "U+0000"],
    );
    assert_status(
        client.create_shortcut(create(DEMO, "nul\0bang", "x")).await,
        Code::InvalidArgument,
        &["bang"],
    );
    assert_status(
        client
            .create_shortcut(create(DEMO, "nul-body", "hi\0there"))
            .await,
        Code::InvalidArgument,
        &["body", "U+0000"],
    );
    let mut request = create(DEMO, "nul-tag", "x");
    request.tags = vec!["fine".into(), "bad\u{1b}tag".into()];
    assert_status(
        client.create_shortcut(request).await,
        Code::InvalidArgument,
        &["tags[1]"],
    );
    assert_status(
        client.render_template(inline("x", "jane\0")).await,
        Code::InvalidArgument,
        &["contact_id"],
    );

    let huge_bang = "b".repeat(1024 * 1024);
    let status = assert_status(
        client.create_shortcut(create(DEMO, &huge_bang, "x")).await,
        Code::InvalidArgument,
        &["bang", "64"],
    );
    assert!(
        status.message().len() < 200,
        "the error does not echo the value"
    );
    let status = client
        .create_shortcut(create(DEMO, "too-big", &"x".repeat(5 * 1024 * 1024)))
        .await
        .expect_err("a 5 MiB request is refused");
    assert!(
        matches!(status.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{status:?}"
    );

    // Nesting: refused by our limit, or by protobuf's own decoder beyond it.
    for depth in [20, 120] {
        let mut nested = json!("deep");
        for _ in 0..depth {
            nested = json!({ "x": nested });
        }
        let mut request = inline("<<vars.x>>", JANE);
        request.vars = Some(structure(nested.as_object().unwrap().clone().into()));
        let status = client.render_template(request).await.expect_err("too deep");
        assert!(
            matches!(status.code(), Code::InvalidArgument | Code::Internal),
            "{status:?}"
        );
        if depth == 20 {
            assert!(
                status.message().contains("vars") && status.message().contains("deeper"),
                "{status:?}"
            );
        }
    }
    still_serving(&server).await;
}

#[tokio::test]
async fn templates_cannot_escape_include_themselves_or_run_away() {
    let server = TestServer::start();
    let mut client = server.client().await;
    for body in [
        "{% include \"body\" %}",
        "{% include \"/etc/passwd\" %}",
        "{% import \"body\" as me %}",
        "{% extends \"body\" %}",
        "<<env.PATH>>",
        "<<config>>",
        "<<__emit>>",
    ] {
        assert_status(
            client.create_shortcut(create(DEMO, "escape", body)).await,
            Code::InvalidArgument,
            &["body", "line 1"],
        );
    }
    let secret_path = std::env::var("PATH").unwrap();
    for body in [
        "<<self>>|<<range>>|<<dict()>>|<<namespace()>>|<<\"x\".__class__>>|<<range.__globals__>>|<<contact.__dict__>>",
        "{% set x = contact %}<<x.__init__>><<x.items()>>",
        "{% macro m() %}<<m()>>{% endmacro %}<<m()>>",
    ] {
        match client.render_template(inline(body, JANE)).await {
            Ok(reply) => {
                let text = reply.into_inner().text;
                assert!(
                    !text.contains("root:") && !text.contains(&secret_path),
                    "{body}: {text}"
                );
            }
            Err(status) => assert!(
                matches!(
                    status.code(),
                    Code::ResourceExhausted | Code::FailedPrecondition
                ),
                "{body}: {status:?}"
            ),
        }
    }
    for body in [
        "{% for i in range(-9223372036854775807, 9223372036854775807) %}x{% endfor %}",
        "{% for i in range(0, 100000000000, 1) %}{% endfor %}",
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
        "<<\"x\" * 100000000>>",
    ] {
        assert_status(
            client.render_template(inline(body, JANE)).await,
            Code::ResourceExhausted,
            &[],
        );
    }
    still_serving(&server).await;
    let _ = pb::DeleteShortcutResponse {};
}
