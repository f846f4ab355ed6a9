//! PSNR curves (paper §3, Fig. 1): output PSNR of a denoiser against input PSNR, at the paper's
//! noise levels σ₂₅₅ = logspace(0.3, 2.4, 15) (input PSNR ≈ 42 → 0 dB in 3 dB steps), with noise
//! drawn from a seeded ChaCha stream so every model sees the same noisy images.

use anyhow::Result;
use gahb_tensor::{psnr_per_image, Denoiser};
use ndarray::Array3;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;
use tch::{Kind, Tensor};

use crate::ctx::to_batch;

/// The paper's 15 noise levels on the [0, 1] scale, largest first.
pub fn paper_sigmas() -> Vec<f64> {
    (0..15)
        .map(|i| 10f64.powf(0.3 + 2.1 * i as f64 / 14.0) / 255.0)
        .rev()
        .collect()
}

/// One point of a PSNR curve.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CurvePoint {
    /// Noise level.
    pub sigma: f64,
    /// Mean input PSNR of the noisy images (dB).
    pub input_psnr: f64,
    /// Mean output PSNR of the denoised images (dB).
    pub output_psnr: f64,
}

/// Gaussian noise `[n, h, w]` of unit variance from a seed.
pub fn noise(dims: (usize, usize, usize), seed: u64) -> Array3<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array3::from_shape_simple_fn(dims, || {
        let z: f64 = StandardNormal.sample(&mut rng);
        z as f32
    })
}

/// Denoises `y` (`[n, 1, h, w]`) in batches of `batch` images.
pub fn denoise_batched(f: &dyn Denoiser, y: &Tensor, batch: i64) -> Result<Tensor> {
    let n = y.size()[0];
    let mut outs = Vec::new();
    let mut start = 0;
    while start < n {
        let len = batch.min(n - start);
        let chunk = y.narrow(0, start, len).to_device(f.device());
        outs.push(f.denoise(&chunk)?.to_device(tch::Device::Cpu));
        start += len;
    }
    Ok(Tensor::cat(&outs, 0))
}

/// The PSNR curve of `f` on `images` at each σ; noise for level `i` comes from `seed + i`.
pub fn psnr_curve(
    f: &dyn Denoiser,
    images: &Array3<f32>,
    sigmas: &[f64],
    seed: u64,
) -> Result<Vec<CurvePoint>> {
    let x = to_batch(images);
    let mut out = Vec::with_capacity(sigmas.len());
    for (i, &sigma) in sigmas.iter().enumerate() {
        anyhow::ensure!(
            sigma > 0.0 && sigma.is_finite(),
            "noise level {sigma} must be > 0"
        );
        let z = to_batch(&noise(images.dim(), seed.wrapping_add(i as u64)));
        let y = &x + z * sigma;
        let xhat = denoise_batched(f, &y, 64)?;
        let inp = psnr_per_image(&x, &y)?.mean(Kind::Double).double_value(&[]);
        let outp = psnr_per_image(&x, &xhat)?
            .mean(Kind::Double)
            .double_value(&[]);
        out.push(CurvePoint {
            sigma,
            input_psnr: inp,
            output_psnr: outp,
        });
    }
    Ok(out)
}

/// Mean of (a − b) output PSNR over the points of two curves on the same σ grid.
pub fn mean_gap(a: &[CurvePoint], b: &[CurvePoint]) -> f64 {
    let n = a.len().min(b.len()).max(1);
    a.iter()
        .zip(b)
        .map(|(p, q)| p.output_psnr - q.output_psnr)
        .sum::<f64>()
        / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use gahb_tensor::IdentityDenoiser;

    #[test]
    fn paper_sigmas_span_42_to_0_db() {
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
            assert!(
                (p.input_psnr - gahb_tensor::input_psnr_db(p.sigma)).abs() < 1.0,
                "{p:?}"
            );
        }
    }
}
