//! MD5 block functions: the scalar one (RFC 1321) and a 16-lane AVX-512 one that advances 16
//! independent MD5 states by one block each per step.
//!
//! MD5 is a serial chain inside one stream (about 700 MiB/s on one core here), which caps how
//! fast a core can take PUT bodies, since the ETag is the MD5. Across streams there is no
//! dependency, so 16 uploads on one core can be hashed together in the 16 32-bit lanes of a
//! 512-bit register. `md5_batch` gathers the lanes; this file only computes.
//!
//! `unsafe` is allowed here for the one call into the AVX-512 kernel, made only after
//! `is_x86_feature_detected!` confirmed the CPU has the features it is compiled for.
#![allow(unsafe_code)]

use std::sync::OnceLock;

pub(crate) const BLOCK_BYTES: usize = 64;
pub const LANES: usize = 16;
pub const INITIAL_STATE: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// Per-step left rotations, by round.
const SHIFTS: [[u32; 4]; 4] = [[7, 12, 17, 22], [5, 9, 14, 20], [4, 11, 16, 23], [6, 10, 15, 21]];

/// The sine table of RFC 1321: `K[i] = floor(|sin(i + 1)| * 2^32)`, computed as defined
/// (f64 has the precision this needs; the tests check digests against the `md-5` crate).
fn sines() -> &'static [u32; 64] {
    static TABLE: OnceLock<[u32; 64]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = [0u32; 64];
        for (i, entry) in table.iter_mut().enumerate() {
            *entry = (((i + 1) as f64).sin().abs() * 4_294_967_296.0) as u32;
        }
        table
    })
}

/// The message word step `i` (0..64) uses.
const fn word_index(i: usize) -> usize {
    match i / 16 {
        0 => i,
        1 => (5 * i + 1) % 16,
        2 => (3 * i + 5) % 16,
        _ => (7 * i) % 16,
    }
}

/// Advances `state` over `blocks` (a whole number of 64-byte blocks).
pub fn compress(state: &mut [u32; 4], blocks: &[u8]) {
    debug_assert_eq!(blocks.len() % BLOCK_BYTES, 0);
    let k = sines();
    for block in blocks.chunks_exact(BLOCK_BYTES) {
        let mut m = [0u32; 16];
        for (word, bytes) in m.iter_mut().zip(block.chunks_exact(4)) {
            *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        let [mut a, mut b, mut c, mut d] = *state;
        macro_rules! round {
            ($range:expr, $round:literal, |$x:ident, $y:ident, $z:ident| $f:expr) => {
                for i in $range {
                    let ($x, $y, $z) = (b, c, d);
                    let sum = a.wrapping_add($f).wrapping_add(k[i]).wrapping_add(m[word_index(i)]);
                    let rotated = sum.rotate_left(SHIFTS[$round][i % 4]);
                    a = d;
                    d = c;
                    c = b;
                    b = b.wrapping_add(rotated);
                }
            };
        }
        round!(0..16, 0, |x, y, z| (x & y) | (!x & z));
        round!(16..32, 1, |x, y, z| (x & z) | (y & !z));
        round!(32..48, 2, |x, y, z| x ^ y ^ z);
        round!(48..64, 3, |x, y, z| y ^ (x | !z));
        state[0] = state[0].wrapping_add(a);
        state[1] = state[1].wrapping_add(b);
        state[2] = state[2].wrapping_add(c);
        state[3] = state[3].wrapping_add(d);
    }
}

/// The digest of a stream whose whole blocks are in `state` and whose last `tail` bytes
/// (fewer than 64) are not hashed yet; `total` is the stream's length in bytes.
pub(crate) fn finish(mut state: [u32; 4], tail: &[u8], total: u64) -> [u8; 16] {
    debug_assert!(tail.len() < BLOCK_BYTES);
    let mut last = [0u8; 2 * BLOCK_BYTES];
    last[..tail.len()].copy_from_slice(tail);
    last[tail.len()] = 0x80;
    let padded = if tail.len() < 56 { BLOCK_BYTES } else { 2 * BLOCK_BYTES };
    last[padded - 8..padded].copy_from_slice(&(total.wrapping_mul(8)).to_le_bytes());
    compress(&mut state, &last[..padded]);
    let mut digest = [0u8; 16];
    for (bytes, word) in digest.chunks_exact_mut(4).zip(state) {
        bytes.copy_from_slice(&word.to_le_bytes());
    }
    digest
}

/// The kernel a core's MD5 batcher hashes uploads with, chosen at start (`--md5-kernel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Md5Kernel {
    /// `compress`: one stream at a time.
    Scalar,
    /// `compress_lanes`: up to 16 streams side by side. Only where `lanes_supported()`.
    Lanes,
}

impl Md5Kernel {
    /// The fastest kernel this CPU runs.
    pub fn best_available() -> Md5Kernel {
        if lanes_supported() {
            Md5Kernel::Lanes
        } else {
            Md5Kernel::Scalar
        }
    }

    /// For the start log.
    pub fn description(self) -> &'static str {
        match self {
            Md5Kernel::Scalar => "scalar (one upload at a time)",
            Md5Kernel::Lanes => "16 AVX-512 lanes (uploads of a core hashed side by side)",
        }
    }
}

/// Whether this CPU can run `compress_lanes`.
pub fn lanes_supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static SUPPORTED: OnceLock<bool> = OnceLock::new();
        *SUPPORTED.get_or_init(|| std::arch::is_x86_feature_detected!("avx512f"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Advances 16 states by `count` blocks each, lane `l` reading `count * 64` bytes from
/// `inputs[l]`. Callers check `lanes_supported()` first; unused lanes may point at any
/// readable `count * 64` bytes (their state is then meaningless).
pub fn compress_lanes(states: &mut [[u32; 4]; LANES], inputs: [&[u8]; LANES], count: usize) {
    for input in &inputs {
        assert!(input.len() >= count * BLOCK_BYTES, "lane input shorter than count blocks");
    }
    #[cfg(target_arch = "x86_64")]
    {
        assert!(lanes_supported(), "compress_lanes needs AVX-512F");
        // SAFETY: AVX-512F is present (checked above) and every input holds `count` blocks.
        unsafe { avx512::compress_lanes(states, inputs, count) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        for (state, input) in states.iter_mut().zip(inputs) {
            compress(state, &input[..count * BLOCK_BYTES]);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{sines, word_index, BLOCK_BYTES, LANES};

    macro_rules! step {
        ($a:ident, $b:ident, $c:ident, $d:ident, $func:literal, $m:expr, $k:expr, $shift:literal) => {{
            let f = _mm512_ternarylogic_epi32::<$func>($b, $c, $d);
            let sum = _mm512_add_epi32(_mm512_add_epi32($a, f), _mm512_add_epi32($m, $k));
            $a = _mm512_add_epi32(_mm512_rol_epi32::<$shift>(sum), $b);
        }};
    }

    /// Four steps with the rotating (a, b, c, d) roles and the round's four shifts.
    macro_rules! four_steps {
        ($s:ident, $m:ident, $k:ident, $i:expr, $func:literal, $r0:literal, $r1:literal, $r2:literal, $r3:literal) => {{
            let [ref mut a, ref mut b, ref mut c, ref mut d] = $s;
            let (mut a2, mut b2, mut c2, mut d2) = (*a, *b, *c, *d);
            step!(a2, b2, c2, d2, $func, $m[word_index($i)], $k[$i], $r0);
            step!(d2, a2, b2, c2, $func, $m[word_index($i + 1)], $k[$i + 1], $r1);
            step!(c2, d2, a2, b2, $func, $m[word_index($i + 2)], $k[$i + 2], $r2);
            step!(b2, c2, d2, a2, $func, $m[word_index($i + 3)], $k[$i + 3], $r3);
            *a = a2;
            *b = b2;
            *c = c2;
            *d = d2;
        }};
    }

    /// The 16x16 transpose of 32-bit words: in 128-bit lanes (unpack 32, then 64), then across
    /// them (two rounds of `shuffle_i32x4`).
    #[target_feature(enable = "avx512f")]
    fn transpose(rows: &[__m512i; LANES]) -> [__m512i; LANES] {
        let t: [__m512i; LANES] = std::array::from_fn(|i| {
            let (a, b) = (rows[i & !1], rows[i | 1]);
            if i % 2 == 0 {
                _mm512_unpacklo_epi32(a, b)
            } else {
                _mm512_unpackhi_epi32(a, b)
            }
        });
        // u[4g + j], lane k: column 4k + j of rows 4g..4g+3.
        let u: [__m512i; LANES] = std::array::from_fn(|i| {
            let (group, j) = (i & !3, i & 3);
            let (a, b) = (t[group + (j >> 1)], t[group + 2 + (j >> 1)]);
            if j % 2 == 0 {
                _mm512_unpacklo_epi64(a, b)
            } else {
                _mm512_unpackhi_epi64(a, b)
            }
        });
        let mut m = [_mm512_setzero_si512(); LANES];
        for j in 0..4 {
            let low_a = _mm512_shuffle_i32x4::<0x44>(u[j], u[4 + j]);
            let high_a = _mm512_shuffle_i32x4::<0xEE>(u[j], u[4 + j]);
            let low_b = _mm512_shuffle_i32x4::<0x44>(u[8 + j], u[12 + j]);
            let high_b = _mm512_shuffle_i32x4::<0xEE>(u[8 + j], u[12 + j]);
            m[j] = _mm512_shuffle_i32x4::<0x88>(low_a, low_b);
            m[4 + j] = _mm512_shuffle_i32x4::<0xDD>(low_a, low_b);
            m[8 + j] = _mm512_shuffle_i32x4::<0x88>(high_a, high_b);
            m[12 + j] = _mm512_shuffle_i32x4::<0xDD>(high_a, high_b);
        }
        m
    }

    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn compress_lanes(states: &mut [[u32; 4]; LANES], inputs: [&[u8]; LANES], count: usize) {
        let table = sines();
        let k: [__m512i; 64] = std::array::from_fn(|i| _mm512_set1_epi32(table[i] as i32));
        let mut columns = [[0u32; LANES]; 4];
        for (lane, state) in states.iter().enumerate() {
            for word in 0..4 {
                columns[word][lane] = state[word];
            }
        }
        // SAFETY: each `columns` row is 16 u32 = 64 bytes, what one unaligned load reads.
        let mut s: [__m512i; 4] =
            std::array::from_fn(|word| unsafe { _mm512_loadu_si512(columns[word].as_ptr().cast()) });
        for block in 0..count {
            let offset = block * BLOCK_BYTES;
            // Lane l's block is row l; MD5 wants word w of every lane together (column w).
            // SAFETY: the slice is exactly one 64-byte block (bounds-checked by the indexing).
            let rows: [__m512i; LANES] = std::array::from_fn(|lane| unsafe {
                _mm512_loadu_si512(inputs[lane][offset..offset + BLOCK_BYTES].as_ptr().cast())
            });
            let m = transpose(&rows);
            let saved = s;
            for i in (0..16).step_by(4) {
                four_steps!(s, m, k, i, 0xCA, 7, 12, 17, 22);
            }
            for i in (16..32).step_by(4) {
                four_steps!(s, m, k, i, 0xE4, 5, 9, 14, 20);
            }
            for i in (32..48).step_by(4) {
                four_steps!(s, m, k, i, 0x96, 4, 11, 16, 23);
            }
            for i in (48..64).step_by(4) {
                four_steps!(s, m, k, i, 0x39, 6, 10, 15, 21);
            }
            for word in 0..4 {
                s[word] = _mm512_add_epi32(s[word], saved[word]);
            }
        }
        for word in 0..4 {
            // SAFETY: each `columns` row is 64 bytes, what one unaligned store writes.
            unsafe { _mm512_storeu_si512(columns[word].as_mut_ptr().cast(), s[word]) };
        }
        for (lane, state) in states.iter_mut().enumerate() {
            for word in 0..4 {
                state[word] = columns[word][lane];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};

    fn pseudo_random(length: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..length)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn scalar_digest(data: &[u8]) -> [u8; 16] {
        let whole = data.len() / BLOCK_BYTES * BLOCK_BYTES;
        let mut state = INITIAL_STATE;
        compress(&mut state, &data[..whole]);
        finish(state, &data[whole..], data.len() as u64)
    }

    #[test]
    fn scalar_matches_rfc_1321_vectors_and_the_md5_crate() {
        assert_eq!(scalar_digest(b""), *b"\xd4\x1d\x8c\xd9\x8f\x00\xb2\x04\xe9\x80\x09\x98\xec\xf8\x42\x7e");
        assert_eq!(scalar_digest(b"abc"), *b"\x90\x01\x50\x98\x3c\xd2\x4f\xb0\xd6\x96\x3f\x7d\x28\xe1\x7f\x72");
        for length in [1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 4096, 100_003] {
            let data = pseudo_random(length, length as u64);
            assert_eq!(scalar_digest(&data), <[u8; 16]>::from(Md5::digest(&data)), "length {length}");
        }
    }

    #[test]
    #[cfg_attr(
        not(s3core_host_avx512f),
        ignore = "the build machine's CPU has no AVX-512F: the lane kernel cannot run"
    )]
    fn lanes_match_scalar_for_every_lane() {
        assert!(lanes_supported(), "built on a CPU with AVX-512F, running on one without: rebuild here");
        let inputs: Vec<Vec<u8>> = (0..LANES).map(|lane| pseudo_random(5 * BLOCK_BYTES, 100 + lane as u64)).collect();
        let mut states: [[u32; 4]; LANES] = std::array::from_fn(|lane| {
            // Lanes start from different states, as streams at different offsets would.
            let mut state = INITIAL_STATE;
            compress(&mut state, &pseudo_random(lane * BLOCK_BYTES, lane as u64));
            state
        });
        let mut expected = states;
        for (state, input) in expected.iter_mut().zip(&inputs) {
            compress(state, input);
        }
        let views: [&[u8]; LANES] = std::array::from_fn(|lane| inputs[lane].as_slice());
        compress_lanes(&mut states, views, 5);
        assert_eq!(states, expected);
    }
}
