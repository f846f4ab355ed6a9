//! C^α images (PAPER.md §6; App. E, Alg. 2 of the paper; generator of the reference code).
//!
//! An image is two 2-D backgrounds of regularity β separated by a 1-D contour of regularity α:
//!
//! 1. contour `c ~ U[-1, 1]^n`, `C = Re IFFT(|k|^{-α} · FFT(c))`, where `k` is the integer FFT index
//!    (`fftfreq · n`) and the DC entry of the filter is set to its neighbour's value, 1;
//! 2. backgrounds `b_1, b_2 ~ U[-1, 1]^{n×n}`, `B_i = Re IFFT2(|k|^{-β} · FFT2(b_i))` with the radial
//!    index `|k| = (k_1² + k_2²)^{1/2}` (DC set to 1 again);
//! 3. a fair coin decides which background is min-max rescaled to `[u_1, 1]` and which to `[0, u_2]`,
//!    with `u_i ~ U(0, 1)`;
//! 4. the contour row of column `j` is `round(C_j · n) + n/2`, clamped to `[0, n]`; the mask is 0 on
//!    rows `[0, row_j)` and 1 below;
//! 5. optionally ("blurredx2") the mask is filtered by a 2×2 box with reflect padding 1 and stride 1,
//!    giving `(n+1)×(n+1)`, of which the last row and column are dropped;
//! 6. the image is `B_1 · mask + B_2 · (1 − mask)`, in `[0, 1]`.
//!
//! The reference code draws in a fixed order (contour, then backgrounds, then the coin, then `u_1`,
//! `u_2`); this implementation draws in that order too, but from its own ChaCha streams.

use std::sync::Arc;

use ndarray::{Array2, Array3};
use rand::Rng;
use rustfft::{num_complex::Complex64, Fft, FftPlanner};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rng::generate_indexed;

/// Parameters of the C^α class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CAlphaConfig {
    /// Side of the square image in pixels (the paper uses 80).
    pub size: usize,
    /// Regularity of the contour (1-D filter exponent).
    pub alpha: f64,
    /// Regularity of the two backgrounds (2-D filter exponent); the paper's datasets use β = α.
    pub beta: f64,
    /// Apply the reference code's "blurredx2" 2×2 box blur to the mask.
    pub blur: bool,
}

impl CAlphaConfig {
    /// The paper's datasets: 80×80, β = α, blurred mask (`C_alpha{α}_beta{α}_line_80x80_blurredx2`).
    pub fn paper(alpha: f64) -> Self {
        Self {
            size: 80,
            alpha,
            beta: alpha,
            blur: true,
        }
    }

    /// Check every field; constructors call this.
    pub fn validate(&self) -> Result<()> {
        if self.size < 2 {
            return Err(Error::InvalidConfig {
                field: "size",
                value: self.size.to_string(),
                reason: "must be at least 2",
            });
        }
        for (field, v) in [("alpha", self.alpha), ("beta", self.beta)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::InvalidConfig {
                    field,
                    value: v.to_string(),
                    reason: "must be finite and > 0",
                });
            }
        }
        Ok(())
    }
}

/// A validated C^α generator with its FFT plans and filters precomputed; cheap to share across threads.
pub struct CAlphaGenerator {
    cfg: CAlphaConfig,
    fwd: Arc<dyn Fft<f64>>,
    inv: Arc<dyn Fft<f64>>,
    /// `|k|^{-α}` for the 1-D contour.
    filt1: Vec<f64>,
    /// `|k|^{-β}` for the 2-D backgrounds, row-major `[n, n]`.
    filt2: Vec<f64>,
}

impl std::fmt::Debug for CAlphaGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CAlphaGenerator")
            .field("cfg", &self.cfg)
            .finish()
    }
}

/// The integer FFT index of bin `i` of an `n`-point transform (numpy's `fftfreq(n) * n`).
fn fft_index(i: usize, n: usize) -> f64 {
    if i < n.div_ceil(2) {
        i as f64
    } else {
        i as f64 - n as f64
    }
}

impl CAlphaGenerator {
    /// Validate `cfg` and precompute plans and filters.
    pub fn new(cfg: &CAlphaConfig) -> Result<Self> {
        cfg.validate()?;
        let n = cfg.size;
        let mut planner = FftPlanner::new();
        let fwd = planner.plan_fft_forward(n);
        let inv = planner.plan_fft_inverse(n);
        let filt1 = (0..n)
            .map(|i| {
                let k = fft_index(i, n).abs();
                // The DC entry takes its neighbour's value, 1/1 = 1.
                let k = if k == 0.0 { 1.0 } else { k };
                k.powf(-cfg.alpha)
            })
            .collect();
        let mut filt2 = Vec::with_capacity(n * n);
        for i in 0..n {
            for j in 0..n {
                let (ki, kj) = (fft_index(i, n), fft_index(j, n));
                let k = (ki * ki + kj * kj).sqrt();
                let k = if k == 0.0 { 1.0 } else { k };
                filt2.push(k.powf(-cfg.beta));
            }
        }
        Ok(Self {
            cfg: cfg.clone(),
            fwd,
            inv,
            filt1,
            filt2,
        })
    }

    /// The configuration this generator was built from.
    pub fn config(&self) -> &CAlphaConfig {
        &self.cfg
    }

    /// The filtered contour `C = Re IFFT(|k|^{-α} · FFT(c))` with `c ~ U[-1, 1]^n` (before scaling to rows).
    pub fn contour(&self, rng: &mut impl Rng) -> Vec<f64> {
        let n = self.cfg.size;
        let mut buf: Vec<Complex64> = (0..n)
            .map(|_| Complex64::new(rng.gen_range(-1.0..1.0), 0.0))
            .collect();
        self.fwd.process(&mut buf);
        for (b, f) in buf.iter_mut().zip(&self.filt1) {
            *b *= *f;
        }
        self.inv.process(&mut buf);
        buf.iter().map(|c| c.re / n as f64).collect()
    }

    /// One filtered background `B = Re IFFT2(|k|^{-β} · FFT2(b))` with `b ~ U[-1, 1]^{n×n}`.
    pub fn background(&self, rng: &mut impl Rng) -> Array2<f64> {
        let n = self.cfg.size;
        let mut buf: Vec<Complex64> = (0..n * n)
            .map(|_| Complex64::new(rng.gen_range(-1.0..1.0), 0.0))
            .collect();
        self.fft2(&mut buf, false);
        for (b, f) in buf.iter_mut().zip(&self.filt2) {
            *b *= *f;
        }
        self.fft2(&mut buf, true);
        let scale = 1.0 / (n * n) as f64;
        Array2::from_shape_fn((n, n), |(i, j)| buf[i * n + j].re * scale)
    }

    /// In-place unnormalised 2-D FFT of a row-major `[n, n]` buffer.
    fn fft2(&self, buf: &mut [Complex64], inverse: bool) {
        let n = self.cfg.size;
        let plan = if inverse { &self.inv } else { &self.fwd };
        // Rows are contiguous.
        plan.process(buf);
        // Columns: transpose, transform the rows, transpose back.
        let mut t = vec![Complex64::new(0.0, 0.0); n * n];
        for i in 0..n {
            for j in 0..n {
                t[j * n + i] = buf[i * n + j];
            }
        }
        plan.process(&mut t);
        for i in 0..n {
            for j in 0..n {
                buf[i * n + j] = t[j * n + i];
            }
        }
    }

    /// The (optionally blurred) mask of a contour: 0 above the contour row, 1 from it down.
    pub fn mask(&self, contour: &[f64]) -> Array2<f64> {
        let n = self.cfg.size;
        let mut mask = Array2::<f64>::ones((n, n));
        for (j, &c) in contour.iter().enumerate() {
            let row = (c * n as f64).round() + (n / 2) as f64;
            // Clamp instead of Python's negative-index slicing (PAPER.md §6).
            let row = row.clamp(0.0, n as f64) as usize;
            for i in 0..row {
                mask[[i, j]] = 0.0;
            }
        }
        if self.cfg.blur {
            box_blur_2x2(&mask)
        } else {
            mask
        }
    }

    /// Draw one image, in `[0, 1]`, shape `[size, size]`.
    pub fn sample(&self, rng: &mut impl Rng) -> Array2<f32> {
        let contour = self.contour(rng);
        let b1 = self.background(rng);
        let b2 = self.background(rng);
        let coin: bool = rng.gen_bool(0.5);
        let u1: f64 = rng.gen_range(0.0..1.0);
        let u2: f64 = rng.gen_range(0.0..1.0);
        // One background goes to [u1, 1], the other to [0, u2]; the coin decides which.
        let (b1, b2) = if coin {
            (rescale(&b1, u1, 1.0), rescale(&b2, 0.0, u2))
        } else {
            (rescale(&b1, 0.0, u2), rescale(&b2, u1, 1.0))
        };
        let mask = self.mask(&contour);
        let mut out = Array2::<f32>::zeros(mask.raw_dim());
        ndarray::Zip::from(&mut out)
            .and(&mask)
            .and(&b1)
            .and(&b2)
            .for_each(|o, &m, &x1, &x2| *o = (x1 * m + x2 * (1.0 - m)) as f32);
        out
    }

    /// Draw `n_images` images in parallel; image `i` uses [`image_rng`](crate::image_rng)`(seed, i)`, so the result
    /// does not depend on the number of threads. Shape `[n_images, size, size]`.
    pub fn generate(&self, n_images: usize, seed: u64) -> Array3<f32> {
        generate_indexed(n_images, self.cfg.size, seed, |rng| (self.sample(rng), ())).0
    }
}

/// Generate `n_images` C^α images `[n_images, size, size]` in `[0, 1]` (PAPER.md §6).
pub fn generate_calpha(cfg: &CAlphaConfig, n_images: usize, seed: u64) -> Result<Array3<f32>> {
    Ok(CAlphaGenerator::new(cfg)?.generate(n_images, seed))
}

/// Min-max rescale to `[lo, hi]`; a constant array maps to `lo`.
fn rescale(x: &Array2<f64>, lo: f64, hi: f64) -> Array2<f64> {
    let min = x.iter().copied().fold(f64::INFINITY, f64::min);
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = max - min;
    if span <= 0.0 {
        return Array2::from_elem(x.raw_dim(), lo);
    }
    x.mapv(|v| (v - min) / span * (hi - lo) + lo)
}

/// The reference "blurredx2": a 2×2 box filter over the mask reflect-padded by 1, stride 1, giving
/// `(n+1)×(n+1)`, of which the last row and column are dropped. So `out[i, j]` is the mean of
/// `m[r(i−1), r(j−1)], m[r(i−1), j], m[i, r(j−1)], m[i, j]` with the reflection `r(−1) = 1`.
pub fn box_blur_2x2(m: &Array2<f64>) -> Array2<f64> {
    let (h, w) = m.dim();
    let refl = |k: isize, len: usize| -> usize {
        if k < 0 {
            // Reflect padding (no edge repeat): index -1 maps to 1 (or 0 for a length-1 axis).
            (-k as usize).min(len - 1)
        } else {
            k as usize
        }
    };
    Array2::from_shape_fn((h, w), |(i, j)| {
        let (i0, j0) = (refl(i as isize - 1, h), refl(j as isize - 1, w));
        0.25 * (m[[i0, j0]] + m[[i0, j]] + m[[i, j0]] + m[[i, j]])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_rejects_bad_values() {
        for cfg in [
            CAlphaConfig {
                size: 0,
                ..CAlphaConfig::paper(1.0)
            },
            CAlphaConfig {
                alpha: 0.0,
                ..CAlphaConfig::paper(1.0)
            },
            CAlphaConfig {
                beta: -1.0,
                ..CAlphaConfig::paper(1.0)
            },
            CAlphaConfig {
                alpha: f64::NAN,
                ..CAlphaConfig::paper(1.0)
            },
        ] {
            assert!(CAlphaGenerator::new(&cfg).is_err(), "{cfg:?}");
        }
    }

    #[test]
    fn images_are_in_range_and_two_toned() {
        let gen = CAlphaGenerator::new(&CAlphaConfig::paper(2.0)).expect("valid");
        let x = gen.generate(4, 1);
        assert_eq!(x.dim(), (4, 80, 80));
        assert!(x.iter().all(|v| (0.0..=1.0).contains(v)));
        // Each background spans its whole range, so every image reaches 0 or 1 somewhere (up to
        // the mask hiding part of it): at least the max is well above the min.
        for img in x.outer_iter() {
            let (mn, mx) = img
                .iter()
                .fold((1f32, 0f32), |(a, b), &v| (a.min(v), b.max(v)));
            assert!(mx - mn > 0.2, "{mn} {mx}");
        }
    }

    #[test]
    fn blur_matches_hand_computed_values() {
        let m = ndarray::array![[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]];
        let b = box_blur_2x2(&m);
        // Row 0 averages reflected row 1 with row 0.
        assert_eq!(b.row(0).to_vec(), vec![0.5, 0.5, 0.5]);
        assert_eq!(b.row(1).to_vec(), vec![0.5, 0.5, 0.5]);
        assert_eq!(b.row(2).to_vec(), vec![1.0, 1.0, 1.0]);
    }

    #[test]
    fn mask_is_clamped() {
        let cfg = CAlphaConfig {
            size: 4,
            alpha: 1.0,
            beta: 1.0,
            blur: false,
        };
        let gen = CAlphaGenerator::new(&cfg).expect("valid");
        let m = gen.mask(&[-10.0, 10.0, 0.0, 0.25]);
        assert_eq!(m.column(0).to_vec(), vec![1.0; 4]);
        assert_eq!(m.column(1).to_vec(), vec![0.0; 4]);
        assert_eq!(m.column(2).to_vec(), vec![0.0, 0.0, 1.0, 1.0]);
        assert_eq!(m.column(3).to_vec(), vec![0.0, 0.0, 0.0, 1.0]);
    }
}
