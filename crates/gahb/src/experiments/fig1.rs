//! Fig. 1 (paper §3): output PSNR against input PSNR on training and on held-out images, one line
//! per training-set size N: memorization (train far above test) at small N, generalization
//! (train ≈ test) at large N.

use anyhow::Result;
use gahb_denoiser::PsnrRow;
use gahb_plot::{line_plot_png, Panel, Series};
use serde::{Deserialize, Serialize};

use crate::harness::{Experiment, Page};
use crate::lab::context::Lab;
use crate::lab::eval::{points, top};
use crate::lab::recipe::{describe_model, list};
use crate::lab::sweep::{Curves, SweepCurves, SweepSpec};
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
}

/// Fig. 1.
pub struct Fig1;

impl Experiment for Fig1 {
    const NAME: &'static str = "fig1";
    const WHAT: &'static str =
        "train and test PSNR curves across N: memorization to generalization";
    type Config = Config;
    type Results = Results;

    fn measure(lab: &Lab, _cfg: &Config) -> Result<Results> {
        let sweep = lab.sweep(Self::NAME)?.clone();
        let curves = (*lab.sweep_curves(&sweep)?).clone();
        let gaps = curves.curves.iter().map(gap).collect();
        Ok(Results {
            sweep,
            curves,
            gaps,
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
