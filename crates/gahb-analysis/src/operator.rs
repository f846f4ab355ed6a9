//! Matrix-free linear operators for the spectrum and trace estimators (PAPER.md §5: the Jacobian
//! ∇f(y), its symmetric part, its eigenpairs λ_k, e_k and its trace, the effective dimension of
//! Eq. 10, without forming the d×d matrix).
//!
//! A [`LinearOperator`] applies a d×d matrix A to a block of directions `[d, b]` (f64) and says how
//! many single-vector products one column costs: 1 for an explicit matrix or J·v, 2 for the
//! symmetric part (J·v + Jᵀ·v)/2 of a denoiser's Jacobian. [`apply_counted`] is the one place that
//! calls an operator: it checks the output's shape and finiteness and counts the products, so every
//! estimator reports the same numbers and names the product that went wrong.
//!
//! Operators here: [`MatrixOperator`] (an explicit matrix), [`DenoiserOperator`] (a denoiser's
//! Jacobian or its symmetric part at one image, through [`crate::jvp`] and [`crate::vjp`]) and
//! [`FnOperator`] (any closure).

use gahb_tensor::Denoiser;
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};
use crate::jacobian::{check_square, jvp, single_image, vjp};
use crate::lanczos::LanczosOperator;

/// A linear map of `[d, b]` blocks of directions.
///
/// # Shapes
/// `apply`: `v` is `[d, b]`, f64, on [`LinearOperator::device`]; the result is `[d, b]` (any float
/// kind; callers convert to f64).
pub trait LinearOperator {
    /// The dimension d.
    fn dim(&self) -> usize;

    /// A·v for a block of directions, one column each.
    fn apply(&mut self, v: &Tensor) -> Result<Tensor>;

    /// Single-vector products one column costs (J·v and Jᵀ·v count once each).
    fn products_per_column(&self) -> usize {
        1
    }

    /// Where the directions live.
    fn device(&self) -> Device {
        Device::Cpu
    }

    /// A short name for reports and errors.
    fn name(&self) -> String {
        "operator".into()
    }
}

impl<T: LinearOperator + ?Sized> LinearOperator for &mut T {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn apply(&mut self, v: &Tensor) -> Result<Tensor> {
        (**self).apply(v)
    }
    fn products_per_column(&self) -> usize {
        (**self).products_per_column()
    }
    fn device(&self) -> Device {
        (**self).device()
    }
    fn name(&self) -> String {
        (**self).name()
    }
}

/// Applies `op` to `v` (`[d, b]` f64), checks the result (shape `[d, b]`, finite), converts it to a
/// contiguous f64 tensor and adds the products spent to `*n_products`.
///
/// A non-finite output is [`Error::NonFiniteProduct`], naming the operator and the products
/// (numbered from 0 in the order they were spent) that produced it.
pub fn apply_counted(
    op: &mut dyn LinearOperator,
    v: &Tensor,
    n_products: &mut usize,
    caller: &'static str,
) -> Result<Tensor> {
    let d = op.dim() as i64;
    let b = match v.size()[..] {
        [rows, b] if rows == d => b,
        _ => {
            return Err(Error::ShapeMismatch {
                op: caller,
                expected: format!("directions [{d}, b] for operator `{}`", op.name()),
                got: v.size(),
            })
        }
    };
    let w = op.apply(v)?;
    if w.size() != [d, b] {
        return Err(Error::ShapeMismatch {
            op: caller,
            expected: format!("operator `{}` to return [{d}, {b}]", op.name()),
            got: w.size(),
        });
    }
    let first = *n_products;
    *n_products += b as usize * op.products_per_column();
    let w = w.f_to_kind(Kind::Double)?.f_contiguous()?;
    if !bool::try_from(w.f_isfinite()?.f_all()?)? {
        return Err(Error::NonFiniteProduct {
            op: caller,
            operator: op.name(),
            first,
            end: *n_products,
        });
    }
    Ok(w)
}

/// An explicit square matrix as an operator (f64, on the matrix's device).
#[derive(Debug)]
pub struct MatrixOperator {
    a: Tensor,
    name: String,
}

impl MatrixOperator {
    /// A·v with `a` as given (`[d, d]`, finite). The spectrum routines assume A symmetric; use
    /// [`MatrixOperator::symmetric_part`] for a general matrix.
    pub fn new(a: &Tensor) -> Result<Self> {
        let d = check_square(a, "MatrixOperator::new")?;
        if !bool::try_from(a.f_isfinite()?.f_all()?)? {
            return Err(Error::NonFinite {
                op: "MatrixOperator::new",
            });
        }
        Ok(Self {
            a: a.f_to_kind(Kind::Double)?.f_contiguous()?,
            name: format!("matrix [{d}, {d}]"),
        })
    }

    /// (A + Aᵀ)/2·v: the symmetric part of a square matrix.
    pub fn symmetric_part(a: &Tensor) -> Result<Self> {
        let mut op = Self::new(a)?;
        op.a = ((&op.a + op.a.f_tr()?) * 0.5).f_contiguous()?;
        op.name = format!("symmetric part of {}", op.name);
        Ok(op)
    }

    /// The matrix applied (f64).
    pub fn matrix(&self) -> &Tensor {
        &self.a
    }
}

impl LinearOperator for MatrixOperator {
    fn dim(&self) -> usize {
        self.a.size()[0] as usize
    }
    fn apply(&mut self, v: &Tensor) -> Result<Tensor> {
        Ok(self.a.f_matmul(v)?)
    }
    fn device(&self) -> Device {
        self.a.device()
    }
    fn name(&self) -> String {
        self.name.clone()
    }
}

/// A denoiser's Jacobian J = ∇f(y) at one image, or its symmetric part (J + Jᵀ)/2, as an operator
/// (PAPER.md §5). J·v comes from [`Denoiser::linearized`] when offered, else double reverse mode
/// ([`crate::jvp`]); Jᵀ·v from one batched reverse pass ([`crate::vjp`]).
pub struct DenoiserOperator<'a> {
    f: &'a dyn Denoiser,
    y: Tensor,
    operator: LanczosOperator,
}

impl<'a> DenoiserOperator<'a> {
    /// The operator `operator` of `f` at `y` (`[1, c, h, w]` or `[c, h, w]`).
    pub fn new(f: &'a dyn Denoiser, y: &Tensor, operator: LanczosOperator) -> Result<Self> {
        let y = single_image(y, "DenoiserOperator::new")?.f_to_device(f.device())?;
        Ok(Self { f, y, operator })
    }

    /// The image the Jacobian is taken at, `[1, c, h, w]`.
    pub fn image(&self) -> &Tensor {
        &self.y
    }
}

impl std::fmt::Debug for DenoiserOperator<'_> {
    fn fmt(&self, fm: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fm.debug_struct("DenoiserOperator")
            .field("denoiser", &self.f.name())
            .field("image", &self.y.size())
            .field("operator", &self.operator)
            .finish()
    }
}

impl LinearOperator for DenoiserOperator<'_> {
    fn dim(&self) -> usize {
        self.y.numel()
    }

    fn apply(&mut self, v: &Tensor) -> Result<Tensor> {
        // v: [d, b] f64 → images [b, c, h, w] in the image's kind.
        let size = self.y.size();
        let b = v.size()[1];
        let imgs = v
            .f_tr()?
            .f_contiguous()?
            .f_reshape([b, size[1], size[2], size[3]])?
            .f_to_kind(self.y.kind())?;
        let jv = jvp(self.f, &self.y, &imgs)?
            .f_reshape([b, -1])?
            .f_to_kind(Kind::Double)?;
        let out = match self.operator {
            LanczosOperator::Jacobian => jv,
            LanczosOperator::SymmetricPart => {
                let jtv = vjp(self.f, &self.y, &imgs)?
                    .f_reshape([b, -1])?
                    .f_to_kind(Kind::Double)?;
                (jv + jtv) * 0.5
            }
        };
        Ok(out.f_tr()?.f_contiguous()?)
    }

    fn products_per_column(&self) -> usize {
        match self.operator {
            LanczosOperator::Jacobian => 1,
            LanczosOperator::SymmetricPart => 2,
        }
    }

    fn device(&self) -> Device {
        self.f.device()
    }

    fn name(&self) -> String {
        match self.operator {
            LanczosOperator::Jacobian => format!("jacobian of {}", self.f.name()),
            LanczosOperator::SymmetricPart => {
                format!("symmetric part of the jacobian of {}", self.f.name())
            }
        }
    }
}

/// Any closure `[d, b] → [d, b]` as an operator (one product per column unless set otherwise).
pub struct FnOperator<F> {
    dim: usize,
    f: F,
    products_per_column: usize,
    device: Device,
    name: String,
}

impl<F: FnMut(&Tensor) -> Result<Tensor>> FnOperator<F> {
    /// The map `f` on dimension `dim`, on the CPU, one product per column.
    pub fn new(dim: usize, f: F) -> Self {
        Self {
            dim,
            f,
            products_per_column: 1,
            device: Device::Cpu,
            name: "closure".into(),
        }
    }

    /// Sets the number of single-vector products one column costs (at least 1).
    pub fn with_products_per_column(mut self, n: usize) -> Self {
        self.products_per_column = n.max(1);
        self
    }

    /// Sets the device the directions are put on.
    pub fn with_device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// Sets the name used in reports and errors.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

impl<F> std::fmt::Debug for FnOperator<F> {
    fn fmt(&self, fm: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fm.debug_struct("FnOperator")
            .field("dim", &self.dim)
            .field("name", &self.name)
            .finish()
    }
}

impl<F: FnMut(&Tensor) -> Result<Tensor>> LinearOperator for FnOperator<F> {
    fn dim(&self) -> usize {
        self.dim
    }
    fn apply(&mut self, v: &Tensor) -> Result<Tensor> {
        (self.f)(v)
    }
    fn products_per_column(&self) -> usize {
        self.products_per_column
    }
    fn device(&self) -> Device {
        self.device
    }
    fn name(&self) -> String {
        self.name.clone()
    }
}

/// A `[d, b]` f64 block of Rademacher (±1) entries on `device`: column `j` from stream
/// `first_stream + j` of `seed` ([`gahb_tensor::random`], never libtorch's global generator).
pub fn rademacher(
    seed: u64,
    first_stream: u64,
    d: usize,
    b: usize,
    device: Device,
) -> Result<Tensor> {
    let u = gahb_tensor::random::uniform(seed, first_stream, b, &[d as i64], Device::Cpu)?;
    let signs = u.f_lt(0.5)?.f_to_kind(Kind::Double)? * 2.0 - 1.0; // [b, d]
    Ok(signs.f_tr()?.f_contiguous()?.f_to_device(device)?)
}

/// A `[d, b]` f64 block of standard normal entries on `device`, columns as in [`rademacher`].
pub fn gaussian(
    seed: u64,
    first_stream: u64,
    d: usize,
    b: usize,
    device: Device,
) -> Result<Tensor> {
    let z = gahb_tensor::random::standard_normal(seed, first_stream, b, &[d as i64], Device::Cpu)?;
    Ok(z.f_to_kind(Kind::Double)?
        .f_tr()?
        .f_contiguous()?
        .f_to_device(device)?)
}
