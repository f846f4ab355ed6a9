//! The distance to the best possible denoiser (beyond the paper; PAPER.md §10, eq. 5): the profile's
//! network trained on a class whose optimal denoiser is known, the stationary Gaussian class with a
//! power-law spectrum (gahb-synth `gaussian.rs`), whose optimum at each σ is its Wiener filter (exact,
//! applied in the DFT domain by gahb-diffusion's `SpectralWiener`). Both see the same noisy held-out
//! images at the paper's 15 noise levels; the gap per σ is 10·log10(MSE_ours / MSE_Wiener), and the
//! integrated gap ∫ (MSE_ours − MSE*) σ⁻³ dσ bounds the density error (eq. 5).

use anyhow::{Context, Result};
use gahb_analysis::density_bound;
use gahb_denoiser::ModelConfig;
use gahb_diffusion::{NoiseLevel, SpectralWiener};
use gahb_plot::{line_plot_png, Panel, Series};
use gahb_synth::{GaussianField, GaussianFieldConfig};
use gahb_tensor::convert::images_to_batch;
use gahb_tensor::Denoiser;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::harness::{Experiment, Page};
use crate::lab::context::Lab;
use crate::lab::eval::paper_sigmas;
use crate::lab::recipe::{describe_model, TrainSpec};
use crate::lab::seed::derive_seed;
use crate::lab::store::TrainedInfo;
use crate::report::check::{Cmp, Num};
use crate::report::{Check, Table};

/// `[optimality]` in a profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The Gaussian class (size, spectrum, variance, mean).
    pub class: GaussianFieldConfig,
    /// Training images.
    pub n_train: usize,
    /// Held-out images.
    pub n_test: usize,
    /// The network.
    pub net: ModelConfig,
    /// Training recipe; the profile's `[train]` when absent.
    #[serde(default)]
    pub train: Option<TrainSpec>,
    /// Largest accepted mean gap to the optimum over the 15 σ (dB).
    pub max_mean_gap_db: f64,
    /// Largest accepted gap at any σ (dB).
    pub max_worst_gap_db: f64,
}

/// One noise level.
#[derive(Debug, Clone, Serialize)]
pub struct Level {
    /// Noise level.
    pub sigma: f64,
    /// Mean squared error per pixel of the trained network.
    pub mse_ours: f64,
    /// Mean squared error per pixel of the Wiener filter on the same noisy images.
    pub mse_optimal: f64,
    /// The Wiener filter's expected MSE per pixel (closed form).
    pub mse_optimal_expected: f64,
    /// 10·log10(mse_ours / mse_optimal).
    pub gap_db: f64,
}

/// What the experiment measured.
#[derive(Debug, Serialize)]
pub struct Results {
    /// The model.
    pub trained: TrainedInfo,
    /// One entry per σ, largest first.
    pub levels: Vec<Level>,
    /// ∫ (MSE_ours − MSE*) σ⁻³ dσ over the grid, in nats per image (eq. 5).
    pub density_bound_nats: f64,
}

/// The optimality gap.
pub struct Optimality;

impl Experiment for Optimality {
    const NAME: &'static str = "optimality";
    const WHAT: &'static str =
        "distance to the optimal denoiser: a Gaussian class against its Wiener filter, per noise level";
    type Config = Config;
    type Results = Results;

    fn validate(cfg: &Config) -> Result<()> {
        cfg.class.validate()?;
        anyhow::ensure!(
            cfg.n_train > 0 && cfg.n_test > 0,
            "optimality: n_train and n_test must be at least 1"
        );
        Ok(())
    }

    fn measure(lab: &Lab, cfg: &Config) -> Result<Results> {
        let seed = lab.seed_of("optimality");
        let field = GaussianField::new(&cfg.class)?;
        let train = field.generate(cfg.n_train, derive_seed(seed, "train-images"));
        let test = field.generate(cfg.n_test, derive_seed(seed, "test-images"));
        let m = lab.train(
            "Gaussian class",
            &cfg.net,
            lab.recipe(cfg.train.as_ref()),
            seed,
            &train,
            &format!("stationary Gaussian class n={}", cfg.n_train),
        )?;
        let x = images_to_batch(&test);
        let size = cfg.class.size as i64;
        let z = gahb_tensor::random::standard_normal(
            derive_seed(seed, "test-noise"),
            0,
            cfg.n_test,
            &[1, size, size],
            Device::Cpu,
        )?;
        let d = (size * size) as f64;
        let mse = |f: &dyn Denoiser, y: &Tensor| -> Result<f64> {
            let out = f.denoise(&y.to_device(f.device()))?.to_device(Device::Cpu);
            Ok((out - &x).square().mean(Kind::Double).double_value(&[]))
        };
        let mut levels = Vec::new();
        for sigma in paper_sigmas() {
            let y = &x + &z * sigma;
            let wiener = SpectralWiener::new(
                field.spectrum().view(),
                field.mean(),
                NoiseLevel::Known(sigma),
                Device::Cpu,
            )?;
            let ours = mse(&m.model, &y)?;
            let best = mse(&wiener, &y)?;
            levels.push(Level {
                sigma,
                mse_ours: ours,
                mse_optimal: best,
                mse_optimal_expected: field.wiener_mse(sigma)?,
                gap_db: 10.0 * (ours / best).log10(),
            });
        }
        let mut asc = levels.clone();
        asc.reverse();
        let bound = density_bound(
            &asc.iter().map(|l| l.sigma).collect::<Vec<_>>(),
            &asc.iter().map(|l| l.mse_ours * d).collect::<Vec<_>>(),
            &asc.iter().map(|l| l.mse_optimal * d).collect::<Vec<_>>(),
        )
        .context("the integrated gap")?;
        Ok(Results {
            trained: m.info,
            levels,
            density_bound_nats: bound.bound_nats,
        })
    }

    fn present(cfg: &Config, r: &Results, page: &mut Page) -> Result<()> {
        let c = &cfg.class;
        page.title("distance to the optimal denoiser: a Gaussian class and its Wiener filter");
        page.dataset(format!(
            "stationary Gaussian images {0}×{0}, power spectrum ∝ 1/({1} + |k|²)^{2}, pixel variance {3}, mean {4}; {5} training and {6} held-out images, generated",
            c.size, c.c, c.exponent, c.variance, c.mean, cfg.n_train, cfg.n_test
        ));
        page.summary(format!(
            "A bias-free {} trained for {} steps ({}), against the exact Wiener filter of the class (the optimal denoiser at each σ, given σ) on the same noisy held-out images. {}",
            describe_model(&cfg.net),
            r.trained.steps,
            if r.trained.cached { "loaded from cache" } else { "trained in this run" },
            if c.mean == 0.0 {
                "With mean 0 the optimum is linear, so a bias-free network can represent it: every dB of gap is training."
            } else {
                "With a non-zero mean the optimum is affine, which a bias-free network cannot represent exactly."
            }
        ));
        let db = |m: f64| -10.0 * m.log10();
        page.figure(
            "gap.png",
            "output PSNR of ours and of the Wiener optimum (left), and the gap in dB per σ (right)",
            |path| {
                let input = |l: &Level| db(l.sigma * l.sigma);
                Ok(line_plot_png(
                    path,
                    &[
                        Panel {
                            title: "output against input PSNR".into(),
                            x_label: "input PSNR (dB)".into(),
                            y_label: "output PSNR (dB)".into(),
                            series: vec![
                                Series::new(
                                    "bias-free UNet",
                                    r.levels
                                        .iter()
                                        .map(|l| (input(l), db(l.mse_ours)))
                                        .collect(),
                                ),
                                Series::reference(
                                    "Wiener (optimal)",
                                    r.levels
                                        .iter()
                                        .map(|l| (input(l), db(l.mse_optimal)))
                                        .collect(),
                                ),
                            ],
                            ..Panel::default()
                        },
                        Panel {
                            title: "gap to the optimum".into(),
                            x_label: "input PSNR (dB)".into(),
                            y_label: "10·log10(MSE / MSE*) (dB)".into(),
                            series: vec![Series::new(
                                "gap",
                                r.levels.iter().map(|l| (input(l), l.gap_db)).collect(),
                            )],
                            ..Panel::default()
                        },
                    ],
                    (1200, 500),
                )?)
            },
        )?;
        let mut table = Table::new([
            "sigma",
            "input PSNR (dB)",
            "ours (dB)",
            "Wiener (dB)",
            "Wiener, expected (dB)",
            "gap (dB)",
        ]);
        for l in &r.levels {
            table.row(vec![
                format!("{:.4}", l.sigma),
                format!("{:.2}", db(l.sigma * l.sigma)),
                format!("{:.2}", db(l.mse_ours)),
                format!("{:.2}", db(l.mse_optimal)),
                format!("{:.2}", db(l.mse_optimal_expected)),
                format!("{:.2}", l.gap_db),
            ]);
        }
        page.table(table, Some("gap.csv"))?;
        let n = r.levels.len().max(1) as f64;
        let mean = r.levels.iter().map(|l| l.gap_db).sum::<f64>() / n;
        let worst = r
            .levels
            .iter()
            .map(|l| l.gap_db)
            .fold(f64::NEG_INFINITY, f64::max);
        page.check(Check::compare(
            "mean gap to the Wiener optimum over the 15 noise levels",
            Num::db(mean),
            Cmp::Below(cfg.max_mean_gap_db),
            "not measured in the paper (its eq. 5 bounds the density error by this gap)",
        ));
        page.check(Check::compare(
            "worst gap to the Wiener optimum at any noise level",
            Num::db(worst),
            Cmp::Below(cfg.max_worst_gap_db),
            "not measured in the paper",
        ));
        page.note(format!(
            "Integrated gap ∫ (MSE − MSE*) σ⁻³ dσ over σ ∈ [{:.4}, {:.3}] (eq. 5): {:.1} nats per image.",
            r.levels.last().map_or(f64::NAN, |l| l.sigma),
            r.levels.first().map_or(f64::NAN, |l| l.sigma),
            r.density_bound_nats
        ));
        page.note("The Wiener column is measured on the same noisy images as ours; the expected column is its closed-form MSE, a check of the reference (they agree to the sampling error of the held-out set).");
        Ok(())
    }
}
