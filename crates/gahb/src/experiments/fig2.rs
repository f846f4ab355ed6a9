//! Fig. 2 (paper §3-§4): samples of the S1 and S2 models drawn from the same seed by the stochastic
//! coarse-to-fine reverse diffusion, their nearest training images, and the histograms of
//! sample-to-sample and sample-to-nearest-training-image cosine similarity, for each N.
//! At small N each model reproduces its own training images; at large N the two models, trained on
//! disjoint sets, draw nearly the same image from the same noise.
//!
//! Sample quality as numbers (issue 12): when the sweep's data has class labels (Fashion-MNIST,
//! MNIST), a small classifier trained on them ([`crate::lab::context::Lab::sweep_classifier`])
//! gives every model's samples a class confidence (the largest softmax probability) and a Fréchet
//! distance to held-out images in its feature space, beside two references: the samples of the
//! exact memoriser of the largest N's S1 set (`gahb_diffusion::Memorizer`, drawn from the same
//! noise) and that many S1 images themselves. Data without labels (C^α images, disks, faces,
//! folders) skips these rows and says why in the report: the rest of Fig. 2 needs no labels.

use anyhow::{Context, Result};
use gahb_denoiser::{frechet_distance, Classifier};
use gahb_diffusion::{
    compare_models, nearest_images, sample, ComparisonReport, HistogramSpec, Memorizer, NoiseLevel,
    SampleRun, SamplerConfig, StopReason,
};
use gahb_plot::{histogram_png, image_grid_png, GridOptions, HistSeries};
use gahb_tensor::convert::{images_to_batch, tensor_to_array};
use ndarray::{s, Array2, Array3, Ix4};
use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::harness::{Experiment, Page};
use crate::lab::context::Lab;
use crate::lab::job::Job;
use crate::lab::quality::{assess, ClassifierInfo, Confidence};
use crate::lab::samples::draw;
use crate::lab::sweep::{Half, SweepSpec};
use crate::report::check::{Cmp, Num};
use crate::report::{Check, Table};

/// The most entries of the blind memoriser's `[samples, σ grid, training images]` exponent tensor
/// in one sampler call (2^25 f64, 256 MiB): its samples are drawn in chunks that keep below it.
const MEMORIZER_ENTRIES: usize = 1 << 25;

/// The σ grid of the blind memoriser (`gahb_diffusion`'s 96 points), for the chunk size.
const MEMORIZER_GRID: usize = 96;

/// `[fig2]` in a profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Samples per model and N.
    pub n_samples: usize,
    /// Samples shown per N in the image figure.
    pub n_show: usize,
    /// The N values sampled (a subset of the sweep's); all of them when absent.
    #[serde(default)]
    pub ns: Option<Vec<usize>>,
    /// The sampler (the paper's values when absent).
    #[serde(default)]
    pub sampler: Option<SamplerConfig>,
    /// Smallest mean closest-training cosine at the smallest N that counts as copying.
    pub copy_cosine: f64,
    /// Smallest mean class confidence (the classifier's largest softmax probability) of both
    /// models' samples at the largest N (issue 12's target: 0.8); also the per-image threshold of
    /// the "confident" fraction.
    pub min_confidence: f64,
    /// Smallest held-out accuracy of the sample-quality classifier.
    pub min_classifier_accuracy: f64,
    /// Training steps of the sample-quality classifier (`ClassifierConfig::fashion_mnist`'s when
    /// absent).
    #[serde(default)]
    pub classifier_steps: Option<usize>,
}

/// Whose images a row of the sample-quality table describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Samples of the model trained on S1.
    ModelA,
    /// Samples of the model trained on S2.
    ModelB,
    /// Samples of the exact memoriser of the largest N's S1 set, from the same noise.
    Memorizer,
    /// The first images of the largest N's S1 set, as many as there are samples.
    Training,
    /// The held-out images (the sweep's test block), the Fréchet distance's reference.
    HeldOut,
}

impl Source {
    /// The row's name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Source::ModelA => "model A (S1)",
            Source::ModelB => "model B (S2)",
            Source::Memorizer => "memorizer of S1",
            Source::Training => "S1 training images",
            Source::HeldOut => "held-out images",
        }
    }
}

/// One row of the sample-quality table.
#[derive(Debug, Serialize)]
pub struct QualityRow {
    /// Whose images.
    pub source: Source,
    /// The training-set size (none for the held-out images).
    pub n: Option<usize>,
    /// The classifier's confidence.
    pub confidence: Confidence,
    /// Fréchet distance to the held-out images in the classifier's feature space (none for the
    /// held-out images themselves, or for fewer than 2 images).
    pub frechet: Option<f64>,
    /// Mean cosine similarity with the closest image of the row's training set (S1 for the
    /// memoriser and the held-out images; none for the training images, which are in it).
    pub closest_train_cosine: Option<f64>,
}

/// Sample quality as numbers (issue 12).
#[derive(Debug, Serialize)]
pub struct Quality {
    /// The classifier.
    pub classifier: ClassifierInfo,
    /// Its class names, in label order.
    pub classes: Vec<String>,
    /// One row per model and N, then the references.
    pub rows: Vec<QualityRow>,
}

/// The sample-quality measurement, or why there is none.
#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum QualityOutcome {
    /// Measured (boxed: the skipped variant is small).
    Measured(Box<Quality>),
    /// Not measured.
    Skipped {
        /// Why, one line.
        reason: String,
    },
}

/// One N of Fig. 2.
#[derive(Debug, Serialize)]
pub struct PerN {
    /// Training-set size.
    pub n: usize,
    /// Samples, similarities and nearest training images.
    pub comparison: ComparisonReport,
    /// The most steps a sample of model A took.
    pub steps: usize,
    /// The sampler's overhead beyond the network, as a fraction of its time.
    pub overhead: f64,
    /// Samples of A and B that stopped before σ_L.
    pub unfinished: [usize; 2],
    /// Shown tiles: A's samples, B's samples, A's closest S1 images.
    #[serde(skip)]
    pub tiles: Vec<Array2<f32>>,
}

/// What Fig. 2 measured.
#[derive(Debug, Serialize)]
pub struct Results {
    /// The sweep it used.
    pub sweep: SweepSpec,
    /// The sampler it ran.
    pub sampler: SamplerConfig,
    /// The data's description.
    pub description: String,
    /// One entry per N.
    pub per_n: Vec<PerN>,
    /// Sample quality: classifier confidence and Fréchet distance.
    pub quality: QualityOutcome,
}

/// What the quality measurement carries through the N loop: the classifier, the held-out images'
/// features and the rows so far.
struct QualityRun {
    classifier: Classifier,
    info: ClassifierInfo,
    classes: Vec<String>,
    held_out: Tensor,
    held_out_features: Tensor,
    rows: Vec<QualityRow>,
}

impl QualityRun {
    /// The classifier's confidence and the Fréchet distance to the held-out images of `images`.
    fn row(
        &self,
        source: Source,
        n: Option<usize>,
        images: &Tensor,
        closest_train_cosine: Option<f64>,
        threshold: f64,
    ) -> Result<QualityRow> {
        let (confidence, features) =
            assess(&self.classifier, images, threshold).with_context(|| match n {
                Some(n) => format!("classifying {}, N = {n}", source.label()),
                None => format!("classifying {}", source.label()),
            })?;
        let frechet = if features.size()[0] >= 2 {
            Some(frechet_distance(&features, &self.held_out_features)?)
        } else {
            None
        };
        Ok(QualityRow {
            source,
            n,
            confidence,
            frechet,
            closest_train_cosine,
        })
    }
}

fn count_unfinished(run: &SampleRun) -> usize {
    run.traces
        .iter()
        .filter(|t| t.stop != StopReason::Converged)
        .count()
}

/// Fig. 2.
pub struct Fig2;

/// The N of the sweep that Fig. 2 samples: its own `ns`, each among the sweep's, or all of them.
fn ns(cfg: &Config, sweep: &SweepSpec) -> Result<Vec<usize>> {
    let ns = cfg.ns.clone().unwrap_or_else(|| sweep.ns.clone());
    if let Some(bad) = ns.iter().find(|n| !sweep.ns.contains(n)) {
        anyhow::bail!(
            "fig2.ns: N = {bad} is not among sweep.ns {}",
            crate::lab::recipe::list(&sweep.ns)
        );
    }
    Ok(ns)
}

impl Experiment for Fig2 {
    const NAME: &'static str = "fig2";
    const WHAT: &'static str =
        "S1 and S2 models sampled from the same seed: samples, closest images, histograms";
    type Config = Config;
    type Results = Results;

    fn validate(cfg: &Config) -> Result<()> {
        anyhow::ensure!(cfg.n_samples > 0, "fig2.n_samples must be at least 1");
        anyhow::ensure!(
            cfg.min_confidence.is_finite() && cfg.min_confidence > 0.0 && cfg.min_confidence <= 1.0,
            "fig2.min_confidence must be in (0, 1], got {}",
            cfg.min_confidence
        );
        anyhow::ensure!(
            (0.0..=1.0).contains(&cfg.min_classifier_accuracy),
            "fig2.min_classifier_accuracy must be in [0, 1], got {}",
            cfg.min_classifier_accuracy
        );
        anyhow::ensure!(
            cfg.classifier_steps != Some(0),
            "fig2.classifier_steps must be at least 1, got 0"
        );
        Ok(())
    }

    fn jobs(lab: &Lab, cfg: &Config) -> Result<Vec<Job>> {
        let sweep = lab.sweep(Self::NAME)?;
        let mut jobs = Vec::new();
        if sweep.data.classes().is_ok() {
            jobs.push(Job::Classifier(
                lab.classifier_job(sweep, cfg.classifier_steps)?,
            ));
        }
        jobs.extend(lab.sweep_jobs(sweep, &ns(cfg, sweep)?, &[Half::S1, Half::S2])?);
        Ok(jobs)
    }

    fn measure(lab: &Lab, cfg: &Config) -> Result<Results> {
        let sweep = lab.sweep(Self::NAME)?.clone();
        let data = lab.sweep_data(&sweep)?;
        let size = sweep.data.size().context("sweep.data needs a size")? as i64;
        let mut scfg = cfg.sampler.clone().unwrap_or_default();
        scfg.seed = lab.seed_of("fig2-sampler");
        let spec = HistogramSpec {
            lo: -0.2,
            hi: 1.0,
            bins: 48,
        };
        let show = cfg.n_show.min(cfg.n_samples);
        let ns = ns(cfg, &sweep)?;
        let mut quality = match sweep.data.classes() {
            Ok(classes) => {
                let (classifier, info) = lab.sweep_classifier(&sweep, cfg.classifier_steps)?;
                let test = sweep
                    .split(data.images.dim().0, ns.first().copied().unwrap_or(1))?
                    .test_of(data.images.view())?;
                let held_out = images_to_batch(&test);
                let (_, held_out_features) = assess(&classifier, &held_out, cfg.min_confidence)?;
                Ok(QualityRun {
                    classifier,
                    info,
                    classes: classes.iter().map(|c| c.to_string()).collect(),
                    held_out,
                    held_out_features,
                    rows: Vec::new(),
                })
            }
            Err(why) => Err(format!(
                "{why:#}, so the sample-quality rows (classifier confidence, Fréchet distance) are skipped"
            )),
        };
        let mut last_train: Option<Array3<f32>> = None;
        let mut per_n = Vec::new();
        for &n in &ns {
            let (ma, ta) = lab.sweep_model(&sweep, n, Half::S1)?;
            let (mb, tb) = lab.sweep_model(&sweep, n, Half::S2)?;
            let ra = sample(&ma.model, &scfg, cfg.n_samples, [1, size, size])
                .with_context(|| format!("sampling model A, N = {n}"))?;
            let rb = sample(&mb.model, &scfg, cfg.n_samples, [1, size, size])
                .with_context(|| format!("sampling model B, N = {n}"))?;
            anyhow::ensure!(
                ra.initial.equal(&rb.initial),
                "models A and B did not start from the same noise"
            );
            let comparison = compare_models(
                &ra.samples,
                &rb.samples,
                &images_to_batch(&ta),
                &images_to_batch(&tb),
                &spec,
            )?;
            let a = tensor_to_array::<Ix4>(&ra.samples)?;
            let b = tensor_to_array::<Ix4>(&rb.samples)?;
            let mut tiles = Vec::new();
            for i in 0..show {
                tiles.push(a.slice(s![i, 0, .., ..]).to_owned());
            }
            for i in 0..show {
                tiles.push(b.slice(s![i, 0, .., ..]).to_owned());
            }
            for near in comparison.a_nearest_train.iter().take(show) {
                tiles.push(ta.slice(s![near.index, .., ..]).to_owned());
            }
            if let Ok(q) = &mut quality {
                let a = q.row(
                    Source::ModelA,
                    Some(n),
                    &ra.samples,
                    Some(comparison.stats_a_train.mean),
                    cfg.min_confidence,
                )?;
                let b = q.row(
                    Source::ModelB,
                    Some(n),
                    &rb.samples,
                    Some(comparison.stats_b_train.mean),
                    cfg.min_confidence,
                )?;
                q.rows.extend([a, b]);
            }
            per_n.push(PerN {
                n,
                steps: ra.traces.iter().map(|t| t.steps).max().unwrap_or(0),
                overhead: ra.timing.overhead_fraction(),
                unfinished: [count_unfinished(&ra), count_unfinished(&rb)],
                comparison,
                tiles,
            });
            last_train = Some(ta);
        }
        let quality = match (quality, last_train) {
            (Ok(mut q), Some(train)) => {
                let n = train.dim().0;
                let mean_cos = |images: &Tensor| -> Result<f64> {
                    let near = nearest_images(images, &images_to_batch(&train))?;
                    Ok(near.iter().map(|x| x.cosine).sum::<f64>() / near.len().max(1) as f64)
                };
                let train_batch = images_to_batch(&train).f_to_device(lab.device)?;
                let memorizer = Memorizer::new(&train_batch, NoiseLevel::blind())?;
                let chunk = MEMORIZER_ENTRIES / (MEMORIZER_GRID * n).max(1);
                let drawn = draw(&memorizer, &scfg, cfg.n_samples, [1, size, size], chunk)
                    .with_context(|| format!("sampling the memoriser, N = {n}"))?;
                let (mem, mem_unfinished) = (drawn.samples, drawn.unfinished);
                if mem_unfinished > 0 {
                    eprintln!(
                        "  fig2: {mem_unfinished} of {} memoriser samples stopped before σ_L",
                        cfg.n_samples
                    );
                }
                let mem_cos = mean_cos(&mem)?;
                let row = q.row(
                    Source::Memorizer,
                    Some(n),
                    &mem,
                    Some(mem_cos),
                    cfg.min_confidence,
                )?;
                q.rows.push(row);
                let k = cfg.n_samples.min(n);
                let subset = images_to_batch(&train.slice(s![..k, .., ..]).to_owned());
                let row = q.row(Source::Training, Some(n), &subset, None, cfg.min_confidence)?;
                q.rows.push(row);
                let held_cos = mean_cos(&q.held_out)?;
                let (confidence, _) = assess(&q.classifier, &q.held_out, cfg.min_confidence)?;
                q.rows.push(QualityRow {
                    source: Source::HeldOut,
                    n: None,
                    confidence,
                    frechet: None,
                    closest_train_cosine: Some(held_cos),
                });
                QualityOutcome::Measured(Box::new(Quality {
                    classifier: q.info,
                    classes: q.classes,
                    rows: q.rows,
                }))
            }
            (Ok(_), None) => QualityOutcome::Skipped {
                reason: "fig2.ns is empty".into(),
            },
            (Err(reason), _) => QualityOutcome::Skipped { reason },
        };
        Ok(Results {
            description: data.description.clone(),
            sweep,
            sampler: scfg,
            per_n,
            quality,
        })
    }

    fn present(cfg: &Config, r: &Results, page: &mut Page) -> Result<()> {
        page.used("sweep", &r.sweep)?;
        page.used("sampler", &r.sampler)?;
        page.title("samples of two models trained on disjoint sets, from the same seed");
        page.dataset(r.description.clone());
        let s = &r.sampler;
        page.summary(format!(
            "{} samples per model and N with the sampler of PAPER.md §4 (h₀ = {}, β = {}, σ₀ = {}, σ_L = {}, at most {} steps, seed {}).",
            cfg.n_samples, s.h0, s.beta, s.sigma0, s.sigma_l, s.max_steps, s.seed
        ));
        let show = cfg.n_show.min(cfg.n_samples);
        let tiles: Vec<Array2<f32>> = r.per_n.iter().flat_map(|p| p.tiles.clone()).collect();
        page.figure(
            "samples.png",
            "for each N (top to bottom): model A samples, model B samples from the same noise, A's closest S1 images",
            |path| Ok(image_grid_png(path, &tiles, show.max(1), &GridOptions::default())?),
        )?;
        let mut table = Table::new([
            "N",
            "mean cos(A, B)",
            "mean cos(A, closest S1)",
            "mean cos(B, closest S2)",
            "steps",
            "sampler overhead",
        ]);
        for p in &r.per_n {
            let c = &p.comparison;
            let near_a: Vec<f64> = c.a_nearest_train.iter().map(|x| x.cosine).collect();
            page.figure(
                &format!("hist_n{}.png", p.n),
                format!("N = {}: similarity histograms", p.n),
                |path| {
                    Ok(histogram_png(
                        path,
                        &format!("N = {}", p.n),
                        "cosine similarity",
                        &[
                            HistSeries {
                                label: "sample A vs sample B".into(),
                                values: c.a_vs_b.clone(),
                            },
                            HistSeries {
                                label: "sample A vs closest S1 image".into(),
                                values: near_a,
                            },
                        ],
                        48,
                        (-0.2, 1.0),
                        (600, 420),
                    )?)
                },
            )?;
            table.row(vec![
                p.n.to_string(),
                format!("{:.3}", c.stats_a_vs_b.mean),
                format!("{:.3}", c.stats_a_train.mean),
                format!("{:.3}", c.stats_b_train.mean),
                p.steps.to_string(),
                format!("{:.0}%", 100.0 * p.overhead),
            ]);
            for (name, bad) in ["A", "B"].iter().zip(p.unfinished) {
                if bad > 0 {
                    page.note(format!(
                        "N = {}, model {name}: {bad} of {} samples stopped before σ_L (step limit or divergence).",
                        p.n, cfg.n_samples
                    ));
                }
            }
        }
        page.table(table, None)?;
        if let (Some(first), Some(last)) = (r.per_n.first(), r.per_n.last()) {
            let (f, l) = (&first.comparison, &last.comparison);
            page.check(Check::rises(
                format!(
                    "A–B sample similarity rises from N = {} to N = {}",
                    first.n, last.n
                ),
                Num::plain(f.stats_a_vs_b.mean, 3),
                Num::plain(l.stats_a_vs_b.mean, 3),
                "A–B mass moves toward 1 as N grows",
            ));
            page.check(Check::compare(
                format!(
                    "samples copy training images at N = {}: mean closest-training cosine",
                    first.n
                ),
                Num::plain(f.stats_a_train.mean, 3),
                Cmp::Above(cfg.copy_cosine),
                "memorization: samples are training images",
            ));
            page.check(Check::falls(
                format!("samples move away from the training set at N = {}", last.n),
                f.stats_a_train.mean,
                l.stats_a_train.mean,
                format!(
                    "{:.3} (vs {:.3} at N = {})",
                    l.stats_a_train.mean, f.stats_a_train.mean, first.n
                ),
                "sample-to-train mass moves left",
            ));
        }
        present_quality(cfg, &r.quality, page)
    }
}

/// The sample-quality table, its checks and notes.
fn present_quality(cfg: &Config, quality: &QualityOutcome, page: &mut Page) -> Result<()> {
    let q = match quality {
        QualityOutcome::Measured(q) => q,
        QualityOutcome::Skipped { reason } => {
            page.note(format!("Sample quality: {reason}."));
            return Ok(());
        }
    };
    let c = &q.classifier;
    page.note(format!(
        "Sample quality: a classifier (convs of {} channels, {} features, {} steps of {} images, seed {}) trained on {} labelled images outside the sweep's test block, {}; accuracy {:.3} on the {} held-out images ({:.3} on its training images). Confidence is its largest softmax probability (samples clamped to [0, 1]); FD is the Fréchet distance of its features to the held-out images' (biased upward for few images: compare rows of the same size).",
        crate::lab::recipe::list(&c.config.channels),
        c.config.feature_dim,
        c.config.steps,
        c.config.batch_size,
        c.config.seed,
        c.n_train,
        match (c.cached, c.train_seconds) {
            (true, Some(s)) => format!("loaded from the cache (its training took {s:.0} s)"),
            (true, None) => "loaded from the cache".to_string(),
            (false, Some(s)) => format!("trained in {s:.0} s"),
            (false, None) => "trained".to_string(),
        },
        c.held_out_accuracy,
        c.n_held_out,
        c.train_accuracy.unwrap_or(f64::NAN),
    ));
    let mut table = Table::new([
        "model".to_string(),
        "N".to_string(),
        "images".to_string(),
        "mean confidence".to_string(),
        format!("confidence ≥ {}", cfg.min_confidence),
        "top class".to_string(),
        "FD to held-out".to_string(),
        "mean closest-train cosine".to_string(),
    ]);
    let opt =
        |v: Option<f64>, digits: usize| v.map_or("—".to_string(), |v| format!("{v:.digits$}"));
    for row in &q.rows {
        let top = row
            .confidence
            .top_class()
            .map_or("—".to_string(), |(k, count)| {
                format!("{} ({count})", q.classes.get(k).map_or("?", String::as_str))
            });
        table.row(vec![
            row.source.label().to_string(),
            row.n.map_or("—".to_string(), |n| n.to_string()),
            row.confidence.n.to_string(),
            format!("{:.3}", row.confidence.mean),
            format!("{:.0}%", 100.0 * row.confidence.confident_fraction),
            top,
            opt(row.frechet, 2),
            opt(row.closest_train_cosine, 3),
        ]);
    }
    page.table(table, Some("quality.csv"))?;
    page.check(Check::compare(
        "the sample-quality classifier's held-out accuracy",
        Num::plain(c.held_out_accuracy, 3),
        Cmp::AtLeast(cfg.min_classifier_accuracy),
        "(not in the paper: a measuring instrument)",
    ));
    let find =
        |source: Source, n: usize| q.rows.iter().find(|r| r.source == source && r.n == Some(n));
    let model_ns: Vec<usize> = q
        .rows
        .iter()
        .filter(|r| r.source == Source::ModelA)
        .filter_map(|r| r.n)
        .collect();
    if let (Some(&first), Some(&last)) = (model_ns.first(), model_ns.last()) {
        if let (Some(a), Some(b)) = (find(Source::ModelA, last), find(Source::ModelB, last)) {
            page.check(Check::all(
                format!("the samples at N = {last} are classified into one class: mean confidence"),
                &[
                    ("A", Num::plain(a.confidence.mean, 3), Cmp::AtLeast(cfg.min_confidence)),
                    ("B", Num::plain(b.confidence.mean, 3), Cmp::AtLeast(cfg.min_confidence)),
                ],
                format!(
                    "A {:.3}, B {:.3} (held-out images {:.3})",
                    a.confidence.mean,
                    b.confidence.mean,
                    q.rows
                        .iter()
                        .find(|r| r.source == Source::HeldOut)
                        .map_or(f64::NAN, |r| r.confidence.mean)
                ),
                "at N = 10^5 samples are high-quality images (issue 12's target: mean confidence ≥ 0.8)",
            ));
        }
        let fd = |n| find(Source::ModelA, n).and_then(|r| r.frechet);
        if let (true, Some(f), Some(l)) = (first != last, fd(first), fd(last)) {
            page.check(Check::falls(
                format!("model A's samples come closer to held-out images from N = {first} to N = {last} (FD)"),
                f,
                l,
                format!("{l:.2} (vs {f:.2} at N = {first})"),
                "small N copies a few training images; large N draws new images of the class",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        toml::from_str(
            "n_samples = 4\nn_show = 2\ncopy_cosine = 0.9\nmin_confidence = 0.8\nmin_classifier_accuracy = 0.8\n",
        )
        .expect("config")
    }

    #[test]
    fn thresholds_are_validated_by_name() {
        Fig2::validate(&config()).expect("valid");
        for (bad, key) in [
            (
                Config {
                    min_confidence: 1.5,
                    ..config()
                },
                "fig2.min_confidence",
            ),
            (
                Config {
                    min_confidence: 0.0,
                    ..config()
                },
                "fig2.min_confidence",
            ),
            (
                Config {
                    min_classifier_accuracy: -0.1,
                    ..config()
                },
                "fig2.min_classifier_accuracy",
            ),
            (
                Config {
                    classifier_steps: Some(0),
                    ..config()
                },
                "fig2.classifier_steps",
            ),
        ] {
            let e = format!("{:#}", Fig2::validate(&bad).expect_err(key));
            assert!(e.contains(key) && !e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn a_skipped_quality_is_said_in_the_report() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut page = Page::for_test(dir.path());
        let reason = "dataset `calpha` has no class labels: only fashion-mnist and mnist do";
        present_quality(
            &config(),
            &QualityOutcome::Skipped {
                reason: reason.into(),
            },
            &mut page,
        )
        .expect("present");
        let section = page.into_section();
        assert!(
            section.notes.iter().any(|n| n.contains(reason)),
            "{:?}",
            section.notes
        );
        assert!(section.checks.is_empty());
    }
}
