//! Checkpoints (paper §2, "every run saves its config, seed and git revision"): the weights as
//! safetensors with the PyTorch reference's key names (BN `running_sd` buffers included), a JSON
//! sidecar with the resolved config, seed, data split, git revision and step, and the Adam state.
//!
//! For `dir/model.safetensors` the files are `dir/model.safetensors` (weights only, loadable by
//! PyTorch's `load_state_dict` after `safetensors.torch.load_file`), `dir/model.optim.safetensors`
//! (`step`, `exp_avg.{name}`, `exp_avg_sq.{name}`) and `dir/model.json` ([`CheckpointMeta`]).
//! The three files are one unit ([`crate::commit`]): the sidecar, written last, names the SHA-256
//! of the weights and of the optimizer file and carries a seal of its own JSON, so a torn save or
//! a corrupted byte is detected on load; [`recover`] then falls back to the previous good
//! checkpoint, which every save keeps until the new one is in place.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::commit;
use crate::error::{Error, Result};
use crate::model::{Model, ModelConfig, ParamCounts};
use crate::train::TrainConfig;

/// Version of the checkpoint layout (2: the sidecar names its parts' hashes and is sealed).
pub const FORMAT_VERSION: u32 = 2;

/// The JSON sidecar of a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointMeta {
    /// [`FORMAT_VERSION`] when written.
    pub format_version: u32,
    /// The architecture.
    pub model: ModelConfig,
    /// The resolved training config, when the weights come from [`crate::run::train`].
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
    /// SHA-256 of each part (file name → hex), filled in by [`save`].
    #[serde(default)]
    pub parts: std::collections::BTreeMap<String, String>,
    /// The seal of the sidecar ([`crate::commit`]), filled in by [`save`].
    #[serde(default)]
    pub seal: String,
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
            parts: Default::default(),
            seal: String::new(),
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

fn check_extension(path: &Path) -> Result<()> {
    if path.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        return Err(Error::CheckpointMismatch {
            path: path.to_path_buf(),
            reason: "the weights file name must end in .safetensors".into(),
        });
    }
    Ok(())
}

fn write_tensors(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let cpu = tensors
        .iter()
        .map(|(n, t)| {
            Ok((
                n.clone(),
                t.f_detach()?.f_to_device(Device::Cpu)?.f_contiguous()?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    Tensor::write_safetensors(&cpu, path)?;
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
    let mut parts = Vec::new();
    let written = (|| -> Result<()> {
        if let Some(state) = optimizer {
            let fin = optimizer_path(path);
            let tmp = commit::tmp_path(&fin);
            parts.push((tmp.clone(), fin));
            write_tensors(&tmp, state)?;
        }
        let tmp = commit::tmp_path(path);
        parts.push((tmp.clone(), path.to_path_buf()));
        write_tensors(&tmp, &model.named_variables())
    })();
    if let Err(e) = written {
        for (tmp, _) in &parts {
            let _ = std::fs::remove_file(tmp);
        }
        return Err(e);
    }
    commit::commit(&sidecar_path(path), serde_json::to_value(&meta)?, &parts)?;
    Ok(())
}

/// Reads a checkpoint's sidecar after checking the whole checkpoint: the sidecar's seal and the
/// hash of every file it names. A torn or corrupted checkpoint is an error that says so; see
/// [`recover`] to fall back to the previous good one.
pub fn read_meta(path: &Path) -> Result<CheckpointMeta> {
    let value =
        commit::verify(&sidecar_path(path), false).map_err(|reason| Error::CheckpointMismatch {
            path: path.to_path_buf(),
            reason,
        })?;
    meta_from(path, value)
}

fn meta_from(path: &Path, value: serde_json::Value) -> Result<CheckpointMeta> {
    let meta: CheckpointMeta =
        serde_json::from_value(value).map_err(|e| Error::CheckpointMismatch {
            path: sidecar_path(path),
            reason: format!("the sidecar does not describe a checkpoint: {e}"),
        })?;
    if meta.format_version != FORMAT_VERSION {
        return Err(Error::CheckpointMismatch {
            path: sidecar_path(path),
            reason: format!(
                "checkpoint format {}, this gahb reads {FORMAT_VERSION}: retrain it",
                meta.format_version
            ),
        });
    }
    Ok(meta)
}

/// What [`recover`] found at a checkpoint path.
#[derive(Debug, Clone)]
pub struct Recovery {
    /// The sidecar of the usable checkpoint now at the path, if any.
    pub meta: Option<CheckpointMeta>,
    /// A line for the user when a checkpoint was refused (restored from the previous good one,
    /// or removed).
    pub note: Option<String>,
}

/// Finds the usable checkpoint at `path`: the current one when it verifies, else the previous good
/// one (kept by every [`save`] until the new one is in place), linked back into place; a checkpoint
/// that fails both ways is removed. A checkpoint of another format is removed too.
pub fn recover(path: &Path) -> Result<Recovery> {
    let side = sidecar_path(path);
    let found = commit::recover(&side)?;
    let mut note = found.note(path);
    let meta = match found.sidecar().cloned().map(|v| meta_from(path, v)) {
        Some(Ok(m)) => Some(m),
        Some(Err(e)) => {
            commit::discard(&side, &[path.to_path_buf(), optimizer_path(path)]);
            note = Some(format!("{e}; it was removed and is rebuilt"));
            None
        }
        None => {
            if matches!(found, commit::Recovered::Discarded { .. }) {
                commit::discard(&side, &[path.to_path_buf(), optimizer_path(path)]);
            }
            None
        }
    };
    Ok(Recovery { meta, note })
}

/// Removes the checkpoint at `path` (weights, optimizer file, sidecar and any previous copy).
pub fn discard(path: &Path) {
    commit::discard(
        &sidecar_path(path),
        &[path.to_path_buf(), optimizer_path(path)],
    );
}

/// Loads weights from a safetensors file into `model`, after checking that the file has exactly the
/// model's variable names and shapes (a file from the PyTorch reference with the same architecture
/// loads too). Differences are reported by name, with both shapes.
pub fn load_weights(model: &mut Model, path: &Path) -> Result<()> {
    let file = Tensor::read_safetensors(path)?;
    copy_checked(model, &file, path, "model's architecture")
}

/// Checks that `tensors` hold exactly the model's variable names and shapes (each difference
/// named, with both shapes; `what` names the model in the message) and only finite values, then
/// copies them into `model`. Shared by [`load_weights`] and the PyTorch importer.
pub(crate) fn copy_checked(
    model: &mut Model,
    state_dict: &[(String, Tensor)],
    path: &Path,
    what: &str,
) -> Result<()> {
    let mismatch = |reason: String| Error::CheckpointMismatch {
        path: path.to_path_buf(),
        reason,
    };
    let file: HashMap<&str, &Tensor> = state_dict.iter().map(|(k, t)| (k.as_str(), t)).collect();
    let vars = model.named_variables();
    let mut problems = Vec::new();
    for (name, var) in &vars {
        match file.get(name.as_str()) {
            None => problems.push(format!("missing {name}")),
            Some(t) if t.size() != var.size() => problems.push(format!(
                "{name} has shape {:?}, the model needs {:?}",
                t.size(),
                var.size()
            )),
            Some(_) => {}
        }
    }
    let known: HashSet<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
    problems.extend(
        state_dict
            .iter()
            .filter(|(k, _)| !known.contains(k.as_str()))
            .map(|(k, _)| format!("unexpected {k}")),
    );
    if !problems.is_empty() {
        problems.sort();
        let n = problems.len();
        problems.truncate(5);
        return Err(mismatch(format!(
            "the weights do not fit the {what} ({n} differences: {}{})",
            problems.join("; "),
            if n > 5 { "; ..." } else { "" }
        )));
    }
    let mut bad = Vec::new();
    for (name, t) in state_dict {
        let n = t
            .f_isfinite()?
            .f_logical_not()?
            .f_sum(Kind::Int64)?
            .f_int64_value(&[])?;
        if n > 0 {
            bad.push(format!("{name} ({n} of {})", t.numel()));
        }
    }
    if !bad.is_empty() {
        bad.sort();
        return Err(mismatch(format!(
            "the weights hold non-finite values: {}",
            bad.join(", ")
        )));
    }
    tch::no_grad(|| -> Result<()> {
        for (name, mut var) in vars {
            if let Some(src) = file.get(name.as_str()) {
                var.f_copy_(&src.f_to_kind(var.kind())?)?;
            }
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

/// Reads the optimizer state beside `path`, checking that it was written at `step` (its bytes are
/// checked by [`read_meta`], which [`load_into`] calls).
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
