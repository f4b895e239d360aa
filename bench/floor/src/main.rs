//! `bench-floor`: the floor that `bench/floor.sh` measures the gateway against.
//!
//! A bare pass-through HTTP proxy on tokio and hyper: every request (method, path and query,
//! headers but the hop-by-hop ones, body streamed) goes to one upstream over a pooled
//! keep-alive client, and the answer streams back. No parsing of bodies, no authentication, no
//! policy, no audit, no logging, no metrics.
//!
//! Why it exists: any proxy in front of a provider pays for the extra hop (accept, HTTP
//! framing both ways, a pooled upstream connection, two more socket writes and reads per
//! request). The fake provider measured directly does not pay it, and a raw TCP relay (socat,
//! in `bench/run.sh`) pays less of it than an HTTP proxy must. This binary pays exactly that
//! hop on the same runtime, HTTP stack and allocator as the gateway and nothing else, so the
//! gateway's figures against it are the honest measure of the gateway's own work.
//!
//! A benchmark tool, not part of the product: never put it in front of anything real.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use clap::Parser;
use http_body_util::{Either, Empty};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName};
use hyper::http::uri::{Authority, PathAndQuery, Scheme};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Uri, Version};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

/// The gateway's allocator too (`clearance-cli`), so the two differ only by their work.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "bench-floor",
    about = "Bare pass-through HTTP proxy: the benchmark floor"
)]
struct Args {
    /// Address to listen on; port 0 picks a free port. The address is printed on stdout.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Upstream base URL (http only), e.g. `http://127.0.0.1:9101`. A path in it is put in
    /// front of every request's path.
    #[arg(long)]
    upstream: Uri,
}

/// Where requests go: the upstream's scheme and authority, and a path prefix ("" for none).
struct Upstream {
    scheme: Scheme,
    authority: Authority,
    prefix: String,
}

type HttpClient = Client<HttpConnector, Incoming>;
type ProxyBody = Either<Incoming, Empty<Bytes>>;

/// Headers that describe one connection, not the message (RFC 9110 7.6.1): never forwarded.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args = Args::parse();
    let (Some(scheme), Some(authority)) = (args.upstream.scheme(), args.upstream.authority())
    else {
        return Err("--upstream must be an absolute http:// URL".into());
    };
    if *scheme != Scheme::HTTP {
        return Err("--upstream must be an http:// URL".into());
    }
    let upstream = Arc::new(Upstream {
        scheme: scheme.clone(),
        authority: authority.clone(),
        prefix: args.upstream.path().trim_end_matches('/').to_owned(),
    });

    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: HttpClient = Client::builder(TokioExecutor::new()).build(connector);

    let listener = TcpListener::bind(args.listen).await?;
    println!("bench-floor listening on http://{}", listener.local_addr()?);

    loop {
        // An accept error (e.g. out of file descriptors) drops that one connection.
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (client, upstream) = (client.clone(), Arc::clone(&upstream));
        tokio::spawn(async move {
            let service =
                service_fn(move |req| forward(client.clone(), Arc::clone(&upstream), req));
            // A connection's error (client gone mid-request) ends that connection only.
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Sends one request upstream and hands the answer back as it streams in.
async fn forward(
    client: HttpClient,
    upstream: Arc<Upstream>,
    mut req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let path = req.uri().path_and_query().cloned();
    let path = match (upstream.prefix.as_str(), path) {
        ("", Some(path)) => path,
        (prefix, path) => {
            let path = path.as_ref().map_or("/", PathAndQuery::as_str);
            match PathAndQuery::try_from(format!("{prefix}{path}")) {
                Ok(path) => path,
                Err(_) => return Ok(status(StatusCode::BAD_REQUEST)),
            }
        }
    };
    let uri = Uri::builder()
        .scheme(upstream.scheme.clone())
        .authority(upstream.authority.clone())
        .path_and_query(path)
        .build();
    let Ok(uri) = uri else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    *req.uri_mut() = uri;
    // The client may have spoken HTTP/2 to us; the upstream hop is HTTP/1.1.
    *req.version_mut() = Version::HTTP_11;
    strip_hop_by_hop(req.headers_mut());
    // The pooled client sets Host from the upstream URI.
    req.headers_mut().remove(header::HOST);

    match client.request(req).await {
        Ok(mut answer) => {
            strip_hop_by_hop(answer.headers_mut());
            Ok(answer.map(Either::Left))
        }
        Err(_) => Ok(status(StatusCode::BAD_GATEWAY)),
    }
}

/// Removes the hop-by-hop headers, and every header the `Connection` header names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::try_from(name.trim()).ok())
        .collect();
    for name in &named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

fn status(code: StatusCode) -> Response<ProxyBody> {
    let mut answer = Response::new(Either::Right(Empty::new()));
    *answer.status_mut() = code;
    answer
}
