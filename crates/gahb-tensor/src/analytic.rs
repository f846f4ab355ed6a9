//! Analytic denoisers with exact, known Jacobians, used to test the analysis and sampling code.
//!
//! A linear denoiser f(y) = M·y is bias-free, its Jacobian is M at every y, and f(y) = ∇f(y)·y.

use tch::{Device, Kind, Tensor};

use crate::denoiser::{check_batch, Denoiser};
use crate::error::{Error, Result};

/// f(y) = y: the Jacobian is the identity (every eigenvalue 1).
#[derive(Debug, Default, Clone, Copy)]
pub struct IdentityDenoiser;

impl Denoiser for IdentityDenoiser {
    fn denoise(&self, y: &Tensor) -> Result<Tensor> {
        check_batch("IdentityDenoiser::denoise", y)?;
        Ok(y.shallow_clone())
    }
    fn linearized(&self, _y: &Tensor, v: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(v.shallow_clone()))
    }
    fn is_bias_free(&self) -> bool {
        true
    }
    fn name(&self) -> String {
        "identity".into()
    }
}

/// f(y) = M·y on flattened images of shape `[c, h, w]`, for a `[d, d]` matrix M with d = c·h·w.
#[derive(Debug)]
pub struct LinearDenoiser {
    matrix: Tensor,
    image_shape: [i64; 3],
}

impl LinearDenoiser {
    /// Builds the denoiser; `matrix` must be `[d, d]` with d = c·h·w.
    pub fn new(matrix: &Tensor, image_shape: [i64; 3]) -> Result<Self> {
        let d: i64 = image_shape.iter().product();
        if matrix.size() != [d, d] {
            return Err(Error::ShapeMismatch {
                op: "LinearDenoiser::new",
                expected: format!("[{d}, {d}] for images {image_shape:?}"),
                got: matrix.size(),
            });
        }
        Ok(Self {
            matrix: matrix.f_to_kind(Kind::Float)?,
            image_shape,
        })
    }

    /// The matrix M (the exact Jacobian at every y).
    pub fn matrix(&self) -> &Tensor {
        &self.matrix
    }

    fn apply(&self, y: &Tensor, op: &'static str) -> Result<Tensor> {
        let (b, c, h, w) = check_batch(op, y)?;
        if [c, h, w] != self.image_shape {
            return Err(Error::ShapeMismatch {
                op,
                expected: format!("[b, {}, {}, {}]", c, h, w),
                got: y.size(),
            });
        }
        let flat = y.f_reshape([b, -1])?.f_to_kind(Kind::Float)?;
        let m = self.matrix.f_to_device(y.device())?;
        Ok(flat
            .f_matmul(&m.f_tr()?)?
            .f_reshape([b, c, h, w])?
            .f_to_kind(y.kind())?)
    }
}

impl Denoiser for LinearDenoiser {
    fn denoise(&self, y: &Tensor) -> Result<Tensor> {
        self.apply(y, "LinearDenoiser::denoise")
    }
    fn linearized(&self, _y: &Tensor, v: &Tensor) -> Result<Option<Tensor>> {
        self.apply(v, "LinearDenoiser::linearized").map(Some)
    }
    fn is_bias_free(&self) -> bool {
        true
    }
    fn device(&self) -> Device {
        self.matrix.device()
    }
    fn name(&self) -> String {
        format!("linear {:?}", self.matrix.size())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_denoiser_applies_its_matrix() {
        // A diagonal shrinkage by (1, 0.5, 0.25, 0) on 1×2×2 images.
        let m = Tensor::from_slice(&[1.0f32, 0.5, 0.25, 0.0]).diag(0);
        let f = LinearDenoiser::new(&m, [1, 2, 2]).expect("valid");
        let y = Tensor::from_slice(&[4.0f32, 4.0, 4.0, 4.0]).reshape([1, 1, 2, 2]);
        let out = f.denoise(&y).expect("denoise");
        let v = Vec::<f32>::try_from(out.flatten(0, -1)).expect("vec");
        assert_eq!(v, vec![4.0, 2.0, 1.0, 0.0]);
        assert!(f
            .denoise(&Tensor::zeros([1, 1, 3, 3], (Kind::Float, Device::Cpu)))
            .is_err());
        assert!(LinearDenoiser::new(&m, [1, 3, 3]).is_err());
    }
}
