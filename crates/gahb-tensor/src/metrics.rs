//! Image-quality and similarity measures of paper §3.
//!
//! PSNR is computed per image on the [0, 1] scale, 10·log10(1/MSE), and averaged over images
//! (reference code `quality_metrics_func.batch_ave_psnr_torch`).
//! The similarity of two images is the cosine of their mean-subtracted, L2-normalised pixel vectors
//! (reference code `im_set_corr`).

use tch::{Kind, Tensor};

use crate::convert::scalar;
use crate::denoiser::check_batch;
use crate::error::{Error, Result};

/// Per-image mean squared error per pixel of `est` against `clean`, both `[b, c, h, w]`: `[b]` f64.
pub fn mse_per_image(clean: &Tensor, est: &Tensor) -> Result<Tensor> {
    per_image_mse("mse", clean, est)
}

/// Per-image PSNR in dB of `est` against `clean`, both `[b, c, h, w]` on the [0, 1] scale.
/// A perfect estimate gives +∞.
pub fn psnr_per_image(clean: &Tensor, est: &Tensor) -> Result<Tensor> {
    Ok(per_image_mse("psnr", clean, est)?
        .f_log10()?
        .f_mul_scalar(-10.0)?)
}

fn per_image_mse(op: &'static str, clean: &Tensor, est: &Tensor) -> Result<Tensor> {
    let (b, ..) = check_batch(op, clean)?;
    if est.size() != clean.size() {
        return Err(Error::ShapeMismatch {
            op,
            expected: format!("{:?} (the clean batch's shape)", clean.size()),
            got: est.size(),
        });
    }
    let diff =
        (est.f_to_kind(Kind::Double)? - clean.f_to_kind(Kind::Double)?).f_reshape([b, -1])?;
    Ok(diff
        .f_square()?
        .f_mean_dim(Some(&[1i64][..]), false, Kind::Double)?)
}

/// Mean over images of the per-image PSNR, in dB (paper §3).
pub fn psnr_db(clean: &Tensor, est: &Tensor) -> Result<f64> {
    scalar(&psnr_per_image(clean, est)?.f_mean(Kind::Double)?)
}

/// The PSNR of a noisy image y = x + σz, −20·log10 σ, in dB.
pub fn input_psnr_db(sigma: f64) -> f64 {
    -20.0 * sigma.log10()
}

/// The noise level whose input PSNR is `db`.
pub fn sigma_from_psnr_db(db: f64) -> f64 {
    10f64.powf(-db / 20.0)
}

/// Cosine similarity between every image of `a` (`[n, ...]`) and every image of `b` (`[m, ...]`),
/// after subtracting each image's mean and normalising it to unit length: an `[n, m]` tensor.
/// A constant image has no direction; its similarities are 0.
pub fn cosine_similarity_matrix(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let na = normalised_rows(a, "cosine_similarity_matrix (a)")?;
    let nb = normalised_rows(b, "cosine_similarity_matrix (b)")?;
    if na.size()[1] != nb.size()[1] {
        return Err(Error::ShapeMismatch {
            op: "cosine_similarity_matrix",
            expected: format!("images of {} pixels, as in a", na.size()[1]),
            got: b.size(),
        });
    }
    Ok(na.f_matmul(&nb.f_tr()?)?)
}

fn normalised_rows(t: &Tensor, op: &'static str) -> Result<Tensor> {
    let size = t.size();
    if size.len() < 2 || size.iter().any(|&s| s <= 0) {
        return Err(Error::ShapeMismatch {
            op,
            expected: "[n, ...] with at least one pixel per image".into(),
            got: size,
        });
    }
    let flat = t.f_to_kind(Kind::Double)?.f_reshape([size[0], -1])?;
    let centred = &flat - flat.f_mean_dim(Some(&[1i64][..]), true, Kind::Double)?;
    let norm = centred
        .f_norm_scalaropt_dim(2, [1i64], true)?
        .f_clamp_min(1e-12)?;
    Ok(centred.f_div(&norm)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn check(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b} (tolerance {tol})");
    }

    #[test]
    fn psnr_of_known_error() {
        // An error of 0.1 at every pixel has MSE 0.01, so PSNR = 20 dB exactly.
        let x = Tensor::full([3, 1, 4, 4], 0.5, (Kind::Float, Device::Cpu));
        let e = &x + 0.1;
        check(psnr_db(&x, &e).expect("psnr"), 20.0, 1e-5);
        // Per-image averaging: errors 0.1 and 0.01 give 20 and 40 dB, mean 30 dB.
        let x2 = Tensor::zeros([2, 1, 2, 2], (Kind::Float, Device::Cpu));
        let e2 = Tensor::cat(
            &[
                Tensor::full([1, 1, 2, 2], 0.1, (Kind::Float, Device::Cpu)),
                Tensor::full([1, 1, 2, 2], 0.01, (Kind::Float, Device::Cpu)),
            ],
            0,
        );
        check(psnr_db(&x2, &e2).expect("psnr"), 30.0, 1e-4);
        let mse = Vec::<f64>::try_from(mse_per_image(&x2, &e2).expect("mse")).expect("vec");
        check(mse[0], 0.01, 1e-9);
        check(mse[1], 1e-4, 1e-11);
        assert!(mse_per_image(&x2, &e2.reshape([2, 1, 1, 4])).is_err());
    }

    #[test]
    fn input_psnr_matches_noise_level() {
        check(input_psnr_db(0.1), 20.0, 1e-12);
        check(sigma_from_psnr_db(input_psnr_db(0.37)), 0.37, 1e-12);
    }

    #[test]
    fn psnr_rejects_mismatched_shapes() {
        let x = Tensor::zeros([2, 1, 4, 4], (Kind::Float, Device::Cpu));
        let y = Tensor::zeros([2, 1, 4, 5], (Kind::Float, Device::Cpu));
        assert!(psnr_db(&x, &y).is_err());
        assert!(psnr_db(&x.reshape([2, 16]), &y.reshape([2, 20])).is_err());
    }

    #[test]
    fn cosine_is_invariant_to_offset_and_scale() {
        let a = crate::random::normal_like(0, &[4, 1, 5, 5], Kind::Float).expect("draw");
        let b = &a * 3.0 + 7.0;
        let c = cosine_similarity_matrix(&a, &b).expect("cos");
        for i in 0..4 {
            check(c.double_value(&[i, i]), 1.0, 1e-9);
        }
        let neg = cosine_similarity_matrix(&a, &(-&a)).expect("cos");
        check(neg.double_value(&[2, 2]), -1.0, 1e-9);
        // Independent Gaussian images are nearly orthogonal.
        check(c.double_value(&[0, 1]).abs(), 0.0, 0.6);
    }
}
