//! A frozen set of names, each with two small words, packed for memory and for few
//! cache misses: the entries of one hash bucket lie next to each other in one byte
//! arena (`[name length][name][flags][words as varints]`), and a directory says where
//! each bucket starts. A lookup reads the directory, then one or two cache lines of
//! the arena; a million names cost their text plus about 5 bytes each, where a hash
//! table of slots into an arena with offsets and payload vectors cost about 23.
//!
//! Built once from a [`NameTable`] when an index is frozen; entries are named by their
//! offset in the arena.

use super::ip::Warm;
use super::name::{NameHasher, NameTable, same_wire};
use crate::memory::{on_huge_pages, prefetch};

/// Names per bucket on average: a bucket of two entries is about 40 bytes, within one
/// cache line most of the time, and the directory costs 2 bytes a name.
const NAMES_PER_BUCKET: usize = 2;

/// The top bit of a word is a flag; the rest is a number, usually small.
const FLAG: u32 = 1 << 31;

/// Flags byte: which words have a number, and which have their flag.
const WORD0: u8 = 1;
const WORD1: u8 = 2;
const WORD0_FLAG: u8 = 4;
const WORD1_FLAG: u8 = 8;

pub(crate) struct PackedNames {
    arena: Vec<u8>,
    /// Arena offset where each bucket starts, and one more: the arena's end.
    starts: Vec<u32>,
    len: usize,
    hasher: NameHasher,
}

impl Default for PackedNames {
    fn default() -> Self {
        PackedNames {
            arena: Vec::new(),
            starts: vec![0, 0],
            len: 0,
            hasher: NameHasher,
        }
    }
}

/// One entry read from the arena.
#[derive(Clone, Copy)]
pub(crate) struct Packed<'a> {
    pub(crate) offset: u32,
    pub(crate) name: &'a [u8],
    pub(crate) words: [u32; 2],
    /// Where the next entry starts.
    end: usize,
}

impl PackedNames {
    /// Packs the names of `table` for which `words` gives two words (from the slot and
    /// its payload); the others are left out.
    ///
    /// # Panics
    /// When the names take 4 GiB or more (a name table's offsets are `u32` already).
    pub(crate) fn pack<T>(
        table: &NameTable<T>,
        words: impl Fn(usize, &T) -> Option<[u32; 2]>,
    ) -> Self {
        let entries = || {
            table
                .iter()
                .enumerate()
                .filter_map(|(slot, (name, payload))| Some((name, words(slot, payload)?)))
        };
        let len = entries().count();
        let buckets = (len / NAMES_PER_BUCKET).max(1);
        let hasher = NameHasher;
        let mut sizes = vec![0u64; buckets + 1];
        let mut bucket_of_entry = Vec::with_capacity(len);
        for (name, words) in entries() {
            let bucket = bucket_of(hasher.hash(name), buckets);
            bucket_of_entry.push(bucket as u32);
            sizes[bucket + 1] += entry_size(name, words) as u64;
        }
        let mut starts = Vec::with_capacity(buckets + 1);
        let mut total = 0u64;
        for size in &sizes {
            total += size;
            starts.push(u32::try_from(total).expect("packed names under 4 GiB"));
        }
        drop(sizes);
        let mut arena = vec![0u8; total as usize];
        let mut cursor: Vec<u32> = starts[..buckets].to_vec();
        for ((name, words), bucket) in entries().zip(bucket_of_entry) {
            let at = &mut cursor[bucket as usize];
            *at += write_entry(&mut arena[*at as usize..], name, words) as u32;
        }
        PackedNames {
            arena: on_huge_pages(arena),
            starts: on_huge_pages(starts),
            len,
            hasher,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bucket `wire` would be in.
    pub(crate) fn bucket(&self, wire: &[u8]) -> usize {
        bucket_of(self.hasher.hash(wire), self.starts.len() - 1)
    }

    /// Warms what a lookup in `bucket` reads, in the two steps of a batch (see
    /// [`super::ip::PrefixMap::prefetch`]): the directory entry, then the entries.
    pub(crate) fn prefetch(&self, bucket: usize, warm: Warm) {
        match warm {
            Warm::Bucket => prefetch(&self.starts[bucket]),
            Warm::Entries => {
                // A bucket of two names often crosses a cache line; a miss reads to its
                // end, so both of its lines are warmed.
                let (start, end) = (
                    self.starts[bucket] as usize,
                    self.starts[bucket + 1] as usize,
                );
                if let Some(entries) = self.arena.get(start..end)
                    && let (Some(first), Some(last)) = (entries.first(), entries.last())
                {
                    prefetch(first);
                    if line_of(first) != line_of(last) {
                        prefetch(last);
                    }
                }
            }
        }
    }

    pub(crate) fn get(&self, wire: &[u8]) -> Option<Packed<'_>> {
        let bucket = self.bucket(wire);
        let (mut at, end) = (
            self.starts[bucket] as usize,
            self.starts[bucket + 1] as usize,
        );
        // Entries of other names are skipped without decoding their words.
        let arena = &self.arena[..];
        while at < end {
            let len = usize::from(arena[at]);
            let name_end = at + 1 + len;
            if same_wire(&arena[at + 1..name_end], wire) {
                return Some(self.read(at));
            }
            let flags = arena[name_end];
            at = name_end + 1;
            for has_number in [WORD0, WORD1] {
                if flags & has_number != 0 {
                    while arena[at] & 0x80 != 0 {
                        at += 1;
                    }
                    at += 1;
                }
            }
        }
        None
    }

    /// Every entry, in arena order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Packed<'_>> {
        let mut at = 0;
        std::iter::from_fn(move || {
            (at < self.arena.len()).then(|| {
                let entry = self.read(at);
                at = entry.end;
                entry
            })
        })
    }

    /// One past the largest entry offset: the size of a bitmap over entries.
    pub(crate) fn offset_limit(&self) -> usize {
        self.arena.len()
    }

    fn read(&self, at: usize) -> Packed<'_> {
        let arena = &self.arena[..];
        let len = usize::from(arena[at]);
        let name = &arena[at + 1..at + 1 + len];
        let flags = arena[at + 1 + len];
        let mut cursor = at + 2 + len;
        let mut words = [0u32; 2];
        for (word, (has_number, has_flag)) in words
            .iter_mut()
            .zip([(WORD0, WORD0_FLAG), (WORD1, WORD1_FLAG)])
        {
            if flags & has_number != 0 {
                *word = read_varint(arena, &mut cursor);
            }
            if flags & has_flag != 0 {
                *word |= FLAG;
            }
        }
        Packed {
            offset: at as u32,
            name,
            words,
            end: cursor,
        }
    }
}

fn line_of(byte: &u8) -> usize {
    (byte as *const u8 as usize) / 64
}

/// Maps a hash onto `0..buckets` by its top bits, without a power-of-two table.
fn bucket_of(hash: u64, buckets: usize) -> usize {
    (((hash >> 32) * buckets as u64) >> 32) as usize
}

fn entry_size(name: &[u8], words: [u32; 2]) -> usize {
    2 + name.len()
        + words
            .iter()
            .filter(|&&w| w & !FLAG != 0)
            .map(|&w| varint_len(w & !FLAG))
            .sum::<usize>()
}

fn write_entry(out: &mut [u8], name: &[u8], words: [u32; 2]) -> usize {
    out[0] = name.len() as u8;
    out[1..1 + name.len()].copy_from_slice(name);
    let mut flags = 0;
    let mut cursor = 2 + name.len();
    for (word, (has_number, has_flag)) in words
        .into_iter()
        .zip([(WORD0, WORD0_FLAG), (WORD1, WORD1_FLAG)])
    {
        if word & FLAG != 0 {
            flags |= has_flag;
        }
        let number = word & !FLAG;
        if number != 0 {
            flags |= has_number;
            cursor += write_varint(&mut out[cursor..], number);
        }
    }
    out[1 + name.len()] = flags;
    cursor
}

fn varint_len(mut value: u32) -> usize {
    let mut len = 1;
    while value >= 0x80 {
        value >>= 7;
        len += 1;
    }
    len
}

fn write_varint(out: &mut [u8], mut value: u32) -> usize {
    let mut i = 0;
    while value >= 0x80 {
        out[i] = (value as u8 & 0x7f) | 0x80;
        value >>= 7;
        i += 1;
    }
    out[i] = value as u8;
    i + 1
}

fn read_varint(arena: &[u8], cursor: &mut usize) -> u32 {
    let mut value = 0u32;
    let mut shift = 0;
    loop {
        let byte = arena[*cursor];
        *cursor += 1;
        value |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return value;
        }
        shift += 7;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(text: &str) -> Vec<u8> {
        super::super::name::Name::parse(text)
            .unwrap()
            .wire()
            .to_vec()
    }

    #[test]
    fn finds_every_name_with_its_words_and_nothing_else() {
        let mut table: NameTable<[u32; 2]> = NameTable::default();
        let words = |i: u32| match i % 5 {
            0 => [0, 0],
            1 => [i, 0],
            2 => [0, i | FLAG],
            3 => [FLAG | 1, u32::MAX >> 1],
            _ => [i * 1000, i],
        };
        for i in 0..1000u32 {
            let slot = table.slot(&wire(&format!("n{i}.example")), || [0, 0]);
            *table.payload_mut(slot) = words(i);
        }
        let packed = PackedNames::pack(&table, |_, w| Some(*w));
        assert!(!packed.is_empty());
        for i in 0..1000u32 {
            let name = wire(&format!("n{i}.example"));
            let entry = packed.get(&name).expect("packed name found");
            assert_eq!(entry.name, &name[..]);
            assert_eq!(entry.words, words(i), "words of n{i}");
        }
        assert!(packed.get(&wire("n1000.example")).is_none());
        assert!(packed.get(&wire("example")).is_none());
        assert_eq!(packed.iter().count(), 1000);
    }

    #[test]
    fn an_empty_set_finds_nothing() {
        let packed = PackedNames::pack(&NameTable::<u32>::default(), |_, _| Some([0, 0]));
        assert!(packed.is_empty());
        assert!(packed.get(&wire("example")).is_none());
        assert!(PackedNames::default().get(b"").is_none());
        assert_eq!(packed.iter().count(), 0);
    }
}
