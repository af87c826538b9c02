//! Vectors as SQLite keeps them: one-byte-per-dimension quantisation for the in-memory index,
//! and the little-endian f32 blob format vectors are stored in. (Cosine similarity itself is
//! `clara_core::store::similarity`, shared by every store.)

/// A vector as a blob of little-endian f32s.
pub fn to_blob(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Decodes a little-endian f32 blob into `out` (cleared first); trailing odd bytes are ignored.
pub fn from_blob_into(blob: &[u8], out: &mut Vec<f32>) {
    out.clear();
    let (words, _) = blob.as_chunks::<4>();
    out.reserve(words.len());
    // A loop rather than `extend`: the size-optimised build assembled each f32 byte by byte
    // in an out-of-line `fold`.
    for word in words {
        out.push(f32::from_le_bytes(*word));
    }
}

/// Lanes of the i8 dot product: sixteen i32 accumulators fill two AVX2 registers.
const I8_LANES: usize = 16;

/// `vector` as one signed byte per dimension with a shared scale (`x ≈ code * scale`), the
/// scale chosen so the largest component maps to ±127. A zero vector gets scale 0.
pub fn quantize_into(vector: &[f32], codes: &mut Vec<i8>) -> f32 {
    let largest = vector.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let scale = if largest > 0.0 && largest.is_finite() {
        largest / 127.0
    } else {
        0.0
    };
    let inverse = if scale > 0.0 { 1.0 / scale } else { 0.0 };
    codes.extend(
        vector
            .iter()
            .map(|x| (x * inverse).round().clamp(-127.0, 127.0) as i8),
    );
    scale
}

/// The signs of `vector` as bits (1 for a positive component), 64 dimensions a word, appended
/// to `bits`. Two vectors' differing signs (their Hamming distance) track the angle between
/// them, coarsely: enough to narrow a long list before the byte codes rank it.
pub fn sign_bits_into(vector: &[f32], bits: &mut Vec<u64>) {
    bits.extend(vector.chunks(64).map(|chunk| {
        chunk
            .iter()
            .enumerate()
            .fold(0u64, |word, (i, x)| word | (u64::from(*x > 0.0) << i))
    }));
}

/// How many of two bit vectors' bits differ. An indexed loop, not iterator adapters: the
/// size-optimised build leaves an adapter's `fold` out of line, where a caller's POPCNT is
/// not enabled and each count takes a dozen instructions.
#[inline(always)]
pub fn hamming(a: &[u64], b: &[u64]) -> u32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut differ = 0;
    for i in 0..n {
        differ += (a[i] ^ b[i]).count_ones();
    }
    differ
}

/// [`hamming`] eight words at a time with AVX-512's population count.
///
/// # Safety
///
/// Callable only where AVX-512F and VPOPCNTDQ are known to be present; its masked loads read
/// nothing outside its slices.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vpopcntdq")]
#[allow(unsafe_code)]
pub fn hamming_avx512(a: &[u64], b: &[u64]) -> u32 {
    use std::arch::x86_64::{
        _mm512_add_epi64, _mm512_maskz_loadu_epi64, _mm512_popcnt_epi64, _mm512_reduce_add_epi64,
        _mm512_setzero_si512, _mm512_xor_si512,
    };
    let n = a.len().min(b.len());
    let mut acc = _mm512_setzero_si512();
    let mut at = 0;
    while at < n {
        let left = n - at;
        let mask = if left >= 8 {
            u8::MAX
        } else {
            (1u8 << left) - 1
        };
        // SAFETY: the mask enables only the `min(left, 8)` words from `at` on, all inside
        // both slices; masked-off words are neither read nor able to fault.
        let (x, y) = unsafe {
            (
                _mm512_maskz_loadu_epi64(mask, a.as_ptr().add(at).cast::<i64>()),
                _mm512_maskz_loadu_epi64(mask, b.as_ptr().add(at).cast::<i64>()),
            )
        };
        acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_xor_si512(x, y)));
        at += 8;
    }
    _mm512_reduce_add_epi64(acc) as u32
}

/// The dot product of two code vectors of equal length, exact in i32 (1536 × 127² fits with
/// room to spare). The portable path; x86-64 with AVX2 uses [`dot_i8_avx2`].
#[inline(always)]
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0i32; I8_LANES];
    let a_chunks = a.chunks_exact(I8_LANES);
    let b_chunks = b.chunks_exact(I8_LANES);
    let tail: i32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..I8_LANES {
            acc[lane] += i32::from(x[lane]) * i32::from(y[lane]);
        }
    }
    acc.iter().sum::<i32>() + tail
}

/// [`dot_i8`] in AVX2 instructions, written out: the release build is optimised for size,
/// and rustc does not vectorise loops at `opt-level = "s"`, which made the plain loop ten
/// times slower there (22 ms instead of 2 for a scan of 10k memories).
///
/// Thirty-two bytes a step: `maddubs` multiplies unsigned by signed bytes, so `a`'s signs
/// move onto `b` and `a` enters as its absolute value; pairs of products sum into i16
/// without saturating. Exact while `b` holds no -128, which moving a negative sign onto
/// cannot negate; no code is -128 (see [`quantize_into`]), and one would make the result
/// inexact, never unsafe.
///
/// # Safety
///
/// Callable only where AVX2 is known to be present (a caller compiled with the feature, or
/// after `is_x86_feature_detected!("avx2")`); it reads nothing outside its slices.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(unsafe_code)]
pub fn dot_i8_avx2(a: &[i8], b: &[i8]) -> i32 {
    use std::arch::x86_64::{
        __m256i, _mm_add_epi32, _mm_cvtsi128_si32, _mm_shuffle_epi32, _mm256_add_epi32,
        _mm256_castsi256_si128, _mm256_extracti128_si256, _mm256_loadu_si256, _mm256_madd_epi16,
        _mm256_maddubs_epi16, _mm256_set1_epi16, _mm256_setzero_si256, _mm256_sign_epi8,
    };
    let n = a.len().min(b.len());
    let ones = _mm256_set1_epi16(1);
    let mut acc = _mm256_setzero_si256();
    let mut at = 0;
    while at + 32 <= n {
        // SAFETY: `at + 32 <= n` keeps both 32-byte unaligned loads inside their slices.
        let (x, y) = unsafe {
            (
                _mm256_loadu_si256(a.as_ptr().add(at).cast::<__m256i>()),
                _mm256_loadu_si256(b.as_ptr().add(at).cast::<__m256i>()),
            )
        };
        let pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, ones));
        at += 32;
    }
    let halves = _mm_add_epi32(
        _mm256_castsi256_si128(acc),
        _mm256_extracti128_si256(acc, 1),
    );
    let pairs = _mm_add_epi32(halves, _mm_shuffle_epi32(halves, 0b01_00_11_10));
    let total = _mm_add_epi32(pairs, _mm_shuffle_epi32(pairs, 0b10_11_00_01));
    let tail: i32 = a[at..n]
        .iter()
        .zip(&b[at..n])
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum();
    _mm_cvtsi128_si32(total) + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_bits_follow_the_signs_and_count_differences() {
        let mut a = Vec::new();
        sign_bits_into(&[1.0, -1.0, 0.0, 2.0], &mut a);
        assert_eq!(a, [0b1001]);
        let long: Vec<f32> = (0..130)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let flipped: Vec<f32> = long.iter().map(|x| -x).collect();
        let (mut x, mut y) = (Vec::new(), Vec::new());
        sign_bits_into(&long, &mut x);
        sign_bits_into(&flipped, &mut y);
        assert_eq!(x.len(), 3);
        assert_eq!(hamming(&x, &x), 0);
        assert_eq!(hamming(&x, &y), 130);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    fn the_avx512_hamming_distance_is_the_plain_one() {
        if !(std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vpopcntdq"))
        {
            return;
        }
        let words = |seed: u64, n: usize| -> Vec<u64> {
            (0..n as u64)
                .map(|i| (i + seed).wrapping_mul(0x9E37_79B9_7F4A_7C15))
                .collect()
        };
        for n in [0, 1, 7, 8, 9, 24, 31] {
            let (a, b) = (words(1, n), words(2, n));
            // SAFETY: the CPU was just checked for both features.
            let fast = unsafe { hamming_avx512(&a, &b) };
            assert_eq!(fast, hamming(&a, &b), "{n} words");
        }
        // SAFETY: as above.
        assert_eq!(unsafe { hamming_avx512(&[u64::MAX; 24], &[0; 24]) }, 1536);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    fn the_avx2_dot_product_is_the_plain_one() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        for n in [0, 1, 15, 16, 17, 31, 32, 33, 100, 1536] {
            let a: Vec<i8> = (0..n).map(|i: i32| (i * 37 % 255 - 127) as i8).collect();
            let b: Vec<i8> = (0..n).map(|i: i32| (i * 91 % 255 - 127) as i8).collect();
            // SAFETY: the CPU was just checked for AVX2.
            let fast = unsafe { dot_i8_avx2(&a, &b) };
            assert_eq!(fast, dot_i8(&a, &b), "{n} dimensions");
        }
        let extremes = vec![-127i8; 1536];
        // SAFETY: as above.
        assert_eq!(
            unsafe { dot_i8_avx2(&extremes, &extremes) },
            1536 * 127 * 127
        );
        let (mut opposite, zeros) = (vec![127i8; 1536], vec![0i8; 1536]);
        opposite[0] = 0;
        // SAFETY: as above.
        let (against, none) = unsafe {
            (
                dot_i8_avx2(&opposite, &extremes),
                dot_i8_avx2(&zeros, &extremes),
            )
        };
        assert_eq!((against, none), (-1535 * 127 * 127, 0));
    }
    use clara_core::store::similarity::{dot, norm};

    #[test]
    fn quantised_dot_tracks_the_real_one() {
        let a: Vec<f32> = (0..1536)
            .map(|i| ((i * 7919) % 200) as f32 / 100.0 - 1.0)
            .collect();
        let b: Vec<f32> = (0..1536)
            .map(|i| ((i * 104729) % 300) as f32 / 150.0 - 1.0)
            .collect();
        let (mut qa, mut qb) = (Vec::new(), Vec::new());
        let (sa, sb) = (quantize_into(&a, &mut qa), quantize_into(&b, &mut qb));
        let approx = dot_i8(&qa, &qb) as f32 * sa * sb;
        let exact = dot(&a, &b);
        assert!(
            (approx - exact).abs() < 0.01 * norm(&a) * norm(&b),
            "{approx} vs {exact}"
        );
        let naive: i32 = qa
            .iter()
            .zip(&qb)
            .map(|(x, y)| i32::from(*x) * i32::from(*y))
            .sum();
        assert_eq!(dot_i8(&qa, &qb), naive);
    }

    #[test]
    fn quantising_zero_and_extremes() {
        let mut codes = Vec::new();
        assert_eq!(quantize_into(&[0.0, 0.0], &mut codes), 0.0);
        assert_eq!(codes, [0, 0]);
        codes.clear();
        let scale = quantize_into(&[-2.0, 1.0, 2.0], &mut codes);
        assert_eq!(codes, [-127, 64, 127]);
        assert!((scale - 2.0 / 127.0).abs() < 1e-7);
    }

    #[test]
    fn blob_round_trip() {
        let v = vec![1.5, -2.25, f32::MIN_POSITIVE];
        let mut out = Vec::new();
        from_blob_into(&to_blob(&v), &mut out);
        assert_eq!(out, v);
    }
}
