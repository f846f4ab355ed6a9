//! Scale space: the Gaussian family p_σ = g_σ * p, and the score from a denoiser (PAPER.md §2, §10).
//!
//! * Forward noising of a batch, y = x + σz with z ~ N(0, I) from this crate's seeded per-image
//!   streams (PAPER.md §2, the training objective).
//! * Gaussian blurring of an image at scale t = σ² (separable, for the classical scale-space
//!   picture of the image itself).
//! * The Tweedie/Miyasawa score, ∇log p_σ(y) = (f(y) − y)/σ² (PAPER.md §10), for any
//!   [`gahb_tensor::Denoiser`] whose output approximates E[x | y].

use gahb_tensor::{check_batch, Denoiser};
use tch::{Kind, Tensor};

use crate::error::{Error, Result};
use crate::noise::standard_normal;

/// A noisy batch y = x + σz and the noise z that made it.
#[derive(Debug)]
pub struct Noised {
    /// y = x + σz, `[b, c, h, w]`, the kind and device of x.
    pub noisy: Tensor,
    /// z ~ N(0, I), `[b, c, h, w]`.
    pub noise: Tensor,
}

/// Adds Gaussian noise to a batch: y_i = x_i + σ_i z_i (PAPER.md §2).
///
/// `sigmas` holds one σ for every image, or a single σ for all of them; each must be ≥ 0 and finite.
/// Image `i` draws z from stream `i` of `seed` (see [`crate::noise`]), so the same seed gives the
/// same noise on every device and for every batch.
///
/// # Shapes
/// `x`: `[b, c, h, w]`; both outputs: `[b, c, h, w]`.
pub fn add_noise(x: &Tensor, sigmas: &[f64], seed: u64) -> Result<Noised> {
    let (b, c, h, w) = check_batch("add_noise", x)?;
    if sigmas.len() != 1 && sigmas.len() as i64 != b {
        return Err(Error::InvalidArgument {
            name: "sigmas",
            reason: format!("need 1 or {b} noise levels, got {}", sigmas.len()),
        });
    }
    if let Some(s) = sigmas.iter().find(|s| !s.is_finite() || **s < 0.0) {
        return Err(Error::InvalidArgument {
            name: "sigmas",
            reason: format!("every σ must be finite and ≥ 0, got {s}"),
        });
    }
    let z = standard_normal(seed, 0, b as usize, &[c, h, w], x.device())?.f_to_kind(x.kind())?;
    let s = Tensor::from_slice(sigmas)
        .f_to_kind(x.kind())?
        .f_to_device(x.device())?
        .f_reshape([-1, 1, 1, 1])?;
    let noisy = x.f_add(&z.f_mul(&s)?)?;
    Ok(Noised { noisy, noise: z })
}

/// Blurs every channel of a batch with a Gaussian of variance `t` pixels² (scale t = σ²).
///
/// The kernel is sampled at integer offsets up to ⌈4√t⌉, normalised to sum 1 and applied
/// separably (rows, then columns) with reflecting borders (replicating ones when the image is too
/// small to reflect). `t = 0` returns a copy.
///
/// # Shapes
/// `x`: `[b, c, h, w]`; the result has the same shape, kind and device.
pub fn gaussian_blur(x: &Tensor, t: f64) -> Result<Tensor> {
    let (_, c, h, w) = check_batch("gaussian_blur", x)?;
    if !t.is_finite() || t < 0.0 {
        return Err(Error::InvalidArgument {
            name: "scale t",
            reason: format!("t = σ² must be finite and ≥ 0, got {t}"),
        });
    }
    if t == 0.0 {
        return Ok(x.f_detach_copy()?);
    }
    let radius = (4.0 * t.sqrt()).ceil() as i64;
    let taps: Vec<f64> = (-radius..=radius)
        .map(|k| (-(k * k) as f64 / (2.0 * t)).exp())
        .collect();
    let total: f64 = taps.iter().sum();
    let kernel = Tensor::from_slice(&taps.iter().map(|v| v / total).collect::<Vec<_>>())
        .f_to_kind(x.kind())?
        .f_to_device(x.device())?;
    let len = 2 * radius + 1;
    // [c, 1, 1, len] and [c, 1, len, 1]: one depthwise filter per channel.
    let kx = kernel.f_reshape([1, 1, 1, len])?.f_repeat([c, 1, 1, 1])?;
    let ky = kernel.f_reshape([1, 1, len, 1])?.f_repeat([c, 1, 1, 1])?;
    let mode = if radius < h && radius < w {
        "reflect"
    } else {
        "replicate"
    };
    let padded = x.f_pad([radius, radius, radius, radius], mode, None)?;
    let rows = padded.f_conv2d(&kx, None::<Tensor>, [1, 1], [0, 0], [1, 1], c)?;
    Ok(rows.f_conv2d(&ky, None::<Tensor>, [1, 1], [0, 0], [1, 1], c)?)
}

/// The score (f(y) − y)/σ² from an already computed denoised batch (Tweedie/Miyasawa, PAPER.md §10).
pub fn score_from_denoised(y: &Tensor, denoised: &Tensor, sigma: f64) -> Result<Tensor> {
    check_sigma(sigma)?;
    if y.size() != denoised.size() {
        return Err(Error::ShapeMismatch {
            op: "score_from_denoised",
            expected: format!("{:?} (the noisy batch's shape)", y.size()),
            got: denoised.size(),
        });
    }
    Ok(denoised.f_sub(y)?.f_div_scalar(sigma * sigma)?)
}

/// The score ∇log p_σ(y) = (f(y) − y)/σ² of the noisy density, from a denoiser f that estimates
/// E[x | y] (Tweedie/Miyasawa, PAPER.md §10).
/// The denoiser is blind; `sigma` is the noise level of `y` and only scales the result.
///
/// # Shapes
/// `y`: `[b, c, h, w]`; the result has the same shape.
pub fn tweedie_score<D: Denoiser + ?Sized>(denoiser: &D, y: &Tensor, sigma: f64) -> Result<Tensor> {
    check_batch("tweedie_score", y)?;
    check_sigma(sigma)?;
    let _guard = tch::no_grad_guard();
    let fy = denoiser.denoise(y)?;
    if fy.size() != y.size() {
        return Err(Error::DenoiserOutput {
            denoiser: denoiser.name(),
            expected: y.size(),
            got: fy.size(),
        });
    }
    score_from_denoised(y, &fy.f_to_kind(y.kind())?, sigma)
}

/// The per-image effective noise level ‖r‖/√d of a residual batch r = y − f(y) (PAPER.md §4),
/// as f64 on the CPU.
pub fn residual_sigma(residual: &Tensor) -> Result<Vec<f64>> {
    let (b, c, h, w) = check_batch("residual_sigma", residual)?;
    let d = (c * h * w) as f64;
    let norms = residual
        .f_reshape([b, -1])?
        .f_to_kind(Kind::Double)?
        .f_norm_scalaropt_dim(2, [1i64], false)?
        .f_div_scalar(d.sqrt())?;
    Ok(Vec::<f64>::try_from(norms.f_to_device(tch::Device::Cpu)?)?)
}

fn check_sigma(sigma: f64) -> Result<()> {
    if !sigma.is_finite() || sigma <= 0.0 {
        return Err(Error::InvalidArgument {
            name: "sigma",
            reason: format!("the noise level must be finite and > 0, got {sigma}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gahb_tensor::IdentityDenoiser;
    use tch::Device;

    fn check(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b} (tolerance {tol})");
    }

    #[test]
    fn noise_is_seeded_and_scaled_per_image() {
        let x = Tensor::full([2, 1, 32, 32], 0.5, (Kind::Float, Device::Cpu));
        let a = add_noise(&x, &[0.1, 0.3], 5).expect("noise");
        let b = add_noise(&x, &[0.1, 0.3], 5).expect("noise");
        assert!(a.noisy.equal(&b.noisy));
        let c = add_noise(&x, &[0.1, 0.3], 6).expect("noise");
        assert!(!a.noisy.equal(&c.noisy));
        let resid = (&a.noisy - &x).reshape([2, -1]);
        check(resid.get(0).std(true).double_value(&[]), 0.1, 0.01);
        check(resid.get(1).std(true).double_value(&[]), 0.3, 0.03);
        // y − x is exactly σ·z.
        let expect = a.noise.get(1) * 0.3;
        check(
            (&resid.get(1) - expect.reshape([-1]))
                .abs()
                .max()
                .double_value(&[]),
            0.0,
            1e-6,
        );
        assert!(add_noise(&x, &[0.1, 0.2, 0.3], 5).is_err());
        assert!(add_noise(&x, &[-0.1], 5).is_err());
    }

    #[test]
    fn blur_of_an_impulse_has_variance_t() {
        let t = 4.0;
        let x = Tensor::zeros([1, 1, 41, 41], (Kind::Double, Device::Cpu));
        let _ = x.get(0).get(0).get(20).get(20).fill_(1.0);
        let g = gaussian_blur(&x, t).expect("blur");
        check(g.sum(Kind::Double).double_value(&[]), 1.0, 1e-9);
        let row = g.sum_dim_intlist([0i64, 1, 2].as_slice(), false, Kind::Double);
        let var: f64 = (0..41)
            .map(|k| ((k - 20) as f64).powi(2) * row.double_value(&[k]))
            .sum();
        // Sampling a Gaussian at integer offsets and truncating at 4σ changes its variance by < 0.1%.
        check(var, t, 0.01);
        // A constant image is unchanged, even when the kernel is wider than the image.
        let flat = Tensor::full([2, 3, 5, 6], 0.7, (Kind::Float, Device::Cpu));
        for t in [0.0, 1.0, 9.0] {
            let b = gaussian_blur(&flat, t).expect("blur");
            assert_eq!(b.size(), flat.size());
            check((&b - &flat).abs().max().double_value(&[]), 0.0, 1e-6);
        }
        assert!(gaussian_blur(&flat, -1.0).is_err());
    }

    #[test]
    fn identity_denoiser_has_zero_score() {
        let y = Tensor::randn([2, 1, 4, 4], (Kind::Float, Device::Cpu));
        let s = tweedie_score(&IdentityDenoiser, &y, 0.5).expect("score");
        check(s.abs().max().double_value(&[]), 0.0, 0.0);
        assert!(tweedie_score(&IdentityDenoiser, &y, 0.0).is_err());
        let r = Tensor::full([2, 1, 2, 2], 0.5, (Kind::Float, Device::Cpu));
        assert_eq!(residual_sigma(&r).expect("sigma"), vec![0.5, 0.5]);
    }
}
