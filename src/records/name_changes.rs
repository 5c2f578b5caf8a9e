//! The name records that differ between two versions of the names attached at one
//! place, made only at the names where they can differ. A name's records depend on its
//! own entries, on the wildcards above it, and on whether the export holds names below
//! it. So when some entries changed (found by looking each entry of a changed dataset
//! up in its other version: hash probes, no sorting), the records to make again are
//! those at the changed names, at their ancestors (their existence and what lies below
//! them), and — for a changed wildcard only — at the names below it, which repeat what
//! it answers.

use std::collections::{HashMap, HashSet};

use super::Rr;
use super::ip::{Signature, answer_numbers};
use super::names::records_at;
use crate::zone::Dataset;
use crate::zone::name::Name;
use crate::zone::name_index::{EntryState, Slot};

/// One version of the group: its datasets, those with names, when it was built, and
/// each dataset's results numbered by what they answer (the same numbers in both
/// versions).
struct Version<'z> {
    group: &'z [&'z Dataset],
    indexes: Vec<&'z Dataset>,
    now: i64,
    answers: Vec<Vec<u32>>,
}

/// The records at the names where `old` and `new` (the datasets of one group, matched
/// one to one, each version with its build time) can differ: (old's, new's). `None`
/// when an index holds names only as fingerprints, or a changed name could share its
/// owner with records of another kind (`clashes`): the caller compares every record.
pub(super) fn changed_records<'z>(
    old: (&'z [&'z Dataset], i64),
    new: (&'z [&'z Dataset], i64),
    attach: &Name,
    clashes: impl Fn(&Name) -> bool,
) -> Option<(Vec<Rr>, Vec<Rr>)> {
    if old
        .0
        .iter()
        .chain(new.0)
        .any(|d| d.names.has_fingerprints())
    {
        return None;
    }
    let mut numbers: HashMap<Signature<'z>, u32> = HashMap::new();
    let mut version = |(group, now): (&'z [&'z Dataset], i64)| -> Version<'z> {
        let indexes: Vec<&'z Dataset> = group
            .iter()
            .copied()
            .filter(|d| !d.names.is_empty())
            .collect();
        let answers = group
            .iter()
            .map(|d| answer_numbers(&mut numbers, d, now))
            .collect();
        Version {
            group,
            indexes,
            now,
            answers,
        }
    };
    let (old, new) = (version(old), version(new));
    let (changed, wildcards_changed) = changed_names(&old, &new);
    if changed.is_empty() {
        return Some((Vec::new(), Vec::new()));
    }
    let affected = affected_names(&old, &new, &changed, &wildcards_changed);
    if affected.iter().any(|name| name.is_root() || clashes(name)) {
        return None;
    }
    let mut affected: Vec<Name> = affected.into_iter().collect();
    affected.sort_by(super::owner_order);
    let records = |version: &Version<'_>| {
        let exported = Exported::new(version);
        affected
            .iter()
            .filter(|name| exported.holds(name))
            .flat_map(|name| {
                records_at(
                    &version.indexes,
                    name,
                    attach,
                    exported.has_child(name),
                    version.now,
                )
            })
            .collect::<Vec<Rr>>()
    };
    Some((records(&old), records(&new)))
}

/// An entry's state with its results replaced by what they answer.
fn comparable(state: EntryState, answers: &[u32]) -> (Slot, Slot, bool, bool) {
    let number = |slot| match slot {
        Slot::Result(result) => Slot::Result(answers[result as usize]),
        other => other,
    };
    (
        number(state.exact),
        number(state.wild),
        state.address,
        state.listed_below,
    )
}

/// The names whose entries differ between the versions (in any dataset), and those of
/// them whose wildcard part differs.
fn changed_names(old: &Version<'_>, new: &Version<'_>) -> (HashSet<Name>, HashSet<Box<[u8]>>) {
    let mut changed = HashSet::new();
    let mut wildcards = HashSet::new();
    for (i, (a, b)) in old.group.iter().zip(new.group).enumerate() {
        let (old_answers, new_answers) = (&old.answers[i], &new.answers[i]);
        // The same parse (a file that did not change, see `load::cache`), answering
        // the same at both build times.
        if std::ptr::eq(*a, *b) && old_answers == new_answers {
            continue;
        }
        let mut note = |name: &[u8], before: Option<EntryState>, after: Option<EntryState>| {
            let before = before.map(|s| comparable(s, old_answers));
            let after = after.map(|s| comparable(s, new_answers));
            if before == after {
                return;
            }
            if before.map(|s| s.1) != after.map(|s| s.1) {
                wildcards.insert(Box::from(name));
            }
            changed.insert(Name::from_lower_wire(name));
        };
        for (name, state) in a.names.entries() {
            note(name, Some(state), b.names.entry(name));
        }
        for (name, state) in b.names.entries() {
            if a.names.entry(name).is_none() {
                note(name, None, Some(state));
            }
        }
    }
    (changed, wildcards)
}

/// The changed names, their ancestors, and the names of either version below a
/// changed wildcard.
fn affected_names(
    old: &Version<'_>,
    new: &Version<'_>,
    changed: &HashSet<Name>,
    wildcards_changed: &HashSet<Box<[u8]>>,
) -> HashSet<Name> {
    let mut affected = changed.clone();
    for name in changed {
        let mut ancestor = name.parent();
        while let Some(parent) = ancestor.filter(|p| !p.is_root()) {
            ancestor = parent.parent();
            affected.insert(parent);
        }
    }
    if wildcards_changed.is_empty() {
        return affected;
    }
    let mut seen: Vec<*const Dataset> = Vec::new();
    for dataset in old.indexes.iter().chain(&new.indexes) {
        if seen.contains(&std::ptr::from_ref(*dataset)) {
            continue;
        }
        seen.push(std::ptr::from_ref(*dataset));
        for (wire, _) in dataset.names.entries() {
            if strict_suffixes(wire).any(|suffix| wildcards_changed.contains(suffix)) {
                affected.insert(Name::from_lower_wire(wire));
            }
        }
    }
    affected
}

/// The names strictly above `wire` (wire format, root last), as slices of it.
fn strict_suffixes(wire: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= wire.len() {
            return None;
        }
        at += 1 + usize::from(wire[at]);
        Some(&wire[at.min(wire.len())..])
    })
}

/// Which names one version's export holds (see `NameIndex::export_names`), asked
/// name by name: a name is held when it is a seed of some index, or a listed name or
/// an exclusion seed lies below it.
struct Exported<'v> {
    version: &'v Version<'v>,
    /// The strict ancestors of every exclusion seed (an excluded name a wildcard of
    /// its own index would otherwise list): exported, though nothing below is listed.
    above_exclusions: HashSet<Name>,
}

impl<'v> Exported<'v> {
    fn new(version: &'v Version<'v>) -> Self {
        let mut above_exclusions = HashSet::new();
        for dataset in &version.indexes {
            for (wire, state) in dataset.names.entries() {
                let excluded = state.exact == Slot::Excluded || state.wild == Slot::Excluded;
                if !excluded || !dataset.names.is_export_seed(wire, state) {
                    continue;
                }
                let mut ancestor = Name::from_lower_wire(wire).parent();
                while let Some(parent) = ancestor.filter(|p| !p.is_root()) {
                    ancestor = parent.parent();
                    above_exclusions.insert(parent);
                }
            }
        }
        Exported {
            version,
            above_exclusions,
        }
    }

    fn holds(&self, name: &Name) -> bool {
        self.version.indexes.iter().any(|dataset| {
            dataset.names.entry(name.wire()).is_some_and(|state| {
                state.listed_below || dataset.names.is_export_seed(name.wire(), state)
            })
        }) || self.above_exclusions.contains(name)
    }

    /// Whether the export holds a name strictly below `name`.
    fn has_child(&self, name: &Name) -> bool {
        self.version.indexes.iter().any(|dataset| {
            dataset
                .names
                .entry(name.wire())
                .is_some_and(|state| state.listed_below)
        }) || self.above_exclusions.contains(name)
    }
}
