//! Analytic reference denoisers with known optima (PAPER.md §10; issue 5's tests with known answers).
//!
//! * [`GaussianWiener`]: the MMSE denoiser of a Gaussian prior N(μ, Σ),
//!   f(y) = μ + Σ(Σ + σ²I)⁻¹(y − μ), whose Tweedie score is −(Σ + σ²I)⁻¹(y − μ).
//! * [`Memorizer`]: the MMSE denoiser of the empirical distribution of a training set
//!   {x_1, …, x_N}, f(y) = Σ_i w_i x_i with w_i ∝ exp(−‖y − x_i‖²/(2σ²)). It is the exact optimum
//!   for that training set, the denoiser a network that memorises would converge to, and so the
//!   baseline every memorisation measure of PAPER.md §3 should be compared against.
//!
//! # The noise level: known or blind
//! Both formulas need σ, but the sampler (PAPER.md §4) calls a denoiser with y only ("universal
//! blind", PAPER.md §1). Each denoiser therefore has a [`NoiseLevel`]:
//! * `Known(σ)`: the exact MMSE denoiser at that σ. Use it for Tweedie-score and Jacobian tests.
//! * `Blind { sigma_max }`: the exact MMSE denoiser when σ is itself unknown, drawn uniformly from
//!   (0, σ_max] as in the paper's training ("standard deviations drawn from [0, 1]", PAPER.md §2):
//!   f(y) = E[x | y] = Σ_j p(σ_j | y)·E[x | y, σ_j], with the posterior p(σ | y) ∝ p_σ(y) over a
//!   grid of 96 log-spaced σ_j from 1e−4 to σ_max (weights ∝ σ_j for the uniform prior in σ).
//!   This is precisely the minimiser of the universal blind training loss for this prior, that is,
//!   what a network trained on that loss converges to; it is a valid `Denoiser` for the sampler
//!   with no noise level passed in. Near a training image the memoriser's posterior on σ moves to
//!   the smallest σ and f(y) to that image.

use gahb_tensor::{check_batch, Denoiser};
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};
use crate::noise::standard_normal;

/// How a reference denoiser knows the noise level of its input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NoiseLevel {
    /// The noise standard deviation σ > 0 is given.
    Known(f64),
    /// σ is unknown, uniform on (0, σ_max]; the denoiser is the posterior mean over σ too.
    Blind {
        /// The largest noise level, > 1e−4.
        sigma_max: f64,
    },
}

impl NoiseLevel {
    /// Blind over (0, 2]: the sampler's whole range (it aborts at σ > 2, PAPER.md §4).
    pub const fn blind() -> Self {
        NoiseLevel::Blind { sigma_max: 2.0 }
    }

    pub(crate) fn check(self, op: &'static str) -> Result<()> {
        match self {
            NoiseLevel::Known(s) if !(s.is_finite() && s > 0.0) => Err(Error::InvalidArgument {
                name: "noise level",
                reason: format!("{op}: a known σ must be finite and > 0, got {s}"),
            }),
            NoiseLevel::Blind { sigma_max }
                if !(sigma_max.is_finite() && sigma_max > SIGMA_GRID_MIN) =>
            {
                Err(Error::InvalidArgument {
                    name: "noise level",
                    reason: format!(
                        "{op}: sigma_max must be finite and > {SIGMA_GRID_MIN}, got {sigma_max}"
                    ),
                })
            }
            _ => Ok(()),
        }
    }
}

/// The optimal (Wiener) denoiser of a Gaussian prior N(μ, Σ) on `[c, h, w]` images.
#[derive(Debug)]
pub struct GaussianWiener {
    mean: Tensor,
    cov: Tensor,
    eigvals: Tensor,
    eigvecs: Tensor,
    image_shape: [i64; 3],
    noise: NoiseLevel,
    zero_mean: bool,
}

impl GaussianWiener {
    /// Builds the denoiser from the mean (`[c, h, w]` or `[d]`) and the `[d, d]` symmetric positive
    /// semi-definite covariance, d = c·h·w. It computes on the covariance's device, in f64.
    pub fn new(
        mean: &Tensor,
        cov: &Tensor,
        image_shape: [i64; 3],
        noise: NoiseLevel,
    ) -> Result<Self> {
        noise.check("GaussianWiener::new")?;
        let d: i64 = image_shape.iter().product();
        if cov.size() != [d, d] {
            return Err(Error::ShapeMismatch {
                op: "GaussianWiener::new (covariance)",
                expected: format!("[{d}, {d}] for images {image_shape:?}"),
                got: cov.size(),
            });
        }
        if mean.numel() as i64 != d {
            return Err(Error::ShapeMismatch {
                op: "GaussianWiener::new (mean)",
                expected: format!("{d} elements"),
                got: mean.size(),
            });
        }
        let device = cov.device();
        let cov = cov.f_to_kind(Kind::Double)?;
        let asym = scalar(&cov.f_sub(&cov.f_tr()?)?.f_abs()?.f_max()?)?;
        let scale = scalar(&cov.f_abs()?.f_max()?)?.max(f64::MIN_POSITIVE);
        if asym > 1e-9 * scale {
            return Err(Error::InvalidArgument {
                name: "covariance",
                reason: format!("must be symmetric, max |Σ − Σᵀ| = {asym}"),
            });
        }
        let (eigvals, eigvecs) = cov.f_linalg_eigh("L")?;
        let lmin = scalar(&eigvals.f_min()?)?;
        if lmin < -1e-9 * scale {
            return Err(Error::InvalidArgument {
                name: "covariance",
                reason: format!("must be positive semi-definite, smallest eigenvalue {lmin}"),
            });
        }
        let mean = mean
            .f_reshape([d])?
            .f_to_kind(Kind::Double)?
            .f_to_device(device)?;
        let zero_mean = scalar(&mean.f_abs()?.f_max()?)? == 0.0;
        Ok(Self {
            mean,
            cov,
            eigvals: eigvals.f_clamp_min(0.0)?,
            eigvecs,
            image_shape,
            noise,
            zero_mean,
        })
    }

    /// The same prior with another noise level.
    pub fn with_noise(&self, noise: NoiseLevel) -> Result<Self> {
        noise.check("GaussianWiener::with_noise")?;
        Ok(Self {
            mean: self.mean.shallow_clone(),
            cov: self.cov.shallow_clone(),
            eigvals: self.eigvals.shallow_clone(),
            eigvecs: self.eigvecs.shallow_clone(),
            image_shape: self.image_shape,
            noise,
            zero_mean: self.zero_mean,
        })
    }

    /// The prior mean μ, `[d]` f64.
    pub fn mean(&self) -> &Tensor {
        &self.mean
    }

    /// The prior covariance Σ, `[d, d]` f64.
    pub fn covariance(&self) -> &Tensor {
        &self.cov
    }

    /// Draws `n` images from the prior, μ + Σ^{1/2}z with z from stream i of `seed`: `[n, c, h, w]` f32.
    pub fn sample_prior(&self, n: usize, seed: u64) -> Result<Tensor> {
        let [c, h, w] = self.image_shape;
        let z =
            standard_normal(seed, 0, n, &[c * h * w], self.device())?.f_to_kind(Kind::Double)?;
        let coef = z.f_mul(&self.eigvals.f_sqrt()?)?;
        Ok(coef
            .f_matmul(&self.eigvecs.f_tr()?)?
            .f_add(&self.mean)?
            .f_reshape([n as i64, c, h, w])?
            .f_to_kind(Kind::Float)?)
    }

    /// The analytic score of the noisy prior, ∇log p_σ(y) = −(Σ + σ²I)⁻¹(y − μ), computed by a
    /// linear solve (independently of the eigendecomposition the denoiser uses).
    pub fn analytic_score(&self, y: &Tensor, sigma: f64) -> Result<Tensor> {
        let (b, flat) = self.flatten(y, "GaussianWiener::analytic_score")?;
        let d = self.mean.size()[0];
        let a = self.cov.f_add(
            &Tensor::f_eye(d, (Kind::Double, self.cov.device()))?.f_mul_scalar(sigma * sigma)?,
        )?;
        let rhs = flat.f_sub(&self.mean)?.f_tr()?;
        let sol = Tensor::f_linalg_solve(&a, &rhs, true)?;
        self.unflatten(&sol.f_tr()?.f_neg()?, b, y.kind())
    }

    /// The posterior mean E[σ | y] of each image's noise level for σ uniform on (0, `sigma_max`]:
    /// `[b]` f64.
    pub fn estimate_sigma(&self, y: &Tensor, sigma_max: f64) -> Result<Tensor> {
        NoiseLevel::Blind { sigma_max }.check("GaussianWiener::estimate_sigma")?;
        let (_, flat) = self.flatten(y, "GaussianWiener::estimate_sigma")?;
        let coef = flat.f_sub(&self.mean)?.f_matmul(&self.eigvecs)?;
        let (post, log_var) = self.noise_posterior(&coef, sigma_max)?;
        posterior_mean_sigma(&post, &log_var)
    }

    /// The MMSE denoiser at a given σ (whatever this denoiser's own noise level).
    pub fn denoise_at(&self, y: &Tensor, sigma: f64) -> Result<Tensor> {
        NoiseLevel::Known(sigma).check("GaussianWiener::denoise_at")?;
        let (b, flat) = self.flatten(y, "GaussianWiener::denoise_at")?;
        let coef = flat.f_sub(&self.mean)?.f_matmul(&self.eigvecs)?;
        let lam = self.eigvals.f_unsqueeze(0)?;
        let gain = lam.f_div(&lam.f_add_scalar(sigma * sigma)?)?;
        self.apply_gain(&coef, &gain, b, y.kind())
    }

    /// The posterior p(σ_j | y), `[b, G]`, and the grid's log σ_j², `[G]`, from eigen-coefficients
    /// `coef` (`[b, d]`). log p_s(y) = −½Σ_k [log(λ_k + s) + c_k²/(λ_k + s)] + const.
    fn noise_posterior(&self, coef: &Tensor, sigma_max: f64) -> Result<(Tensor, Tensor)> {
        let log_var = noise_grid(sigma_max, self.cov.device())?;
        // [G, d]
        let v = self
            .eigvals
            .f_unsqueeze(0)?
            .f_add(&log_var.f_exp()?.f_unsqueeze(1)?)?;
        let log_det = v
            .f_log()?
            .f_sum_dim_intlist([1i64].as_slice(), false, Kind::Double)?;
        let quad = coef.f_square()?.f_matmul(&v.f_reciprocal()?.f_tr()?)?; // [b, G]
        let loglik = quad.f_add(&log_det.f_unsqueeze(0)?)?.f_mul_scalar(-0.5)?;
        Ok((posterior(&loglik, &log_var)?, log_var))
    }

    /// The blind gain Σ_j p(σ_j | y)·λ/(λ + σ_j²), `[b, d]`.
    fn blind_gain(&self, coef: &Tensor, sigma_max: f64) -> Result<Tensor> {
        let (post, log_var) = self.noise_posterior(coef, sigma_max)?;
        let lam = self.eigvals.f_unsqueeze(0)?;
        let gains = lam.f_div(
            &lam.f_add(&log_var.f_exp()?.f_unsqueeze(1)?)?
                .f_clamp_min(1e-300)?,
        )?;
        Ok(post.f_matmul(&gains)?)
    }

    /// μ + E·diag(gain)·coef for per-row gains (`[b, d]`).
    fn apply_gain(&self, coef: &Tensor, gain: &Tensor, b: i64, kind: Kind) -> Result<Tensor> {
        let out = coef
            .f_mul(gain)?
            .f_matmul(&self.eigvecs.f_tr()?)?
            .f_add(&self.mean)?;
        self.unflatten(&out, b, kind)
    }

    fn flatten(&self, y: &Tensor, op: &'static str) -> Result<(i64, Tensor)> {
        flatten_images(y, op, self.image_shape, self.cov.device())
    }

    fn unflatten(&self, flat: &Tensor, b: i64, kind: Kind) -> Result<Tensor> {
        let [c, h, w] = self.image_shape;
        Ok(flat.f_reshape([b, c, h, w])?.f_to_kind(kind)?)
    }
}

impl Denoiser for GaussianWiener {
    fn denoise(&self, y: &Tensor) -> gahb_tensor::Result<Tensor> {
        let out = match self.noise {
            NoiseLevel::Known(s) => self.denoise_at(y, s),
            NoiseLevel::Blind { sigma_max } => (|| {
                let (b, flat) = self.flatten(y, "GaussianWiener::denoise")?;
                let coef = flat.f_sub(&self.mean)?.f_matmul(&self.eigvecs)?;
                let gain = self.blind_gain(&coef, sigma_max)?;
                self.apply_gain(&coef, &gain, b, y.kind())
            })(),
        };
        out.map(|t| t.to_device(y.device()))
            .map_err(into_tensor_error)
    }

    fn linearized(&self, _y: &Tensor, v: &Tensor) -> gahb_tensor::Result<Option<Tensor>> {
        // With a known σ and μ = 0 the denoiser is linear; otherwise let callers differentiate.
        match self.noise {
            NoiseLevel::Known(s) if self.zero_mean => {
                self.denoise_at(v, s).map(Some).map_err(into_tensor_error)
            }
            _ => Ok(None),
        }
    }

    fn device(&self) -> Device {
        self.cov.device()
    }

    fn name(&self) -> String {
        format!("gaussian-wiener d={} {:?}", self.mean.size()[0], self.noise)
    }
}

/// A training set `[n, c, h, w]` (n ≥ 1) as `[n, d]` f64 rows, their squared norms `[n]` and the
/// image shape; `who` names the caller in errors.
pub(crate) fn flat_training_set(
    who: &'static str,
    train: &Tensor,
) -> Result<(Tensor, Tensor, [i64; 3])> {
    let (n, c, h, w) = check_batch(who, train)?;
    let flat = train.f_reshape([n, -1])?.f_to_kind(Kind::Double)?;
    let sq = flat
        .f_square()?
        .f_sum_dim_intlist([1i64].as_slice(), false, Kind::Double)?;
    Ok((flat, sq, [c, h, w]))
}

/// The optimal denoiser of the empirical distribution of a training set (PAPER.md §3's
/// memorisation baseline): f(y) = Σ_i w_i x_i, w = softmax_i(−‖y − x_i‖²/(2σ²)).
#[derive(Debug)]
pub struct Memorizer {
    train: Tensor,
    train_sq: Tensor,
    image_shape: [i64; 3],
    noise: NoiseLevel,
}

impl Memorizer {
    /// Builds the memoriser of `train` (`[n, c, h, w]`, n ≥ 1); it computes on that tensor's device
    /// in f64.
    pub fn new(train: &Tensor, noise: NoiseLevel) -> Result<Self> {
        let (flat, train_sq, image_shape) = flat_training_set("Memorizer::new", train)?;
        noise.check("Memorizer::new")?;
        Ok(Self {
            train: flat,
            train_sq,
            image_shape,
            noise,
        })
    }

    /// The same training set with another noise level.
    pub fn with_noise(&self, noise: NoiseLevel) -> Result<Self> {
        noise.check("Memorizer::with_noise")?;
        Ok(Self {
            train: self.train.shallow_clone(),
            train_sq: self.train_sq.shallow_clone(),
            image_shape: self.image_shape,
            noise,
        })
    }

    /// The training images, `[n, d]` f64.
    pub fn train(&self) -> &Tensor {
        &self.train
    }

    /// The posterior weights w_i(y) at noise level σ: `[b, n]` f64, rows summing to 1.
    pub fn posterior_weights(&self, y: &Tensor, sigma: f64) -> Result<Tensor> {
        NoiseLevel::Known(sigma).check("Memorizer::posterior_weights")?;
        let (b, flat) = self.flatten(y, "Memorizer::posterior_weights")?;
        let d2 = self.sq_distances(&flat)?;
        let var = Tensor::f_full([b, 1], sigma * sigma, (Kind::Double, self.train.device()))?;
        Ok(d2
            .f_div(&var.f_mul_scalar(-2.0)?)?
            .f_softmax(1, Kind::Double)?)
    }

    /// The log density log p_σ(y) = log (1/N)Σ_i N(y; x_i, σ²I) of each image: `[b]` f64.
    pub fn log_density(&self, y: &Tensor, sigma: f64) -> Result<Tensor> {
        NoiseLevel::Known(sigma).check("Memorizer::log_density")?;
        let (_, flat) = self.flatten(y, "Memorizer::log_density")?;
        let d2 = self.sq_distances(&flat)?;
        let n = self.train.size()[0] as f64;
        let d = flat.size()[1] as f64;
        let v = sigma * sigma;
        Ok(d2
            .f_div_scalar(-2.0 * v)?
            .f_logsumexp([1i64], false)?
            .f_sub_scalar(n.ln() + 0.5 * d * (2.0 * std::f64::consts::PI * v).ln())?)
    }

    /// The posterior mean E[σ | y] of each image's noise level for σ uniform on (0, `sigma_max`]:
    /// `[b]` f64.
    pub fn estimate_sigma(&self, y: &Tensor, sigma_max: f64) -> Result<Tensor> {
        NoiseLevel::Blind { sigma_max }.check("Memorizer::estimate_sigma")?;
        let (_, flat) = self.flatten(y, "Memorizer::estimate_sigma")?;
        let d2 = self.sq_distances(&flat)?;
        let (post, log_var, _) = self.noise_posterior(&d2, sigma_max)?;
        posterior_mean_sigma(&post, &log_var)
    }

    /// The MMSE denoiser at a given σ.
    pub fn denoise_at(&self, y: &Tensor, sigma: f64) -> Result<Tensor> {
        let w = self.posterior_weights(y, sigma)?;
        self.combine(&w, y)
    }

    /// The posterior p(σ_j | y), `[b, G]`, the grid's log σ_j², `[G]`, and the exponents
    /// −D_i/(2σ_j²), `[b, G, n]`, from squared distances `d2` (`[b, n]`).
    /// log p_s(y) = logsumexp_i(−D_i/(2s)) − (d/2)·log s + const.
    fn noise_posterior(&self, d2: &Tensor, sigma_max: f64) -> Result<(Tensor, Tensor, Tensor)> {
        let d = self.train.size()[1] as f64;
        let log_var = noise_grid(sigma_max, self.train.device())?;
        let two_s = log_var.f_exp()?.f_mul_scalar(-2.0)?.f_reshape([1, -1, 1])?;
        let expo = d2.f_unsqueeze(1)?.f_div(&two_s)?; // [b, G, n]
        let loglik = expo
            .f_logsumexp([-1i64], false)?
            .f_sub(&log_var.f_mul_scalar(0.5 * d)?.f_unsqueeze(0)?)?;
        Ok((posterior(&loglik, &log_var)?, log_var, expo))
    }

    fn combine(&self, w: &Tensor, y: &Tensor) -> Result<Tensor> {
        let (b, ..) = check_batch("Memorizer::denoise", y)?;
        let [c, h, w_] = self.image_shape;
        Ok(w.f_matmul(&self.train)?
            .f_reshape([b, c, h, w_])?
            .f_to_kind(y.kind())?
            .f_to_device(y.device())?)
    }

    /// ‖y_b − x_i‖², `[b, n]`, clamped at 0.
    fn sq_distances(&self, flat: &Tensor) -> Result<Tensor> {
        let y_sq = flat
            .f_square()?
            .f_sum_dim_intlist([1i64].as_slice(), true, Kind::Double)?;
        let cross = flat.f_matmul(&self.train.f_tr()?)?;
        Ok(y_sq
            .f_add(&self.train_sq.f_unsqueeze(0)?)?
            .f_sub(&cross.f_mul_scalar(2.0)?)?
            .f_clamp_min(0.0)?)
    }

    fn flatten(&self, y: &Tensor, op: &'static str) -> Result<(i64, Tensor)> {
        flatten_images(y, op, self.image_shape, self.train.device())
    }
}

impl Denoiser for Memorizer {
    fn denoise(&self, y: &Tensor) -> gahb_tensor::Result<Tensor> {
        let out = match self.noise {
            NoiseLevel::Known(s) => self.denoise_at(y, s),
            NoiseLevel::Blind { sigma_max } => (|| {
                let (_, flat) = self.flatten(y, "Memorizer::denoise")?;
                let d2 = self.sq_distances(&flat)?;
                let (post, _, expo) = self.noise_posterior(&d2, sigma_max)?;
                // w_i = Σ_j p(σ_j | y)·softmax_i(−D_i/(2σ_j²)).
                let w = expo
                    .f_softmax(-1, Kind::Double)?
                    .f_mul(&post.f_unsqueeze(-1)?)?
                    .f_sum_dim_intlist([1i64].as_slice(), false, Kind::Double)?;
                self.combine(&w, y)
            })(),
        };
        out.map_err(into_tensor_error)
    }

    fn device(&self) -> Device {
        self.train.device()
    }

    fn name(&self) -> String {
        format!("memorizer n={} {:?}", self.train.size()[0], self.noise)
    }
}

/// The smallest σ of the blind denoisers' noise grid.
pub(crate) const SIGMA_GRID_MIN: f64 = 1e-4;
/// The number of grid points.
const SIGMA_GRID_POINTS: i64 = 96;

/// log σ_j² for σ_j log-spaced from [`SIGMA_GRID_MIN`] to `sigma_max`: `[G]` f64.
pub(crate) fn noise_grid(sigma_max: f64, device: Device) -> Result<Tensor> {
    Ok(Tensor::f_linspace(
        2.0 * SIGMA_GRID_MIN.ln(),
        2.0 * sigma_max.ln(),
        SIGMA_GRID_POINTS,
        (Kind::Double, device),
    )?)
}

/// The posterior over the grid from the log-likelihoods `[b, G]`: σ uniform on (0, σ_max] and the
/// grid uniform in log σ² give prior weights ∝ σ_j, that is, ½·log σ_j² in the exponent.
pub(crate) fn posterior(loglik: &Tensor, log_var: &Tensor) -> Result<Tensor> {
    Ok(loglik
        .f_add(&log_var.f_mul_scalar(0.5)?.f_unsqueeze(0)?)?
        .f_softmax(1, Kind::Double)?)
}

/// Σ_j p_j σ_j, `[b]`.
pub(crate) fn posterior_mean_sigma(post: &Tensor, log_var: &Tensor) -> Result<Tensor> {
    Ok(post.f_matmul(&log_var.f_mul_scalar(0.5)?.f_exp()?)?)
}

pub(crate) fn scalar(t: &Tensor) -> Result<f64> {
    Ok(gahb_tensor::convert::scalar(t)?)
}

/// The `Denoiser` trait returns the tensor layer's error; this crate's errors are carried in it.
pub(crate) fn into_tensor_error(e: Error) -> gahb_tensor::Error {
    match e {
        Error::Tensor(e) => e,
        Error::Tch(e) => gahb_tensor::Error::Tch(e),
        other => gahb_tensor::Error::InvalidArgument {
            name: "reference denoiser",
            reason: other.to_string(),
        },
    }
}

/// Checks that `y` is `[b, c, h, w]` with `[c, h, w]` = `image_shape` and returns `b` and the
/// images as `[b, d]` f64 rows on `device`.
pub(crate) fn flatten_images(
    y: &Tensor,
    op: &'static str,
    image_shape: [i64; 3],
    device: tch::Device,
) -> Result<(i64, Tensor)> {
    let (b, c, h, w) = check_batch(op, y)?;
    if [c, h, w] != image_shape {
        return Err(Error::ShapeMismatch {
            op,
            expected: format!(
                "[b, {}, {}, {}]",
                image_shape[0], image_shape[1], image_shape[2]
            ),
            got: y.size(),
        });
    }
    let flat = y
        .f_reshape([b, -1])?
        .f_to_kind(Kind::Double)?
        .f_to_device(device)?;
    Ok((b, flat))
}
