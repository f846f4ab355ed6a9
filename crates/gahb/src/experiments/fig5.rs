//! Fig. 5 (paper §7): the disk manifold (5 parameters). At small σ the optimal denoiser projects on
//! the 5-dimensional tangent space: five eigenvalues near 1, the rest near 0, MSE = 5σ². A trained
//! denoiser shows the drop after the fifth eigenvalue, with GAHB-like vectors beyond it.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use gahb_analysis::{disk_optimal_output_psnr, fit_psnr_slope};
use gahb_plot::{line_plot_png, Panel, Series};
use ndarray::s;
use serde::{Deserialize, Serialize};

use super::derive_seed;
use crate::ctx::Ctx;
use crate::data::{load, DataSpec};
use crate::eval::{paper_sigmas, psnr_curve};
use crate::profile::{NetSpec, TrainSpec};
use crate::report::{md_table, Check, Section};
use crate::spectral::{analyse, SpectrumFigures};

/// `[fig5]` in a profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Image side.
    pub size: usize,
    /// Training images.
    pub n_train: usize,
    /// Held-out images.
    pub n_test: usize,
    /// The network.
    pub net: NetSpec,
    /// Training recipe; the profile's `[train]` when absent.
    #[serde(default)]
    pub train: Option<TrainSpec>,
    /// Noise level of the eigen-analysis (0.04 in the paper).
    pub sigma: f64,
    /// Smallest accepted drop mean(λ_0..λ_4) − mean(λ_5..λ_9).
    pub min_drop: f64,
}

/// The paper's λ_0..λ_9 at σ = 0.04 (PAPER.md §7).
pub const PAPER_LAMBDAS: [f64; 10] = [
    1.177, 1.067, 1.004, 0.999, 0.945, 0.674, 0.552, 0.39, 0.304, 0.278,
];

/// Runs Fig. 5.
pub fn run(ctx: &Ctx) -> Result<Option<Section>> {
    let Some(cfg) = ctx.profile.fig5.clone() else {
        return Ok(None);
    };
    let t0 = Instant::now();
    let dir = ctx.exp_dir("fig5")?;
    let seed = derive_seed(ctx.profile.seed, "fig5");
    let data = DataSpec {
        name: "disks".into(),
        size: cfg.size,
        alpha: None,
        n_synthetic: Some(cfg.n_train + cfg.n_test),
    };
    let loaded = load(ctx, &data, seed)?;
    let train = loaded.images.slice(s![..cfg.n_train, .., ..]).to_owned();
    let test = loaded.images.slice(s![cfg.n_train.., .., ..]).to_owned();
    let spec = cfg
        .train
        .clone()
        .unwrap_or_else(|| ctx.profile.train.clone());
    let (model, _) = ctx.train_cached(
        "disks",
        &cfg.net.to_model_config(cfg.size)?,
        &spec.to_config(seed)?,
        &train,
        &format!("disks n={} seed={seed}", cfg.n_train),
    )?;
    let curve = psnr_curve(&model, &test, &paper_sigmas(), seed ^ 0xd15)?;
    let d = cfg.size * cfg.size;
    let x = test.slice(s![0, .., ..]).to_owned();
    let sp = analyse(
        &model,
        &x,
        cfg.sigma,
        seed ^ 0xe16,
        &SpectrumFigures {
            dir: &dir,
            tag: "disk",
            first: 0,
            step: 1,
            count: 10,
            unshuffle: None,
        },
    )?;
    let l = &sp.eigenvalues;
    let mean = |a: usize, b: usize| l[a..b.min(l.len())].iter().sum::<f64>() / (b - a) as f64;
    let drop = mean(0, 5) - mean(5, 10);
    let inp: Vec<f64> = curve.iter().map(|p| p.input_psnr).collect();
    let out: Vec<f64> = curve.iter().map(|p| p.output_psnr).collect();
    let fit = fit_psnr_slope(&inp, &out, 20.0, 45.0)?;
    let opt: Vec<(f64, f64)> = inp
        .iter()
        .map(|&i| (i, disk_optimal_output_psnr(i, d)))
        .collect();
    let last = curve.last().copied();
    line_plot_png(
        &dir.join("psnr.png"),
        &[Panel {
            title: format!("disks {0}×{0}: output against input PSNR", cfg.size),
            x_label: "input PSNR (dB)".into(),
            y_label: "output PSNR (dB)".into(),
            series: vec![
                Series::new(
                    "bias-free UNet",
                    inp.iter().copied().zip(out.iter().copied()).collect(),
                ),
                Series::reference("optimum: MSE = 5σ² (input + 10·log10(d/5))", opt),
            ],
            ..Panel::default()
        }],
        (700, 500),
    )?;
    std::fs::write(
        dir.join("disk.json"),
        serde_json::to_string_pretty(
            &serde_json::json!({ "curve": curve, "spectrum": sp, "slope": fit }),
        )?,
    )?;
    let rows: Vec<Vec<String>> = PAPER_LAMBDAS
        .iter()
        .enumerate()
        .map(|(k, p)| {
            vec![
                k.to_string(),
                format!("{:.3}", l.get(k).copied().unwrap_or(f64::NAN)),
                format!("{p:.3}"),
            ]
        })
        .collect();
    let mut checks = vec![
        Check::new(
            "drop after the fifth eigenvalue: mean(λ_0..λ_4) − mean(λ_5..λ_9)",
            format!("{drop:.3}"),
            format!(
                "{:.3} (from the paper's λ)",
                PAPER_LAMBDAS[..5].iter().sum::<f64>() / 5.0
                    - PAPER_LAMBDAS[5..].iter().sum::<f64>() / 5.0
            ),
            format!("> {}", cfg.min_drop),
            drop > cfg.min_drop,
        ),
        Check::new(
            "PSNR slope at small σ (input 20–45 dB)",
            format!("{:.3}", fit.slope),
            "< 1 (optimum: 1)",
            "< 1",
            fit.slope < 1.0,
        ),
    ];
    if let Some(p) = last {
        let o = disk_optimal_output_psnr(p.input_psnr, d);
        checks.push(Check::new(
            format!(
                "output PSNR at input {:.1} dB against the 5σ² optimum",
                p.input_psnr
            ),
            format!("{:.2} dB", p.output_psnr),
            format!("optimum {o:.2} dB"),
            "below the optimum (it is a bound)",
            p.output_psnr <= o + 0.5,
        ));
    }
    Ok(Some(Section {
        name: "fig5".into(),
        title: "disk manifold: eigenvalues against the 5-dimensional optimum".into(),
        dataset: loaded.description.clone(),
        summary: format!("A bias-free {} trained on {} disks; Jacobian at a held-out disk with σ = {}; tr ∇f = {:.2} (optimum 5 at small σ).", cfg.net.arch, cfg.n_train, cfg.sigma, sp.effective_dimension),
        figures: vec![
            ("λ_k and |⟨x, e_k⟩| against k".into(), PathBuf::from("fig5/disk_spectrum.png")),
            ("e_0 … e_9".into(), PathBuf::from("fig5/disk_eigenvectors.png")),
            ("output PSNR against the 5σ² optimum".into(), PathBuf::from("fig5/psnr.png")),
        ],
        tables: vec![md_table(&["k", "λ_k ours", "λ_k paper (80²)"], &rows)],
        checks,
        notes: vec![],
        config: serde_json::to_value(&cfg)?,
        seconds: t0.elapsed().as_secs_f64(),
    }))
}
