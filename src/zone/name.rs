//! Domain names as ward matches them: lowercase DNS wire format without the root label.
//!
//! Wire format (length-prefixed labels) rather than dotted text, because an email local
//! part such as `first.last` is one label: `first.last@example.com` is listed under the
//! three labels `first.last`, `example`, `com`, which dotted text cannot tell apart from
//! four.

use std::fmt;

use super::name_slots::SlotIndex;
use crate::memory::prefetch;
use smallvec::SmallVec;

/// Longest name in wire format without the root byte (RFC 1035: 255 with it).
pub(crate) const MAX_NAME_WIRE: usize = 254;
/// Longest label (RFC 1035).
pub(crate) const MAX_LABEL: usize = 63;
/// Most labels a name of at most 255 wire bytes can have.
pub(crate) const MAX_LABELS: usize = 127;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("empty label (two dots in a row, or a leading dot)")]
    EmptyLabel,
    #[error("label longer than 63 bytes")]
    LabelTooLong,
    #[error("name longer than 255 bytes")]
    TooLong,
    #[error("bad escape sequence (expected \\DDD or \\ followed by a character)")]
    BadEscape,
}

/// An owned lowercase name. The root name is empty.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Name(Box<[u8]>);

impl Name {
    pub(crate) fn root() -> Self {
        Name(Box::default())
    }

    /// Parses presentation format (`mail.example.com`, trailing dot optional, `\.` and
    /// `\DDD` escapes), lowercasing ASCII. The empty string and `.` are the root.
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let text = text.as_bytes();
        if text.is_empty() || text == b"." {
            return Ok(Self::root());
        }
        let mut wire = Vec::with_capacity(text.len() + 1);
        if !text.contains(&b'\\') {
            // No escapes (nearly every name of a list): labels straight into the wire.
            let text = text.strip_suffix(b".").unwrap_or(text);
            for label in text.split(|&b| b == b'.') {
                push_label(&mut wire, label)?;
                let pushed = wire.len() - label.len();
                wire[pushed..].make_ascii_lowercase();
            }
            return Ok(Name(wire.into_boxed_slice()));
        }
        let mut label: SmallVec<[u8; MAX_LABEL + 1]> = SmallVec::new();
        let mut i = 0;
        let mut ended_with_dot = false;
        while i < text.len() {
            ended_with_dot = false;
            match text[i] {
                b'.' => {
                    push_label(&mut wire, &label)?;
                    label.clear();
                    ended_with_dot = true;
                    i += 1;
                }
                b'\\' => {
                    let rest = &text[i + 1..];
                    if rest.len() >= 3 && rest[..3].iter().all(u8::is_ascii_digit) {
                        let value = u32::from(rest[0] - b'0') * 100
                            + u32::from(rest[1] - b'0') * 10
                            + u32::from(rest[2] - b'0');
                        let byte = u8::try_from(value).map_err(|_| NameError::BadEscape)?;
                        label.push(byte.to_ascii_lowercase());
                        i += 4;
                    } else if let Some(&c) = rest.first() {
                        label.push(c.to_ascii_lowercase());
                        i += 2;
                    } else {
                        return Err(NameError::BadEscape);
                    }
                }
                c => {
                    label.push(c.to_ascii_lowercase());
                    i += 1;
                }
            }
            if label.len() > MAX_LABEL {
                return Err(NameError::LabelTooLong);
            }
        }
        if !ended_with_dot {
            push_label(&mut wire, &label)?;
        }
        Ok(Name(wire.into_boxed_slice()))
    }

    /// Builds a name from raw labels (lowercased here).
    pub(crate) fn from_labels<'a>(
        labels: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Self, NameError> {
        let mut wire = Vec::new();
        for label in labels {
            let lower: Vec<u8> = label.iter().map(u8::to_ascii_lowercase).collect();
            push_label(&mut wire, &lower)?;
        }
        Ok(Name(wire.into_boxed_slice()))
    }

    /// Wraps wire bytes that are already lowercase and well formed.
    pub(crate) fn from_lower_wire(wire: &[u8]) -> Self {
        Name(wire.into())
    }

    pub(crate) fn wire(&self) -> &[u8] {
        &self.0
    }

    pub(crate) fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn labels(&self) -> Labels<'_> {
        Labels { rest: &self.0 }
    }

    pub(crate) fn label_count(&self) -> usize {
        self.labels().count()
    }

    /// `self` followed by `suffix` (`www` + `example.com`).
    pub(crate) fn join(&self, suffix: &Name) -> Result<Name, NameError> {
        if self.0.len() + suffix.0.len() > MAX_NAME_WIRE {
            return Err(NameError::TooLong);
        }
        let mut wire = Vec::with_capacity(self.0.len() + suffix.0.len());
        wire.extend_from_slice(&self.0);
        wire.extend_from_slice(&suffix.0);
        Ok(Name(wire.into_boxed_slice()))
    }

    /// True when `suffix` is this name or one of its ancestors.
    pub(crate) fn ends_with(&self, suffix: &Name) -> bool {
        self.ends_with_wire(suffix.wire())
    }

    /// True when the wire-format name `suffix` is this name or one of its ancestors.
    pub(crate) fn ends_with_wire(&self, suffix: &[u8]) -> bool {
        let mut offset = 0;
        loop {
            if self.0[offset..] == *suffix {
                return true;
            }
            if offset >= self.0.len() {
                return false;
            }
            offset += 1 + usize::from(self.0[offset]);
        }
    }

    /// The labels in front of `suffix`, when `suffix` ends this name at a label boundary.
    pub(crate) fn strip_suffix(&self, suffix: &Name) -> Option<Name> {
        let mut offset = 0;
        loop {
            if self.0[offset..] == *suffix.0 {
                return Some(Name(self.0[..offset].into()));
            }
            if offset >= self.0.len() {
                return None;
            }
            offset += 1 + usize::from(self.0[offset]);
        }
    }

    /// The name one label up; `None` for the root.
    pub(crate) fn parent(&self) -> Option<Name> {
        let first = usize::from(*self.0.first()?);
        Some(Name(self.0[1 + first..].into()))
    }
}

fn push_label(wire: &mut Vec<u8>, label: &[u8]) -> Result<(), NameError> {
    if label.is_empty() {
        return Err(NameError::EmptyLabel);
    }
    if label.len() > MAX_LABEL {
        return Err(NameError::LabelTooLong);
    }
    if wire.len() + 1 + label.len() > MAX_NAME_WIRE {
        return Err(NameError::TooLong);
    }
    wire.push(label.len() as u8);
    wire.extend_from_slice(label);
    Ok(())
}

/// Writes wire-format labels in presentation format, escaping what would not read back.
pub(crate) fn write_presentation(wire: &[u8], out: &mut impl fmt::Write) -> fmt::Result {
    if wire.is_empty() {
        return out.write_char('.');
    }
    for (i, label) in (Labels { rest: wire }).enumerate() {
        if i > 0 {
            out.write_char('.')?;
        }
        for &byte in label {
            match byte {
                b'.' | b'\\' | b'"' | b';' | b'(' | b')' | b'@' | b'$' => {
                    out.write_char('\\')?;
                    out.write_char(char::from(byte))?;
                }
                0x21..=0x7e => out.write_char(char::from(byte))?,
                _ => write!(out, "\\{byte:03}")?,
            }
        }
    }
    Ok(())
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_presentation(&self.0, f)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

/// Iterator over the labels of a wire-format name.
#[derive(Clone)]
pub(crate) struct Labels<'a> {
    rest: &'a [u8],
}

impl<'a> Labels<'a> {
    pub(crate) fn of_wire(wire: &'a [u8]) -> Self {
        Labels { rest: wire }
    }
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let (&len, tail) = self.rest.split_first()?;
        let len = usize::from(len).min(tail.len());
        let (label, rest) = tail.split_at(len);
        self.rest = rest;
        Some(label)
    }
}

/// A lowercase name being looked up, with label boundaries precomputed so that walking
/// suffixes (zone apex, subzones, wildcard parents) never rescans the bytes.
///
/// Offsets are absolute in the buffer the name was parsed into, so prefix and suffix
/// views are just narrower slices of the same offsets.
#[derive(Clone, Copy)]
pub(crate) struct NameRef<'a> {
    buf: &'a [u8],
    /// Offset of each label's length byte in `buf`.
    starts: &'a [u8],
    /// One past the last byte of the last label.
    end: usize,
}

impl<'a> NameRef<'a> {
    pub(crate) fn label_count(&self) -> usize {
        self.starts.len()
    }

    pub(crate) fn is_root(&self) -> bool {
        self.starts.is_empty()
    }

    /// The labels in wire format (empty for the root).
    pub(crate) fn wire(&self) -> &'a [u8] {
        match self.starts.first() {
            Some(&first) => &self.buf[usize::from(first)..self.end],
            None => &[],
        }
    }

    /// Byte offset of label `i`'s length byte in the buffer the name was parsed into
    /// (for a query name: its offset in the question, for compression pointers).
    pub(crate) fn label_offset(&self, i: usize) -> usize {
        usize::from(self.starts[i])
    }

    /// Label `i` counted from the left (`0` is the leftmost, least significant label).
    pub(crate) fn label(&self, i: usize) -> &'a [u8] {
        let start = usize::from(self.starts[i]);
        let len = usize::from(self.buf[start]);
        &self.buf[start + 1..start + 1 + len]
    }

    /// Byte offset (as [`label_offset`](Self::label_offset)) of the name left after
    /// skipping `skip` labels: label `skip`'s length byte, or, when nothing is left,
    /// the root's terminating zero byte. Never out of bounds, whatever `skip` is.
    pub(crate) fn suffix_offset(&self, skip: usize) -> usize {
        self.starts
            .get(skip)
            .map_or(self.end, |&start| usize::from(start))
    }

    /// The name without its `skip` leftmost labels.
    pub(crate) fn suffix(&self, skip: usize) -> NameRef<'a> {
        NameRef {
            starts: &self.starts[skip.min(self.starts.len())..],
            ..*self
        }
    }

    /// The leftmost `count` labels.
    pub(crate) fn prefix(&self, count: usize) -> NameRef<'a> {
        let count = count.min(self.starts.len());
        let end = self
            .starts
            .get(count)
            .map_or(self.end, |&start| usize::from(start));
        NameRef {
            buf: self.buf,
            starts: &self.starts[..count],
            end,
        }
    }

    /// Iterates the labels left to right.
    pub(crate) fn labels(&self) -> Labels<'a> {
        Labels { rest: self.wire() }
    }
}

/// A name parsed into a fixed buffer, lowercased, with label offsets: the per-query name
/// of the hot path, built without allocating.
pub(crate) struct NameBuf {
    wire: [u8; MAX_NAME_WIRE + 1],
    len: usize,
    starts: [u8; MAX_LABELS + 1],
    count: usize,
}

impl Default for NameBuf {
    fn default() -> Self {
        NameBuf {
            wire: [0; MAX_NAME_WIRE + 1],
            len: 0,
            starts: [0; MAX_LABELS + 1],
            count: 0,
        }
    }
}

impl NameBuf {
    pub(crate) fn clear(&mut self) {
        self.len = 0;
        self.count = 0;
    }

    /// Reads the uncompressed name at the start of `bytes` (a question's), lowercased,
    /// and returns how many bytes it took, its zero byte included. `None` when a label
    /// is compressed or of a reserved type, the name runs past `bytes`, or it is longer
    /// than a name may be. Every query's name is read here, so the labels are only
    /// walked for where they start, and the name is copied and lowercased at once.
    pub(crate) fn read_uncompressed(&mut self, bytes: &[u8]) -> Option<usize> {
        self.clear();
        let mut at = 0;
        loop {
            let len = usize::from(*bytes.get(at)?);
            if len == 0 {
                break;
            }
            if len > MAX_LABEL || at + 1 + len > MAX_NAME_WIRE || self.count >= MAX_LABELS {
                return None;
            }
            self.starts[self.count] = at as u8;
            self.count += 1;
            at += 1 + len;
        }
        let wire = &mut self.wire[..at];
        wire.copy_from_slice(&bytes[..at]);
        wire.make_ascii_lowercase();
        self.len = at;
        Some(at + 1)
    }

    /// Appends one label, lowercasing it.
    pub(crate) fn push_label(&mut self, label: &[u8]) -> Result<(), NameError> {
        self.push_lower_label(label)?;
        let start = self.len - label.len();
        self.wire[start..self.len].make_ascii_lowercase();
        Ok(())
    }

    /// [`Self::push_label`] of a label already in lowercase (from a lowercased text),
    /// which is stored as it is.
    pub(crate) fn push_lower_label(&mut self, label: &[u8]) -> Result<(), NameError> {
        if label.is_empty() {
            return Err(NameError::EmptyLabel);
        }
        if label.len() > MAX_LABEL {
            return Err(NameError::LabelTooLong);
        }
        if self.len + 1 + label.len() > MAX_NAME_WIRE || self.count >= MAX_LABELS {
            return Err(NameError::TooLong);
        }
        self.starts[self.count] = self.len as u8;
        self.count += 1;
        self.wire[self.len] = label.len() as u8;
        self.wire[self.len + 1..self.len + 1 + label.len()].copy_from_slice(label);
        self.len += 1 + label.len();
        Ok(())
    }

    pub(crate) fn from_name(name: &Name) -> Self {
        let mut buf = NameBuf::default();
        for label in name.labels() {
            // A `Name` is always within limits, so this cannot fail.
            let _ = buf.push_label(label);
        }
        buf
    }

    /// The whole name.
    pub(crate) fn view(&self) -> NameRef<'_> {
        NameRef {
            buf: &self.wire[..self.len],
            starts: &self.starts[..self.count],
            end: self.len,
        }
    }
}

/// Hashes names for the name indexes. Fixed keys: entries come from admins' files, and
/// lookups cannot grow the table, so there is nothing for an attacker to flood.
#[derive(Clone, Copy, Default)]
pub(crate) struct NameHasher;

impl NameHasher {
    pub(crate) fn hash(&self, wire: &[u8]) -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut h = foldhash::fast::FixedState::with_seed(0x5741_5244).build_hasher();
        h.write(wire);
        h.finish()
    }
}

/// The steps of warming a [`NameTable`] lookup; see [`NameTable::warm`].
#[derive(Clone, Copy)]
pub(crate) enum WarmStep {
    /// The index word the lookup reads first.
    Index,
    /// The slot's arena offset and payload (read from the warmed index word).
    Slot,
    /// The name in the arena (read from the warmed offset).
    Name,
}

/// A growing set of names with one payload each, stored in one byte arena (length byte,
/// then the name) rather than one heap allocation each: what a name index is built in
/// before it is frozen into [`super::packed_names::PackedNames`].
pub(crate) struct NameTable<T> {
    arena: Vec<u8>,
    /// Arena offset of each entry's name, parallel to `payloads`.
    offsets: Vec<u32>,
    payloads: Vec<T>,
    index: SlotIndex,
    hasher: NameHasher,
}

impl<T> Default for NameTable<T> {
    fn default() -> Self {
        NameTable {
            arena: Vec::new(),
            offsets: Vec::new(),
            payloads: Vec::new(),
            index: SlotIndex::default(),
            hasher: NameHasher,
        }
    }
}

/// Whether two wire forms are the same bytes, compared a word at a time inline: names
/// are short, and every probe of a name table compares one, where a call to `memcmp`
/// costs more than the compare.
#[inline]
pub(crate) fn same_wire(a: &[u8], b: &[u8]) -> bool {
    let len = a.len();
    if len != b.len() {
        return false;
    }
    if len >= 8 {
        let word = |s: &[u8], at: usize| {
            s.get(at..)
                .and_then(<[u8]>::first_chunk::<8>)
                .map_or(0, |w| u64::from_ne_bytes(*w))
        };
        let mut at = 0;
        while at + 8 < len {
            if word(a, at) != word(b, at) {
                return false;
            }
            at += 8;
        }
        // The last word overlaps the one before when the length is no multiple of 8.
        return word(a, len - 8) == word(b, len - 8);
    }
    if len >= 4 {
        let word = |s: &[u8], at: usize| {
            s.get(at..)
                .and_then(<[u8]>::first_chunk::<4>)
                .map_or(0, |w| u32::from_ne_bytes(*w))
        };
        return word(a, 0) == word(b, 0) && word(a, len - 4) == word(b, len - 4);
    }
    a.iter().zip(b).all(|(x, y)| x == y)
}

fn arena_name(arena: &[u8], offset: u32) -> &[u8] {
    let offset = offset as usize;
    let len = usize::from(arena[offset]);
    &arena[offset + 1..offset + 1 + len]
}

impl<T> NameTable<T> {
    pub(crate) fn len(&self) -> usize {
        self.payloads.len()
    }

    /// Makes room for `names` more names of about `bytes` bytes in all.
    pub(crate) fn reserve(&mut self, names: usize, bytes: usize) {
        self.arena.reserve(bytes);
        self.offsets.reserve(names);
        self.payloads.reserve(names);
        self.index.reserve(names);
    }

    /// The slot of `wire`, inserting `make()` first when absent.
    pub(crate) fn slot(&mut self, wire: &[u8], make: impl FnOnce() -> T) -> u32 {
        let hash = self.hasher.hash(wire);
        self.slot_hashed(wire, hash, make)
    }

    /// [`Self::slot`] of a name whose [`NameHasher`] hash was made elsewhere (by the
    /// threads that prepare a big list's names).
    pub(crate) fn slot_hashed(&mut self, wire: &[u8], hash: u64, make: impl FnOnce() -> T) -> u32 {
        debug_assert_eq!(hash, self.hasher.hash(wire));
        let (arena, offsets) = (&self.arena, &self.offsets);
        if let Some(slot) = self.index.find(hash, |slot| {
            same_wire(arena_name(arena, offsets[slot as usize]), wire)
        }) {
            return slot;
        }
        let slot = self.payloads.len() as u32;
        self.offsets.push(self.arena.len() as u32);
        self.arena.push(wire.len() as u8);
        self.arena.extend_from_slice(wire);
        self.payloads.push(make());
        self.index.insert_unique(hash, slot);
        slot
    }

    /// Warms what [`Self::slot_hashed`] of `hash` will read, one dependent step at a
    /// time: a caller that knows the hashes ahead calls [`WarmStep::Index`] for a name
    /// some way ahead, [`WarmStep::Slot`] nearer, [`WarmStep::Name`] nearer still, so each
    /// step finds what the one before fetched. Growing the table meanwhile only
    /// wastes the warming.
    pub(crate) fn warm(&self, hash: u64, step: WarmStep) {
        match step {
            WarmStep::Index => self.index.prefetch(hash),
            WarmStep::Slot => {
                if let Some(slot) = self.index.likely(hash) {
                    if let Some(offset) = self.offsets.get(slot as usize) {
                        prefetch(offset);
                    }
                    if let Some(payload) = self.payloads.get(slot as usize) {
                        prefetch(payload);
                    }
                }
            }
            WarmStep::Name => {
                let offset = self
                    .index
                    .likely(hash)
                    .and_then(|slot| self.offsets.get(slot as usize));
                if let Some(byte) = offset.and_then(|&offset| self.arena.get(offset as usize)) {
                    prefetch(byte);
                }
            }
        }
    }

    /// The name (wire format) stored in `slot`.
    pub(crate) fn name(&self, slot: u32) -> &[u8] {
        arena_name(&self.arena, self.offsets[slot as usize])
    }

    pub(crate) fn payload_mut(&mut self, slot: u32) -> &mut T {
        &mut self.payloads[slot as usize]
    }

    /// Frees the hash index once no name will be looked up or added any more (before
    /// the names are packed): a load's peak memory holds one index, not two.
    pub(crate) fn forget_index(&mut self) {
        self.index = SlotIndex::default();
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &T)> {
        self.offsets
            .iter()
            .zip(&self.payloads)
            .map(|(&offset, payload)| (arena_name(&self.arena, offset), payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A question's name read at once is the name read label by label: lowercased,
    /// the same labels, and refused where a label would be refused (or compressed, or
    /// running past the packet).
    #[test]
    fn a_name_read_at_once_is_the_name_read_label_by_label() {
        let label = |len: usize, byte: u8| {
            let mut wire = vec![len as u8];
            wire.extend(std::iter::repeat_n(byte, len));
            wire
        };
        let mut cases: Vec<Vec<u8>> = vec![
            b"\x04MaIl\x07Example\x03COM\0".to_vec(),
            b"\0".to_vec(),
            b"\x03[@]\x02\xc3\xa9\0".to_vec(),
        ];
        // 254 bytes of labels is the longest name; one more byte is too long.
        for last in [60, 61] {
            let mut wire: Vec<u8> = (0..3).flat_map(|_| label(63, b'Z')).collect();
            wire.extend(label(last, b'q'));
            wire.push(0);
            cases.push(wire);
        }
        // 127 labels at most.
        for count in [127, 128] {
            let mut wire: Vec<u8> = (0..count).flat_map(|_| label(1, b'A')).collect();
            wire.push(0);
            cases.push(wire);
        }
        for case in cases {
            let mut by_label = NameBuf::default();
            let mut at = 0;
            let expected = loop {
                let len = usize::from(case[at]);
                if len == 0 {
                    break Some(at + 1);
                }
                if by_label.push_label(&case[at + 1..at + 1 + len]).is_err() {
                    break None;
                }
                at += 1 + len;
            };
            let mut at_once = NameBuf::default();
            let read = at_once.read_uncompressed(&case);
            assert_eq!(read, expected, "{case:?}");
            if read.is_some() {
                assert_eq!(at_once.view().wire(), by_label.view().wire());
                assert_eq!(at_once.view().label_count(), by_label.view().label_count());
                let labels = |buf: &NameBuf| {
                    (0..buf.view().label_count())
                        .map(|skip| buf.view().suffix(skip).wire().to_vec())
                        .collect::<Vec<_>>()
                };
                assert_eq!(labels(&at_once), labels(&by_label));
            }
        }
        let mut buf = NameBuf::default();
        assert_eq!(
            buf.read_uncompressed(b"\x04mail\xc0\x0c"),
            None,
            "compressed"
        );
        assert_eq!(
            buf.read_uncompressed(b"\x04mail\x07exam"),
            None,
            "cut short"
        );
        assert_eq!(buf.read_uncompressed(b"\x04mail"), None, "no zero byte");
        assert_eq!(
            buf.read_uncompressed(b"\x41mail\0"),
            None,
            "a reserved label type"
        );
    }

    /// Every length a word compare treats differently (under 4, 4 to 7, multiples of
    /// 8 and not), with one byte changed at each position, or the lengths differing.
    #[test]
    fn same_wire_agrees_with_comparing_bytes() {
        for len in 0..=40usize {
            let a: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            assert!(same_wire(&a, &a.clone()), "length {len}");
            for at in 0..len {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!same_wire(&a, &b), "length {len}, byte {at} differs");
            }
            let mut longer = a.clone();
            longer.push(0);
            assert!(!same_wire(&a, &longer), "lengths {len} and {}", len + 1);
        }
    }

    #[test]
    fn parses_and_lowercases() {
        let name = Name::parse("Mail.Example.COM.").unwrap();
        assert_eq!(name.wire(), b"\x04mail\x07example\x03com");
        assert_eq!(name.to_string(), "mail.example.com");
        assert_eq!(name.label_count(), 3);
    }

    /// Names without escapes take a path of their own; escaping an ordinary character
    /// sends the same name down the escape path, which must read it the same, errors
    /// included.
    #[test]
    fn names_without_escapes_read_as_with_them() {
        let long = |n: usize| "l".repeat(n);
        let texts = [
            "Mail.Example.COM".to_string(),
            "mail.example.com.".to_string(),
            "a..b".to_string(),
            ".lead".to_string(),
            "a..".to_string(),
            "x.".to_string(),
            "sp ace.Org".to_string(),
            format!("{}.org", long(63)),
            format!("{}.org", long(64)),
            format!("a.{}", long(64)),
            vec![long(63); 4].join("."),
            format!("{}.{}", vec![long(63); 3].join("."), long(61)),
            format!("{}.{}.", vec![long(63); 3].join("."), long(61)),
            format!("{}.{}", vec![long(63); 3].join("."), long(62)),
        ];
        for text in &texts {
            let first = text.find(|c| c != '.').expect("a character to escape");
            let escaped = format!("{}\\{}", &text[..first], &text[first..]);
            assert_eq!(Name::parse(text), Name::parse(&escaped), "{text:?}");
        }
        assert_eq!(Name::parse(".."), Err(NameError::EmptyLabel));
    }

    #[test]
    fn escaped_dot_stays_in_one_label() {
        let name = Name::parse(r"first\.last.example").unwrap();
        assert_eq!(name.label_count(), 2);
        assert_eq!(name.labels().next().unwrap(), b"first.last");
        assert_eq!(name.to_string(), r"first\.last.example");
    }

    #[test]
    fn rejects_bad_names() {
        assert_eq!(Name::parse("a..b"), Err(NameError::EmptyLabel));
        assert_eq!(Name::parse(&"a".repeat(64)), Err(NameError::LabelTooLong));
        let long = vec!["abcdefghi"; 30].join(".");
        assert_eq!(Name::parse(&long), Err(NameError::TooLong));
        assert_eq!(Name::parse("a\\"), Err(NameError::BadEscape));
    }

    #[test]
    fn suffix_operations() {
        let name = Name::parse("a.b.example").unwrap();
        let zone = Name::parse("example").unwrap();
        assert_eq!(name.strip_suffix(&zone).unwrap().to_string(), "a.b");
        assert!(!name.ends_with(&Name::parse("ample").unwrap()));
        assert_eq!(name.strip_suffix(&name).unwrap(), Name::root());
        assert!(name.ends_with(&Name::root()));
        assert_eq!(name.parent().unwrap().to_string(), "b.example");
    }

    #[test]
    fn name_buf_views() {
        let mut buf = NameBuf::default();
        for label in [&b"7"[..], b"113", b"0", b"203", b"IPS", b"example"] {
            buf.push_label(label).unwrap();
        }
        let view = buf.view();
        assert_eq!(view.label_count(), 6);
        assert_eq!(view.label(4), b"ips");
        let first4 = view.prefix(4);
        assert_eq!(first4.label_count(), 4);
        assert_eq!(first4.wire(), b"\x017\x03113\x010\x03203");
        let zone = view.suffix(4);
        assert_eq!(zone.wire(), b"\x03ips\x07example");
        assert_eq!(zone.label(0), b"ips");
        assert_eq!(zone.prefix(1).wire(), b"\x03ips");
        assert!(view.suffix(6).is_root());
        assert_eq!(view.suffix(6).wire(), b"");
    }

    #[test]
    fn name_table_finds_and_updates() {
        let mut table: NameTable<u32> = NameTable::default();
        let foo = table.slot(b"\x03foo", || 0);
        *table.payload_mut(foo) += 5;
        let bar = table.slot(b"\x03bar", || 1);
        *table.payload_mut(bar) += 1;
        assert_eq!(table.slot(b"\x03foo", || 100), foo);
        *table.payload_mut(foo) += 1;
        let entries: Vec<(&[u8], u32)> = table.iter().map(|(n, &p)| (n, p)).collect();
        assert_eq!(entries, [(&b"\x03foo"[..], 6), (&b"\x03bar"[..], 2)]);
        assert_eq!(table.len(), 2);
    }
}
