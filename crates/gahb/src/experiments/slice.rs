//! The vertical slice: a bias-free UNet trained with universal blind denoising (paper §1-§2) on
//! C^α images (paper §6), evaluated as output PSNR against input PSNR on held-out images (paper §3),
//! with a grid of clean, noisy and denoised images.

use anyhow::{Context, Result};
use gahb_denoiser::{ModelConfig, PsnrRow};
use gahb_plot::{image_grid_png, line_plot_png, GridOptions, Panel, Series};
use gahb_tensor::convert::{images_to_batch, tensor_to_array};
use gahb_tensor::Denoiser;
use ndarray::{s, Array2, Ix4};
use serde::{Deserialize, Serialize};

use crate::harness::{Experiment, Page};
use crate::lab::context::Lab;
use crate::lab::data::{check_sets, DataSpec};
use crate::lab::eval::{noise, paper_sigmas, points, psnr_curve};
use crate::lab::job::{Job, ModelJob};
use crate::lab::recipe::{describe_model, list, TrainSpec};
use crate::lab::seed::derive_seed;
use crate::lab::store::TrainedInfo;
use crate::report::check::{Cmp, Num};
use crate::report::{Check, Table};

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
    pub net: ModelConfig,
    /// Training recipe; the profile's `[train]` when absent.
    #[serde(default)]
    pub train: Option<TrainSpec>,
    /// Noise levels of the image grid.
    pub grid_sigmas: Vec<f64>,
    /// Smallest accepted denoising gain (dB) at input PSNR ≈ 20 dB.
    pub min_gain_db: f64,
    /// Smallest accepted gain (dB) at the largest σ.
    pub min_gain_largest_sigma_db: f64,
}

/// What the slice measured.
#[derive(Debug, Serialize)]
pub struct Results {
    /// The seed of the data and the model.
    pub seed: u64,
    /// The model.
    pub trained: TrainedInfo,
    /// Output against input PSNR on held-out images.
    pub curve: Vec<PsnrRow>,
    /// Rows of the image grid: clean, then (noisy, denoised) per grid σ.
    #[serde(skip)]
    pub grid: Vec<Array2<f32>>,
}

/// The slice.
pub struct Slice;

fn data(cfg: &Config, n: usize) -> DataSpec {
    DataSpec::Calpha {
        size: cfg.image_size,
        alpha: cfg.alpha,
        beta: None,
        n,
    }
}

fn job(lab: &Lab, cfg: &Config) -> Result<ModelJob> {
    let seed = lab.seed_of("slice");
    let train_x = lab.data(&data(cfg, cfg.n_train), seed)?;
    lab.job(
        "slice UNet",
        &cfg.net,
        lab.recipe(cfg.train.as_ref()),
        seed,
        train_x.images.clone(),
        &format!(
            "C^alpha alpha={} size={} n={} seed={seed}",
            cfg.alpha, cfg.image_size, cfg.n_train
        ),
    )
}

impl Experiment for Slice {
    const NAME: &'static str = "slice";
    const WHAT: &'static str = "bias-free denoiser on C^alpha images: PSNR curve, image grid";
    type Config = Config;
    type Results = Results;

    fn validate(cfg: &Config) -> Result<()> {
        if let Some(bad) = cfg
            .grid_sigmas
            .iter()
            .find(|s| !(s.is_finite() && **s > 0.0))
        {
            anyhow::bail!("slice.grid_sigmas: noise level {bad} must be > 0 (standard deviation on the [0, 1] scale)");
        }
        check_sets(
            "slice",
            cfg.n_train,
            cfg.n_test,
            "image_size",
            cfg.image_size,
        )?;
        if let Some(t) = &cfg.train {
            t.to_config(0).context("slice.train")?;
        }
        Ok(())
    }

    fn jobs(lab: &Lab, cfg: &Config) -> Result<Vec<Job>> {
        Ok(vec![Job::Model(job(lab, cfg)?)])
    }

    fn measure(lab: &Lab, cfg: &Config) -> Result<Results> {
        let seed = lab.seed_of("slice");
        let test_x = lab.data(&data(cfg, cfg.n_test), derive_seed(seed, "test-images"))?;
        let m = lab.train(&job(lab, cfg)?)?;
        let curve = psnr_curve(
            &m.model,
            &test_x.images,
            &paper_sigmas(),
            derive_seed(seed, "test-noise"),
        )?;
        // Image grid: one row per test image: clean, then (noisy, denoised) at each grid σ.
        let n_show = cfg.n_test.min(4);
        let shown = test_x.images.slice(s![..n_show, .., ..]).to_owned();
        let x = images_to_batch(&shown);
        let mut rows: Vec<Vec<Array2<f32>>> = (0..n_show)
            .map(|i| vec![shown.slice(s![i, .., ..]).to_owned()])
            .collect();
        for (k, &sigma) in cfg.grid_sigmas.iter().enumerate() {
            let z = images_to_batch(&noise(
                shown.dim(),
                derive_seed(seed, &format!("grid-noise-{k}")),
            ));
            let y = &x + z * sigma;
            let xhat = m.model.denoise(&y)?;
            let y_a = tensor_to_array::<Ix4>(&y)?;
            let d_a = tensor_to_array::<Ix4>(&xhat)?;
            for (i, row) in rows.iter_mut().enumerate() {
                row.push(y_a.slice(s![i, 0, .., ..]).to_owned());
                row.push(d_a.slice(s![i, 0, .., ..]).to_owned());
            }
        }
        Ok(Results {
            seed,
            trained: m.info,
            curve,
            grid: rows.into_iter().flatten().collect(),
        })
    }

    fn present(cfg: &Config, r: &Results, page: &mut Page) -> Result<()> {
        page.title("bias-free UNet on C^α images (vertical slice)");
        page.dataset(format!(
            "C^α images (PAPER.md §6), α = β = {}, {}×{}, {} training and {} held-out images, generated from seed {}",
            cfg.alpha, cfg.image_size, cfg.image_size, cfg.n_train, cfg.n_test, r.seed
        ));
        page.summary(format!(
            "A bias-free {} trained for {} steps ({}; {:.0} s, last loss {:.3}), evaluated at the paper's 15 noise levels.",
            describe_model(&cfg.net),
            r.trained.steps,
            if r.trained.cached { "loaded from cache" } else { "trained in this run" },
            r.trained.seconds,
            r.trained.last_loss.unwrap_or(f64::NAN)
        ));
        let pts = points(&r.curve);
        let lo = pts
            .iter()
            .map(|p| p.0)
            .fold(f64::INFINITY, f64::min)
            .min(0.0);
        let hi = pts.iter().map(|p| p.0.max(p.1)).fold(0.0, f64::max);
        page.figure(
            "psnr.png",
            "output PSNR against input PSNR on held-out C^α images",
            |path| {
                Ok(line_plot_png(
                    path,
                    &[Panel {
                        title: format!(
                            "C^α (α = {}) {}×{}, held-out images",
                            cfg.alpha, cfg.image_size, cfg.image_size
                        ),
                        x_label: "input PSNR (dB)".into(),
                        y_label: "output PSNR (dB)".into(),
                        series: vec![
                            Series::new(format!("bias-free UNet, N = {}", cfg.n_train), pts),
                            Series::identity(lo, hi),
                        ],
                        ..Panel::default()
                    }],
                    (640, 480),
                )?)
            },
        )?;
        let ncols = 1 + 2 * cfg.grid_sigmas.len();
        page.figure(
            "grid.png",
            format!(
                "clean | (noisy, denoised) at σ = {}",
                list(&cfg.grid_sigmas)
            ),
            |path| {
                Ok(image_grid_png(
                    path,
                    &r.grid,
                    ncols,
                    &GridOptions::default(),
                )?)
            },
        )?;
        let mut table = Table::new(["sigma", "input PSNR (dB)", "output PSNR (dB)", "gain (dB)"]);
        for p in &r.curve {
            table.row(vec![
                format!("{:.4}", p.sigma),
                format!("{:.2}", p.input_psnr),
                format!("{:.2}", p.output_psnr),
                format!("{:+.2}", p.output_psnr - p.input_psnr),
            ]);
        }
        let mid = r
            .curve
            .iter()
            .min_by(|a, b| {
                (a.input_psnr - 20.0)
                    .abs()
                    .total_cmp(&(b.input_psnr - 20.0).abs())
            })
            .copied();
        if let Some(p) = mid {
            let gain = Num::db(p.output_psnr - p.input_psnr);
            page.check(Check::compare_shown(
                format!("denoising gain at input PSNR {:.1} dB", p.input_psnr),
                gain,
                Check::signed(gain),
                Cmp::Above(cfg.min_gain_db),
                "gain > 0 (a trained denoiser improves noisy images)",
            ));
        }
        if let Some(p) = r.curve.first() {
            page.check(Check::compare_shown(
                format!(
                    "output PSNR at the largest σ = {:.3}: gain over the input",
                    p.sigma
                ),
                Num::db(p.output_psnr - p.input_psnr),
                format!("{:.2} dB (input {:.2} dB)", p.output_psnr, p.input_psnr),
                Cmp::Above(cfg.min_gain_largest_sigma_db),
                "well above the input's ≈ 0 dB",
            ));
        }
        page.table(table, Some("psnr.csv"))?;
        Ok(())
    }
}
