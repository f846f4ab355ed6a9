//! The training recipe of a profile (`[train]`, or an experiment's own `train` table) and the
//! settings of a run.
//!
//! A recipe holds hyper-parameters only and expands into the denoiser crate's `TrainConfig`, which
//! is then a model's identity as it is. How a run is carried out (progress bar, checkpoint cadence,
//! resume, stop-after) is [`RunSettings`], which no cache key sees.

use anyhow::{Context, Result};
use gahb_denoiser::{LossWeight, LrSchedule, NoiseSampling, RunOptions, ScheduleUnit, TrainConfig};
use gahb_diffusion::NoisePrior;
use serde::{Deserialize, Serialize};

/// A compact training recipe, expanded into [`TrainConfig`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    /// Optimisation steps.
    pub steps: usize,
    /// Images per batch.
    pub batch_size: usize,
    /// Initial Adam learning rate.
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// Steps at which the learning rate is halved.
    #[serde(default)]
    pub halve_at: Vec<usize>,
    /// Largest training noise level (on the [0, 1] intensity scale).
    #[serde(default = "default_sigma_max")]
    pub sigma_max: f64,
    /// How σ is drawn per image: `uniform` (paper) or `quadratic` (reference code).
    #[serde(default = "default_noise")]
    pub noise: NoiseSampling,
    /// How the loss weights noise levels: absent = the paper's unweighted loss;
    /// `{ kind = "inverse_power", power = 1.0, floor = 0.01 }` divides by max(σ, 0.01).
    #[serde(default, skip_serializing_if = "LossWeight::is_none")]
    pub loss_weight: LossWeight,
    /// The learning-rate schedule: absent = halvings at `halve_at` (the paper's kind);
    /// `{ kind = "cosine", warmup = 30, final_fraction = 0.0 }` (docs/decisions/0004).
    #[serde(default, skip_serializing_if = "LrSchedule::is_milestones")]
    pub schedule: LrSchedule,
    /// Decay of an exponential moving average of the weights (the model kept is the average).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ema: Option<f64>,
    /// Clip the gradient's global norm to this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_grad_norm: Option<f64>,
}

fn default_lr() -> f64 {
    1e-3
}
fn default_sigma_max() -> f64 {
    1.0
}
fn default_noise() -> NoiseSampling {
    NoiseSampling::Uniform
}

impl TrainSpec {
    /// One line for the report: the recipe, and whether its loss is the paper's.
    pub fn describe(&self) -> String {
        let sampling = match self.noise {
            NoiseSampling::Uniform => format!("σ ~ U[0, {}]", self.sigma_max),
            NoiseSampling::Quadratic => format!("σ = {}·U², U ~ U[0, 1]", self.sigma_max),
        };
        let loss = match self.loss_weight {
            LossWeight::None => "the paper's unweighted loss".to_string(),
            LossWeight::InversePower { power, floor } => format!(
                "each image's squared error divided by max(σ, {floor})^{power} (not the paper's \
                 loss: it makes short runs learn small σ)"
            ),
        };
        let mut halving = match self.schedule {
            LrSchedule::Cosine {
                warmup,
                final_fraction,
            } => format!(
                "with {warmup} warm-up steps then a cosine decay to {final_fraction}× (not the \
                 paper's schedule)"
            ),
            LrSchedule::Milestones if self.halve_at.is_empty() => "constant".to_string(),
            LrSchedule::Milestones => format!("halved at steps {}", list(&self.halve_at)),
        };
        if let Some(d) = self.ema {
            halving.push_str(&format!(", weights averaged (EMA {d})"));
        }
        if let Some(c) = self.clip_grad_norm {
            halving.push_str(&format!(", gradient norm clipped at {c}"));
        }
        format!(
            "{} steps of batch {}, Adam lr {} {halving}, {sampling}, {loss}",
            self.steps, self.batch_size, self.lr
        )
    }

    /// The law of σ and the loss weight of this recipe, as the blind optimum of gahb-diffusion
    /// averages over them: σ ~ U(0, σ_max] has density σ⁰, σ = σ_max·U² has density ∝ σ^(−1/2).
    pub fn noise_prior(&self) -> NoisePrior {
        let density_power = match self.noise {
            NoiseSampling::Uniform => 0.0,
            NoiseSampling::Quadratic => -0.5,
        };
        let (weight_power, weight_floor) = match self.loss_weight {
            LossWeight::None => (0.0, 0.0),
            LossWeight::InversePower { power, floor } => (power, floor),
        };
        NoisePrior {
            sigma_max: self.sigma_max,
            density_power,
            weight_power,
            weight_floor,
        }
    }

    /// The training config for a seed, validated once here (`train` trusts it).
    pub fn to_config(&self, seed: u64) -> Result<TrainConfig> {
        let cfg = TrainConfig {
            batch_size: self.batch_size,
            epochs: None,
            steps: Some(self.steps),
            epoch_images: None,
            lr: self.lr,
            lr_gamma: 0.5,
            lr_milestones: self.halve_at.clone(),
            milestone_unit: ScheduleUnit::Steps,
            sigma_max: self.sigma_max,
            noise: self.noise,
            loss_weight: self.loss_weight,
            schedule: self.schedule,
            ema: self.ema,
            clip_grad_norm: self.clip_grad_norm,
            seed,
            ..TrainConfig::default()
        };
        cfg.validate().context("invalid training recipe")?;
        Ok(cfg)
    }
}

/// How runs are carried out: not hyper-parameters, so no model's cache key depends on them.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Show a progress bar while training.
    pub progress: bool,
    /// Write a checkpoint every this many steps, so an interrupted training resumes.
    pub checkpoint_every: usize,
    /// Resume a partial training from its checkpoint.
    pub resume: bool,
    /// Stop after this many steps (an interruption; `None`: train to the end).
    pub stop_after: Option<usize>,
    /// The git revision recorded in checkpoints.
    pub git_revision: Option<String>,
    /// Train nothing: a model or classifier that is not in the cache is an error naming it (the
    /// analysis units of a planned run, which depend on the training units).
    pub cached_only: bool,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            progress: true,
            checkpoint_every: 500,
            resume: true,
            stop_after: None,
            git_revision: None,
            cached_only: false,
        }
    }
}

impl RunSettings {
    /// The denoiser crate's run options for a checkpoint path and a data description.
    pub fn options(&self, checkpoint: std::path::PathBuf, data_split: &str) -> RunOptions<'static> {
        RunOptions {
            checkpoint: Some(checkpoint),
            resume: self.resume,
            data_split: data_split.to_string(),
            git_revision: self.git_revision.clone(),
            stop_after: self.stop_after,
            on_step: None,
            checkpoint_every: self.checkpoint_every,
            progress: self.progress,
        }
    }
}

/// Numbers separated by commas, for prose: `1, 10, 100`.
pub fn list<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A network in words: `UNet (2 blocks, 16 channels, 32×32)` or `BF-CNN (21 layers, 64 channels)`.
pub fn describe_model(m: &gahb_denoiser::ModelConfig) -> String {
    match m {
        gahb_denoiser::ModelConfig::UNet(u) => format!(
            "UNet ({} blocks, {} channels, {}×{})",
            u.n_blocks, u.base_channels, u.image_size, u.image_size
        ),
        gahb_denoiser::ModelConfig::BfCnn(b) => {
            format!("BF-CNN ({} layers, {} channels)", b.n_layers, b.channels)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_sigma_max_is_rejected() {
        let spec = TrainSpec {
            steps: 10,
            batch_size: 4,
            lr: 1e-3,
            halve_at: vec![],
            sigma_max: -0.5,
            noise: NoiseSampling::Uniform,
            loss_weight: LossWeight::None,
            schedule: LrSchedule::Milestones,
            ema: None,
            clip_grad_norm: None,
        };
        let err = format!("{:#}", spec.to_config(0).expect_err("negative sigma"));
        assert!(err.contains("sigma_max"), "{err}");
    }

    #[test]
    fn the_recipe_in_words_has_no_debug_output() {
        let spec = TrainSpec {
            steps: 600,
            batch_size: 32,
            lr: 1e-3,
            halve_at: vec![400, 500],
            sigma_max: 1.0,
            noise: NoiseSampling::Quadratic,
            loss_weight: LossWeight::None,
            schedule: LrSchedule::Milestones,
            ema: None,
            clip_grad_norm: None,
        };
        let d = spec.describe();
        assert!(d.contains("halved at steps 400, 500"), "{d}");
        assert!(!d.contains("[400"), "{d}");
    }
}
