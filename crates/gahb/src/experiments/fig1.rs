//! Fig. 1 (paper §3): output PSNR against input PSNR on training and on held-out images, one line
//! per training-set size N: memorization (train far above test) at small N, generalization
//! (train ≈ test) at large N.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use gahb_plot::{line_plot_png, Panel, Series};
use serde::{Deserialize, Serialize};

use super::derive_seed;
use crate::ctx::Ctx;
use crate::eval::{paper_sigmas, psnr_curve, CurvePoint};
use crate::report::{md_table, write_csv, Check, Section};
use crate::sweep::{Half, SweepConfig};

/// `[fig1]` in a profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Sizes N at or below which the model must memorize.
    pub memorize_max_n: usize,
    /// The smallest mean train − test gap (dB) that counts as memorization.
    pub memorize_gap_db: f64,
    /// The largest |train − test| gap (dB) at the largest N that counts as generalization.
    pub generalize_gap_db: f64,
}

/// One N's curves.
#[derive(Debug, Clone, Serialize)]
pub struct Curves {
    /// Training-set size.
    pub n: usize,
    /// On training images.
    pub train: Vec<CurvePoint>,
    /// On held-out images.
    pub test: Vec<CurvePoint>,
}

/// Measures the train and test curves of S1 models for every N of a sweep, once per run (Fig. 15
/// reuses Fig. 1's curves at the sweep's own resolution).
pub fn sweep_curves(ctx: &Ctx, sweep: &SweepConfig) -> Result<(Vec<Curves>, String)> {
    let key = serde_json::to_string(sweep)?;
    if let Some(done) = ctx.curves.borrow().get(&key) {
        return Ok(done.clone());
    }
    let measured = measure_sweep_curves(ctx, sweep)?;
    ctx.curves.borrow_mut().insert(key, measured.clone());
    Ok(measured)
}

fn measure_sweep_curves(ctx: &Ctx, sweep: &SweepConfig) -> Result<(Vec<Curves>, String)> {
    let data = sweep.load(ctx)?;
    sweep.validate(&data)?;
    let test = sweep.test_images(&data)?;
    let sigmas = paper_sigmas();
    let noise_seed = derive_seed(ctx.profile.seed, "fig1-noise");
    let mut out = Vec::new();
    for &n in &sweep.ns {
        let (model, _, train) = sweep.model(ctx, &data, n, Half::S1)?;
        let train_eval = sweep.eval_train_images(&train);
        out.push(Curves {
            n,
            train: psnr_curve(&model, &train_eval, &sigmas, noise_seed)?,
            test: psnr_curve(&model, &test, &sigmas, noise_seed ^ 1)?,
        });
    }
    Ok((out, data.loaded.description.clone()))
}

/// Draws the two panels of Fig. 1.
pub fn plot(path: &std::path::Path, curves: &[Curves], title: &str) -> Result<()> {
    let panel = |name: &str, pick: fn(&Curves) -> &Vec<CurvePoint>| {
        let mut series: Vec<Series> = curves
            .iter()
            .map(|c| {
                Series::new(
                    format!("N = {}", c.n),
                    pick(c)
                        .iter()
                        .map(|p| (p.input_psnr, p.output_psnr))
                        .collect(),
                )
            })
            .collect();
        let hi = curves
            .iter()
            .flat_map(|c| pick(c).iter().map(|p| p.input_psnr.max(p.output_psnr)))
            .fold(0.0, f64::max);
        series.push(Series::reference("identity", vec![(0.0, 0.0), (hi, hi)]));
        Panel {
            title: format!("{title}: {name}"),
            x_label: "input PSNR (dB)".into(),
            y_label: "output PSNR (dB)".into(),
            series,
            ..Panel::default()
        }
    };
    line_plot_png(
        path,
        &[panel("train", |c| &c.train), panel("test", |c| &c.test)],
        (1200, 500),
    )?;
    Ok(())
}

/// Runs Fig. 1.
pub fn run(ctx: &Ctx) -> Result<Option<Section>> {
    let (Some(cfg), Some(sweep)) = (ctx.profile.fig1.clone(), ctx.profile.sweep.clone()) else {
        return Ok(None);
    };
    let t0 = Instant::now();
    let dir = ctx.exp_dir("fig1")?;
    let (curves, description) = sweep_curves(ctx, &sweep).context("fig1")?;
    plot(&dir.join("psnr_curves.png"), &curves, &sweep.data.name)?;
    std::fs::write(
        dir.join("curves.json"),
        serde_json::to_string_pretty(&curves)?,
    )?;
    let mut rows = Vec::new();
    for c in &curves {
        for (a, b) in c.train.iter().zip(&c.test) {
            rows.push(vec![
                c.n.to_string(),
                format!("{:.4}", a.sigma),
                format!("{:.2}", a.input_psnr),
                format!("{:.2}", a.output_psnr),
                format!("{:.2}", b.output_psnr),
            ]);
        }
    }
    let header = [
        "N",
        "sigma",
        "input PSNR",
        "train output PSNR",
        "test output PSNR",
    ];
    write_csv(&dir.join("curves.csv"), &header, &rows)?;
    // Per N: the mean, smallest and largest-magnitude train − test gap over the noise levels.
    let gaps: Vec<Gap> = curves
        .iter()
        .map(|c| {
            let each: Vec<f64> = c
                .train
                .iter()
                .zip(&c.test)
                .map(|(p, q)| p.output_psnr - q.output_psnr)
                .collect();
            Gap {
                n: c.n,
                mean: each.iter().sum::<f64>() / each.len().max(1) as f64,
                min: each.iter().copied().fold(f64::INFINITY, f64::min),
                max_abs: each.iter().map(|g| g.abs()).fold(0.0, f64::max),
            }
        })
        .collect();
    let gap_rows: Vec<Vec<String>> = gaps
        .iter()
        .map(|g| {
            vec![
                g.n.to_string(),
                format!("{:.2}", g.mean),
                format!("{:.2}", g.min),
                format!("{:.2}", g.max_abs),
            ]
        })
        .collect();

    let mut checks = Vec::new();
    for g in gaps.iter().filter(|g| g.n <= cfg.memorize_max_n) {
        checks.push(Check::new(
            format!(
                "memorization at N = {}: train − test output PSNR at every noise level (mean {:.2} dB)",
                g.n, g.mean
            ),
            format!("≥ {:.2} dB", g.min),
            "memorization at N = 1, 10 (train slope 1, flat test)",
            format!("> {} dB at every σ", cfg.memorize_gap_db),
            g.min > cfg.memorize_gap_db,
        ));
    }
    if let Some(g) = gaps.last() {
        checks.push(Check::new(
            format!(
                "generalization at the largest N = {}: |train − test| at every noise level (mean {:.2} dB)",
                g.n,
                g.mean.abs()
            ),
            format!("≤ {:.2} dB", g.max_abs),
            "train ≈ test at N = 10^5",
            format!("< {} dB at every σ", cfg.generalize_gap_db),
            g.max_abs < cfg.generalize_gap_db,
        ));
    }
    let mut notes = Vec::new();
    if let (Some(first), Some(last)) = (curves.first(), curves.last()) {
        let lo = |c: &Curves| c.test.last().map(|p| p.output_psnr).unwrap_or(f64::NAN);
        notes.push(format!(
            "Test output PSNR at the smallest σ: {:.2} dB at N = {} against {:.2} dB at N = {}.",
            lo(first),
            first.n,
            lo(last),
            last.n
        ));
    }
    Ok(Some(Section {
        name: "fig1".into(),
        title: "memorization to generalization: train and test PSNR curves across N".into(),
        dataset: description,
        summary: format!(
            "One bias-free {} per N ∈ {:?} trained on S1 (first N images); PSNR on {} training images (tiled when N is smaller) and {} held-out images at the paper's 15 noise levels.",
            sweep.net.arch, sweep.ns, sweep.n_eval, sweep.n_eval
        ),
        figures: vec![("output against input PSNR, train (left) and test (right)".into(), PathBuf::from("fig1/psnr_curves.png"))],
        tables: vec![md_table(
            &[
                "N",
                "mean train − test gap (dB)",
                "smallest gap (dB)",
                "largest gap magnitude (dB)",
            ],
            &gap_rows,
        )],
        checks,
        notes,
        config: serde_json::json!({ "fig1": cfg, "sweep": sweep }),
        seconds: t0.elapsed().as_secs_f64(),
    }))
}

/// The train − test output PSNR gap of one model over the noise levels.
struct Gap {
    n: usize,
    mean: f64,
    min: f64,
    max_abs: f64,
}
