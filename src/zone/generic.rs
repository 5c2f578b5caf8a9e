//! rbldnsd's `generic` dataset: plain A, TXT and MX records at names relative to the
//! zone (or subzone), without wildcards or substitution.

use std::collections::HashMap;

use super::name::Name;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RecordData {
    A([u8; 4]),
    Txt(Box<[u8]>),
    Mx(u16, Name),
}

impl RecordData {
    /// The DNS type code, so the answer logic can filter without knowing this enum.
    pub(crate) fn rtype(&self) -> u16 {
        match self {
            RecordData::A(_) => 1,
            RecordData::Txt(_) => 16,
            RecordData::Mx(..) => 15,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) ttl: u32,
    pub(crate) data: RecordData,
}

#[derive(Default)]
struct Node {
    records: Vec<Record>,
    has_children: bool,
}

/// Records by relative name; the empty name is the (sub)zone apex.
#[derive(Default)]
pub(crate) struct GenericIndex {
    nodes: HashMap<Box<[u8]>, Node>,
    records: usize,
}

/// What a name holds in a generic dataset.
pub(crate) enum GenericMatch<'a> {
    Records(&'a [Record]),
    Exists,
    Absent,
}

impl GenericIndex {
    pub(crate) fn add(&mut self, name: &Name, record: Record) {
        self.records += 1;
        self.nodes
            .entry(name.wire().into())
            .or_default()
            .records
            .push(record);
        let mut ancestor = name.parent();
        while let Some(parent) = ancestor {
            let node = self.nodes.entry(parent.wire().into()).or_default();
            if node.has_children {
                break;
            }
            node.has_children = true;
            ancestor = parent.parent();
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Keeps every record's TTL within `[min, max]`.
    pub(crate) fn clamp_ttls(&mut self, min: u32, max: u32) {
        for node in self.nodes.values_mut() {
            for record in &mut node.records {
                record.ttl = record.ttl.clamp(min, max);
            }
        }
    }

    pub(crate) fn lookup(&self, wire: &[u8]) -> GenericMatch<'_> {
        match self.nodes.get(wire) {
            Some(node) if !node.records.is_empty() => GenericMatch::Records(&node.records),
            Some(node) if node.has_children => GenericMatch::Exists,
            _ => GenericMatch::Absent,
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (Name, &Record)> {
        self.nodes.iter().flat_map(|(wire, node)| {
            node.records
                .iter()
                .map(move |r| (Name::from_lower_wire(wire), r))
        })
    }
}
