//! What the UNet and the BF-CNN share: the residual interface, the [`gahb_tensor::Denoiser`] glue
//! (x̂ = y − net(y), paper §1) and the exact forward-only linearization of paper §5.

use tch::{Device, Kind, Tensor};

use gahb_tensor::check_batch;

use crate::error::{Error, Result};
use crate::layers::Mode;

/// A bias-free network that predicts the noise (the residual) of a noisy batch.
pub trait ResidualNet {
    /// The predicted noise r(y) in the given mode; the denoised image is y − r(y).
    ///
    /// # Shapes
    /// `[b, c, h, w]` → `[b, c, h, w]`.
    fn residual(&self, y: &Tensor, mode: Mode) -> Result<Tensor>;

    /// The device of the network's variables.
    fn net_device(&self) -> Device;

    /// The number of image channels the network takes.
    fn image_channels(&self) -> i64;

    /// The factor image height and width must be divisible by (2^blocks for a UNet).
    fn size_multiple(&self) -> i64 {
        1
    }

    /// A short name for reports.
    fn label(&self) -> String;
}

/// Checks that `y` is a float batch `[b, c, h, w]` that `net` can take.
pub fn check_input(
    net: &dyn ResidualNet,
    op: &'static str,
    y: &Tensor,
) -> Result<(i64, i64, i64, i64)> {
    let (b, c, h, w) = check_batch(op, y)?;
    let m = net.size_multiple();
    if c != net.image_channels() || h % m != 0 || w % m != 0 {
        return Err(Error::ShapeMismatch {
            op,
            expected: format!(
                "[b, {}, h, w] with h and w divisible by {m}",
                net.image_channels()
            ),
            got: y.size(),
        });
    }
    Ok((b, c, h, w))
}

/// x̂ = y − r(y) in eval mode. Without autograd, unless `y` requires a gradient: then the result
/// carries the graph back to `y`, so that reverse-mode Jacobian products (Jᵀu, the `backward`
/// Jacobian route, Lanczos on the symmetric part) work on trained networks.
pub fn denoise_eval(net: &dyn ResidualNet, y: &Tensor) -> Result<Tensor> {
    check_input(net, "denoise", y)?;
    let run = || -> Result<Tensor> {
        let y = y.f_to_device(net.net_device())?;
        let r = net.residual(&y, Mode::Eval)?;
        Ok(y.f_sub(&r)?)
    };
    if y.requires_grad() {
        run()
    } else {
        tch::no_grad(run)
    }
}

/// The exact Jacobian ∇f(y) = I − J_r(y) applied to the `k` directions `v`, forward only.
///
/// One batch `[1 + k, c, h, w]` = (y, v₁…v_k) runs through the network in [`Mode::Linearized`]:
/// every layer is linear in eval mode except the ReLUs, whose masks are taken from row 0 (y).
/// Rows 1.. of the output are then J_r(y)·v exactly (paper §5, "cheaper route").
///
/// # Shapes
/// `y`: `[1, c, h, w]`, `v`: `[k, c, h, w]` → `[k, c, h, w]`.
pub fn linearized_jvp(net: &dyn ResidualNet, y: &Tensor, v: &Tensor) -> Result<Tensor> {
    let (b, c, h, w) = check_input(net, "linearized (y)", y)?;
    let (k, cv, hv, wv) = check_batch("linearized (v)", v)?;
    if b != 1 || (cv, hv, wv) != (c, h, w) {
        return Err(Error::ShapeMismatch {
            op: "linearized",
            expected: format!("y [1, {c}, {h}, {w}] and v [k, {c}, {h}, {w}]"),
            got: v.size(),
        });
    }
    tch::no_grad(|| {
        let dev = net.net_device();
        let y = y.f_to_device(dev)?.f_to_kind(Kind::Float)?;
        let v = v.f_to_device(dev)?.f_to_kind(Kind::Float)?;
        let x = Tensor::f_cat(&[&y, &v], 0)?; // [1 + k, c, h, w]
        let r = net.residual(&x, Mode::Linearized)?;
        let jr_v = r.f_narrow(0, 1, k)?; // [k, c, h, w]
        Ok(v.f_sub(&jr_v)?)
    })
}

impl From<Error> for gahb_tensor::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Tch(e) => gahb_tensor::Error::Tch(e),
            Error::Tensor(e) => e,
            Error::ShapeMismatch { op, expected, got } => {
                gahb_tensor::Error::ShapeMismatch { op, expected, got }
            }
            other => gahb_tensor::Error::InvalidArgument {
                name: "denoiser",
                reason: other.to_string(),
            },
        }
    }
}

/// Implements [`gahb_tensor::Denoiser`] for a type that implements [`ResidualNet`].
macro_rules! impl_denoiser {
    ($t:ty) => {
        impl gahb_tensor::Denoiser for $t {
            fn denoise(&self, y: &tch::Tensor) -> gahb_tensor::Result<tch::Tensor> {
                Ok($crate::net::denoise_eval(self, y)?)
            }
            fn linearized(
                &self,
                y: &tch::Tensor,
                v: &tch::Tensor,
            ) -> gahb_tensor::Result<Option<tch::Tensor>> {
                Ok(Some($crate::net::linearized_jvp(self, y, v)?))
            }
            fn is_bias_free(&self) -> bool {
                true
            }
            fn device(&self) -> tch::Device {
                $crate::net::ResidualNet::net_device(self)
            }
            fn name(&self) -> String {
                $crate::net::ResidualNet::label(self)
            }
        }
    };
}
pub(crate) use impl_denoiser;

/// The image channels a config gets when it does not say (1: grayscale, as in the paper).
pub(crate) fn default_image_channels() -> i64 {
    1
}

/// The convolution kernel size a config gets when it does not say (3, as in the paper).
pub(crate) fn default_kernel_size() -> i64 {
    3
}
