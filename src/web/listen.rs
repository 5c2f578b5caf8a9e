//! The accept loop of ward's HTTP listeners (the page, the admin API, and the metrics
//! endpoint, which the app serves through here too). `axum::serve` sets no timer, so
//! hyper would wait for a request forever and keep any number of connections open; a
//! few hundred slow clients would then take the page away from everyone, and the
//! descriptors the DNS side needs. Here:
//!
//! - every connection holds one of a bounded number of slots;
//! - one client may hold only a few of them, and its network a few more (the keys of
//!   the rate limits: an address or IPv6 /64, and its /24 or /48): a client that opens
//!   hundreds of connections and stalls them fills its own share, not the listener;
//! - a request must send its headers within a deadline, and be answered — its body
//!   read, the handler done — within another, so a body sent a byte a second, or never,
//!   costs its connection that long and no more;
//! - behind a trusted reverse proxy every connection comes from the proxy, so the
//!   share is counted per request, for the client the proxy names;
//! - a connection lives at most a few minutes; on shutdown, connections finish the
//!   request they are in.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::forwarded::TrustedProxies;
use super::limits::keys;

/// The bounds of one HTTP listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenLimits {
    /// Open connections; more wait in the kernel's backlog.
    pub connections: usize,
    /// Connections (and, behind a proxy, requests in progress) of one client address.
    pub per_client: usize,
    /// The same for the client's network (IPv4 /24, IPv6 /48).
    pub per_network: usize,
    /// Time a client has to send a request's headers, also between keep-alive requests.
    pub header_timeout: Duration,
    /// Time from a request's headers to its answer: the body included.
    pub request_timeout: Duration,
    /// Longest life of one connection.
    pub lifetime: Duration,
}

impl Default for ListenLimits {
    fn default() -> Self {
        ListenLimits {
            connections: 256,
            per_client: 16,
            per_network: 64,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            lifetime: Duration::from_secs(300),
        }
    }
}

/// How long requests in flight may take to finish at shutdown.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` until `stop` is cancelled. Handlers see the client (behind
/// a trusted proxy, the one it names) as `ConnectInfo`.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    stop: CancellationToken,
    proxies: TrustedProxies,
    limits: ListenLimits,
) {
    let slots = Arc::new(Semaphore::new(limits.connections));
    let shares = Arc::new(Shares::new(limits));
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
        // A proxy's connections are everyone's: its clients are counted per request.
        let share = if proxies.trusts(peer.ip()) {
            None
        } else {
            match shares.take(peer.ip()) {
                Some(share) => Some(share),
                // Over its share: closed before a byte is read.
                None => continue,
            }
        };
        let connection = Connection {
            app: app.clone(),
            stop: stop.clone(),
            proxies: proxies.clone(),
            shares: shares.clone(),
            limits,
            counted_per_request: share.is_none(),
        };
        tokio::spawn(async move {
            let _slot = permit;
            let _share = share;
            connection.serve(stream, peer).await;
        });
    }
}

/// What one connection needs.
struct Connection {
    app: Router,
    stop: CancellationToken,
    proxies: TrustedProxies,
    shares: Arc<Shares>,
    limits: ListenLimits,
    /// From a trusted proxy: each request takes a share of the client it names.
    counted_per_request: bool,
}

impl Connection {
    async fn serve(self, stream: tokio::net::TcpStream, peer: SocketAddr) {
        let Connection {
            app,
            stop,
            proxies,
            shares,
            limits,
            counted_per_request,
        } = self;
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            let client = proxies.client(peer, request.headers());
            request.extensions_mut().insert(ConnectInfo(client));
            let app = app.clone();
            let share = match counted_per_request {
                true => shares.take(client.ip()).map(Some).ok_or(()),
                false => Ok(None),
            };
            async move {
                let Ok(_share) = share else {
                    return Ok(busy(StatusCode::TOO_MANY_REQUESTS));
                };
                let answered = app.oneshot(request.map(axum::body::Body::new));
                match tokio::time::timeout(limits.request_timeout, answered).await {
                    Ok(response) => response,
                    // The body came too slowly (or not at all): the connection is
                    // closed with this answer, its body unread.
                    Err(_) => Ok(busy(StatusCode::REQUEST_TIMEOUT)),
                }
            }
        });
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .keep_alive(true);
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let mut connection = std::pin::pin!(connection);
        let deadline = tokio::time::sleep(limits.lifetime);
        tokio::select! {
            _ = connection.as_mut() => return,
            () = stop.cancelled() => {}
            () = deadline => {}
        }
        connection.as_mut().graceful_shutdown();
        let _ = tokio::time::timeout(DRAIN, connection).await;
    }
}

/// An answer that ends the connection: too many at once, or too slow.
fn busy(status: StatusCode) -> Response {
    let text = match status {
        StatusCode::REQUEST_TIMEOUT => "The request took too long.\n",
        _ => "Too many connections from your network at once. Please try again shortly.\n",
    };
    let mut response = (status, text).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    headers.insert(header::RETRY_AFTER, header::HeaderValue::from_static("10"));
    response
}

/// What each client address and network holds of a listener.
struct Shares {
    limits: ListenLimits,
    held: Mutex<HashMap<IpAddr, usize>>,
}

/// One client's hold on a share, given back when dropped.
struct Share {
    shares: Arc<Shares>,
    keys: [IpAddr; 2],
}

impl Shares {
    fn new(limits: ListenLimits) -> Self {
        Shares {
            limits,
            held: Mutex::new(HashMap::new()),
        }
    }

    /// A share for `ip`, unless its address or its network holds all it may.
    fn take(self: &Arc<Self>, ip: IpAddr) -> Option<Share> {
        let (client, network) = keys(ip);
        let mut held = self.held.lock().ok()?;
        let client_held = held.get(&client).copied().unwrap_or(0);
        let network_held = held.get(&network).copied().unwrap_or(0);
        if client_held >= self.limits.per_client || network_held >= self.limits.per_network {
            return None;
        }
        // A client key and a network key never collide: an address key is a whole
        // address or /64, a network key the zero-host /24 or /48 (the same value only
        // for the network address itself, which then counts against both: stricter).
        *held.entry(client).or_default() += 1;
        *held.entry(network).or_default() += 1;
        Some(Share {
            shares: self.clone(),
            keys: [client, network],
        })
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let Ok(mut held) = self.shares.held.lock() else {
            return;
        };
        for key in self.keys {
            if let Some(count) = held.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    held.remove(&key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_and_its_network_hold_a_bounded_share() {
        let shares = Arc::new(Shares::new(ListenLimits {
            per_client: 2,
            per_network: 3,
            ..ListenLimits::default()
        }));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let a1 = shares.take(ip("192.0.2.1")).unwrap();
        let _a2 = shares.take(ip("192.0.2.1")).unwrap();
        assert!(shares.take(ip("192.0.2.1")).is_none(), "the client's share");
        let _b = shares.take(ip("192.0.2.2")).unwrap();
        assert!(shares.take(ip("192.0.2.3")).is_none(), "the /24's share");
        assert!(shares.take(ip("198.51.100.1")).is_some(), "another network");
        drop(a1);
        assert!(
            shares.take(ip("192.0.2.3")).is_some(),
            "given back when done"
        );
    }
}
