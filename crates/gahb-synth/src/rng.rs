//! Per-image random streams, so that parallel generation (PAPER.md §6, §7) is deterministic for a seed
//! regardless of the number of rayon threads.

use ndarray::parallel::prelude::*;
use ndarray::{Array2, Array3, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The random stream of image `index` of a dataset generated with `seed`.
///
/// It is rule 2 (numbered streams) of the workspace's seed scheme, `gahb_tensor::seed` (this crate has
/// no libtorch, so it carries the same three lines): ChaCha8 seeded from `seed` with its stream
/// number set to `index`, so every image has an
/// independent stream and the result does not depend on which thread draws it or in which order.
pub fn image_rng(seed: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    rng
}

/// Draws `n_images` square images of side `size` in parallel: image `i` is `draw(&mut image_rng(seed,
/// i))`, which also returns what the caller keeps per image (its parameters, or `()`).
pub(crate) fn generate_indexed<T: Send>(
    n_images: usize,
    size: usize,
    seed: u64,
    draw: impl Fn(&mut ChaCha8Rng) -> (Array2<f32>, T) + Sync,
) -> (Array3<f32>, Vec<T>) {
    let mut out = Array3::<f32>::zeros((n_images, size, size));
    let extra = out
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .map(|(i, mut dst)| {
            let (img, t) = draw(&mut image_rng(seed, i as u64));
            dst.assign(&img);
            t
        })
        .collect();
    (out, extra)
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
