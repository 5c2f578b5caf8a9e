//! The zones being served: a [`Snapshot`] of them, held in an `ArcSwap` so a query never
//! waits on a reload and never sees half of one.

use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};

use crate::zone::name::{Name, NameRef};
use crate::zone::{IpName, Zone};

/// Every zone being served, deepest names first so the first suffix match is the
/// most specific zone.
#[derive(Default)]
pub struct Snapshot {
    zones: Vec<Arc<Zone>>,
}

impl Snapshot {
    pub fn new(mut zones: Vec<Arc<Zone>>) -> Self {
        zones.sort_by(|a, b| {
            b.name
                .label_count()
                .cmp(&a.name.label_count())
                .then_with(|| a.name.cmp(&b.name))
        });
        Snapshot { zones }
    }

    /// Where `qname` is served: the deepest zone containing it, and the labels below
    /// that zone's apex read as IP addresses. Done once per query; the prefetch and the
    /// answer both use the result.
    pub fn locate(&self, qname: NameRef<'_>) -> Option<Located<'_>> {
        let labels = qname.label_count();
        self.zones.iter().find_map(|zone| {
            let zone_labels = zone.name.label_count();
            (zone_labels <= labels && qname.suffix(labels - zone_labels).wire() == zone.name.wire())
                .then(|| {
                    let relative_labels = labels - zone_labels;
                    Located {
                        zone: zone.as_ref(),
                        relative_labels,
                        ip: IpName::classify(qname.prefix(relative_labels)),
                    }
                })
        })
    }

    pub fn zones(&self) -> &[Arc<Zone>] {
        &self.zones
    }

    pub fn zone(&self, name: &Name) -> Option<&Arc<Zone>> {
        self.zones.iter().find(|z| z.name == *name)
    }
}

/// A query name's place in a snapshot; see [`Snapshot::locate`].
#[derive(Clone, Copy)]
pub struct Located<'s> {
    pub zone: &'s Zone,
    /// Leftmost labels of the query name that lie below the zone apex.
    pub relative_labels: usize,
    /// Those labels read as IP addresses.
    pub ip: IpName,
}

impl Located<'_> {
    /// The query name without the zone apex.
    pub fn relative<'q>(&self, qname: NameRef<'q>) -> NameRef<'q> {
        qname.prefix(self.relative_labels)
    }
}

/// The snapshot being served.
pub struct Store {
    current: ArcSwap<Snapshot>,
}

impl Store {
    pub fn new(snapshot: Snapshot) -> Self {
        Store {
            current: ArcSwap::from_pointee(snapshot),
        }
    }

    /// The current snapshot; cheap, and it stays valid however long it is held.
    pub fn load(&self) -> Guard<Arc<Snapshot>> {
        self.current.load()
    }

    pub fn load_full(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    pub fn swap(&self, snapshot: Snapshot) {
        self.current.store(Arc::new(snapshot));
    }
}
