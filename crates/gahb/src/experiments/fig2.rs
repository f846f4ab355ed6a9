//! Fig. 2 (paper §3-§4): samples of the S1 and S2 models drawn from the same seed by the stochastic
//! coarse-to-fine reverse diffusion, their nearest training images, and the histograms of
//! sample-to-sample and sample-to-nearest-training-image cosine similarity, for each N.
//! At small N each model reproduces its own training images; at large N the two models, trained on
//! disjoint sets, draw nearly the same image from the same noise.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use gahb_diffusion::{compare_models, sample, HistogramSpec, SamplerConfig, StopReason};
use gahb_plot::{histogram_png, image_grid_png, GridOptions, HistSeries};
use gahb_tensor::convert::tensor_to_array;
use ndarray::{s, Array2, Ix4};
use serde::{Deserialize, Serialize};

use super::derive_seed;
use crate::ctx::{to_batch, Ctx};
use crate::report::{md_table, Check, Section};
use crate::sweep::Half;

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
}

/// Runs Fig. 2.
pub fn run(ctx: &Ctx) -> Result<Option<Section>> {
    let (Some(cfg), Some(sweep)) = (ctx.profile.fig2.clone(), ctx.profile.sweep.clone()) else {
        return Ok(None);
    };
    anyhow::ensure!(cfg.n_samples > 0, "fig2.n_samples must be at least 1");
    let t0 = Instant::now();
    let dir = ctx.exp_dir("fig2")?;
    let data = sweep.load(ctx)?;
    sweep.validate(&data)?;
    let size = sweep.data.size as i64;
    let mut scfg = cfg.sampler.clone().unwrap_or_default();
    scfg.seed = derive_seed(ctx.profile.seed, "fig2-sampler");
    let spec = HistogramSpec {
        lo: -0.2,
        hi: 1.0,
        bins: 48,
    };
    let mut rows = Vec::new();
    let mut figures = Vec::new();
    let mut tiles: Vec<Array2<f32>> = Vec::new();
    let mut means = Vec::new();
    let mut notes = Vec::new();
    let show = cfg.n_show.min(cfg.n_samples);
    let ns = cfg.ns.clone().unwrap_or_else(|| sweep.ns.clone());
    if let Some(bad) = ns.iter().find(|n| !sweep.ns.contains(n)) {
        anyhow::bail!("fig2.ns: N = {bad} is not among sweep.ns {:?}", sweep.ns);
    }
    for &n in &ns {
        let (ma, _, ta) = sweep.model(ctx, &data, n, Half::S1)?;
        let (mb, _, tb) = sweep.model(ctx, &data, n, Half::S2)?;
        let ra = sample(&ma, &scfg, cfg.n_samples, [1, size, size])
            .with_context(|| format!("sampling model A, N = {n}"))?;
        let rb = sample(&mb, &scfg, cfg.n_samples, [1, size, size])
            .with_context(|| format!("sampling model B, N = {n}"))?;
        anyhow::ensure!(
            ra.initial.equal(&rb.initial),
            "models A and B did not start from the same noise"
        );
        for (name, run) in [("A", &ra), ("B", &rb)] {
            let bad = run
                .traces
                .iter()
                .filter(|t| t.stop != StopReason::Converged)
                .count();
            if bad > 0 {
                notes.push(format!("N = {n}, model {name}: {bad} of {} samples stopped before σ_L (step limit or divergence).", cfg.n_samples));
            }
        }
        let cmp = compare_models(
            &ra.samples,
            &rb.samples,
            &to_batch(&ta),
            &to_batch(&tb),
            &spec,
        )?;
        let near_a: Vec<f64> = cmp.a_nearest_train.iter().map(|x| x.cosine).collect();
        histogram_png(
            &dir.join(format!("hist_n{n}.png")),
            &format!("N = {n}"),
            "cosine similarity",
            &[
                HistSeries {
                    label: "sample A vs sample B".into(),
                    values: cmp.a_vs_b.clone(),
                },
                HistSeries {
                    label: "sample A vs closest S1 image".into(),
                    values: near_a,
                },
            ],
            48,
            (-0.2, 1.0),
            (600, 420),
        )?;
        figures.push((
            format!("N = {n}: similarity histograms"),
            PathBuf::from(format!("fig2/hist_n{n}.png")),
        ));
        let a = tensor_to_array::<Ix4>(&ra.samples)?;
        let b = tensor_to_array::<Ix4>(&rb.samples)?;
        for i in 0..show {
            tiles.push(a.slice(s![i, 0, .., ..]).to_owned());
        }
        for i in 0..show {
            tiles.push(b.slice(s![i, 0, .., ..]).to_owned());
        }
        for near in cmp.a_nearest_train.iter().take(show) {
            tiles.push(ta.slice(s![near.index, .., ..]).to_owned());
        }
        let steps: usize = ra.traces.iter().map(|t| t.steps).max().unwrap_or(0);
        rows.push(vec![
            n.to_string(),
            format!("{:.3}", cmp.stats_a_vs_b.mean),
            format!("{:.3}", cmp.stats_a_train.mean),
            format!("{:.3}", cmp.stats_b_train.mean),
            steps.to_string(),
            format!("{:.0}%", 100.0 * ra.timing.overhead_fraction()),
        ]);
        means.push((n, cmp.stats_a_vs_b.mean, cmp.stats_a_train.mean));
        std::fs::write(
            dir.join(format!("compare_n{n}.json")),
            serde_json::to_string(&cmp)?,
        )?;
        std::fs::write(
            dir.join(format!("sampler_n{n}.json")),
            serde_json::to_string(&ra.summary())?,
        )?;
    }
    image_grid_png(
        &dir.join("samples.png"),
        &tiles,
        show.max(1),
        &GridOptions::default(),
    )?;
    figures.insert(0, ("for each N (top to bottom): model A samples, model B samples from the same noise, A's closest S1 images".into(), PathBuf::from("fig2/samples.png")));
    let mut checks = Vec::new();
    if let (Some(first), Some(last)) = (means.first(), means.last()) {
        checks.push(Check::new(
            format!(
                "A–B sample similarity rises from N = {} to N = {}",
                first.0, last.0
            ),
            format!("{:.3} → {:.3}", first.1, last.1),
            "A–B mass moves toward 1 as N grows",
            "last > first",
            last.1 > first.1,
        ));
        checks.push(Check::new(
            format!(
                "samples copy training images at N = {}: mean closest-training cosine",
                first.0
            ),
            format!("{:.3}", first.2),
            "memorization: samples are training images",
            "> 0.9",
            first.2 > 0.9,
        ));
        checks.push(Check::new(
            format!("samples move away from the training set at N = {}", last.0),
            format!("{:.3} (vs {:.3} at N = {})", last.2, first.2, first.0),
            "sample-to-train mass moves left",
            "last < first",
            last.2 < first.2,
        ));
    }
    Ok(Some(Section {
        name: "fig2".into(),
        title: "samples of two models trained on disjoint sets, from the same seed".into(),
        dataset: data.loaded.description.clone(),
        summary: format!(
            "{} samples per model and N with the sampler of PAPER.md §4 ({:?}).",
            cfg.n_samples, scfg
        ),
        figures,
        tables: vec![md_table(
            &[
                "N",
                "mean cos(A, B)",
                "mean cos(A, closest S1)",
                "mean cos(B, closest S2)",
                "steps",
                "sampler overhead",
            ],
            &rows,
        )],
        checks,
        notes,
        config: serde_json::json!({ "fig2": cfg, "sampler": scfg }),
        seconds: t0.elapsed().as_secs_f64(),
    }))
}
