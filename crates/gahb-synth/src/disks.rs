//! The disk manifold (PAPER.md §7): one disk per image, five parameters (centre x, centre y, radius,
//! foreground and background intensity), antialiased.
//!
//! Sampling follows the reference `circle_dataset`: `r ~ U[r_min, r_max)` with the paper's
//! `r_min = 3`, `r_max = (s − 3) // 2`; centre coordinates `~ U[r, s − r)`; foreground and background
//! `~ U(0, 1)`. Rendering is antialiased by supersampling: a pixel is the fraction of its
//! `supersample × supersample` sub-pixel centres inside the disk, times the foreground, plus the rest
//! times the background (the reference's db2 low-pass path is not reproduced; it also scales the
//! intensities, which we avoid).
//!
//! Coordinates: pixel `(row i, column j)` covers `[j, j+1) × [i, i+1)`; `cx` is along columns and `cy`
//! along rows, both in pixel units.

use ndarray::{Array2, Array3};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rng::generate_indexed;

/// The five parameters of one disk image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiskParams {
    /// Centre along columns, in pixels.
    pub cx: f64,
    /// Centre along rows, in pixels.
    pub cy: f64,
    /// Radius, in pixels.
    pub r: f64,
    /// Intensity inside the disk, in `[0, 1]`.
    pub fg: f64,
    /// Intensity outside the disk, in `[0, 1]`.
    pub bg: f64,
}

impl DiskParams {
    /// The parameters as an array `[cx, cy, r, fg, bg]`.
    pub fn to_array(&self) -> [f64; 5] {
        [self.cx, self.cy, self.r, self.fg, self.bg]
    }
}

/// Parameters of the disk class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskConfig {
    /// Side of the square image in pixels.
    pub size: usize,
    /// Smallest radius (inclusive).
    pub r_min: f64,
    /// Largest radius (exclusive); `2 · r_max ≤ size` keeps the disk inside the image.
    pub r_max: f64,
    /// Sub-pixels per pixel side for antialiasing (1 = hard indicator at pixel centres).
    pub supersample: usize,
}

impl DiskConfig {
    /// The reference generator's ranges for an `size × size` image: `r ∈ [3, (size − 3) // 2)`,
    /// antialiased with 8×8 sub-pixels.
    pub fn paper(size: usize) -> Self {
        Self {
            size,
            r_min: 3.0,
            r_max: (size.saturating_sub(3) / 2) as f64,
            supersample: 8,
        }
    }

    /// Check every field; constructors call this.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, value: String, reason| {
            Err(Error::InvalidConfig {
                field,
                value,
                reason,
            })
        };
        if self.size == 0 {
            return bad("size", "0".into(), "must be > 0");
        }
        if !(self.r_min.is_finite() && self.r_min > 0.0) {
            return bad("r_min", self.r_min.to_string(), "must be finite and > 0");
        }
        if !(self.r_max.is_finite() && self.r_max > self.r_min) {
            return bad(
                "r_max",
                self.r_max.to_string(),
                "must be finite and > r_min",
            );
        }
        if 2.0 * self.r_max > self.size as f64 {
            return bad("r_max", self.r_max.to_string(), "must be at most size / 2");
        }
        if self.supersample == 0 || self.supersample > 64 {
            return bad(
                "supersample",
                self.supersample.to_string(),
                "must be in 1..=64",
            );
        }
        Ok(())
    }

    /// Draw the parameters of one disk.
    pub fn sample_params(&self, rng: &mut impl Rng) -> DiskParams {
        let s = self.size as f64;
        let r = rng.gen_range(self.r_min..self.r_max);
        let cx = rng.gen_range(r..s - r);
        let cy = rng.gen_range(r..s - r);
        let fg = rng.gen_range(0.0..1.0);
        let bg = rng.gen_range(0.0..1.0);
        DiskParams { cx, cy, r, fg, bg }
    }
}

/// Render one disk into a `[size, size]` image with `supersample²` sub-pixels per pixel.
pub fn render_disk(size: usize, p: &DiskParams, supersample: usize) -> Array2<f32> {
    let ss = supersample.max(1);
    // Half the pixel diagonal: beyond this distance from the circle a pixel is entirely in or out.
    let margin = std::f64::consts::FRAC_1_SQRT_2;
    Array2::from_shape_fn((size, size), |(i, j)| {
        let (x, y) = (j as f64 + 0.5, i as f64 + 0.5);
        let d = ((x - p.cx).powi(2) + (y - p.cy).powi(2)).sqrt();
        let cov = if ss == 1 {
            if d * d <= p.r * p.r {
                1.0
            } else {
                0.0
            }
        } else if d + margin <= p.r {
            1.0
        } else if d - margin >= p.r {
            0.0
        } else {
            let mut inside = 0usize;
            for a in 0..ss {
                let yy = i as f64 + (a as f64 + 0.5) / ss as f64 - p.cy;
                for b in 0..ss {
                    let xx = j as f64 + (b as f64 + 0.5) / ss as f64 - p.cx;
                    if xx * xx + yy * yy <= p.r * p.r {
                        inside += 1;
                    }
                }
            }
            inside as f64 / (ss * ss) as f64
        };
        (p.bg + (p.fg - p.bg) * cov) as f32
    })
}

/// Generate `n_images` disks `[n_images, size, size]` and their parameters (PAPER.md §7); image `i`
/// uses [`image_rng`](crate::image_rng)`(seed, i)`, so the result does not depend on the number of threads.
pub fn generate_disks(
    cfg: &DiskConfig,
    n_images: usize,
    seed: u64,
) -> Result<(Array3<f32>, Vec<DiskParams>)> {
    cfg.validate()?;
    Ok(generate_indexed(n_images, cfg.size, seed, |rng| {
        let p = cfg.sample_params(rng);
        (render_disk(cfg.size, &p, cfg.supersample), p)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_rejects_bad_values() {
        for cfg in [
            DiskConfig {
                size: 0,
                ..DiskConfig::paper(16)
            },
            DiskConfig {
                r_min: 0.0,
                ..DiskConfig::paper(16)
            },
            DiskConfig {
                r_max: 2.0,
                ..DiskConfig::paper(16)
            },
            DiskConfig {
                r_max: 9.0,
                ..DiskConfig::paper(16)
            },
            DiskConfig {
                supersample: 0,
                ..DiskConfig::paper(16)
            },
        ] {
            assert!(cfg.validate().is_err(), "{cfg:?}");
        }
        assert!(DiskConfig::paper(16).validate().is_ok());
    }

    #[test]
    fn antialiased_area_matches_pi_r_squared() {
        let p = DiskParams {
            cx: 20.3,
            cy: 19.7,
            r: 7.25,
            fg: 1.0,
            bg: 0.0,
        };
        let img = render_disk(40, &p, 16);
        let area: f64 = img.iter().map(|&v| v as f64).sum();
        let exact = std::f64::consts::PI * p.r * p.r;
        assert!((area - exact).abs() < 0.5, "{area} vs {exact}");
        // Edge pixels take intermediate values.
        assert!(img.iter().any(|&v| v > 0.05 && v < 0.95));
    }

    #[test]
    fn params_respect_ranges() {
        let cfg = DiskConfig::paper(20);
        let (x, ps) = generate_disks(&cfg, 16, 3).expect("valid");
        assert_eq!(x.dim(), (16, 20, 20));
        for p in ps {
            assert!(p.r >= cfg.r_min && p.r < cfg.r_max);
            assert!(p.cx >= p.r && p.cx < 20.0 - p.r);
            assert!(p.cy >= p.r && p.cy < 20.0 - p.r);
            assert!((0.0..1.0).contains(&p.fg) && (0.0..1.0).contains(&p.bg));
        }
    }
}
