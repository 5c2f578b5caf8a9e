//! Data files to datasets. Both formats — rbldnsd's dataset types and ward's own `.zone`
//! — share the line reader, the special lines (`$SOA`, `$TTL`, …) and rbldnsd's `:A:TXT`
//! values, and report every bad line as `file:line:column: what was expected`.
//!
//! A bad line is always reported and skipped; whether the rest of the file may then be
//! served is the caller's decision (`--lenient`).

mod acl;
mod aclkey;
mod address_batches;
pub(crate) mod catalogue;
mod combined;
mod ip_syntax;
mod lexer;
mod params;
mod rbldnsd;
mod specials;
mod ward_format;

use std::fmt;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) use specials::{NsSpec, SoaSpec};

use lexer::LineReader;

use super::Dataset;
use super::kind::DatasetKind;
use super::reason::Catalogue;

/// One problem in a data file, pointing at the spot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub(crate) file: Arc<Path>,
    /// 1-based; 0 when the problem is the file as a whole (unreadable, …).
    pub(crate) line: u32,
    /// 1-based byte column; 0 with line 0.
    pub(crate) column: u32,
    pub(crate) message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.column,
                self.message
            )
        }
    }
}

impl Diagnostic {
    /// Whether the problem is the file, not a line of it: it could not be read (whole,
    /// or past some line), or it does not fit its zone. Skipping lines cannot mend
    /// that, so not even a lenient load serves the zone without it.
    pub(crate) fn is_about_the_file(&self) -> bool {
        self.line == 0 || self.message.starts_with("cannot read")
    }
}

/// Errors (the line was skipped) and warnings (the line loaded, but probably not as
/// the author meant) of one file.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    pub errors: Vec<Diagnostic>,
    pub(crate) warnings: Vec<Diagnostic>,
}

impl Diagnostics {
    pub(crate) fn extend(&mut self, other: Diagnostics) {
        self.errors.extend(other.errors);
        self.warnings.extend(other.warnings);
    }

    pub(crate) fn is_clean(&self) -> bool {
        self.errors.is_empty()
    }
}

/// What parsing needs from outside the file.
#[derive(Clone)]
pub struct ParseOptions {
    /// TTL when the data gives none (rbldnsd: 2100 s).
    pub(crate) default_ttl: u32,
    /// Unix time of the load: expired entries are dropped, `$TIMESTAMP` checked.
    pub(crate) now: i64,
    /// Reasons that `.zone` entries may name.
    pub(crate) catalogue: Arc<Catalogue>,
    /// Accept CIDRs with host bits set, masking them (rbldnsd `-e`).
    pub(crate) accept_host_bits: bool,
    /// Normalise addresses (lowercase, `+tag`, gmail dots) before hashing them.
    pub(crate) normalise_addresses: bool,
    /// Keep every entry as written (with its line) for `ward lookup`.
    pub(crate) keep_entries: bool,
    /// Keep whole digests of hashed addresses and names of listed addresses, for
    /// exporting and transferring the zone.
    pub(crate) for_export: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            default_ttl: 2100,
            now: 0,
            catalogue: Arc::new(Catalogue::default()),
            accept_host_bits: false,
            normalise_addresses: true,
            keep_entries: false,
            for_export: false,
        }
    }
}

/// Everything one file contributes to its zone.
pub struct ParsedFile {
    /// Usually one; a `combined` file gives one per `$DATASET` section.
    pub datasets: Vec<Arc<Dataset>>,
    pub(crate) soa: Option<SoaSpec>,
    pub(crate) ns: Option<NsSpec>,
    /// Client ACL from an `.acl` file.
    pub(crate) acl: Option<super::acl::Acl>,
    /// Access keys from an `.aclkey` file.
    pub(crate) aclkey: Option<super::acl::AclKey>,
    pub(crate) diagnostics: Diagnostics,
    /// Entries that were dropped because their `expires=` had passed.
    pub(crate) expired: usize,
    /// Entries whose cooldown (`ts=` + `delay=`) had not passed: they answer later.
    pub(crate) cooling: usize,
    /// The next time the file's answers change by themselves — an expiry (`expires=`,
    /// `$TIMESTAMP`) or the end of a cooldown —, to rebuild the zone then.
    pub(crate) next_change: Option<i64>,
    /// Entries as written, when [`ParseOptions::keep_entries`] is set.
    pub(crate) entries: Vec<Entry>,
    /// Hash of the file's bytes as read (set by the loader, which reads the file):
    /// whoever reloads it can tell whether the file still is what was parsed.
    pub(crate) content_hash: Option<u64>,
}

/// One entry as written, kept for `ward lookup`.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) line: u32,
    /// Index into [`ParsedFile::datasets`].
    pub(crate) dataset: usize,
    pub(crate) key: EntryKey,
    pub(crate) excluded: bool,
    /// The line as written, trimmed.
    pub(crate) text: String,
    pub(crate) expires: Option<i64>,
    /// Per-entry parameters (`@ ts=…;delay=…;key=…`, or `ts=` `delay=` `key=`).
    pub(crate) params: crate::zone::value::EntryParams,
    /// `key=value` metadata of ward entries (`added=`, `by=`, `ticket=` …).
    pub(crate) attributes: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntryKey {
    Ip4 {
        first: u32,
        last: u32,
    },
    Ip6 {
        first: u128,
        last: u128,
    },
    /// A domain name: `exact` covers the name itself, `wild` the names below it.
    Name {
        name: super::name::Name,
        exact: bool,
        wild: bool,
    },
    Address {
        address: String,
        name: super::name::Name,
    },
    Digest {
        kind: super::email::DigestKind,
        digest: Vec<u8>,
    },
    /// A generic record's owner name.
    Record {
        name: super::name::Name,
    },
}

impl ParsedFile {
    /// Notes a time the answers change (an expiry, a cooldown's end), so the zone is
    /// rebuilt then.
    pub(crate) fn note_change(&mut self, at: i64) {
        self.next_change = Some(self.next_change.map_or(at, |e| e.min(at)));
    }
}

/// Parses data already in memory (tests, `ward check` of stdin).
pub fn parse_bytes(
    data: &[u8],
    file: impl Into<PathBuf>,
    kind: DatasetKind,
    options: &ParseOptions,
) -> ParsedFile {
    let path: PathBuf = file.into();
    parse_reader(
        Box::new(data),
        data.len() as u64,
        path.as_path().into(),
        kind,
        options,
    )
}

/// Parses the lines of one data file of `kind`; `size` is about how many bytes they are
/// (to size the indexes up front). Read errors become errors at their line.
pub(crate) fn parse_reader(
    reader: Box<dyn BufRead + '_>,
    size: u64,
    file: Arc<Path>,
    kind: DatasetKind,
    options: &ParseOptions,
) -> ParsedFile {
    let mut lines = LineReader::new(reader, size, file);
    match kind {
        DatasetKind::Ward => ward_format::parse(&mut lines, options),
        DatasetKind::Combined => combined::parse(&mut lines, options),
        DatasetKind::Acl => acl::parse(&mut lines, options),
        DatasetKind::Aclkey => aclkey::parse(&mut lines, options),
        _ => rbldnsd::parse(&mut lines, kind, options),
    }
}

impl ParsedFile {
    /// A file that contributes nothing (yet).
    pub(crate) fn empty() -> Self {
        ParsedFile {
            datasets: Vec::new(),
            soa: None,
            ns: None,
            acl: None,
            aclkey: None,
            diagnostics: Diagnostics::default(),
            expired: 0,
            cooling: 0,
            next_change: None,
            entries: Vec::new(),
            content_hash: None,
        }
    }
}
