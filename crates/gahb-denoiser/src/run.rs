//! Carrying out a training run (paper §2): the loop of [`Trainer`] steps with checkpoints, exact
//! resume, a progress bar and a step callback. What is trained is [`TrainConfig`] (hyper-parameters
//! only); how the run is carried out is [`RunOptions`], so a model's identity never depends on it.

use std::path::PathBuf;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::checkpoint::{self, CheckpointMeta};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::train::{Plan, StepInfo, TrainConfig, Trainer};

/// A function called after every training step.
pub type StepCallback<'a> = Box<dyn FnMut(&StepInfo) + 'a>;

/// Everything about a run that is not a hyper-parameter.
#[derive(Default)]
pub struct RunOptions<'a> {
    /// Where to write checkpoints (`*.safetensors`, with `.json` and `.optim.safetensors` beside it).
    /// `None`: no checkpoints.
    pub checkpoint: Option<PathBuf>,
    /// Resume from `checkpoint` when it exists.
    pub resume: bool,
    /// Description of the training data and split, recorded in the checkpoint sidecar.
    pub data_split: String,
    /// Git revision to record; `None` reads `git rev-parse HEAD` (failing soft).
    pub git_revision: Option<String>,
    /// Stop after this many total steps (an interruption, for tests); `None`: the plan's total.
    pub stop_after: Option<usize>,
    /// Called after every step.
    pub on_step: Option<StepCallback<'a>>,
    /// Write a checkpoint every this many steps (0: only at the end).
    pub checkpoint_every: usize,
    /// Show a progress bar.
    pub progress: bool,
}

/// What a training run did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// The plan of the run.
    pub plan: Plan,
    /// The step it started from (0, or the resumed checkpoint's step).
    pub start_step: usize,
    /// The step count reached.
    pub end_step: usize,
    /// (step, loss) of every step of this call.
    pub losses: Vec<(usize, f64)>,
    /// Wall-clock seconds of this call's steps.
    pub seconds: f64,
    /// Training images per second.
    pub images_per_sec: f64,
    /// The last checkpoint written, if any.
    pub last_checkpoint: Option<PathBuf>,
    /// What was wrong with the checkpoint found at the start (torn or corrupt) and what was done.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// Trains `model` on `data` (`[N, c, h, w]` in [0, 1]) with `cfg`, writing checkpoints and resuming
/// as `run` says.
///
/// On resume the checkpoint must hold the same architecture and the same training settings (the
/// length may differ, so a run can be extended); otherwise [`Error::CheckpointMismatch`].
/// A NaN or infinite loss stops the run with [`Error::NonFiniteLoss`], naming the step and the last
/// good checkpoint, which is left as it was.
pub fn train(
    model: &mut Model,
    data: &Tensor,
    cfg: &TrainConfig,
    mut run: RunOptions<'_>,
) -> Result<TrainReport> {
    // `Trainer::new` validates `cfg` (once, before the first step).
    let git_revision = run.git_revision.clone().or_else(checkpoint::git_revision);
    let mut resumed: Option<(usize, Vec<(String, Tensor)>)> = None;
    let mut resumed_from = None;
    let mut seconds_before = 0.0;
    let mut notes = Vec::new();
    if let Some(path) = &run.checkpoint {
        // Clear a torn or corrupted checkpoint first: resume from the previous good one, or
        // start afresh, and say so.
        let found = checkpoint::recover(path)?;
        if let Some(note) = found.note {
            eprintln!("  {note}");
            notes.push(note);
        }
    }
    if let (Some(path), true) = (&run.checkpoint, run.resume) {
        if checkpoint::sidecar_path(path).exists() {
            let meta = checkpoint::load_into(model, path)?;
            if let Some(saved) = &meta.train {
                if !saved.same_training_as(cfg) {
                    return Err(Error::CheckpointMismatch {
                        path: path.clone(),
                        reason: format!(
                            "it was trained with a different config: saved {saved:?}, requested {cfg:?}"
                        ),
                    });
                }
            }
            let state = checkpoint::load_optimizer(path, meta.step)?;
            seconds_before = meta.train_seconds;
            resumed = Some((meta.step, state));
            resumed_from = Some(path.clone());
        }
    }
    let model: &Model = model;
    let mut trainer = Trainer::new(model, data, cfg)?;
    if let Some((step, state)) = resumed {
        trainer.restore(step, state)?;
    }
    let plan = *trainer.plan();
    let start_step = trainer.step();
    let end = run
        .stop_after
        .map_or(plan.total_steps, |s| s.min(plan.total_steps));
    let bar = if run.progress {
        ProgressBar::new(plan.total_steps as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}",
        )
        .expect("invariant: the template is valid"),
    );
    bar.set_position(start_step as u64);
    // Reserved up to a bound: the plan's length is validated elsewhere, and a huge one must not
    // allocate before the first step.
    let mut losses = Vec::with_capacity(end.saturating_sub(start_step).min(1 << 16));
    let mut last_checkpoint = resumed_from;
    let mut images = 0usize;
    let t0 = Instant::now();
    // With a weight average, a checkpoint holds the average as its model and the raw weights in its
    // optimizer state, so the caller sees the same model as a checkpoint reader.
    let save = |trainer: &Trainer<'_>, last_loss: Option<f64>| -> Result<Option<PathBuf>> {
        let Some(path) = &run.checkpoint else {
            return Ok(None);
        };
        let meta = CheckpointMeta::new(
            model,
            Some(cfg),
            &run.data_split,
            git_revision.clone(),
            trainer.step(),
        )
        .with_training(plan.n_images, last_loss);
        let meta = CheckpointMeta {
            train_seconds: seconds_before + t0.elapsed().as_secs_f64(),
            ..meta
        };
        checkpoint::save(path, model, &meta, Some(&trainer.state_tensors()?))?;
        Ok(Some(path.clone()))
    };
    while trainer.step() < end {
        let info = match trainer.train_step() {
            Ok(info) => info,
            Err(Error::NonFiniteLoss { step, loss, .. }) => {
                bar.abandon_with_message(format!("non-finite loss at step {step}"));
                return Err(Error::NonFiniteLoss {
                    step,
                    loss,
                    last_checkpoint,
                });
            }
            Err(e) => return Err(e),
        };
        images += info.batch;
        losses.push((info.step, info.loss));
        if let Some(f) = run.on_step.as_mut() {
            f(&info);
        }
        let secs = t0.elapsed().as_secs_f64();
        bar.set_position(trainer.step() as u64);
        bar.set_message(format!(
            "loss {:.3} lr {:.2e} {:.0} img/s",
            info.loss,
            info.lr,
            images as f64 / secs
        ));
        let every = run.checkpoint_every;
        if every > 0 && trainer.step() % every == 0 && trainer.step() < end {
            trainer.swap_average()?;
            let saved = save(&trainer, Some(info.loss));
            trainer.swap_average()?;
            last_checkpoint = saved?.or(last_checkpoint);
        }
    }
    // The model the caller gets is the average (a no-op without EMA).
    trainer.swap_average()?;
    if trainer.step() > start_step || !run.checkpoint.as_ref().is_some_and(|p| p.exists()) {
        last_checkpoint = save(&trainer, losses.last().map(|l| l.1))?.or(last_checkpoint);
    }
    bar.finish();
    let seconds = t0.elapsed().as_secs_f64();
    Ok(TrainReport {
        plan,
        start_step,
        end_step: trainer.step(),
        losses,
        seconds,
        images_per_sec: if seconds > 0.0 {
            images as f64 / seconds
        } else {
            0.0
        },
        last_checkpoint,
        notes,
    })
}
