//! Shuffled images (PAPER.md §8, Fig. 21): one fixed, seeded permutation of the pixels applied to every
//! image of a dataset, with its inverse to display eigenvectors unshuffled.
//!
//! Convention: with the row-major flattening `x` of an image, `shuffled[k] = x[perm[k]]`.

use ndarray::parallel::prelude::*;
use ndarray::{Array2, Array3, ArrayView2, ArrayView3, Axis};
use rand::seq::SliceRandom;
use rand::Rng;

use crate::error::{Error, Result};

/// A permutation of the pixels of `height × width` images.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PixelPermutation {
    height: usize,
    width: usize,
    perm: Vec<usize>,
    inv: Vec<usize>,
}

impl PixelPermutation {
    /// A uniformly random permutation drawn from `rng` (Fisher–Yates).
    pub fn random(height: usize, width: usize, rng: &mut impl Rng) -> Result<Self> {
        let mut perm: Vec<usize> = (0..height * width).collect();
        perm.shuffle(rng);
        Self::from_vec(height, width, perm)
    }

    /// A random permutation from a seed (ChaCha8, stream 0).
    pub fn from_seed(height: usize, width: usize, seed: u64) -> Result<Self> {
        Self::random(height, width, &mut crate::rng::image_rng(seed, 0))
    }

    /// Wrap an explicit permutation; it must contain every index `0..height·width` once.
    pub fn from_vec(height: usize, width: usize, perm: Vec<usize>) -> Result<Self> {
        let n = height * width;
        if n == 0 {
            return Err(Error::InvalidConfig {
                field: "height × width",
                value: format!("{height} × {width}"),
                reason: "must be > 0",
            });
        }
        let mut inv = vec![usize::MAX; n];
        if perm.len() != n {
            return Err(Error::ShapeMismatch {
                op: "PixelPermutation::from_vec",
                expected: format!("{n} indices"),
                got: format!("{} indices", perm.len()),
            });
        }
        for (k, &p) in perm.iter().enumerate() {
            if p >= n || inv[p] != usize::MAX {
                return Err(Error::InvalidConfig {
                    field: "perm",
                    value: format!("index {p} at position {k}"),
                    reason: "must contain each of 0..height·width exactly once",
                });
            }
            inv[p] = k;
        }
        Ok(Self {
            height,
            width,
            perm,
            inv,
        })
    }

    /// The forward permutation: `shuffled[k] = x[perm()[k]]`.
    pub fn perm(&self) -> &[usize] {
        &self.perm
    }

    /// The permutation that undoes this one.
    pub fn inverse(&self) -> Self {
        Self {
            height: self.height,
            width: self.width,
            perm: self.inv.clone(),
            inv: self.perm.clone(),
        }
    }

    fn check(&self, op: &'static str, h: usize, w: usize) -> Result<()> {
        if (h, w) != (self.height, self.width) {
            return Err(Error::ShapeMismatch {
                op,
                expected: format!("{} × {}", self.height, self.width),
                got: format!("{h} × {w}"),
            });
        }
        Ok(())
    }

    fn gather(&self, img: ArrayView2<'_, f32>, idx: &[usize]) -> Array2<f32> {
        let flat: Vec<f32> = img.iter().copied().collect();
        let out: Vec<f32> = idx.iter().map(|&p| flat[p]).collect();
        Array2::from_shape_vec((self.height, self.width), out)
            .expect("invariant: permutation length equals height × width")
    }

    /// Shuffle one image.
    pub fn apply_image(&self, img: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        let (h, w) = img.dim();
        self.check("PixelPermutation::apply_image", h, w)?;
        Ok(self.gather(img, &self.perm))
    }

    /// Unshuffle one image (for example an eigenvector).
    pub fn invert_image(&self, img: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        let (h, w) = img.dim();
        self.check("PixelPermutation::invert_image", h, w)?;
        Ok(self.gather(img, &self.inv))
    }

    fn map_all(
        &self,
        x: ArrayView3<'_, f32>,
        idx: &[usize],
        op: &'static str,
    ) -> Result<Array3<f32>> {
        let (_, h, w) = x.dim();
        self.check(op, h, w)?;
        let mut out = Array3::<f32>::zeros(x.raw_dim());
        out.axis_iter_mut(Axis(0))
            .into_par_iter()
            .zip(x.axis_iter(Axis(0)).into_par_iter())
            .for_each(|(mut dst, src)| dst.assign(&self.gather(src, idx)));
        Ok(out)
    }

    /// Shuffle every image of a dataset `[n, h, w]`.
    pub fn apply(&self, x: ArrayView3<'_, f32>) -> Result<Array3<f32>> {
        self.map_all(x, &self.perm, "PixelPermutation::apply")
    }

    /// Unshuffle every image of a dataset `[n, h, w]`.
    pub fn invert(&self, x: ArrayView3<'_, f32>) -> Result<Array3<f32>> {
        self.map_all(x, &self.inv, "PixelPermutation::invert")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_permutations() {
        assert!(PixelPermutation::from_vec(1, 3, vec![0, 0, 1]).is_err());
        assert!(PixelPermutation::from_vec(1, 3, vec![0, 1]).is_err());
        assert!(PixelPermutation::from_vec(1, 3, vec![0, 1, 3]).is_err());
        assert!(PixelPermutation::from_vec(0, 3, vec![]).is_err());
    }

    #[test]
    fn convention_is_gather() {
        let p = PixelPermutation::from_vec(1, 3, vec![2, 0, 1]).expect("valid");
        let x = ndarray::array![[10.0f32, 20.0, 30.0]];
        assert_eq!(
            p.apply_image(x.view()).expect("shape").row(0).to_vec(),
            vec![30.0, 10.0, 20.0]
        );
        assert!(p
            .apply_image(ndarray::Array2::zeros((2, 2)).view())
            .is_err());
    }
}
