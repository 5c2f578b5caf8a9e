//! Reading one data file: plain or gzip, hashed as it is read (so a reload can tell
//! whether the file still is what was parsed), with a bound on how far a small gzip
//! file may expand.

use std::cell::Cell;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use crate::zone::DatasetKind;
use crate::zone::parse::{Diagnostic, ParseOptions, ParsedFile, parse_reader};

/// A gzip file may expand to this many times its size, plus [`GZIP_SLACK`]. Real lists
/// compress 3–10×; a file that expands a thousandfold is damaged or hostile.
pub(crate) const GZIP_MAX_RATIO: u64 = 100;
/// What any gzip file may expand to regardless of its size.
pub(crate) const GZIP_SLACK: u64 = 64 << 20;

/// What stat says about a file; a change means "look at the content".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    len: u64,
    mtime_ns: i128,
    inode: u64,
    device: u64,
}

impl Stamp {
    pub(crate) fn of(path: &Path) -> Option<Stamp> {
        let meta = std::fs::metadata(path).ok()?;
        Some(Stamp {
            len: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            inode: meta.ino(),
            device: meta.dev(),
        })
    }

    /// Both known, and of different sizes: the contents differ.
    pub(crate) fn sizes_differ(a: Option<Stamp>, b: Option<Stamp>) -> bool {
        matches!((a, b), (Some(a), Some(b)) if a.len != b.len)
    }

    /// How long before `now` the file last changed (zero if its time is ahead).
    pub(crate) fn age(&self, now: SystemTime) -> Duration {
        let now = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        Duration::from_nanos(u64::try_from(now - self.mtime_ns).unwrap_or(0))
    }
}

/// Parses one data file. I/O problems become errors, never a panic.
pub(crate) fn parse_file(path: &Path, kind: DatasetKind, options: &ParseOptions) -> ParsedFile {
    #[cfg(feature = "fault-injection")]
    crate::faults::file(path);
    let hash = Rc::new(Cell::new(None));
    match open_lines(path, hash.clone()) {
        Ok((reader, size)) => {
            let mut parsed = parse_reader(reader, size, path.into(), kind, options);
            parsed.content_hash = hash.get();
            parsed
        }
        Err(error) => {
            let mut parsed = ParsedFile::empty();
            parsed.diagnostics.errors.push(Diagnostic {
                file: path.into(),
                line: 0,
                column: 0,
                message: format!("cannot read: {error}"),
            });
            parsed
        }
    }
}

/// The lines of a file (gunzipped when it is gzip), and about how many bytes they are.
fn open_lines(path: &Path, hash: Rc<Cell<Option<u64>>>) -> io::Result<(Box<dyn BufRead>, u64)> {
    let mut file = File::open(path)?;
    let size = file.metadata().map_or(0, |m| m.len());
    let mut magic = [0u8; 2];
    let gzip = file.read(&mut magic)? == 2 && magic == GZIP_MAGIC;
    let raw = HashingReader {
        inner: File::open(path)?,
        hasher: Some(ContentHasher::default()),
        out: hash,
    };
    Ok(decoded(raw, size, gzip, FILE_BUFFER))
}

/// Large reads keep a multi-gigabyte list off the syscall path.
const FILE_BUFFER: usize = 256 * 1024;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The lines of `raw` (`size` bytes), gunzipped when `gzip`, and about how many bytes
/// they are. `buffer` is the size of each read buffer.
fn decoded<'r>(
    raw: impl Read + 'r,
    size: u64,
    gzip: bool,
    buffer: usize,
) -> (Box<dyn BufRead + 'r>, u64) {
    if gzip {
        let inflated = Bounded {
            inner: flate2::read::MultiGzDecoder::new(BufReader::with_capacity(buffer, raw)),
            left: gzip_limit(size),
            compressed: size,
        };
        // Lists compress about fourfold.
        (
            Box::new(BufReader::with_capacity(buffer, inflated)),
            size.saturating_mul(4),
        )
    } else {
        (Box::new(BufReader::with_capacity(buffer, raw)), size)
    }
}

/// Parses file contents already in memory as the loader would read them from disk:
/// gunzipped (within the expansion bound) when they start like gzip.
#[cfg(feature = "fuzzing")]
pub(crate) fn parse_contents(
    data: &[u8],
    path: &Path,
    kind: DatasetKind,
    options: &ParseOptions,
) -> ParsedFile {
    let (reader, size) = contents_reader(data);
    parse_reader(reader, size, path.into(), kind, options)
}

/// The text [`parse_contents`] parses, read as the parser reads it: a buffer at a time,
/// up to the first error. How much of a damaged gzip member comes out before its error
/// depends on the sizes of the reads, so only the same reads give the same text.
#[cfg(feature = "fuzzing")]
pub(crate) fn contents_text(data: &[u8]) -> Vec<u8> {
    let (mut reader, _) = contents_reader(data);
    let mut text = Vec::new();
    while let Ok(buffer) = reader.fill_buf() {
        if buffer.is_empty() {
            break;
        }
        text.extend_from_slice(buffer);
        let taken = buffer.len();
        reader.consume(taken);
    }
    text
}

#[cfg(feature = "fuzzing")]
fn contents_reader(data: &[u8]) -> (Box<dyn BufRead + '_>, u64) {
    // Contents in memory are small (a fuzz input, an edited file): no disk-sized buffers.
    const MEMORY_BUFFER: usize = 8 * 1024;
    let gzip = data.starts_with(&GZIP_MAGIC);
    decoded(data, data.len() as u64, gzip, MEMORY_BUFFER)
}

/// How many bytes a gzip file of `compressed` bytes may expand to.
fn gzip_limit(compressed: u64) -> u64 {
    compressed
        .saturating_mul(GZIP_MAX_RATIO)
        .saturating_add(GZIP_SLACK)
}

/// Fails the read once more than `left` bytes came out of `inner`.
struct Bounded<R> {
    inner: R,
    left: u64,
    compressed: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        match self.left.checked_sub(n as u64) {
            Some(left) => {
                self.left = left;
                Ok(n)
            }
            None => Err(io::Error::other(format!(
                "this gzip file of {} bytes expands to more than {GZIP_MAX_RATIO} times its size (plus {} MiB); not loaded (damaged, or a decompression bomb?)",
                self.compressed,
                GZIP_SLACK >> 20
            ))),
        }
    }
}

/// Hashes a byte stream in fixed blocks, so the result does not depend on how the
/// stream was cut into reads.
pub(crate) struct ContentHasher {
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
    pub(crate) fn update(&mut self, mut bytes: &[u8]) {
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

    pub(crate) fn finish(mut self) -> u64 {
        self.hasher.write(&self.block);
        self.hasher.write_u64(self.block.len() as u64);
        self.hasher.finish()
    }
}

/// The hash of a file's bytes, as [`ParsedFile::content_hash`] has it.
pub(crate) fn content_hash(path: &Path) -> Option<u64> {
    let mut file = File::open(path).ok()?;
    let mut hasher = ContentHasher::default();
    let mut buf = vec![0u8; HASH_BLOCK];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Some(hasher.finish()),
            Ok(n) => hasher.update(&buf[..n]),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
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
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn hash_of_a_read_equals_the_hash_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.ip4set");
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("10.{}.{}.{}\n", i >> 16, (i >> 8) & 255, i & 255).into_bytes())
            .collect();
        std::fs::write(&path, &data).unwrap();
        let parsed = parse_file(&path, DatasetKind::Ip4Set, &ParseOptions::default());
        assert!(parsed.diagnostics.is_clean());
        assert_eq!(parsed.content_hash, content_hash(&path));
        assert!(parsed.content_hash.is_some());
    }

    #[test]
    fn expansion_past_the_bound_is_an_error() {
        let data = vec![b'1'; 1000];
        let mut bounded = Bounded {
            inner: &data[..],
            left: 999,
            compressed: 9,
        };
        let mut out = Vec::new();
        let error = bounded.read_to_end(&mut out).unwrap_err();
        assert!(
            error.to_string().contains("expands to more than"),
            "{error}"
        );
        let mut exact = Bounded {
            inner: &data[..],
            left: 1000,
            compressed: 9,
        };
        assert_eq!(exact.read_to_end(&mut out).unwrap(), 1000);
        // The probe's bomb: 255 KB that expand to 256 MiB.
        assert!(gzip_limit(255 << 10) < 256 << 20);
        // A real 10M-entry list: ~40 MB compressed, ~150 MB plain.
        assert!(gzip_limit(40 << 20) > 150 << 20);
    }

    #[test]
    fn gzip_files_within_the_bound_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ok.ip4set.gz");
        std::fs::write(&path, gzip(b"192.0.2.1\n192.0.2.2\n")).unwrap();
        let parsed = parse_file(&path, DatasetKind::Ip4Set, &ParseOptions::default());
        assert!(parsed.diagnostics.is_clean(), "{:?}", parsed.diagnostics);
        assert_eq!(parsed.datasets[0].entries, 2);
    }
}
