//! Fig. 5 (paper §7): the disk manifold (5 parameters). At small σ the optimal denoiser projects on
//! the 5-dimensional tangent space: five eigenvalues near 1, the rest near 0, MSE = 5σ². A trained
//! denoiser shows the drop after the fifth eigenvalue, with GAHB-like vectors beyond it.
//!
//! Its mean squared error per image on held-out disks is set against the 5σ² optimum at the small σ
//! of the grid (input PSNR in [`SMALL_SIGMA_DB`]), as a gap 10·log10(MSE/5σ²) in dB per σ. The
//! comparison is of MSEs, not of mean per-image PSNRs: 5σ² is an expected error.

use anyhow::{Context, Result};
use gahb_analysis::{disk_optimal_output_psnr, fit_psnr_slope, manifold_optimal_mse, SlopeFit};
use gahb_denoiser::{ModelConfig, PsnrRow};
use gahb_plot::{line_plot_png, Panel, Series};
use gahb_synth::DiskConfig;
use ndarray::{s, Array3};
use serde::{Deserialize, Serialize};

mod samples;

pub use samples::{DiskSampleSpec, DiskSamples};

use crate::experiments::spectrum_route::{convergence_check, route_table};
use crate::harness::{Experiment, Page};
use crate::lab::context::Lab;
use crate::lab::data::{check_sets, min_disk_size, DataSpec};
use crate::lab::eval::{paper_sigmas, points, psnr_curve};
use crate::lab::job::{Job, ModelJob};
use crate::lab::recipe::{describe_model, TrainSpec};
use crate::lab::seed::derive_seed;
use crate::lab::spectral::{analyse, draw, RouteSpec, Shown, Spectrum};
use crate::report::check::{Cmp, Num};
use crate::report::{Check, Table};

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
    pub net: ModelConfig,
    /// Training recipe; the profile's `[train]` when absent.
    #[serde(default)]
    pub train: Option<TrainSpec>,
    /// Noise level of the eigen-analysis (0.04 in the paper).
    pub sigma: f64,
    /// Smallest accepted drop mean(λ_0..λ_4) − mean(λ_5..λ_9).
    pub min_drop: f64,
    /// Largest accepted PSNR slope at small σ (the optimum's is 1).
    pub max_slope: f64,
    /// How far (dB) above the 5σ² optimum the output may measure before it is an error.
    pub optimum_margin_db: f64,
    /// Largest accepted gap 10·log10(MSE/5σ²) (dB) at every small σ (input PSNR in
    /// [`SMALL_SIGMA_DB`]).
    pub max_optimum_gap_db: f64,
    /// The fraction of samples that are disks; not measured when absent.
    #[serde(default)]
    pub samples: Option<DiskSampleSpec>,
    /// How the spectrum is taken (dense up to 64×64 unless set).
    #[serde(default)]
    pub jacobian: RouteSpec,
}

/// The input PSNRs (dB) of the small-σ end: the slope fit and the 5σ² comparison.
pub const SMALL_SIGMA_DB: [f64; 2] = [20.0, 45.0];

/// The dimension of the disk manifold (PAPER.md §7).
pub const DISK_PARAMS: usize = 5;

/// One small σ against the 5σ² optimum.
#[derive(Debug, Clone, Serialize)]
pub struct OptimumLevel {
    /// Noise level.
    pub sigma: f64,
    /// Measured input PSNR (dB).
    pub input_psnr: f64,
    /// Our mean squared error per image (summed over pixels, averaged over images).
    pub mse_ours: f64,
    /// The small-σ optimum 5σ² per image.
    pub mse_optimal: f64,
    /// 10·log10(mse_ours / mse_optimal).
    pub gap_db: f64,
}

/// The paper's λ_0..λ_9 at σ = 0.04 (PAPER.md §7).
pub const PAPER_LAMBDAS: [f64; 10] = [
    1.177, 1.067, 1.004, 0.999, 0.945, 0.674, 0.552, 0.39, 0.304, 0.278,
];

/// What Fig. 5 measured.
#[derive(Debug, Serialize)]
pub struct Results {
    /// The data's description.
    pub description: String,
    /// Held-out PSNR curve.
    pub curve: Vec<PsnrRow>,
    /// The analysis at a held-out disk.
    pub spectrum: Spectrum,
    /// The slope at small σ.
    pub slope: SlopeFit,
    /// Our MSE against 5σ² at each small σ, largest σ first.
    pub optimum: Vec<OptimumLevel>,
    /// The disk fits of the samples, when `[fig5.samples]` is set.
    pub samples: Option<DiskSamples>,
}

/// Fig. 5.
pub struct Fig5;

/// The training of the disk model and the held-out disks.
fn disk_sets(lab: &Lab, cfg: &Config) -> Result<(ModelJob, Array3<f32>, String)> {
    let seed = lab.seed_of("fig5");
    let data = DataSpec::Disks {
        size: cfg.size,
        n: cfg.n_train + cfg.n_test,
    };
    let loaded = lab.data(&data, seed)?;
    let train = loaded.images.slice(s![..cfg.n_train, .., ..]).to_owned();
    let test = loaded.images.slice(s![cfg.n_train.., .., ..]).to_owned();
    let job = lab.job(
        "disks",
        &cfg.net,
        lab.recipe(cfg.train.as_ref()),
        seed,
        train,
        &format!("disks n={} seed={seed}", cfg.n_train),
    )?;
    Ok((job, test, loaded.description.clone()))
}

impl Experiment for Fig5 {
    const NAME: &'static str = "fig5";
    const WHAT: &'static str = "disk manifold: eigenvalues against the 5-dimensional optimum";
    type Config = Config;
    type Results = Results;

    fn validate(cfg: &Config) -> Result<()> {
        for (key, v) in [
            ("min_drop", cfg.min_drop),
            ("max_slope", cfg.max_slope),
            ("optimum_margin_db", cfg.optimum_margin_db),
            ("max_optimum_gap_db", cfg.max_optimum_gap_db),
        ] {
            anyhow::ensure!(v.is_finite(), "fig5.{key} must be finite, got {v}");
        }
        anyhow::ensure!(
            cfg.sigma.is_finite() && cfg.sigma > 0.0,
            "fig5.sigma must be finite and > 0, got {}",
            cfg.sigma
        );
        check_sets("fig5", cfg.n_train, cfg.n_test, "size", cfg.size)?;
        let min = min_disk_size();
        anyhow::ensure!(
            cfg.size >= min,
            "fig5.size = {}: disks need a side of at least {min} (radii from 3 to (size − 3)/2, \
             PAPER.md §7)",
            cfg.size
        );
        if let Some(t) = &cfg.train {
            t.to_config(0).context("fig5.train")?;
        }
        if let Some(s) = &cfg.samples {
            s.validate()?;
        }
        cfg.jacobian.validate("fig5")
    }

    fn jobs(lab: &Lab, cfg: &Config) -> Result<Vec<Job>> {
        Ok(vec![Job::Model(disk_sets(lab, cfg)?.0)])
    }

    fn measure(lab: &Lab, cfg: &Config) -> Result<Results> {
        let seed = lab.seed_of("fig5");
        let (job, test, description) = disk_sets(lab, cfg)?;
        let m = lab.train(&job)?;
        let curve = psnr_curve(
            &m.model,
            &test,
            &paper_sigmas(),
            derive_seed(seed, "test-noise"),
        )?;
        let x = test.slice(s![0, .., ..]).to_owned();
        let spectrum = analyse(
            &m.model,
            &x,
            cfg.sigma,
            derive_seed(seed, "jacobian-noise"),
            Shown {
                first: 0,
                step: 1,
                count: 10,
                read: 10,
            },
            None,
            &cfg.jacobian,
        )?;
        let inp: Vec<f64> = curve.iter().map(|p| p.input_psnr).collect();
        let out: Vec<f64> = curve.iter().map(|p| p.output_psnr).collect();
        let slope = fit_psnr_slope(&inp, &out, SMALL_SIGMA_DB[0], SMALL_SIGMA_DB[1])?;
        let d = (cfg.size * cfg.size) as f64;
        let optimum = curve
            .iter()
            .filter(|p| (SMALL_SIGMA_DB[0]..=SMALL_SIGMA_DB[1]).contains(&p.input_psnr))
            .map(|p| {
                let mse_ours = p.output_mse * d;
                let mse_optimal = manifold_optimal_mse(p.sigma, DISK_PARAMS);
                OptimumLevel {
                    sigma: p.sigma,
                    input_psnr: p.input_psnr,
                    mse_ours,
                    mse_optimal,
                    gap_db: 10.0 * (mse_ours / mse_optimal).log10(),
                }
            })
            .collect();
        let samples = match &cfg.samples {
            Some(spec) => Some(samples::measure(
                &m.model,
                spec,
                &DiskConfig::paper(cfg.size),
                &test,
                derive_seed(seed, "sampler"),
            )?),
            None => None,
        };
        Ok(Results {
            description,
            curve,
            spectrum,
            slope,
            optimum,
            samples,
        })
    }

    fn present(cfg: &Config, r: &Results, page: &mut Page) -> Result<()> {
        let d = cfg.size * cfg.size;
        let sp = &r.spectrum;
        let l = &sp.eigenvalues;
        let mean = |a: usize, b: usize| l[a..b.min(l.len())].iter().sum::<f64>() / (b - a) as f64;
        let drop = mean(0, 5) - mean(5, 10);
        draw(page.dir(), "disk", sp)?;
        page.title("disk manifold: eigenvalues against the 5-dimensional optimum");
        page.dataset(r.description.clone());
        page.summary(format!("A bias-free {} trained on {} disks; Jacobian at a held-out disk with σ = {} ({}); tr ∇f = {:.2} (optimum 5 at small σ).", describe_model(&cfg.net), cfg.n_train, cfg.sigma, sp.describe(), sp.effective_dimension));
        page.listed_figure("disk_spectrum.png", "λ_k and |⟨x, e_k⟩| against k");
        page.listed_figure("disk_eigenvectors.png", "e_0 … e_9");
        if let Some(check) = convergence_check(sp) {
            page.check(check);
        }
        if let Some(t) = route_table(sp, "") {
            page.table(t, Some("matrix_free.csv"))?;
        }
        let pts = points(&r.curve);
        let opt: Vec<(f64, f64)> = pts
            .iter()
            .map(|&(i, _)| (i, disk_optimal_output_psnr(i, d)))
            .collect();
        page.figure("psnr.png", "output PSNR against the 5σ² optimum", |path| {
            Ok(line_plot_png(
                path,
                &[Panel {
                    title: format!("disks {0}×{0}: output against input PSNR", cfg.size),
                    x_label: "input PSNR (dB)".into(),
                    y_label: "output PSNR (dB)".into(),
                    series: vec![
                        Series::new("bias-free UNet", pts.clone()),
                        Series::reference("optimum: MSE = 5σ² (input + 10·log10(d/5))", opt),
                    ],
                    ..Panel::default()
                }],
                (700, 500),
            )?)
        })?;
        let mut table = Table::new(["k", "λ_k ours", "λ_k paper (80²)"]);
        for (k, p) in PAPER_LAMBDAS.iter().enumerate() {
            table.row(vec![
                k.to_string(),
                format!("{:.3}", l.get(k).copied().unwrap_or(f64::NAN)),
                format!("{p:.3}"),
            ]);
        }
        page.table(table, None)?;
        page.check(Check::compare(
            "drop after the fifth eigenvalue: mean(λ_0..λ_4) − mean(λ_5..λ_9)",
            Num::plain(drop, 3),
            Cmp::Above(cfg.min_drop),
            format!(
                "{:.3} (from the paper's λ)",
                PAPER_LAMBDAS[..5].iter().sum::<f64>() / 5.0
                    - PAPER_LAMBDAS[5..].iter().sum::<f64>() / 5.0
            ),
        ));
        let mut gaps = Table::new([
            "sigma",
            "input PSNR (dB)",
            "MSE per image, ours",
            "5σ² (optimum)",
            "gap 10·log10(MSE/5σ²) (dB)",
        ]);
        for o in &r.optimum {
            gaps.row(vec![
                format!("{:.4}", o.sigma),
                format!("{:.2}", o.input_psnr),
                format!("{:.3e}", o.mse_ours),
                format!("{:.3e}", o.mse_optimal),
                format!("{:.2}", o.gap_db),
            ]);
        }
        page.table(gaps, Some("optimum_gap.csv"))?;
        let worst = r
            .optimum
            .iter()
            .map(|o| o.gap_db)
            .fold(f64::NEG_INFINITY, f64::max);
        page.check(Check::compare_shown(
            format!(
                "MSE against the 5σ² optimum at every small σ (input {:.0}–{:.0} dB, {} levels): largest gap",
                SMALL_SIGMA_DB[0],
                SMALL_SIGMA_DB[1],
                r.optimum.len()
            ),
            Num::db(worst),
            format!("≤ {worst:.2} dB"),
            Cmp::AtMost(cfg.max_optimum_gap_db),
            "MSE → 5σ² at small σ (the optimum); the paper's UNet falls below it there (slope < 1)",
        ));
        page.check(Check::compare(
            "PSNR slope at small σ (input 20–45 dB)",
            Num::plain(r.slope.slope, 3),
            Cmp::Below(cfg.max_slope),
            "< 1 (optimum: 1)",
        ));
        if let Some(p) = r.curve.last() {
            let o = disk_optimal_output_psnr(p.input_psnr, d);
            page.check(Check::compare_shown(
                format!(
                    "output PSNR at input {:.1} dB against the 5σ² optimum (ours − optimum)",
                    p.input_psnr
                ),
                Num::db(p.output_psnr - o),
                format!("{:.2} dB", p.output_psnr),
                Cmp::AtMost(cfg.optimum_margin_db),
                format!("optimum {o:.2} dB (a bound)"),
            ));
        }
        if let (Some(spec), Some(q)) = (&cfg.samples, &r.samples) {
            samples::present(spec, q, page)?;
        }
        Ok(())
    }
}
