//! Fig. 4 (paper §6): C^α images, whose optimal (bandlet) denoiser has PSNR slope α/(α+1) at small
//! σ. One denoiser per α; the fitted slope of output against input PSNR is compared with theory,
//! and the eigenvectors of one model's Jacobian are shown.

use anyhow::{Context, Result};
use gahb_analysis::{calpha_theory_slope, fit_psnr_slope, SlopeFit};
use gahb_denoiser::{ModelConfig, PsnrRow};
use gahb_plot::{line_plot_png, Panel, Series};
use ndarray::s;
use serde::{Deserialize, Serialize};

use crate::harness::{Experiment, Page};
use crate::lab::context::Lab;
use crate::lab::data::DataSpec;
use crate::lab::eval::{local_slopes, paper_sigmas, points, psnr_curve, top};
use crate::lab::recipe::{list, TrainSpec};
use crate::lab::seed::derive_seed;
use crate::lab::spectral::{analyse, draw, Shown, Spectrum};
use crate::report::check::{Cmp, Num};
use crate::report::{Check, Table};

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
    pub net: ModelConfig,
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

/// One α of Fig. 4.
#[derive(Debug, Serialize)]
pub struct PerAlpha {
    /// The regularity.
    pub alpha: f64,
    /// Held-out PSNR curve.
    pub curve: Vec<PsnrRow>,
    /// The fitted slope.
    pub fit: SlopeFit,
}

/// What Fig. 4 measured.
#[derive(Debug, Serialize)]
pub struct Results {
    /// One entry per α.
    pub per_alpha: Vec<PerAlpha>,
    /// The eigen-analysis of the `eigen_alpha` model.
    pub spectrum: Option<Spectrum>,
}

/// Fig. 4.
pub struct Fig4;

impl Experiment for Fig4 {
    const NAME: &'static str = "fig4";
    const WHAT: &'static str = "C^alpha images: PSNR slopes against alpha/(alpha+1), eigenvectors";
    type Config = Config;
    type Results = Results;

    fn validate(cfg: &Config) -> Result<()> {
        anyhow::ensure!(!cfg.alphas.is_empty(), "fig4.alphas is empty");
        Ok(())
    }

    fn measure(lab: &Lab, cfg: &Config) -> Result<Results> {
        let sigmas = paper_sigmas();
        let mut per_alpha = Vec::new();
        let mut spectrum = None;
        for &alpha in &cfg.alphas {
            let seed = lab.seed_of(&format!("fig4-{alpha}"));
            let data = DataSpec::Calpha {
                size: cfg.size,
                alpha,
                beta: None,
                n: cfg.n_train + cfg.n_test,
            };
            let all = lab.data(&data, seed)?;
            let train = all.images.slice(s![..cfg.n_train, .., ..]).to_owned();
            let test = all.images.slice(s![cfg.n_train.., .., ..]).to_owned();
            let m = lab.train(
                &format!("C^α α={alpha}"),
                &cfg.net,
                lab.recipe(cfg.train.as_ref()),
                seed,
                &train,
                &format!("C^alpha alpha={alpha} n={} seed={seed}", cfg.n_train),
            )?;
            let curve = psnr_curve(&m.model, &test, &sigmas, derive_seed(seed, "test-noise"))?;
            let inp: Vec<f64> = curve.iter().map(|p| p.input_psnr).collect();
            let out: Vec<f64> = curve.iter().map(|p| p.output_psnr).collect();
            let fit = fit_psnr_slope(&inp, &out, cfg.fit_range_db[0], cfg.fit_range_db[1])
                .with_context(|| format!("fitting the α = {alpha} slope"))?;
            if alpha == cfg.eigen_alpha {
                let x = test.slice(s![0, .., ..]).to_owned();
                spectrum = Some(analyse(
                    &m.model,
                    &x,
                    cfg.eigen_sigma,
                    derive_seed(seed, "jacobian-noise"),
                    Shown {
                        first: 0,
                        step: 4,
                        count: 22,
                    },
                    None,
                )?);
            }
            per_alpha.push(PerAlpha { alpha, curve, fit });
        }
        Ok(Results {
            per_alpha,
            spectrum,
        })
    }

    fn present(cfg: &Config, r: &Results, page: &mut Page) -> Result<()> {
        page.title("C^α images: PSNR slopes against α/(α+1), and the adaptive basis");
        page.dataset(format!("C^α images (PAPER.md §6), {0}×{0}, {1} training and {2} held-out images per α, generated", cfg.size, cfg.n_train, cfg.n_test));
        page.summary(format!(
            "One bias-free {} per α ∈ {{{}}}; slopes fitted by least squares over input PSNR {}–{} dB.",
            crate::lab::recipe::describe_model(&cfg.net),
            list(&cfg.alphas),
            cfg.fit_range_db[0],
            cfg.fit_range_db[1]
        ));
        let paper_of = |alpha: f64| {
            PAPER_SLOPES
                .iter()
                .find(|(a, _)| *a == alpha)
                .map(|p| format!("{:.2}", p.1))
                .unwrap_or_else(|| "-".into())
        };
        let slope_pts: Vec<(f64, f64)> =
            r.per_alpha.iter().map(|p| (p.alpha, p.fit.slope)).collect();
        let rising = slope_pts.windows(2).filter(|w| w[1].1 > w[0].1).count();
        page.check(Check::every(
            "slopes rise with α",
            rising,
            slope_pts.len().saturating_sub(1),
            "consecutive pairs rise",
            "0.46 / 0.61 / 0.75 / 0.83 rising",
            "every pair rises",
        ));
        let mut table = Table::new(["α", "slope ours", "theory α/(α+1)", "paper UNet", "fit R²"]);
        for p in &r.per_alpha {
            let theory = calpha_theory_slope(p.alpha);
            let paper = paper_of(p.alpha);
            table.row(vec![
                format!("{}", p.alpha),
                format!("{:.3}", p.fit.slope),
                format!("{theory:.3}"),
                paper.clone(),
                format!("{:.3}", p.fit.r2),
            ]);
            page.check(Check::compare_shown(
                format!(
                    "α = {}: PSNR slope over input {:.0}–{:.0} dB, distance to theory",
                    p.alpha, p.fit.min_input_db, p.fit.max_input_db
                ),
                Num::plain((p.fit.slope - theory).abs(), 3),
                format!("{:.3}", p.fit.slope),
                Cmp::Below(cfg.slope_tolerance),
                format!("theory {theory:.3}, paper's UNet {paper}"),
            ));
        }
        let curves: Vec<&[PsnrRow]> = r.per_alpha.iter().map(|p| p.curve.as_slice()).collect();
        let mut series: Vec<Series> = r
            .per_alpha
            .iter()
            .map(|p| Series::new(format!("α = {}", p.alpha), points(&p.curve)))
            .collect();
        series.push(Series::identity(0.0, top(&curves)));
        let theory: Vec<(f64, f64)> = (0..=40)
            .map(|i| 0.5 + i as f64 * 0.125)
            .map(|a| (a, calpha_theory_slope(a)))
            .collect();
        page.figure(
            "slopes.png",
            "PSNR curves per α (left) and fitted slopes against α/(α+1) (right)",
            |path| {
                Ok(line_plot_png(
                    path,
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
                )?)
            },
        )?;
        page.table(table, None)?;
        page.table(local_slope_table(&r.per_alpha), None)?;
        page.note(
            "Local slopes (second table) near theory at large σ and falling towards 0 at small σ mean \
             the network saturates there (an identity-like denoiser has slope 1, so this is a \
             training limit); a rise towards 1 means the images have more coefficients above σ than \
             the asymptotic α/(α+1) regime allows at this resolution. The fitted slope averages the \
             local slopes over the fit range.",
        );
        if let Some(sp) = &r.spectrum {
            let a = cfg.eigen_alpha;
            let tag = format!("alpha{a}");
            draw(page.dir(), &tag, sp)?;
            page.listed_figure(
                &format!("{tag}_spectrum.png"),
                format!("α = {a}: λ_k and |⟨x, e_k⟩|, σ = {}", cfg.eigen_sigma),
            );
            page.listed_figure(
                &format!("{tag}_eigenvectors.png"),
                format!("α = {a}: eigenvectors e_0, e_4, e_8, ..."),
            );
            let l: Vec<String> = sp
                .eigenvalues
                .iter()
                .take(20)
                .map(|v| format!("{v:.3}"))
                .collect();
            page.note(format!("α = {a}, λ_0..λ_19 = {} (paper, α = 4 at 80²: 1.147, 1.072, 1.056, 1.046, 1.032, ..., 0.65); tr ∇f = {:.1}.", l.join(", "), sp.effective_dimension));
        }
        Ok(())
    }
}

/// One row per α: the local slope between consecutive noise levels, headed by the midpoint input
/// PSNR.
fn local_slope_table(per_alpha: &[PerAlpha]) -> Table {
    let slopes: Vec<(f64, Vec<(f64, f64)>)> = per_alpha
        .iter()
        .map(|p| (p.alpha, local_slopes(&p.curve)))
        .collect();
    let mut head = vec!["local slope at input".to_string()];
    if let Some((_, s)) = slopes.first() {
        head.extend(s.iter().map(|(m, _)| format!("{m:.0} dB")));
    }
    let mut t = Table::new(head);
    for (a, s) in &slopes {
        let mut r = vec![format!("α = {a}")];
        r.extend(s.iter().map(|(_, v)| format!("{v:.2}")));
        t.row(r);
    }
    t
}
