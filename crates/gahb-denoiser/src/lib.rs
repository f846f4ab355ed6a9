//! Bias-free denoisers (UNet, BF-CNN), universal blind training, checkpoints and PSNR curves
//! (paper §1-§3; PAPER.md is the spec).
//!
//! # Public API
//! - Architecture (§1): [`UNetConfig`] (`paper_80x80()`, `for_resolution(20 | 40 | 80 | 160)`,
//!   `tiny()`, `validate()`), [`BfCnnConfig`] (`paper()` = 21 layers × 64 channels, `with(layers,
//!   channels)`, `tiny()`), wrapped in the serde enum [`ModelConfig`] (`arch = "unet" | "bf_cnn"`).
//! - [`Model::new`]`(&ModelConfig, Device)` builds a network in its own `VarStore` whose names are the
//!   PyTorch reference `state_dict` keys (`encoder.0.0.weight`, `encoder.0.3.gammas`,
//!   `encoder.0.3.running_sd`, `upsample.1.weight`, `conv_layers.3.weight`, `BN_layers.2.gammas`, ...).
//!   [`Model::param_counts`] splits conv weights and BN gammas; [`Model::residual`] runs the net in a
//!   [`Mode`] (`Train`, `Eval`, `Linearized`).
//! - [`Model`], [`UNet`] and [`BfCnn`] implement [`gahb_tensor::Denoiser`]: `denoise(y)` = y − net(y)
//!   in eval mode without autograd; `linearized(y, v)` = ∇f(y)·v for `k` directions in one forward
//!   pass with the ReLU masks of y (exact, §5); `is_bias_free()` = true.
//! - Training (§2): [`TrainConfig`] (`Default` = the paper's schedule; serde, `deny_unknown_fields`,
//!   `validate()`, `plan(n)`, `lr_at`), [`NoiseSampling`] (`Uniform` as the paper, `Quadratic` as the
//!   reference code), [`LossWeight`] (`None` as the paper, `InversePower` divides each image's error
//!   by max(σ, floor)^p; [`noise_loss`] computes it), [`train()`]`(&mut Model, &Tensor [N,c,h,w] in [0,1], &TrainConfig, RunOptions)`
//!   → [`TrainReport`] (per-step losses, images/s); how a run is carried out (checkpoint cadence,
//!   resume, stop-after, progress bar, step callback) is [`RunOptions`], never part of the
//!   hyper-parameters; [`Trainer`] for step-by-step control.
//! - Checkpoints: [`checkpoint::save`], [`checkpoint::load`]`(path, Device)` → (Model, meta),
//!   [`checkpoint::load_into`], [`checkpoint::load_weights`] (e.g. converted PyTorch weights),
//!   [`checkpoint::read_meta`], [`checkpoint::git_revision`]; the sidecar is [`CheckpointMeta`].
//! - PyTorch import: [`pytorch::import_state_dict`]`(path, image_size, Device)` → [`pytorch::Imported`]
//!   reads a `torch.save(model.state_dict(), f)` file without Python (a safe pickle reader with a
//!   global allowlist), infers the UNet or BF-CNN from its keys and loads it; also
//!   [`pytorch::read_state_dict`], [`pytorch::infer_config`], [`pytorch::load_state_dict`].
//! - Evaluation (§3, Fig. 1): [`paper_sigmas`] (largest σ first), [`psnr_curve`] →
//!   `Vec<`[`PsnrRow`]`>` (nominal and measured input PSNR, output PSNR; serde for JSON).
//! - Sample quality (issue 12, Fig. 2): [`ClassifierConfig`] (`fashion_mnist(size)`, `tiny(size, k)`,
//!   `validate()`), [`train_classifier`]`(&Tensor [n,1,s,s] in [0,1], Option<&Tensor [n]>, &cfg, Device)`
//!   → ([`Classifier`], [`ClassifierReport`]); [`Classifier::logits`], `probabilities`, `features`
//!   (penultimate layer), `predict`, `accuracy`, `save`/`load` (safetensors + [`ClassifierMeta`]
//!   sidecar). [`fid::frechet_distance`] of two `[n, f]` feature sets (or [`FeatureStats`]),
//!   [`fid::class_confidence`] → [`ClassConfidence`], [`fid::classifier_frechet_distance`].
//! - Errors: [`Error`], [`Result`].
pub mod adam;
pub mod bfcnn;
pub mod checkpoint;
pub mod classifier;
pub mod commit;
pub mod error;
pub mod eval;
/// Fault injection points (they live in gahb-data, the lowest crate that writes files).
pub use gahb_data::fault;
pub mod fid;
pub mod layers;
pub mod model;
pub mod net;
pub mod pytorch;
pub mod run;
pub mod train;
pub mod unet;

pub use adam::Adam;
pub use bfcnn::{BfCnn, BfCnnConfig};
pub use checkpoint::CheckpointMeta;
pub use classifier::{
    train_classifier, Classifier, ClassifierConfig, ClassifierMeta, ClassifierNet, ClassifierReport,
};
pub use error::{Error, Result};
pub use eval::{paper_sigmas, psnr_curve, PsnrRow};
pub use fid::{
    class_confidence, classifier_frechet_distance, frechet_distance, frechet_distance_stats,
    ClassConfidence, FeatureStats,
};
pub use layers::Mode;
pub use model::{Model, ModelConfig, ParamCounts};
pub use net::ResidualNet;
pub use run::{train, RunOptions, StepCallback, TrainReport};
pub use train::{
    noise_loss, LossWeight, LrSchedule, NoiseSampling, Plan, ScheduleUnit, StepInfo, TrainConfig,
    Trainer,
};
pub use unet::{UNet, UNetConfig};
