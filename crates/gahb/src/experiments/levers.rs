//! Training recipes against the optimum, per second of CPU (beyond the paper; issue 12): each
//! recipe of the profile trains the optimality experiment's network on its Gaussian class at
//! several lengths, and each model's gap to the Wiener optimum is measured as in
//! [`super::optimality`]. The result is a gap-against-wall-clock curve per recipe, the evidence the
//! decision records cite when a lever is kept or dropped.
//!
//! The class, the training and held-out images and the test noise are the optimality experiment's
//! (the same seed tag), so a recipe equal to the profile's `[train]` at scale 1 is the optimality
//! model itself, loaded from the cache.

use anyhow::Result;
use gahb_denoiser::{LrSchedule, ModelConfig};
use gahb_plot::{line_plot_png, Panel, Series};
use gahb_synth::GaussianFieldConfig;
use serde::{Deserialize, Serialize};

use super::optimality::{class_sets, gaps, integrated_gap, mean_and_worst, validate_class, Level};
use crate::harness::{Experiment, Page};
use crate::lab::context::Lab;
use crate::lab::job::{Job, ModelJob};
use crate::lab::recipe::{describe_model, TrainSpec};
use crate::report::Table;

/// One recipe under test.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Its name in the figure and the table.
    pub label: String,
    /// The recipe at scale 1.
    pub train: TrainSpec,
}

/// `[levers]` in a profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The Gaussian class (as in `[optimality]`).
    pub class: GaussianFieldConfig,
    /// Training images.
    pub n_train: usize,
    /// Held-out images.
    pub n_test: usize,
    /// The network.
    pub net: ModelConfig,
    /// Lengths to train each recipe at, as multiples of its `steps` (its halvings and warm-up
    /// scale with it).
    pub scales: Vec<f64>,
    /// The recipes.
    pub recipes: Vec<Recipe>,
}

/// One trained model.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// The recipe's label.
    pub recipe: String,
    /// The scale.
    pub scale: f64,
    /// Steps trained.
    pub steps: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Wall-clock seconds its training took (when it was trained, in this or an earlier run).
    pub train_seconds: f64,
    /// Whether it came from the cache.
    pub cached: bool,
    /// Per σ, largest first.
    pub levels: Vec<Level>,
    /// Mean gap over the 15 σ (dB).
    pub mean_gap_db: f64,
    /// Worst gap (dB).
    pub worst_gap_db: f64,
    /// ∫ (MSE − MSE*) σ⁻³ dσ, nats per image.
    pub density_bound_nats: f64,
}

/// What the experiment measured.
#[derive(Debug, Serialize)]
pub struct Results {
    /// Every (recipe, scale), in profile order.
    pub points: Vec<Point>,
}

/// The lever comparison.
pub struct Levers;

/// `spec` trained `scale` times as long, its halvings and warm-up moved with it.
pub fn scaled(spec: &TrainSpec, scale: f64) -> TrainSpec {
    let s = |n: usize| ((n as f64 * scale).round() as usize).max(1);
    let schedule = match spec.schedule {
        LrSchedule::Cosine {
            warmup,
            final_fraction,
        } => LrSchedule::Cosine {
            warmup: if warmup == 0 { 0 } else { s(warmup) },
            final_fraction,
        },
        other => other,
    };
    TrainSpec {
        steps: s(spec.steps),
        halve_at: spec.halve_at.iter().map(|&h| s(h)).collect(),
        schedule,
        ..spec.clone()
    }
}

/// The training of recipe `r` at `scale` on the class's training images.
fn job(
    lab: &Lab,
    cfg: &Config,
    r: &Recipe,
    scale: f64,
    train: &ndarray::Array3<f32>,
) -> Result<ModelJob> {
    lab.job(
        &format!("{} ×{scale}", r.label),
        &cfg.net,
        &scaled(&r.train, scale),
        lab.seed_of("optimality"),
        train.clone(),
        &format!("stationary Gaussian class n={}", cfg.n_train),
    )
}

impl Experiment for Levers {
    const NAME: &'static str = "levers";
    const WHAT: &'static str =
        "training recipes against the optimum: gap to the Wiener filter per second of CPU";
    type Config = Config;
    type Results = Results;

    fn validate(cfg: &Config) -> Result<()> {
        validate_class("levers", &cfg.class, cfg.n_train, cfg.n_test)?;
        anyhow::ensure!(!cfg.recipes.is_empty(), "levers: recipes is empty");
        if let Some(s) = cfg.scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            anyhow::bail!("levers: every scale must be finite and > 0, got {s}");
        }
        anyhow::ensure!(!cfg.scales.is_empty(), "levers: scales is empty");
        for r in &cfg.recipes {
            for &s in &cfg.scales {
                scaled(&r.train, s)
                    .to_config(0)
                    .map_err(|e| anyhow::anyhow!("levers: recipe {:?}: {e:#}", r.label))?;
            }
        }
        Ok(())
    }

    fn jobs(lab: &Lab, cfg: &Config) -> Result<Vec<Job>> {
        let seed = lab.seed_of("optimality");
        let (_, train, _) = class_sets(&cfg.class, cfg.n_train, cfg.n_test, seed)?;
        let mut jobs = Vec::new();
        for r in &cfg.recipes {
            for &scale in &cfg.scales {
                jobs.push(Job::Model(job(lab, cfg, r, scale, &train)?));
            }
        }
        Ok(jobs)
    }

    fn measure(lab: &Lab, cfg: &Config) -> Result<Results> {
        // The optimality experiment's seed, so that class, images and noise are its own.
        let seed = lab.seed_of("optimality");
        let (field, train, test) = class_sets(&cfg.class, cfg.n_train, cfg.n_test, seed)?;
        let mut points = Vec::new();
        for r in &cfg.recipes {
            for &scale in &cfg.scales {
                let spec = scaled(&r.train, scale);
                let m = lab.train(&job(lab, cfg, r, scale, &train)?)?;
                let levels = gaps(&field, &test, seed, &m.model)?;
                let (mean, worst) = mean_and_worst(&levels);
                points.push(Point {
                    recipe: r.label.clone(),
                    scale,
                    steps: spec.steps,
                    batch_size: spec.batch_size,
                    train_seconds: if m.info.train_seconds > 0.0 {
                        m.info.train_seconds
                    } else {
                        m.info.seconds
                    },
                    cached: m.info.cached,
                    density_bound_nats: integrated_gap(&levels, cfg.class.size)?,
                    levels,
                    mean_gap_db: mean,
                    worst_gap_db: worst,
                });
            }
        }
        Ok(Results { points })
    }

    fn present(cfg: &Config, r: &Results, page: &mut Page) -> Result<()> {
        page.title(
            "training recipes against the optimum: the gap to the Wiener filter per second of CPU",
        );
        let c = &cfg.class;
        page.dataset(format!(
            "the optimality experiment's class: stationary Gaussian images {0}×{0}, power spectrum ∝ 1/({1} + |k|²)^{2}, {3} training and {4} held-out images",
            c.size, c.c, c.exponent, cfg.n_train, cfg.n_test
        ));
        page.summary(format!(
            "A bias-free {} trained with each recipe at {} times its length; each model's gap to the Wiener optimum on the same noisy held-out images at the paper's 15 σ. The x axis is the training's wall-clock time on this machine (2 CPU cores unless the report's device line says otherwise).",
            describe_model(&cfg.net),
            crate::lab::recipe::list(&cfg.scales)
        ));
        let series = |f: &dyn Fn(&Point) -> f64| -> Vec<Series> {
            cfg.recipes
                .iter()
                .map(|rec| {
                    Series::new(
                        rec.label.clone(),
                        r.points
                            .iter()
                            .filter(|p| p.recipe == rec.label)
                            .map(|p| (p.train_seconds.max(1e-3), f(p)))
                            .collect(),
                    )
                })
                .collect()
        };
        page.figure(
            "levers.png",
            "mean (left) and worst (right) gap to the optimum over the 15 σ, against training time",
            |path| {
                Ok(line_plot_png(
                    path,
                    &[
                        Panel {
                            title: "mean gap".into(),
                            x_label: "training wall clock (s)".into(),
                            y_label: "mean gap (dB)".into(),
                            series: series(&|p| p.mean_gap_db),
                            log_x: true,
                            ..Panel::default()
                        },
                        Panel {
                            title: "worst gap".into(),
                            x_label: "training wall clock (s)".into(),
                            y_label: "worst gap (dB)".into(),
                            series: series(&|p| p.worst_gap_db),
                            log_x: true,
                            ..Panel::default()
                        },
                    ],
                    (1200, 500),
                )?)
            },
        )?;
        let mut table = Table::new([
            "recipe",
            "steps × batch",
            "train (s)",
            "mean gap (dB)",
            "worst gap (dB)",
            "gap at smallest σ (dB)",
            "gap at largest σ (dB)",
            "∫ΔMSE σ⁻³ dσ (nats)",
        ]);
        for p in &r.points {
            table.row(vec![
                p.recipe.clone(),
                format!("{} × {}", p.steps, p.batch_size),
                format!(
                    "{:.1}{}",
                    p.train_seconds,
                    if p.cached { " (cached)" } else { "" }
                ),
                format!("{:.2}", p.mean_gap_db),
                format!("{:.2}", p.worst_gap_db),
                format!("{:.2}", p.levels.last().map_or(f64::NAN, |l| l.gap_db)),
                format!("{:.2}", p.levels.first().map_or(f64::NAN, |l| l.gap_db)),
                format!("{:.1}", p.density_bound_nats),
            ]);
        }
        page.table(table, Some("levers.csv"))?;
        for rec in &cfg.recipes {
            page.note(format!("{}: {}", rec.label, rec.train.describe()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gahb_denoiser::{LossWeight, NoiseSampling};

    fn spec() -> TrainSpec {
        TrainSpec {
            steps: 600,
            batch_size: 32,
            lr: 1e-3,
            halve_at: vec![400, 500],
            sigma_max: 1.0,
            noise: NoiseSampling::Quadratic,
            loss_weight: LossWeight::None,
            schedule: LrSchedule::Cosine {
                warmup: 30,
                final_fraction: 0.0,
            },
            ema: Some(0.99),
            clip_grad_norm: None,
        }
    }

    #[test]
    fn scaling_moves_the_length_the_halvings_and_the_warm_up_together() {
        let s = scaled(&spec(), 0.25);
        assert_eq!((s.steps, s.halve_at.clone()), (150, vec![100, 125]));
        assert_eq!(
            s.schedule,
            LrSchedule::Cosine {
                warmup: 8,
                final_fraction: 0.0
            }
        );
        assert_eq!((s.batch_size, s.ema), (32, Some(0.99)));
        assert_eq!(scaled(&spec(), 1.0), spec());
    }
}
