//! The run context shared by experiments (output folders, device, seeds, git revision), and the
//! content-addressed cache of trained models.
//!
//! A model is keyed by the SHA-256 of everything that determines it: the architecture, the
//! resolved training config (seed included) and the exact bytes of its training images. A rerun
//! loads what is done; an interrupted training resumes from its last checkpoint.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use gahb_denoiser::{train, Model, ModelConfig, RunOptions, TrainConfig};
use ndarray::Array3;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tch::{Device, Tensor};

use crate::profile::Profile;

/// Bumped when a change to the code invalidates cached models.
const CACHE_VERSION: &str = "gahb-cache-v1";

/// What every experiment gets.
pub struct Ctx {
    /// The resolved profile.
    pub profile: Profile,
    /// `results/<profile>/`.
    pub out: PathBuf,
    /// `results/cache/` (shared between profiles: identical work is done once).
    pub cache: PathBuf,
    /// Where to compute.
    pub device: Device,
    /// Git revision of the code, when known.
    pub git_revision: Option<String>,
    /// A local CelebA folder (`img_align_celeba`), when the user gave one.
    pub celeba: Option<PathBuf>,
    /// Datasets loaded in this run, keyed by their spec and seed, so experiments share them.
    pub loaded:
        std::cell::RefCell<std::collections::HashMap<String, std::rc::Rc<crate::data::Loaded>>>,
    /// PSNR curves of N-sweeps measured in this run (and their data description), keyed by the
    /// sweep config, so Fig. 15 reuses Fig. 1's.
    pub curves: std::cell::RefCell<
        std::collections::HashMap<String, (Vec<crate::experiments::fig1::Curves>, String)>,
    >,
}

/// Where a trained model came from.
#[derive(Debug, Clone, Serialize)]
pub struct TrainedInfo {
    /// The cache key.
    pub key: String,
    /// True when it was loaded, not trained, in this run.
    pub cached: bool,
    /// Seconds spent training in this run.
    pub seconds: f64,
    /// Loss of the last training step, when recorded.
    pub last_loss: Option<f64>,
    /// Steps trained in total.
    pub steps: usize,
    /// Training images.
    pub n_images: usize,
}

impl Ctx {
    /// The folder of one experiment's outputs, created.
    pub fn exp_dir(&self, name: &str) -> Result<PathBuf> {
        let d = self.out.join(name);
        std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        Ok(d)
    }

    /// Trains `model_cfg` on `images` with `train_cfg`, or loads the cached result.
    /// `label` is shown in progress lines; `split` is recorded in the checkpoint.
    pub fn train_cached(
        &self,
        label: &str,
        model_cfg: &ModelConfig,
        train_cfg: &TrainConfig,
        images: &Array3<f32>,
        split: &str,
    ) -> Result<(Model, TrainedInfo)> {
        let mut hashed = train_cfg.clone();
        hashed.progress = false;
        let key = content_key(&(CACHE_VERSION, model_cfg, &hashed, array_hash(images)))?;
        let dir = self.cache.join("models");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{key}.safetensors"));
        // The initial weights come from libtorch's global generator: seed it from the training
        // seed, so the model is determined by what the cache key hashes.
        gahb_tensor::manual_seed(train_cfg.seed);
        let mut model = Model::new(model_cfg, self.device).context("building the model")?;
        let done = gahb_denoiser::checkpoint::read_meta(&path)
            .ok()
            .filter(|m| Some(m.step) == train_cfg.steps);
        if let Some(meta) = done {
            gahb_denoiser::checkpoint::load_weights(&mut model, &path)
                .with_context(|| format!("loading cached model {}", path.display()))?;
            eprintln!("  {label}: cached ({key:.12})");
            return Ok((
                model,
                TrainedInfo {
                    key,
                    cached: true,
                    seconds: 0.0,
                    last_loss: meta.last_loss,
                    steps: meta.step,
                    n_images: images.dim().0,
                },
            ));
        }
        eprintln!(
            "  {label}: training on {} images ({key:.12})",
            images.dim().0
        );
        let data = to_batch(images);
        let t0 = Instant::now();
        let mut cfg = train_cfg.clone();
        if cfg.checkpoint_every == 0 {
            cfg.checkpoint_every = 500;
        }
        let report = train(
            &mut model,
            &data,
            &cfg,
            RunOptions {
                checkpoint: Some(path.clone()),
                resume: true,
                data_split: split.to_string(),
                git_revision: self.git_revision.clone(),
                ..RunOptions::default()
            },
        )
        .with_context(|| format!("training {label}"))?;
        Ok((
            model,
            TrainedInfo {
                key,
                cached: false,
                seconds: t0.elapsed().as_secs_f64(),
                last_loss: report.losses.last().map(|l| l.1),
                steps: report.end_step,
                n_images: images.dim().0,
            },
        ))
    }
}

/// `[n, h, w]` images to a `[n, 1, h, w]` CPU tensor.
pub fn to_batch(images: &Array3<f32>) -> Tensor {
    let (n, h, w) = images.dim();
    gahb_tensor::convert::array_to_tensor(images).reshape([n as i64, 1, h as i64, w as i64])
}

/// SHA-256 (hex) of the JSON form of `value`.
pub fn content_key(value: &impl Serialize) -> Result<String> {
    let json = serde_json::to_vec(value)?;
    Ok(hex(&Sha256::digest(&json)))
}

/// SHA-256 (hex) of an image stack's shape and bytes.
pub fn array_hash(images: &Array3<f32>) -> String {
    let mut h = Sha256::new();
    for d in images.shape() {
        h.update((*d as u64).to_le_bytes());
    }
    for v in images.iter() {
        h.update(v.to_le_bytes());
    }
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads `git rev-parse HEAD` in `root`, if git and a repository are there.
pub fn git_revision(root: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(root)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
