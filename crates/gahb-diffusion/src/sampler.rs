//! The stochastic coarse-to-fine sampler of PAPER.md §4 (Algorithm 1 of the paper; Kadkhodaie &
//! Simoncelli 2021), driven only by a blind denoiser.
//!
//! With r(y) = y − f(y) the denoiser's residual (an estimate of the noise):
//! 1. x₀ = m + σ₀z₀, z₀ ~ N(0, I).
//! 2. Step t = 1, 2, …: h_t = h₀t/(1 + h₀(t − 1)) (ascending, the code default) or h_t = h₀ (fixed);
//!    r = r(x_{t−1}); σ_t = ‖r‖/√d; γ_t = σ_t·√((1 − βh_t)² − (1 − h_t)²);
//!    x_t = x_{t−1} − h_t·r + γ_t·z_t.
//! 3. Steps continue while σ_{t−1} ≥ σ_L, with σ₀ the estimate ‖r(x₀)‖/√d made before the loop;
//!    the run aborts when σ > `divergence_bound` (2 in the paper) or after `max_steps` steps.
//! 4. The output is one last denoising step, x̂ = x_T − r(x_T).
//!
//! # Batching and stopping
//! Many samples run together. σ_t is a per-image quantity, so each sample stops on its own: a
//! sample leaves the batch as soon as its own stopping rule fires, and the denoiser then runs on the
//! remaining samples only. Because all samples start together they share the step index t and hence
//! h_t. This gives every sample exactly the trajectory it would have had if run alone.
//!
//! # One denoiser call per step
//! The reference code evaluates r(x₀) twice (before the loop and in step 1) and then once per step
//! plus once for the output. Here iteration k computes r(x_k) once and uses it for the stopping test,
//! for the update x_k → x_{k+1}, and (when the sample stops at k) for the output x_k − r(x_k).
//! Step k + 1 runs iff σ(x_{k−1}) ≥ σ_L (σ(x₀) for k = 0), which is the code's lagged test, so the
//! trajectories and step counts equal the reference code's, with T + 1 denoiser calls for T steps.
//!
//! # Seeds
//! All noise comes from [`crate::noise`]: sample i's z₀ and every z_t depend only on (seed,
//! `first_sample_index` + i, t). Two denoisers given the same seed see exactly the same initial noise
//! and the same z at every step (PAPER.md §3, Fig. 2).

use std::time::{Duration, Instant};

use gahb_tensor::{check_batch, Denoiser};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};
use crate::noise::NoiseStreams;
use crate::scale_space::residual_sigma;

/// The mean m of the initial image x₀ ~ N(m, σ₀²I) (PAPER.md §4, "Initialisation").
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitMean {
    /// m = 0 (the reference code's `init_noise_mean` default).
    Zero,
    /// m = c at every pixel (0.5 in the 2021 code and the "halfmean" result files).
    Constant(f64),
    /// m = an image given to [`sample_with`] in [`SampleOptions::init_image`] (for example a
    /// training-set mean, as in the third-party reproduction, tagged R in PAPER.md).
    Image,
}

/// The step-size schedule h_t (PAPER.md §4, step 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepSchedule {
    /// h_t = h₀t/(1 + h₀(t − 1)), rising from h₀ towards 1 (reference code default, `fixed_h=False`).
    Ascending,
    /// h_t = h₀ (Algorithm 1 as printed).
    Fixed,
}

/// The sampler's parameters (PAPER.md §4). Every value is recorded with the samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamplerConfig {
    /// Initial step size h₀, in (0, 1). Paper: 0.01.
    pub h0: f64,
    /// Noise injection β, in (0, 1]: each step scales the effective noise by about 1 − βh_t;
    /// β = 1 is deterministic. Paper: 0.1.
    pub beta: f64,
    /// Standard deviation σ₀ of the initial image, > 0. Paper: 1.
    pub sigma0: f64,
    /// Stop once the effective noise level falls below σ_L, > 0. Paper: 0.05.
    pub sigma_l: f64,
    /// The mean of the initial image.
    pub init_mean: InitMean,
    /// The step-size schedule.
    pub schedule: StepSchedule,
    /// The most steps a sample may take (`max_T`); reaching it is a reported stop.
    pub max_steps: usize,
    /// A sample whose σ_t exceeds this (or is not finite) stops as diverged. Paper code: 2.
    pub divergence_bound: f64,
    /// Record the iterates and their one-shot denoised images every this many steps (step 0, the
    /// initial image, included); 0 records nothing.
    pub record_every: usize,
    /// The seed of all noise.
    pub seed: u64,
    /// Sample i uses noise stream `first_sample_index + i`, so a run split into chunks
    /// (0..100, then 100..200 with `first_sample_index = 100`) equals the unsplit run.
    pub first_sample_index: u64,
}

impl Default for SamplerConfig {
    /// The paper's values (PAPER.md §4, tagged P): h₀ = 0.01, β = 0.1, σ₀ = 1, σ_L = 0.05, ascending
    /// h_t, divergence at σ > 2.
    /// The initial mean is 0.5 (the "halfmean" of the paper's result files; `Zero` is the code's
    /// default) and the step limit is 10 000 (the upper end of the 2000–10 000 of the reproduction tagged R).
    fn default() -> Self {
        Self {
            h0: 0.01,
            beta: 0.1,
            sigma0: 1.0,
            sigma_l: 0.05,
            init_mean: InitMean::Constant(0.5),
            schedule: StepSchedule::Ascending,
            max_steps: 10_000,
            divergence_bound: 2.0,
            record_every: 0,
            seed: 0,
            first_sample_index: 0,
        }
    }
}

impl SamplerConfig {
    /// Checks every value's range, with a message that says what to change.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, reason: String| Err(Error::InvalidConfig { field, reason });
        if !(self.h0 > 0.0 && self.h0 < 1.0) {
            return bad(
                "h0",
                format!("the step size must lie in (0, 1), got {}", self.h0),
            );
        }
        if !(self.beta > 0.0 && self.beta <= 1.0) {
            return bad(
                "beta",
                format!(
                    "the noise injection β must lie in (0, 1], got {}",
                    self.beta
                ),
            );
        }
        if !(self.sigma0.is_finite() && self.sigma0 > 0.0) {
            return bad(
                "sigma0",
                format!(
                    "the initial noise level must be finite and > 0, got {}",
                    self.sigma0
                ),
            );
        }
        if !(self.sigma_l.is_finite() && self.sigma_l > 0.0) {
            return bad(
                "sigma_l",
                format!(
                    "the final noise level must be finite and > 0, got {}",
                    self.sigma_l
                ),
            );
        }
        if self.divergence_bound.is_nan() || self.divergence_bound <= self.sigma_l {
            return bad(
                "divergence_bound",
                format!(
                    "must exceed sigma_l = {}, got {}",
                    self.sigma_l, self.divergence_bound
                ),
            );
        }
        if self.max_steps == 0 {
            return bad("max_steps", "must be at least 1".into());
        }
        if let InitMean::Constant(c) = self.init_mean {
            if !c.is_finite() {
                return bad("init_mean", format!("the constant must be finite, got {c}"));
            }
        }
        Ok(())
    }

    /// The step size h_t of step t ≥ 1.
    pub fn step_size(&self, t: usize) -> f64 {
        match self.schedule {
            StepSchedule::Fixed => self.h0,
            StepSchedule::Ascending => {
                let t = t as f64;
                self.h0 * t / (1.0 + self.h0 * (t - 1.0))
            }
        }
    }

    /// Whether iterate `k`, whose effective noise level is `sigma`, is the last one, given the
    /// previous iterate's level `prev` (`None` at k = 0): diverged beyond `divergence_bound` (or
    /// not finite), converged by the lagged σ_L rule, or at the step limit.
    pub fn stop_reason(&self, prev: Option<f64>, sigma: f64, k: usize) -> Option<StopReason> {
        if !sigma.is_finite() || sigma > self.divergence_bound {
            Some(StopReason::Diverged)
        } else if prev.unwrap_or(sigma) < self.sigma_l {
            Some(StopReason::Converged)
        } else if k == self.max_steps {
            Some(StopReason::StepLimit)
        } else {
            None
        }
    }

    /// The factor γ_t/σ_t = √((1 − βh)² − (1 − h)²) of the injected noise at step size h.
    pub fn noise_factor(&self, h: f64) -> f64 {
        ((1.0 - self.beta * h).powi(2) - (1.0 - h).powi(2))
            .max(0.0)
            .sqrt()
    }
}

/// Why a sample stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The effective noise level fell below σ_L.
    Converged,
    /// The sample took `max_steps` steps.
    StepLimit,
    /// σ_t exceeded `divergence_bound` or was not finite; its output is not a sample.
    Diverged,
}

/// One sample's path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleTrace {
    /// The number of steps T taken (denoiser calls on this sample: T + 1).
    pub steps: usize,
    /// Why it stopped.
    pub stop: StopReason,
    /// `sigma[k]` = ‖r(x_k)‖/√d, the effective noise level of iterate k, for k = 0..=T.
    /// In the paper's indexing σ_t = `sigma[t − 1]`.
    pub sigma: Vec<f64>,
}

/// The iterates of the samples still running at one step, copied to the CPU.
#[derive(Debug)]
pub struct Snapshot {
    /// The step k (0 is the initial image).
    pub step: usize,
    /// The sample indices of the rows below.
    pub sample_indices: Vec<usize>,
    /// The iterates x_k, `[m, c, h, w]`.
    pub iterates: Tensor,
    /// Their one-shot denoised images x_k − r(x_k) = f(x_k), `[m, c, h, w]` (PAPER.md Fig. 8).
    pub denoised: Tensor,
}

/// Where the time went.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Wall-clock seconds of the whole run.
    pub total_s: f64,
    /// Seconds inside the denoiser (on CUDA the device is synchronised before the clock stops).
    pub denoiser_s: f64,
    /// Denoiser calls (batches).
    pub denoiser_calls: usize,
    /// Images passed through the denoiser, summed over calls.
    pub denoised_images: usize,
    /// Steps of the longest-running sample.
    pub steps: usize,
}

impl Timing {
    /// The sampler's own share of the time, (total − denoiser)/total.
    pub fn overhead_fraction(&self) -> f64 {
        if self.total_s > 0.0 {
            ((self.total_s - self.denoiser_s) / self.total_s).max(0.0)
        } else {
            0.0
        }
    }

    /// Steps per second of wall-clock time (each step advances every running sample).
    pub fn steps_per_second(&self) -> f64 {
        if self.total_s > 0.0 {
            self.steps as f64 / self.total_s
        } else {
            0.0
        }
    }
}

/// A progress report, given to [`SampleOptions::progress`] after every step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Steps taken so far.
    pub step: usize,
    /// Samples still running.
    pub n_active: usize,
    /// All samples.
    pub n_samples: usize,
    /// The smallest σ among the running samples at this step.
    pub sigma_min: f64,
    /// The largest σ among the running samples at this step.
    pub sigma_max: f64,
    /// Time since the run started.
    pub elapsed: Duration,
}

/// Optional inputs of [`sample_with`].
#[derive(Default)]
pub struct SampleOptions<'a> {
    /// The mean image m for [`InitMean::Image`], `[c, h, w]` or `[1, c, h, w]`.
    pub init_image: Option<&'a Tensor>,
    /// Called after every step.
    pub progress: Option<&'a mut dyn FnMut(&Progress)>,
}

/// What [`predict_gaussian_moments`] expects of Algorithm 1 on a Gaussian prior.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GaussianPrediction {
    /// Steps T before the stopping rule fires in this expectation model. The sampler's
    /// `timing.steps` can be larger: at small d its ‖r‖/√d estimate fluctuates and γ_t feeds the
    /// fluctuation back (98-103 steps measured against 73 predicted for the d = 64 test prior).
    pub steps: usize,
    /// Per prior direction k (λ_k > 0): the variance of the output x̂ = f(x_T) about the prior
    /// mean, divided by λ_k. 1 would be exact sampling.
    pub output_ratio: Vec<f64>,
    /// The same for the last iterate x_T, which still holds noise of variance `final_sigma²`.
    pub iterate_ratio: Vec<f64>,
    /// The standard deviation of the noise left in x_T.
    pub final_sigma: f64,
}

/// The second moments that Algorithm 1 (this module's [`sample`]) is expected to produce on a
/// Gaussian prior with covariance eigenvalues `eigvals` (the rest of the `dim` directions have
/// λ = 0), under `config`'s schedule.
///
/// The model: in prior direction k the iterate's coefficient has variance v_k; the denoiser is the
/// Wiener filter g_k = λ_k/(λ_k + s²) at the noise variance s² that the iterate holds (v of a λ = 0
/// direction); σ_t² = Σ_k (1 − g_k)²v_k/d is the expected ‖r‖²/d; one step maps
/// v_k ← (1 − h_t(1 − g_k))²v_k + γ_t². Starting from v_k = σ₀², the same lagged stopping rule as
/// the sampler's ends the run, and the output variance is g_k²v_k.
///
/// Why it matters: the step adds γ_t² so that the noise variance falls from s² to (1 − βh_t)²s², and
/// it does, but in a direction whose λ_k is comparable with s² the step also shrinks the signal,
/// leaving v_k short of λ_k + (1 − βh_t)²s² by h_t²s²λ_k/(λ_k + s²). Once s² ≪ λ_k nothing restores
/// it. While s² is near λ_k the step forgets old deficits at the rate h_t, so each direction keeps a
/// relative deficit of about h_t/2, h_t taken at the step where s² crossed λ_k. With the ascending
/// schedule h_t grows towards 1 late in the run, so the deficit is largest for the small-variance
/// directions: at the paper's h₀ = 0.01 an 8-dimensional prior with variances 0.3 …
/// 0.063 in d = 64 comes out with about 0.80 of its variance, at h₀ = 0.0005 with 0.93, and with a
/// fixed h_t = 0.01 with 0.98 (the final denoising step alone would give 0.98). The blind denoisers
/// of [`crate::reference`] follow it to within a few hundredths (`tests/known_answers.rs`).
///
/// Errors: an invalid config, `dim` smaller than the number of eigenvalues, or an eigenvalue that is
/// not finite and ≥ 0.
pub fn predict_gaussian_moments(
    eigvals: &[f64],
    dim: usize,
    config: &SamplerConfig,
) -> Result<GaussianPrediction> {
    config.validate()?;
    if dim < eigvals.len() || dim == 0 {
        return Err(Error::InvalidArgument {
            name: "dim",
            reason: format!(
                "must be at least the number of eigenvalues ({}) and > 0, got {dim}",
                eigvals.len()
            ),
        });
    }
    if let Some(bad) = eigvals.iter().find(|l| !(l.is_finite() && **l >= 0.0)) {
        return Err(Error::InvalidArgument {
            name: "eigvals",
            reason: format!("every eigenvalue must be finite and >= 0, got {bad}"),
        });
    }
    let d = dim as f64;
    let null_dims = (dim - eigvals.len()) as f64;
    let s0 = config.sigma0 * config.sigma0;
    let mut v = vec![s0; eigvals.len()];
    let mut s2 = s0; // the variance of a λ = 0 direction: the noise left in the iterate
    let mut prev: Option<f64> = None;
    let mut k = 0usize;
    loop {
        let gains: Vec<f64> = eigvals
            .iter()
            .map(|&l| if l > 0.0 { l / (l + s2) } else { 0.0 })
            .collect();
        let r2: f64 = gains
            .iter()
            .zip(&v)
            .map(|(g, vk)| (1.0 - g).powi(2) * vk)
            .sum::<f64>()
            + null_dims * s2;
        let sig = (r2 / d).sqrt();
        if config.stop_reason(prev, sig, k).is_some() {
            let ratio = |f: &dyn Fn(f64, f64) -> f64| -> Vec<f64> {
                eigvals
                    .iter()
                    .zip(gains.iter().zip(&v))
                    .filter(|(l, _)| **l > 0.0)
                    .map(|(l, (g, vk))| f(*g, *vk) / l)
                    .collect()
            };
            return Ok(GaussianPrediction {
                steps: k,
                output_ratio: ratio(&|g, vk| g * g * vk),
                iterate_ratio: ratio(&|_, vk| vk),
                final_sigma: s2.sqrt(),
            });
        }
        k += 1;
        let h = config.step_size(k);
        let gamma2 = (sig * config.noise_factor(h)).powi(2);
        for (vk, g) in v.iter_mut().zip(&gains) {
            *vk = (1.0 - h * (1.0 - g)).powi(2) * *vk + gamma2;
        }
        s2 = (1.0 - h).powi(2) * s2 + gamma2;
        prev = Some(sig);
    }
}

/// The result of a sampling run.
#[derive(Debug)]
pub struct SampleRun {
    /// The samples x̂ = x_T − r(x_T), `[n, c, h, w]` f32 on the denoiser's device.
    pub samples: Tensor,
    /// The last iterates x_T before the final denoising step, `[n, c, h, w]`.
    pub last_iterates: Tensor,
    /// The initial images x₀ = m + σ₀z₀, `[n, c, h, w]`.
    pub initial: Tensor,
    /// Per-sample step counts, stop reasons and σ trajectories.
    pub traces: Vec<SampleTrace>,
    /// h_t for t = 1..=T of the longest run.
    pub step_sizes: Vec<f64>,
    /// Recorded iterates (every `record_every` steps).
    pub snapshots: Vec<Snapshot>,
    /// Time inside and outside the denoiser.
    pub timing: Timing,
    /// The validated configuration the run used.
    pub config: SamplerConfig,
    /// The denoiser's name.
    pub denoiser: String,
}

/// What a run reports: everything but the tensors (serde, for a run's saved report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleSummary {
    /// The configuration.
    pub config: SamplerConfig,
    /// The denoiser's name.
    pub denoiser: String,
    /// `[c, h, w]`.
    pub image_shape: Vec<i64>,
    /// Samples that converged, hit the step limit, diverged.
    pub n_converged: usize,
    /// See `n_converged`.
    pub n_step_limit: usize,
    /// See `n_converged`.
    pub n_diverged: usize,
    /// Per-sample traces.
    pub traces: Vec<SampleTrace>,
    /// h_t for t = 1..=T.
    pub step_sizes: Vec<f64>,
    /// Timing.
    pub timing: Timing,
    /// The sampler's own share of the time.
    pub overhead_fraction: f64,
}

impl SampleRun {
    /// The serialisable summary of the run.
    pub fn summary(&self) -> SampleSummary {
        let count = |r| self.traces.iter().filter(|t| t.stop == r).count();
        SampleSummary {
            config: self.config.clone(),
            denoiser: self.denoiser.clone(),
            image_shape: self.samples.size()[1..].to_vec(),
            n_converged: count(StopReason::Converged),
            n_step_limit: count(StopReason::StepLimit),
            n_diverged: count(StopReason::Diverged),
            traces: self.traces.clone(),
            step_sizes: self.step_sizes.clone(),
            timing: self.timing,
            overhead_fraction: self.timing.overhead_fraction(),
        }
    }
}

/// Draws `n_samples` images of shape `image_shape` = `[c, h, w]` from the prior implicit in
/// `denoiser` (PAPER.md §4), with no progress reporting and no initial mean image.
pub fn sample<D: Denoiser + ?Sized>(
    denoiser: &D,
    config: &SamplerConfig,
    n_samples: usize,
    image_shape: [i64; 3],
) -> Result<SampleRun> {
    sample_with(
        denoiser,
        config,
        n_samples,
        image_shape,
        SampleOptions::default(),
    )
}

/// Draws `n_samples` images of shape `image_shape` = `[c, h, w]` (PAPER.md §4), see the module docs.
///
/// Errors: an invalid config, a missing or misshapen initial image, a denoiser error, or a denoiser
/// whose output shape differs from its input's. A diverging sample is not an error: it stops with
/// [`StopReason::Diverged`]. The run always ends after at most `max_steps` steps.
pub fn sample_with<D: Denoiser + ?Sized>(
    denoiser: &D,
    config: &SamplerConfig,
    n_samples: usize,
    image_shape: [i64; 3],
    options: SampleOptions<'_>,
) -> Result<SampleRun> {
    let start = Instant::now();
    config.validate()?;
    if n_samples == 0 {
        return Err(Error::InvalidArgument {
            name: "n_samples",
            reason: "need at least one sample".into(),
        });
    }
    if image_shape.iter().any(|&s| s <= 0) {
        return Err(Error::InvalidArgument {
            name: "image_shape",
            reason: format!("every dimension must be > 0, got {image_shape:?}"),
        });
    }
    let SampleOptions {
        init_image,
        mut progress,
    } = options;
    let _guard = tch::no_grad_guard();
    let device = denoiser.device();
    let [c, h, w] = image_shape;
    let d = (c * h * w) as usize;
    let n = n_samples;
    let full = [n as i64, c, h, w];
    let opts = (Kind::Float, device);

    let mean = initial_mean(config, init_image, image_shape, device)?;
    let mut noise = NoiseStreams::new(config.seed, config.first_sample_index, n, d)?;
    let all: Vec<usize> = (0..n).collect();
    let z0 = noise_tensor(noise.next_rows(&all)?, n, image_shape, device)?;
    let initial = z0.f_mul_scalar(config.sigma0)?.f_add(&mean)?;

    let samples = Tensor::f_zeros(full, opts)?;
    let last_iterates = Tensor::f_zeros(full, opts)?;
    let mut traces: Vec<SampleTrace> = (0..n)
        .map(|_| SampleTrace {
            steps: 0,
            stop: StopReason::StepLimit,
            sigma: Vec::new(),
        })
        .collect();
    let mut prev_sigma: Vec<Option<f64>> = vec![None; n];
    let mut step_sizes = Vec::new();
    let mut snapshots = Vec::new();
    let mut timing = Timing {
        total_s: 0.0,
        denoiser_s: 0.0,
        denoiser_calls: 0,
        denoised_images: 0,
        steps: 0,
    };

    // The running samples (sorted indices) and their iterates x_k.
    let mut active = all;
    let mut x = initial.shallow_clone();
    let mut k = 0usize;
    loop {
        let t0 = Instant::now();
        let fx = denoiser.denoise(&x)?;
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
        timing.denoiser_s += t0.elapsed().as_secs_f64();
        timing.denoiser_calls += 1;
        timing.denoised_images += active.len();
        if fx.size() != x.size() {
            return Err(Error::DenoiserOutput {
                denoiser: denoiser.name(),
                expected: x.size(),
                got: fx.size(),
            });
        }
        let fx = fx.f_to_kind(Kind::Float)?.f_to_device(device)?;
        let r = x.f_sub(&fx)?;
        let sig = residual_sigma(&r)?;

        if config.record_every > 0 && k.is_multiple_of(config.record_every) {
            snapshots.push(Snapshot {
                step: k,
                sample_indices: active.clone(),
                iterates: x.f_to_device(Device::Cpu)?,
                denoised: fx.f_to_device(Device::Cpu)?,
            });
        }

        // Decide, sample by sample, whether iterate k is the last one.
        let mut keep = Vec::with_capacity(active.len());
        let mut done = Vec::new();
        for (pos, (&i, &s)) in active.iter().zip(&sig).enumerate() {
            let trace = &mut traces[i];
            trace.sigma.push(s);
            match config.stop_reason(prev_sigma[i], s, k) {
                Some(reason) => {
                    trace.stop = reason;
                    trace.steps = k;
                    done.push((pos as i64, i as i64));
                }
                None => keep.push(pos),
            }
        }
        if !done.is_empty() {
            let pos = Tensor::from_slice(&done.iter().map(|p| p.0).collect::<Vec<_>>())
                .f_to_device(device)?;
            let idx = Tensor::from_slice(&done.iter().map(|p| p.1).collect::<Vec<_>>())
                .f_to_device(device)?;
            let mut out = samples.shallow_clone();
            let _ = out.f_index_copy_(0, &idx, &fx.f_index_select(0, &pos)?)?;
            let mut out = last_iterates.shallow_clone();
            let _ = out.f_index_copy_(0, &idx, &x.f_index_select(0, &pos)?)?;
        }
        if keep.is_empty() {
            break;
        }
        let (x_keep, r_keep) = if keep.len() < active.len() {
            let pos = Tensor::from_slice(&keep.iter().map(|&p| p as i64).collect::<Vec<_>>())
                .f_to_device(device)?;
            (x.f_index_select(0, &pos)?, r.f_index_select(0, &pos)?)
        } else {
            (x, r)
        };
        let sig_keep: Vec<f64> = keep.iter().map(|&p| sig[p]).collect();
        active = keep.iter().map(|&p| active[p]).collect();

        // Step k + 1: x ← x − h·r + γ·z.
        k += 1;
        let hk = config.step_size(k);
        step_sizes.push(hk);
        let factor = config.noise_factor(hk);
        let gamma: Vec<f32> = sig_keep.iter().map(|s| (s * factor) as f32).collect();
        let gamma = Tensor::from_slice(&gamma)
            .f_to_device(device)?
            .f_reshape([-1, 1, 1, 1])?;
        let z = noise_tensor(noise.next_rows(&active)?, active.len(), image_shape, device)?;
        x = x_keep
            .f_sub(&r_keep.f_mul_scalar(hk)?)?
            .f_add(&z.f_mul(&gamma)?)?;
        for (&i, &s) in active.iter().zip(&sig_keep) {
            prev_sigma[i] = Some(s);
        }
        if let Some(cb) = progress.as_mut() {
            let (lo, hi) = sig_keep
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &s| {
                    (lo.min(s), hi.max(s))
                });
            cb(&Progress {
                step: k,
                n_active: active.len(),
                n_samples: n,
                sigma_min: lo,
                sigma_max: hi,
                elapsed: start.elapsed(),
            });
        }
    }
    drop(noise);
    timing.steps = k;
    timing.total_s = start.elapsed().as_secs_f64();
    Ok(SampleRun {
        samples,
        last_iterates,
        initial,
        traces,
        step_sizes,
        snapshots,
        timing,
        config: config.clone(),
        denoiser: denoiser.name(),
    })
}

fn noise_tensor(data: Vec<f32>, m: usize, image_shape: [i64; 3], device: Device) -> Result<Tensor> {
    let [c, h, w] = image_shape;
    Ok(Tensor::from_slice(&data)
        .f_reshape([m as i64, c, h, w])?
        .f_to_device(device)?)
}

/// The mean image m as a `[1, c, h, w]` f32 tensor on `device`.
fn initial_mean(
    config: &SamplerConfig,
    init_image: Option<&Tensor>,
    image_shape: [i64; 3],
    device: Device,
) -> Result<Tensor> {
    let [c, h, w] = image_shape;
    let opts = (Kind::Float, device);
    match (config.init_mean, init_image) {
        (InitMean::Zero, None) => Ok(Tensor::f_zeros([1, c, h, w], opts)?),
        (InitMean::Constant(v), None) => Ok(Tensor::f_full([1, c, h, w], v, opts)?),
        (InitMean::Image, Some(m)) => {
            let size = m.size();
            let ok = size == image_shape || size == [1, c, h, w];
            if !ok {
                return Err(Error::ShapeMismatch {
                    op: "sampler initial mean image",
                    expected: format!("[{c}, {h}, {w}] or [1, {c}, {h}, {w}]"),
                    got: size,
                });
            }
            check_batch("sampler initial mean image", &m.f_reshape([1, c, h, w])?)?;
            Ok(m.f_reshape([1, c, h, w])?
                .f_to_kind(Kind::Float)?
                .f_to_device(device)?)
        }
        (InitMean::Image, None) => Err(Error::InvalidArgument {
            name: "init_image",
            reason: "init_mean = image needs SampleOptions::init_image".into(),
        }),
        (_, Some(_)) => Err(Error::InvalidArgument {
            name: "init_image",
            reason: "an initial image was given but init_mean is not `image`".into(),
        }),
    }
}
