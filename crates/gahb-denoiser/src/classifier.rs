//! A small CNN classifier that turns sample quality into numbers (issue 12; paper Fig. 2 shows
//! samples of models trained on N images, which at large N should look like real images).
//!
//! Trained on the labelled real set (Fashion-MNIST stands in for CelebA), it gives two measures of a
//! set of samples: how confidently it assigns them to a class ([`crate::fid::class_confidence`]) and
//! the Fréchet distance between its penultimate-layer features of the samples and of real images
//! ([`crate::fid::frechet_distance`]), an FID with this classifier in place of Inception.
//!
//! # Architecture
//! `convs.{i}`: 3×3 convolutions (padding 1) with ReLU, each but the last followed by a 2×2 max pool;
//! then an adaptive average pool to `pool_size × pool_size` (so 16×16, 28×28, 32×32 and 40×40
//! inputs all work), `fc`: a linear layer to `feature_dim` features with ReLU (the features), and
//! `head`: a linear layer to `n_classes` logits. Inputs in [0, 1] are mapped to [−1, 1] first.
//!
//! # Determinism
//! libtorch's global generator is seeded with `seed` just before the weights are initialised, and
//! with `gahb_tensor::seed::torch_seed(derive_seed(seed, "classifier-permutation"), epoch)` just before each epoch's shuffling permutation is drawn; nothing
//! else is random. Two trainings with the same config and data therefore give the same weights
//! (bit for bit on CPU with a fixed thread count). The cost is that training reseeds the global
//! generator.
//!
//! # Files
//! [`Classifier::save`] writes `x.safetensors` (the var store; keys `convs.0.weight`, ...,
//! `head.bias`) and the sidecar `x.json` ([`ClassifierMeta`]: the config and the measured
//! accuracy), each to a temporary name in the same folder and then renamed, the sidecar last.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

use crate::adam::Adam;
use crate::error::{invalid, Error, Result};

/// Version of the classifier file layout.
pub const CLASSIFIER_FORMAT_VERSION: u32 = 2;

/// Images per forward pass when evaluating (bounds memory on large sets).
const EVAL_BATCH: i64 = 500;

/// The classifier's shape and its training recipe. There is no paper value, hence no `Default`:
/// use [`ClassifierConfig::fashion_mnist`] or [`ClassifierConfig::tiny`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierConfig {
    /// Side of the square input images (28 for raw Fashion-MNIST, 32 or 40 once padded).
    pub image_size: i64,
    /// Image channels (1: grayscale).
    pub image_channels: i64,
    /// Number of classes (10 for Fashion-MNIST).
    pub n_classes: i64,
    /// Output channels of each conv layer (at least one layer).
    pub channels: Vec<i64>,
    /// Side of the adaptive average pool after the convs (1: global average pooling).
    pub pool_size: i64,
    /// Width of the feature layer, the penultimate layer used for the Fréchet distance.
    pub feature_dim: i64,
    /// Optimisation steps.
    pub steps: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Adam's learning rate (constant).
    pub lr: f64,
    /// Seed of the initialisation and the shuffling.
    pub seed: u64,
}

impl ClassifierConfig {
    /// The Fashion-MNIST classifier: convs of 16, 32 and 64 channels, a 4×4 pool, 128 features,
    /// 1000 steps of 128 images (about two epochs of the 60,000 training images) at lr 1e-3.
    pub fn fashion_mnist(image_size: i64) -> Self {
        Self {
            image_size,
            image_channels: 1,
            n_classes: 10,
            channels: vec![16, 32, 64],
            pool_size: 4,
            feature_dim: 128,
            steps: 1000,
            batch_size: 128,
            lr: 1e-3,
            seed: 0,
        }
    }

    /// A tiny classifier for tests: convs of 8 and 16 channels, a 2×2 pool, 32 features, 150
    /// steps of 32 images at lr 3e-3.
    pub fn tiny(image_size: i64, n_classes: i64) -> Self {
        Self {
            image_size,
            image_channels: 1,
            n_classes,
            channels: vec![8, 16],
            pool_size: 2,
            feature_dim: 32,
            steps: 150,
            batch_size: 32,
            lr: 3e-3,
            seed: 0,
        }
    }

    /// Checks the values; [`Classifier::new`] and [`train_classifier`] call it.
    pub fn validate(&self) -> Result<()> {
        let positive = |field: &'static str, v: i64| {
            if v > 0 {
                Ok(())
            } else {
                Err(invalid(field, format!("must be > 0, got {v}")))
            }
        };
        positive("image_size", self.image_size)?;
        positive("image_channels", self.image_channels)?;
        positive("pool_size", self.pool_size)?;
        positive("feature_dim", self.feature_dim)?;
        if self.n_classes < 2 {
            return Err(invalid(
                "n_classes",
                format!("must be at least 2, got {}", self.n_classes),
            ));
        }
        if self.channels.is_empty() {
            return Err(invalid("channels", "needs at least one conv layer, got []"));
        }
        if let Some(c) = self.channels.iter().find(|&&c| c <= 0) {
            return Err(invalid(
                "channels",
                format!("every width must be > 0, got {c} in {:?}", self.channels),
            ));
        }
        // Each conv but the last halves the side (rounding down), which must stay at least 1.
        let pools = self.channels.len() as u32 - 1;
        let min_side = 1i64 << pools.min(62);
        if self.image_size < min_side {
            return Err(invalid(
                "image_size",
                format!(
                    "{} conv layers pool {pools} times, so images need a side of at least \
                     {min_side}, got {}",
                    self.channels.len(),
                    self.image_size
                ),
            ));
        }
        if self.steps == 0 {
            return Err(invalid("steps", "must be at least 1, got 0"));
        }
        if self.batch_size == 0 {
            return Err(invalid("batch_size", "must be at least 1, got 0"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(invalid(
                "lr",
                format!("must be finite and > 0, got {}", self.lr),
            ));
        }
        Ok(())
    }
}

/// What a classifier training run did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifierReport {
    /// Training images.
    pub n_train_images: usize,
    /// Steps taken.
    pub steps: usize,
    /// The cross-entropy of every step, in order.
    pub losses: Vec<f64>,
    /// Accuracy on the training images after the last step.
    pub train_accuracy: f64,
    /// Wall-clock seconds of the steps.
    pub seconds: f64,
}

impl ClassifierReport {
    /// The mean cross-entropy of the last tenth of the steps (at least one).
    pub fn final_loss(&self) -> f64 {
        let k = (self.losses.len() / 10).max(1).min(self.losses.len());
        if k == 0 {
            return f64::NAN;
        }
        self.losses[self.losses.len() - k..].iter().sum::<f64>() / k as f64
    }
}

/// The JSON sidecar of a saved classifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierMeta {
    /// [`CLASSIFIER_FORMAT_VERSION`] when written.
    pub format_version: u32,
    /// The architecture and training recipe.
    pub config: ClassifierConfig,
    /// Accuracy on held-out images, when measured.
    pub accuracy: Option<f64>,
    /// Which images `accuracy` was measured on (for example `fashion-mnist t10k, 10000 images`).
    pub accuracy_on: String,
    /// Accuracy on the training images, when known.
    pub train_accuracy: Option<f64>,
    /// Number of training images, when known.
    pub n_train_images: Option<usize>,
    /// Git revision of the code that trained it, when known.
    pub git_revision: Option<String>,
    /// SHA-256 of the weights (file name → hex), filled in by [`Classifier::save`].
    #[serde(default)]
    pub parts: std::collections::BTreeMap<String, String>,
    /// The sidecar's seal ([`crate::commit`]), filled in by [`Classifier::save`].
    #[serde(default)]
    pub seal: String,
}

impl ClassifierMeta {
    /// A sidecar for a classifier with `config` and nothing measured.
    pub fn new(config: &ClassifierConfig) -> Self {
        Self {
            format_version: CLASSIFIER_FORMAT_VERSION,
            config: config.clone(),
            accuracy: None,
            accuracy_on: String::new(),
            train_accuracy: None,
            n_train_images: None,
            git_revision: None,
            parts: Default::default(),
            seal: String::new(),
        }
    }

    /// Adds the training-set size and accuracy of a run.
    pub fn with_report(mut self, report: &ClassifierReport) -> Self {
        self.n_train_images = Some(report.n_train_images);
        self.train_accuracy = Some(report.train_accuracy);
        self
    }

    /// Adds the held-out accuracy and a description of the images it was measured on.
    pub fn with_accuracy(mut self, accuracy: f64, on: impl Into<String>) -> Self {
        self.accuracy = Some(accuracy);
        self.accuracy_on = on.into();
        self
    }
}

/// The network: conv layers, an adaptive pool, the feature layer and the class head.
///
/// # Shapes
/// Input `[b, image_channels, s, s]` mapped to [−1, 1]; features `[b, feature_dim]`; logits
/// `[b, n_classes]`.
#[derive(Debug)]
pub struct ClassifierNet {
    convs: Vec<nn::Conv2D>,
    fc: nn::Linear,
    head: nn::Linear,
    pool_size: i64,
}

impl ClassifierNet {
    /// Creates the variables `convs.{i}.{weight,bias}`, `fc.{weight,bias}` and
    /// `head.{weight,bias}` under `vs`.
    pub fn new(vs: &nn::Path, cfg: &ClassifierConfig) -> Result<Self> {
        cfg.validate()?;
        let conv_cfg = nn::ConvConfig {
            padding: 1,
            ..Default::default()
        };
        let mut convs = Vec::with_capacity(cfg.channels.len());
        let mut in_ch = cfg.image_channels;
        for (i, &out_ch) in cfg.channels.iter().enumerate() {
            let p = vs / "convs" / i;
            convs.push(nn::conv2d(&p, in_ch, out_ch, 3, conv_cfg));
            in_ch = out_ch;
        }
        let flat = in_ch * cfg.pool_size * cfg.pool_size;
        let fc = nn::linear(vs / "fc", flat, cfg.feature_dim, Default::default());
        let head = nn::linear(
            vs / "head",
            cfg.feature_dim,
            cfg.n_classes,
            Default::default(),
        );
        Ok(Self {
            convs,
            fc,
            head,
            pool_size: cfg.pool_size,
        })
    }

    /// The penultimate layer: `[b, c, s, s]` images in [0, 1] → `[b, feature_dim]` features
    /// (after the ReLU). The shape is the caller's to check.
    pub fn features(&self, images: &Tensor) -> Tensor {
        let mut x = images * 2.0 - 1.0; // [b, c, s, s]
        let last = self.convs.len() - 1;
        for (i, conv) in self.convs.iter().enumerate() {
            x = x.apply(conv).relu();
            if i < last {
                x = x.max_pool2d_default(2); // [b, c_i, s / 2^(i+1), ...]
            }
        }
        let x = x
            .adaptive_avg_pool2d([self.pool_size, self.pool_size])
            .flatten(1, -1); // [b, c_last · p · p]
        x.apply(&self.fc).relu() // [b, feature_dim]
    }

    /// The class logits of a batch of features, `[b, feature_dim]` → `[b, n_classes]`.
    pub fn head(&self, features: &Tensor) -> Tensor {
        features.apply(&self.head)
    }
}

impl Module for ClassifierNet {
    /// Images `[b, c, s, s]` in [0, 1] → logits `[b, n_classes]`.
    fn forward(&self, images: &Tensor) -> Tensor {
        self.head(&self.features(images))
    }
}

/// A trained (or freshly initialised) classifier in its own var store.
#[derive(Debug)]
pub struct Classifier {
    vs: nn::VarStore,
    net: ClassifierNet,
    cfg: ClassifierConfig,
}

impl Classifier {
    /// A classifier with freshly initialised weights on `device` (from libtorch's global
    /// generator: seed it first for reproducible weights, as [`train_classifier`] does).
    pub fn new(cfg: &ClassifierConfig, device: Device) -> Result<Self> {
        cfg.validate()?;
        let vs = nn::VarStore::new(device);
        let net = ClassifierNet::new(&vs.root(), cfg)?;
        Ok(Self {
            vs,
            net,
            cfg: cfg.clone(),
        })
    }

    /// The config it was built with.
    pub fn config(&self) -> &ClassifierConfig {
        &self.cfg
    }

    /// The device of its weights.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// The network.
    pub fn net(&self) -> &ClassifierNet {
        &self.net
    }

    /// The variables by name, sorted.
    pub fn named_variables(&self) -> Vec<(String, Tensor)> {
        let mut v: Vec<(String, Tensor)> = self.vs.variables().into_iter().collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The class logits `[n, n_classes]` (float, on the classifier's device) of `images`
    /// (`[n, image_channels, image_size, image_size]`, values in [0, 1], any device and float kind).
    pub fn logits(&self, images: &Tensor) -> Result<Tensor> {
        let x = check_images("Classifier::logits", images, &self.cfg, self.device())?;
        self.eval_batches(&x, |b| self.net.forward(b))
    }

    /// The class probabilities `[n, n_classes]` (softmax of the logits).
    pub fn probabilities(&self, images: &Tensor) -> Result<Tensor> {
        Ok(self.logits(images)?.f_softmax(-1, Kind::Float)?)
    }

    /// The penultimate-layer features `[n, feature_dim]` (after the ReLU), for the Fréchet
    /// distance.
    pub fn features(&self, images: &Tensor) -> Result<Tensor> {
        let x = check_images("Classifier::features", images, &self.cfg, self.device())?;
        self.eval_batches(&x, |b| self.net.features(b))
    }

    /// The predicted classes `[n]` (int64, on the classifier's device).
    pub fn predict(&self, images: &Tensor) -> Result<Tensor> {
        Ok(self.logits(images)?.f_argmax(-1, false)?)
    }

    /// The fraction of `images` whose predicted class equals its label (`labels`: `[n]` integers in
    /// 0..n_classes; `None`, a dataset without labels, is an error).
    pub fn accuracy(&self, images: &Tensor, labels: Option<&Tensor>) -> Result<f64> {
        const OP: &str = "Classifier::accuracy";
        let x = check_images(OP, images, &self.cfg, self.device())?;
        let y = check_labels(OP, labels, x.size()[0], self.cfg.n_classes, self.device())?;
        let pred = self
            .eval_batches(&x, |b| self.net.forward(b))?
            .f_argmax(-1, false)?;
        let correct = pred
            .f_eq_tensor(&y)?
            .f_sum(Kind::Int64)?
            .f_int64_value(&[])?;
        Ok(correct as f64 / x.size()[0] as f64)
    }

    /// A sidecar for this classifier with nothing measured yet.
    pub fn meta(&self) -> ClassifierMeta {
        ClassifierMeta::new(&self.cfg)
    }

    /// Saves the weights to `path` (`*.safetensors`) and `meta` to the sidecar `path` with the
    /// extension `json`, creating the folder. Each file goes to a temporary name in the same
    /// folder and is renamed into place, the sidecar last. `meta.config` must be this classifier's.
    pub fn save(&self, path: &Path, meta: &ClassifierMeta) -> Result<()> {
        check_extension(path)?;
        if meta.config != self.cfg {
            return Err(Error::CheckpointMismatch {
                path: path.to_path_buf(),
                reason: format!(
                    "the sidecar's config {:?} is not the classifier's {:?}",
                    meta.config, self.cfg
                ),
            });
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        // VarStore::save picks the format from the extension, so the temporary name keeps it.
        let tmp = crate::commit::tmp_path(path);
        if let Err(e) = self.vs.save(&tmp) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
        crate::commit::commit(
            &sidecar_path(path),
            serde_json::to_value(meta)?,
            &[(tmp, path.to_path_buf())],
        )?;
        Ok(())
    }

    /// Loads a classifier saved by [`Classifier::save`] onto `device`: builds the sidecar's
    /// architecture, checks that the weights file has exactly its variable names and shapes, and
    /// loads them. Returns the sidecar too.
    pub fn load(path: &Path, device: Device) -> Result<(Self, ClassifierMeta)> {
        check_extension(path)?;
        let side = sidecar_path(path);
        let value =
            crate::commit::verify(&side, false).map_err(|reason| Error::CheckpointMismatch {
                path: path.to_path_buf(),
                reason,
            })?;
        let meta: ClassifierMeta = serde_json::from_value(value)?;
        if meta.format_version != CLASSIFIER_FORMAT_VERSION {
            return Err(Error::CheckpointMismatch {
                path: side,
                reason: format!(
                    "format version {}, this code reads {CLASSIFIER_FORMAT_VERSION}",
                    meta.format_version
                ),
            });
        }
        let mut classifier = Self::new(&meta.config, device)?;
        let file: HashMap<String, Tensor> = Tensor::read_safetensors(path)?.into_iter().collect();
        let vars = classifier.named_variables();
        let mut problems: Vec<String> = Vec::new();
        for (name, var) in &vars {
            match file.get(name) {
                None => problems.push(format!("missing {name}")),
                Some(t) if t.size() != var.size() => problems.push(format!(
                    "{name} has shape {:?}, the config needs {:?}",
                    t.size(),
                    var.size()
                )),
                Some(_) => {}
            }
        }
        let mut extra: Vec<&String> = file
            .keys()
            .filter(|k| !vars.iter().any(|(n, _)| n == *k))
            .collect();
        extra.sort();
        problems.extend(extra.into_iter().map(|k| format!("unexpected {k}")));
        if !problems.is_empty() {
            return Err(Error::CheckpointMismatch {
                path: path.to_path_buf(),
                reason: format!(
                    "the weights do not fit the sidecar's config: {}",
                    problems.join("; ")
                ),
            });
        }
        classifier.vs.load(path)?;
        Ok((classifier, meta))
    }

    /// Runs `f` under `no_grad` on batches of at most [`EVAL_BATCH`] of the checked images `x` and
    /// concatenates the results.
    fn eval_batches(&self, x: &Tensor, f: impl Fn(&Tensor) -> Tensor) -> Result<Tensor> {
        let n = x.size()[0];
        tch::no_grad(|| -> Result<Tensor> {
            let mut parts = Vec::with_capacity((n as usize).div_ceil(EVAL_BATCH as usize));
            let mut start = 0;
            while start < n {
                let len = EVAL_BATCH.min(n - start);
                parts.push(f(&x.f_narrow(0, start, len)?));
                start += len;
            }
            Ok(Tensor::f_cat(&parts, 0)?)
        })
    }
}

/// Trains a classifier on `images` (`[n, image_channels, image_size, image_size]` in [0, 1]) with
/// `labels` (`[n]` integers in 0..n_classes; `None`, a dataset without labels, is an error):
/// cross-entropy, Adam at a constant learning rate, `cfg.steps` steps of `cfg.batch_size` images
/// drawn without replacement from a fresh seeded permutation each epoch.
pub fn train_classifier(
    images: &Tensor,
    labels: Option<&Tensor>,
    cfg: &ClassifierConfig,
    device: Device,
) -> Result<(Classifier, ClassifierReport)> {
    const OP: &str = "train_classifier";
    cfg.validate()?;
    let x = check_images(OP, images, cfg, device)?;
    let n = x.size()[0];
    let y = check_labels(OP, labels, n, cfg.n_classes, device)?;
    gahb_tensor::manual_seed(cfg.seed);
    let classifier = Classifier::new(cfg, device)?;
    let params = classifier.named_variables();
    let mut adam = Adam::new(params, (0.9, 0.999), 1e-8)?;
    let batch = (cfg.batch_size as i64).min(n);
    let steps_per_epoch = (n as usize).div_ceil(batch as usize);
    let mut perm: Option<(usize, Tensor)> = None;
    let mut losses = Vec::with_capacity(cfg.steps);
    let t0 = Instant::now();
    for step in 0..cfg.steps {
        let epoch = step / steps_per_epoch;
        let k = (step % steps_per_epoch) as i64;
        if perm.as_ref().is_none_or(|(e, _)| *e != epoch) {
            tch::manual_seed(gahb_tensor::seed::torch_seed(
                gahb_tensor::seed::derive_seed(cfg.seed, "classifier-permutation"),
                epoch as u64,
            ));
            let p = Tensor::f_randperm(n, (Kind::Int64, Device::Cpu))?.f_to_device(device)?;
            perm = Some((epoch, p));
        }
        let (_, p) = perm.as_ref().expect("invariant: permutation set above");
        let start = k * batch;
        let idx = p.f_narrow(0, start, batch.min(n - start))?;
        let xb = x.f_index_select(0, &idx)?; // [b, c, s, s]
        let yb = y.f_index_select(0, &idx)?; // [b]
        let loss = classifier
            .net
            .forward(&xb)
            .f_log_softmax(-1, Kind::Float)?
            .f_nll_loss(&yb, None::<Tensor>, tch::Reduction::Mean, -100)?;
        adam.zero_grad();
        loss.f_backward()?;
        let value = loss.f_double_value(&[])?;
        if !value.is_finite() {
            return Err(Error::NonFiniteLoss {
                step,
                loss: value,
                last_checkpoint: None,
            });
        }
        adam.step(cfg.lr)?;
        losses.push(value);
    }
    let seconds = t0.elapsed().as_secs_f64();
    let train_accuracy = classifier.accuracy(&x, Some(&y))?;
    Ok((
        classifier,
        ClassifierReport {
            n_train_images: n as usize,
            steps: cfg.steps,
            losses,
            train_accuracy,
            seconds,
        },
    ))
}

/// Checks that `images` is `[n ≥ 1, image_channels, image_size, image_size]` with every value in
/// [0, 1], and returns it as float on `device`.
fn check_images(
    op: &'static str,
    images: &Tensor,
    cfg: &ClassifierConfig,
    device: Device,
) -> Result<Tensor> {
    let size = images.size();
    let (c, s) = (cfg.image_channels, cfg.image_size);
    if size.len() != 4 || size[1] != c || size[2] != s || size[3] != s {
        return Err(Error::ShapeMismatch {
            op,
            expected: format!("[n, {c}, {s}, {s}]"),
            got: size,
        });
    }
    let n = size[0];
    if n == 0 {
        return Err(Error::EmptyDataset { op });
    }
    let x = images.f_to_device(device)?.f_to_kind(Kind::Float)?;
    let lo = x.f_min()?.f_double_value(&[])?;
    let hi = x.f_max()?.f_double_value(&[])?;
    // NaN fails both comparisons (and min/max propagate it), so it takes the slow path too.
    if lo >= 0.0 && hi <= 1.0 {
        return Ok(x);
    }
    let flat = x.f_reshape([-1])?; // [n · c · s · s]
    let bad = flat
        .f_lt(0.0)?
        .f_logical_or(&flat.f_gt(1.0)?)?
        .f_logical_or(&flat.f_isnan()?)?;
    let first = bad.f_nonzero()?.f_int64_value(&[0, 0])?;
    Err(Error::ImageValueOutOfRange {
        op,
        image: first / (c * s * s),
        value: flat.f_double_value(&[first])?,
    })
}

/// Checks that `labels` is present, `[n]` integers in 0..n_classes, and returns it as int64 on
/// `device`.
fn check_labels(
    op: &'static str,
    labels: Option<&Tensor>,
    n: i64,
    n_classes: i64,
    device: Device,
) -> Result<Tensor> {
    let labels = labels.ok_or(Error::MissingLabels { op })?;
    let kind = labels.kind();
    if !matches!(
        kind,
        Kind::Int64 | Kind::Int | Kind::Int16 | Kind::Int8 | Kind::Uint8
    ) {
        return Err(Error::LabelKind {
            op,
            kind: format!("{kind:?}"),
        });
    }
    let size = labels.size();
    if size.len() != 1 {
        return Err(Error::ShapeMismatch {
            op,
            expected: format!("[{n}] labels"),
            got: size,
        });
    }
    if size[0] != n {
        return Err(Error::LabelCountMismatch {
            op,
            images: n,
            labels: size[0],
        });
    }
    let y = labels.f_to_device(device)?.f_to_kind(Kind::Int64)?;
    let bad = y.f_lt(0)?.f_logical_or(&y.f_ge(n_classes)?)?;
    if bad.f_any()?.f_int64_value(&[])? != 0 {
        let index = bad.f_nonzero()?.f_int64_value(&[0, 0])?;
        return Err(Error::LabelOutOfRange {
            op,
            index,
            label: y.f_int64_value(&[index])?,
            n_classes,
        });
    }
    Ok(y)
}

/// The sidecar path of a weights path: `x.safetensors` → `x.json`.
pub fn sidecar_path(path: &Path) -> PathBuf {
    path.with_extension("json")
}

fn check_extension(path: &Path) -> Result<()> {
    if path.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        return Err(Error::CheckpointMismatch {
            path: path.to_path_buf(),
            reason: "the weights file name must end in .safetensors".into(),
        });
    }
    Ok(())
}

/// A temporary name beside `path` that keeps the extension `ext`: `dir/.x.safetensors.tmp{pid}.ext`.
#[cfg(test)]
mod tests {
    use super::*;

    fn check(cfg: ClassifierConfig, field: &str) {
        let err = cfg.validate().expect_err("the config should be rejected");
        let text = err.to_string();
        assert!(text.contains(field), "{text} does not name {field}");
        assert!(!text.contains('\n'), "{text} is not one line");
    }

    #[test]
    fn presets_validate() {
        for s in [16, 28, 32, 40] {
            ClassifierConfig::fashion_mnist(s)
                .validate()
                .expect("fashion-mnist preset");
            ClassifierConfig::tiny(s, 4)
                .validate()
                .expect("tiny preset");
        }
    }

    #[test]
    fn bad_configs_are_rejected_by_name() {
        let ok = ClassifierConfig::tiny(16, 4);
        check(
            ClassifierConfig {
                channels: vec![],
                ..ok.clone()
            },
            "channels",
        );
        check(
            ClassifierConfig {
                channels: vec![8, 0],
                ..ok.clone()
            },
            "got 0",
        );
        check(
            ClassifierConfig {
                n_classes: 1,
                ..ok.clone()
            },
            "n_classes",
        );
        check(
            ClassifierConfig {
                steps: 0,
                ..ok.clone()
            },
            "steps",
        );
        check(
            ClassifierConfig {
                batch_size: 0,
                ..ok.clone()
            },
            "batch_size",
        );
        check(
            ClassifierConfig {
                lr: f64::NAN,
                ..ok.clone()
            },
            "lr",
        );
        check(
            ClassifierConfig {
                image_size: 2,
                channels: vec![4, 4, 4],
                ..ok.clone()
            },
            "at least 4, got 2",
        );
        check(
            ClassifierConfig {
                feature_dim: -3,
                ..ok
            },
            "-3",
        );
    }

    #[test]
    fn config_rejects_unknown_fields() {
        let mut v = serde_json::to_value(ClassifierConfig::tiny(16, 4)).expect("to json");
        v["dropout"] = serde_json::json!(0.5);
        let err = serde_json::from_value::<ClassifierConfig>(v).expect_err("unknown field");
        assert!(err.to_string().contains("dropout"), "{err}");
    }
}
