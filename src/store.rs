//! The zones being served: a [`Snapshot`] of them, held in an `ArcSwap` so a query never
//! waits on a reload and never sees half of one. Uses `zone` only.

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
    pub(crate) fn new(mut zones: Vec<Arc<Zone>>) -> Self {
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
    pub(crate) fn locate(&self, qname: NameRef<'_>) -> Option<Located<'_>> {
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

    pub(crate) fn zones(&self) -> &[Arc<Zone>] {
        &self.zones
    }

    pub(crate) fn zone(&self, name: &Name) -> Option<&Arc<Zone>> {
        self.zones.iter().find(|z| z.name == *name)
    }
}

/// A query name's place in a snapshot; see [`Snapshot::locate`].
#[derive(Clone, Copy)]
pub(crate) struct Located<'s> {
    pub(crate) zone: &'s Zone,
    /// Leftmost labels of the query name that lie below the zone apex.
    pub(crate) relative_labels: usize,
    /// Those labels read as IP addresses.
    pub(crate) ip: IpName,
}

impl Located<'_> {
    /// The query name without the zone apex.
    pub(crate) fn relative<'q>(&self, qname: NameRef<'q>) -> NameRef<'q> {
        qname.prefix(self.relative_labels)
    }
}

/// The snapshot being served.
pub struct Store {
    current: ArcSwap<Snapshot>,
}

impl Store {
    pub(crate) fn new(snapshot: Snapshot) -> Self {
        Store {
            current: ArcSwap::from_pointee(snapshot),
        }
    }

    /// The current snapshot; cheap, and it stays valid however long it is held.
    pub(crate) fn load(&self) -> Guard<Arc<Snapshot>> {
        self.current.load()
    }

    pub(crate) fn load_full(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    pub fn swap(&self, snapshot: Snapshot) {
        self.current.store(Arc::new(snapshot));
    }
}

#[cfg(test)]
mod tests {
    use crate::load::test_snapshot;
    use crate::zone::IpRead;
    use crate::zone::name::{Name, NameBuf};

    fn name(text: &str) -> NameBuf {
        NameBuf::from_name(&Name::parse(text).unwrap())
    }

    #[test]
    fn locate_finds_the_deepest_zone_and_reads_the_rest_once() {
        let snapshot = test_snapshot(&[
            ("bl.test.zone", "192.0.2.1 :2:outer\n"),
            ("sub.bl.test.zone", "192.0.2.1 :3:inner\n"),
        ]);
        let query = name("1.2.0.192.sub.bl.test");
        let place = snapshot.locate(query.view()).unwrap();
        assert_eq!(place.zone.name.to_string(), "sub.bl.test");
        assert_eq!(place.relative_labels, 4);
        assert_eq!(place.ip.v4, Some(IpRead::Address(0xc000_0201)));
        assert_eq!(
            place.relative(query.view()).wire(),
            name("1.2.0.192").view().wire()
        );
        let outer = snapshot.locate(name("x.bl.test").view()).unwrap();
        assert_eq!(outer.zone.name.to_string(), "bl.test");
        assert_eq!(outer.ip, crate::zone::IpName::default());
        let apex = snapshot.locate(name("sub.bl.test").view()).unwrap();
        assert_eq!(apex.relative_labels, 0);
        assert!(snapshot.locate(name("bl.example").view()).is_none());
        assert!(snapshot.locate(name("test").view()).is_none());
        assert!(
            snapshot.locate(NameBuf::default().view()).is_none(),
            "the root"
        );
    }
}
