//! HTTP/1.1 requests on the gRPC port (gRPC-Web from browsers, the composer page): the
//! request body must arrive whole within the handshake timeout.
//!
//! Why: an HTTP/2 client that stalls a call holds one stream of a connection it shares,
//! and is bounded by `--max-streams-per-connection`; an HTTP/1.1 client that stalls its
//! body holds the whole connection, which counts as busy (a request is in flight) and so
//! would never meet the idle timeout. gRPC-Web has no client streaming, so a request body
//! is one message that a live client sends at once: the same deadline as the web hook and
//! metrics listeners ([`super::serve_http`]) applies.
//!
//! [`BodyDeadlineLayer`] sits behind `tonic_web::GrpcWebLayer`, next to the services: there
//! the deadline's DEADLINE_EXCEEDED reaches the caller as it is (tonic-web would report an
//! error of the body it reads as INTERNAL).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;
use tonic::codegen::http::{Request, Version};
use tonic::codegen::{Bytes, Service};

/// Puts a [`Deadline`] of `limit` on the body of every HTTP/1.x request.
#[derive(Clone, Copy, Debug)]
pub struct BodyDeadlineLayer {
    pub limit: Duration,
}

impl<S> tower_layer::Layer<S> for BodyDeadlineLayer {
    type Service = BodyDeadline<S>;

    fn layer(&self, inner: S) -> BodyDeadline<S> {
        BodyDeadline {
            inner,
            limit: self.limit,
        }
    }
}

#[derive(Clone, Debug)]
pub struct BodyDeadline<S> {
    inner: S,
    limit: Duration,
}

impl<S> Service<Request<tonic::body::Body>> for BodyDeadline<S>
where
    S: Service<Request<tonic::body::Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<tonic::body::Body>) -> S::Future {
        let request = if request.version() < Version::HTTP_2 {
            let limit = self.limit;
            request.map(|body| Deadline::wrap(body, limit))
        } else {
            request
        };
        self.inner.call(request)
    }
}

/// A request body that fails once `deadline` has passed before its end.
pub struct Deadline {
    inner: tonic::body::Body,
    limit: Duration,
    timer: Pin<Box<Sleep>>,
}

impl Deadline {
    /// Wraps `inner`, whose end must arrive within `limit` from now.
    pub fn wrap(inner: tonic::body::Body, limit: Duration) -> tonic::body::Body {
        if inner.is_end_stream() {
            return inner;
        }
        tonic::body::Body::new(Deadline {
            inner,
            limit,
            timer: Box::pin(tokio::time::sleep(limit)),
        })
    }
}

impl Body for Deadline {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if this.timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(tonic::Status::deadline_exceeded(format!(
                "the request body did not arrive within {} (--handshake-timeout)",
                humantime::format_duration(this.limit)
            )))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
