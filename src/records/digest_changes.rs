//! The records of hashed addresses that differ between two versions of the datasets
//! attached at one place, made only at the digests that changed. A digest's records
//! (`<hex>` and `<hex>._email`) depend on nothing but the entries for that digest, so
//! the two versions' sorted digests are walked side by side, and the records are made
//! again, from every dataset of the group, at the query labels where they differ.

use std::collections::HashMap;

use super::Rr;
use super::ip::{Signature, answer_numbers};
use super::names::digest_owner_records;
use crate::zone::Dataset;
use crate::zone::email::DigestKind;
use crate::zone::name::Name;

/// What changed at the hashed addresses of one group: the records there in each
/// version, and the query labels (digest bytes) they are at.
pub(super) struct DigestChanges {
    pub(super) before: Vec<Rr>,
    pub(super) after: Vec<Rr>,
    pub(super) labels: Vec<Vec<u8>>,
}

/// The records at the digests where `old` and `new` (the datasets of one group,
/// matched one to one, each version with its build time) differ.
pub(super) fn changed_records<'z>(
    old: (&'z [&'z Dataset], i64),
    new: (&'z [&'z Dataset], i64),
    attach: &Name,
) -> DigestChanges {
    let mut numbers: HashMap<Signature<'z>, u32> = HashMap::new();
    let mut labels: Vec<Vec<u8>> = Vec::new();
    for (a, b) in old.0.iter().zip(new.0) {
        if a.digests.is_empty() && b.digests.is_empty() {
            continue;
        }
        let old_answers = answer_numbers(&mut numbers, a, old.1);
        let new_answers = answer_numbers(&mut numbers, b, new.1);
        // The same parse, answering the same at both build times.
        if std::ptr::eq(*a, *b) && old_answers == new_answers {
            continue;
        }
        let mut before = a.digests.full_digests().peekable();
        let mut after = b.digests.full_digests().peekable();
        loop {
            let changed = match (before.peek(), after.peek()) {
                (None, None) => break,
                (Some(&(kind, digest, _)), None) => {
                    before.next();
                    (kind, digest)
                }
                (None, Some(&(kind, digest, _))) => {
                    after.next();
                    (kind, digest)
                }
                (Some(&(k1, d1, r1)), Some(&(k2, d2, r2))) => match (k1, d1).cmp(&(k2, d2)) {
                    std::cmp::Ordering::Less => {
                        before.next();
                        (k1, d1)
                    }
                    std::cmp::Ordering::Greater => {
                        after.next();
                        (k2, d2)
                    }
                    std::cmp::Ordering::Equal => {
                        before.next();
                        after.next();
                        if old_answers[r1 as usize] == new_answers[r2 as usize] {
                            continue;
                        }
                        (k1, d1)
                    }
                },
            };
            labels.push(label_bytes(changed).to_vec());
        }
    }
    labels.sort_unstable();
    labels.dedup();
    let records = |(group, now): (&[&Dataset], i64)| {
        let mut out = Vec::new();
        for label in &labels {
            for dataset in group.iter().filter(|d| !d.digests.is_empty()) {
                for digest in dataset.digests.with_label(label) {
                    for email in [false, true] {
                        out.extend(digest_owner_records(dataset, digest, email, attach, now));
                    }
                }
            }
        }
        out
    };
    DigestChanges {
        before: records(old),
        after: records(new),
        labels,
    }
}

/// The bytes a digest's query label spells: the whole digest, or a sha256's first half.
fn label_bytes((kind, digest): (DigestKind, &[u8])) -> &[u8] {
    match kind {
        DigestKind::Sha256 => &digest[..16],
        _ => digest,
    }
}
