//! Checkpoints (paper §2, "every run saves its config, seed and git revision"): the weights as
//! safetensors with the PyTorch reference's key names (BN `running_sd` buffers included), a JSON
//! sidecar with the resolved config, seed, data split, git revision and step, and the Adam state.
//!
//! For `dir/model.safetensors` the files are `dir/model.safetensors` (weights only, loadable by
//! PyTorch's `load_state_dict` after `safetensors.torch.load_file`), `dir/model.optim.safetensors`
//! (`step`, `exp_avg.{name}`, `exp_avg_sq.{name}`) and `dir/model.json` ([`CheckpointMeta`]).
//! Each file is written to a temporary name and renamed; the sidecar is renamed last, and the
//! optimizer file's `step` must equal the sidecar's, so a torn write is detected on load.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

use crate::error::{Error, Result};
use crate::model::{Model, ModelConfig, ParamCounts};
use crate::train::TrainConfig;

/// Version of the checkpoint layout.
pub const FORMAT_VERSION: u32 = 1;

/// The JSON sidecar of a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointMeta {
    /// [`FORMAT_VERSION`] when written.
    pub format_version: u32,
    /// The architecture.
    pub model: ModelConfig,
    /// The resolved training config, when the weights come from [`crate::train::train`].
    pub train: Option<TrainConfig>,
    /// The training seed (also inside `train`).
    pub seed: Option<u64>,
    /// Description of the training data and split, as given by the caller.
    pub data_split: String,
    /// Git revision of the code that wrote it, when known.
    pub git_revision: Option<String>,
    /// Optimisation steps taken.
    pub step: usize,
    /// Number of training images.
    pub n_train_images: Option<usize>,
    /// Loss of the last step before saving.
    pub last_loss: Option<f64>,
    /// Parameter counts of the model.
    pub param_counts: ParamCounts,
    /// Whether an optimizer file was written beside the weights.
    pub has_optimizer: bool,
    /// Seconds since the Unix epoch when written.
    pub saved_unix_time: u64,
    /// Wall-clock seconds of the training steps up to `step`, summed over resumed runs (0 when
    /// not recorded).
    #[serde(default)]
    pub train_seconds: f64,
}

impl CheckpointMeta {
    /// A sidecar for `model` at `step`.
    pub fn new(
        model: &Model,
        train: Option<&TrainConfig>,
        data_split: &str,
        git_revision: Option<String>,
        step: usize,
    ) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            model: model.config().clone(),
            train: train.cloned(),
            seed: train.map(|t| t.seed),
            data_split: data_split.to_string(),
            git_revision,
            step,
            n_train_images: None,
            last_loss: None,
            param_counts: model.param_counts(),
            has_optimizer: false,
            saved_unix_time: 0,
            train_seconds: 0.0,
        }
    }

    /// Adds the training-set size and last loss.
    pub fn with_training(mut self, n_train_images: usize, last_loss: Option<f64>) -> Self {
        self.n_train_images = Some(n_train_images);
        self.last_loss = last_loss;
        self
    }
}

/// The sidecar path of a weights path: `x.safetensors` → `x.json`.
pub fn sidecar_path(path: &Path) -> PathBuf {
    path.with_extension("json")
}

/// The optimizer path of a weights path: `x.safetensors` → `x.optim.safetensors`.
pub fn optimizer_path(path: &Path) -> PathBuf {
    path.with_extension("optim.safetensors")
}

/// The current git revision from `git rev-parse HEAD`, or `None` when git or a repository is missing.
pub fn git_revision() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let rev = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!rev.is_empty()).then_some(rev)
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".tmp{}", std::process::id()));
    path.with_file_name(name)
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

fn write_tensors_atomic(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let tmp = tmp_path(path);
    let cpu = tensors
        .iter()
        .map(|(n, t)| {
            Ok((
                n.clone(),
                t.f_detach()?.f_to_device(Device::Cpu)?.f_contiguous()?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    Tensor::write_safetensors(&cpu, &tmp)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Saves `model` (and the optimizer state, when given: [`crate::Trainer::state_tensors`] or
/// [`crate::Adam::state_tensors`]) to `path` (`*.safetensors`) with `meta` as sidecar.
/// Creates the parent folder. Every file is written atomically (temporary file + rename).
pub fn save(
    path: &Path,
    model: &Model,
    meta: &CheckpointMeta,
    optimizer: Option<&[(String, Tensor)]>,
) -> Result<()> {
    check_extension(path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut meta = meta.clone();
    meta.has_optimizer = optimizer.is_some();
    meta.saved_unix_time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if let Some(state) = optimizer {
        write_tensors_atomic(&optimizer_path(path), state)?;
    }
    write_tensors_atomic(path, &model.named_variables())?;
    let side = sidecar_path(path);
    let tmp = tmp_path(&side);
    std::fs::write(&tmp, serde_json::to_string_pretty(&meta)?)?;
    std::fs::rename(&tmp, &side)?;
    Ok(())
}

/// Reads a checkpoint's sidecar.
pub fn read_meta(path: &Path) -> Result<CheckpointMeta> {
    let text = std::fs::read_to_string(sidecar_path(path))?;
    Ok(serde_json::from_str(&text)?)
}

/// Loads weights from a safetensors file into `model`, after checking that the file has exactly the
/// model's variable names and shapes (a file from the PyTorch reference with the same architecture
/// loads too). Differences are reported by name, with both shapes.
pub fn load_weights(model: &mut Model, path: &Path) -> Result<()> {
    let mismatch = |reason: String| Error::CheckpointMismatch {
        path: path.to_path_buf(),
        reason,
    };
    let file: HashMap<String, Tensor> = Tensor::read_safetensors(path)?.into_iter().collect();
    let vars = model.named_variables();
    let mut problems = Vec::new();
    for (name, var) in &vars {
        match file.get(name) {
            None => problems.push(format!("missing {name}")),
            Some(t) if t.size() != var.size() => problems.push(format!(
                "{name} has shape {:?}, the model needs {:?}",
                t.size(),
                var.size()
            )),
            Some(_) => {}
        }
    }
    let known: std::collections::HashSet<&String> = vars.iter().map(|(n, _)| n).collect();
    problems.extend(
        file.keys()
            .filter(|k| !known.contains(k))
            .map(|k| format!("unexpected {k}")),
    );
    if !problems.is_empty() {
        problems.sort();
        let n = problems.len();
        problems.truncate(5);
        return Err(mismatch(format!(
            "the weights do not fit the model's architecture ({n} differences: {}{})",
            problems.join("; "),
            if n > 5 { "; ..." } else { "" }
        )));
    }
    tch::no_grad(|| -> Result<()> {
        for (name, mut var) in vars {
            let src = &file[&name];
            var.f_copy_(&src.f_to_kind(var.kind())?)?;
        }
        Ok(())
    })
}

/// Loads a checkpoint into `model`: the sidecar's architecture must equal the model's, then the
/// weights are checked and copied. Returns the sidecar.
pub fn load_into(model: &mut Model, path: &Path) -> Result<CheckpointMeta> {
    let meta = read_meta(path)?;
    if &meta.model != model.config() {
        return Err(Error::CheckpointMismatch {
            path: path.to_path_buf(),
            reason: format!(
                "architecture differs: checkpoint has {:?}, the config asks for {:?}",
                meta.model,
                model.config()
            ),
        });
    }
    load_weights(model, path)?;
    Ok(meta)
}

/// Builds the model a checkpoint describes on `device` and loads its weights.
pub fn load(path: &Path, device: Device) -> Result<(Model, CheckpointMeta)> {
    let meta = read_meta(path)?;
    let mut model = Model::new(&meta.model, device)?;
    load_weights(&mut model, path)?;
    Ok((model, meta))
}

/// Reads the optimizer state beside `path`, checking that it was written at `step`.
pub fn load_optimizer(path: &Path, step: usize) -> Result<Vec<(String, Tensor)>> {
    let opath = optimizer_path(path);
    let tensors = Tensor::read_safetensors(&opath)?;
    let saved = tensors
        .iter()
        .find(|(n, _)| n == "step")
        .map(|(_, t)| t.f_int64_value(&[0]))
        .transpose()?;
    if saved != Some(step as i64) {
        return Err(Error::CheckpointMismatch {
            path: opath,
            reason: format!(
                "optimizer state is at step {saved:?} but the sidecar says {step} (torn write?)"
            ),
        });
    }
    Ok(tensors)
}
