//! Cosine similarity for the vector side of memory search, written so the compiler vectorises
//! it (independent accumulators over fixed-size chunks).

const LANES: usize = 8;

/// The dot product of `a` and `b` over their common length.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let a_chunks = a.chunks_exact(LANES);
    let b_chunks = b.chunks_exact(LANES);
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..LANES {
            acc[lane] += x[lane] * y[lane];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The Euclidean length of `v`.
pub fn norm(v: &[f32]) -> f32 {
    dot(v, v).sqrt()
}

/// Cosine similarity in -1..=1 given `b`'s precomputed length; 0 when either vector is zero.
pub fn cosine_with_norm(a: &[f32], b: &[f32], b_norm: f32) -> f32 {
    let denominator = norm(a) * b_norm;
    if denominator > 0.0 {
        (dot(a, b) / denominator).clamp(-1.0, 1.0)
    } else {
        0.0
    }
}

/// Cosine similarity in -1..=1; 0 when either vector is zero.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    cosine_with_norm(a, b, norm(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive_on_odd_lengths() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-3);
    }

    #[test]
    fn cosine_edges() {
        assert!((cosine(&[1.0, 0.0], &[2.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 3.0]).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
    }
}
