//! The vertical slice: a bias-free UNet trained with universal blind denoising (paper §1-§2) on
//! C^α images (paper §6), evaluated as output PSNR against input PSNR on held-out images (paper §3),
//! with a grid of clean, noisy and denoised images.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use gahb_plot::{image_grid_png, line_plot_png, GridOptions, Panel, Series};
use gahb_synth::{generate_calpha, CAlphaConfig};
use gahb_tensor::convert::tensor_to_array;
use gahb_tensor::Denoiser;
use ndarray::{s, Array2, Ix4};
use serde::{Deserialize, Serialize};

use super::derive_seed;
use crate::ctx::{to_batch, Ctx};
use crate::eval::{noise, paper_sigmas, psnr_curve};
use crate::profile::{NetSpec, TrainSpec};
use crate::report::{md_table, write_csv, Check, Section};

/// `[slice]` in a profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Image side in pixels.
    pub image_size: usize,
    /// Regularity α of contour and backgrounds (β = α).
    pub alpha: f64,
    /// Training images.
    pub n_train: usize,
    /// Held-out test images.
    pub n_test: usize,
    /// The network.
    pub net: NetSpec,
    /// Training recipe; the profile's `[train]` when absent.
    #[serde(default)]
    pub train: Option<TrainSpec>,
    /// Noise levels of the image grid.
    pub grid_sigmas: Vec<f64>,
}

/// Runs the slice.
pub fn run(ctx: &Ctx) -> Result<Option<Section>> {
    let Some(cfg) = ctx.profile.slice.clone() else {
        return Ok(None);
    };
    let t0 = Instant::now();
    if let Some(bad) = cfg
        .grid_sigmas
        .iter()
        .find(|s| !(s.is_finite() && **s > 0.0))
    {
        anyhow::bail!("slice.grid_sigmas: noise level {bad} must be > 0 (standard deviation on the [0, 1] scale)");
    }
    anyhow::ensure!(
        cfg.n_train > 0 && cfg.n_test > 0,
        "slice: n_train and n_test must be at least 1"
    );
    let dir = ctx.exp_dir("slice")?;
    let seed = derive_seed(ctx.profile.seed, "slice");
    let model_cfg = cfg
        .net
        .to_model_config(cfg.image_size)
        .context("slice.net")?;
    let spec = cfg
        .train
        .clone()
        .unwrap_or_else(|| ctx.profile.train.clone());
    let train_cfg = spec.to_config(seed).context("slice.train")?;
    let gen = CAlphaConfig {
        size: cfg.image_size,
        alpha: cfg.alpha,
        beta: cfg.alpha,
        blur: true,
    };
    let train_x = generate_calpha(&gen, cfg.n_train, seed).context("slice: C^α training images")?;
    let test_x =
        generate_calpha(&gen, cfg.n_test, seed ^ 0x7e57).context("slice: C^α test images")?;
    let (model, info) = ctx.train_cached(
        "slice UNet",
        &model_cfg,
        &train_cfg,
        &train_x,
        &format!(
            "C^alpha alpha={} size={} n={} seed={seed}",
            cfg.alpha, cfg.image_size, cfg.n_train
        ),
    )?;

    let sigmas = paper_sigmas();
    let curve = psnr_curve(&model, &test_x, &sigmas, seed ^ 0xe7a1)?;
    let rows: Vec<Vec<String>> = curve
        .iter()
        .map(|p| {
            vec![
                format!("{:.4}", p.sigma),
                format!("{:.2}", p.input_psnr),
                format!("{:.2}", p.output_psnr),
                format!("{:+.2}", p.output_psnr - p.input_psnr),
            ]
        })
        .collect();
    let header = ["sigma", "input PSNR (dB)", "output PSNR (dB)", "gain (dB)"];
    write_csv(&dir.join("psnr.csv"), &header, &rows)?;
    std::fs::write(dir.join("psnr.json"), serde_json::to_string_pretty(&curve)?)?;

    let pts: Vec<(f64, f64)> = curve
        .iter()
        .map(|p| (p.input_psnr, p.output_psnr))
        .collect();
    let lo = pts
        .iter()
        .map(|p| p.0)
        .fold(f64::INFINITY, f64::min)
        .min(0.0);
    let hi = pts.iter().map(|p| p.0.max(p.1)).fold(0.0, f64::max);
    line_plot_png(
        &dir.join("psnr.png"),
        &[Panel {
            title: format!(
                "C^α (α = {}) {}×{}, held-out images",
                cfg.alpha, cfg.image_size, cfg.image_size
            ),
            x_label: "input PSNR (dB)".into(),
            y_label: "output PSNR (dB)".into(),
            series: vec![
                Series::new(format!("bias-free UNet, N = {}", cfg.n_train), pts),
                Series::reference("identity", vec![(lo, lo), (hi, hi)]),
            ],
            ..Panel::default()
        }],
        (640, 480),
    )?;

    // Image grid: one row per test image: clean, then (noisy, denoised) at each grid σ.
    let n_show = cfg.n_test.min(4);
    let shown = test_x.slice(s![..n_show, .., ..]).to_owned();
    let x = to_batch(&shown);
    let mut tiles: Vec<Vec<Array2<f32>>> = (0..n_show)
        .map(|i| vec![shown.slice(s![i, .., ..]).to_owned()])
        .collect();
    for (k, &sigma) in cfg.grid_sigmas.iter().enumerate() {
        let z = to_batch(&noise(shown.dim(), seed ^ (0x9d00 + k as u64)));
        let y = &x + z * sigma;
        let xhat = model.denoise(&y)?;
        let y_a = tensor_to_array::<Ix4>(&y)?;
        let d_a = tensor_to_array::<Ix4>(&xhat)?;
        for (i, row) in tiles.iter_mut().enumerate() {
            row.push(y_a.slice(s![i, 0, .., ..]).to_owned());
            row.push(d_a.slice(s![i, 0, .., ..]).to_owned());
        }
    }
    let ncols = 1 + 2 * cfg.grid_sigmas.len();
    let flat: Vec<Array2<f32>> = tiles.into_iter().flatten().collect();
    image_grid_png(&dir.join("grid.png"), &flat, ncols, &GridOptions::default())?;

    let mid = curve
        .iter()
        .min_by(|a, b| {
            (a.input_psnr - 20.0)
                .abs()
                .total_cmp(&(b.input_psnr - 20.0).abs())
        })
        .copied();
    let low = curve.first().copied();
    let mut checks = Vec::new();
    if let Some(p) = mid {
        checks.push(Check::new(
            format!("denoising gain at input PSNR {:.1} dB", p.input_psnr),
            format!("{:+.2} dB", p.output_psnr - p.input_psnr),
            "gain > 0 (a trained denoiser improves noisy images)",
            "gain > 3 dB",
            p.output_psnr - p.input_psnr > 3.0,
        ));
    }
    if let Some(p) = low {
        checks.push(Check::new(
            format!("output PSNR at the largest σ = {:.3}", p.sigma),
            format!("{:.2} dB", p.output_psnr),
            "well above the input's ≈ 0 dB",
            "output > input + 5 dB",
            p.output_psnr > p.input_psnr + 5.0,
        ));
    }
    let rel = |p: &str| PathBuf::from("slice").join(p);
    Ok(Some(Section {
        name: "slice".into(),
        title: "bias-free UNet on C^α images (vertical slice)".into(),
        dataset: format!(
            "C^α images (PAPER.md §6), α = β = {}, {}×{}, {} training and {} held-out images, generated from seed {seed}",
            cfg.alpha, cfg.image_size, cfg.image_size, cfg.n_train, cfg.n_test
        ),
        summary: format!(
            "A bias-free UNet ({:?}) trained for {} steps ({}; {:.0} s, last loss {:.3}), evaluated at the paper's 15 noise levels.",
            cfg.net,
            info.steps,
            if info.cached { "loaded from cache" } else { "trained in this run" },
            info.seconds,
            info.last_loss.unwrap_or(f64::NAN)
        ),
        figures: vec![
            ("output PSNR against input PSNR on held-out C^α images".into(), rel("psnr.png")),
            (format!("clean | (noisy, denoised) at σ = {:?}", cfg.grid_sigmas), rel("grid.png")),
        ],
        tables: vec![md_table(&header, &rows)],
        checks,
        notes: vec![],
        config: serde_json::to_value(&cfg)?,
        seconds: t0.elapsed().as_secs_f64(),
    }))
}
