//! The optimal bias-free denoiser of a training set at a known σ (PAPER.md §1, §3): the baseline a
//! memorising bias-free network is measured against.
//!
//! The [`Memorizer`](crate::Memorizer) is the exact MMSE denoiser of the empirical distribution
//! {x_1, …, x_N}, but no bias-free network can represent it: a bias-free network is positively
//! homogeneous, f(a·y) = a·f(y) for a > 0 (PAPER.md §1), and the memorizer is not (at N = 1 it is
//! the constant x_1, with MSE 0 at every σ). [`BiasFreeMemorizer`] is the minimiser of
//! E‖f(x_i + σz) − x_i‖² over homogeneous f, the best any bias-free denoiser can do at that σ.
//!
//! # The formula
//! A homogeneous f is f(y) = r·h(u) with r = ‖y‖ and u = y/r, so the error splits over directions u:
//! with dy = r^(d−1) dr du and p(y | i) ∝ exp(−‖ru − x_i‖²/(2σ²)), the best h(u) minimises
//! Σ_i ∫ r^(d−1) p(ru | i) ‖r·h − x_i‖² dr, which gives
//!
//! h(u) = Σ_i x_i·A_i / Σ_i A_i·R_i,  A_i = exp(−(q_i − c_i²)/(2σ²))·I_d(c_i),  R_i = I_(d+1)(c_i)/I_d(c_i),
//!
//! with c_i = ⟨u, x_i⟩, q_i = ‖x_i‖² (so q_i − c_i² is the squared distance of x_i to the line
//! through u) and the radial moments I_m(c) = ∫_0^∞ r^m exp(−(r − c)²/(2σ²)) dr ([`log_radial_moment`]).
//! The weights A_i/Σ A_i form a posterior over the training images given the direction of y alone.
//!
//! # Small σ
//! At N = 1, f(y) = x_1·‖y‖/R_1, and at small σ the only error left is the noise along the ray
//! through x_1: MSE σ² per image, output PSNR = input PSNR + 10·log10 d, slope 1, the optimum of the
//! ray of Fig. 19 ([`Ray`](crate::Ray)). This is the "train PSNR slope 1" of memorising networks
//! (PAPER.md §11), where the memorizer's PSNR is infinite.
//!
//! # Numerics
//! log I_m is computed by the trapezoid rule in v = log r over the range where the integrand
//! exp((m + 1)v − (e^v − c)²/(2σ²)) is within e^{−45} of its maximum. It is unimodal and entire in
//! v, so the rule converges exponentially: a step of at most half the peak's width and 0.08 gives
//! the integral to about 1e−12 for every m ≥ 0, c and σ > 0 (checked against closed forms and the
//! recursion I_(m+1) = c·I_m + m·σ²·I_(m−1)); 30 to 700 nodes. This runs in plain f64 per
//! (image, training image) pair: libtorch's per-op cost would dominate such small work.

use gahb_tensor::{check_batch, Denoiser};
use tch::{Device, Kind, Tensor};

use crate::error::Result;
use crate::reference::{flatten_images, into_tensor_error, NoiseLevel};

/// The quadrature spans the v where the integrand is within e^{−QUAD_DROP} of its peak (or more).
const QUAD_DROP: f64 = 45.0;
/// Bisection steps for the left end of the quadrature.
const BISECTIONS: usize = 64;
/// The largest step of the quadrature in v = log r.
const QUAD_MAX_STEP: f64 = 0.08;
/// The fewest steps of the quadrature.
const QUAD_MIN_STEPS: usize = 32;
/// The most steps (a span of 45/(m + 1) + 10 widths, the widest, at m = 0 needs about 700).
const QUAD_MAX_STEPS: usize = 4096;

/// The optimal positively homogeneous (bias-free) denoiser of a training set at a known σ.
#[derive(Debug)]
pub struct BiasFreeMemorizer {
    /// x_i, `[n, d]` f64.
    train: Tensor,
    /// ‖x_i‖², `[n]` f64.
    train_sq: Tensor,
    image_shape: [i64; 3],
    sigma: f64,
}

impl BiasFreeMemorizer {
    /// The optimum for `train` (`[n, c, h, w]`, n ≥ 1) at noise level σ > 0, computing on that
    /// tensor's device in f64.
    pub fn new(train: &Tensor, sigma: f64) -> Result<Self> {
        let (n, c, h, w) = check_batch("BiasFreeMemorizer::new", train)?;
        NoiseLevel::Known(sigma).check("BiasFreeMemorizer::new")?;
        let flat = train.f_reshape([n, -1])?.f_to_kind(Kind::Double)?;
        let train_sq =
            flat.f_square()?
                .f_sum_dim_intlist([1i64].as_slice(), false, Kind::Double)?;
        Ok(Self {
            train: flat,
            train_sq,
            image_shape: [c, h, w],
            sigma,
        })
    }

    /// The same training set at another noise level.
    pub fn with_sigma(&self, sigma: f64) -> Result<Self> {
        NoiseLevel::Known(sigma).check("BiasFreeMemorizer::with_sigma")?;
        Ok(Self {
            train: self.train.shallow_clone(),
            train_sq: self.train_sq.shallow_clone(),
            image_shape: self.image_shape,
            sigma,
        })
    }

    /// The noise level.
    pub fn sigma(&self) -> f64 {
        self.sigma
    }

    /// The posterior weights A_i/Σ_j A_j over the training images given the direction of each
    /// image of `y` (`[b, c, h, w]`): `[b, n]` f64, rows summing to 1.
    pub fn direction_weights(&self, y: &Tensor) -> Result<Tensor> {
        let (_, flat) = self.flatten(y, "BiasFreeMemorizer::direction_weights")?;
        let (_, weights, _) = self.terms(&flat)?;
        Ok(weights)
    }

    /// (r = ‖y‖ `[b]`, the weights `[b, n]`, R_i `[b, n]`) for images `[b, d]`.
    fn terms(&self, flat: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
        let d = flat.size()[1] as f64;
        let s2 = self.sigma * self.sigma;
        let r = flat
            .f_square()?
            .f_sum_dim_intlist([1i64].as_slice(), false, Kind::Double)?
            .f_sqrt()?; // [b]
                        // y = 0 has no direction; any u gives f(0) = 0·h(u) = 0.
        let u = flat.f_div(&r.f_clamp_min(f64::MIN_POSITIVE)?.f_unsqueeze(1)?)?;
        let c = u.f_matmul(&self.train.f_tr()?)?; // [b, n]
        let off_line = self.train_sq.f_unsqueeze(0)?.f_sub(&c.f_square()?)?;
        let log_i = log_radial_moments(d, &c, self.sigma)?;
        let log_a = log_i.f_sub(&off_line.f_clamp_min(0.0)?.f_div_scalar(2.0 * s2)?)?;
        let ratio = log_radial_moments(d + 1.0, &c, self.sigma)?
            .f_sub(&log_i)?
            .f_exp()?;
        Ok((r, log_a.f_softmax(1, Kind::Double)?, ratio))
    }

    /// The optimal bias-free denoiser at this denoiser's σ.
    fn denoise_flat(&self, y: &Tensor, op: &'static str) -> Result<Tensor> {
        let (b, flat) = self.flatten(y, op)?;
        let (r, w, ratio) = self.terms(&flat)?;
        let num = w.f_matmul(&self.train)?; // [b, d]
        let den = w
            .f_mul(&ratio)?
            .f_sum_dim_intlist([1i64].as_slice(), false, Kind::Double)?; // [b]
        let scale = r.f_div(&den)?.f_unsqueeze(1)?;
        let [c, h, w_] = self.image_shape;
        Ok(num
            .f_mul(&scale)?
            .f_reshape([b, c, h, w_])?
            .f_to_kind(y.kind())?
            .f_to_device(y.device())?)
    }

    fn flatten(&self, y: &Tensor, op: &'static str) -> Result<(i64, Tensor)> {
        flatten_images(y, op, self.image_shape, self.train.device())
    }
}

impl Denoiser for BiasFreeMemorizer {
    fn denoise(&self, y: &Tensor) -> gahb_tensor::Result<Tensor> {
        self.denoise_flat(y, "BiasFreeMemorizer::denoise")
            .map_err(into_tensor_error)
    }

    fn is_bias_free(&self) -> bool {
        true
    }

    fn device(&self) -> Device {
        self.train.device()
    }

    fn name(&self) -> String {
        format!(
            "bias-free memorizer n={} σ={}",
            self.train.size()[0],
            self.sigma
        )
    }
}

/// log I_m(c) = log ∫_0^∞ r^m exp(−(r − c)²/(2σ²)) dr, for m ≥ 0 and σ > 0 (the trapezoid rule in
/// log r described in the module doc).
pub fn log_radial_moment(m: f64, c: f64, sigma: f64) -> f64 {
    let s2 = sigma * sigma;
    let m1 = m + 1.0;
    // ψ(v) = (m + 1)·v − (e^v − c)²/(2σ²), the log of the integrand in v = log r.
    let psi = |v: f64| m1 * v - (v.exp() - c).powi(2) / (2.0 * s2);
    // Its maximum at r* = e^{v*}, the positive root of r² − c·r − (m + 1)σ² = 0, in the form
    // without cancellation for each sign of c.
    let k = 2.0 * m1 * s2;
    let root = (c * c + 2.0 * k).sqrt();
    let mode = if c < 0.0 {
        k / (root - c)
    } else {
        0.5 * (c + root)
    };
    let v_star = mode.ln();
    let peak = psi(v_star);
    // The width of the peak in v, σ/√(r*² + (m + 1)σ²) = 1/√(−ψ''(v*)). To the right ψ falls
    // faster than a Gaussian of that width, so 10 widths lose e^{−50}.
    let width = sigma / (mode * mode + m1 * s2).sqrt();
    let v_hi = v_star + 10.0 * width;
    // To the left the fall can be as slow as (m + 1) per unit of v, so the left end is found by
    // bisection where ψ is QUAD_DROP below its peak, in a bracket from
    // ψ(v*) − ψ(v) ≥ (m + 1)(v* − v) − (r* − c)²/(2σ²), with r* − c = (m + 1)σ²/r*.
    let slack = 0.5 * (m1 * sigma / mode).powi(2);
    let (mut lo, mut hi) = (v_star - (slack + QUAD_DROP) / m1, v_star);
    for _ in 0..BISECTIONS {
        let mid = 0.5 * (lo + hi);
        if peak - psi(mid) > QUAD_DROP {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    // A uniform grid from there to v_hi, with a step of at most half a width (to resolve the peak)
    // and QUAD_MAX_STEP (the integrand is analytic in the strip |Im v| < π/4 only, through e^{2v},
    // so the error is about e^{−2π(π/4)/step} ≈ 1e−17 of the integral).
    let span = v_hi - lo;
    let per_step = (0.5 * width).min(QUAD_MAX_STEP);
    let n_steps = ((span / per_step).ceil() as usize).clamp(QUAD_MIN_STEPS, QUAD_MAX_STEPS);
    let step = span / n_steps as f64;
    // log Σ_j exp(ψ(v_j)) relative to the peak (the end nodes carry e^{−45}; their half weight
    // does not matter).
    let sum: f64 = (0..=n_steps)
        .map(|j| (psi(lo + step * j as f64) - peak).exp())
        .sum();
    peak + sum.ln() + step.ln()
}

/// [`log_radial_moment`] of every entry of `c` (any shape, f64), on c's device.
fn log_radial_moments(m: f64, c: &Tensor, sigma: f64) -> Result<Tensor> {
    let values = Vec::<f64>::try_from(
        c.f_to_kind(Kind::Double)?
            .f_to_device(Device::Cpu)?
            .f_reshape([-1])?,
    )?;
    let out: Vec<f64> = values
        .iter()
        .map(|&ci| log_radial_moment(m, ci, sigma))
        .collect();
    Ok(Tensor::from_slice(&out)
        .f_reshape(c.size())?
        .f_to_device(c.device())?)
}
