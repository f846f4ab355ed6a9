//! The distance to the best possible denoiser (beyond the paper; PAPER.md §10, eq. 5): the profile's
//! network trained on a class whose optimal denoiser is known, the stationary Gaussian class with a
//! power-law spectrum (gahb-synth `gaussian.rs`), whose optimum at each σ is its Wiener filter (exact,
//! applied in the DFT domain by gahb-diffusion's `SpectralWiener`). Both see the same noisy held-out
//! images at the paper's 15 noise levels; the gap per σ is 10·log10(MSE_ours / MSE_Wiener), and the
//! integrated gap ∫ (MSE_ours − MSE*) σ⁻³ dσ bounds the density error (eq. 5).
//!
//! Optionally also the paper's two manifolds with closed-form optima (PAPER.md §7, Figs. 19-20):
//! the ray {s·x} through one image (optimum: the projection onto the line, MSE σ² per image) and
//! the 2-D cone of sinusoids of one frequency (the projection onto their span, MSE 2σ²). Those are
//! the optima in the small-σ limit, so their gaps are stated at the σ of the grid whose input PSNR
//! is at least `manifold_min_input_db`.
//!
//! Optionally also sample quality ([`samples`]): samples of the network and of the blind Wiener
//! filter against the prior's mean and power spectrum, beside the sampler's predicted bias.

mod samples;

use std::rc::Rc;

use anyhow::{Context, Result};
use gahb_analysis::density_bound;
use gahb_denoiser::ModelConfig;
use gahb_diffusion::{NoiseLevel, Ray, SineCone, SpectralWiener};
use gahb_plot::{line_plot_png, Panel, Series};
use gahb_synth::{GaussianField, GaussianFieldConfig};
use gahb_tensor::convert::images_to_batch;
use gahb_tensor::Denoiser;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::harness::{Experiment, Page};
use crate::lab::context::Lab;
use crate::lab::eval::paper_sigmas;
use crate::lab::job::{Job, ModelJob};
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
    /// Manifold classes with a closed-form small-σ optimum, each trained on `n_train` images.
    #[serde(default)]
    pub manifolds: Vec<Manifold>,
    /// The manifolds' gaps are judged at the σ whose input PSNR is at least this (dB).
    #[serde(default = "default_manifold_min_input_db")]
    pub manifold_min_input_db: f64,
    /// Largest accepted mean gap of a manifold class over those σ (dB).
    #[serde(default = "default_manifold_max_gap_db")]
    pub manifold_max_mean_gap_db: f64,
    /// Samples of the Gaussian-class model against the prior (absent: none drawn).
    #[serde(default)]
    pub samples: Option<SampleSpec>,
}

pub use samples::{SampleQuality, SampleSpec};

fn default_manifold_min_input_db() -> f64 {
    20.0
}

fn default_manifold_max_gap_db() -> f64 {
    1.0
}

/// A manifold class (PAPER.md §7).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "snake_case")]
pub enum Manifold {
    /// The ray {s·x : s ∈ [s_min, s_max)} through x = 0.5 + the Gaussian class's first held-out
    /// image, clipped to [0, 1] (Fig. 19).
    Ray {
        /// Smallest scale.
        s_min: f64,
        /// Largest scale.
        s_max: f64,
    },
    /// Sinusoids A·cos(θ − φ) of frequency `freq` (cycles per image along rows and columns), A
    /// uniform on `amplitude`, φ uniform (Fig. 20).
    Cone {
        /// [f_row, f_col].
        freq: [i64; 2],
        /// [lo, hi) of the amplitude.
        amplitude: [f64; 2],
    },
}

impl Manifold {
    /// The seed tag of its images and model.
    fn tag(&self) -> &'static str {
        match self {
            Manifold::Ray { .. } => "ray",
            Manifold::Cone { .. } => "cone",
        }
    }

    fn name(&self) -> String {
        match self {
            Manifold::Ray { s_min, s_max } => format!("ray s·x, s ∈ [{s_min}, {s_max})"),
            Manifold::Cone { freq, amplitude } => format!(
                "cone of sinusoids, frequency {freq:?}, amplitude [{}, {})",
                amplitude[0], amplitude[1]
            ),
        }
    }
}

/// One manifold class's model against its projection.
#[derive(Debug, Clone, Serialize)]
pub struct ManifoldResult {
    /// The class in words.
    pub name: String,
    /// Its dimension m (1 for the ray, 2 for the cone).
    pub dim: usize,
    /// The model.
    pub trained: TrainedInfo,
    /// One entry per σ, largest first; `mse_optimal_expected` is m·σ²/d.
    pub levels: Vec<Level>,
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
    /// The manifold classes, in profile order.
    pub manifolds: Vec<ManifoldResult>,
    /// Sample quality, when the profile asks for it.
    pub samples: Option<SampleQuality>,
}

/// The optimality gap.
pub struct Optimality;

/// `model` and the class's Wiener filter on the same noisy `test` images (noise drawn from `seed`)
/// at the paper's 15 σ, largest first.
pub fn gaps(
    field: &GaussianField,
    test: &ndarray::Array3<f32>,
    seed: u64,
    model: &dyn Denoiser,
) -> Result<Vec<Level>> {
    gaps_against(&images_to_batch(test), seed, model, &|sigma| {
        let wiener = SpectralWiener::new(
            field.spectrum().view(),
            field.mean(),
            NoiseLevel::Known(sigma),
            Device::Cpu,
        )?;
        Ok((
            Rc::new(wiener) as Rc<dyn Denoiser>,
            field.wiener_mse(sigma)?,
        ))
    })
}

/// The reference at one σ and its expected MSE per pixel.
type ReferenceAt<'a> = dyn Fn(f64) -> Result<(Rc<dyn Denoiser>, f64)> + 'a;

/// `model` and the reference `optimum(σ)` on the same noisy images `x` (`[n, c, h, w]`, noise from
/// `seed`) at the paper's 15 σ, largest first.
fn gaps_against(
    x: &Tensor,
    seed: u64,
    model: &dyn Denoiser,
    optimum: &ReferenceAt<'_>,
) -> Result<Vec<Level>> {
    let size = x.size();
    let z = gahb_tensor::random::standard_normal(
        derive_seed(seed, "test-noise"),
        0,
        size[0] as usize,
        &size[1..],
        Device::Cpu,
    )?;
    let mse = |f: &dyn Denoiser, y: &Tensor| -> Result<f64> {
        let out = f.denoise(&y.to_device(f.device()))?.to_device(Device::Cpu);
        Ok((out - x).square().mean(Kind::Double).double_value(&[]))
    };
    let mut levels = Vec::new();
    for sigma in paper_sigmas() {
        let y = x + &z * sigma;
        let (reference, expected) = optimum(sigma)?;
        let ours = mse(model, &y)?;
        let best = mse(reference.as_ref(), &y)?;
        levels.push(Level {
            sigma,
            mse_ours: ours,
            mse_optimal: best,
            mse_optimal_expected: expected,
            gap_db: 10.0 * (ours / best).log10(),
        });
    }
    Ok(levels)
}

/// A manifold's training, its projection (the optimum), its dimension and its held-out images.
type ManifoldSets = (ModelJob, Rc<dyn Denoiser>, usize, Tensor);

/// The training of the profile's network on `manifold`, with the projection and held-out images.
fn manifold_sets(
    lab: &Lab,
    cfg: &Config,
    seed: u64,
    first_test: &Tensor,
    manifold: &Manifold,
) -> Result<ManifoldSets> {
    let size = cfg.class.size as i64;
    let shape = [1, size, size];
    let tag = manifold.tag();
    let (projection, dim, train, test): (Rc<dyn Denoiser>, usize, Tensor, Tensor) = match manifold {
        Manifold::Ray { s_min, s_max } => {
            let x = (first_test + 0.5).clamp(0.0, 1.0);
            let ray = Ray::new(&x, *s_min, *s_max).context("optimality: the ray")?;
            let (train, _) = ray.sample(cfg.n_train, derive_seed(seed, "ray-train"))?;
            let (test, _) = ray.sample(cfg.n_test, derive_seed(seed, "ray-test"))?;
            (Rc::new(ray), 1, train, test)
        }
        Manifold::Cone { freq, amplitude } => {
            let cone = SineCone::new(shape, *freq, (amplitude[0], amplitude[1]), Device::Cpu)
                .context("optimality: the cone")?;
            let (train, _) = cone.sample(cfg.n_train, derive_seed(seed, "cone-train"))?;
            let (test, _) = cone.sample(cfg.n_test, derive_seed(seed, "cone-test"))?;
            (Rc::new(cone), 2, train, test)
        }
    };
    let images: ndarray::Array3<f32> =
        gahb_tensor::convert::tensor_to_array(&train.squeeze_dim(1))?;
    let name = manifold.name();
    let job = lab.job(
        &name,
        &cfg.net,
        lab.recipe(cfg.train.as_ref()),
        derive_seed(seed, tag),
        images,
        &format!("{name} n={}", cfg.n_train),
    )?;
    Ok((job, projection, dim, test))
}

/// The training of the profile's network on the Gaussian class's `train` images.
fn class_job(lab: &Lab, cfg: &Config, train: ndarray::Array3<f32>) -> Result<ModelJob> {
    lab.job(
        "Gaussian class",
        &cfg.net,
        lab.recipe(cfg.train.as_ref()),
        lab.seed_of("optimality"),
        train,
        &format!("stationary Gaussian class n={}", cfg.n_train),
    )
}

/// Trains the profile's network on `manifold` and measures it against the projection.
fn measure_manifold(
    lab: &Lab,
    cfg: &Config,
    seed: u64,
    first_test: &Tensor,
    manifold: &Manifold,
) -> Result<ManifoldResult> {
    let (job, projection, dim, test) = manifold_sets(lab, cfg, seed, first_test, manifold)?;
    let name = manifold.name();
    let tag = manifold.tag();
    let m = lab.train(&job)?;
    let size = cfg.class.size as i64;
    let d = (size * size) as f64;
    let levels = gaps_against(&test, derive_seed(seed, tag), &m.model, &|sigma| {
        Ok((projection.clone(), dim as f64 * sigma * sigma / d))
    })?;
    Ok(ManifoldResult {
        name,
        dim,
        trained: m.info,
        levels,
    })
}

/// The mean gap of a manifold class over the σ whose input PSNR is at least `min_input_db`.
pub fn small_sigma_gap(levels: &[Level], min_input_db: f64) -> Option<f64> {
    let kept: Vec<f64> = levels
        .iter()
        .filter(|l| -20.0 * l.sigma.log10() >= min_input_db)
        .map(|l| l.gap_db)
        .collect();
    (!kept.is_empty()).then(|| kept.iter().sum::<f64>() / kept.len() as f64)
}

/// ∫ (MSE − MSE*) σ⁻³ dσ over the grid of `levels` for images of `size`², in nats per image (eq. 5).
pub fn integrated_gap(levels: &[Level], size: usize) -> Result<f64> {
    let d = (size * size) as f64;
    let mut asc = levels.to_vec();
    asc.reverse();
    let bound = density_bound(
        &asc.iter().map(|l| l.sigma).collect::<Vec<_>>(),
        &asc.iter().map(|l| l.mse_ours * d).collect::<Vec<_>>(),
        &asc.iter().map(|l| l.mse_optimal * d).collect::<Vec<_>>(),
    )
    .context("the integrated gap")?;
    Ok(bound.bound_nats)
}

/// The mean and the worst gap over `levels` (dB).
pub fn mean_and_worst(levels: &[Level]) -> (f64, f64) {
    let n = levels.len().max(1) as f64;
    let mean = levels.iter().map(|l| l.gap_db).sum::<f64>() / n;
    let worst = levels
        .iter()
        .map(|l| l.gap_db)
        .fold(f64::NEG_INFINITY, f64::max);
    (mean, worst)
}

/// Checks a Gaussian class and its set sizes (`who` names the experiment in the message).
pub fn validate_class(
    who: &str,
    class: &GaussianFieldConfig,
    n_train: usize,
    n_test: usize,
) -> Result<()> {
    class.validate()?;
    crate::lab::data::check_sets(who, n_train, n_test, "class.size", class.size)
}

/// The class, its `n_train` training and `n_test` held-out images, all from `seed`.
pub fn class_sets(
    class: &GaussianFieldConfig,
    n_train: usize,
    n_test: usize,
    seed: u64,
) -> Result<(GaussianField, ndarray::Array3<f32>, ndarray::Array3<f32>)> {
    let field = GaussianField::new(class)?;
    let train = field.generate(n_train, derive_seed(seed, "train-images"));
    let test = field.generate(n_test, derive_seed(seed, "test-images"));
    Ok((field, train, test))
}

impl Experiment for Optimality {
    const NAME: &'static str = "optimality";
    const WHAT: &'static str =
        "distance to the optimal denoiser: a Gaussian class against its Wiener filter, per noise level";
    type Config = Config;
    type Results = Results;

    fn validate(cfg: &Config) -> Result<()> {
        validate_class("optimality", &cfg.class, cfg.n_train, cfg.n_test)?;
        if let Some(t) = &cfg.train {
            t.to_config(0).context("optimality.train")?;
        }
        if let Some(spec) = &cfg.samples {
            spec.validate()?;
        }
        Ok(())
    }

    fn jobs(lab: &Lab, cfg: &Config) -> Result<Vec<Job>> {
        let seed = lab.seed_of("optimality");
        let (_, train, test) = class_sets(&cfg.class, cfg.n_train, cfg.n_test, seed)?;
        let first = images_to_batch(&test).get(0);
        let mut jobs = vec![Job::Model(class_job(lab, cfg, train)?)];
        for man in &cfg.manifolds {
            jobs.push(Job::Model(manifold_sets(lab, cfg, seed, &first, man)?.0));
        }
        Ok(jobs)
    }

    fn measure(lab: &Lab, cfg: &Config) -> Result<Results> {
        let seed = lab.seed_of("optimality");
        let (field, train, test) = class_sets(&cfg.class, cfg.n_train, cfg.n_test, seed)?;
        let m = lab.train(&class_job(lab, cfg, train)?)?;
        let levels = gaps(&field, &test, seed, &m.model)?;
        let bound = integrated_gap(&levels, cfg.class.size)?;
        let first = images_to_batch(&test).get(0);
        let manifolds = cfg
            .manifolds
            .iter()
            .map(|man| measure_manifold(lab, cfg, seed, &first, man))
            .collect::<Result<Vec<_>>>()?;
        let samples = match &cfg.samples {
            Some(spec) => {
                eprintln!(
                    "  optimality: sampling the model and the Wiener filter ({} each)",
                    spec.n
                );
                Some(samples::measure(
                    &field,
                    &m.model,
                    spec,
                    derive_seed(seed, "sampler"),
                )?)
            }
            None => None,
        };
        Ok(Results {
            trained: m.info,
            levels,
            density_bound_nats: bound,
            manifolds,
            samples,
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
        let (mean, worst) = mean_and_worst(&r.levels);
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
        if !r.manifolds.is_empty() {
            present_manifolds(cfg, r, page)?;
        }
        if let (Some(spec), Some(q)) = (&cfg.samples, &r.samples) {
            samples::present(spec, q, page)?;
        }
        Ok(())
    }
}

/// The manifold classes: output PSNR against the projection's, a table and a check per class.
fn present_manifolds(cfg: &Config, r: &Results, page: &mut Page) -> Result<()> {
    let db = |m: f64| -10.0 * m.log10();
    let input = |l: &Level| db(l.sigma * l.sigma);
    page.figure(
        "manifolds.png",
        "the paper's manifolds (Figs. 19-20): output PSNR of ours and of the projection onto the manifold, the small-σ optimum",
        |path| {
            let panels: Vec<Panel> = r
                .manifolds
                .iter()
                .map(|m| Panel {
                    title: m.name.clone(),
                    x_label: "input PSNR (dB)".into(),
                    y_label: "output PSNR (dB)".into(),
                    series: vec![
                        Series::new(
                            "bias-free UNet",
                            m.levels.iter().map(|l| (input(l), db(l.mse_ours))).collect(),
                        ),
                        Series::reference(
                            format!("projection (input + 10·log10(d/{}))", m.dim),
                            m.levels
                                .iter()
                                .map(|l| (input(l), db(l.mse_optimal)))
                                .collect(),
                        ),
                        Series::identity(
                            m.levels.iter().map(input).fold(f64::INFINITY, f64::min),
                            m.levels.iter().map(input).fold(f64::NEG_INFINITY, f64::max),
                        ),
                    ],
                    ..Panel::default()
                })
                .collect();
            Ok(line_plot_png(path, &panels, (600 * panels.len() as u32, 500))?)
        },
    )?;
    let mut table = Table::new([
        "class",
        "sigma",
        "input PSNR (dB)",
        "ours (dB)",
        "projection (dB)",
        "m·σ²/d (dB)",
        "gap (dB)",
    ]);
    for m in &r.manifolds {
        for l in &m.levels {
            table.row(vec![
                m.name.clone(),
                format!("{:.4}", l.sigma),
                format!("{:.2}", input(l)),
                format!("{:.2}", db(l.mse_ours)),
                format!("{:.2}", db(l.mse_optimal)),
                format!("{:.2}", db(l.mse_optimal_expected)),
                format!("{:.2}", l.gap_db),
            ]);
        }
    }
    page.table(table, Some("manifolds.csv"))?;
    for m in &r.manifolds {
        let gap = small_sigma_gap(&m.levels, cfg.manifold_min_input_db);
        page.check(Check::compare(
            format!(
                "{}: mean gap to the projection at input PSNR ≥ {} dB",
                m.name, cfg.manifold_min_input_db
            ),
            Num::db(gap.unwrap_or(f64::NAN)),
            Cmp::Below(cfg.manifold_max_mean_gap_db),
            "near the optimum (output PSNR = input + 10·log10(d/m), Figs. 19-20)",
        ));
    }
    Ok(())
}
