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
use tokio_util::sync::CancellationToken;

use crate::app::lifecycle;
use crate::app::metrics::{self, MetricsError, Observed};
use crate::app::privileges::{self, PrivilegeError};
use crate::app::serials::SerialFile;
use crate::dns::server::{Running, ServerConfig, ServerError, ServerStats};
use crate::dns::transfers::TransferService;
use crate::external::ExternalLists;
use crate::load::{DirectoryLoad, LoadOptions, Loader, ScanError};
use crate::memory::{release_freed_memory, return_large_allocations};
use crate::reload::{OnChange, ReloadSettings, ReloadStats, Reloader};
use crate::store::Store;
use crate::xfr::{self, TransferConfig, Transfers};
use crate::zone::Zone;

/// Everything `serve` needs, flags and file merged.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// Prometheus metrics, `/healthz` and `/readyz` (off: `None`).
    pub(crate) metrics: Option<SocketAddr>,
    /// Run as this user once the sockets are bound.
    pub(crate) user: Option<String>,
    pub zones: PathBuf,
    pub load: LoadOptions,
    pub(crate) lenient: bool,
    pub(crate) server: ServerConfig,
    pub reload: ReloadSettings,
    /// Reload every zone on SIGHUP (off in tests, which share one process).
    pub sighup: bool,
    /// Zone transfers to secondaries (none: no zone may be transferred).
    pub(crate) transfer: TransferConfig,
    /// Where the served serials are kept across restarts (`None`: not kept).
    pub(crate) serials: Option<PathBuf>,
    /// The lookup page and the admin API (`--http`, `--admin`); `None`: off.
    pub web: Option<crate::web::WebSettings>,
    /// Public lists the page also asks; `None`: none configured.
    pub(crate) external: Option<crate::external::Settings>,
    /// Stop when a zone does not load at first (rbldnsd's rule for its command line,
    /// unless `-q`); otherwise the other zones are served.
    pub(crate) every_zone_required: bool,
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
    #[error("zone loading errors, aborting: {0} did not load (the errors are logged above)")]
    ZonesNotLoaded(String),
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error("the first load of the zones failed with an internal error: {0}")]
    Load(String),
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error(transparent)]
    Privileges(#[from] PrivilegeError),
    #[error(transparent)]
    Web(#[from] crate::web::WebError),
    #[error("the public lists' resolver: {0}")]
    External(crate::external::ResolverError),
}

/// What a caller learns once ward serves.
pub struct Ready {
    /// The addresses bound (port 0 resolved), in the order of the settings.
    pub addrs: Vec<SocketAddr>,
    /// The metrics listener's address, when on.
    pub metrics: Option<SocketAddr>,
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
    super::panics::install_hook();
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
    // The metrics listener comes first: `/readyz` says 503 while the zones load.
    let observed = Arc::new(Observed::default());
    let endpoints = CancellationToken::new();
    let metrics_addr = match settings.metrics {
        Some(addr) => {
            let listener = metrics::bind(addr).await?;
            let bound = listener.local_addr().ok();
            tokio::spawn(metrics::serve(
                listener,
                observed.clone(),
                endpoints.clone(),
            ));
            bound
        }
        None => None,
    };
    let mut loader = Loader {
        dir: settings.zones.clone(),
        options: settings.load.clone(),
        lenient: settings.lenient,
    };
    let serials = settings.serials.as_deref().map(|path| {
        let (file, floors) = SerialFile::open(path);
        loader.options.serial_floors = floors;
        Arc::new(file)
    });
    tracing::info!(zones = %settings.zones.display(), "loading zones");
    lifecycle::loading();
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
    let handle = tokio::runtime::Handle::current();
    let mut reloader = Reloader::new(loader, &mut load, settings.reload.clone());
    let transfers = transfers(&settings.transfer);
    if let Some(on_change) = on_change(serials.clone(), transfers.clone(), &handle) {
        reloader = reloader.on_change(on_change);
    }
    let store = Arc::new(Store::new(load.take_snapshot()));
    if let Some(serials) = &serials {
        serials.record(
            store
                .load()
                .zones()
                .iter()
                .map(|z| (z.name.to_string(), z.serial_floor())),
        );
    }
    drop(load);
    release_freed_memory();
    let mut server = settings.server.clone();
    server.settings.transfers = transfers
        .clone()
        .map(|t| Arc::new(t) as Arc<dyn TransferService>);
    let running = Running::start(&server, store.clone(), &handle)?;
    for addr in &running.addrs {
        tracing::info!(%addr, "serving on UDP and TCP");
    }
    if let Some(addr) = metrics_addr {
        tracing::info!(%addr, "metrics on http://{addr}/metrics, health on /healthz and /readyz");
    }
    // The public lists the page asks, when some are configured.
    let external = match &settings.external {
        Some(lists) => match ExternalLists::new(lists) {
            Ok(lists) => Some(Arc::new(lists)),
            Err(error) => {
                running.shutdown();
                return Err(ServeError::External(error));
            }
        },
        None => None,
    };
    if let Some(external) = &external {
        observed.asking_lists(external.clone());
    }
    // The web listeners may want a privileged port too: bound before root is dropped.
    let web = match &settings.web {
        Some(web) => {
            match crate::web::start(
                web,
                &settings.zones,
                &settings.load,
                store.clone(),
                external.clone(),
            )
            .await
            {
                Ok(web) => Some(web),
                Err(error) => {
                    running.shutdown();
                    return Err(error.into());
                }
            }
        }
        None => None,
    };
    // Every socket is bound: root is no longer needed.
    match &settings.user {
        Some(user) => {
            privileges::become_user(user)?;
            tracing::info!(%user, "running as {user}");
        }
        None if privileges::running_as_root() => tracing::warn!(
            "running as root: start with --user NAME to drop privileges once the ports are bound"
        ),
        None => {}
    }
    if let Some(transfers) = &transfers {
        // Secondaries may hold an older serial than the one just loaded.
        xfr::notify_loaded(transfers, &store.load());
    }
    let reloads = reloader.spawn(&handle, store.clone());
    if reload_when_serving {
        reloads.reload_all();
    }
    if let Some(transfers) = &transfers {
        observed.transferring(transfers.clone());
    }
    if let Some(web) = &web {
        observed.serving_web(web.stats());
    }
    observed.serving(running.stats(), reloads.stats().clone(), store.clone());
    lifecycle::ready(&store);
    let watchdog = tokio::spawn(lifecycle::watchdog(running.stats()));
    on_ready(Ready {
        addrs: running.addrs.clone(),
        metrics: metrics_addr,
        store: store.clone(),
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
                lifecycle::reloading();
                reloads.reload_all_and_wait().await;
                lifecycle::ready(&store);
            }
        }
    }
    tracing::info!("stopping: answering what was received");
    lifecycle::stopping();
    watchdog.abort();
    if let Some(web) = &web {
        web.shutdown();
    }
    reloads.abort();
    running.shutdown();
    endpoints.cancel();
    tracing::info!("stopped");
    Ok(())
}

/// What a reload does beyond swapping: keep the new serial, keep the difference for
/// IXFR and notify the secondaries.
fn on_change(
    serials: Option<Arc<SerialFile>>,
    transfers: Option<Arc<Transfers>>,
    runtime: &tokio::runtime::Handle,
) -> Option<Arc<OnChange>> {
    let transferred = transfers.map(|t| xfr::on_change(t, runtime.clone()));
    if serials.is_none() && transferred.is_none() {
        return None;
    }
    Some(Arc::new(move |old: Option<&Arc<Zone>>, new: &Arc<Zone>| {
        // The difference and NOTIFY first: keeping the serial syncs a file, which after
        // a big file's rewrite waits for the disk (150 ms measured on 10M entries). A
        // serial not kept before a crash costs nothing: the next one comes from the
        // clock, after it.
        if let Some(transferred) = &transferred {
            transferred(old, new);
        }
        if let Some(serials) = &serials {
            serials.record([(new.name.to_string(), new.serial_floor())]);
        }
    }))
}

/// The transfer side, when some zone may be transferred.
fn transfers(config: &TransferConfig) -> Option<Arc<Transfers>> {
    if config.is_empty() {
        return None;
    }
    let zones: Vec<String> = config.zones.keys().map(ToString::to_string).collect();
    tracing::info!(zones = %zones.join(" "), "zone transfers (AXFR, IXFR) allowed");
    Some(Arc::new(Transfers::new(config.clone())))
}

/// Logs what the first load found; its errors stop `serve` unless lenient.
fn check_first_load(load: &DirectoryLoad, settings: &ServeSettings) -> Result<(), ServeError> {
    let mut errors = 0;
    for error in load.errors() {
        if settings.lenient && !error.is_about_the_file() {
            tracing::warn!("{error} (line skipped)");
        } else {
            tracing::error!("{error}");
        }
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
    let missing: Vec<String> = load
        .zones
        .iter()
        .filter(|z| z.zone.is_none())
        .map(|z| z.name.to_string())
        .collect();
    if settings.every_zone_required && !missing.is_empty() {
        return Err(ServeError::ZonesNotLoaded(missing.join(", ")));
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
