//! `ward serve` as a library call: load the zones, bind, answer, reload on changes and
//! SIGHUP, until the shutdown future resolves. The binary and the tests both start
//! ward through here, so there is one wiring and one order of startup.
//!
//! Signals are taken over before anything slow happens: a SIGHUP during the first load
//! (logrotate, `systemctl reload` right after a restart) is remembered and acted on
//! once serving, and the shutdown future is polled before the first load, so a SIGTERM
//! then stops ward cleanly.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::dns::server::{Running, ServerConfig, ServerError, ServerStats};
use crate::load::{DirectoryLoad, LoadOptions, Loader, ScanError};
use crate::memory::{release_freed_memory, return_large_allocations};
use crate::reload::{ReloadSettings, ReloadStats, Reloader};
use crate::store::Store;

/// Everything `serve` needs, flags and file merged.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub zones: PathBuf,
    pub load: LoadOptions,
    pub lenient: bool,
    pub server: ServerConfig,
    pub reload: ReloadSettings,
    /// Reload every zone on SIGHUP (off in tests, which share one process).
    pub sighup: bool,
    /// The lookup page and the admin API (`--http`, `--admin`); `None`: off.
    pub web: Option<crate::web::WebSettings>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot handle signals: {0}")]
    Signals(std::io::Error),
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error(
        "{dir} has {errors} error(s) (logged above); fix them, or start with --lenient to skip bad lines"
    )]
    ZoneErrors { dir: PathBuf, errors: usize },
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error("the first load of the zones failed with an internal error: {0}")]
    Load(String),
    #[error(transparent)]
    Web(#[from] crate::web::WebError),
}

/// What a caller learns once ward serves.
pub struct Ready {
    /// The addresses bound (port 0 resolved), in the order of the settings.
    pub addrs: Vec<SocketAddr>,
    /// The zones being served.
    pub store: Arc<Store>,
    /// Counters of the running server.
    pub stats: ServerStats,
    /// Reload counters, per zone.
    pub reloads: Arc<ReloadStats>,
    /// The lookup page's address (`--http`), port 0 resolved.
    pub http: Option<SocketAddr>,
    /// The admin API's address (`--admin`), port 0 resolved.
    pub admin: Option<SocketAddr>,
}

/// Serves until `shutdown` resolves; see [`serve_with`].
pub fn serve(
    settings: ServeSettings,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    serve_with(settings, shutdown, |_| {})
}

/// Serves until `shutdown` resolves, calling `on_ready` once every address is bound and
/// the first load is being served.
pub fn serve_with(
    settings: ServeSettings,
    shutdown: impl Future<Output = ()> + Send,
    on_ready: impl FnOnce(Ready),
) -> Result<(), ServeError> {
    return_large_allocations();
    raise_descriptor_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("ward-io")
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    let result = runtime.block_on(run(settings, shutdown, on_ready));
    // A first load that a shutdown interrupted may still be running: do not wait.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn run(
    settings: ServeSettings,
    shutdown: impl Future<Output = ()> + Send,
    on_ready: impl FnOnce(Ready),
) -> Result<(), ServeError> {
    let mut hup = if settings.sighup {
        Some(signal(SignalKind::hangup()).map_err(ServeError::Signals)?)
    } else {
        None
    };
    let mut shutdown = std::pin::pin!(shutdown);
    // Polled once now, so whatever signals it listens for are ours from here on.
    tokio::select! {
        biased;
        () = &mut shutdown => return Ok(()),
        () = std::future::ready(()) => {}
    }
    let loader = Loader {
        dir: settings.zones.clone(),
        options: settings.load.clone(),
        lenient: settings.lenient,
    };
    tracing::info!(zones = %settings.zones.display(), "loading zones");
    let mut loading = tokio::task::spawn_blocking(move || {
        let load = loader.load_all();
        (loader, load)
    });
    let mut reload_when_serving = false;
    let (loader, load) = loop {
        tokio::select! {
            loaded = &mut loading => break loaded.map_err(|e| ServeError::Load(e.to_string()))?,
            () = &mut shutdown => {
                tracing::info!("stopping before the first load finished");
                return Ok(());
            }
            Some(()) = next_signal(&mut hup) => {
                tracing::info!("SIGHUP during the first load: every zone is read again once serving");
                reload_when_serving = true;
            }
        }
    };
    let mut load = load?;
    check_first_load(&load, &settings)?;
    let reloader = Reloader::new(loader, &load, settings.reload.clone());
    let store = Arc::new(Store::new(load.take_snapshot()));
    drop(load);
    release_freed_memory();
    let handle = tokio::runtime::Handle::current();
    let running = Running::start(&settings.server, store.clone(), &handle)?;
    for addr in &running.addrs {
        tracing::info!(%addr, "serving on UDP and TCP");
    }
    let reloads = reloader.spawn(&handle, store.clone());
    if reload_when_serving {
        reloads.reload_all();
    }
    let web = match &settings.web {
        Some(web) => {
            match crate::web::start(web, &settings.zones, &settings.load, store.clone()).await {
                Ok(web) => Some(web),
                Err(error) => {
                    reloads.abort();
                    running.shutdown();
                    return Err(error.into());
                }
            }
        }
        None => None,
    };
    on_ready(Ready {
        addrs: running.addrs.clone(),
        store,
        stats: running.stats(),
        reloads: reloads.stats().clone(),
        http: web.as_ref().and_then(|w| w.http),
        admin: web.as_ref().and_then(|w| w.admin),
    });
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(()) = next_signal(&mut hup) => {
                tracing::info!("SIGHUP: reloading every zone");
                reloads.reload_all();
            }
        }
    }
    tracing::info!("shutting down");
    if let Some(web) = &web {
        web.shutdown();
    }
    reloads.abort();
    running.shutdown();
    Ok(())
}

/// Logs what the first load found; its errors stop `serve` unless lenient.
fn check_first_load(load: &DirectoryLoad, settings: &ServeSettings) -> Result<(), ServeError> {
    let mut errors = 0;
    for error in load.errors() {
        tracing::error!("{error}");
        errors += 1;
    }
    for warning in load.warnings() {
        tracing::warn!("{warning}");
    }
    if errors > 0 && !settings.lenient {
        return Err(ServeError::ZoneErrors {
            dir: settings.zones.clone(),
            errors,
        });
    }
    for zone in &load.zones {
        tracing::info!(
            zone = %zone.name,
            entries = zone.entries,
            ms = zone.duration.as_millis() as u64,
            serial = zone.zone.as_ref().map(|z| z.soa.serial),
            "loaded"
        );
    }
    Ok(())
}

async fn next_signal(signal: &mut Option<Signal>) -> Option<()> {
    match signal {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}

/// Lifts the soft descriptor limit to the hard one: every TCP client holds one, and the
/// connection limit is derived from what is left.
fn raise_descriptor_limit() {
    if let Err(error) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::debug!(%error, "cannot raise the descriptor limit");
    }
}
