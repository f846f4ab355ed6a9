//! PSNR curves (paper §3, Fig. 1): output PSNR of a denoiser against input PSNR at the paper's noise
//! levels σ₂₅₅ = logspace(0.3, 2.4, 15) (input PSNR ≈ 0 → 42 dB in 3 dB steps, largest σ first),
//! with noise drawn from a seeded ChaCha stream so every model sees the same noisy images.

use anyhow::Result;
use gahb_denoiser::PsnrRow;
use gahb_tensor::convert::images_to_batch;
use gahb_tensor::Denoiser;
use ndarray::Array3;

pub use gahb_denoiser::paper_sigmas;

/// Gaussian noise `[n, h, w]` of unit variance from a seed: image `i` from stream `i`.
pub fn noise(dims: (usize, usize, usize), seed: u64) -> Array3<f32> {
    let (_, h, w) = dims;
    let mut out = Array3::<f32>::zeros(dims);
    for (i, mut img) in out.outer_iter_mut().enumerate() {
        let mut rng = gahb_tensor::seed::stream(seed, i as u64);
        let mut row = vec![0f32; h * w];
        gahb_tensor::random::fill_standard_normal(&mut rng, &mut row);
        for (v, z) in img.iter_mut().zip(row) {
            *v = z;
        }
    }
    out
}

/// The PSNR curve of `f` on `images` at each σ (gahb-denoiser's evaluation, noise from `seed`).
pub fn psnr_curve(
    f: &dyn Denoiser,
    images: &Array3<f32>,
    sigmas: &[f64],
    seed: u64,
) -> Result<Vec<PsnrRow>> {
    Ok(gahb_denoiser::eval::psnr_curve(
        f,
        &images_to_batch(images),
        sigmas,
        seed,
        64,
    )?)
}

/// Mean of (a − b) output PSNR over the points of two curves on the same σ grid.
pub fn mean_gap(a: &[PsnrRow], b: &[PsnrRow]) -> f64 {
    let n = a.len().min(b.len()).max(1);
    a.iter()
        .zip(b)
        .map(|(p, q)| p.output_psnr - q.output_psnr)
        .sum::<f64>()
        / n as f64
}

/// (input, output) PSNR pairs of a curve, for a plot.
pub fn points(curve: &[PsnrRow]) -> Vec<(f64, f64)> {
    curve
        .iter()
        .map(|p| (p.input_psnr, p.output_psnr))
        .collect()
}

/// The largest input or output PSNR of some curves (the end of an identity line).
pub fn top(curves: &[&[PsnrRow]]) -> f64 {
    curves
        .iter()
        .flat_map(|c| c.iter().map(|p| p.input_psnr.max(p.output_psnr)))
        .fold(0.0, f64::max)
}

/// The slope of output against input PSNR between consecutive points of a curve sorted by input
/// PSNR: (midpoint input PSNR, slope) per pair. A fitted slope averages these; reading them shows
/// where a curve saturates (slope → 0) or turns to identity (slope → 1).
pub fn local_slopes(curve: &[PsnrRow]) -> Vec<(f64, f64)> {
    let mut pts = points(curve);
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    pts.windows(2)
        .filter(|w| w[1].0 > w[0].0)
        .map(|w| {
            (
                0.5 * (w[0].0 + w[1].0),
                (w[1].1 - w[0].1) / (w[1].0 - w[0].0),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gahb_tensor::IdentityDenoiser;

    #[test]
    fn local_slopes_of_a_broken_line() {
        // Slope 0.5 up to 10 dB, then flat; given out of order.
        let pt = |x: f64| PsnrRow {
            sigma: 0.0,
            nominal_psnr: x,
            input_psnr: x,
            output_psnr: if x <= 10.0 { 5.0 + 0.5 * x } else { 10.0 },
            output_mse: 0.0,
        };
        let curve: Vec<PsnrRow> = [15.0, 0.0, 5.0, 10.0].into_iter().map(pt).collect();
        let s = local_slopes(&curve);
        assert_eq!(s.len(), 3);
        for ((mid, slope), (want_mid, want)) in s.iter().zip([(2.5, 0.5), (7.5, 0.5), (12.5, 0.0)])
        {
            assert!(
                (mid - want_mid).abs() < 1e-12 && (slope - want).abs() < 1e-12,
                "{s:?}"
            );
        }
    }

    #[test]
    fn paper_sigmas_span_0_to_42_db_largest_sigma_first() {
        let s = paper_sigmas();
        assert_eq!(s.len(), 15);
        let db: Vec<f64> = s.iter().map(|&x| gahb_tensor::input_psnr_db(x)).collect();
        assert!((db[0] - 0.12).abs() < 0.1, "{db:?}");
        assert!((db[14] - 42.1).abs() < 0.1, "{db:?}");
        assert!(db.windows(2).all(|w| (w[1] - w[0] - 3.0).abs() < 0.01));
    }

    #[test]
    fn identity_denoiser_output_equals_input_psnr() {
        let images = Array3::from_elem((4, 8, 8), 0.5f32);
        let curve = psnr_curve(&IdentityDenoiser, &images, &[0.1, 0.01], 3).expect("curve");
        for p in &curve {
            assert!((p.input_psnr - p.output_psnr).abs() < 1e-9);
            // Sample variance of 256 normals: PSNR within about 1 dB of −20·log10 σ.
            assert!((p.input_psnr - p.nominal_psnr).abs() < 1.0, "{p:?}");
        }
    }
}
