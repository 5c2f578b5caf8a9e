//! The kinds of data file: rbldnsd's dataset types and ward's own format, named by the
//! file's extension. Parsers, datasets and the loader all need it, so it sits apart.

use std::fmt;

/// rbldnsd's dataset types, plus ward's own format, chosen by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatasetKind {
    Ward,
    Ip4Set,
    Ip4Tset,
    Ip4Trie,
    Ip6Tset,
    Ip6Trie,
    Dnset,
    /// The rspamd fork's `dnhash`: `dnset` with per-entry parameters, where a name
    /// given twice takes its last line.
    Dnhash,
    Combined,
    Generic,
    Acl,
    /// The rspamd fork's access keys: a label of the query name picks what it gets.
    Aclkey,
}

impl DatasetKind {
    /// The kind a file extension names (`feed.ip4set`, `feed.ip4set.gz`).
    pub(crate) fn from_file_name(name: &str) -> Option<DatasetKind> {
        let name = name.strip_suffix(".gz").unwrap_or(name);
        let (_, ext) = name.rsplit_once('.')?;
        DatasetKind::from_name(ext)
    }

    pub(crate) fn from_name(name: &str) -> Option<DatasetKind> {
        Some(match name {
            "zone" => DatasetKind::Ward,
            "ip4set" => DatasetKind::Ip4Set,
            "ip4tset" => DatasetKind::Ip4Tset,
            "ip4trie" => DatasetKind::Ip4Trie,
            "ip6tset" => DatasetKind::Ip6Tset,
            "ip6trie" => DatasetKind::Ip6Trie,
            "dnset" => DatasetKind::Dnset,
            "dnhash" => DatasetKind::Dnhash,
            "combined" => DatasetKind::Combined,
            "generic" => DatasetKind::Generic,
            "acl" => DatasetKind::Acl,
            "aclkey" => DatasetKind::Aclkey,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            DatasetKind::Ward => "zone",
            DatasetKind::Ip4Set => "ip4set",
            DatasetKind::Ip4Tset => "ip4tset",
            DatasetKind::Ip4Trie => "ip4trie",
            DatasetKind::Ip6Tset => "ip6tset",
            DatasetKind::Ip6Trie => "ip6trie",
            DatasetKind::Dnset => "dnset",
            DatasetKind::Dnhash => "dnhash",
            DatasetKind::Combined => "combined",
            DatasetKind::Generic => "generic",
            DatasetKind::Acl => "acl",
            DatasetKind::Aclkey => "aclkey",
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
