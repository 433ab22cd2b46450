//! Accepted gRPC connections: TCP_NODELAY, and writes shaped so that a whole small reply
//! leaves in one system call.
//!
//! Why this exists: h2 sends DATA payloads of 256 bytes or more as a separate buffer of
//! a vectored write when the socket supports vectored writes, and it accepts no further
//! frame until that write is flushed. A typical rendered reply (300–1,000 bytes) therefore
//! went out as two `writev`s — headers and data, then the 10-byte trailers — and replies to
//! concurrent calls could not share a write. Measured with `bench/run.sh --pin` and
//! `/proc/<pid>/io`: ~2 writes per RenderShortcut against ~1 per health check, and twice the
//! server CPU per call. Reporting the socket as not vectored makes h2 copy payloads up to
//! 1 KiB into its 16 KiB write buffer instead, so headers, data and trailers of one reply
//! (and of others ready at the same time) leave together. Larger payloads are still
//! written without copying.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::{Stream, TryStreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tonic::transport::server::{Connected, TcpConnectInfo, TcpIncoming};

/// The connections accepted on `listener`, ready for tonic's `serve_with_incoming*`.
pub fn incoming(listener: TcpListener) -> impl Stream<Item = io::Result<Connection>> {
    // Replies are small writes; without TCP_NODELAY, Nagle's algorithm and delayed ACKs add
    // ~40 ms to a render.
    TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .map_ok(Connection)
}

/// One accepted TCP connection whose writes h2 coalesces (see the module documentation).
#[derive(Debug)]
pub struct Connection(TcpStream);

impl Connected for Connection {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.0.connect_info()
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        // The point of this type: h2 then copies small payloads into its write buffer.
        false
    }
}
