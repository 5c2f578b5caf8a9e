//! The zone model: pure data and lookups, no sockets or DNS wire types. A zone is a name
//! with an SOA and the datasets that list things under it; a lookup turns a name below
//! the apex into "listed with these values", "exists", or "does not exist".

pub mod acl;
pub mod address;
pub mod dataset;
pub mod generic;
pub mod ip;
pub mod name;
pub mod names;
pub mod parse;
pub mod reason;
pub mod value;

use smallvec::SmallVec;

pub use dataset::{Dataset, IpName, Subject};

use acl::Acl;
use dataset::DatasetMatch;
use dataset::IpRead;
use generic::Record;
use ip::{PrefixMap, Warm};
use name::{Name, NameRef};
use reason::Template;
use value::Value;

/// The zone's SOA, resolved (no "0 = default" left).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Soa {
    pub ttl: u32,
    pub mname: Name,
    pub rname: Name,
    pub serial: u32,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    pub minimum: u32,
}

impl Soa {
    /// TTL of the SOA in negative answers (RFC 2308 §3: the smaller of its TTL and
    /// its minimum field; rbldnsd uses the minimum even when it is larger).
    pub fn negative_ttl(&self) -> u32 {
        self.ttl.min(self.minimum)
    }
}

pub struct Zone {
    pub name: Name,
    pub soa: Soa,
    pub ns: Vec<Name>,
    pub ns_ttl: u32,
    pub datasets: Vec<Dataset>,
    /// RFC 5782 test points, consulted only when the zone's own data is silent.
    pub test_points: Option<Dataset>,
    pub acl: Option<Acl>,
    /// The serial is ward's (the time of the load), not written in the data.
    pub serial_is_auto: bool,
}

/// How a name relates to the zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// The zone apex itself.
    Apex,
    /// At least one live listing or record.
    Listed,
    /// Not listed, but the name exists (empty non-terminal, subzone, other data).
    Exists,
    /// The name does not exist: NXDOMAIN.
    Absent,
}

/// One thing a lookup found.
#[derive(Clone, Copy)]
pub enum Found<'z> {
    Listing {
        value: &'z Value,
        txt: Option<&'z Template>,
        ttl: u32,
        subject: Subject,
    },
    Record(&'z Record),
}

pub type FoundList<'z> = SmallVec<[Found<'z>; 8]>;

/// Where one lookup will read; see [`Zone::prefetch_targets`].
#[derive(Default)]
pub struct Prefetch<'z>(SmallVec<[PrefetchTarget<'z>; 2]>);

enum PrefetchTarget<'z> {
    V4(&'z PrefixMap<u32>, u32),
    V6(&'z PrefixMap<u128>, u128),
}

impl Prefetch<'_> {
    pub fn warm(&self, warm: Warm) {
        for target in &self.0 {
            match *target {
                PrefetchTarget::V4(map, addr) => map.prefetch(addr, warm),
                PrefetchTarget::V6(map, addr) => map.prefetch(addr, warm),
            }
        }
    }
}

impl Zone {
    /// Looks up `relative`, the query name without the zone apex. `now` (Unix seconds)
    /// hides listings whose expiry has passed.
    pub fn lookup<'z>(
        &'z self,
        relative: NameRef<'_>,
        now: i64,
        found: &mut FoundList<'z>,
    ) -> Presence {
        if relative.is_root() {
            for dataset in self
                .datasets
                .iter()
                .filter(|d| d.attach.iter().any(Name::is_root))
            {
                found.extend(dataset.apex_records().iter().map(Found::Record));
            }
            return Presence::Apex;
        }
        let before = found.len();
        let mut exists = false;
        for dataset in &self.datasets {
            exists |= lookup_dataset(dataset, relative, now, found);
        }
        if found.len() > before {
            return Presence::Listed;
        }
        if let Some(test_points) = &self.test_points {
            exists |= lookup_dataset(test_points, relative, now, found);
            if found.len() > before {
                return Presence::Listed;
            }
        }
        if exists {
            Presence::Exists
        } else {
            Presence::Absent
        }
    }

    /// The index entries a [`lookup`](Self::lookup) of `relative` will read, to be
    /// warmed ahead of it (see [`PrefixMap::prefetch`]).
    pub fn prefetch_targets(&self, relative: NameRef<'_>) -> Prefetch<'_> {
        let mut targets = Prefetch::default();
        let labels = relative.label_count();
        let with_ips = self
            .datasets
            .iter()
            .filter(|d| !d.ip4.is_empty() || !d.ip6.is_empty());
        for dataset in with_ips {
            for attach in &dataset.attach {
                let attach_labels = attach.label_count();
                if attach_labels > 0
                    && (labels <= attach_labels
                        || relative.suffix(labels - attach_labels).wire() != attach.wire())
                {
                    continue;
                }
                let ip = IpName::classify(relative.prefix(labels - attach_labels));
                if let Some(IpRead::Address(addr)) = ip.v4
                    && !dataset.ip4.is_empty()
                {
                    targets.0.push(PrefetchTarget::V4(&dataset.ip4, addr));
                }
                if let Some(IpRead::Address(addr)) = ip.v6
                    && !dataset.ip6.is_empty()
                {
                    targets.0.push(PrefetchTarget::V6(&dataset.ip6, addr));
                }
            }
        }
        targets
    }

    /// True when some dataset's values can expire.
    pub fn has_expiry(&self) -> bool {
        self.datasets.iter().any(|d| d.values.has_expiry())
    }

    pub fn entries(&self) -> usize {
        self.datasets.iter().map(|d| d.entries).sum()
    }
}

/// Looks up `relative` in one dataset, under each subzone the dataset is attached to.
/// Returns whether the name exists there without being listed.
fn lookup_dataset<'z>(
    dataset: &'z Dataset,
    relative: NameRef<'_>,
    now: i64,
    found: &mut FoundList<'z>,
) -> bool {
    let mut exists = false;
    for attach in &dataset.attach {
        exists |= lookup_under(dataset, attach, relative, now, found);
    }
    exists
}

fn lookup_under<'z>(
    dataset: &'z Dataset,
    attach: &Name,
    relative: NameRef<'_>,
    now: i64,
    found: &mut FoundList<'z>,
) -> bool {
    let attach_labels = attach.label_count();
    let labels = relative.label_count();
    if attach_labels > 0 {
        if labels < attach_labels {
            // Between the apex and a subzone: an empty non-terminal when on the way.
            return attach.strip_suffix(&relative.to_name()).is_some();
        }
        if relative.suffix(labels - attach_labels).wire() != attach.wire() {
            return false;
        }
        if labels == attach_labels {
            found.extend(dataset.apex_records().iter().map(Found::Record));
            return true;
        }
    }
    let inner = relative.prefix(labels - attach_labels);
    let ip = IpName::classify(inner);
    let ttl = dataset.ttl;
    let values = &dataset.values;
    let check_expiry = values.has_expiry();
    dataset.lookup(inner, ip, &mut |verdict| match verdict {
        DatasetMatch::Listed(result, subject) => {
            for &id in values.result(result) {
                let value = values.value(id);
                if check_expiry && !value.is_live(now) {
                    continue;
                }
                found.push(Found::Listing {
                    value,
                    txt: values.txt(value),
                    ttl,
                    subject,
                });
            }
        }
        DatasetMatch::Records(records) => found.extend(records.iter().map(Found::Record)),
        DatasetMatch::Exists | DatasetMatch::Absent => {}
    })
}
