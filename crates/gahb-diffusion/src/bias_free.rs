//! The optimal bias-free denoisers of a training set (PAPER.md §1, §3): the baselines a memorising
//! bias-free network is measured against.
//!
//! The [`Memorizer`](crate::Memorizer) is the exact MMSE denoiser of the empirical distribution
//! {x_1, …, x_N}, but no bias-free network can represent it: a bias-free network is positively
//! homogeneous, f(a·y) = a·f(y) for a > 0 (PAPER.md §1), and the memorizer is not (at N = 1 it is
//! the constant x_1, with MSE 0 at every σ). [`BiasFreeMemorizer`] minimises the training error
//! over homogeneous f, in one of two settings ([`Optimum`]):
//! * `Known(σ)`: E‖f(x_i + σz) − x_i‖² at one σ. No bias-free denoiser does better at that σ: a
//!   bound.
//! * `Blind(prior)`: E_σ ω(σ)‖f(x_i + σz) − x_i‖² with σ drawn from the training law and ω the
//!   loss weight ([`NoisePrior`]): the minimiser of a universal blind training loss over
//!   homogeneous functions, what a bias-free network trained on that loss converges to. At large σ
//!   it is far above the known-σ bound (at N = 1, d = 1024, σ = 1, by about 9 dB): from the
//!   direction of y alone it cannot tell σ from the scale of the image.
//!
//! # The formula
//! A homogeneous f is f(y) = r·h(u) with r = ‖y‖ and u = y/r, so the error splits over directions u:
//! with dy = r^(d−1) dr du and p(y | i, σ) ∝ σ^(−d) exp(−‖ru − x_i‖²/(2σ²)), the best h(u)
//! minimises Σ_i ∫∫ w(σ) r^(d−1) p(ru | i, σ) ‖r·h − x_i‖² dr dσ, which gives
//!
//! h(u) = Σ_i x_i·A_i / Σ_i B_i,  A_i = ∫ w(σ) σ^(−d) e^(−D_i/(2σ²)) I_d(c_i; σ) dσ,
//! B_i = ∫ w(σ) σ^(−d) e^(−D_i/(2σ²)) I_(d+1)(c_i; σ) dσ,
//!
//! with c_i = ⟨u, x_i⟩, D_i = ‖x_i‖² − c_i² (the squared distance of x_i to the line through u), the
//! radial moments I_m(c; σ) = ∫_0^∞ r^m exp(−(r − c)²/(2σ²)) dr ([`log_radial_moment`]), and w(σ)
//! a point mass at the known σ or the prior density times the loss weight. The weights A_i/Σ A_j
//! form a posterior over the training images given the direction of y alone.
//!
//! # Small σ
//! At N = 1 and a known σ, f(y) = x_1·‖y‖·I_d/I_(d+1), and at small σ the only error left is the
//! noise along the ray through x_1: MSE σ² per image, output PSNR = input PSNR + 10·log10 d, slope 1,
//! the optimum of the ray of Fig. 19 ([`Ray`](crate::Ray)). The blind optimum has the same limit.
//! This is the "train PSNR slope 1" of memorising networks (PAPER.md §11), where the memorizer's
//! PSNR is infinite.
//!
//! # Numerics
//! log I_m is computed by the trapezoid rule in v = log r over the range where the integrand
//! exp((m + 1)v − (e^v − c)²/(2σ²)) is within e^{−45} of its maximum. It is unimodal and entire in
//! v, so the rule converges exponentially: a step of at most half the peak's width and 0.08 gives
//! the integral to about 1e−12 for every m ≥ 0, c and σ > 0 (checked against closed forms and the
//! recursion I_(m+1) = c·I_m + m·σ²·I_(m−1)); 30 to 700 nodes. The blind integrals over log σ are
//! located on a coarse grid (with Laplace's approximation of I_m) over six decades below σ_max,
//! then computed by the trapezoid rule with a step of at most 1/3 of the posterior's width in log σ,
//! 1/√(2(d + 1)) (the rule is exponentially accurate inside the range; its only O(step²) error is
//! at σ_max, where the prior stops). All of this runs in plain f64 per (image, training image) pair: libtorch's per-op
//! cost would dominate such small work.

use gahb_tensor::Denoiser;
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};
use crate::reference::{flatten_images, into_tensor_error, NoiseLevel};

/// The quadrature spans the v where the integrand is within e^{−QUAD_DROP} of its peak (or more).
const QUAD_DROP: f64 = 45.0;
/// Bisection steps for the left end of the quadrature.
const BISECTIONS: usize = 48;
/// The largest step of the quadrature in v = log r.
const QUAD_MAX_STEP: f64 = 0.08;
/// The fewest steps of the quadrature.
const QUAD_MIN_STEPS: usize = 32;
/// The most steps (a span of 45/(m + 1) + 10 widths, the widest, at m = 0 needs about 700).
const QUAD_MAX_STEPS: usize = 4096;
/// The blind integrals cover σ from σ_max·e^{−BLIND_LOG_RANGE} (six decades) to σ_max.
const BLIND_LOG_RANGE: f64 = 13.815510557964274;
/// Points of the coarse grid in log σ.
const BLIND_COARSE: usize = 240;
/// The fine grid covers the coarse points within e^{−BLIND_DROP} of the largest.
const BLIND_DROP: f64 = 60.0;
/// The most steps of the fine grid.
const BLIND_MAX_STEPS: usize = 20_000;

/// The law of σ in training and the weight of each noise level in the loss, which the blind optimum
/// averages over: density ∝ σ^`density_power` on (0, σ_max] times the weight
/// 1/max(σ, `weight_floor`)^`weight_power`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoisePrior {
    /// The largest training noise level.
    pub sigma_max: f64,
    /// The exponent a of the density σ^a: 0 for σ ~ U(0, σ_max], −½ for σ = σ_max·U².
    pub density_power: f64,
    /// The exponent p of the loss weight 1/max(σ, floor)^p; 0 for the paper's unweighted loss.
    pub weight_power: f64,
    /// The floor of the loss weight.
    pub weight_floor: f64,
}

impl NoisePrior {
    /// σ ~ U(0, σ_max] and the unweighted loss (PAPER.md §2).
    pub fn uniform(sigma_max: f64) -> Self {
        Self {
            sigma_max,
            density_power: 0.0,
            weight_power: 0.0,
            weight_floor: 0.0,
        }
    }

    /// Checks the fields: σ_max finite and > 0, a finite and > −1 (a density), p and the floor
    /// finite and ≥ 0.
    pub fn check(&self) -> Result<()> {
        let bad = |what: &str, v: f64| Error::InvalidArgument {
            name: "noise prior",
            reason: format!("{what} = {v}"),
        };
        if !(self.sigma_max.is_finite() && self.sigma_max > 0.0) {
            return Err(bad(
                "sigma_max must be finite and > 0, got sigma_max",
                self.sigma_max,
            ));
        }
        if !(self.density_power.is_finite() && self.density_power > -1.0) {
            return Err(bad(
                "the density σ^a must be integrable at 0 (finite a > −1), got a",
                self.density_power,
            ));
        }
        if !(self.weight_power.is_finite() && self.weight_power >= 0.0) {
            return Err(bad(
                "the loss weight's exponent must be finite and ≥ 0, got weight_power",
                self.weight_power,
            ));
        }
        if !(self.weight_floor.is_finite() && self.weight_floor >= 0.0) {
            return Err(bad(
                "the loss weight's floor must be finite and ≥ 0, got weight_floor",
                self.weight_floor,
            ));
        }
        Ok(())
    }

    /// log of density × weight at σ (unnormalised), per unit of σ.
    fn log_weight(&self, sigma: f64) -> f64 {
        let weight = if self.weight_power == 0.0 {
            0.0
        } else {
            -self.weight_power * sigma.max(self.weight_floor).ln()
        };
        self.density_power * sigma.ln() + weight
    }
}

/// Which optimum a [`BiasFreeMemorizer`] is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Optimum {
    /// At a known noise level σ > 0.
    Known(f64),
    /// Blind: σ drawn from the training law, errors weighted as in the training loss.
    Blind(NoisePrior),
}

/// The optimal positively homogeneous (bias-free) denoiser of a training set.
#[derive(Debug)]
pub struct BiasFreeMemorizer {
    /// x_i, `[n, d]` f64.
    train: Tensor,
    /// ‖x_i‖², `[n]` f64.
    train_sq: Tensor,
    image_shape: [i64; 3],
    optimum: Optimum,
}

impl BiasFreeMemorizer {
    /// The optimum for `train` (`[n, c, h, w]`, n ≥ 1) at noise level σ > 0, computing on that
    /// tensor's device in f64.
    pub fn new(train: &Tensor, sigma: f64) -> Result<Self> {
        NoiseLevel::Known(sigma).check("BiasFreeMemorizer::new")?;
        Self::build(train, Optimum::Known(sigma))
    }

    /// The blind optimum for `train` under the training law of σ and loss weight `prior`.
    pub fn blind(train: &Tensor, prior: NoisePrior) -> Result<Self> {
        prior.check()?;
        Self::build(train, Optimum::Blind(prior))
    }

    fn build(train: &Tensor, optimum: Optimum) -> Result<Self> {
        let (flat, train_sq, image_shape) =
            crate::reference::flat_training_set("BiasFreeMemorizer::new", train)?;
        Ok(Self {
            train: flat,
            train_sq,
            image_shape,
            optimum,
        })
    }

    /// The known-σ optimum of the same training set.
    pub fn with_sigma(&self, sigma: f64) -> Result<Self> {
        NoiseLevel::Known(sigma).check("BiasFreeMemorizer::with_sigma")?;
        Ok(Self {
            train: self.train.shallow_clone(),
            train_sq: self.train_sq.shallow_clone(),
            image_shape: self.image_shape,
            optimum: Optimum::Known(sigma),
        })
    }

    /// Which optimum this is.
    pub fn optimum(&self) -> Optimum {
        self.optimum
    }

    /// The posterior weights A_i/Σ_j A_j over the training images given the direction of each
    /// image of `y` (`[b, c, h, w]`): `[b, n]` f64, rows summing to 1.
    pub fn direction_weights(&self, y: &Tensor) -> Result<Tensor> {
        let (_, flat) = self.flatten(y, "BiasFreeMemorizer::direction_weights")?;
        let (_, log_a, _) = self.terms(&flat)?;
        Ok(log_a.f_softmax(1, Kind::Double)?)
    }

    /// (r = ‖y‖ `[b]`, log A_i `[b, n]`, log B_i `[b, n]`) for images `[b, d]`.
    fn terms(&self, flat: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
        let d = flat.size()[1] as f64;
        let r = flat
            .f_square()?
            .f_sum_dim_intlist([1i64].as_slice(), false, Kind::Double)?
            .f_sqrt()?; // [b]
                        // y = 0 has no direction; any u gives f(0) = 0·h(u) = 0.
        let u = flat.f_div(&r.f_clamp_min(f64::MIN_POSITIVE)?.f_unsqueeze(1)?)?;
        let c = u.f_matmul(&self.train.f_tr()?)?; // [b, n]
        let off_line = self
            .train_sq
            .f_unsqueeze(0)?
            .f_sub(&c.f_square()?)?
            .f_clamp_min(0.0)?;
        let to_vec = |t: &Tensor| -> Result<Vec<f64>> {
            Ok(Vec::<f64>::try_from(
                t.f_to_device(Device::Cpu)?.f_reshape([-1])?,
            )?)
        };
        let (cs, ds) = (to_vec(&c)?, to_vec(&off_line)?);
        let (mut log_a, mut log_b) = (Vec::with_capacity(cs.len()), Vec::with_capacity(cs.len()));
        for (&ci, &di) in cs.iter().zip(&ds) {
            let (a, b) = match self.optimum {
                Optimum::Known(sigma) => {
                    let base = -di / (2.0 * sigma * sigma);
                    (
                        base + log_radial_moment(d, ci, sigma),
                        base + log_radial_moment(d + 1.0, ci, sigma),
                    )
                }
                Optimum::Blind(prior) => blind_log_moments(&prior, d, ci, di),
            };
            log_a.push(a);
            log_b.push(b);
        }
        let back = |v: &[f64]| -> Result<Tensor> {
            Ok(Tensor::from_slice(v)
                .f_reshape(c.size())?
                .f_to_device(c.device())?)
        };
        Ok((r, back(&log_a)?, back(&log_b)?))
    }

    /// f(y) = r·Σ_i x_i A_i / Σ_i B_i.
    fn denoise_flat(&self, y: &Tensor, op: &'static str) -> Result<Tensor> {
        let (b, flat) = self.flatten(y, op)?;
        let (r, log_a, log_b) = self.terms(&flat)?;
        let num = log_a.f_softmax(1, Kind::Double)?.f_matmul(&self.train)?; // [b, d]
        let ratio = log_a
            .f_logsumexp([1i64], false)?
            .f_sub(&log_b.f_logsumexp([1i64], false)?)?
            .f_exp()?; // [b]
        let scale = r.f_mul(&ratio)?.f_unsqueeze(1)?;
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
            "bias-free memorizer n={} {:?}",
            self.train.size()[0],
            self.optimum
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

/// Laplace's approximation of [`log_radial_moment`] (relative error O(1/m)), to locate the blind
/// integrals' mass.
fn log_radial_moment_laplace(m: f64, c: f64, sigma: f64) -> f64 {
    let s2 = sigma * sigma;
    let m1 = m + 1.0;
    let k = 2.0 * m1 * s2;
    let root = (c * c + 2.0 * k).sqrt();
    let mode = if c < 0.0 {
        k / (root - c)
    } else {
        0.5 * (c + root)
    };
    let width = sigma / (mode * mode + m1 * s2).sqrt();
    m1 * mode.ln() - (mode - c).powi(2) / (2.0 * s2)
        + width.ln()
        + 0.5 * (2.0 * std::f64::consts::PI).ln()
}

/// (log A, log B) of the blind optimum for one pair: ∫ w(σ) σ^(−d) e^(−D/(2σ²)) I_m(c; σ) dσ for
/// m = d and d + 1, in log σ (dσ = σ·d log σ).
fn blind_log_moments(prior: &NoisePrior, d: f64, c: f64, dist2: f64) -> (f64, f64) {
    let top = prior.sigma_max.ln();
    let bottom = top - BLIND_LOG_RANGE;
    let integrand = |l: f64, m: f64, log_i: fn(f64, f64, f64) -> f64| -> f64 {
        let sigma = l.exp();
        prior.log_weight(sigma) + l - d * l - dist2 / (2.0 * sigma * sigma) + log_i(m, c, sigma)
    };
    let coarse_step = BLIND_LOG_RANGE / (BLIND_COARSE - 1) as f64;
    let coarse: Vec<f64> = (0..BLIND_COARSE)
        .map(|k| {
            integrand(
                bottom + coarse_step * k as f64,
                d,
                log_radial_moment_laplace,
            )
        })
        .collect();
    let peak = coarse.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let first = coarse
        .iter()
        .position(|&g| g >= peak - BLIND_DROP)
        .unwrap_or(0);
    let last = coarse
        .iter()
        .rposition(|&g| g >= peak - BLIND_DROP)
        .unwrap_or(BLIND_COARSE - 1);
    let lo = bottom + coarse_step * first.saturating_sub(1) as f64;
    let hi = (bottom + coarse_step * (last + 1) as f64).min(top);
    let step_max = 1.0 / (3.0 * (2.0 * (d + 1.0)).sqrt());
    let n_steps = (((hi - lo) / step_max).ceil() as usize).clamp(16, BLIND_MAX_STEPS);
    let step = (hi - lo) / n_steps as f64;
    let trapezoid = |m: f64| -> f64 {
        let values: Vec<f64> = (0..=n_steps)
            .map(|j| {
                let end = if j == 0 || j == n_steps {
                    0.5f64.ln()
                } else {
                    0.0
                };
                end + integrand(lo + step * j as f64, m, log_radial_moment)
            })
            .collect();
        let most = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        most + values.iter().map(|v| (v - most).exp()).sum::<f64>().ln() + step.ln()
    };
    (trapezoid(d), trapezoid(d + 1.0))
}
