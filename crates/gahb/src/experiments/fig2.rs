//! Fig. 2 (paper §3-§4): samples of the S1 and S2 models drawn from the same seed by the stochastic
//! coarse-to-fine reverse diffusion, their nearest training images, and the histograms of
//! sample-to-sample and sample-to-nearest-training-image cosine similarity, for each N.
//! At small N each model reproduces its own training images; at large N the two models, trained on
//! disjoint sets, draw nearly the same image from the same noise.

use anyhow::{Context, Result};
use gahb_diffusion::{
    compare_models, sample, ComparisonReport, HistogramSpec, SamplerConfig, StopReason,
};
use gahb_plot::{histogram_png, image_grid_png, GridOptions, HistSeries};
use gahb_tensor::convert::{images_to_batch, tensor_to_array};
use ndarray::{s, Array2, Ix4};
use serde::{Deserialize, Serialize};

use crate::harness::{Experiment, Page};
use crate::lab::context::Lab;
use crate::lab::sweep::{Half, SweepSpec};
use crate::report::check::{Cmp, Num};
use crate::report::{Check, Table};

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
}

/// Fig. 2.
pub struct Fig2;

impl Experiment for Fig2 {
    const NAME: &'static str = "fig2";
    const WHAT: &'static str =
        "S1 and S2 models sampled from the same seed: samples, closest images, histograms";
    type Config = Config;
    type Results = Results;

    fn validate(cfg: &Config) -> Result<()> {
        anyhow::ensure!(cfg.n_samples > 0, "fig2.n_samples must be at least 1");
        Ok(())
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
        let ns = cfg.ns.clone().unwrap_or_else(|| sweep.ns.clone());
        if let Some(bad) = ns.iter().find(|n| !sweep.ns.contains(n)) {
            anyhow::bail!(
                "fig2.ns: N = {bad} is not among sweep.ns {}",
                crate::lab::recipe::list(&sweep.ns)
            );
        }
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
            let unfinished = |run: &gahb_diffusion::SampleRun| {
                run.traces
                    .iter()
                    .filter(|t| t.stop != StopReason::Converged)
                    .count()
            };
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
            per_n.push(PerN {
                n,
                steps: ra.traces.iter().map(|t| t.steps).max().unwrap_or(0),
                overhead: ra.timing.overhead_fraction(),
                unfinished: [unfinished(&ra), unfinished(&rb)],
                comparison,
                tiles,
            });
        }
        Ok(Results {
            description: data.description.clone(),
            sweep,
            sampler: scfg,
            per_n,
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
        Ok(())
    }
}
