//! The accept loop of ward's HTTP listeners (the page, the admin API, and the metrics
//! endpoint, which the app serves through here too). `axum::serve` sets no timer, so hyper would
//! wait for a request's headers forever and keep any number of connections open; a
//! few hundred slow clients would then take the descriptors the DNS side needs. Here
//! every connection holds one of a bounded number of slots, must send its headers
//! within a deadline, and lives at most a few minutes; on shutdown, connections
//! finish the request they are in.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::forwarded::TrustedProxies;

/// Open connections per listener; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 256;
/// Time a client has to send a request's headers, also between keep-alive requests.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest life of one connection.
const MAX_LIFETIME: Duration = Duration::from_secs(300);
/// How long requests in flight may take to finish at shutdown.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` until `stop` is cancelled. Handlers see the client (behind
/// a trusted proxy, the one it names) as `ConnectInfo`.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    stop: CancellationToken,
    proxies: TrustedProxies,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
            () = stop.cancelled() => return,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors, typically: back off instead of spinning.
                    tracing::warn!(%error, "cannot accept a web connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stop.cancelled() => return,
        };
        let app = app.clone();
        let stop = stop.clone();
        let proxies = proxies.clone();
        tokio::spawn(async move {
            let _slot = permit;
            connection(stream, peer, app, stop, proxies).await;
        });
    }
}

async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    stop: CancellationToken,
    proxies: TrustedProxies,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let client = proxies.client(peer, request.headers());
        request.extensions_mut().insert(ConnectInfo(client));
        app.clone().oneshot(request.map(axum::body::Body::new))
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    let deadline = tokio::time::sleep(MAX_LIFETIME);
    tokio::select! {
        _ = connection.as_mut() => return,
        () = stop.cancelled() => {}
        () = deadline => {}
    }
    connection.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(DRAIN, connection).await;
}
