//! Data files to datasets. Both formats — rbldnsd's dataset types and ward's own `.zone`
//! — share the line reader, the special lines (`$SOA`, `$TTL`, …) and rbldnsd's `:A:TXT`
//! values, and report every bad line as `file:line:column: what was expected`.
//!
//! A bad line is always reported and skipped; whether the rest of the file may then be
//! served is the caller's decision (`--lenient`).

mod addr;
mod rbldnsd;
mod specials;
mod ward;

use std::cell::Cell;
use std::fmt;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

pub use addr::{parse_ip4_exact, parse_ip6_exact};
pub use specials::{NsSpec, SoaSpec};

use super::Dataset;
use super::reason::Catalogue;

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
    Combined,
    Generic,
    Acl,
}

impl DatasetKind {
    /// The kind a file extension names (`feed.ip4set`, `feed.ip4set.gz`).
    pub fn from_file_name(name: &str) -> Option<DatasetKind> {
        let name = name.strip_suffix(".gz").unwrap_or(name);
        let (_, ext) = name.rsplit_once('.')?;
        DatasetKind::from_name(ext)
    }

    pub fn from_name(name: &str) -> Option<DatasetKind> {
        Some(match name {
            "zone" => DatasetKind::Ward,
            "ip4set" => DatasetKind::Ip4Set,
            "ip4tset" => DatasetKind::Ip4Tset,
            "ip4trie" => DatasetKind::Ip4Trie,
            "ip6tset" => DatasetKind::Ip6Tset,
            "ip6trie" => DatasetKind::Ip6Trie,
            "dnset" => DatasetKind::Dnset,
            "combined" => DatasetKind::Combined,
            "generic" => DatasetKind::Generic,
            "acl" => DatasetKind::Acl,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Ward => "zone",
            DatasetKind::Ip4Set => "ip4set",
            DatasetKind::Ip4Tset => "ip4tset",
            DatasetKind::Ip4Trie => "ip4trie",
            DatasetKind::Ip6Tset => "ip6tset",
            DatasetKind::Ip6Trie => "ip6trie",
            DatasetKind::Dnset => "dnset",
            DatasetKind::Combined => "combined",
            DatasetKind::Generic => "generic",
            DatasetKind::Acl => "acl",
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One problem in a data file, pointing at the spot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: Arc<Path>,
    /// 1-based; 0 when the problem is the file as a whole (unreadable, …).
    pub line: u32,
    /// 1-based byte column; 0 with line 0.
    pub column: u32,
    pub message: String,
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

/// Errors (the line was skipped) and warnings (the line loaded, but probably not as
/// the author meant) of one file.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn extend(&mut self, other: Diagnostics) {
        self.errors.extend(other.errors);
        self.warnings.extend(other.warnings);
    }

    pub fn is_clean(&self) -> bool {
        self.errors.is_empty()
    }
}

/// What parsing needs from outside the file.
#[derive(Clone)]
pub struct ParseOptions {
    /// TTL when the data gives none (rbldnsd: 2100 s).
    pub default_ttl: u32,
    /// Unix time of the load: expired entries are dropped, `$TIMESTAMP` checked.
    pub now: i64,
    /// Reasons that `.zone` entries may name.
    pub catalogue: Arc<Catalogue>,
    /// Accept CIDRs with host bits set, masking them (rbldnsd `-e`).
    pub accept_host_bits: bool,
    /// Normalise addresses (lowercase, `+tag`, gmail dots) before hashing them.
    pub normalise_addresses: bool,
    /// Keep every entry as written (with its line) for `ward lookup`.
    pub keep_entries: bool,
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
        }
    }
}

/// Everything one file contributes to its zone.
pub struct ParsedFile {
    /// Usually one; a `combined` file gives one per `$DATASET` section.
    pub datasets: Vec<Dataset>,
    pub soa: Option<SoaSpec>,
    pub ns: Option<NsSpec>,
    /// Client ACL from an `.acl` file.
    pub acl: Option<super::acl::Acl>,
    pub diagnostics: Diagnostics,
    /// Entries that were dropped because their `expires=` had passed.
    pub expired: usize,
    /// The earliest future expiry (`expires=`, `$TIMESTAMP`), to rebuild the zone then.
    pub next_expiry: Option<i64>,
    /// Entries as written, when [`ParseOptions::keep_entries`] is set.
    pub entries: Vec<Entry>,
    /// Hash of the file's bytes as read ([`content_hash`]): whoever reloads it can tell
    /// whether the file still is what was parsed.
    pub content_hash: Option<u64>,
}

/// One entry as written, kept for `ward lookup`.
#[derive(Debug, Clone)]
pub struct Entry {
    pub line: u32,
    /// Index into [`ParsedFile::datasets`].
    pub dataset: usize,
    pub key: EntryKey,
    pub excluded: bool,
    /// The line as written, trimmed.
    pub text: String,
    pub expires: Option<i64>,
    /// `key=value` metadata of ward entries (`added=`, `by=`, `ticket=` …).
    pub attributes: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKey {
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
        kind: super::address::DigestKind,
        digest: Vec<u8>,
    },
    /// A generic record's owner name.
    Record {
        name: super::name::Name,
    },
    /// An ACL entry.
    Client {
        first: u128,
        last: u128,
        v4: bool,
    },
}

impl ParsedFile {
    /// Notes an expiry so the zone is rebuilt when it passes.
    pub(crate) fn note_expiry(&mut self, at: i64) {
        self.next_expiry = Some(self.next_expiry.map_or(at, |e| e.min(at)));
    }
}

/// Parses one data file. I/O problems become a line-0 error, never a panic.
pub fn parse_file(path: &Path, kind: DatasetKind, options: &ParseOptions) -> ParsedFile {
    let file: Arc<Path> = path.into();
    let hash = Rc::new(Cell::new(None));
    match open_lines(path, hash.clone()) {
        Ok((reader, size)) => {
            let mut parsed = parse_reader(reader, size, file, kind, options);
            parsed.content_hash = hash.get();
            parsed
        }
        Err(error) => {
            let mut parsed = ParsedFile::empty();
            parsed.diagnostics.errors.push(Diagnostic {
                file,
                line: 0,
                column: 0,
                message: format!("cannot read: {error}"),
            });
            parsed
        }
    }
}

/// Hashes a byte stream in fixed blocks, so the result does not depend on how the
/// stream was cut into reads.
pub struct ContentHasher {
    block: Vec<u8>,
    hasher: foldhash::quality::FoldHasher<'static>,
}

const HASH_BLOCK: usize = 64 * 1024;

impl Default for ContentHasher {
    fn default() -> Self {
        static SEED: foldhash::quality::FixedState =
            foldhash::quality::FixedState::with_seed(0x7761_7264);
        ContentHasher {
            block: Vec::with_capacity(HASH_BLOCK),
            hasher: SEED.build_hasher(),
        }
    }
}

impl ContentHasher {
    pub fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let take = (HASH_BLOCK - self.block.len()).min(bytes.len());
            self.block.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.block.len() == HASH_BLOCK {
                self.hasher.write(&self.block);
                self.block.clear();
            }
        }
    }

    pub fn finish(mut self) -> u64 {
        self.hasher.write(&self.block);
        self.hasher.write_u64(self.block.len() as u64);
        self.hasher.finish()
    }
}

/// The hash of a file's bytes, as [`ParsedFile::content_hash`] computes it.
pub fn content_hash(path: &Path) -> Option<u64> {
    let mut file = File::open(path).ok()?;
    let mut hasher = ContentHasher::default();
    let mut buf = vec![0u8; HASH_BLOCK];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Some(hasher.finish()),
            Ok(n) => hasher.update(&buf[..n]),
            Err(_) => return None,
        }
    }
}

/// Passes a file's bytes through, hashing them; at the end of the file the hash is
/// left in `out`.
struct HashingReader<R> {
    inner: R,
    hasher: Option<ContentHasher>,
    out: Rc<Cell<Option<u64>>>,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            if let Some(hasher) = self.hasher.take() {
                self.out.set(Some(hasher.finish()));
            }
        } else if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..n]);
        }
        Ok(n)
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

fn parse_reader(
    reader: Box<dyn BufRead + '_>,
    size: u64,
    file: Arc<Path>,
    kind: DatasetKind,
    options: &ParseOptions,
) -> ParsedFile {
    let mut lines = LineReader::new(reader, file);
    lines.size = size;
    match kind {
        DatasetKind::Ward => ward::parse(&mut lines, options),
        _ => rbldnsd::parse(&mut lines, kind, options),
    }
}

impl ParsedFile {
    fn empty() -> Self {
        ParsedFile {
            datasets: Vec::new(),
            soa: None,
            ns: None,
            acl: None,
            diagnostics: Diagnostics::default(),
            expired: 0,
            next_expiry: None,
            entries: Vec::new(),
            content_hash: None,
        }
    }
}

/// The lines of a file (gunzipped when it is gzip), and about how many bytes they are.
fn open_lines(
    path: &Path,
    hash: Rc<Cell<Option<u64>>>,
) -> std::io::Result<(Box<dyn BufRead>, u64)> {
    const BUFFER: usize = 256 * 1024;
    let mut file = File::open(path)?;
    let size = file.metadata().map_or(0, |m| m.len());
    let mut magic = [0u8; 2];
    let gzip = file.read(&mut magic)? == 2 && magic == [0x1f, 0x8b];
    let raw = HashingReader {
        inner: File::open(path)?,
        hasher: Some(ContentHasher::default()),
        out: hash,
    };
    Ok(if gzip {
        let reader = BufReader::with_capacity(
            BUFFER,
            flate2::read::MultiGzDecoder::new(BufReader::with_capacity(BUFFER, raw)),
        );
        // Lists compress about fourfold.
        (Box::new(reader), size.saturating_mul(4))
    } else {
        (Box::new(BufReader::with_capacity(BUFFER, raw)), size)
    })
}

/// Reads lines into a reused buffer, numbering them and stripping the line end
/// (`\n` or `\r\n`: rbldnsd keeps the `\r` and silently corrupts CRLF files).
pub(crate) struct LineReader<'r> {
    reader: Box<dyn BufRead + 'r>,
    /// About how many bytes the lines are, to size indexes up front.
    size: u64,
    buf: Vec<u8>,
    number: u32,
    file: Arc<Path>,
    diagnostics: Diagnostics,
}

impl<'r> LineReader<'r> {
    fn new(reader: Box<dyn BufRead + 'r>, file: Arc<Path>) -> Self {
        LineReader {
            reader,
            size: 0,
            buf: Vec::with_capacity(512),
            number: 0,
            file,
            diagnostics: Diagnostics::default(),
        }
    }

    /// The next line, without its line end, or `None` at the end (or on a read error,
    /// which is recorded).
    fn next_line(&mut self) -> Option<&[u8]> {
        self.buf.clear();
        match self.reader.read_until(b'\n', &mut self.buf) {
            Ok(0) => None,
            Ok(_) => {
                self.number += 1;
                if self.buf.last() == Some(&b'\n') {
                    self.buf.pop();
                }
                if self.buf.last() == Some(&b'\r') {
                    self.buf.pop();
                }
                Some(&self.buf)
            }
            Err(error) => {
                self.number += 1;
                self.diagnostics.errors.push(Diagnostic {
                    file: self.file.clone(),
                    line: self.number,
                    column: 0,
                    message: format!("cannot read: {error}"),
                });
                None
            }
        }
    }

    fn error_at(&mut self, column: usize, message: impl Into<String>) {
        self.diagnostics.errors.push(Diagnostic {
            file: self.file.clone(),
            line: self.number,
            column: column as u32 + 1,
            message: message.into(),
        });
    }

    fn warn_at(&mut self, line: u32, column: usize, message: impl Into<String>) {
        self.diagnostics.warnings.push(Diagnostic {
            file: self.file.clone(),
            line,
            column: column as u32 + 1,
            message: message.into(),
        });
    }

    fn file(&self) -> &Arc<Path> {
        &self.file
    }

    fn take_diagnostics(&mut self) -> Diagnostics {
        std::mem::take(&mut self.diagnostics)
    }

    fn line_number(&self) -> u32 {
        self.number
    }

    /// Records the outcome of one line's handler.
    fn report(&mut self, outcome: Result<Option<LineError>, LineError>) {
        match outcome {
            Ok(None) => {}
            Ok(Some(warning)) => self.warn_at(self.number, warning.at, warning.message),
            Err(error) => self.error_at(error.at, error.message),
        }
    }
}

/// A parse failure inside a line: the byte offset in the line and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LineError {
    pub at: usize,
    pub message: String,
}

impl LineError {
    pub fn new(at: usize, message: impl Into<String>) -> Self {
        LineError {
            at,
            message: message.into(),
        }
    }
}

pub(crate) fn is_space(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// Index of the first non-blank byte at or after `from`.
pub(crate) fn skip_space(line: &[u8], from: usize) -> usize {
    let mut i = from;
    while i < line.len() && is_space(line[i]) {
        i += 1;
    }
    i
}

/// Index one past the last non-blank byte.
pub(crate) fn trim_end(line: &[u8]) -> usize {
    let mut end = line.len();
    while end > 0 && is_space(line[end - 1]) {
        end -= 1;
    }
    end
}

/// End of the whitespace-delimited token starting at `from`.
pub(crate) fn token_end(line: &[u8], from: usize) -> usize {
    let mut i = from;
    while i < line.len() && !is_space(line[i]) {
        i += 1;
    }
    i
}

/// Quotes a piece of a line for an error message.
pub(crate) fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut short: String = text.chars().take(60).collect();
    if text.chars().count() > 60 {
        short.push('…');
    }
    format!("`{short}`")
}
