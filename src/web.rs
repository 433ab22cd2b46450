//! The composer page: the reference browser client (`web/`), embedded in the binary and
//! served on the gRPC port to HTTP `GET`s of `/` and its two assets, so that a browser
//! reaches the page and the gRPC-Web API on one origin (no CORS needed for the page).
//!
//! The assets are the committed bundle in `web/dist/` (built by `web/build.mjs`;
//! `scripts/test.sh` checks it is up to date), so building the server needs no Node.

use std::task::{Context, Poll};

use tonic::codegen::Service;
use tonic::codegen::http::{self, HeaderValue, Method, Request, Response, StatusCode};

/// One embedded file: its URL path, media type and content.
struct Asset {
    path: &'static str,
    media_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        media_type: "text/html; charset=utf-8",
        body: include_bytes!("../web/dist/index.html"),
    },
    Asset {
        path: "/composer.js",
        media_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/dist/composer.js"),
    },
    Asset {
        path: "/composer.css",
        media_type: "text/css; charset=utf-8",
        body: include_bytes!("../web/dist/composer.css"),
    },
];

/// The page may load only its own files and call only its own origin: a browser then
/// refuses any other fetch, which keeps the page free of external requests by
/// construction.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Serves the page's files in front of the gRPC services (`enabled` is `--web`); every
/// other request goes on to them.
#[derive(Clone, Copy, Debug)]
pub struct PageLayer {
    pub enabled: bool,
}

impl<S> tower_layer::Layer<S> for PageLayer {
    type Service = Page<S>;

    fn layer(&self, inner: S) -> Page<S> {
        Page {
            inner,
            enabled: self.enabled,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Page<S> {
    inner: S,
    enabled: bool,
}

impl<S, B> Service<Request<B>> for Page<S>
where
    S: Service<Request<B>, Response = Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = futures::future::Either<
        S::Future,
        futures::future::Ready<Result<Response<tonic::body::Body>, S::Error>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let asset = (self.enabled
            && (request.method() == Method::GET || request.method() == Method::HEAD))
            .then(|| ASSETS.iter().find(|a| a.path == request.uri().path()))
            .flatten();
        match asset {
            Some(asset) => {
                let head = request.method() == Method::HEAD;
                futures::future::Either::Right(futures::future::ready(Ok(answer(asset, head))))
            }
            None => futures::future::Either::Left(self.inner.call(request)),
        }
    }
}

fn answer(asset: &Asset, head: bool) -> Response<tonic::body::Body> {
    let body = if head {
        tonic::body::Body::empty()
    } else {
        tonic::body::Body::new(http_body_util::Full::new(
            tonic::codegen::Bytes::from_static(asset.body),
        ))
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(asset.media_type),
    );
    headers.insert(
        http::header::CONTENT_LENGTH,
        HeaderValue::from(asset.body.len()),
    );
    // Always revalidated: a page left open across an upgrade must not run an old bundle.
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    headers.insert(
        http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
