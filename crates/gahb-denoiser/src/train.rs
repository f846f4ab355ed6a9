//! Universal blind training (paper §2): y = x + σz with σ drawn per image and no noise level given
//! to the network; loss = per-image sum of squared errors of the predicted noise, averaged over the
//! batch; Adam with the learning rate halved at fixed epochs.
//!
//! # Determinism and exact resume
//! Every random draw of step `s` comes from libtorch's global generator reseeded just before it is
//! used, by the scheme of `gahb_tensor::seed`: with `torch_seed(derive_seed(seed, "noise"), s)` for
//! the noise, and `torch_seed(derive_seed(seed, "permutation"), epoch)` for the epoch's shuffling.
//! A run therefore depends only on the seed, the config, the data and the step number, so training
//! k steps, saving, loading and training k more gives the same parameters as 2k steps in one go
//! (on CPU; tested). The cost is that training reseeds the global generator.

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use gahb_tensor::seed::{derive_seed, torch_seed};

use crate::adam::Adam;
use crate::error::{invalid, Error, Result};
use crate::layers::Mode;
use crate::model::Model;
use crate::net::{check_input, ResidualNet};

/// How σ is drawn for each training image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseSampling {
    /// σ ~ U[0, σ_max], as the paper states.
    Uniform,
    /// σ = σ_max·U², U ~ U[0, 1], as the reference code does (`quadratic_noise=True`).
    Quadratic,
}

/// How each image's squared error is weighted by its noise level in the training loss.
///
/// Every weighting has the same minimiser at each σ (the conditional mean, for a network that can
/// represent it); they differ in how a finite network and a finite training run share their effort
/// across σ. The unweighted loss is dominated by the largest σ (its error grows as σ²), so short
/// runs learn small σ last.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum LossWeight {
    /// The paper's loss: the plain sum of squared errors.
    #[default]
    None,
    /// Squared error divided by max(σ, floor)^power. `power = 2` counts every noise level by its
    /// relative error; `power = 1` sits between that and the paper's loss. Not the paper's loss: a
    /// faster recipe for short CPU runs.
    InversePower {
        /// The exponent of σ in the divisor (> 0).
        power: f64,
        /// Smallest σ used in the weight, so that σ → 0 does not blow the weight up.
        floor: f64,
    },
}

impl LossWeight {
    /// Whether this is the paper's unweighted loss (such configs serialise without the field, so
    /// their cache keys and checkpoints do not change).
    pub fn is_none(&self) -> bool {
        matches!(self, LossWeight::None)
    }
}

/// The shape of the learning rate over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum LrSchedule {
    /// The paper's: `lr · lr_gamma^k` after the k-th of `lr_milestones`.
    #[default]
    Milestones,
    /// A linear warm-up from 0 over `warmup` steps, then a half cosine from `lr` down to
    /// `lr · final_fraction` at the last step of the plan. Not the paper's schedule: the decay
    /// depends on the run's length, so such a run cannot be extended.
    Cosine {
        /// Warm-up steps (0: none).
        warmup: usize,
        /// The learning rate at the last step, as a fraction of `lr` (in [0, 1]).
        final_fraction: f64,
    },
}

impl LrSchedule {
    /// Whether this is the paper's milestone schedule (such configs serialise without the field, so
    /// their cache keys do not change).
    pub fn is_milestones(&self) -> bool {
        matches!(self, LrSchedule::Milestones)
    }
}

/// The unit of the learning-rate milestones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleUnit {
    /// Milestones count epochs (the paper: 100, 200, ..., 900).
    Epochs,
    /// Milestones count optimisation steps.
    Steps,
}

/// Training hyper-parameters. `Default` is the paper's (§2). How a run is carried out (checkpoints,
/// resume, progress bar) is not a hyper-parameter: it is [`crate::run::RunOptions`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Images per step (512 in the paper).
    pub batch_size: usize,
    /// Training length in epochs; exactly one of `epochs` and `steps` is set.
    #[serde(default)]
    pub epochs: Option<usize>,
    /// Training length in steps; exactly one of `epochs` and `steps` is set.
    #[serde(default)]
    pub steps: Option<usize>,
    /// Images per epoch: the training set is tiled max(1, floor(epoch_images / N)) times per epoch
    /// (the reference tiles to about 250,000). `None`: one pass over the N images per epoch.
    #[serde(default)]
    pub epoch_images: Option<usize>,
    /// Initial learning rate (1e-3).
    pub lr: f64,
    /// Factor applied at each milestone (0.5).
    pub lr_gamma: f64,
    /// Milestones, ascending (epochs 100, 200, ..., 900 in the paper).
    pub lr_milestones: Vec<usize>,
    /// Unit of `lr_milestones`.
    pub milestone_unit: ScheduleUnit,
    /// Adam's β₁ and β₂ (0.9, 0.999).
    #[serde(default = "default_betas")]
    pub adam_betas: [f64; 2],
    /// Adam's ε (1e-8).
    #[serde(default = "default_eps")]
    pub adam_eps: f64,
    /// Largest noise standard deviation on the [0, 1] intensity scale (1.0).
    pub sigma_max: f64,
    /// How σ is drawn.
    pub noise: NoiseSampling,
    /// How the loss weights each noise level (the paper: not at all).
    #[serde(default, skip_serializing_if = "LossWeight::is_none")]
    pub loss_weight: LossWeight,
    /// The learning-rate schedule (the paper: milestones).
    #[serde(default, skip_serializing_if = "LrSchedule::is_milestones")]
    pub schedule: LrSchedule,
    /// Exponential moving average of the weights with this decay (e.g. 0.999): the saved and
    /// returned model is the average, and training continues from the raw weights on resume.
    /// `None` (the paper): the last iterate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ema: Option<f64>,
    /// Rescale the gradient to this global L2 norm when it is larger (`None`, the paper: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_grad_norm: Option<f64>,
    /// Seed of the shuffling and the noise.
    pub seed: u64,
}

fn default_betas() -> [f64; 2] {
    [0.9, 0.999]
}

fn default_eps() -> f64 {
    1e-8
}

impl Default for TrainConfig {
    /// The paper's schedule: batch 512, 1000 epochs of about 250k images, Adam lr 1e-3 halved at
    /// epochs 100, ..., 900, σ ~ U[0, 1].
    fn default() -> Self {
        Self {
            batch_size: 512,
            epochs: Some(1000),
            steps: None,
            epoch_images: Some(250_000),
            lr: 1e-3,
            lr_gamma: 0.5,
            lr_milestones: (1..10).map(|i| 100 * i).collect(),
            milestone_unit: ScheduleUnit::Epochs,
            adam_betas: default_betas(),
            adam_eps: default_eps(),
            sigma_max: 1.0,
            noise: NoiseSampling::Uniform,
            loss_weight: LossWeight::None,
            schedule: LrSchedule::Milestones,
            ema: None,
            clip_grad_norm: None,
            seed: 0,
        }
    }
}

/// The largest accepted learning rate: Adam with a larger one diverges at the first step.
pub const MAX_LR: f64 = 1.0;

/// The largest accepted σ_max, on the [0, 1] intensity scale (the paper trains up to 1).
pub const MAX_SIGMA: f64 = 10.0;

/// The memory assumed when `/proc/meminfo` cannot be read (16 GiB).
const FALLBACK_MEMORY_BYTES: u64 = 16 << 30;

/// The machine's memory in bytes: `MemTotal` of `/proc/meminfo`, or [`FALLBACK_MEMORY_BYTES`].
fn memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            kib.checked_mul(1024)
        })
        .unwrap_or(FALLBACK_MEMORY_BYTES)
}

/// Checks that a run of `steps` steps fits in memory: training keeps one (step, loss) record per
/// step, allocated up front, so an absurd length is refused here with the bytes it would need.
fn check_steps(field: &'static str, steps: usize) -> Result<()> {
    let per_step = std::mem::size_of::<(usize, f64)>() as u128;
    let bytes = steps as u128 * per_step;
    let memory = memory_bytes();
    if bytes > u128::from(memory) {
        return Err(invalid(
            field,
            format!(
                "{steps} training steps would need {bytes} bytes for the loss record \
                 ({per_step} bytes a step), more than this machine's {memory} bytes of memory: \
                 train for fewer steps"
            ),
        ));
    }
    Ok(())
}

/// Checks that a batch of `batch` images of `pixels` values each fits in memory: a step holds the
/// clean batch, its noise and the noisy batch (3 × 4 bytes a pixel) before any activation.
fn check_batch_memory(batch: usize, pixels: usize) -> Result<()> {
    let per_image = 12 * pixels as u128;
    let bytes = batch as u128 * per_image;
    let memory = memory_bytes();
    if bytes > u128::from(memory) || i64::try_from(batch).is_err() {
        return Err(invalid(
            "batch_size",
            format!(
                "a batch of {batch} images would need at least {bytes} bytes ({per_image} bytes \
                 an image: clean, noise and noisy), more than this machine's {memory} bytes of \
                 memory: use a smaller batch_size"
            ),
        ));
    }
    Ok(())
}

/// The step plan of a config for a training set of `n_images`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Training images N.
    pub n_images: usize,
    /// How many times the set is tiled per epoch.
    pub tiles: usize,
    /// Steps per epoch, ceil(N·tiles / batch); the last batch of an epoch may be smaller.
    pub steps_per_epoch: usize,
    /// Total steps.
    pub total_steps: usize,
}

impl TrainConfig {
    /// Checks the values; [`crate::run::train`] calls it.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(invalid("batch_size", "must be at least 1, got 0"));
        }
        // Before the images are known: a batch needs at least one f32 pixel per image.
        check_batch_memory(self.batch_size, 1)?;
        if let LossWeight::InversePower { power, floor } = self.loss_weight {
            if !(floor.is_finite() && floor > 0.0) {
                return Err(invalid(
                    "loss_weight.floor",
                    format!("must be finite and > 0, got {floor}"),
                ));
            }
            if !(power.is_finite() && power > 0.0) {
                return Err(invalid(
                    "loss_weight.power",
                    format!("must be finite and > 0, got {power}"),
                ));
            }
        }
        match (self.epochs, self.steps) {
            (Some(0), None) => return Err(invalid("epochs", "must be at least 1, got 0")),
            (None, Some(0)) => return Err(invalid("steps", "must be at least 1, got 0")),
            (Some(_), None) | (None, Some(_)) => {}
            _ => {
                return Err(invalid(
                    "epochs/steps",
                    "set exactly one of epochs and steps",
                ))
            }
        }
        if self.epoch_images == Some(0) {
            return Err(invalid(
                "epoch_images",
                "must be at least 1 when set, got 0",
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr <= MAX_LR) {
            return Err(invalid(
                "lr",
                format!(
                    "must be in (0, {MAX_LR}] (the paper's is 1e-3; larger rates make the loss \
                     non-finite at once), got {}",
                    self.lr
                ),
            ));
        }
        if !(self.lr_gamma > 0.0 && self.lr_gamma <= 1.0) {
            return Err(invalid(
                "lr_gamma",
                format!("must be in (0, 1], got {}", self.lr_gamma),
            ));
        }
        if self.lr_milestones.windows(2).any(|w| w[0] >= w[1]) {
            return Err(invalid(
                "lr_milestones",
                format!("must be strictly ascending, got {:?}", self.lr_milestones),
            ));
        }
        if self.adam_betas.iter().any(|b| !(0.0..1.0).contains(b)) {
            return Err(invalid(
                "adam_betas",
                format!("must be in [0, 1), got {:?}", self.adam_betas),
            ));
        }
        if self.adam_eps.is_nan() || self.adam_eps <= 0.0 {
            return Err(invalid(
                "adam_eps",
                format!("must be > 0, got {}", self.adam_eps),
            ));
        }
        if let LrSchedule::Cosine { final_fraction, .. } = self.schedule {
            if !(0.0..=1.0).contains(&final_fraction) {
                return Err(invalid(
                    "schedule.final_fraction",
                    format!("must be in [0, 1], got {final_fraction}"),
                ));
            }
        }
        if let Some(d) = self.ema {
            if !(d > 0.0 && d < 1.0) {
                return Err(invalid("ema", format!("must be in (0, 1), got {d}")));
            }
        }
        if let Some(c) = self.clip_grad_norm {
            if !(c.is_finite() && c > 0.0) {
                return Err(invalid(
                    "clip_grad_norm",
                    format!("must be finite and > 0, got {c}"),
                ));
            }
        }
        if !(self.sigma_max.is_finite() && self.sigma_max > 0.0 && self.sigma_max <= MAX_SIGMA) {
            return Err(invalid(
                "sigma_max",
                format!(
                    "must be in (0, {MAX_SIGMA}] on the [0, 1] intensity scale (the paper's is 1), \
                     got {}",
                    self.sigma_max
                ),
            ));
        }
        if let Some(steps) = self.steps {
            check_steps("steps", steps)?;
        }
        Ok(())
    }

    /// The step plan for `n_images` training images.
    pub fn plan(&self, n_images: usize) -> Result<Plan> {
        self.validate()?;
        if n_images == 0 {
            return Err(invalid("training images", "the training set is empty"));
        }
        let tiles = self.epoch_images.map_or(1, |e| (e / n_images).max(1));
        let steps_per_epoch = (n_images * tiles).div_ceil(self.batch_size);
        let total_steps = match (self.epochs, self.steps) {
            (Some(e), _) => e.checked_mul(steps_per_epoch).ok_or_else(|| {
                invalid(
                    "epochs",
                    format!("{e} epochs of {steps_per_epoch} steps overflow the step count"),
                )
            })?,
            (_, Some(s)) => s,
            _ => unreachable!("invariant: validate checked that one of epochs and steps is set"),
        };
        check_steps(
            if self.steps.is_some() {
                "steps"
            } else {
                "epochs"
            },
            total_steps,
        )?;
        Ok(Plan {
            n_images,
            tiles,
            steps_per_epoch,
            total_steps,
        })
    }

    /// The learning rate at (0-based) `step`.
    pub fn lr_at(&self, plan: &Plan, step: usize) -> f64 {
        if let LrSchedule::Cosine {
            warmup,
            final_fraction,
        } = self.schedule
        {
            if step < warmup {
                return self.lr * (step + 1) as f64 / (warmup + 1) as f64;
            }
            let span = plan.total_steps.saturating_sub(warmup + 1).max(1) as f64;
            let t = ((step - warmup) as f64 / span).min(1.0);
            let floor = self.lr * final_fraction;
            return floor + (self.lr - floor) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos());
        }
        let pos = match self.milestone_unit {
            ScheduleUnit::Epochs => step / plan.steps_per_epoch,
            ScheduleUnit::Steps => step,
        };
        let n = self.lr_milestones.iter().filter(|&&m| pos >= m).count();
        self.lr * self.lr_gamma.powi(n as i32)
    }

    /// True when `other` trains the same way except for its length (so a resumed run may be
    /// extended). Run settings are not part of a config at all ([`crate::run::RunOptions`]).
    /// A cosine schedule decays over the whole run, so there the length must match too.
    pub fn same_training_as(&self, other: &TrainConfig) -> bool {
        if !self.schedule.is_milestones() || !other.schedule.is_milestones() {
            return self == other;
        }
        let length_free = |c: &TrainConfig| TrainConfig {
            epochs: None,
            steps: None,
            ..c.clone()
        };
        length_free(self) == length_free(other)
    }
}

/// One finished step, passed to the step callback.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepInfo {
    /// The 0-based step just taken.
    pub step: usize,
    /// Its loss (per-image SSE averaged over the batch).
    pub loss: f64,
    /// Its learning rate.
    pub lr: f64,
    /// Its batch size.
    pub batch: usize,
}

/// A training loop in progress: model, data, optimizer and step.
pub struct Trainer<'m> {
    model: &'m Model,
    cfg: TrainConfig,
    plan: Plan,
    data: Tensor,
    adam: Adam,
    step: usize,
    perm: Option<(usize, Tensor)>,
    /// The trainable parameters (shallow handles, the model's storage).
    params: Vec<(String, Tensor)>,
    /// The weight average of [`TrainConfig::ema`], one tensor per parameter.
    ema: Option<Vec<Tensor>>,
}

impl<'m> Trainer<'m> {
    /// Prepares training of `model` on `data` (`[N, c, h, w]` float images in [0, 1], any device:
    /// they are moved to the model's device once).
    pub fn new(model: &'m Model, data: &Tensor, cfg: &TrainConfig) -> Result<Self> {
        cfg.validate()?;
        let (n, c, h, w) = check_input(model.net(), "train data", data)?;
        let plan = cfg.plan(n as usize)?;
        check_batch_memory(cfg.batch_size, (c * h * w).max(1) as usize)?;
        let data = data
            .f_to_device(model.net_device())?
            .f_to_kind(Kind::Float)?;
        let params = model.named_trainable();
        let adam = Adam::new(
            params
                .iter()
                .map(|(n, p)| (n.clone(), p.shallow_clone()))
                .collect(),
            (cfg.adam_betas[0], cfg.adam_betas[1]),
            cfg.adam_eps,
        )?;
        let ema = match cfg.ema {
            Some(_) => Some(
                params
                    .iter()
                    .map(|(_, p)| Ok(p.f_detach_copy()?))
                    .collect::<Result<Vec<_>>>()?,
            ),
            None => None,
        };
        Ok(Self {
            model,
            cfg: cfg.clone(),
            plan,
            data,
            adam,
            step: 0,
            perm: None,
            params,
            ema,
        })
    }

    /// The decay of the weight average at (0-based) `step`: the configured decay, warmed up as
    /// (1 + t)/(10 + t) so that the first steps' weights do not dominate a short run.
    fn ema_decay(&self, step: usize) -> Option<f64> {
        let t = step as f64;
        self.cfg.ema.map(|d| d.min((1.0 + t) / (10.0 + t)))
    }

    /// Swaps the model's weights with the weight average (no-op without EMA). Called twice, it
    /// restores the raw weights.
    pub fn swap_average(&mut self) -> Result<()> {
        let Some(ema) = self.ema.as_mut() else {
            return Ok(());
        };
        tch::no_grad(|| -> Result<()> {
            for ((_, p), a) in self.params.iter_mut().zip(ema.iter_mut()) {
                let raw = p.f_detach_copy()?;
                p.f_copy_(a)?;
                a.f_copy_(&raw)?;
            }
            Ok(())
        })
    }

    /// The state a checkpoint needs to continue this run exactly: Adam's, plus (with EMA) the
    /// weights that are not in the model file as `other.{name}`. Checkpoints are written with the
    /// average swapped in ([`Trainer::swap_average`]), so `other` holds the raw weights then.
    pub fn state_tensors(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = self.adam.state_tensors()?;
        if let Some(ema) = &self.ema {
            for ((name, _), a) in self.params.iter().zip(ema) {
                out.push((format!("other.{name}"), a.f_to_device(Device::Cpu)?));
            }
        }
        Ok(out)
    }

    /// The step plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The number of steps taken so far.
    pub fn step(&self) -> usize {
        self.step
    }

    /// The optimizer.
    pub fn adam(&self) -> &Adam {
        &self.adam
    }

    /// Continues from a checkpoint's state at `step` (as [`Trainer::state_tensors`] wrote it), the
    /// model holding the checkpoint's weights (with EMA: the average).
    pub fn restore(&mut self, step: usize, adam_state: Vec<(String, Tensor)>) -> Result<()> {
        if let Some(ema) = self.ema.as_mut() {
            let other: std::collections::HashMap<&str, &Tensor> = adam_state
                .iter()
                .filter_map(|(n, t)| n.strip_prefix("other.").map(|n| (n, t)))
                .collect();
            tch::no_grad(|| -> Result<()> {
                for ((name, p), a) in self.params.iter_mut().zip(ema.iter_mut()) {
                    let raw = other.get(name.as_str()).ok_or_else(|| {
                        invalid(
                            "optimizer state",
                            format!("the run averages weights but other.{name} is missing"),
                        )
                    })?;
                    a.f_copy_(p)?;
                    p.f_copy_(raw)?;
                }
                Ok(())
            })?;
        }
        self.adam.load_state(adam_state)?;
        self.step = step;
        self.perm = None;
        Ok(())
    }

    /// The data indices of step `step`'s batch, from the epoch's permutation of the tiled set.
    fn batch_indices(&mut self, step: usize) -> Result<Tensor> {
        let epoch = step / self.plan.steps_per_epoch;
        let k = step % self.plan.steps_per_epoch;
        let m = (self.plan.n_images * self.plan.tiles) as i64;
        if self.perm.as_ref().is_none_or(|(e, _)| *e != epoch) {
            tch::manual_seed(torch_seed(
                derive_seed(self.cfg.seed, "permutation"),
                epoch as u64,
            ));
            let p = Tensor::f_randperm(m, (Kind::Int64, Device::Cpu))?;
            self.perm = Some((epoch, p));
        }
        let (_, perm) = self
            .perm
            .as_ref()
            .expect("invariant: permutation set above");
        let start = k as i64 * self.cfg.batch_size as i64;
        let len = (self.cfg.batch_size as i64).min(m - start);
        let idx = perm
            .f_narrow(0, start, len)?
            .f_remainder(self.plan.n_images as i64)?;
        Ok(idx.f_to_device(self.data.device())?)
    }

    /// Takes one step and returns its info. A non-finite loss leaves the parameters and the
    /// optimizer untouched and returns [`Error::NonFiniteLoss`] (with no checkpoint path).
    pub fn train_step(&mut self) -> Result<StepInfo> {
        let step = self.step;
        let idx = self.batch_indices(step)?;
        let x = self.data.f_index_select(0, &idx)?; // [b, c, h, w]
        let b = x.size()[0];
        tch::manual_seed(torch_seed(derive_seed(self.cfg.seed, "noise"), step as u64));
        let dev = x.device();
        let u = Tensor::f_rand([b, 1, 1, 1], (Kind::Float, dev))?;
        let sigma = match self.cfg.noise {
            NoiseSampling::Uniform => u.f_mul_scalar(self.cfg.sigma_max)?,
            NoiseSampling::Quadratic => u.f_square()?.f_mul_scalar(self.cfg.sigma_max)?,
        };
        let noise = Tensor::f_randn(x.size(), (Kind::Float, dev))?.f_mul(&sigma)?; // [b, c, h, w]
        let y = x.f_add(&noise)?;
        let r = self.model.net().residual(&y, Mode::Train)?;
        let loss = noise_loss(&r, &noise, &sigma, self.cfg.loss_weight)?;
        self.adam.zero_grad();
        loss.f_backward()?;
        let loss_value = loss.f_double_value(&[])?;
        if !loss_value.is_finite() {
            self.adam.zero_grad();
            return Err(Error::NonFiniteLoss {
                step,
                loss: loss_value,
                last_checkpoint: None,
            });
        }
        if let Some(max) = self.cfg.clip_grad_norm {
            self.adam.clip_grad_norm(max)?;
        }
        let lr = self.cfg.lr_at(&self.plan, step);
        self.adam.step(lr)?;
        let decay = self.ema_decay(step);
        if let (Some(ema), Some(d)) = (self.ema.as_mut(), decay) {
            tch::no_grad(|| -> Result<()> {
                for ((_, p), a) in self.params.iter().zip(ema.iter_mut()) {
                    let _ = a.f_mul_scalar_(d)?;
                    let _ = a.f_add_(&p.f_mul_scalar(1.0 - d)?)?;
                }
                Ok(())
            })?;
        }
        self.step += 1;
        Ok(StepInfo {
            step,
            loss: loss_value,
            lr,
            batch: b as usize,
        })
    }
}

/// The training loss: the squared error of the predicted noise `residual` against `noise`
/// (`[b, c, h, w]`), summed per image, weighted by `weight` at each image's `sigma` (`[b, 1, 1, 1]`),
/// averaged over the batch.
pub fn noise_loss(
    residual: &Tensor,
    noise: &Tensor,
    sigma: &Tensor,
    weight: LossWeight,
) -> Result<Tensor> {
    let b = residual.size().first().copied().unwrap_or(1).max(1);
    let sq = residual.f_sub(noise)?.f_square()?;
    let total = match weight {
        LossWeight::None => sq.f_sum(Kind::Float)?,
        LossWeight::InversePower { power, floor } => {
            let w = sigma.f_clamp_min(floor)?.f_pow_tensor_scalar(-power)?;
            sq.f_mul(&w)?.f_sum(Kind::Float)?
        }
    };
    Ok(total.f_div_scalar(b as f64)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(cfg: &TrainConfig) -> String {
        cfg.validate()
            .expect_err("the config must be refused")
            .to_string()
    }

    /// Values that used to surface only as "non-finite loss at step 0" are refused up front, naming
    /// the field and its range.
    #[test]
    fn out_of_range_lr_and_sigma_max_name_the_field() {
        for lr in [1e30, f64::INFINITY, 0.0, -1.0, 1.5] {
            let e = message(&TrainConfig {
                lr,
                ..TrainConfig::default()
            });
            assert!(e.contains("lr") && e.contains("(0, 1]"), "{lr}: {e}");
        }
        for sigma_max in [1e300, 10.5, 0.0, f64::NAN] {
            let e = message(&TrainConfig {
                sigma_max,
                ..TrainConfig::default()
            });
            assert!(
                e.contains("sigma_max") && e.contains("(0, 10]"),
                "{sigma_max}: {e}"
            );
        }
        TrainConfig {
            lr: 1.0,
            sigma_max: 10.0,
            ..TrainConfig::default()
        }
        .validate()
        .expect("the ends of the ranges are accepted");
    }

    /// A run too long for the machine's memory is refused before anything is allocated, with the
    /// bytes it would need; so is an epoch count whose step count overflows.
    #[test]
    fn absurd_step_counts_are_refused_with_the_bytes_needed() {
        let cfg = TrainConfig {
            epochs: None,
            steps: Some(1_000_000_000_000),
            ..TrainConfig::default()
        };
        let e = message(&cfg);
        assert!(
            e.contains("steps") && e.contains("16000000000000 bytes") && !e.contains('\n'),
            "{e}"
        );
        let cfg = TrainConfig {
            epochs: Some(usize::MAX / 2),
            epoch_images: None,
            batch_size: 1,
            ..TrainConfig::default()
        };
        let e = cfg.plan(4).expect_err("overflow").to_string();
        assert!(e.contains("epochs"), "{e}");
        let cfg = TrainConfig {
            epochs: Some(1_000_000_000_000),
            epoch_images: None,
            batch_size: 1,
            ..TrainConfig::default()
        };
        let e = cfg.plan(4).expect_err("too long").to_string();
        assert!(e.contains("epochs") && e.contains("bytes"), "{e}");
        let ok = TrainConfig {
            epochs: None,
            steps: Some(1_000_000),
            ..TrainConfig::default()
        };
        ok.plan(4).expect("a million steps fit");
    }

    /// A batch no machine holds is refused up front, naming `batch_size` and the bytes needed.
    #[test]
    fn a_huge_batch_is_refused_with_the_bytes_needed() {
        let e = message(&TrainConfig {
            batch_size: 1_000_000_000_000_000,
            ..TrainConfig::default()
        });
        assert!(
            e.contains("batch_size") && e.contains("12000000000000000 bytes"),
            "{e}"
        );
        let e = message(&TrainConfig {
            batch_size: usize::MAX,
            ..TrainConfig::default()
        });
        assert!(e.contains("batch_size"), "{e}");
        let e = check_batch_memory(1_000_000_000, 80 * 80)
            .expect_err("a billion 80×80 images")
            .to_string();
        assert!(e.contains("batch_size") && e.contains("bytes"), "{e}");
        check_batch_memory(512, 80 * 80).expect("the paper's batch fits");
    }
}
