//! Per-zone client access lists: who may query a zone, and what the others get. Built
//! from rbldnsd `.acl` datasets or from `ward.toml`; the longest matching prefix of the
//! client address decides, clients matching nothing are served normally.

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
