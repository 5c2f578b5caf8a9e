//! One reload round: plan (which zones changed and are quiet), load them, commit (keep
//! what loaded and settled, log what did not, swap the snapshot once).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::Instant;

use super::changes::{FileRecord, as_loaded, compare, settled};
use super::{Reloader, ZoneState};
use crate::load::files::Stamp;
use crate::load::files::content_hash;
use crate::load::{Scan, ZoneLoad, ZoneSource, load_catalogue, load_zones};
use crate::memory::release_freed_memory;
use crate::store::{Snapshot, Store};
use crate::time::unix_now;
use crate::zone::name::Name;
use crate::zone::parse::Diagnostic;
use crate::zone::reason::Catalogue;
use crate::zone::{DatasetKind, SerialFloor, Zone};

/// What a round leaves to do.
#[derive(Debug, Default)]
pub(super) struct Round {
    /// Some change is waiting for its files to go quiet: look again soon.
    pub(super) busy: bool,
    /// The paths of those changes, to look at by content next time.
    pub(super) again: HashSet<PathBuf>,
}

/// A zone to load, with what its files looked like when planned.
struct Planned {
    source: ZoneSource,
    files: Vec<FileRecord>,
    /// Its files never went quiet: read anyway, without waiting to settle.
    forced: bool,
}

struct Plan {
    load: Vec<Planned>,
    removed: Vec<Name>,
}

impl Reloader {
    /// One round: find what changed, load it, swap.
    pub(super) fn round(&mut self, store: &Store, all: bool, hinted: &HashSet<PathBuf>) -> Round {
        let scan = match self.loader.scan() {
            Ok(scan) => scan,
            Err(error) => {
                tracing::warn!(%error, "cannot scan the zones directory; keeping every zone as it is");
                return Round::default();
            }
        };
        let current = store.load_full();
        let mut round = Round::default();
        let plan = self.plan(&scan, &current, all, hinted, &mut round);
        if plan.load.is_empty() && plan.removed.is_empty() {
            return round;
        }
        let floors: HashMap<Name, SerialFloor> = current
            .zones()
            .iter()
            .map(|z| (z.name.clone(), z.serial_floor()))
            .collect();
        let sources: Vec<ZoneSource> = plan.load.iter().map(|p| p.source.clone()).collect();
        let present: HashSet<&PathBuf> = scan
            .zones
            .iter()
            .flat_map(|zone| zone.files.iter().map(|f| &f.path))
            .collect();
        self.parse_cache.retain(&present);
        for file in plan.load.iter().flat_map(|p| &p.files) {
            if let Some(hash) = file.hash {
                self.parse_cache.forget_unless(&file.path, hash);
            }
        }
        if all {
            // SIGHUP reads every file again, as its log line says, whatever its stamp.
            self.parse_cache = crate::load::ParseCache::default();
        }
        let loads = load_zones(
            &sources,
            &self.catalogue,
            &self.loader.options,
            self.loader.lenient,
            &|name| floors.get(name).copied(),
            Some(&mut self.parse_cache),
        );
        self.commit(store, &current, plan, loads, &floors, &mut round);
        round
    }

    /// Which zones to load now: changed (or all, or expiring, or using a changed
    /// catalogue), and with every file quiet for the debounce period — or waiting for
    /// that longer than `max_wait`.
    fn plan(
        &mut self,
        scan: &Scan,
        current: &Snapshot,
        all: bool,
        hinted: &HashSet<PathBuf>,
        round: &mut Round,
    ) -> Plan {
        let now = unix_now();
        let wall = SystemTime::now();
        let catalogue_changed = self.refresh_catalogue(scan, all, hinted);
        let mut load = Vec::new();
        for source in &scan.zones {
            let known = self.zones.get(&source.name);
            if source.unreadable.is_some() {
                // Try (and report) once; then wait until it can be listed again.
                if all || !known.is_some_and(|k| k.unreadable) {
                    let files = known.map(|k| k.files.clone()).unwrap_or_default();
                    load.push(Planned {
                        source: source.clone(),
                        files,
                        forced: true,
                    });
                }
                continue;
            }
            let (files, changed) =
                compare(known.map(|k| k.files.as_slice()), &source.files, hinted);
            let uses_catalogue = source.files.iter().any(|f| f.kind == DatasetKind::Ward);
            let expired = known
                .and_then(|k| k.next_change)
                .is_some_and(|at| at <= now);
            let was_unreadable = known.is_some_and(|k| k.unreadable);
            if !(all
                || changed
                || expired
                || was_unreadable
                || (catalogue_changed && uses_catalogue))
            {
                if let Some(state) = self.zones.get_mut(&source.name) {
                    state.waiting_since = None;
                }
                continue;
            }
            let mut forced = false;
            if files
                .iter()
                .any(|f| f.is_fresh(self.settings.debounce, wall))
            {
                let since = self
                    .zones
                    .entry(source.name.clone())
                    .or_default()
                    .waiting_since
                    .get_or_insert_with(Instant::now);
                if since.elapsed() < self.settings.max_wait {
                    round.busy = true;
                    round
                        .again
                        .extend(source.files.iter().map(|f| f.path.clone()));
                    continue;
                }
                tracing::warn!(
                    zone = %source.name,
                    waited_ms = since.elapsed().as_millis() as u64,
                    "files of this zone keep changing and never stay quiet for the debounce period; reading them anyway"
                );
                forced = true;
            }
            // One change a second at most: the serial is the time of the load, so it
            // rises and never runs ahead of the clock, across restarts too.
            let loaded_this_second = current
                .zone(&source.name)
                .is_some_and(|z| z.serial_is_auto && i64::from(z.soa.serial) >= now);
            if loaded_this_second {
                round.busy = true;
                round
                    .again
                    .extend(source.files.iter().map(|f| f.path.clone()));
                continue;
            }
            load.push(Planned {
                source: source.clone(),
                files,
                forced,
            });
        }
        let present: HashSet<&Name> = scan.zones.iter().map(|s| &s.name).collect();
        let removed = self
            .zones
            .keys()
            .filter(|name| !present.contains(name))
            .cloned()
            .collect();
        Plan { load, removed }
    }

    /// Keeps each loaded zone that settled, logs the others, and swaps once.
    fn commit(
        &mut self,
        store: &Store,
        current: &Snapshot,
        plan: Plan,
        loads: Vec<ZoneLoad>,
        floors: &HashMap<Name, SerialFloor>,
        round: &mut Round,
    ) {
        let wall = SystemTime::now();
        let mut replaced: HashMap<Name, Arc<Zone>> = HashMap::new();
        for (planned, load) in plan.load.into_iter().zip(loads) {
            let Planned {
                source,
                files,
                forced,
            } = planned;
            // Stamped after the load: a change after this shows next round.
            let loaded = as_loaded(&source.files, &load.file_hashes);
            let unreadable = source.unreadable.is_some() || loaded.iter().any(|f| f.hash.is_none());
            if !forced
                && !unreadable
                && !settled(&loaded, &load.file_stamps, self.settings.debounce, wall)
            {
                round.busy = true;
                round
                    .again
                    .extend(source.files.iter().map(|f| f.path.clone()));
                continue;
            }
            let name = source.name.clone();
            self.zones.insert(
                name.clone(),
                ZoneState {
                    // An unreadable file stays "changed", to be retried at its next event.
                    files: if unreadable { files } else { loaded },
                    next_change: load.next_change,
                    unreadable: source.unreadable.is_some(),
                    waiting_since: None,
                },
            );
            let mut load = load;
            match load.zone.take() {
                Some(zone) if load.diagnostics.errors.is_empty() || self.loader.lenient => {
                    self.log_loaded(&name, &load, &zone, current);
                    replaced.insert(name, Arc::new(zone));
                }
                _ => self.log_failed(&name, &load, floors.contains_key(&name)),
            }
        }
        for name in &plan.removed {
            tracing::info!(zone = %name, "zone removed");
            self.zones.remove(name);
            self.stats.remove(name);
        }
        if replaced.is_empty() && plan.removed.is_empty() {
            return;
        }
        let mut zones: Vec<Arc<Zone>> = current
            .zones()
            .iter()
            .filter(|z| !plan.removed.contains(&z.name) && !replaced.contains_key(&z.name))
            .cloned()
            .collect();
        let changed: Vec<Arc<Zone>> = replaced.into_values().collect();
        zones.extend(changed.iter().cloned());
        store.swap(Snapshot::new(zones));
        self.stats
            .swaps
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(on_change) = &self.on_change {
            for new in &changed {
                on_change(current.zone(&new.name), new);
            }
        }
        // The replaced zones go when the last query holding the old snapshot is done;
        // that is within one batch, so by the next round at the latest.
        release_freed_memory();
    }

    fn log_loaded(&self, name: &Name, load: &ZoneLoad, zone: &Zone, current: &Snapshot) {
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
        let before = self.stats.zone(&name.to_string()).map(|s| s.entries);
        if let Some(before) = before.filter(|_| current.zone(name).is_some())
            && let Some(shrink) = shrink_warning(before, load.entries)
        {
            tracing::warn!(zone = %name, before, after = load.entries, "{shrink}");
        }
        self.stats.update(name, |s| {
            s.reloads += 1;
            s.last_error = None;
            s.entries = load.entries;
            s.serial = zone.soa.serial;
            s.last_loaded = Some(SystemTime::now());
        });
    }

    fn log_failed(&self, name: &Name, load: &ZoneLoad, served: bool) {
        for error in &load.diagnostics.errors {
            tracing::warn!("{error}");
        }
        let kept = if served {
            "keeps serving its previous data"
        } else {
            "is not served"
        };
        tracing::warn!(zone = %name, errors = load.diagnostics.errors.len(), "reload failed; the zone {kept}");
        let text = join_errors(&load.diagnostics.errors);
        self.stats.update(name, |s| {
            s.failures += 1;
            s.last_error = Some(text);
        });
    }

    /// Reloads `reasons.conf` if it changed. A catalogue with errors is not taken: the
    /// zones keep the reasons they were loaded with.
    fn refresh_catalogue(&mut self, scan: &Scan, all: bool, hinted: &HashSet<PathBuf>) -> bool {
        let Some(path) = &scan.catalogue else {
            if self.catalogue_seen.take().is_some() {
                tracing::info!("reasons.conf removed");
                self.catalogue = Arc::new(Catalogue::default());
                return true;
            }
            return false;
        };
        let seen = self.catalogue_seen.get_or_insert((None, None));
        let stamp = Stamp::of(path);
        if !all && stamp == seen.0 && !hinted.contains(path) {
            return false;
        }
        let hash = content_hash(path);
        let changed = all || hash.is_none() || hash != seen.1;
        *seen = (stamp, hash);
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

/// What to say when a reload takes most of a zone's entries away at once (a deleted
/// file, a truncated feed): it loads, since that may be meant, but not silently.
pub(crate) fn shrink_warning(before: usize, after: usize) -> Option<String> {
    if after == 0 && before > 0 {
        Some(format!(
            "this zone now lists nothing (it had {before} entries): was a file deleted or emptied by mistake?"
        ))
    } else if before >= 10 && after < before / 2 {
        Some(format!(
            "this zone lost more than half its entries at once ({before} -> {after}): was a file deleted or cut short by mistake?"
        ))
    } else {
        None
    }
}

pub(super) fn join_errors(errors: &[Diagnostic]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrinking_to_nothing_or_by_half_is_said() {
        assert!(shrink_warning(5, 0).unwrap().contains("lists nothing"));
        assert!(shrink_warning(100, 49).unwrap().contains("more than half"));
        assert_eq!(shrink_warning(100, 50), None);
        assert_eq!(shrink_warning(4, 1), None, "small zones change by halves");
        assert_eq!(shrink_warning(0, 0), None);
        assert_eq!(shrink_warning(10, 20), None);
    }
}
