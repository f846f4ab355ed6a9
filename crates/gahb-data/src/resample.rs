//! Resampling, cropping and padding (PAPER.md §2 CelebA preprocessing; DATASETS.md §3 folders).
//!
//! [`resize_bicubic`] reproduces PIL's `Image.resize(..., BICUBIC)`: a separable cubic convolution with
//! `a = −0.5`, whose support is stretched by the downsampling factor (so it low-passes when shrinking),
//! horizontal pass first, weights normalised per output pixel, sample centres at `(i + 0.5)·scale`.
//! With `quantize = true` each pass rounds and clamps to `0..=255` as PIL does on `uint8` images (the
//! paper's pipeline resizes `uint8` RGB); PIL's fixed-point weights can still differ by one grey level.

use ndarray::{Array2, Array3, ArrayView2, Axis};

use crate::error::{Error, Result};

fn cubic(x: f64) -> f64 {
    let a = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * a
    } else {
        0.0
    }
}

/// For each output index, the first input index and the normalised weights (PIL `precompute_coeffs`).
fn coeffs(n_in: usize, n_out: usize) -> Vec<(usize, Vec<f64>)> {
    let scale = n_in as f64 / n_out as f64;
    let fscale = scale.max(1.0);
    let support = 2.0 * fscale;
    (0..n_out)
        .map(|o| {
            let center = (o as f64 + 0.5) * scale;
            let xmin = ((center - support + 0.5).floor().max(0.0)) as usize;
            let xmax = ((center + support + 0.5).floor() as usize).min(n_in);
            let mut w: Vec<f64> = (xmin..xmax)
                .map(|x| cubic((x as f64 - center + 0.5) / fscale))
                .collect();
            let total: f64 = w.iter().sum();
            if total != 0.0 {
                w.iter_mut().for_each(|v| *v /= total);
            }
            (xmin, w)
        })
        .collect()
}

fn quant(v: f64, quantize: bool) -> f64 {
    if quantize {
        v.round().clamp(0.0, 255.0)
    } else {
        v
    }
}

/// Bicubic resize of one plane to `out_h × out_w` (PIL semantics, see the module doc).
pub fn resize_bicubic(
    img: ArrayView2<'_, f32>,
    out_h: usize,
    out_w: usize,
    quantize: bool,
) -> Array2<f32> {
    let (h, w) = img.dim();
    let cw = coeffs(w, out_w);
    let mut tmp = Array2::<f64>::zeros((h, out_w));
    for i in 0..h {
        for (o, (x0, ws)) in cw.iter().enumerate() {
            let s: f64 = ws
                .iter()
                .enumerate()
                .map(|(k, wk)| wk * img[[i, x0 + k]] as f64)
                .sum();
            tmp[[i, o]] = quant(s, quantize);
        }
    }
    let ch = coeffs(h, out_h);
    let mut out = Array2::<f32>::zeros((out_h, out_w));
    for (o, (y0, ws)) in ch.iter().enumerate() {
        for j in 0..out_w {
            let s: f64 = ws
                .iter()
                .enumerate()
                .map(|(k, wk)| wk * tmp[[y0 + k, j]])
                .sum();
            out[[o, j]] = quant(s, quantize) as f32;
        }
    }
    out
}

/// Average-pool by an integer factor (the dedup thumbnails of PAPER.md §2); falls back to a bicubic
/// resize when the size is not a multiple of the target.
pub fn area_downsample(img: ArrayView2<'_, f32>, out_h: usize, out_w: usize) -> Array2<f32> {
    let (h, w) = img.dim();
    if h % out_h != 0 || w % out_w != 0 {
        return resize_bicubic(img, out_h, out_w, false);
    }
    let (fh, fw) = (h / out_h, w / out_w);
    let norm = 1.0 / (fh * fw) as f32;
    Array2::from_shape_fn((out_h, out_w), |(i, j)| {
        img.slice(ndarray::s![i * fh..(i + 1) * fh, j * fw..(j + 1) * fw])
            .sum()
            * norm
    })
}

/// Pad every image of `[n, h, w]` symmetrically with `value` to `[n, out_h, out_w]` (extra pixel of an
/// odd margin goes to the bottom/right).
pub fn pad_to(x: &Array3<f32>, out_h: usize, out_w: usize, value: f32) -> Result<Array3<f32>> {
    let (n, h, w) = x.dim();
    if out_h < h || out_w < w {
        return Err(Error::InvalidConfig {
            field: "pad target",
            value: format!("{out_h}×{out_w} < {h}×{w}"),
            reason: "padding cannot shrink images",
        });
    }
    let (t, l) = ((out_h - h) / 2, (out_w - w) / 2);
    let mut out = Array3::from_elem((n, out_h, out_w), value);
    out.slice_mut(ndarray::s![.., t..t + h, l..l + w]).assign(x);
    Ok(out)
}

/// Resize every image of `[n, h, w]` to `[n, out_h, out_w]` with [`resize_bicubic`] (values not
/// quantised; results clamped to `[0, 1]`).
pub fn resize_all(x: &Array3<f32>, out_h: usize, out_w: usize) -> Array3<f32> {
    use ndarray::parallel::prelude::*;
    let n = x.dim().0;
    let mut out = Array3::<f32>::zeros((n, out_h, out_w));
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(x.axis_iter(Axis(0)).into_par_iter())
        .for_each(|(mut d, s)| {
            d.assign(&resize_bicubic(s, out_h, out_w, false).mapv(|v| v.clamp(0.0, 1.0)))
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_stays_constant_and_halving_averages() {
        let c = Array2::from_elem((8, 6), 0.3f32);
        let r = resize_bicubic(c.view(), 4, 3, false);
        assert!(r.iter().all(|v| (v - 0.3).abs() < 1e-6));
        // A 1-pixel checkerboard halves to its mean away from the borders.
        let cb = Array2::from_shape_fn((16, 16), |(i, j)| ((i + j) % 2) as f32 * 255.0);
        let r = resize_bicubic(cb.view(), 8, 8, true);
        assert!((r[[4, 4]] - 127.5).abs() <= 1.0, "{}", r[[4, 4]]);
        let p = area_downsample(cb.view(), 4, 4);
        assert!(p.iter().all(|v| (v - 127.5).abs() < 1e-3));
    }

    #[test]
    fn pad_centres() {
        let x = Array3::from_elem((1, 2, 2), 1.0f32);
        let p = pad_to(&x, 4, 5, 0.0).expect("larger");
        assert_eq!(p.sum(), 4.0);
        assert_eq!(p[[0, 1, 1]], 1.0);
        assert!(pad_to(&x, 1, 5, 0.0).is_err());
    }
}
