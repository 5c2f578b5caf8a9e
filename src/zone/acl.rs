//! Per-zone access control: who may query a zone, and what the others get. Client
//! access lists come from rbldnsd `.acl` datasets or from `ward.toml` (the longest
//! matching prefix of the client address decides, clients matching nothing are served
//! normally); access keys from the rspamd fork's `aclkey` datasets (a label of the
//! query name just below the zone names a key, and the key decides). A zone may have
//! both: the stricter decides.

use std::collections::HashMap;
use std::net::IpAddr;

use super::ip::{Listing, PrefixMap, PrefixMapBuilder, SamePrefix};
use super::reason::Template;
use super::value::Value;

/// What clients outside a zone's allow list get.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Refused {
    /// `REFUSED`.
    #[default]
    Refuse,
    /// Spamhaus' error answer 127.255.255.254 ("query via a public resolver").
    ErrorAnswer,
}

/// What happens to a client's queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AclAction {
    /// Served normally.
    Pass,
    /// No reply at all (rbldnsd `:ignore`, `:blackhole`).
    Ignore,
    /// `REFUSED`.
    Refuse,
    /// Every listing query answers "not listed" (rbldnsd `:empty`).
    Empty,
    /// Every listing query answers this value, like Spamhaus' 127.255.255.254 for
    /// queries through public resolvers.
    Answer(Value, Option<Template>),
}

pub(crate) struct Acl {
    v4: PrefixMap<u32>,
    v6: PrefixMap<u128>,
    actions: Vec<AclAction>,
    /// TTL of forced answers.
    pub(crate) ttl: u32,
}

impl Acl {
    pub(crate) fn check(&self, client: IpAddr) -> &AclAction {
        let found = match client {
            IpAddr::V4(v4) => self.v4.get(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => self.v4.get(u32::from(v4)),
                None => self.v6.get(u128::from(v6)),
            },
        };
        found.map_or(&AclAction::Pass, |i| &self.actions[i as usize])
    }
}

/// Collects ACL entries; later duplicates of a prefix are ignored (trie semantics).
#[derive(Default)]
pub(crate) struct AclBuilder {
    v4: PrefixMapBuilder<u32>,
    v6: PrefixMapBuilder<u128>,
    actions: Vec<AclAction>,
}

impl AclBuilder {
    fn action_id(&mut self, action: AclAction) -> u32 {
        match self.actions.iter().position(|a| *a == action) {
            Some(i) => i as u32,
            None => {
                self.actions.push(action);
                self.actions.len() as u32 - 1
            }
        }
    }

    pub(crate) fn add_v4(&mut self, start: u32, len: u8, action: AclAction, line: u32) {
        let id = self.action_id(action);
        self.v4.add(start, len, Listing::Value(id), line);
    }

    pub(crate) fn add_v6(&mut self, start: u128, len: u8, action: AclAction, line: u32) {
        let id = self.action_id(action);
        self.v6.add(start, len, Listing::Value(id), line);
    }

    /// Freezes the list; also returns the lines of ignored duplicate prefixes.
    pub(crate) fn build(self, ttl: u32) -> (Acl, Vec<super::ip::Duplicate>) {
        let (v4, mut duplicates) = self.v4.build(SamePrefix::FirstWins, |ids| ids[0]);
        let (v6, dup6) = self.v6.build(SamePrefix::FirstWins, |ids| ids[0]);
        duplicates.extend(dup6);
        (
            Acl {
                v4,
                v6,
                actions: self.actions,
                ttl,
            },
            duplicates,
        )
    }
}

/// The rspamd fork's access keys (`aclkey`): the label of a query name just below the
/// zone, when there are at least two below it, may name a key; a known key's action
/// applies and the label is removed before the lookup (the query is then "keyed", for
/// `key=require` and `key=nodelay`). Queries without a known key get the default.
/// Keys are compared byte for byte with the query's label, which is lowercase.
pub(crate) struct AclKey {
    keys: HashMap<Box<[u8]>, KeyEntry, foldhash::fast::FixedState>,
    /// For queries naming no known key.
    pub(crate) default: AclAction,
    /// TTL of forced answers.
    pub(crate) ttl: u32,
}

/// One access key: what its queries get, and where they are counted.
pub(crate) struct KeyEntry {
    pub(crate) action: AclAction,
    /// The key's counter slot (see [`key_slot`](super::slot::key_slot)).
    pub(crate) slot: u16,
}

impl AclKey {
    pub(crate) fn new(default: AclAction, ttl: u32) -> Self {
        AclKey {
            keys: HashMap::with_hasher(foldhash::fast::FixedState::with_seed(0x6b65_7973)),
            default,
            ttl,
        }
    }

    /// Adds `key` (a later one replaces an earlier one, as in the fork).
    pub(crate) fn insert(&mut self, key: &[u8], action: AclAction) {
        self.keys.insert(key.into(), KeyEntry { action, slot: 0 });
    }

    pub(crate) fn get(&self, label: &[u8]) -> Option<&KeyEntry> {
        self.keys.get(label)
    }

    /// Gives every key its counter slot, for zone `zone`.
    pub(crate) fn assign_slots(&mut self, zone: &super::name::Name) {
        for (key, entry) in &mut self.keys {
            entry.slot = super::slot::key_slot(zone, Some(key));
        }
    }
}

/// Who may see a zone: its client access list, its access keys, or both.
pub(crate) struct Access {
    pub(crate) acl: Option<Acl>,
    pub(crate) keys: Option<AclKey>,
    /// The counter slot of queries that name no known key.
    pub(crate) unknown_key_slot: u16,
}

/// What a query gets from a zone's access control.
pub(crate) struct Decision<'a> {
    pub(crate) outcome: Verdict<'a>,
    /// The client ACL's action, when it did not pass the client.
    pub(crate) acl: Option<&'a AclAction>,
    /// The key used: its slot, and whether it is a known key (its label is removed,
    /// and the query is keyed). `None` when keys did not apply (no aclkey, or a
    /// query for the zone's SOA, NS or ANY, which keys never touch).
    pub(crate) key: Option<(u16, bool)>,
}

/// The combined verdict of a client ACL and an access key: the stricter wins (no
/// reply beats REFUSED beats the rest; `empty` beats a forced answer).
pub(crate) enum Verdict<'a> {
    Drop,
    Refuse,
    Serve {
        empty: bool,
        /// A forced answer ("always listed") and its TTL; the client ACL's first.
        forced: Option<(&'a Value, Option<&'a Template>, u32)>,
    },
}

impl Access {
    /// What a query from `client` gets. Keys apply to it when `keys_apply` (not to
    /// SOA, NS and ANY queries); `label` is the label that may name a key (the one
    /// just below the zone, when at least two are below it).
    pub(crate) fn decide(
        &self,
        client: IpAddr,
        keys_apply: bool,
        label: Option<&[u8]>,
    ) -> Decision<'_> {
        let acl = self.acl.as_ref().map(|acl| (acl.check(client), acl.ttl));
        let keys = self.keys.as_ref().filter(|_| keys_apply);
        let key = keys.map(|keys| match label.and_then(|l| keys.get(l)) {
            Some(entry) => (&entry.action, keys.ttl, Some(entry.slot)),
            None => (&keys.default, keys.ttl, None),
        });
        let actions = [acl, key.map(|(a, t, _)| (a, t))];
        let any = |wanted: fn(&AclAction) -> bool| actions.iter().flatten().any(|(a, _)| wanted(a));
        let outcome = if any(|a| *a == AclAction::Ignore) {
            Verdict::Drop
        } else if any(|a| *a == AclAction::Refuse) {
            Verdict::Refuse
        } else {
            Verdict::Serve {
                empty: any(|a| *a == AclAction::Empty),
                forced: actions
                    .iter()
                    .flatten()
                    .find_map(|(action, ttl)| match action {
                        AclAction::Answer(value, txt) => Some((value, txt.as_ref(), *ttl)),
                        _ => None,
                    }),
            }
        };
        Decision {
            outcome,
            acl: acl.map(|(a, _)| a).filter(|a| **a != AclAction::Pass),
            key: key.map(|(_, _, slot)| match slot {
                Some(slot) => (slot, true),
                None => (self.unknown_key_slot, false),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_decides_and_unmatched_pass() {
        let mut builder = AclBuilder::default();
        builder.add_v4(0x7f00_0000, 8, AclAction::Refuse, 1);
        builder.add_v4(0x7f00_0001, 32, AclAction::Pass, 2);
        builder.add_v6(0, 0, AclAction::Ignore, 3);
        let (acl, _) = builder.build(2100);
        assert_eq!(acl.check("127.0.0.1".parse().unwrap()), &AclAction::Pass);
        assert_eq!(acl.check("127.0.0.2".parse().unwrap()), &AclAction::Refuse);
        assert_eq!(
            acl.check("::ffff:127.0.0.2".parse().unwrap()),
            &AclAction::Refuse
        );
        assert_eq!(acl.check("192.0.2.1".parse().unwrap()), &AclAction::Pass);
        assert_eq!(
            acl.check("2001:db8::1".parse().unwrap()),
            &AclAction::Ignore
        );
    }
}
