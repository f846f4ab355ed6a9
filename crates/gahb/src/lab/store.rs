//! The content-addressed store of trained models (`<cache>/models/`).
//!
//! A model is keyed by the SHA-256 of everything that determines it, as it is: the denoiser crate's
//! `ModelConfig` and `TrainConfig` ([`ModelSpec`]) and the exact bytes of its training images.
//! Run settings ([`RunSettings`]) are not hashed: they change how a training is carried out, never
//! what it produces. A rerun loads what is done; an interrupted training resumes from its last
//! checkpoint.
//!
//! Nothing cached is used unchecked (issue 13): a checkpoint is a sealed unit whose sidecar names
//! the hash of every file (gahb-denoiser `commit`); one that does not verify is replaced by the
//! previous good checkpoint or removed and retrained, one whose sidecar describes another model
//! or training is removed, and weights with non-finite values are refused. Each such repair is a
//! note in [`TrainedInfo`] and in the report. One writer per key: [`crate::lab::lock`].

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use gahb_denoiser::{train, Model, ModelConfig, TrainConfig};
use gahb_tensor::convert::images_to_batch;
use ndarray::Array3;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tch::Device;

use crate::lab::lock::KeyLock;
use crate::lab::recipe::RunSettings;

/// Bumped when a change to the code invalidates cached models (v2: sealed checkpoints).
const CACHE_VERSION: &str = "gahb-cache-v2";

/// What a trained model is: its architecture and its training, both as the denoiser crate has them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSpec {
    /// The network.
    pub model: ModelConfig,
    /// The training hyper-parameters (seed included).
    pub train: TrainConfig,
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
    /// Seconds the model's training took in all, over every run that trained it (from its
    /// checkpoint; 0 for models cached before this was recorded).
    pub train_seconds: f64,
    /// Loss of the last training step, when recorded.
    pub last_loss: Option<f64>,
    /// Steps trained in total.
    pub steps: usize,
    /// Training images.
    pub n_images: usize,
    /// What was wrong with the cached files and what was done (a refused checkpoint restored from
    /// the previous good one or rebuilt, a stale lock taken over, temporaries removed).
    pub notes: Vec<String>,
}

/// The model store in one folder.
#[derive(Debug, Clone)]
pub struct ModelStore {
    dir: PathBuf,
}

impl ModelStore {
    /// The store under `cache` (`<cache>/models`).
    pub fn new(cache: &std::path::Path) -> Self {
        Self {
            dir: cache.join("models"),
        }
    }

    /// The checkpoint file of a cache key.
    pub fn path_of(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.safetensors"))
    }

    /// The sidecar of `key`'s checkpoint when it holds `spec`'s whole training (its last step), read
    /// without verifying the weights.
    pub fn done(&self, spec: &ModelSpec, key: &str) -> Option<gahb_denoiser::CheckpointMeta> {
        gahb_denoiser::checkpoint::read_meta(&self.path_of(key))
            .ok()
            .filter(|m| Some(m.step) == spec.train.steps)
    }

    /// The cache key of `spec` trained on `images`.
    pub fn key(spec: &ModelSpec, images: &Array3<f32>) -> Result<String> {
        content_key(&(CACHE_VERSION, &spec.model, &spec.train, array_hash(images)))
    }

    /// Trains `spec` on `images` (`[n, h, w]`), or loads the stored result. `label` is shown in
    /// progress lines; `split` is recorded in the checkpoint.
    pub fn get_or_train(
        &self,
        label: &str,
        spec: &ModelSpec,
        images: &Array3<f32>,
        split: &str,
        run: &RunSettings,
        device: Device,
    ) -> Result<(Model, TrainedInfo)> {
        check_fits(&spec.model, images).with_context(|| label.to_string())?;
        let key = Self::key(spec, images)?;
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let path = self.dir.join(format!("{key}.safetensors"));
        // One writer per key: a concurrent run training the same model is waited for, and its
        // result loaded below.
        let _lock = KeyLock::acquire(&self.dir, &key, label)?;
        let mut notes = _lock.broke.clone();
        let removed = gahb_denoiser::commit::remove_temporaries(&self.dir, &key);
        if removed > 0 {
            notes.push(format!(
                "{removed} temporary file(s) of {key:.12} left by an interrupted run were removed"
            ));
        }
        // The initial weights come from libtorch's global generator: seed it from the training
        // seed, so the model is determined by what the key hashes.
        gahb_tensor::manual_seed(spec.train.seed);
        let mut model = Model::new(&spec.model, device).context("building the model")?;
        let found = gahb_denoiser::checkpoint::recover(&path)
            .with_context(|| format!("checking cached model {}", path.display()))?;
        notes.extend(found.note.clone());
        if let Some(meta) = &found.meta {
            // A sealed checkpoint under this key must still be this key's model.
            let foreign = if meta.model != spec.model {
                Some("its sidecar describes another architecture".to_string())
            } else if !meta
                .train
                .as_ref()
                .is_some_and(|t| t.same_training_as(&spec.train))
            {
                Some("its sidecar describes another training".to_string())
            } else if meta.n_train_images != Some(images.dim().0) {
                Some(format!(
                    "its sidecar says {:?} training images, the key's set has {}",
                    meta.n_train_images,
                    images.dim().0
                ))
            } else {
                None
            };
            if let Some(why) = foreign {
                gahb_denoiser::checkpoint::discard(&path);
                notes.push(format!(
                    "cached model {} was refused ({why}); it is retrained",
                    path.display()
                ));
            }
        }
        if let Some(meta) = self.done(spec, &key) {
            match gahb_denoiser::checkpoint::load_weights(&mut model, &path) {
                Ok(()) => {
                    eprintln!("  {label}: cached ({key:.12})");
                    for n in &notes {
                        eprintln!("  {label}: {n}");
                    }
                    return Ok((
                        model,
                        TrainedInfo {
                            key,
                            cached: true,
                            seconds: 0.0,
                            train_seconds: meta.train_seconds,
                            last_loss: meta.last_loss,
                            steps: meta.step,
                            n_images: images.dim().0,
                            notes,
                        },
                    ));
                }
                Err(e) => {
                    gahb_denoiser::checkpoint::discard(&path);
                    notes.push(format!(
                        "cached model {} was refused ({e}); it is retrained",
                        path.display()
                    ));
                    gahb_tensor::manual_seed(spec.train.seed);
                    model = Model::new(&spec.model, device).context("building the model")?;
                }
            }
        }
        for n in &notes {
            eprintln!("  {label}: {n}");
        }
        anyhow::ensure!(
            !run.cached_only,
            "model `{label}` ({key:.12}) is not in the cache {}: this run only assembles; train it \
             first (its unit in `gahb plan`, run by `gahb run --task`)",
            self.dir.display()
        );
        eprintln!(
            "  {label}: training on {} images ({key:.12})",
            images.dim().0
        );
        let t0 = Instant::now();
        let report = train(
            &mut model,
            &images_to_batch(images),
            &spec.train,
            run.options(path.clone(), split),
        )
        .with_context(|| format!("training {label}"))?;
        Ok((
            model,
            TrainedInfo {
                key,
                cached: false,
                seconds: t0.elapsed().as_secs_f64(),
                train_seconds: gahb_denoiser::checkpoint::read_meta(&path)
                    .map_or(0.0, |m| m.train_seconds),
                last_loss: report.losses.last().map(|l| l.1),
                steps: report.end_step,
                n_images: images.dim().0,
                notes: {
                    notes.extend(report.notes.iter().cloned());
                    notes
                },
            },
        ))
    }
}

/// Checks that `model` takes images of the stack's size.
pub fn check_fits(model: &ModelConfig, images: &Array3<f32>) -> Result<()> {
    let (n, h, w) = images.dim();
    anyhow::ensure!(n > 0, "no training images");
    if let ModelConfig::UNet(u) = model {
        anyhow::ensure!(
            u.image_size == h as i64 && u.image_size == w as i64,
            "net.image_size = {} but the images are {h}×{w}: set net.image_size = {h}",
            u.image_size
        );
    }
    model
        .validate()
        .with_context(|| format!("the network cannot take {h}×{w} images"))?;
    Ok(())
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
pub fn git_revision(root: &std::path::Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(root)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gahb_denoiser::UNetConfig;

    #[test]
    fn a_net_for_another_size_is_explained() {
        let net = ModelConfig::UNet(UNetConfig {
            image_size: 16,
            ..UNetConfig::tiny()
        });
        let images = Array3::<f32>::zeros((2, 32, 32));
        let err = format!("{:#}", check_fits(&net, &images).expect_err("16 vs 32"));
        assert!(
            err.contains("image_size = 16") && err.contains("32×32"),
            "{err}"
        );
    }

    fn tiny() -> (ModelSpec, Array3<f32>) {
        let spec = ModelSpec {
            model: ModelConfig::UNet(UNetConfig::tiny()),
            train: TrainConfig {
                steps: Some(4),
                epochs: None,
                batch_size: 2,
                ..TrainConfig::default()
            },
        };
        let images = Array3::from_shape_fn((4, 16, 16), |(i, j, k)| ((i + j * k) % 7) as f32 / 7.0);
        (spec, images)
    }

    fn quiet() -> RunSettings {
        RunSettings {
            progress: false,
            ..RunSettings::default()
        }
    }

    fn first_weight(m: &Model) -> Vec<f32> {
        let (_, t) = &m.named_variables()[0];
        let flat = t.flatten(0, -1);
        (0..flat.size()[0].min(16))
            .map(|i| flat.double_value(&[i]) as f32)
            .collect()
    }

    #[test]
    fn a_sealed_checkpoint_of_another_training_or_with_nan_weights_is_refused_and_retrained() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = ModelStore::new(dir.path());
        let (spec, images) = tiny();
        let (m, info) = store
            .get_or_train("t", &spec, &images, "s", &quiet(), Device::Cpu)
            .expect("train");
        assert!(!info.cached && info.notes.is_empty(), "{:?}", info.notes);
        let path = store.dir.join(format!("{}.safetensors", info.key));
        let good = first_weight(&m);

        // Another training's checkpoint, validly sealed, written under this key.
        let mut other = spec.clone();
        other.train.seed = 99;
        let foreign = Model::new(&spec.model, Device::Cpu).expect("model");
        let meta = gahb_denoiser::CheckpointMeta::new(&foreign, Some(&other.train), "x", None, 4)
            .with_training(4, None);
        gahb_denoiser::checkpoint::save(&path, &foreign, &meta, None).expect("save");
        let (m2, info2) = store
            .get_or_train("t", &spec, &images, "s", &quiet(), Device::Cpu)
            .expect("retrain");
        assert!(!info2.cached, "a foreign model must not be used");
        assert!(
            info2.notes.iter().any(|n| n.contains("another training")),
            "{:?}",
            info2.notes
        );
        assert_eq!(first_weight(&m2), good, "retraining gives the same model");

        // This training's checkpoint with NaN weights, validly sealed.
        let meta = gahb_denoiser::CheckpointMeta::new(&m2, Some(&spec.train), "x", None, 4)
            .with_training(4, None);
        tch::no_grad(|| {
            for (_, mut v) in m2.named_variables() {
                let _ = v.fill_(f64::NAN);
            }
        });
        gahb_denoiser::checkpoint::save(&path, &m2, &meta, None).expect("save");
        let (m3, info3) = store
            .get_or_train("t", &spec, &images, "s", &quiet(), Device::Cpu)
            .expect("retrain");
        assert!(!info3.cached);
        assert!(
            info3.notes.iter().any(|n| n.contains("non-finite")),
            "{:?}",
            info3.notes
        );
        assert_eq!(first_weight(&m3), good);
        let (_, info4) = store
            .get_or_train("t", &spec, &images, "s", &quiet(), Device::Cpu)
            .expect("load");
        assert!(info4.cached && info4.notes.is_empty(), "{:?}", info4.notes);
    }

    #[test]
    fn the_key_follows_the_config_and_the_bytes() {
        let spec = ModelSpec {
            model: ModelConfig::UNet(UNetConfig::tiny()),
            train: TrainConfig::default(),
        };
        let a = Array3::<f32>::zeros((2, 16, 16));
        let mut b = a.clone();
        b[[1, 3, 3]] = 0.5;
        let k = ModelStore::key(&spec, &a).expect("key");
        assert_eq!(k, ModelStore::key(&spec, &a).expect("key"));
        assert_ne!(k, ModelStore::key(&spec, &b).expect("key"));
        let mut other = spec.clone();
        other.train.seed = 1;
        assert_ne!(k, ModelStore::key(&other, &a).expect("key"));
    }
}
