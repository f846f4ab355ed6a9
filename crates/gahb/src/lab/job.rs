//! Trainings as units of work (issue 16): everything a run trains, stated before it runs, so that a
//! profile can be planned (`gahb plan`), split into independent tasks (`gahb run --task`, a Slurm
//! array) and then assembled from the shared content-addressed cache.
//!
//! An experiment's `jobs` and its `measure` build their trainings with the same functions, so the
//! plan lists exactly what `measure` trains; a run with [`crate::lab::recipe::RunSettings`]'
//! `cached_only` refuses to train anything, which is how the assembly proves it.

use anyhow::Result;
use gahb_denoiser::{ClassifierConfig, ModelConfig};
use ndarray::Array3;
use serde::Serialize;

use crate::lab::quality::{ClassifierStore, Labelled};
use crate::lab::store::{ModelSpec, ModelStore};

/// One denoiser to train: its spec (the store's key) and its training images.
#[derive(Debug, Clone)]
pub struct ModelJob {
    /// Shown in progress lines and in the plan.
    pub label: String,
    /// What the model is.
    pub spec: ModelSpec,
    /// Its training images, `[n, h, w]`.
    pub images: Array3<f32>,
    /// The data description recorded in the checkpoint.
    pub split: String,
}

/// One sample-quality classifier to train and measure.
#[derive(Debug, Clone)]
pub struct ClassifierJob {
    /// Shown in progress lines and in the plan.
    pub label: String,
    /// Architecture and recipe.
    pub cfg: ClassifierConfig,
    /// Training images and labels.
    pub train_images: Array3<f32>,
    /// Labels of `train_images`.
    pub train_labels: Vec<u8>,
    /// Held-out images, on which its accuracy is measured.
    pub held_out_images: Array3<f32>,
    /// Labels of `held_out_images`.
    pub held_out_labels: Vec<u8>,
}

impl ClassifierJob {
    /// The training set.
    pub fn train(&self) -> Labelled<'_> {
        Labelled {
            images: &self.train_images,
            labels: &self.train_labels,
        }
    }

    /// The held-out set.
    pub fn held_out(&self) -> Labelled<'_> {
        Labelled {
            images: &self.held_out_images,
            labels: &self.held_out_labels,
        }
    }
}

/// A training a profile needs.
#[derive(Debug, Clone)]
pub enum Job {
    /// A denoiser.
    Model(ModelJob),
    /// A sample-quality classifier.
    Classifier(ClassifierJob),
}

/// What a training costs, estimated before it runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cost {
    /// Optimizer steps.
    pub steps: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Training images.
    pub images: usize,
    /// Pixels per image.
    pub pixels: usize,
    /// Trainable weights (0 for a classifier: not counted).
    pub weights: usize,
    /// Floating-point operations of the whole training, in units of 10⁹: three times the
    /// forward pass's (forward, and the backward pass to inputs and weights), two per
    /// multiply-add, counted layer by layer at each layer's resolution (0 for a classifier: not
    /// counted).
    pub gflop: f64,
}

impl Job {
    /// The label shown in progress lines.
    pub fn label(&self) -> &str {
        match self {
            Job::Model(j) => &j.label,
            Job::Classifier(j) => &j.label,
        }
    }

    /// `model` or `classifier`.
    pub fn kind(&self) -> &'static str {
        match self {
            Job::Model(_) => "model",
            Job::Classifier(_) => "classifier",
        }
    }

    /// Its key in the content-addressed cache (the model store's or the classifier store's).
    pub fn key(&self) -> Result<String> {
        match self {
            Job::Model(j) => ModelStore::key(&j.spec, &j.images),
            Job::Classifier(j) => ClassifierStore::key(&j.cfg, j.train(), j.held_out()),
        }
    }

    /// Its cost estimate.
    pub fn cost(&self) -> Cost {
        match self {
            Job::Model(j) => {
                let (n, h, w) = j.images.dim();
                let steps = j
                    .spec
                    .train
                    .steps
                    .or_else(|| {
                        j.spec
                            .train
                            .epochs
                            .map(|e| e * n.div_ceil(j.spec.train.batch_size.max(1)))
                    })
                    .unwrap_or(0);
                let (weights, macs) = model_macs(&j.spec.model, h, w);
                Cost {
                    steps,
                    batch_size: j.spec.train.batch_size,
                    images: n,
                    pixels: h * w,
                    weights,
                    gflop: 3.0 * 2.0 * macs * (steps * j.spec.train.batch_size) as f64 / 1e9,
                }
            }
            Job::Classifier(j) => {
                let (n, h, w) = j.train_images.dim();
                Cost {
                    steps: j.cfg.steps,
                    batch_size: j.cfg.batch_size,
                    images: n,
                    pixels: h * w,
                    weights: 0,
                    gflop: 0.0,
                }
            }
        }
    }
}

/// The trainable weights of `model` and the multiply-adds of one forward pass on an `h`×`w` image,
/// from the layers' shapes: the UNet's encoder and decoder block `b` run at 2^-b of the size, its
/// middle block at 2^-blocks, its up-sampling `b` (a stride-2 transposed conv) on block `b + 1`'s
/// grid; every BF-CNN layer at full size. Normalisation and ReLUs are not counted.
fn model_macs(model: &ModelConfig, h: usize, w: usize) -> (usize, f64) {
    let px = |level: usize| ((h >> level) * (w >> level)) as f64;
    match model {
        ModelConfig::UNet(u) => {
            let k2 = (u.kernel_size * u.kernel_size) as f64;
            let ch = |b: usize| (u.base_channels << b) as f64;
            let img = u.image_channels as f64;
            let (mut weights, mut macs) = (0.0, 0.0);
            let mut conv = |cin: f64, cout: f64, taps: f64, at: f64| {
                weights += cin * cout * taps;
                macs += cin * cout * taps * at;
            };
            for b in 0..u.n_blocks {
                let cin = if b == 0 { img } else { ch(b - 1) };
                conv(cin, ch(b), k2, px(b));
                conv(ch(b), ch(b), k2, px(b));
            }
            let top = ch(u.n_blocks);
            conv(ch(u.n_blocks - 1), top, k2, px(u.n_blocks));
            conv(top, top, k2, px(u.n_blocks));
            for b in 0..u.n_blocks {
                conv(2.0 * ch(b), ch(b), 4.0, px(b + 1));
                conv(2.0 * ch(b), ch(b), k2, px(b));
                let out = if b == 0 { img } else { ch(b) };
                conv(ch(b), out, k2, px(b));
            }
            (weights as usize, macs)
        }
        ModelConfig::BfCnn(c) => {
            let k2 = (c.kernel_size * c.kernel_size) as f64;
            let (img, hid) = (c.image_channels as f64, c.channels as f64);
            let inner = c.n_layers.saturating_sub(2) as f64;
            let weights = k2 * (2.0 * img * hid + inner * hid * hid);
            (weights as usize, weights * px(0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gahb_denoiser::{Model, TrainConfig, UNetConfig};

    /// The layer-by-layer count matches the network's real conv weights (the gains and running
    /// deviations of the normalisation layers aside), for the UNet at two depths and the BF-CNN.
    #[test]
    fn the_weight_count_matches_the_built_network() {
        for net in [
            ModelConfig::UNet(UNetConfig::tiny()),
            ModelConfig::UNet(UNetConfig {
                n_blocks: 3,
                base_channels: 8,
                image_size: 32,
                ..UNetConfig::tiny()
            }),
            ModelConfig::BfCnn(gahb_denoiser::BfCnnConfig {
                n_layers: 5,
                channels: 8,
                image_channels: 1,
                kernel_size: 3,
                first_layer_linear: false,
            }),
        ] {
            let m = Model::new(&net, tch::Device::Cpu).expect("model");
            let conv: i64 = m
                .named_variables()
                .iter()
                .filter(|(name, _)| name.ends_with("weight"))
                .map(|(_, t)| t.numel() as i64)
                .sum();
            let (weights, macs) = model_macs(&net, 32, 32);
            assert_eq!(weights as i64, conv, "{net:?}");
            assert!(macs > 0.0);
        }
    }

    #[test]
    fn the_cost_scales_with_steps_and_batch() {
        let job = |steps, batch_size| {
            Job::Model(ModelJob {
                label: "t".into(),
                spec: ModelSpec {
                    model: ModelConfig::UNet(UNetConfig::tiny()),
                    train: TrainConfig {
                        steps: Some(steps),
                        epochs: None,
                        batch_size,
                        ..TrainConfig::default()
                    },
                },
                images: Array3::zeros((4, 16, 16)),
                split: String::new(),
            })
            .cost()
        };
        let a = job(10, 2);
        assert_eq!((a.steps, a.batch_size, a.images, a.pixels), (10, 2, 4, 256));
        assert!((job(20, 2).gflop / a.gflop - 2.0).abs() < 1e-9);
        assert!((job(10, 4).gflop / a.gflop - 2.0).abs() < 1e-9);
    }
}
