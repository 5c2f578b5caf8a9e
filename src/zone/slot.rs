//! A small number for each zone name, the same for the life of the process: the
//! per-zone counters of the query path are indexed by it, so a reload (a new `Zone`)
//! keeps its zone's counters and the hot path never hashes a name to count.

use std::sync::Mutex;

use super::name::Name;

/// Zones counted each under their own name; any further zone is counted as `_other`.
pub(crate) const ZONE_SLOTS: usize = 128;
/// Slot 0: no zone (the name is in no zone, or the packet had no readable question).
pub(crate) const NO_ZONE: u16 = 0;
pub(crate) const OTHER_ZONES: u16 = ZONE_SLOTS as u16 - 1;

/// The names of the zone slots handed out so far.
static ZONE_NAMES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The counter slot of zone `name`: the same for the life of the process.
pub(crate) fn zone_slot(name: &Name) -> u16 {
    let text = name.to_string();
    let Ok(mut names) = ZONE_NAMES.lock() else {
        return OTHER_ZONES;
    };
    if names.is_empty() {
        names.push(String::new());
    }
    if let Some(i) = names.iter().position(|n| *n == text) {
        return i as u16;
    }
    if names.len() >= usize::from(OTHER_ZONES) {
        return OTHER_ZONES;
    }
    names.push(text);
    (names.len() - 1) as u16
}

/// The name a slot is reported under.
pub(crate) fn zone_label(slot: usize) -> String {
    if slot == usize::from(OTHER_ZONES) {
        return "_other".to_string();
    }
    ZONE_NAMES
        .lock()
        .ok()
        .and_then(|names| names.get(slot).cloned())
        .unwrap_or_default()
}
