//! The people on the other side of a listing: a lookup page, a bounce explainer and
//! removal requests on the public listener (`--http`), and an admin API that edits
//! `zones/<zone>/api.zone` on a listener of its own (`--admin`, loopback by default,
//! bearer token). Both run on ward's runtime beside the DNS server and read the
//! snapshot it serves, so a page says exactly what a mail server is told.
//!
//! The public listener has no admin function at all; the admin listener serves only
//! the API. Everything shown is escaped, pages carry a strict Content-Security-Policy
//! and no script, forms are CSRF-protected, and errors say what to do, never what
//! broke inside.
//!
//! HTTP only: what a listing is comes from `report`, changes to listings go through
//! `listings`, and the answers from the `store` the DNS side serves.

// Handlers hand back a finished error `Response` as their `Err`: one per request, not
// worth boxing.
#![allow(clippy::result_large_err)]

mod admin;
mod bounce;
mod csrf;
mod forwarded;
mod limits;
mod listen;
mod lookup;
mod page;
mod public;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ipnet::IpNet;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use limits::Budget;
pub use listen::ListenLimits;
pub(crate) use listen::serve as serve_http;

use crate::external::ExternalLists;
use crate::listings::edit::Editor;
use crate::listings::requests::{RequestError, RequestStore};
use crate::listings::self_removal::{FixChecker, FixSettings};
use crate::load::LoadOptions;
use crate::report::entries::EntryCache;
use crate::store::Store;
pub(crate) use forwarded::TrustedProxies;
use page::Pages;

/// The web side's settings, flags and `ward.toml` merged.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// The public pages (`--http`).
    pub(crate) http: Option<SocketAddr>,
    /// The admin API (`--admin`).
    pub(crate) admin: Option<SocketAddr>,
    /// The file holding the admin API's bearer token (`--admin-token-file`).
    pub(crate) admin_token_file: Option<PathBuf>,
    /// Where removal requests and the audit log live (`--state`).
    pub(crate) state: PathBuf,
    /// Lookups, explanations and pages per client.
    pub pages: Budget,
    /// Removal requests per client.
    pub requests: Budget,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`--trusted-proxy`).
    pub(crate) trusted_proxies: Vec<IpNet>,
    /// Connections, shares and deadlines of both listeners.
    pub listener: ListenLimits,
    /// How fixes are verified before a self-removal.
    pub(crate) fixes: FixSettings,
}

impl WebSettings {
    /// The state directory when none is given: `state` beside the zones directory.
    pub(crate) fn default_state(zones: &Path) -> PathBuf {
        match zones.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.join("state"),
            _ => PathBuf::from("state"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("cannot create the state directory {path}: {error}")]
    StateDir {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Requests(#[from] RequestError),
    #[error("--admin needs --admin-token-file (a file holding the bearer token)")]
    NoToken,
    #[error("cannot read the admin token file {path}: {error}")]
    TokenFile {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "the admin token in {0} is shorter than 16 characters; use e.g. `openssl rand -hex 32`"
    )]
    WeakToken(PathBuf),
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("the page templates do not load: {0}")]
    Templates(String),
    #[error("opening the request database failed: {0}")]
    Internal(String),
}

/// The listeners once bound.
pub(crate) struct WebRunning {
    pub(crate) http: Option<SocketAddr>,
    pub(crate) admin: Option<SocketAddr>,
    stop: CancellationToken,
    shared: Arc<Shared>,
}

impl WebRunning {
    /// The counters, for the metrics endpoint.
    pub(crate) fn stats(&self) -> Arc<WebStats> {
        self.shared.stats.clone()
    }

    /// Stops accepting; requests in flight finish.
    pub(crate) fn shutdown(&self) {
        self.stop.cancel();
    }
}

/// What the handlers share.
pub(crate) struct Shared {
    pub(crate) store: Arc<Store>,
    pub(crate) details: EntryCache,
    pub(crate) requests: RequestStore,
    pub(crate) editor: Editor,
    pub(crate) pages: Pages,
    /// The public lists the page also asks, when configured.
    pub(crate) external: Option<Arc<ExternalLists>>,
    /// Verifies fixes before self-removals (`None`: no resolver to ask).
    pub(crate) fixes: Option<FixChecker>,
    pub(crate) stats: Arc<WebStats>,
}

/// What the web side counts for the metrics: the janitor work that no longer reaches
/// the admins.
#[derive(Debug, Default)]
pub(crate) struct WebStats {
    /// Listings the admin API added, by whether fail2ban added them.
    pub(crate) added_by_fail2ban: std::sync::atomic::AtomicU64,
    pub(crate) added_by_others: std::sync::atomic::AtomicU64,
    /// Listings their owners removed themselves.
    pub(crate) self_removals: std::sync::atomic::AtomicU64,
}

impl WebStats {
    /// `(added by fail2ban, added by others, removed by their owners)`.
    pub(crate) fn counts(&self) -> (u64, u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.added_by_fail2ban.load(Relaxed),
            self.added_by_others.load(Relaxed),
            self.self_removals.load(Relaxed),
        )
    }
}

/// Opens the state, binds the listeners and serves them on the current runtime.
pub(crate) async fn start(
    settings: &WebSettings,
    zones: &Path,
    load: &LoadOptions,
    store: Arc<Store>,
    external: Option<Arc<ExternalLists>>,
) -> Result<WebRunning, WebError> {
    std::fs::create_dir_all(&settings.state).map_err(|error| WebError::StateDir {
        path: settings.state.clone(),
        error,
    })?;
    let token = match (&settings.admin, &settings.admin_token_file) {
        (None, _) => None,
        (Some(_), None) => return Err(WebError::NoToken),
        (Some(_), Some(path)) => Some(admin::read_token(path)?),
    };
    let state = settings.state.clone();
    let requests = tokio::task::spawn_blocking(move || RequestStore::open(&state))
        .await
        .map_err(|e| WebError::Internal(e.to_string()))??;
    let shared = Arc::new(Shared {
        store,
        details: EntryCache::new(zones, load.clone()),
        requests,
        editor: Editor::new(zones, &settings.state, load.clone()),
        pages: Pages::new().map_err(|e| WebError::Templates(e.to_string()))?,
        external,
        fixes: match FixChecker::new(&settings.fixes) {
            Ok(checker) => Some(checker),
            Err(error) => {
                tracing::warn!(%error, "fixes cannot be verified: self-removals that need a check are refused");
                None
            }
        },
        stats: Arc::default(),
    });
    let proxies = TrustedProxies::new(&settings.trusted_proxies);
    if settings
        .trusted_proxies
        .iter()
        .any(|net| net.prefix_len() == 0)
    {
        tracing::warn!(
            "a trusted proxy network covers every address: any client can claim to be anyone, and rate limits cannot hold"
        );
    }
    let stop = CancellationToken::new();
    tokio::spawn(prune_expired(shared.clone(), stop.clone()));
    let mut running = WebRunning {
        http: None,
        admin: None,
        stop: stop.clone(),
        shared: shared.clone(),
    };
    if let Some(addr) = settings.http {
        let listener = bind(addr).await?;
        running.http = listener.local_addr().ok();
        let app = public::router(shared.clone(), settings);
        spawn(
            listener,
            app,
            stop.clone(),
            proxies.clone(),
            settings.listener,
            "http",
        );
    }
    if let (Some(addr), Some(token)) = (settings.admin, token) {
        if !addr.ip().is_loopback() {
            tracing::warn!(%addr, "the admin API listens beyond loopback: put TLS in front of it");
        }
        let listener = bind(addr).await?;
        running.admin = listener.local_addr().ok();
        let app = admin::router(shared.clone(), token);
        // Admins' tools (fail2ban, scripts) call from a few addresses, many at once;
        // a caller without the token is refused before its body is read.
        let limits = ListenLimits {
            per_client: 64,
            per_network: 128,
            ..settings.listener
        };
        spawn(listener, app, stop.clone(), proxies, limits, "admin");
    }
    Ok(running)
}

/// Expired API entries leave `api.zone` a while after they expire: at start, then
/// every hour, so the file holds what is live and what recently expired.
async fn prune_expired(shared: Arc<Shared>, stop: CancellationToken) {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(3600);
    loop {
        let editing = shared.clone();
        match tokio::task::spawn_blocking(move || editing.editor.prune_expired()).await {
            Ok(Ok(pruned)) if !pruned.is_empty() => {
                tracing::info!(
                    entries = pruned.len(),
                    "pruned expired API entries from api.zone"
                );
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "cannot prune expired API entries"),
            Err(error) => tracing::warn!(%error, "pruning expired API entries failed"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, WebError> {
    TcpListener::bind(addr)
        .await
        .map_err(|error| WebError::Bind { addr, error })
}

fn spawn(
    listener: TcpListener,
    app: axum::Router,
    stop: CancellationToken,
    proxies: TrustedProxies,
    limits: ListenLimits,
    what: &'static str,
) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving the {what} listener");
    }
    tokio::spawn(listen::serve(listener, app, stop, proxies, limits));
}
