//! The `Denoiser` trait: a noisy batch in, a denoised batch out (paper §1, "universal blind").
//!
//! A denoiser gets no noise level: it must infer σ from the image.
//! Bias-free piecewise-linear networks (paper §1) are exactly linear around any input once their
//! ReLU masks and normalisations are frozen, so they can expose that linearization; the Jacobian
//! analysis (paper §5) then pushes basis vectors through it in batches, forward only.

use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};

/// A denoiser of image batches.
///
/// # Shapes
/// `denoise`: `y` is `[b, c, h, w]`; the result has the same shape, kind and device.
/// `linearized`: `y` is `[1, c, h, w]`, `v` is `[k, c, h, w]`; the result is `[k, c, h, w]`, the
/// Jacobian ∇f(y) applied to each of the `k` directions.
pub trait Denoiser {
    /// Estimates the clean images x̂ = f(y) from noisy images y = x + σz.
    fn denoise(&self, y: &Tensor) -> Result<Tensor>;

    /// Applies the exact Jacobian ∇f(y) to a batch of directions, when the denoiser can do so
    /// forward-only (for example a bias-free ReLU network with its masks fixed at `y`).
    /// Returns `Ok(None)` when it cannot; callers then fall back to automatic differentiation.
    fn linearized(&self, y: &Tensor, v: &Tensor) -> Result<Option<Tensor>> {
        let _ = (y, v);
        Ok(None)
    }

    /// True when f(a·y) = a·f(y) for all a > 0, and so f(y) = ∇f(y)·y (paper §1).
    fn is_bias_free(&self) -> bool {
        false
    }

    /// The device the denoiser computes on; inputs are moved there by callers.
    fn device(&self) -> Device {
        Device::Cpu
    }

    /// A short human-readable name, used in reports.
    fn name(&self) -> String {
        "denoiser".to_string()
    }
}

impl<D: Denoiser + ?Sized> Denoiser for &D {
    fn denoise(&self, y: &Tensor) -> Result<Tensor> {
        (**self).denoise(y)
    }
    fn linearized(&self, y: &Tensor, v: &Tensor) -> Result<Option<Tensor>> {
        (**self).linearized(y, v)
    }
    fn is_bias_free(&self) -> bool {
        (**self).is_bias_free()
    }
    fn device(&self) -> Device {
        (**self).device()
    }
    fn name(&self) -> String {
        (**self).name()
    }
}

impl<D: Denoiser + ?Sized> Denoiser for Box<D> {
    fn denoise(&self, y: &Tensor) -> Result<Tensor> {
        (**self).denoise(y)
    }
    fn linearized(&self, y: &Tensor, v: &Tensor) -> Result<Option<Tensor>> {
        (**self).linearized(y, v)
    }
    fn is_bias_free(&self) -> bool {
        (**self).is_bias_free()
    }
    fn device(&self) -> Device {
        (**self).device()
    }
    fn name(&self) -> String {
        (**self).name()
    }
}

/// Checks that `t` is a float image batch `[b, c, h, w]` and returns its dimensions.
pub fn check_batch(op: &'static str, t: &Tensor) -> Result<(i64, i64, i64, i64)> {
    let size = t.size();
    if size.len() != 4 || size.iter().any(|&s| s <= 0) {
        return Err(Error::ShapeMismatch {
            op,
            expected: "[b, c, h, w] with every dimension > 0".into(),
            got: size,
        });
    }
    if !matches!(
        t.kind(),
        Kind::Float | Kind::Double | Kind::Half | Kind::BFloat16
    ) {
        return Err(Error::InvalidArgument {
            name: "tensor kind",
            reason: format!("{op} needs a floating-point tensor, got {:?}", t.kind()),
        });
    }
    Ok((size[0], size[1], size[2], size[3]))
}
