//! The egress proxy of the model calls: the proxy environment variables, as reqwest read them
//! for plain-HTTP calls before the model calls moved to hyper-util's client.
//!
//! The settings are read once, when the [`UpstreamClient`](crate::UpstreamClient) is built, by
//! hyper-util's own [`Matcher`] (`HTTP_PROXY` / `http_proxy`, else `ALL_PROXY` / `all_proxy`;
//! `NO_PROXY` / `no_proxy` with curl's rules; none of them when `REQUEST_METHOD` is set, as
//! under CGI). A call the matcher sends through a proxy connects to the proxy instead of the
//! provider, on a connection marked as proxied, so the client writes the request's URI in
//! absolute form (`POST http://host/path`), as an HTTP proxy expects for plain-HTTP requests,
//! and the proxy URL's credentials, if any, go in a `proxy-authorization` header.
//!
//! Only a plain `http://` proxy can be used: the gateway is built without TLS (so no
//! `https://` proxy) and speaks no SOCKS. Another scheme is refused when a call would go
//! through it, by its scheme alone: a proxy URL may hold a password, and no error or log
//! line ever shows the URL.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::HeaderValue;
use http::{Uri, uri::Scheme};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Which variables set the proxy for a plain-HTTP destination, for error messages.
const VARIABLES: &str = "HTTP_PROXY / http_proxy, or ALL_PROXY / all_proxy";

/// The proxy rules, shared by [`UpstreamClient::send`](crate::UpstreamClient::send) (which adds
/// the proxy's credentials to a call) and the connector (which connects to the proxy).
#[derive(Clone)]
pub(crate) struct Egress {
    matcher: Arc<Matcher>,
}

/// Where a call to one destination connects.
pub(crate) enum Route {
    /// To the destination itself.
    Direct,
    /// To an HTTP proxy at `proxy` (no credentials in it), with `authorization` for its
    /// `proxy-authorization` header when the proxy URL carried credentials.
    Proxy {
        proxy: Uri,
        authorization: Option<HeaderValue>,
    },
}

/// The proxy for a destination is one the gateway cannot speak to. Names the scheme only:
/// the proxy URL may hold a password.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "the proxy set for `http://` destinations ({VARIABLES}) uses `{scheme}://`, and \
     model calls can go through a plain `http://` proxy only (the gateway is built without \
     TLS and speaks no SOCKS)"
)]
pub(crate) struct UnusableProxy {
    scheme: String,
}

impl Egress {
    /// The rules in the proxy environment variables, as they are now.
    pub(crate) fn from_env() -> Egress {
        Egress::new(Matcher::from_env())
    }

    pub(crate) fn new(matcher: Matcher) -> Egress {
        Egress {
            matcher: Arc::new(matcher),
        }
    }

    /// Where a call to `dst` (an absolute `http://` URI) connects.
    pub(crate) fn route(&self, dst: &Uri) -> Result<Route, UnusableProxy> {
        let Some(intercept) = self.matcher.intercept(dst) else {
            return Ok(Route::Direct);
        };
        let proxy = intercept.uri();
        if proxy.scheme() != Some(&Scheme::HTTP) {
            return Err(UnusableProxy {
                scheme: proxy.scheme_str().unwrap_or("?").to_string(),
            });
        }
        let authorization = intercept.basic_auth().map(|value| {
            let mut value = value.clone();
            value.set_sensitive(true);
            value
        });
        Ok(Route::Proxy {
            proxy: proxy.clone(),
            authorization,
        })
    }
}

/// A connection made by the model calls' connector: to the provider, or to the HTTP proxy in
/// front of it (`proxied`, which makes the client write absolute-form request URIs).
pub(crate) struct EgressIo {
    io: TokioIo<TcpStream>,
    proxied: bool,
}

impl EgressIo {
    pub(crate) fn new(io: TokioIo<TcpStream>, proxied: bool) -> EgressIo {
        EgressIo { io, proxied }
    }
}

impl Connection for EgressIo {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.proxied)
    }
}

impl hyper::rt::Read for EgressIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for EgressIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}

/// Connecting to the HTTP proxy failed. Names neither the proxy's address nor its
/// credentials; the cause (refused, timed out, no such host) follows as its source.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to the HTTP proxy ({VARIABLES})")]
pub(crate) struct ProxyConnect(#[source] pub(crate) crate::BoxError);

/// Boxes a future for the connector.
pub(crate) type Connecting =
    Pin<Box<dyn Future<Output = Result<EgressIo, crate::BoxError>> + Send>>;
