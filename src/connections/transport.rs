//! Accepted connections: TCP_NODELAY on gRPC's, and writes shaped so that a whole small
//! reply leaves in one system call.
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
//!
//! The same type enforces each connection's handshake and idle deadlines (see
//! [`super`]): they are looked at only when a read finds nothing to read, so
//! a busy connection does not pay for them.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;
use tonic::transport::server::Connected;

use super::{Acceptor, ConnInfo, ConnState, Handshake, Registry, Verdict};

/// The connections accepted on `listener` within `registry`'s limits, ready for tonic's
/// `serve_with_incoming*`.
pub fn incoming(
    listener: TcpListener,
    registry: Registry,
) -> impl Stream<Item = io::Result<Connection>> {
    Acceptor::new(listener, registry, nodelay)
}

/// Replies are small writes; without TCP_NODELAY, Nagle's algorithm and delayed ACKs add
/// ~40 ms to a render.
pub fn nodelay(stream: &TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY");
    }
}

/// The HTTP/2 client preface is this magic string, then a SETTINGS frame.
const MAGIC: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const PREFACE_MAGIC: usize = MAGIC.len();
const FRAME_HEADER: usize = 9;

/// One accepted TCP connection whose writes h2 coalesces (see the module documentation),
/// and whose reads end it once its handshake or idle deadline has passed.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    info: ConnInfo,
    registry: Registry,
    state: Arc<ConnState>,
    deadline: Pin<Box<Sleep>>,
    /// Bytes read so far while the HTTP/2 preface is awaited.
    preface_read: usize,
    /// The length of the preface's SETTINGS frame, as far as its header has been read.
    settings_len: usize,
    /// The first bytes were not the HTTP/2 magic: an HTTP/1.1 client (gRPC-Web, the
    /// composer page), greeted once its first request's headers are in ([`super::ActivityLayer`]
    /// marks that), so the handshake deadline still bounds a client that trickles them.
    http1: bool,
}

impl Connection {
    pub(crate) fn new(
        stream: TcpStream,
        registry: Registry,
        state: Arc<ConnState>,
        first_check: tokio::time::Instant,
    ) -> Self {
        let tcp = stream.connect_info();
        Connection {
            stream,
            info: ConnInfo::new(tcp, registry.clone(), state.clone()),
            registry,
            state,
            deadline: Box::pin(tokio::time::sleep_until(first_check)),
            preface_read: 0,
            settings_len: 0,
            http1: false,
        }
    }

    pub fn info(&self) -> ConnInfo {
        self.info.clone()
    }

    /// Follows the HTTP/2 client preface through `bytes`, the next ones read. Only the
    /// magic and the SETTINGS frame's length are looked at; h2 validates the rest. A first
    /// byte that differs from the magic means HTTP/1.1: scanning stops there.
    fn scan_preface(&mut self, bytes: &[u8]) {
        if self.http1 {
            return;
        }
        let start = self.preface_read;
        for (i, &byte) in bytes.iter().enumerate() {
            let at = start + i;
            if at >= PREFACE_MAGIC + 3 {
                break;
            }
            if at < PREFACE_MAGIC {
                if byte != MAGIC[at] {
                    self.http1 = true;
                    return;
                }
            } else {
                self.settings_len = (self.settings_len << 8) | byte as usize;
            }
        }
        self.preface_read = start.saturating_add(bytes.len());
        if self.preface_read >= PREFACE_MAGIC + FRAME_HEADER + self.settings_len {
            self.state.mark_greeted();
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.registry.release(&self.state);
    }
}

impl Connected for Connection {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        self.info.clone()
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.state.is_closing() {
            // End of stream: h2 and hyper then end the connection, which drops the socket.
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if !this.state.is_greeted() && this.registry.handshake() == Handshake::Http2Preface
                {
                    this.scan_preface(&buf.filled()[before..]);
                }
                return Poll::Ready(Ok(()));
            }
            Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
            Poll::Pending => {}
        }
        // Nothing to read: the moment to look at the deadlines, and to be woken if this
        // connection is picked to make room for a new one.
        this.state.register_reader(cx);
        if this.state.is_closing() {
            return Poll::Ready(Ok(()));
        }
        while this.deadline.as_mut().poll(cx).is_ready() {
            match this.registry.verdict(&this.state) {
                Verdict::Close => return Poll::Ready(Ok(())),
                Verdict::CheckAgainAt(at) => this.deadline.as_mut().reset(at),
            }
        }
        Poll::Pending
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        // The point of this type: h2 then copies small payloads into its write buffer.
        false
    }
}
