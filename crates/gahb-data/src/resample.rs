//! Resampling, cropping and padding (PAPER.md §2 CelebA preprocessing; DATASETS.md §3 folders).
//!
//! [`resize_bicubic`] reproduces PIL's `Image.resize(..., BICUBIC)`: a separable cubic convolution with
//! `a = −0.5`, whose support is stretched by the downsampling factor (so it low-passes when shrinking),
//! horizontal pass first, weights normalised per output pixel, sample centres at `(i + 0.5)·scale`.
//! With `quantize = true` each pass rounds and clamps to `0..=255` as PIL does on `uint8` images (the
//! paper's pipeline resizes `uint8` RGB); PIL's fixed-point weights can still differ by one grey level.
//!
//! Outputs are bounded: [`resize_all`], [`pad_to`] and [`resize_bicubic_checked`] refuse a zero side
//! or more than [`MAX_OUTPUT_PIXELS`] pixels before allocating.

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

/// The largest output, in pixels (`n · h · w`), that [`resize_all`], [`pad_to`],
/// [`resize_bicubic_checked`] and [`read_folder`](crate::read_folder) agree to allocate: 2^31 pixels,
/// 8 GiB of `f32`. A larger request is an [`Error::OutputTooLarge`] saying how many bytes it needs.
pub const MAX_OUTPUT_PIXELS: usize = 1 << 31;

/// Check an output `[n, h, w]` of `op`: both sides at least 1 and `n · h · w ≤`
/// [`MAX_OUTPUT_PIXELS`].
pub(crate) fn check_output(op: &'static str, n: usize, h: usize, w: usize) -> Result<()> {
    for (side, field) in [(h, "height"), (w, "width")] {
        if side == 0 {
            return Err(Error::ZeroDimension {
                path: op.into(),
                field: format!("target {field}"),
                shape: format!("{h}×{w}"),
            });
        }
    }
    let pixels = (n as u128)
        .saturating_mul(h as u128)
        .saturating_mul(w as u128);
    if pixels > MAX_OUTPUT_PIXELS as u128 {
        return Err(Error::OutputTooLarge {
            op,
            n,
            height: h,
            width: w,
            bytes: pixels.saturating_mul(4),
            cap_bytes: 4 * MAX_OUTPUT_PIXELS as u128,
        });
    }
    Ok(())
}

/// Bicubic resize of one plane to `out_h × out_w` (PIL semantics, see the module doc).
///
/// Sizes are not checked: an empty input or target gives an empty or zero output, and the output is
/// allocated whatever its size. Use [`resize_bicubic_checked`] for sizes that come from a user.
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

/// [`resize_bicubic`] after checking that the input and the target have no zero side and that the
/// output and its intermediate stay within [`MAX_OUTPUT_PIXELS`].
pub fn resize_bicubic_checked(
    img: ArrayView2<'_, f32>,
    out_h: usize,
    out_w: usize,
    quantize: bool,
) -> Result<Array2<f32>> {
    check_input("resize_bicubic", 1, img.dim())?;
    check_output("resize_bicubic", 1, out_h, out_w)?;
    check_output("resize_bicubic", 1, img.dim().0, out_w)?;
    Ok(resize_bicubic(img, out_h, out_w, quantize))
}

/// An input `[n, h, w]` of `op` must have no zero side.
fn check_input(op: &'static str, n: usize, (h, w): (usize, usize)) -> Result<()> {
    if n == 0 || h == 0 || w == 0 {
        return Err(Error::ZeroDimension {
            path: op.into(),
            field: "an input dimension".into(),
            shape: format!("{n}×{h}×{w}"),
        });
    }
    Ok(())
}

/// Average-pool by an integer factor (the dedup thumbnails of PAPER.md §2); falls back to a bicubic
/// resize when the size is not a multiple of the target.
///
/// A zero target side gives an empty output.
pub fn area_downsample(img: ArrayView2<'_, f32>, out_h: usize, out_w: usize) -> Array2<f32> {
    let (h, w) = img.dim();
    if out_h == 0 || out_w == 0 || h == 0 || w == 0 {
        return Array2::zeros((out_h, out_w));
    }
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
///
/// A target smaller than the images, with a zero side, or above [`MAX_OUTPUT_PIXELS`] is an error.
pub fn pad_to(x: &Array3<f32>, out_h: usize, out_w: usize, value: f32) -> Result<Array3<f32>> {
    let (n, h, w) = x.dim();
    check_output("pad_to", n, out_h, out_w)?;
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
///
/// An input or target with a zero side, or an output above [`MAX_OUTPUT_PIXELS`], is an error.
pub fn resize_all(x: &Array3<f32>, out_h: usize, out_w: usize) -> Result<Array3<f32>> {
    use ndarray::parallel::prelude::*;
    let (n, h, w) = x.dim();
    check_input("resize_all", n, (h, w))?;
    check_output("resize_all", n, out_h, out_w)?;
    check_output("resize_all", 1, h, out_w)?;
    let mut out = Array3::<f32>::zeros((n, out_h, out_w));
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(x.axis_iter(Axis(0)).into_par_iter())
        .for_each(|(mut d, s)| {
            d.assign(&resize_bicubic(s, out_h, out_w, false).mapv(|v| v.clamp(0.0, 1.0)))
        });
    Ok(out)
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
        assert!(pad_to(&x, 0, 5, 0.0).is_err());
        let e = pad_to(&x, 1 << 16, 1 << 16, 0.0)
            .expect_err("too large")
            .to_string();
        assert!(e.contains("17179869184 bytes"), "{e}");
    }

    #[test]
    fn sizes_are_checked_before_allocating() {
        let x = Array3::from_elem((2, 4, 4), 0.5f32);
        assert_eq!(resize_all(&x, 2, 3).expect("small").dim(), (2, 2, 3));
        assert!(resize_all(&x, 0, 3).is_err());
        let e = resize_all(&x, 1 << 20, 1 << 20)
            .expect_err("huge")
            .to_string();
        assert!(e.contains("resize_all") && e.contains("n·h·w·4"), "{e}");
        let empty = Array2::<f32>::zeros((0, 3));
        assert!(resize_bicubic_checked(empty.view(), 2, 2, false).is_err());
        assert_eq!(
            area_downsample(x.index_axis(Axis(0), 0), 0, 2).dim(),
            (0, 2)
        );
    }
}
