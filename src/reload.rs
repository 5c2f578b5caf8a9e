//! Hot reload: notice changed files under the zones directory (file events, SIGHUP,
//! polling), re-parse only the zones they belong to, off the query path, and swap in a
//! new snapshot. A zone whose new files do not load keeps serving its last good data.
//!
//! Change detection is by stat first (size, mtime, inode), by content hash only when the
//! stat changed, so `touch` does not reload and a same-second rewrite of the same size
//! (which rbldnsd misses) does. A file must be quiet for the debounce period before it
//! is read, and a file that changes while being read is read again later: a file being
//! written in place is never served half written.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::store::{
    DirectoryLoad, Loader, Scan, Snapshot, Store, ZoneSource, load_catalogue, load_zones,
    release_freed_memory, scan, unix_now,
};
use crate::zone::Zone;
use crate::zone::name::Name;
use crate::zone::parse::{DatasetKind, content_hash};
use crate::zone::reason::Catalogue;

#[derive(Debug, Clone)]
pub struct ReloadSettings {
    /// Quiet time after the last file event (and since a file's last change) before
    /// reading it.
    pub debounce: Duration,
    /// Check files without events this often (NFS, some container mounts).
    pub poll_interval: Option<Duration>,
    /// Watch the directory for file events.
    pub watch: bool,
    /// Reload everything on SIGHUP.
    pub sighup: bool,
}

impl Default for ReloadSettings {
    fn default() -> Self {
        ReloadSettings {
            debounce: Duration::from_millis(200),
            poll_interval: Some(Duration::from_secs(2)),
            watch: true,
            sighup: true,
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
    pub entries: usize,
    pub serial: u32,
}

/// Per-zone reload counters, shared with whoever reports them.
#[derive(Debug, Default)]
pub struct ReloadStats {
    zones: Mutex<BTreeMap<String, ZoneStats>>,
    /// Reload rounds that swapped in a new snapshot.
    swaps: Mutex<u64>,
}

impl ReloadStats {
    pub fn zone(&self, name: &str) -> Option<ZoneStats> {
        self.zones.lock().ok()?.get(name).cloned()
    }

    pub fn all(&self) -> BTreeMap<String, ZoneStats> {
        self.zones.lock().map(|z| z.clone()).unwrap_or_default()
    }

    pub fn swaps(&self) -> u64 {
        self.swaps.lock().map(|s| *s).unwrap_or_default()
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

/// What stat says about a file; a change means "look at the content".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    mtime_ns: i128,
    inode: u64,
    device: u64,
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        let meta = std::fs::metadata(path).ok()?;
        Some(Stamp {
            len: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            inode: meta.ino(),
            device: meta.dev(),
        })
    }

    /// Time since the file last changed.
    fn age(&self) -> Duration {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        Duration::from_nanos(u64::try_from(now - self.mtime_ns).unwrap_or(0))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FileState {
    stamp: Option<Stamp>,
    /// Content hash, computed only once the stamp changed (`None`: not yet needed).
    hash: Option<u64>,
}

/// What is known about one zone's files, as last loaded (or tried).
#[derive(Debug, Clone, Default)]
struct ZoneState {
    files: Vec<(PathBuf, DatasetKind, FileState)>,
    /// A listing expires then: rebuild the zone.
    next_expiry: Option<i64>,
}

enum Trigger {
    /// File events under these paths; empty when the event source lost track (queue
    /// overflow, watch error) and everything must be looked at.
    Changed(Vec<PathBuf>),
    /// Reload every zone (SIGHUP).
    All,
}

/// Watches the zones directory and reloads what changed.
pub struct Reloader {
    loader: Loader,
    settings: ReloadSettings,
    zones: HashMap<Name, ZoneState>,
    catalogue: Arc<Catalogue>,
    catalogue_state: Option<FileState>,
    stats: Arc<ReloadStats>,
}

/// A running reloader: triggers and statistics.
pub struct ReloadHandle {
    task: tokio::task::JoinHandle<()>,
    trigger: mpsc::UnboundedSender<Trigger>,
    pub stats: Arc<ReloadStats>,
}

impl ReloadHandle {
    /// Reloads every zone now, as SIGHUP does.
    pub fn reload_all(&self) {
        let _ = self.trigger.send(Trigger::All);
    }

    pub fn abort(&self) {
        self.task.abort();
    }
}

impl Reloader {
    /// Starts from the state `initial` loaded: its zones are what is being served.
    pub fn new(loader: Loader, initial: &DirectoryLoad, settings: ReloadSettings) -> Reloader {
        let stats = Arc::new(ReloadStats::default());
        let mut zones = HashMap::new();
        for (source, load) in initial.scan.zones.iter().zip(&initial.zones) {
            zones.insert(
                source.name.clone(),
                ZoneState {
                    files: as_loaded(&source.files, &load.file_hashes),
                    next_expiry: load.next_expiry,
                },
            );
            stats.update(&source.name, |s| {
                s.entries = load.entries;
                if let Some(zone) = &load.zone {
                    s.serial = zone.soa.serial;
                }
                if !load.diagnostics.errors.is_empty() {
                    s.last_error = Some(join_errors(&load.diagnostics.errors));
                }
            });
        }
        let catalogue_state = initial.scan.catalogue.as_deref().map(|path| FileState {
            stamp: Stamp::of(path),
            hash: None,
        });
        Reloader {
            loader,
            settings,
            zones,
            catalogue: initial.catalogue.clone(),
            catalogue_state,
            stats,
        }
    }

    pub fn stats(&self) -> Arc<ReloadStats> {
        self.stats.clone()
    }

    /// Runs on `runtime` until aborted.
    pub fn spawn(self, runtime: &tokio::runtime::Handle, store: Arc<Store>) -> ReloadHandle {
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
        let mut hup = if self.settings.sighup {
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
        } else {
            None
        };
        let poll_every = self
            .settings
            .poll_interval
            .unwrap_or(Duration::from_secs(3600));
        let mut poll = tokio::time::interval(poll_every);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        poll.tick().await;
        // Set when a changed file was still being written: look again soon.
        let mut retry_at: Option<tokio::time::Instant> = None;
        loop {
            let expiry = self.next_expiry().map(|at| {
                let wait = (at - unix_now()).max(0) as u64;
                tokio::time::Instant::now() + Duration::from_secs(wait)
            });
            let wake = [expiry, retry_at].into_iter().flatten().min();
            let mut all = false;
            let mut evented = false;
            let mut hinted: HashSet<PathBuf> = HashSet::new();
            tokio::select! {
                Some(trigger) = triggers.recv() => match trigger {
                    Trigger::All => all = true,
                    Trigger::Changed(paths) => {
                        evented = true;
                        hinted.extend(paths);
                    }
                },
                Some(()) = recv_hup(&mut hup) => {
                    tracing::info!("SIGHUP: reloading every zone");
                    all = true;
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
            // Debounce: let a burst of events (an rsync, an editor's save) finish.
            if evented || all {
                loop {
                    tokio::select! {
                        Some(trigger) = triggers.recv() => match trigger {
                            Trigger::All => all = true,
                            Trigger::Changed(paths) => hinted.extend(paths),
                        },
                        _ = tokio::time::sleep(self.settings.debounce) => break,
                    }
                }
            }
            let store = store.clone();
            let (reloader, busy) = match tokio::task::spawn_blocking(move || {
                let busy = self.reload(&store, all, &hinted);
                (self, busy)
            })
            .await
            {
                Ok(result) => result,
                Err(error) => {
                    tracing::error!(%error, "reload task failed; reloading stops");
                    return;
                }
            };
            self = reloader;
            retry_at = busy.then(|| tokio::time::Instant::now() + self.settings.debounce);
        }
    }

    fn next_expiry(&self) -> Option<i64> {
        self.zones.values().filter_map(|z| z.next_expiry).min()
    }

    /// One round: find what changed, load it, swap. Returns true when some file was
    /// still changing and should be looked at again shortly.
    pub fn reload(&mut self, store: &Store, all: bool, hinted: &HashSet<PathBuf>) -> bool {
        let scan = match scan(&self.loader.dir) {
            Ok(scan) => scan,
            Err(error) => {
                tracing::warn!(%error, "cannot scan the zones directory; keeping every zone as it is");
                return false;
            }
        };
        let now = unix_now();
        let catalogue_changed = self.refresh_catalogue(&scan, all, hinted);
        let current = store.load_full();
        let mut busy = false;
        let mut to_load: Vec<ZoneSource> = Vec::new();
        let mut to_load_states: Vec<Vec<(PathBuf, DatasetKind, FileState)>> = Vec::new();
        for source in &scan.zones {
            let known = self.zones.get(&source.name);
            let (files, changed) =
                compare(known.map(|k| k.files.as_slice()), &source.files, hinted);
            let uses_catalogue = source.files.iter().any(|(_, k)| *k == DatasetKind::Ward);
            let expired = known
                .and_then(|k| k.next_expiry)
                .is_some_and(|at| at <= now);
            if !(all || changed || expired || (catalogue_changed && uses_catalogue)) {
                continue;
            }
            // A file changed less than the debounce period ago may still be being written.
            let fresh = files.iter().any(|(_, _, state)| {
                state
                    .stamp
                    .is_some_and(|s| s.age() < self.settings.debounce)
            });
            if fresh {
                busy = true;
                continue;
            }
            // One change a second at most: the serial is the time of the load, so it
            // rises and never runs ahead of the clock, across restarts too.
            let loaded_this_second = current
                .zone(&source.name)
                .is_some_and(|z| z.serial_is_auto && i64::from(z.soa.serial) >= now);
            if loaded_this_second {
                busy = true;
                continue;
            }
            to_load.push(source.clone());
            to_load_states.push(files);
        }
        let present: HashSet<&Name> = scan.zones.iter().map(|s| &s.name).collect();
        let removed: Vec<Name> = self
            .zones
            .keys()
            .filter(|name| !present.contains(name))
            .cloned()
            .collect();
        if to_load.is_empty() && removed.is_empty() {
            return busy;
        }
        let floors: HashMap<Name, u32> = current
            .zones()
            .iter()
            .map(|z| (z.name.clone(), z.soa.serial))
            .collect();
        let loads = load_zones(
            &to_load,
            &self.catalogue,
            &self.loader.options,
            self.loader.lenient,
            &|name| floors.get(name).copied(),
        );
        let mut replaced: HashMap<Name, Arc<Zone>> = HashMap::new();
        for ((source, load), states) in to_load.iter().zip(loads).zip(to_load_states) {
            // Stamped before the content check: a change after it shows next round.
            let loaded_states = as_loaded(&source.files, &load.file_hashes);
            // Read again later if a file changed while it was being read. Only the
            // content can tell: a rewrite of the same size within one clock tick keeps
            // size and mtime.
            // And a file touched during the load may be half written with its writer
            // paused: it must have been quiet for the debounce period, checked after.
            let debounce = self.settings.debounce;
            let settled = source
                .files
                .iter()
                .zip(&load.file_hashes)
                .zip(&loaded_states)
                .all(|(((path, _), hash), (_, _, state))| {
                    hash.is_some()
                        && content_hash(path) == *hash
                        && state.stamp.is_some_and(|s| s.age() >= debounce)
                });
            let unreadable = load.file_hashes.iter().any(Option::is_none);
            if !settled && !unreadable {
                busy = true;
                continue;
            }
            let states = if unreadable { states } else { loaded_states };
            let name = source.name.clone();
            self.zones.insert(
                name.clone(),
                ZoneState {
                    files: states,
                    next_expiry: load.next_expiry,
                },
            );
            match load.zone {
                Some(zone) if load.diagnostics.errors.is_empty() || self.loader.lenient => {
                    tracing::info!(
                        zone = %name,
                        entries = load.entries,
                        ms = load.duration.as_millis() as u64,
                        serial = zone.soa.serial,
                        "reloaded"
                    );
                    for warning in &load.diagnostics.warnings {
                        tracing::warn!("{warning}");
                    }
                    self.stats.update(&name, |s| {
                        s.reloads += 1;
                        s.last_error = None;
                        s.entries = load.entries;
                        s.serial = zone.soa.serial;
                    });
                    replaced.insert(name, Arc::new(zone));
                }
                _ => {
                    for error in &load.diagnostics.errors {
                        tracing::warn!("{error}");
                    }
                    let kept = if floors.contains_key(&name) {
                        "keeps serving its previous data"
                    } else {
                        "is not served"
                    };
                    tracing::warn!(zone = %name, errors = load.diagnostics.errors.len(), "reload failed; the zone {kept}");
                    let text = join_errors(&load.diagnostics.errors);
                    self.stats.update(&name, |s| {
                        s.failures += 1;
                        s.last_error = Some(text);
                    });
                }
            }
        }
        for name in &removed {
            tracing::info!(zone = %name, "zone removed");
            self.zones.remove(name);
            self.stats.remove(name);
        }
        if replaced.is_empty() && removed.is_empty() {
            return busy;
        }
        let mut zones: Vec<Arc<Zone>> = current
            .zones()
            .iter()
            .filter(|z| !removed.contains(&z.name) && !replaced.contains_key(&z.name))
            .cloned()
            .collect();
        zones.extend(replaced.into_values());
        store.swap(Snapshot::new(zones));
        // The replaced zones go when the last query holding the old snapshot is done;
        // that is within one batch, so by the next round at the latest.
        drop(current);
        release_freed_memory();
        if let Ok(mut swaps) = self.stats.swaps.lock() {
            *swaps += 1;
        }
        busy
    }

    /// Reloads `reasons.conf` if it changed. A catalogue with errors is not taken: the
    /// zones keep the reasons they were loaded with.
    fn refresh_catalogue(&mut self, scan: &Scan, all: bool, hinted: &HashSet<PathBuf>) -> bool {
        let Some(path) = &scan.catalogue else {
            if self.catalogue_state.take().is_some() {
                tracing::info!("reasons.conf removed");
                self.catalogue = Arc::new(Catalogue::default());
                return true;
            }
            return false;
        };
        let state = self.catalogue_state.get_or_insert(FileState {
            stamp: None,
            hash: None,
        });
        let stamp = Stamp::of(path);
        if !all && stamp == state.stamp && !hinted.contains(path) {
            return false;
        }
        let hash = content_hash(path);
        let changed = all || hash.is_none() || hash != state.hash;
        *state = FileState { stamp, hash };
        if !changed {
            return false;
        }
        let (catalogue, diagnostics) = load_catalogue(path);
        if !diagnostics.errors.is_empty() && !self.loader.lenient {
            for error in &diagnostics.errors {
                tracing::warn!("{error}");
            }
            tracing::warn!("reasons.conf has errors; the previous reasons stay in use");
            return false;
        }
        self.catalogue = Arc::new(catalogue);
        true
    }
}

async fn recv_hup(hup: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match hup {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn join_errors(errors: &[crate::zone::parse::Diagnostic]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn stamped(files: &[(PathBuf, DatasetKind)]) -> Vec<(PathBuf, DatasetKind, FileState)> {
    files
        .iter()
        .map(|(path, kind)| {
            (
                path.clone(),
                *kind,
                FileState {
                    stamp: Stamp::of(path),
                    hash: None,
                },
            )
        })
        .collect()
}

/// The state of files just loaded: their stamp now, and the hash of what was parsed.
fn as_loaded(
    files: &[(PathBuf, DatasetKind)],
    hashes: &[Option<u64>],
) -> Vec<(PathBuf, DatasetKind, FileState)> {
    files
        .iter()
        .zip(hashes.iter().chain(std::iter::repeat(&None)))
        .map(|((path, kind), hash)| {
            (
                path.clone(),
                *kind,
                FileState {
                    stamp: Stamp::of(path),
                    hash: *hash,
                },
            )
        })
        .collect()
}

/// The current state of a zone's files and whether its content differs from `known`.
/// Content is hashed only for files whose stamp changed or that had an event.
fn compare(
    known: Option<&[(PathBuf, DatasetKind, FileState)]>,
    files: &[(PathBuf, DatasetKind)],
    hinted: &HashSet<PathBuf>,
) -> (Vec<(PathBuf, DatasetKind, FileState)>, bool) {
    let Some(known) = known else {
        return (stamped(files), true);
    };
    let mut changed = known.len() != files.len();
    let mut current = Vec::with_capacity(files.len());
    for (path, kind) in files {
        let stamp = Stamp::of(path);
        let previous = known.iter().find(|(p, _, _)| p == path);
        let state = match previous {
            Some((_, known_kind, state))
                if *known_kind == *kind && state.stamp == stamp && !hinted.contains(path) =>
            {
                state.clone()
            }
            Some((_, known_kind, state)) if *known_kind == *kind => {
                let hash = content_hash(path);
                let known_hash = state.hash.or_else(|| {
                    // The content behind the old stamp was never hashed; if the stamp
                    // still matches (an event only), the file is what was loaded.
                    (state.stamp == stamp).then_some(hash).flatten()
                });
                changed |= hash.is_none() || hash != known_hash;
                FileState { stamp, hash }
            }
            _ => {
                changed = true;
                FileState {
                    stamp,
                    hash: content_hash(path),
                }
            }
        };
        current.push((path.clone(), *kind, state));
    }
    (current, changed)
}

/// A recursive watch on the zones directory, feeding events into the reloader.
struct DirWatch {
    _watcher: Option<notify::RecommendedWatcher>,
    root: Option<(u64, u64)>,
}

fn dir_identity(dir: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
}

impl DirWatch {
    fn start(dir: &Path, events: mpsc::UnboundedSender<Trigger>) -> DirWatch {
        let handler = move |result: notify::Result<notify::Event>| {
            let trigger = match result {
                Ok(event) if event.need_rescan() => Trigger::Changed(Vec::new()),
                Ok(event) => {
                    // Opening and reading (ward's own reads among them) change nothing.
                    if matches!(
                        event.kind,
                        EventKind::Access(
                            notify::event::AccessKind::Open(_)
                                | notify::event::AccessKind::Read
                                | notify::event::AccessKind::Close(notify::event::AccessMode::Read)
                        )
                    ) {
                        return;
                    }
                    Trigger::Changed(event.paths)
                }
                // An error (queue overflow among them): look at everything.
                Err(_) => Trigger::Changed(Vec::new()),
            };
            let _ = events.send(trigger);
        };
        let watcher = notify::recommended_watcher(handler).and_then(|mut watcher| {
            watcher.watch(dir, RecursiveMode::Recursive)?;
            Ok(watcher)
        });
        match watcher {
            Ok(watcher) => DirWatch {
                _watcher: Some(watcher),
                root: dir_identity(dir),
            },
            Err(error) => {
                tracing::warn!(%error, dir = %dir.display(), "cannot watch the zones directory; relying on polling and SIGHUP");
                DirWatch {
                    _watcher: None,
                    root: dir_identity(dir),
                }
            }
        }
    }

    /// The directory now at the path is not the one being watched.
    fn root_replaced(&self, dir: &Path) -> bool {
        dir_identity(dir) != self.root
    }
}
