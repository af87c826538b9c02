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
    out.extend(
        blob.chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
    );
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

/// The dot product of two code vectors of equal length, exact in i32 (1536 × 127² fits with
/// room to spare). Plain code, inlined into callers compiled for wider vector units.
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

#[cfg(test)]
mod tests {
    use super::*;
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
