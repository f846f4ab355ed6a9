//! Per-image random streams, so that parallel generation (PAPER.md §6, §7) is deterministic for a seed
//! regardless of the number of rayon threads.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The random stream of image `index` of a dataset generated with `seed`.
///
/// It is ChaCha8 seeded from `seed` with its stream number set to `index`, so every image has an
/// independent stream and the result does not depend on which thread draws it or in which order.
pub fn image_rng(seed: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    rng
}

#[cfg(test)]
mod tests {
    use rand::Rng;

    use super::*;

    #[test]
    fn streams_differ_and_repeat() {
        let a: u64 = image_rng(7, 0).gen();
        let b: u64 = image_rng(7, 1).gen();
        let c: u64 = image_rng(7, 0).gen();
        assert_ne!(a, b);
        assert_eq!(a, c);
    }
}
