//! MD5 of several short messages at once. Loading an address list hashes every address
//! with MD5, which no CPU speeds up (SHA-1 and SHA-256 have instructions): one block's
//! 64 steps depend each on the last, so one message leaves most of the core idle. Eight
//! messages side by side, one in each lane of the same vector arithmetic (SSE2, which
//! every x86-64 has), take about the time of two. The compiler did not vectorise the
//! plain loops over lanes, so the x86-64 steps are written with its intrinsics; other
//! machines hash lane by lane.
//!
//! Only messages that fit one block with their padding (55 bytes or fewer, nearly every
//! address) go here; the `md-5` crate hashes the others.

/// Messages hashed together.
pub(crate) const LANES: usize = 8;

/// The longest message that fits one block with its padding.
pub(crate) const MAX_SHORT: usize = 55;

/// Per step: the sine constant of RFC 1321.
const K: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

/// Per step: the left rotation.
const S: [u32; 64] = [
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9,
    14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15,
    21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];

const INITIAL: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

type Lanes = [u32; LANES];

/// The MD5 digests of `messages` (at most [`LANES`], each at most [`MAX_SHORT`] bytes),
/// in their order; lanes past the last message hold nothing of use.
///
/// # Panics
/// When given more than [`LANES`] messages or one longer than [`MAX_SHORT`].
pub(crate) fn md5_short(messages: &[&[u8]]) -> [[u8; 16]; LANES] {
    assert!(messages.len() <= LANES, "at most {LANES} messages");
    // Word j of every lane's block, side by side.
    let mut words = [[0u32; LANES]; 16];
    for (lane, message) in messages.iter().enumerate() {
        assert!(message.len() <= MAX_SHORT, "a message of one block");
        let mut block = [0u8; 64];
        block[..message.len()].copy_from_slice(message);
        block[message.len()] = 0x80;
        block[56..].copy_from_slice(&(message.len() as u64 * 8).to_le_bytes());
        for (word, bytes) in words.iter_mut().zip(block.chunks_exact(4)) {
            word[lane] = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
    }
    let state = rounds(&words);
    let mut digests = [[0u8; 16]; LANES];
    for (lane, digest) in digests.iter_mut().enumerate() {
        for (i, word) in state.iter().enumerate() {
            let value = word[lane].wrapping_add(INITIAL[i]);
            digest[4 * i..4 * i + 4].copy_from_slice(&value.to_le_bytes());
        }
    }
    digests
}

/// The 64 steps on every lane: `a, b, c, d` after them.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
fn rounds(words: &[Lanes; 16]) -> [Lanes; 4] {
    // SAFETY: SSE2 is part of x86-64 itself: every CPU that runs this binary has it.
    unsafe { sse2::rounds(words) }
}

/// The 64 steps one lane after another, where no vector code is written.
#[cfg(not(target_arch = "x86_64"))]
fn rounds(words: &[Lanes; 16]) -> [Lanes; 4] {
    let mut state = [[0u32; LANES]; 4];
    for lane in 0..LANES {
        let [mut a, mut b, mut c, mut d] = INITIAL;
        for step in 0..64 {
            let (mixed, word) = match step / 16 {
                0 => ((b & c) | (!b & d), step),
                1 => ((d & b) | (!d & c), (5 * step + 1) % 16),
                2 => (b ^ c ^ d, (3 * step + 5) % 16),
                _ => (c ^ (b | !d), (7 * step) % 16),
            };
            let sum = mixed
                .wrapping_add(a)
                .wrapping_add(K[step])
                .wrapping_add(words[word][lane]);
            (a, d, c) = (d, c, b);
            b = b.wrapping_add(sum.rotate_left(S[step]));
        }
        for (word, value) in state.iter_mut().zip([a, b, c, d]) {
            word[lane] = value;
        }
    }
    state
}

/// Eight lanes as two SSE2 vectors of four: two independent chains of steps keep the
/// core busy where one would wait on each step's result.
#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi32, _mm_and_si128, _mm_andnot_si128, _mm_cvtsi32_si128,
        _mm_cvtsi128_si32, _mm_or_si128, _mm_set_epi32, _mm_set1_epi32, _mm_shuffle_epi32,
        _mm_sll_epi32, _mm_srl_epi32, _mm_xor_si128,
    };

    use super::{INITIAL, K, LANES, Lanes, S};

    #[derive(Clone, Copy)]
    struct Pair(__m128i, __m128i);

    #[target_feature(enable = "sse2")]
    pub(super) fn rounds(words: &[Lanes; 16]) -> [Lanes; 4] {
        let words = words.map(|word| load(&word));
        let mut state = INITIAL.map(|value| {
            let v = _mm_set1_epi32(value as i32);
            Pair(v, v)
        });
        let all_ones = _mm_set1_epi32(-1);
        for (step, &word) in words.iter().enumerate() {
            let [_, b, c, d] = state;
            let mixed = or(and(b, c), andnot(b, d));
            state = step_all(state, mixed, word, step);
        }
        for step in 16..32 {
            let [_, b, c, d] = state;
            let mixed = or(and(d, b), andnot(d, c));
            state = step_all(state, mixed, words[(5 * step + 1) % 16], step);
        }
        for step in 32..48 {
            let [_, b, c, d] = state;
            let mixed = xor(xor(b, c), d);
            state = step_all(state, mixed, words[(3 * step + 5) % 16], step);
        }
        for step in 48..64 {
            let [_, b, c, d] = state;
            let not_d = xor(d, Pair(all_ones, all_ones));
            let mixed = xor(c, or(b, not_d));
            state = step_all(state, mixed, words[(7 * step) % 16], step);
        }
        state.map(|pair| store(pair))
    }

    /// One step: `a, b, c, d` become `d, b + (a + mixed + K + word) <<< S, b, c`.
    #[target_feature(enable = "sse2")]
    fn step_all([a, b, c, d]: [Pair; 4], mixed: Pair, word: Pair, step: usize) -> [Pair; 4] {
        let k = _mm_set1_epi32(K[step] as i32);
        let sum = add(add(mixed, a), add(word, Pair(k, k)));
        let left = _mm_cvtsi32_si128(S[step] as i32);
        let right = _mm_cvtsi32_si128(32 - S[step] as i32);
        let rotated = Pair(
            _mm_or_si128(_mm_sll_epi32(sum.0, left), _mm_srl_epi32(sum.0, right)),
            _mm_or_si128(_mm_sll_epi32(sum.1, left), _mm_srl_epi32(sum.1, right)),
        );
        [d, add(b, rotated), b, c]
    }

    /// Operations on both halves of a pair (`andnot(x, y)` is `!x & y`).
    macro_rules! on_both_halves {
        ($($name:ident => $op:ident),*) => {$(
            #[target_feature(enable = "sse2")]
            fn $name(x: Pair, y: Pair) -> Pair {
                Pair($op(x.0, y.0), $op(x.1, y.1))
            }
        )*};
    }

    on_both_halves!(
        add => _mm_add_epi32,
        and => _mm_and_si128,
        andnot => _mm_andnot_si128,
        or => _mm_or_si128,
        xor => _mm_xor_si128
    );

    #[target_feature(enable = "sse2")]
    fn load(lanes: &Lanes) -> Pair {
        let v = |i: usize| lanes[i] as i32;
        Pair(
            _mm_set_epi32(v(3), v(2), v(1), v(0)),
            _mm_set_epi32(v(7), v(6), v(5), v(4)),
        )
    }

    #[target_feature(enable = "sse2")]
    fn store(pair: Pair) -> Lanes {
        let mut lanes = [0u32; LANES];
        for (half, v) in [pair.0, pair.1].into_iter().enumerate() {
            let out = &mut lanes[4 * half..4 * half + 4];
            out[0] = _mm_cvtsi128_si32(v) as u32;
            out[1] = _mm_cvtsi128_si32(_mm_shuffle_epi32::<0b01>(v)) as u32;
            out[2] = _mm_cvtsi128_si32(_mm_shuffle_epi32::<0b10>(v)) as u32;
            out[3] = _mm_cvtsi128_si32(_mm_shuffle_epi32::<0b11>(v)) as u32;
        }
        lanes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};

    /// Every length of one block, in full and partial groups, against the `md-5` crate
    /// (which passes RFC 1321's vectors), and RFC 1321's own vectors.
    #[test]
    fn digests_match_the_md5_crate() {
        let texts: Vec<Vec<u8>> = (0..=MAX_SHORT)
            .map(|len| (0..len).map(|i| (i * 37 + len * 11) as u8).collect())
            .collect();
        for group in texts.chunks(LANES).chain(texts.chunks(3)) {
            let messages: Vec<&[u8]> = group.iter().map(Vec::as_slice).collect();
            let digests = md5_short(&messages);
            for (message, digest) in messages.iter().zip(digests) {
                assert_eq!(
                    digest[..],
                    Md5::digest(message)[..],
                    "{} bytes",
                    message.len()
                );
            }
        }
        let rfc = [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
        ];
        let digests = md5_short(&rfc.map(|(text, _)| text.as_bytes()));
        for ((text, hex), digest) in rfc.iter().zip(digests) {
            assert_eq!(hex::encode(digest), *hex, "md5({text:?})");
        }
    }
}
