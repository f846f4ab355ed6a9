//! Fig. 1 (paper §3): output PSNR against input PSNR on training and on held-out images, one line
//! per training-set size N: memorization (train far above test) at small N, generalization
//! (train ≈ test) at large N.
//!
//! For the memorising sizes (N ≤ `memorize_max_n`) the train curve is also set against the exact
//! optima of the training set on the same noisy images: the memorizer (the MMSE denoiser of the
//! empirical distribution, gahb-diffusion `Memorizer`), the best bias-free denoiser at each known
//! σ, and the best blind bias-free denoiser for the model's training law of σ and loss weight
//! (gahb-diffusion `BiasFreeMemorizer`, known and blind). A bias-free network is homogeneous and
//! cannot represent the memorizer (at N = 1 it returns the training image whatever the input, with
//! infinite PSNR); a blind one cannot use σ either. The blind bias-free optimum minimises the
//! model's own training loss over every function it could represent, so the gap that training can
//! close, and the one checked, is the gap to it.

use anyhow::{Context, Result};
use gahb_denoiser::PsnrRow;
use gahb_diffusion::{BiasFreeMemorizer, Memorizer, NoiseLevel};
use gahb_plot::{line_plot_png, Panel, Series};
use gahb_tensor::convert::images_to_batch;
use serde::{Deserialize, Serialize};

use crate::harness::{Experiment, Page};
use crate::lab::context::Lab;
use crate::lab::eval::{paper_sigmas, points, psnr_curve, top};
use crate::lab::job::Job;
use crate::lab::recipe::{describe_model, list};
use crate::lab::sweep::{Curves, Half, SweepCurves, SweepSpec};
use crate::report::check::{Cmp, Num};
use crate::report::{Check, Table};

/// `[fig1]` in a profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Sizes N at or below which the model must memorize.
    pub memorize_max_n: usize,
    /// Smallest train − test gap (dB, at every noise level) that counts as memorization.
    pub memorize_gap_db: f64,
    /// Largest |train − test| gap (dB, at every noise level) that counts as generalization.
    pub generalize_gap_db: f64,
    /// Largest accepted gap 10·log10(MSE_ours / MSE_optimum) (dB) of a memorising model's train
    /// error to the optimal blind bias-free denoiser of its training set, at every noise level
    /// (N ≤ `memorize_max_n`).
    pub max_optimum_gap_db: f64,
}

/// One noise level of a memorising model against the optima of its training set.
#[derive(Debug, Clone, Serialize)]
pub struct OptimumLevel {
    /// Noise level.
    pub sigma: f64,
    /// Measured input PSNR of the noisy training images (the same images for all three).
    pub input_psnr: f64,
    /// The model's train output PSNR.
    pub ours: f64,
    /// The memorizer's (the exact MMSE denoiser of the training set; +∞ where it is exact, written
    /// as null in JSON).
    pub memorizer: f64,
    /// The optimal bias-free denoiser's at this known σ (a bound for any bias-free denoiser).
    pub bias_free_known: f64,
    /// The optimal blind bias-free denoiser's (the minimiser of the model's training loss).
    pub bias_free_blind: f64,
    /// The model's mean squared error per pixel.
    pub ours_mse: f64,
    /// The known-σ bias-free optimum's mean squared error per pixel.
    pub known_mse: f64,
    /// The blind bias-free optimum's mean squared error per pixel.
    pub blind_mse: f64,
}

impl OptimumLevel {
    /// How far (dB) the model lies above the blind bias-free optimum in mean squared error,
    /// 10·log10(MSE_ours / MSE_optimum).
    pub fn gap(&self) -> f64 {
        10.0 * (self.ours_mse / self.blind_mse).log10()
    }
}

/// A memorising model against the optima of its training set.
#[derive(Debug, Clone, Serialize)]
pub struct Optimum {
    /// Training-set size.
    pub n: usize,
    /// One per noise level, largest σ first.
    pub levels: Vec<OptimumLevel>,
}

impl Optimum {
    /// The largest gap to the bias-free optimum over the noise levels.
    pub fn worst_gap(&self) -> f64 {
        self.levels
            .iter()
            .map(OptimumLevel::gap)
            .fold(f64::NEG_INFINITY, f64::max)
    }
}

/// The train − test output PSNR gap of one model over the noise levels.
#[derive(Debug, Clone, Serialize)]
pub struct Gap {
    /// Training-set size.
    pub n: usize,
    /// Mean over the noise levels.
    pub mean: f64,
    /// Smallest.
    pub min: f64,
    /// Largest magnitude.
    pub max_abs: f64,
}

/// What Fig. 1 measured.
#[derive(Debug, Serialize)]
pub struct Results {
    /// The sweep it used.
    pub sweep: SweepSpec,
    /// Train and test curves per N.
    pub curves: SweepCurves,
    /// The gaps per N.
    pub gaps: Vec<Gap>,
    /// The memorising models (N ≤ `memorize_max_n`) against the optima of their training sets.
    pub optima: Vec<Optimum>,
}

/// Fig. 1.
pub struct Fig1;

impl Experiment for Fig1 {
    const NAME: &'static str = "fig1";
    const WHAT: &'static str =
        "train and test PSNR curves across N: memorization to generalization";
    type Config = Config;
    type Results = Results;

    fn validate(cfg: &Config) -> Result<()> {
        for (key, v) in [
            ("memorize_gap_db", cfg.memorize_gap_db),
            ("generalize_gap_db", cfg.generalize_gap_db),
            ("max_optimum_gap_db", cfg.max_optimum_gap_db),
        ] {
            anyhow::ensure!(v.is_finite(), "fig1.{key} must be finite, got {v}");
        }
        anyhow::ensure!(
            cfg.generalize_gap_db >= 0.0 && cfg.max_optimum_gap_db >= 0.0,
            "fig1.generalize_gap_db and fig1.max_optimum_gap_db bound magnitudes and must be ≥ 0, got {} and {}",
            cfg.generalize_gap_db,
            cfg.max_optimum_gap_db
        );
        Ok(())
    }

    fn jobs(lab: &Lab, _cfg: &Config) -> Result<Vec<Job>> {
        let sweep = lab.sweep(Self::NAME)?;
        lab.sweep_jobs(sweep, &sweep.ns, &[Half::S1])
    }

    fn measure(lab: &Lab, cfg: &Config) -> Result<Results> {
        let sweep = lab.sweep(Self::NAME)?.clone();
        let curves = (*lab.sweep_curves(&sweep)?).clone();
        let gaps = curves.curves.iter().map(gap).collect();
        let mut optima = Vec::new();
        for c in curves.curves.iter().filter(|c| c.n <= cfg.memorize_max_n) {
            optima.push(
                optimum(lab, &sweep, c)
                    .with_context(|| format!("the optima of the N = {} training set", c.n))?,
            );
        }
        Ok(Results {
            sweep,
            curves,
            gaps,
            optima,
        })
    }

    fn present(cfg: &Config, r: &Results, page: &mut Page) -> Result<()> {
        page.used("sweep", &r.sweep)?;
        page.title("memorization to generalization: train and test PSNR curves across N");
        page.dataset(r.curves.description.clone());
        page.summary(format!(
            "One bias-free {} per N ∈ {{{}}} trained on S1 (first N images); PSNR on {} training images (tiled when N is smaller) and {} held-out images at the paper's 15 noise levels.",
            describe_model(&r.sweep.net), list(&r.sweep.ns), r.sweep.n_eval, r.sweep.n_eval
        ));
        let curves = &r.curves.curves;
        page.figure(
            "psnr_curves.png",
            "output against input PSNR, train (left) and test (right)",
            |path| plot(path, curves, &r.sweep.data.name()),
        )?;
        let mut all = Table::new([
            "N",
            "sigma",
            "input PSNR",
            "train output PSNR",
            "test output PSNR",
        ]);
        for c in curves {
            for (a, b) in c.train.iter().zip(&c.test) {
                all.row(vec![
                    c.n.to_string(),
                    format!("{:.4}", a.sigma),
                    format!("{:.2}", a.input_psnr),
                    format!("{:.2}", a.output_psnr),
                    format!("{:.2}", b.output_psnr),
                ]);
            }
        }
        crate::lab::io::write_csv(&page.dir().join("curves.csv"), &all.header, &all.rows)?;
        let mut gaps = Table::new([
            "N",
            "mean train − test gap (dB)",
            "smallest gap (dB)",
            "largest gap magnitude (dB)",
        ]);
        for g in &r.gaps {
            gaps.row(vec![
                g.n.to_string(),
                format!("{:.2}", g.mean),
                format!("{:.2}", g.min),
                format!("{:.2}", g.max_abs),
            ]);
        }
        page.table(gaps, None)?;
        for g in r.gaps.iter().filter(|g| g.n <= cfg.memorize_max_n) {
            page.check(Check::compare_shown(
                format!(
                    "memorization at N = {}: train − test output PSNR at every noise level (mean {:.2} dB)",
                    g.n, g.mean
                ),
                Num::db(g.min),
                format!("≥ {:.2} dB", g.min),
                Cmp::Above(cfg.memorize_gap_db),
                "memorization at N = 1, 10 (train slope 1, flat test)",
            ));
        }
        if let Some(g) = r.gaps.last() {
            page.check(Check::compare_shown(
                format!(
                    "generalization at the largest N = {}: |train − test| at every noise level (mean {:.2} dB)",
                    g.n,
                    g.mean.abs()
                ),
                Num::db(g.max_abs),
                format!("≤ {:.2} dB", g.max_abs),
                Cmp::Below(cfg.generalize_gap_db),
                "train ≈ test at N = 10^5",
            ));
        }
        if !r.optima.is_empty() {
            present_optima(cfg, r, page)?;
        }
        if let (Some(first), Some(last)) = (curves.first(), curves.last()) {
            let lo = |c: &Curves| c.test.last().map(|p| p.output_psnr).unwrap_or(f64::NAN);
            page.note(format!(
                "Test output PSNR at the smallest σ: {:.2} dB at N = {} against {:.2} dB at N = {}.",
                lo(first),
                first.n,
                lo(last),
                last.n
            ));
        }
        Ok(())
    }
}

/// The memorizer's and the bias-free optimum's train PSNR curves for the training set of `c`, on
/// the noisy images its model's train curve was measured on.
fn optimum(lab: &Lab, sweep: &SweepSpec, c: &Curves) -> Result<Optimum> {
    let data = lab.sweep_data(sweep)?;
    let train = sweep.train_images(&data, c.n, Half::S1)?;
    let eval = sweep.eval_train_images(&train);
    let batch = images_to_batch(&train);
    let seed = lab.sweep_noise_seed("train");
    let sigmas = paper_sigmas();
    anyhow::ensure!(
        c.train.len() == sigmas.len(),
        "the train curve has {} points for {} noise levels",
        c.train.len(),
        sigmas.len()
    );
    let memorizer = Memorizer::new(&batch, NoiseLevel::Known(sigmas[0]))?;
    let bias_free = BiasFreeMemorizer::new(&batch, sigmas[0])?;
    let blind = BiasFreeMemorizer::blind(&batch, lab.recipe(sweep.train.as_ref()).noise_prior())?;
    let mut levels = Vec::new();
    for (&sigma, ours) in sigmas.iter().zip(&c.train) {
        // One σ at a time: the noise z of image i is stream i of the seed whatever the σ list, so
        // each point sees exactly the noisy images of the model's point.
        let one = |f: &dyn gahb_tensor::Denoiser| -> Result<PsnrRow> {
            psnr_curve(f, &eval, &[sigma], seed)?
                .pop()
                .context("an empty curve")
        };
        let m = one(&memorizer.with_noise(NoiseLevel::Known(sigma))?)?;
        let k = one(&bias_free.with_sigma(sigma)?)?;
        let b = one(&blind)?;
        for (name, p) in [("memorizer", &m), ("known-σ", &k), ("blind", &b)] {
            anyhow::ensure!(
                p.input_psnr == ours.input_psnr,
                "the {name} optimum saw other noisy images than the model at σ = {sigma}: input PSNR {} against {}",
                p.input_psnr,
                ours.input_psnr
            );
        }
        levels.push(OptimumLevel {
            sigma,
            input_psnr: ours.input_psnr,
            ours: ours.output_psnr,
            memorizer: m.output_psnr,
            bias_free_known: k.output_psnr,
            bias_free_blind: b.output_psnr,
            ours_mse: ours.output_mse,
            known_mse: k.output_mse,
            blind_mse: b.output_mse,
        });
    }
    Ok(Optimum { n: c.n, levels })
}

/// The optima's table, figure and checks.
fn present_optima(cfg: &Config, r: &Results, page: &mut Page) -> Result<()> {
    let db = |v: f64| {
        if v == f64::INFINITY {
            "∞".to_string()
        } else {
            format!("{v:.2}")
        }
    };
    let mut table = Table::new([
        "N",
        "sigma",
        "input PSNR (dB)",
        "ours, train (dB)",
        "memorizer (dB)",
        "bias-free, known σ (dB)",
        "bias-free, blind (dB)",
        "gap 10·log10(MSE ours / MSE blind) (dB)",
    ]);
    for o in &r.optima {
        for l in &o.levels {
            table.row(vec![
                o.n.to_string(),
                format!("{:.4}", l.sigma),
                format!("{:.2}", l.input_psnr),
                format!("{:.2}", l.ours),
                db(l.memorizer),
                format!("{:.2}", l.bias_free_known),
                format!("{:.2}", l.bias_free_blind),
                format!("{:.2}", l.gap()),
            ]);
        }
    }
    page.table(table, Some("optimum.csv"))?;
    page.figure(
        "optimum.png",
        "train output PSNR of the memorising models against the optima of their training sets (blind and known-σ bias-free, and the memorizer where finite)",
        |path| plot_optima(path, &r.optima),
    )?;
    for o in &r.optima {
        page.check(Check::compare_shown(
            format!(
                "N = {}: train MSE against the optimal blind bias-free denoiser of the training set (the minimiser of its training loss), at every noise level, largest gap",
                o.n
            ),
            Num::db(o.worst_gap()),
            format!("≤ {:.2} dB", o.worst_gap()),
            Cmp::AtMost(cfg.max_optimum_gap_db),
            "memorization at N = 1, 10: train slope 1, the optimum's at small σ",
        ));
    }
    page.note(
        "The memorizer (the exact MMSE denoiser of the training set) cannot be represented by a \
         bias-free network, which is homogeneous: at N = 1 it returns the training image whatever \
         the input (PSNR ∞), and so it does at N = 10 wherever the training images lie many σ \
         apart. The known-σ bias-free optimum is the best homogeneous denoiser at each σ, a bound; \
         the blind one minimises the model's own training loss (its law of σ and loss weight) over \
         homogeneous functions, which cannot use σ: at large σ it lies far below the bound, at small \
         σ both have only the noise along the ray through the nearest training image left, σ² per \
         image: output PSNR = input PSNR + 10·log10 d, slope 1 (gahb-diffusion \
         `BiasFreeMemorizer`). All are measured on the same noisy training images. The gap is of \
         mean squared errors, 10·log10(MSE_ours / MSE_blind): a mean of per-image PSNRs favours an \
         error along one direction (the optima's at small σ) by up to 5.5 dB.",
    );
    Ok(())
}

/// One panel per memorising N: ours, the bias-free optimum, the memorizer.
fn plot_optima(path: &std::path::Path, optima: &[Optimum]) -> Result<()> {
    let panels: Vec<Panel> = optima
        .iter()
        .map(|o| {
            let pts = |f: fn(&OptimumLevel) -> f64| -> Vec<(f64, f64)> {
                o.levels.iter().map(|l| (l.input_psnr, f(l))).collect()
            };
            let hi = o
                .levels
                .iter()
                .map(|l| l.input_psnr.max(l.bias_free_known))
                .fold(0.0, f64::max);
            Panel {
                title: format!("N = {}: train images", o.n),
                x_label: "input PSNR (dB)".into(),
                y_label: "output PSNR (dB)".into(),
                series: vec![
                    Series::new("ours", pts(|l| l.ours)),
                    Series::new("bias-free optimum, blind", pts(|l| l.bias_free_blind)),
                    Series::new("bias-free optimum, known σ", pts(|l| l.bias_free_known)),
                    Series::new("memorizer (finite points)", pts(|l| l.memorizer)),
                    Series::identity(0.0, hi),
                ],
                ..Panel::default()
            }
        })
        .collect();
    let width = 600 * panels.len().max(1) as u32;
    line_plot_png(path, &panels, (width, 500))?;
    Ok(())
}

fn gap(c: &Curves) -> Gap {
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
}

/// Draws the two panels of Fig. 1.
pub fn plot(path: &std::path::Path, curves: &[Curves], title: &str) -> Result<()> {
    let panel = |name: &str, pick: fn(&Curves) -> &Vec<PsnrRow>| {
        let mut series: Vec<Series> = curves
            .iter()
            .map(|c| Series::new(format!("N = {}", c.n), points(pick(c))))
            .collect();
        let picked: Vec<&[PsnrRow]> = curves.iter().map(|c| pick(c).as_slice()).collect();
        series.push(Series::identity(0.0, top(&picked)));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gap_is_of_mean_squared_errors() {
        // PSNRs 40 and 50 dB (10 dB apart) with MSEs a factor 2 apart: the gap is 3.01 dB.
        let l = |ours_mse: f64| OptimumLevel {
            sigma: 0.01,
            input_psnr: 40.0,
            ours: 40.0,
            memorizer: f64::INFINITY,
            bias_free_known: 55.0,
            bias_free_blind: 50.0,
            ours_mse,
            known_mse: 0.5e-5,
            blind_mse: 1e-5,
        };
        let o = Optimum {
            n: 1,
            levels: vec![l(2e-5), l(1e-5)],
        };
        assert!((o.levels[0].gap() - 10.0 * 2f64.log10()).abs() < 1e-12);
        assert!((o.worst_gap() - 10.0 * 2f64.log10()).abs() < 1e-12);
    }
}
