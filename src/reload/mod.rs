//! Hot reload: notice changed files under the zones directory (file events, SIGHUP,
//! polling, expiry times), re-parse only the zones they belong to, off the query path,
//! and swap in a new snapshot. A zone whose new files do not load keeps serving its
//! last good data.
//!
//! Each zone waits only for its own files: a file must have been quiet for the
//! debounce period before it is read (a burst of events schedules one look, later
//! events do not postpone it), and a file that changed while being read is read again
//! later, so a file being written in place is never served half written. A file that
//! never goes quiet is read anyway every few seconds, with a warning.
//!
//! Uses `load`, `store` and `zone`. What else a change means (a serial kept, a
//! difference for IXFR, a NOTIFY) is a callback the app gives it.

mod changes;
mod round;
mod watch;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::load::files::Stamp;
use crate::load::{DirectoryLoad, Loader, ParseCache};
use crate::store::Store;
use crate::time::unix_now;
use crate::zone::Zone;
use crate::zone::name::Name;
use crate::zone::reason::Catalogue;
use changes::{FileRecord, as_loaded};
use watch::DirWatch;

#[derive(Debug, Clone)]
pub struct ReloadSettings {
    /// How long a file must have been quiet (no event, no change) before it is read.
    pub(crate) debounce: Duration,
    /// A file that never stays quiet that long is read anyway after this long.
    pub max_wait: Duration,
    /// Check files without events this often (NFS, some container mounts).
    pub poll_interval: Option<Duration>,
    /// Watch the directory for file events.
    pub(crate) watch: bool,
}

impl Default for ReloadSettings {
    fn default() -> Self {
        ReloadSettings {
            debounce: Duration::from_millis(200),
            max_wait: Duration::from_secs(5),
            poll_interval: Some(Duration::from_secs(2)),
            watch: true,
        }
    }
}

/// Reload history of one zone, for logs and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneStats {
    pub reloads: u64,
    pub failures: u64,
    /// The errors of the last failed load, cleared by a good one.
    pub last_error: Option<String>,
    pub(crate) entries: usize,
    pub(crate) serial: u32,
    /// When it last loaded successfully.
    pub(crate) last_loaded: Option<std::time::SystemTime>,
}

/// Per-zone reload counters, shared with whoever reports them.
#[derive(Debug, Default)]
pub struct ReloadStats {
    zones: Mutex<BTreeMap<String, ZoneStats>>,
    /// Rounds that swapped in a new snapshot.
    swaps: AtomicU64,
}

impl ReloadStats {
    pub fn zone(&self, name: &str) -> Option<ZoneStats> {
        self.zones.lock().ok()?.get(name).cloned()
    }

    /// Every zone's statistics, by name.
    pub(crate) fn all(&self) -> BTreeMap<String, ZoneStats> {
        self.zones.lock().map(|z| z.clone()).unwrap_or_default()
    }

    /// How many times a reload swapped in a new snapshot.
    pub fn swaps(&self) -> u64 {
        self.swaps.load(Ordering::Relaxed)
    }

    fn update(&self, name: &Name, f: impl FnOnce(&mut ZoneStats)) {
        if let Ok(mut zones) = self.zones.lock() {
            f(zones.entry(name.to_string()).or_default());
        }
    }

    fn remove(&self, name: &Name) {
        if let Ok(mut zones) = self.zones.lock() {
            zones.remove(&name.to_string());
        }
    }
}

/// What is known about one zone's files, as last loaded (or tried).
#[derive(Debug, Clone, Default)]
struct ZoneState {
    files: Vec<FileRecord>,
    /// The zone's answers change then (a listing expires, a cooldown ends): rebuild
    /// the zone, so secondaries get the change at that second.
    next_change: Option<i64>,
    /// The zone's directory could not be listed last time.
    unreadable: bool,
    /// Since when a change has been waiting for its files to go quiet.
    waiting_since: Option<Instant>,
}

/// Why the reloader should look at the directory.
#[derive(Debug)]
pub(crate) enum Trigger {
    /// File events under these paths; empty when the event source lost track (queue
    /// overflow, watch error) and everything must be looked at.
    Changed(Vec<PathBuf>),
    /// Reload every zone (SIGHUP); tell the sender when that round is done.
    All(Option<tokio::sync::oneshot::Sender<()>>),
}

/// Watches the zones directory and reloads what changed.
pub(crate) struct Reloader {
    loader: Loader,
    settings: ReloadSettings,
    zones: HashMap<Name, ZoneState>,
    catalogue: Arc<Catalogue>,
    /// `reasons.conf` as last seen: its stamp, and its hash once needed.
    catalogue_seen: Option<(Option<Stamp>, Option<u64>)>,
    stats: Arc<ReloadStats>,
    on_change: Option<Arc<OnChange>>,
    /// Each file's last parse: a zone re-reads only the files that changed.
    parse_cache: ParseCache,
}

/// Called after a reload swapped in a zone's new version (with the one it replaced,
/// if any), on the reload thread: zone transfers keep the difference and notify.
pub(crate) type OnChange = dyn Fn(Option<&Arc<Zone>>, &Arc<Zone>) + Send + Sync;

/// A running reloader: its triggers and statistics.
pub(crate) struct ReloadHandle {
    task: tokio::task::JoinHandle<()>,
    trigger: mpsc::UnboundedSender<Trigger>,
    stats: Arc<ReloadStats>,
}

impl ReloadHandle {
    /// Reloads every zone, as SIGHUP does.
    pub(crate) fn reload_all(&self) {
        let _ = self.trigger.send(Trigger::All(None));
    }

    /// Reloads every zone and resolves once that round is over.
    pub(crate) async fn reload_all_and_wait(&self) {
        let (done, finished) = tokio::sync::oneshot::channel();
        if self.trigger.send(Trigger::All(Some(done))).is_ok() {
            let _ = finished.await;
        }
    }

    pub(crate) fn abort(&self) {
        self.task.abort();
    }

    pub(crate) fn stats(&self) -> &Arc<ReloadStats> {
        &self.stats
    }
}

/// When the next round is due and what it is for.
#[derive(Default)]
struct Pending {
    at: Option<Instant>,
    all: bool,
    paths: HashSet<PathBuf>,
    /// Who waits for the next round to be over.
    waiting: Vec<tokio::sync::oneshot::Sender<()>>,
}

impl Pending {
    /// Schedules a round `after` from now, unless one is due sooner: later events
    /// never postpone a round, so one busy file cannot hold back the others.
    fn schedule(&mut self, after: Duration) {
        let at = Instant::now() + after;
        self.at = Some(self.at.map_or(at, |due| due.min(at)));
    }
}

impl Reloader {
    /// Starts from the state `initial` loaded: its zones are what is being served.
    pub(crate) fn new(
        loader: Loader,
        initial: &mut DirectoryLoad,
        settings: ReloadSettings,
    ) -> Reloader {
        let stats = Arc::new(ReloadStats::default());
        let mut zones = HashMap::new();
        for (source, load) in initial.scan.zones.iter().zip(&initial.zones) {
            zones.insert(
                source.name.clone(),
                ZoneState {
                    files: as_loaded(&source.files, &load.file_hashes),
                    next_change: load.next_change,
                    unreadable: source.unreadable.is_some(),
                    waiting_since: None,
                },
            );
            stats.update(&source.name, |s| {
                s.entries = load.entries;
                if let Some(zone) = &load.zone {
                    s.serial = zone.soa.serial;
                    s.last_loaded = Some(std::time::SystemTime::now());
                }
                if !load.diagnostics.errors.is_empty() {
                    s.last_error = Some(round::join_errors(&load.diagnostics.errors));
                }
            });
        }
        let catalogue_seen = initial
            .scan
            .catalogue
            .as_deref()
            .map(|path| (Stamp::of(path), None));
        Reloader {
            loader,
            settings,
            zones,
            catalogue: initial.catalogue.clone(),
            catalogue_seen,
            stats,
            on_change: None,
            parse_cache: std::mem::take(&mut initial.parse_cache),
        }
    }

    /// Calls `on_change` for every zone a reload replaces or adds.
    pub(crate) fn on_change(mut self, on_change: Arc<OnChange>) -> Self {
        self.on_change = Some(on_change);
        self
    }

    /// Runs on `runtime` until aborted.
    pub(crate) fn spawn(self, runtime: &tokio::runtime::Handle, store: Arc<Store>) -> ReloadHandle {
        let (trigger, triggers) = mpsc::unbounded_channel();
        let stats = self.stats.clone();
        let events = trigger.clone();
        let task = runtime.spawn(self.run(store, triggers, events));
        ReloadHandle {
            task,
            trigger,
            stats,
        }
    }

    async fn run(
        mut self,
        store: Arc<Store>,
        mut triggers: mpsc::UnboundedReceiver<Trigger>,
        events: mpsc::UnboundedSender<Trigger>,
    ) {
        let mut watch = self
            .settings
            .watch
            .then(|| DirWatch::start(&self.loader.dir, events.clone()));
        let poll_every = self
            .settings
            .poll_interval
            .unwrap_or(Duration::from_secs(3600));
        let mut poll = tokio::time::interval(poll_every);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        poll.tick().await;
        let mut pending = Pending::default();
        loop {
            let expiry = self.next_change().map(|at| {
                let wait = (at - unix_now()).max(0) as u64;
                Instant::now() + Duration::from_secs(wait)
            });
            let wake = [expiry, pending.at].into_iter().flatten().min();
            tokio::select! {
                Some(trigger) = triggers.recv() => {
                    match trigger {
                        Trigger::All(done) => {
                            pending.all = true;
                            pending.waiting.extend(done);
                            pending.schedule(Duration::ZERO);
                        }
                        Trigger::Changed(paths) => {
                            pending.paths.extend(paths);
                            pending.schedule(self.settings.debounce);
                        }
                    }
                    continue;
                }
                _ = poll.tick(), if self.settings.poll_interval.is_some() => {
                    if let Some(w) = &mut watch
                        && w.root_replaced(&self.loader.dir)
                    {
                        tracing::info!(dir = %self.loader.dir.display(), "zones directory was replaced; watching the new one");
                        *w = DirWatch::start(&self.loader.dir, events.clone());
                    }
                }
                _ = sleep_until(wake) => {}
            }
            let all = std::mem::take(&mut pending.all);
            let hinted = std::mem::take(&mut pending.paths);
            let waiting = std::mem::take(&mut pending.waiting);
            pending.at = None;
            let store = store.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                let outcome = catch_unwind(AssertUnwindSafe(|| self.round(&store, all, &hinted)));
                (self, outcome)
            })
            .await;
            let (reloader, outcome) = match outcome {
                Ok(done) => done,
                // Only a panic outside the round itself lands here: nothing is left.
                Err(error) => {
                    tracing::error!(%error, "the reload task was lost; reloading stops");
                    return;
                }
            };
            self = reloader;
            for done in waiting {
                let _ = done.send(());
            }
            match outcome {
                Ok(round) => {
                    if round.busy {
                        pending.paths.extend(round.again);
                        pending.schedule(self.settings.debounce);
                    }
                }
                Err(_) => {
                    // The panic hook logged it. What is known about the files may be
                    // half updated: forget it, so the next round looks at everything.
                    tracing::error!(
                        "a reload round failed with an internal error; every zone is read again shortly"
                    );
                    self.zones.clear();
                    pending.schedule(self.settings.debounce.max(Duration::from_secs(1)));
                }
            }
        }
    }

    fn next_change(&self) -> Option<i64> {
        self.zones.values().filter_map(|z| z.next_change).min()
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
