//! Generalization curves of paper §3 (Fig. 1): output PSNR against input PSNR at the paper's noise
//! levels, σ·255 = logspace(0.3, 2.4, 15), i.e. input PSNR ≈ 0.1, 3.1, ..., 42.1 dB in 3 dB steps
//! (largest σ first, the order of every curve and table in the reports).
//!
//! PSNR is per image on the [0, 1] scale and averaged over images (`gahb_tensor::metrics`); the
//! denoised output is not clipped. The noise is fixed by a seed: one standard normal draw z per image
//! (on the CPU, so every device sees the same noise), scaled by each σ.

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use gahb_tensor::{check_batch, input_psnr_db, mse_per_image, Denoiser};

use crate::error::{invalid, Result};

/// One point of a PSNR curve.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PsnrRow {
    /// Noise standard deviation on the [0, 1] scale.
    pub sigma: f64,
    /// Nominal input PSNR, −20·log10 σ (dB).
    pub nominal_psnr: f64,
    /// Measured mean PSNR of the noisy images (dB), close to `nominal_psnr`: the x axis of Fig. 1.
    pub input_psnr: f64,
    /// Mean PSNR of the denoised images (dB).
    pub output_psnr: f64,
    /// Mean over images of the denoised images' MSE per pixel: the quantity to set against an
    /// expected optimal MSE (a mean of per-image PSNRs is not −10·log10 of a mean MSE).
    #[serde(default)]
    pub output_mse: f64,
}

/// The paper's 15 noise levels on the [0, 1] scale, logspace(0.3, 2.4, 15) / 255, largest first.
pub fn paper_sigmas() -> Vec<f64> {
    (0..15)
        .rev()
        .map(|i| 10f64.powf(0.3 + 2.1 * i as f64 / 14.0) / 255.0)
        .collect()
}

/// Output-vs-input PSNR of `denoiser` on `images` (`[n, c, h, w]` in [0, 1]) at each σ, with the
/// noise fixed by `seed`, in batches of `batch_size` images.
pub fn psnr_curve<D: Denoiser + ?Sized>(
    denoiser: &D,
    images: &Tensor,
    sigmas: &[f64],
    seed: u64,
    batch_size: usize,
) -> Result<Vec<PsnrRow>> {
    let (n, ..) = check_batch("psnr_curve", images)?;
    if batch_size == 0 {
        return Err(invalid("batch_size", "must be at least 1, got 0"));
    }
    if let Some(s) = sigmas.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(invalid(
            "sigmas",
            format!("every σ must be finite and > 0, got {s}"),
        ));
    }
    let clean = images.f_to_device(Device::Cpu)?.f_to_kind(Kind::Float)?;
    // Image i's noise is stream i of `seed`, whatever else runs in this process.
    let z =
        gahb_tensor::random::standard_normal(seed, 0, n as usize, &clean.size()[1..], Device::Cpu)?;
    let dev = denoiser.device();
    let mut rows = Vec::with_capacity(sigmas.len());
    for &sigma in sigmas {
        let (mut noisy_sum, mut out_sum, mut mse_sum) = (0.0, 0.0, 0.0);
        let mut start = 0;
        while start < n {
            let len = (batch_size as i64).min(n - start);
            let x = clean.f_narrow(0, start, len)?;
            let y = x.f_add(&z.f_narrow(0, start, len)?.f_mul_scalar(sigma)?)?;
            let f = denoiser
                .denoise(&y.f_to_device(dev)?)?
                .f_to_device(Device::Cpu)?;
            let psnr_sum = |mse: &Tensor| -> Result<f64> {
                Ok(mse
                    .f_log10()?
                    .f_mul_scalar(-10.0)?
                    .f_sum(Kind::Double)?
                    .f_double_value(&[])?)
            };
            let out_mse = mse_per_image(&x, &f)?;
            noisy_sum += psnr_sum(&mse_per_image(&x, &y)?)?;
            out_sum += psnr_sum(&out_mse)?;
            mse_sum += out_mse.f_sum(Kind::Double)?.f_double_value(&[])?;
            start += len;
        }
        rows.push(PsnrRow {
            sigma,
            nominal_psnr: input_psnr_db(sigma),
            input_psnr: noisy_sum / n as f64,
            output_psnr: out_sum / n as f64,
            output_mse: mse_sum / n as f64,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gahb_tensor::IdentityDenoiser;

    #[test]
    fn paper_sigmas_span_42_to_0_db_in_3_db_steps() {
        let s = paper_sigmas();
        assert_eq!(s.len(), 15);
        let db: Vec<f64> = s.iter().map(|&x| input_psnr_db(x)).collect();
        assert!((db[0] - 0.13).abs() < 0.01, "{}", db[0]);
        assert!((db[14] - 42.13).abs() < 0.01, "{}", db[14]);
        for w in db.windows(2) {
            assert!((w[1] - w[0] - 3.0).abs() < 0.01);
        }
    }

    #[test]
    fn identity_denoiser_gives_the_identity_line() {
        let x = gahb_tensor::random::uniform_like(0, &[5, 1, 8, 8], Kind::Float).expect("draw");
        let sig = [0.5, 0.05];
        let rows = psnr_curve(&IdentityDenoiser, &x, &sig, 3, 2).expect("curve");
        for r in &rows {
            assert_eq!(r.input_psnr, r.output_psnr);
            // The identity's MSE is σ² times the mean square of the noise: close to σ².
            assert!(
                (r.output_mse / (r.sigma * r.sigma) - 1.0).abs() < 0.3,
                "{r:?}"
            );
            assert!((r.input_psnr - r.nominal_psnr).abs() < 1.5, "{r:?}");
        }
        // Fixed seed: the same rows again, exactly with the same batch size and to rounding with
        // another (the per-batch sums are added in another order).
        assert_eq!(
            psnr_curve(&IdentityDenoiser, &x, &sig, 3, 2).expect("curve"),
            rows
        );
        let other = psnr_curve(&IdentityDenoiser, &x, &sig, 3, 5).expect("curve");
        for (a, b) in other.iter().zip(&rows) {
            assert!(
                (a.output_psnr - b.output_psnr).abs() < 1e-9,
                "{a:?} vs {b:?}"
            );
        }
        assert_ne!(
            psnr_curve(&IdentityDenoiser, &x, &sig, 4, 2).expect("curve")[0].input_psnr,
            rows[0].input_psnr
        );
        assert!(psnr_curve(&IdentityDenoiser, &x, &[0.0], 3, 2).is_err());
    }
}
