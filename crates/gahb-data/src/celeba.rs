//! The CelebA pipeline of PAPER.md §2 (reference `celebA_to_torch.py`, with its scale bug fixed):
//! `img_align_celeba` 218×178 RGB → crop rows 29:189, columns 9:169 (160×160) → PIL bicubic resize of
//! the `uint8` planes to the target size (×0.5 → 80×80) → gray = mean(R, G, B) / 255 → near-duplicate
//! removal (see [`near_duplicates`]). Files are taken in sorted file-name order.

use std::path::Path;

use ndarray::{s, Array2, Array3, ArrayView3, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::folder::{gray_from_planes, list_images, load_rgb, rgb_planes, stack};
use crate::resample::{area_downsample, resize_bicubic_checked};

/// Parameters of the CelebA pipeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CelebaConfig {
    /// First row of the crop (29).
    pub crop_top: usize,
    /// First column of the crop (9).
    pub crop_left: usize,
    /// Side of the square crop (160).
    pub crop_size: usize,
    /// Output side (80 in the paper; 40, 20 or 160 for Fig. 15).
    pub size: usize,
    /// Side of the dedup thumbnails (20).
    pub thumb: usize,
    /// Pairs with |cos| above this are near-duplicates (0.95).
    pub dedup_threshold: f64,
    /// Keep at most this many files (the first in sorted order), before dedup.
    pub limit: Option<usize>,
}

impl Default for CelebaConfig {
    /// The paper's values (PAPER.md §2).
    fn default() -> Self {
        Self {
            crop_top: 29,
            crop_left: 9,
            crop_size: 160,
            size: 80,
            thumb: 20,
            dedup_threshold: 0.95,
            limit: None,
        }
    }
}

impl CelebaConfig {
    /// Check every field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, value: String, reason| {
            Err(Error::InvalidConfig {
                field,
                value,
                reason,
            })
        };
        if self.crop_size == 0 {
            return bad("crop_size", "0".into(), "must be > 0");
        }
        if self.size == 0 {
            return bad("size", "0".into(), "must be > 0");
        }
        if self.thumb == 0 || self.thumb > self.size {
            return bad("thumb", self.thumb.to_string(), "must be in 1..=size");
        }
        if !(self.dedup_threshold > 0.0 && self.dedup_threshold <= 1.0) {
            return bad(
                "dedup_threshold",
                self.dedup_threshold.to_string(),
                "must be in (0, 1]",
            );
        }
        Ok(())
    }
}

/// The result of the pipeline: the kept images and the original indices removed as duplicates.
#[derive(Clone, Debug)]
pub struct CelebaPrepared {
    /// Kept images `[n, size, size]` in `[0, 1]`, sorted file order.
    pub images: Array3<f32>,
    /// Indices (into the sorted file list) removed as near-duplicates.
    pub removed: Vec<usize>,
    /// Number of files read.
    pub n_files: usize,
}

/// Crop, resize and gray one CelebA file.
pub fn preprocess_file(path: &Path, cfg: &CelebaConfig) -> Result<Array2<f32>> {
    let planes = rgb_planes(&load_rgb(path)?);
    let (_, h, w) = planes.dim();
    let (need_h, need_w) = (cfg.crop_top + cfg.crop_size, cfg.crop_left + cfg.crop_size);
    if h < need_h || w < need_w {
        return Err(Error::ImageTooSmall {
            path: path.into(),
            height: h,
            width: w,
            need_height: need_h,
            need_width: need_w,
        });
    }
    let mut out = Array3::<f32>::zeros((3, cfg.size, cfg.size));
    for c in 0..3 {
        let crop = planes.slice(s![
            c,
            cfg.crop_top..cfg.crop_top + cfg.crop_size,
            cfg.crop_left..cfg.crop_left + cfg.crop_size
        ]);
        out.index_axis_mut(Axis(0), c)
            .assign(&resize_bicubic_checked(crop, cfg.size, cfg.size, true)?);
    }
    Ok(gray_from_planes(&out))
}

/// Run the whole pipeline on a folder of CelebA files.
pub fn prepare_celeba(dir: impl AsRef<Path>, cfg: &CelebaConfig) -> Result<CelebaPrepared> {
    cfg.validate()?;
    let mut files = list_images(dir)?;
    if let Some(l) = cfg.limit {
        files.truncate(l);
    }
    let imgs: Vec<Array2<f32>> = files
        .par_iter()
        .map(|p| preprocess_file(p, cfg))
        .collect::<Result<_>>()?;
    let all = stack(&imgs)?;
    let removed = near_duplicates(all.view(), cfg.thumb, cfg.dedup_threshold);
    let keep: Vec<usize> = (0..all.dim().0)
        .filter(|i| removed.binary_search(i).is_err())
        .collect();
    Ok(CelebaPrepared {
        images: all.select(Axis(0), &keep),
        removed,
        n_files: files.len(),
    })
}

/// Near-duplicate detection of PAPER.md §2 (reference `remove_repeats`): average-pool every image to
/// `thumb × thumb`, subtract its mean, normalise; for every pair `i < j` with `|cos| > threshold`, index
/// `j` (the later one) is removed, even when `i` is itself removed. Constant thumbnails (zero norm)
/// are never duplicates. Returns the removed indices, sorted.
pub fn near_duplicates(x: ArrayView3<'_, f32>, thumb: usize, threshold: f64) -> Vec<usize> {
    let n = x.dim().0;
    let d = thumb * thumb;
    let mut t = Array2::<f32>::zeros((n, d));
    t.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(x.axis_iter(Axis(0)).into_par_iter())
        .for_each(|(mut row, img)| {
            let th = area_downsample(img, thumb, thumb);
            let mean = th.mean().unwrap_or(0.0);
            let v: Vec<f32> = th.iter().map(|&a| a - mean).collect();
            let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt();
            if norm > 1e-12 {
                row.iter_mut().zip(&v).for_each(|(r, a)| *r = a / norm);
            }
        });
    // Blocked Gram matrix: rows of block J against all earlier rows.
    const BLOCK: usize = 1024;
    let thr = threshold as f32;
    let mut removed: Vec<usize> = (0..n.div_ceil(BLOCK))
        .into_par_iter()
        .flat_map_iter(|b| {
            let (j0, j1) = (b * BLOCK, ((b + 1) * BLOCK).min(n));
            let g = t.slice(s![j0..j1, ..]).dot(&t.slice(s![..j1, ..]).t());
            (j0..j1)
                .filter(|&j| (0..j).any(|i| g[[j - j0, i]].abs() > thr))
                .collect::<Vec<_>>()
        })
        .collect();
    removed.sort_unstable();
    removed
}

/// Convenience: the images of `x` without the near-duplicates, and how many were removed.
pub fn remove_near_duplicates(
    x: &Array3<f32>,
    thumb: usize,
    threshold: f64,
) -> (Array3<f32>, Vec<usize>) {
    let removed = near_duplicates(x.view(), thumb, threshold);
    let keep: Vec<usize> = (0..x.dim().0)
        .filter(|i| removed.binary_search(i).is_err())
        .collect();
    (x.select(Axis(0), &keep), removed)
}
