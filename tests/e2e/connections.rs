//! Connections are bounded: streams per connection, handshake and idle deadlines (gRPC,
//! web hook and metrics listeners), the connection bound at the open-files limit, accept
//! errors backed off, and content types other than gRPC and gRPC-Web answered with HTTP 415.
//! HTTP/1.1 connections (gRPC-Web, the composer page) meet the same deadlines.

use std::future::Future;
use std::time::{Duration, Instant};

use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::TestServer;
use shortcuts::pb;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const SETTINGS: u8 = 0x4;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const END_HEADERS: u8 = 0x4;
const MAX_CONCURRENT_STREAMS: u16 = 0x3;
const REFUSED_STREAM: u32 = 0x7;
const LIST: &str = "/shortcuts.v1.ShortcutService/ListShortcuts";

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A HEADERS frame opening a gRPC call that never sends its message: the call stays in
/// flight. HPACK literals without indexing, so no table state is needed.
fn open_call(stream: u32) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", LIST),
        (":authority", "localhost"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ] {
        block.push(0x00);
        block.push(name.len() as u8);
        block.extend_from_slice(name.as_bytes());
        block.push(value.len() as u8);
        block.extend_from_slice(value.as_bytes());
    }
    frame(HEADERS, END_HEADERS, stream, &block)
}

/// A connection that has sent the whole HTTP/2 client preface.
async fn greeted(addr: std::net::SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut hello = PREFACE.to_vec();
    hello.extend(frame(SETTINGS, 0, 0, &[]));
    tcp.write_all(&hello).await.unwrap();
    tcp
}

/// The next frame (type, flags, stream, payload); `None` once the server has closed.
async fn read_frame(tcp: &mut TcpStream) -> Option<(u8, u8, u32, Vec<u8>)> {
    let mut header = [0u8; 9];
    tcp.read_exact(&mut header).await.ok()?;
    let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
    let mut payload = vec![0; len];
    tcp.read_exact(&mut payload).await.ok()?;
    let stream = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff;
    Some((header[3], header[4], stream, payload))
}

/// Whether the server closes `tcp` within `wait`, reading (and dropping) whatever it sends.
async fn closed_within(tcp: &mut TcpStream, wait: Duration) -> bool {
    tokio::time::timeout(wait, async {
        let mut sink = [0u8; 4096];
        loop {
            match tcp.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// Everything the server sends on `tcp` until it closes it (bounded by `wait`).
async fn read_until_closed(tcp: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut all = Vec::new();
    tokio::time::timeout(wait, async {
        let mut chunk = [0u8; 4096];
        loop {
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => all.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .ok()?;
    Some(String::from_utf8_lossy(&all).into_owned())
}

/// The address the server logs after `marker` (`metrics served at http://…/metrics`).
fn logged_addr(server: &TestServer, marker: &str) -> std::net::SocketAddr {
    let line = server.wait_for_log(|l| l.contains(marker));
    let url = line.split(marker).nth(1).unwrap();
    let hostport = url.trim_start_matches("http://").split('/').next().unwrap();
    hostport.parse().unwrap()
}

async fn metric(server: &TestServer, name: &str, labels: &[&str]) -> f64 {
    let addr = logged_addr(server, "metrics served at ");
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn store(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("s.db")
}

#[tokio::test]
async fn streams_beyond_the_per_connection_cap_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(store(&dir), &["--max-streams-per-connection", "8"]);
    let mut tcp = greeted(server.addr).await;
    let mut calls = Vec::new();
    for i in 0..20u32 {
        calls.extend(open_call(1 + 2 * i));
    }
    tcp.write_all(&calls).await.unwrap();

    let mut advertised = None;
    let mut refused = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while refused.len() < 12 && Instant::now() < deadline {
        let Ok(Some((kind, flags, stream, payload))) =
            tokio::time::timeout_at(deadline.into(), read_frame(&mut tcp)).await
        else {
            break;
        };
        if kind == SETTINGS && flags & 1 == 0 {
            for setting in payload.chunks(6) {
                if u16::from_be_bytes([setting[0], setting[1]]) == MAX_CONCURRENT_STREAMS {
                    advertised = Some(u32::from_be_bytes([
                        setting[2], setting[3], setting[4], setting[5],
                    ]));
                }
            }
        }
        if kind == RST_STREAM
            && u32::from_be_bytes(payload[..4].try_into().unwrap()) == REFUSED_STREAM
        {
            refused.push(stream);
        }
    }
    assert_eq!(advertised, Some(8), "SETTINGS_MAX_CONCURRENT_STREAMS");
    let beyond: Vec<u32> = (8..20).map(|i| 1 + 2 * i).collect();
    assert_eq!(refused, beyond, "the streams beyond the 8th are refused");
}

/// A ListShortcuts call over a plain HTTP/2 client, with `content_type` (none if `None`):
/// the HTTP status and the `grpc-status` (header or trailer).
async fn call_with_content_type(
    send: &mut h2::client::SendRequest<bytes::Bytes>,
    addr: std::net::SocketAddr,
    content_type: Option<&str>,
) -> (u16, Option<String>) {
    let mut request = http::Request::post(format!("http://{addr}{LIST}")).header("te", "trailers");
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let message = pb::ListShortcutsRequest {
        workspace_id: "demo".into(),
        ..Default::default()
    }
    .encode_to_vec();
    let mut body = vec![0u8];
    body.extend((message.len() as u32).to_be_bytes());
    body.extend(message);
    let mut ready = send.clone().ready().await.unwrap();
    let (response, mut stream) = ready
        .send_request(request.body(()).unwrap(), false)
        .unwrap();
    stream.send_data(body.into(), true).unwrap();
    let response = response.await.unwrap();
    let status = response.status().as_u16();
    let header = response
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_string());
    let mut body = response.into_body();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let trailer = body.trailers().await.unwrap().and_then(|t| {
        t.get("grpc-status")
            .map(|v| v.to_str().unwrap().to_string())
    });
    (status, header.or(trailer))
}

#[tokio::test]
async fn calls_that_are_not_grpc_get_415_and_grpc_ones_pass() {
    let server = TestServer::start();
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (mut send, connection) = h2::client::handshake(tcp).await.unwrap();
    let (advertised_tx, advertised) = tokio::sync::watch::channel(0usize);
    tokio::spawn(async move {
        let mut connection = connection;
        futures::future::poll_fn(|cx| {
            let polled = std::pin::Pin::new(&mut connection).poll(cx);
            let _ = advertised_tx.send(connection.max_concurrent_send_streams());
            polled
        })
        .await
    });

    for content_type in [
        Some("application/json"),
        Some("text/plain"),
        None,
        Some("application/grpc-webx"),
        Some("application/grpcx"),
    ] {
        let (status, grpc_status) =
            call_with_content_type(&mut send, server.addr, content_type).await;
        assert_eq!(status, 415, "{content_type:?}");
        assert_eq!(
            grpc_status, None,
            "{content_type:?} must not look like a gRPC answer"
        );
    }
    for content_type in [
        "application/grpc",
        "application/grpc+proto",
        "application/grpc; charset=utf-8",
    ] {
        let (status, grpc_status) =
            call_with_content_type(&mut send, server.addr, Some(content_type)).await;
        assert_eq!(status, 200, "{content_type}");
        assert_eq!(grpc_status.as_deref(), Some("0"), "{content_type}");
    }
    // gRPC-Web passes too (its status travels in the body, not in HTTP trailers).
    for content_type in [
        "application/grpc-web",
        "application/grpc-web+proto",
        "application/grpc-web-text",
    ] {
        let (status, _) = call_with_content_type(&mut send, server.addr, Some(content_type)).await;
        assert_eq!(status, 200, "{content_type}");
    }
    // The default cap is announced to every client.
    assert_eq!(*advertised.borrow(), 256);
}

#[tokio::test]
async fn idle_connections_are_closed_and_busy_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(
        store(&dir),
        &["--idle-timeout", "1s", "--metrics-listen", "127.0.0.1:0"],
    );
    let opened = Instant::now();
    let mut idle = greeted(server.addr).await;
    let mut busy = greeted(server.addr).await;
    busy.write_all(&open_call(1)).await.unwrap();

    assert!(
        closed_within(&mut idle, Duration::from_secs(10)).await,
        "an idle connection stays open"
    );
    assert!(
        opened.elapsed() >= Duration::from_millis(900),
        "closed after {:?}, before the idle timeout",
        opened.elapsed()
    );
    // The busy connection has a call in flight: past twice the timeout it is still open.
    assert!(
        !closed_within(&mut busy, Duration::from_millis(1500)).await,
        "a connection with a call in flight was closed as idle"
    );
    let closed = metric(
        &server,
        "shortcuts_connections_closed_total",
        &["listener=\"grpc\"", "reason=\"idle_timeout\""],
    )
    .await;
    assert!(closed >= 1.0, "idle closes counted: {closed}");

    // A client whose connection was closed while idle just reconnects.
    let mut client = server.client().await;
    client
        .list_shortcuts(pb::ListShortcutsRequest {
            workspace_id: "demo".into(),
            ..Default::default()
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn connections_that_do_not_finish_the_preface_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(store(&dir), &["--handshake-timeout", "1s"]);
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let mut partial = TcpStream::connect(server.addr).await.unwrap();
    partial.write_all(&PREFACE[..10]).await.unwrap();
    let mut complete = greeted(server.addr).await;

    assert!(
        closed_within(&mut silent, Duration::from_secs(10)).await,
        "a connection that sends nothing stays open"
    );
    assert!(
        closed_within(&mut partial, Duration::from_secs(10)).await,
        "a connection that stops inside the preface stays open"
    );
    assert!(
        !closed_within(&mut complete, Duration::from_millis(500)).await,
        "a connection that sent its preface was closed by the handshake timeout"
    );
}

#[tokio::test]
async fn web_hook_and_metrics_requests_must_arrive_within_the_handshake_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(
        store(&dir),
        &[
            "--handshake-timeout",
            "1s",
            "--webhook-listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    let hooks = logged_addr(&server, "crisp web hooks accepted at ");
    let metrics = logged_addr(&server, "metrics served at ");

    let mut unfinished_hook = TcpStream::connect(hooks).await.unwrap();
    unfinished_hook
        .write_all(b"POST /crisp HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut slow_body = TcpStream::connect(hooks).await.unwrap();
    slow_body
        .write_all(b"POST /crisp HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        .await
        .unwrap();
    let mut unfinished_scrape = TcpStream::connect(metrics).await.unwrap();
    unfinished_scrape
        .write_all(b"GET /metrics HTTP/1.1\r\n")
        .await
        .unwrap();

    assert!(
        closed_within(&mut unfinished_hook, Duration::from_secs(10)).await,
        "a web hook connection with unfinished headers stays open"
    );
    let answer = read_until_closed(&mut slow_body, Duration::from_secs(10))
        .await
        .expect("a web hook connection with an unfinished body stays open");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("--handshake-timeout"), "{answer}");
    assert!(
        closed_within(&mut unfinished_scrape, Duration::from_secs(10)).await,
        "a metrics connection with unfinished headers stays open"
    );
    // A whole request is still served.
    let scraped = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
}

/// The case: more idle clients than the open-files limit allows. New clients get in
/// because the longest-idle connections make room for them.
#[tokio::test]
async fn at_the_open_files_limit_idle_connections_make_room_for_new_clients() {
    let dir = tempfile::tempdir().unwrap();
    let path = store(&dir);
    let server = TestServer::start_under(&["prlimit", "--nofile=256:256"], path.as_os_str(), &[]);
    server.wait_for_log(|l| l.contains("connection limits") && l.contains("max_connections=192"));
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(greeted(server.addr).await);
    }
    let started = Instant::now();
    let mut client = server.client().await;
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        client.list_shortcuts(pb::ListShortcutsRequest {
            workspace_id: "demo".into(),
            ..Default::default()
        }),
    )
    .await
    .expect("a new client did not get in within 10 s")
    .unwrap();
    assert!(!answer.into_inner().shortcuts.is_empty());
    eprintln!("a new client got in after {:?}", started.elapsed());
    // The first connections, idle the longest, made room.
    assert!(closed_within(&mut idle[0], Duration::from_secs(5)).await);
}

/// CPU seconds the process has used (user + system).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of stat(5); index 0 here is field 3.
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

#[tokio::test]
async fn accept_errors_back_off_and_are_logged_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = store(&dir);
    // A bound above the descriptor limit, so that accepts fail with EMFILE.
    let server = TestServer::start_under(
        &["prlimit", "--nofile=128:128"],
        path.as_os_str(),
        &[
            "--max-connections",
            "100000",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    let _ = logged_addr(&server, "metrics served at ");
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(greeted(server.addr).await);
    }
    let line = server.wait_for_log(|l| l.contains("cannot accept connections"));
    assert!(
        line.contains("fd_limit") && line.contains("ulimit"),
        "{line}"
    );

    let before = cpu_seconds(server.pid());
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_seconds(server.pid()) - before;
    let share = used / window.elapsed().as_secs_f64();
    eprintln!(
        "server CPU at the open-files limit: {:.0}% of a core",
        share * 100.0
    );
    assert!(
        share < 0.25,
        "the server burns {:.0}% of a core at the limit",
        share * 100.0
    );

    // Once descriptors are free again, clients are served and the failures were counted.
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let counted = tokio::time::timeout(
            Duration::from_secs(2),
            metric(
                &server,
                "shortcuts_accept_errors_total",
                &["listener=\"grpc\"", "kind=\"fd_limit\""],
            ),
        )
        .await;
        if let Ok(counted) = counted {
            assert!(counted >= 1.0, "accept errors not counted: {counted}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the metrics endpoint never answered"
        );
    }
    let mut client = server.client().await;
    client
        .list_shortcuts(pb::ListShortcutsRequest {
            workspace_id: "demo".into(),
            ..Default::default()
        })
        .await
        .unwrap();
}

/// A whole gRPC-Web ListShortcuts request over HTTP/1.1, as raw bytes.
fn http1_grpc_web_request() -> Vec<u8> {
    let message = pb::ListShortcutsRequest {
        workspace_id: "demo".into(),
        ..Default::default()
    }
    .encode_to_vec();
    let mut body = vec![0u8];
    body.extend((message.len() as u32).to_be_bytes());
    body.extend(message);
    let mut request = format!(
        "POST {LIST} HTTP/1.1\r\nHost: x\r\nContent-Type: application/grpc-web+proto\r\nX-Grpc-Web: 1\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend(body);
    request
}

/// Reads one HTTP/1.1 response to a gRPC-Web call (headers and a body with its trailer
/// frame) and returns it as text.
async fn read_http1_answer(tcp: &mut TcpStream) -> String {
    let mut all = Vec::new();
    let mut chunk = [0u8; 4096];
    while !String::from_utf8_lossy(&all).contains("grpc-status") {
        let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut chunk))
            .await
            .expect("an answer within 10 s")
            .unwrap();
        assert!(
            n > 0,
            "closed before answering: {}",
            String::from_utf8_lossy(&all)
        );
        all.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&all).into_owned()
}

#[tokio::test]
async fn http1_connections_meet_the_handshake_and_idle_deadlines() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(
        store(&dir),
        &["--handshake-timeout", "1s", "--idle-timeout", "2s"],
    );
    let opened = Instant::now();
    // Headers that never end: the handshake deadline.
    let mut unfinished = TcpStream::connect(server.addr).await.unwrap();
    unfinished
        .write_all(format!("POST {LIST} HTTP/1.1\r\nHost: x\r\n").as_bytes())
        .await
        .unwrap();
    // A body that never ends: it must arrive within the handshake timeout too.
    let mut slow_body = TcpStream::connect(server.addr).await.unwrap();
    slow_body
        .write_all(
            format!("POST {LIST} HTTP/1.1\r\nHost: x\r\nContent-Type: application/grpc-web\r\nContent-Length: 100\r\n\r\n\0")
                .as_bytes(),
        )
        .await
        .unwrap();
    // A served request, then silence: the idle deadline.
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(&http1_grpc_web_request()).await.unwrap();
    let answer = read_http1_answer(&mut idle).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("grpc-status:0"), "{answer}");
    let served = Instant::now();

    assert!(
        closed_within(&mut unfinished, Duration::from_secs(10)).await,
        "an HTTP/1.1 connection with unfinished headers stays open"
    );
    assert!(
        opened.elapsed() >= Duration::from_millis(900),
        "closed after {:?}, before the handshake timeout",
        opened.elapsed()
    );
    let answer = read_until_closed(&mut slow_body, Duration::from_secs(10))
        .await
        .expect("an HTTP/1.1 connection with an unfinished body stays open");
    assert!(
        answer.contains("grpc-status: 4") || answer.contains("grpc-status:4"),
        "{answer}"
    );
    assert!(answer.contains("--handshake-timeout"), "{answer}");
    assert!(
        closed_within(&mut idle, Duration::from_secs(10)).await,
        "an idle HTTP/1.1 connection stays open"
    );
    assert!(
        served.elapsed() >= Duration::from_millis(1900),
        "closed after {:?}, before the idle timeout",
        served.elapsed()
    );
}
