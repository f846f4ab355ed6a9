//! Image grids: many same-size grayscale images tiled into one PNG, in gray or with a diverging
//! blue-white-red colour map for signed images such as eigenvectors (paper Figs. 3-5, 21).

use std::path::Path;

use image::{Rgb, RgbImage};
use ndarray::Array2;

use crate::error::{Error, Result};

/// How pixel values map to colours.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRange {
    /// Values in [lo, hi] map to the colour map's ends; outside values are clipped.
    Fixed(f32, f32),
    /// Each image is stretched from its own minimum to its maximum.
    PerImage,
    /// Each image maps [−m, m] with m = max |v| (for signed images with a diverging map).
    SymmetricPerImage,
}

/// The colour map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorMap {
    /// Black to white.
    Gray,
    /// Blue (negative) through white (zero) to red (positive).
    Diverging,
}

/// Layout and colour options of an image grid.
#[derive(Debug, Clone)]
pub struct GridOptions {
    /// Each pixel is drawn as a `scale × scale` block.
    pub scale: u32,
    /// Gap between tiles, in output pixels.
    pub pad: u32,
    /// Value-to-colour mapping.
    pub range: ValueRange,
    /// Colour map.
    pub cmap: ColorMap,
    /// Background colour of the gaps.
    pub background: [u8; 3],
}

impl Default for GridOptions {
    /// Gray images on the [0, 1] scale, drawn 3× with 2-pixel gaps.
    fn default() -> Self {
        Self {
            scale: 3,
            pad: 2,
            range: ValueRange::Fixed(0.0, 1.0),
            cmap: ColorMap::Gray,
            background: [255, 255, 255],
        }
    }
}

impl GridOptions {
    /// Signed images (eigenvectors) with the diverging map, symmetric per image.
    pub fn diverging() -> Self {
        Self {
            range: ValueRange::SymmetricPerImage,
            cmap: ColorMap::Diverging,
            ..Self::default()
        }
    }
}

/// Tiles `images` (all the same shape) row by row, `ncols` per row, into an RGB image.
pub fn image_grid_rgb(
    images: &[Array2<f32>],
    ncols: usize,
    opts: &GridOptions,
) -> Result<RgbImage> {
    let first = images.first().ok_or(Error::InvalidArgument {
        name: "images",
        reason: "an image grid needs at least one image".into(),
    })?;
    if ncols == 0 || opts.scale == 0 {
        return Err(Error::InvalidArgument {
            name: "ncols/scale",
            reason: "both must be at least 1".into(),
        });
    }
    let (h, w) = first.dim();
    if let Some(bad) = images.iter().position(|im| im.dim() != (h, w)) {
        return Err(Error::InvalidArgument {
            name: "images",
            reason: format!(
                "image {bad} is {:?}, the first is {:?}",
                images[bad].dim(),
                (h, w)
            ),
        });
    }
    let nrows = images.len().div_ceil(ncols);
    let (s, p) = (opts.scale, opts.pad);
    let tile_w = w as u32 * s;
    let tile_h = h as u32 * s;
    let width = ncols as u32 * tile_w + (ncols as u32 + 1) * p;
    let height = nrows as u32 * tile_h + (nrows as u32 + 1) * p;
    let mut out = RgbImage::from_pixel(width, height, Rgb(opts.background));
    for (idx, im) in images.iter().enumerate() {
        let (lo, hi) = value_range(im, opts.range);
        let r0 = p + (idx / ncols) as u32 * (tile_h + p);
        let c0 = p + (idx % ncols) as u32 * (tile_w + p);
        for ((i, j), &v) in im.indexed_iter() {
            let colour = colourise(v, lo, hi, opts.cmap);
            for di in 0..s {
                for dj in 0..s {
                    out.put_pixel(c0 + j as u32 * s + dj, r0 + i as u32 * s + di, colour);
                }
            }
        }
    }
    Ok(out)
}

/// Tiles `images` into a grid and writes it as a PNG at `path` (parent folders are created).
pub fn image_grid_png(
    path: &Path,
    images: &[Array2<f32>],
    ncols: usize,
    opts: &GridOptions,
) -> Result<()> {
    let img = image_grid_rgb(images, ncols, opts)?;
    crate::write::png_atomic(path, &img)
}

fn value_range(im: &Array2<f32>, range: ValueRange) -> (f32, f32) {
    let finite = || im.iter().copied().filter(|v| v.is_finite());
    match range {
        ValueRange::Fixed(lo, hi) => (lo, hi),
        ValueRange::PerImage => {
            let lo = finite().fold(f32::INFINITY, f32::min);
            let hi = finite().fold(f32::NEG_INFINITY, f32::max);
            if lo.is_finite() && hi > lo {
                (lo, hi)
            } else {
                (lo.min(0.0), lo.max(0.0) + 1.0)
            }
        }
        ValueRange::SymmetricPerImage => {
            let m = finite().fold(0.0f32, |a, v| a.max(v.abs()));
            let m = if m > 0.0 { m } else { 1.0 };
            (-m, m)
        }
    }
}

fn colourise(v: f32, lo: f32, hi: f32, cmap: ColorMap) -> Rgb<u8> {
    let t = if v.is_finite() && hi > lo {
        ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
    } else {
        0.5
    };
    match cmap {
        ColorMap::Gray => {
            let g = (t * 255.0).round() as u8;
            Rgb([g, g, g])
        }
        ColorMap::Diverging => {
            // Blue (0.23, 0.30, 0.75) -> white -> red (0.71, 0.02, 0.15), linear in each half.
            let (a, b, u) = if t < 0.5 {
                ([59.0, 76.0, 192.0], [255.0, 255.0, 255.0], t * 2.0)
            } else {
                ([255.0, 255.0, 255.0], [180.0, 4.0, 38.0], (t - 0.5) * 2.0)
            };
            let mix = |k: usize| (a[k] + (b[k] - a[k]) * u).round() as u8;
            Rgb([mix(0), mix(1), mix(2)])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_has_expected_size_and_pixels() {
        let a = Array2::from_elem((2, 3), 0.0f32);
        let b = Array2::from_elem((2, 3), 1.0f32);
        let opts = GridOptions {
            scale: 2,
            pad: 1,
            ..GridOptions::default()
        };
        let img = image_grid_rgb(&[a.clone(), b, a], 2, &opts).expect("grid");
        // 2 columns of width 6 plus 3 gaps; 2 rows of height 4 plus 3 gaps.
        assert_eq!(img.dimensions(), (15, 11));
        assert_eq!(img.get_pixel(1, 1), &Rgb([0, 0, 0]));
        assert_eq!(img.get_pixel(8, 1), &Rgb([255, 255, 255]));
        assert_eq!(img.get_pixel(0, 0), &Rgb([255, 255, 255]));
    }

    #[test]
    fn diverging_map_is_white_at_zero() {
        let mut im = Array2::from_elem((1, 3), 0.0f32);
        im[(0, 0)] = -2.0;
        im[(0, 2)] = 2.0;
        let img = image_grid_rgb(
            &[im],
            1,
            &GridOptions {
                scale: 1,
                pad: 0,
                ..GridOptions::diverging()
            },
        )
        .expect("grid");
        assert_eq!(img.get_pixel(1, 0), &Rgb([255, 255, 255]));
        assert!(
            img.get_pixel(0, 0)[2] > img.get_pixel(0, 0)[0],
            "negative is blue"
        );
        assert!(
            img.get_pixel(2, 0)[0] > img.get_pixel(2, 0)[2],
            "positive is red"
        );
    }

    #[test]
    fn mismatched_or_empty_inputs_are_errors() {
        assert!(image_grid_rgb(&[], 2, &GridOptions::default()).is_err());
        let a = Array2::zeros((2, 2));
        let b = Array2::zeros((3, 2));
        assert!(image_grid_rgb(&[a.clone(), b], 2, &GridOptions::default()).is_err());
        assert!(image_grid_rgb(&[a], 0, &GridOptions::default()).is_err());
    }
}
