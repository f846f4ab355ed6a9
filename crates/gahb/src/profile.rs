//! Profiles: the checked-in experiment configurations `configs/<name>.toml` (smoke, quick,
//! standard, paper), one TOML table per experiment, read with `deny_unknown_fields`.
//!
//! The four profiles are embedded in the binary, so `gahb reproduce --profile quick` works from any
//! folder; `--profile path/to/file.toml` reads a user's own file instead.

use std::path::Path;

use anyhow::{bail, Context, Result};
use gahb_denoiser::{
    BfCnnConfig, LossWeight, ModelConfig, NoiseSampling, ScheduleUnit, TrainConfig, UNetConfig,
};
use serde::{Deserialize, Serialize};

use crate::experiments;

/// The profiles shipped with gahb: (name, TOML text).
pub const BUILTIN: &[(&str, &str)] = &[
    ("smoke", include_str!("../../../configs/smoke.toml")),
    ("quick", include_str!("../../../configs/quick.toml")),
    ("standard", include_str!("../../../configs/standard.toml")),
    ("paper", include_str!("../../../configs/paper.toml")),
];

/// A whole profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The profile's name (results go to `results/<name>/`).
    pub name: String,
    /// What the profile is for, in one sentence.
    pub description: String,
    /// The master seed; each experiment derives its seeds from it.
    pub seed: u64,
    /// The training recipe experiments use unless they override it.
    pub train: TrainSpec,
    /// The vertical slice: a bias-free denoiser on C^α images.
    pub slice: Option<experiments::slice::Config>,
    /// The N-sweep of S1/S2 models shared by Figs. 1, 2, 6 and 15.
    pub sweep: Option<crate::sweep::SweepConfig>,
    /// Fig. 1: train/test PSNR curves across N.
    pub fig1: Option<experiments::fig1::Config>,
    /// Fig. 2: samples of S1 and S2 models from the same seed.
    pub fig2: Option<experiments::fig2::Config>,
    /// Fig. 3: Jacobian eigen-analysis of the largest-N model.
    pub fig3: Option<experiments::fig3::Config>,
    /// Fig. 4: C^α slopes.
    pub fig4: Option<experiments::fig4::Config>,
    /// Fig. 5: disks.
    pub fig5: Option<experiments::fig5::Config>,
    /// Fig. 21: shuffled faces.
    pub fig21: Option<experiments::fig21::Config>,
    /// Fig. 6: closest S1–S2 pairs.
    pub fig6: Option<experiments::fig6::Config>,
    /// Fig. 15: PSNR gap against N at several resolutions.
    pub fig15: Option<experiments::fig15::Config>,
}

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
        format!(
            "{} steps of batch {}, Adam lr {} halved at steps {:?}, {sampling}, {loss}",
            self.steps, self.batch_size, self.lr, self.halve_at
        )
    }

    /// The full training config for a seed.
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
            seed,
            checkpoint_every: 0,
            progress: true,
            ..TrainConfig::default()
        };
        cfg.validate().context("invalid training recipe")?;
        Ok(cfg)
    }
}

/// The network of an experiment, sized for its images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetSpec {
    /// `unet` or `bf_cnn`.
    pub arch: String,
    /// Channels of the first block (UNet) or of every layer (BF-CNN).
    pub channels: i64,
    /// UNet blocks (Table 1: 1, 2, 3, 4 for 20², 40², 80², 160²).
    #[serde(default)]
    pub blocks: Option<usize>,
    /// BF-CNN conv layers (21 in the paper).
    #[serde(default)]
    pub layers: Option<usize>,
}

impl NetSpec {
    /// The model config for square images of `size` pixels.
    pub fn to_model_config(&self, size: usize) -> Result<ModelConfig> {
        let cfg = match self.arch.as_str() {
            "unet" => ModelConfig::UNet(UNetConfig {
                n_blocks: self.blocks.unwrap_or(2),
                base_channels: self.channels,
                image_channels: 1,
                image_size: size as i64,
                kernel_size: 3,
            }),
            "bf_cnn" => {
                ModelConfig::BfCnn(BfCnnConfig::with(self.layers.unwrap_or(21), self.channels))
            }
            other => bail!("unknown arch `{other}`: use `unet` or `bf_cnn`"),
        };
        cfg.validate()
            .with_context(|| format!("network {:?} cannot take {size}×{size} images", self))?;
        Ok(cfg)
    }
}

impl Profile {
    /// Reads a built-in profile by name, or a TOML file by path.
    pub fn load(name_or_path: &str) -> Result<Self> {
        let (origin, text) = match BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            Some((n, t)) => (format!("built-in profile `{n}`"), (*t).to_string()),
            None => {
                let path = Path::new(name_or_path);
                if !path.exists() {
                    let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
                    bail!(
                        "no profile `{name_or_path}`: use one of {} or a path to a TOML file",
                        names.join(", ")
                    );
                }
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                (path.display().to_string(), text)
            }
        };
        Self::parse(&text).with_context(|| format!("in {origin}"))
    }

    /// Parses profile TOML, turning parse errors into one line with the line number.
    pub fn parse(text: &str) -> Result<Self> {
        toml::from_str::<Self>(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            match line {
                Some(l) => anyhow::anyhow!("line {l}: {}", e.message()),
                None => anyhow::anyhow!("{}", e.message()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profiles_parse() {
        for (name, _) in BUILTIN {
            let p = Profile::load(name).unwrap_or_else(|e| panic!("{name}: {e:#}"));
            assert_eq!(&p.name, name);
        }
    }

    /// The paper profile keeps the paper's loss; quick and standard weight it by 1/σ, and the
    /// report's training line says which.
    #[test]
    fn the_report_names_the_loss_of_each_profile() {
        let paper = Profile::load("paper").expect("paper");
        assert_eq!(paper.train.loss_weight, LossWeight::None);
        assert!(paper
            .train
            .describe()
            .contains("the paper's unweighted loss"));
        for name in ["quick", "standard"] {
            let p = Profile::load(name).expect(name);
            assert_eq!(
                p.train.loss_weight,
                LossWeight::InversePower {
                    power: 1.0,
                    floor: 0.01
                },
                "{name}"
            );
            let d = p.train.describe();
            assert!(
                d.contains("max(σ, 0.01)^1") && d.contains("not the paper's loss"),
                "{d}"
            );
        }
    }

    #[test]
    fn unknown_key_names_the_key_and_line() {
        let text = "name = \"x\"\ndescription = \"d\"\nseed = 1\nbogus = 3\n[train]\nsteps = 1\nbatch_size = 1\n";
        let err = format!("{:#}", Profile::parse(text).expect_err("unknown key"));
        assert!(err.contains("bogus") && err.contains("line 4"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }

    #[test]
    fn bad_network_sizes_are_explained() {
        let net = NetSpec {
            arch: "unet".into(),
            channels: 8,
            blocks: Some(3),
            layers: None,
        };
        let err = format!(
            "{:#}",
            net.to_model_config(20)
                .expect_err("20 is not divisible by 8")
        );
        assert!(err.contains("20"), "{err}");
        assert!(net.to_model_config(32).is_ok());
        let bad = NetSpec {
            arch: "vit".into(),
            ..net
        };
        assert!(bad.to_model_config(32).is_err());
    }

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
        };
        let err = format!("{:#}", spec.to_config(0).expect_err("negative sigma"));
        assert!(err.contains("sigma_max"), "{err}");
    }
}
