//! Fig. 4 (paper §6): C^α images, whose optimal (bandlet) denoiser has PSNR slope α/(α+1) at small
//! σ. One denoiser per α; the fitted slope of output against input PSNR is compared with theory,
//! and the eigenvectors of one model's Jacobian are shown.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use gahb_analysis::{calpha_theory_slope, fit_psnr_slope};
use gahb_plot::{line_plot_png, Panel, Series};
use ndarray::s;
use serde::{Deserialize, Serialize};

use super::derive_seed;
use crate::ctx::Ctx;
use crate::data::{load, DataSpec};
use crate::eval::{local_slopes, paper_sigmas, psnr_curve, CurvePoint};
use crate::profile::{NetSpec, TrainSpec};
use crate::report::{md_table, Check, Section};
use crate::spectral::{analyse, SpectrumFigures};

/// `[fig4]` in a profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The α values (the paper: 1, 2, 3, 4, 5).
    pub alphas: Vec<f64>,
    /// Image side.
    pub size: usize,
    /// Training images per α.
    pub n_train: usize,
    /// Held-out images per α.
    pub n_test: usize,
    /// The network.
    pub net: NetSpec,
    /// Training recipe; the profile's `[train]` when absent.
    #[serde(default)]
    pub train: Option<TrainSpec>,
    /// The slope is fitted over input PSNRs in this range (dB): the small-σ end.
    pub fit_range_db: [f64; 2],
    /// Accepted |slope − α/(α+1)|.
    pub slope_tolerance: f64,
    /// The α whose eigenvectors are shown, and the noise level.
    pub eigen_alpha: f64,
    /// Noise level of the eigen-analysis.
    pub eigen_sigma: f64,
}

/// The paper's fitted slopes (α, slope), PAPER.md §6.
pub const PAPER_SLOPES: [(f64, f64); 4] = [(1.0, 0.46), (2.0, 0.61), (3.0, 0.75), (5.0, 0.83)];

/// Runs Fig. 4.
pub fn run(ctx: &Ctx) -> Result<Option<Section>> {
    let Some(cfg) = ctx.profile.fig4.clone() else {
        return Ok(None);
    };
    anyhow::ensure!(!cfg.alphas.is_empty(), "fig4.alphas is empty");
    let t0 = Instant::now();
    let dir = ctx.exp_dir("fig4")?;
    let sigmas = paper_sigmas();
    let spec = cfg
        .train
        .clone()
        .unwrap_or_else(|| ctx.profile.train.clone());
    let model_cfg = cfg.net.to_model_config(cfg.size)?;
    let mut series = Vec::new();
    let mut slope_pts = Vec::new();
    let mut rows = Vec::new();
    let mut checks = Vec::new();
    let mut fits = Vec::new();
    let mut curves: Vec<(f64, Vec<CurvePoint>)> = Vec::new();
    let mut eigen_fig = None;
    for &alpha in &cfg.alphas {
        let seed = derive_seed(ctx.profile.seed, &format!("fig4-{alpha}"));
        let data = DataSpec {
            name: "calpha".into(),
            size: cfg.size,
            alpha: Some(alpha),
            n_synthetic: Some(cfg.n_train + cfg.n_test),
        };
        let all = load(ctx, &data, seed)?.images.clone();
        let train = all.slice(s![..cfg.n_train, .., ..]).to_owned();
        let test = all.slice(s![cfg.n_train.., .., ..]).to_owned();
        let (model, _) = ctx.train_cached(
            &format!("C^α α={alpha}"),
            &model_cfg,
            &spec.to_config(seed)?,
            &train,
            &format!("C^alpha alpha={alpha} n={} seed={seed}", cfg.n_train),
        )?;
        let curve = psnr_curve(&model, &test, &sigmas, seed ^ 0xf14)?;
        let inp: Vec<f64> = curve.iter().map(|p| p.input_psnr).collect();
        let out: Vec<f64> = curve.iter().map(|p| p.output_psnr).collect();
        let fit = fit_psnr_slope(&inp, &out, cfg.fit_range_db[0], cfg.fit_range_db[1])
            .with_context(|| format!("fitting the α = {alpha} slope"))?;
        let theory = calpha_theory_slope(alpha);
        let paper = PAPER_SLOPES
            .iter()
            .find(|(a, _)| *a == alpha)
            .map(|p| format!("{:.2}", p.1))
            .unwrap_or_else(|| "-".into());
        rows.push(vec![
            format!("{alpha}"),
            format!("{:.3}", fit.slope),
            format!("{theory:.3}"),
            paper.clone(),
            format!("{:.3}", fit.r2),
        ]);
        checks.push(Check::new(
            format!(
                "α = {alpha}: PSNR slope over input {:.0}–{:.0} dB",
                fit.min_input_db, fit.max_input_db
            ),
            format!("{:.3}", fit.slope),
            format!("theory {theory:.3}, paper's UNet {paper}"),
            format!("|ours − theory| < {}", cfg.slope_tolerance),
            (fit.slope - theory).abs() < cfg.slope_tolerance,
        ));
        slope_pts.push((alpha, fit.slope));
        series.push(Series::new(
            format!("α = {alpha}"),
            curve
                .iter()
                .map(|p| (p.input_psnr, p.output_psnr))
                .collect(),
        ));
        if alpha == cfg.eigen_alpha {
            let x = test.slice(s![0, .., ..]).to_owned();
            let spec = analyse(
                &model,
                &x,
                cfg.eigen_sigma,
                seed ^ 0xe16,
                &SpectrumFigures {
                    dir: &dir,
                    tag: &format!("alpha{alpha}"),
                    first: 0,
                    step: 4,
                    count: 22,
                    unshuffle: None,
                },
            )?;
            eigen_fig = Some((alpha, spec));
        }
        fits.push((alpha, fit));
        curves.push((alpha, curve));
    }
    let rising = slope_pts.windows(2).filter(|w| w[1].1 > w[0].1).count();
    checks.insert(
        0,
        Check::new(
            "slopes rise with α",
            format!(
                "{} of {} consecutive pairs rise",
                rising,
                slope_pts.len().saturating_sub(1)
            ),
            "0.46 / 0.61 / 0.75 / 0.83 rising",
            "every pair rises",
            rising + 1 == slope_pts.len(),
        ),
    );
    let hi = curves
        .iter()
        .flat_map(|c| c.1.iter().map(|p| p.input_psnr.max(p.output_psnr)))
        .fold(0.0, f64::max);
    series.push(Series::reference("identity", vec![(0.0, 0.0), (hi, hi)]));
    let theory: Vec<(f64, f64)> = (0..=40)
        .map(|i| 0.5 + i as f64 * 0.125)
        .map(|a| (a, calpha_theory_slope(a)))
        .collect();
    line_plot_png(
        &dir.join("slopes.png"),
        &[
            Panel {
                title: "C^α: output against input PSNR".into(),
                x_label: "input PSNR (dB)".into(),
                y_label: "output PSNR (dB)".into(),
                series,
                ..Panel::default()
            },
            Panel {
                title: "PSNR slope against α".into(),
                x_label: "α".into(),
                y_label: "slope".into(),
                series: vec![
                    Series::new("ours", slope_pts.clone()),
                    Series::new("paper's UNet", PAPER_SLOPES.to_vec()),
                    Series::reference("theory α/(α+1)", theory),
                ],
                ..Panel::default()
            },
        ],
        (1200, 500),
    )?;
    std::fs::write(
        dir.join("slopes.json"),
        serde_json::to_string_pretty(&serde_json::json!({ "fits": fits, "curves": curves }))?,
    )?;
    let mut figures = vec![(
        "PSNR curves per α (left) and fitted slopes against α/(α+1) (right)".to_string(),
        PathBuf::from("fig4/slopes.png"),
    )];
    let mut notes = vec![
        "Local slopes (second table) near theory at large σ and falling towards 0 at small σ mean \
         the network saturates there (an identity-like denoiser has slope 1, so this is a \
         training limit); a rise towards 1 means the images have more coefficients above σ than \
         the asymptotic α/(α+1) regime allows at this resolution. The fitted slope averages the \
         local slopes over the fit range."
            .to_string(),
    ];
    if let Some((a, spec)) = &eigen_fig {
        figures.push((
            format!("α = {a}: λ_k and |⟨x, e_k⟩|, σ = {}", cfg.eigen_sigma),
            PathBuf::from(format!("fig4/alpha{a}_spectrum.png")),
        ));
        figures.push((
            format!("α = {a}: eigenvectors e_0, e_4, e_8, ..."),
            PathBuf::from(format!("fig4/alpha{a}_eigenvectors.png")),
        ));
        let l: Vec<String> = spec
            .eigenvalues
            .iter()
            .take(20)
            .map(|v| format!("{v:.3}"))
            .collect();
        notes.push(format!("α = {a}, λ_0..λ_19 = {} (paper, α = 4 at 80²: 1.147, 1.072, 1.056, 1.046, 1.032, ..., 0.65); tr ∇f = {:.1}.", l.join(", "), spec.effective_dimension));
    }
    Ok(Some(Section {
        name: "fig4".into(),
        title: "C^α images: PSNR slopes against α/(α+1), and the adaptive basis".into(),
        dataset: format!("C^α images (PAPER.md §6), {0}×{0}, {1} training and {2} held-out images per α, generated", cfg.size, cfg.n_train, cfg.n_test),
        summary: format!("One bias-free {} per α ∈ {:?}; slopes fitted by least squares over input PSNR {:?} dB.", cfg.net.arch, cfg.alphas, cfg.fit_range_db),
        figures,
        tables: vec![
            md_table(&["α", "slope ours", "theory α/(α+1)", "paper UNet", "fit R²"], &rows),
            local_slope_table(&curves),
        ],
        checks,
        notes,
        config: serde_json::to_value(&cfg)?,
        seconds: t0.elapsed().as_secs_f64(),
    }))
}

/// One row per α: the local slope between consecutive noise levels, headed by the midpoint input
/// PSNR.
fn local_slope_table(curves: &[(f64, Vec<CurvePoint>)]) -> String {
    let slopes: Vec<(f64, Vec<(f64, f64)>)> =
        curves.iter().map(|(a, c)| (*a, local_slopes(c))).collect();
    let mids: Vec<String> = slopes
        .first()
        .map(|(_, s)| s.iter().map(|(m, _)| format!("{m:.0} dB")).collect())
        .unwrap_or_default();
    let mut head = vec!["local slope at input".to_string()];
    head.extend(mids);
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    let rows: Vec<Vec<String>> = slopes
        .iter()
        .map(|(a, s)| {
            let mut r = vec![format!("α = {a}")];
            r.extend(s.iter().map(|(_, v)| format!("{v:.2}")));
            r
        })
        .collect();
    md_table(&head, &rows)
}
