//! A small number for each zone name, the same for the life of the process: the
//! per-zone counters of the query path are indexed by it, so a reload (a new `Zone`)
//! keeps its zone's counters and the hot path never hashes a name to count. Access
//! keys (`aclkey`) get theirs the same way, per zone and key.

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

/// Access keys counted each under their own name, with queries naming no known key
/// once per zone; any further key is counted as `_other`.
pub(crate) const KEY_SLOTS: usize = 512;
/// Slot 0: no key (the zone has no aclkey, or the query was not subject to it).
pub(crate) const NO_KEY: u16 = 0;
pub(crate) const OTHER_KEYS: u16 = KEY_SLOTS as u16 - 1;

/// The (zone, key) pairs of the key slots handed out so far; `None` is "no known key".
type KeySlots = Vec<(String, Option<Box<[u8]>>)>;
static KEY_NAMES: Mutex<KeySlots> = Mutex::new(Vec::new());

/// The counter slot of `key` in zone `zone` (`None`: queries naming no known key).
pub(crate) fn key_slot(zone: &Name, key: Option<&[u8]>) -> u16 {
    let text = zone.to_string();
    let Ok(mut names) = KEY_NAMES.lock() else {
        return OTHER_KEYS;
    };
    if names.is_empty() {
        names.push((String::new(), None));
    }
    if let Some(i) = names
        .iter()
        .position(|(z, k)| *z == text && k.as_deref() == key)
    {
        return i as u16;
    }
    if names.len() >= usize::from(OTHER_KEYS) {
        return OTHER_KEYS;
    }
    names.push((text, key.map(Into::into)));
    (names.len() - 1) as u16
}

/// The zone and key a key slot is reported under: `_unknown` for queries naming no
/// known key, `_other` past the last slot.
pub(crate) fn key_label(slot: usize) -> (String, String) {
    if slot == usize::from(OTHER_KEYS) {
        return ("_other".to_string(), "_other".to_string());
    }
    KEY_NAMES
        .lock()
        .ok()
        .and_then(|names| {
            names.get(slot).map(|(zone, key)| {
                let key = key.as_deref().map_or_else(
                    || "_unknown".to_string(),
                    |k| String::from_utf8_lossy(k).into_owned(),
                );
                (zone.clone(), key)
            })
        })
        .unwrap_or_default()
}
