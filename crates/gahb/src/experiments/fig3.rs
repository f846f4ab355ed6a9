//! Fig. 3 (paper §5): the Jacobian eigen-analysis of a generalizing denoiser (the largest-N model of
//! the sweep) at a held-out image: shrinkage factors λ_k, signal coefficients |⟨x, e_k⟩|, and the
//! adaptive basis e_k shown as images (GAHB).

use anyhow::{Context, Result};
use ndarray::s;
use serde::{Deserialize, Serialize};

use crate::experiments::spectrum_route::{convergence_check, route_table};
use crate::harness::{Experiment, Page};
use crate::lab::context::Lab;
use crate::lab::job::Job;
use crate::lab::spectral::{analyse, draw, RouteSpec, Shown, Spectrum};
use crate::lab::sweep::Half;
use crate::report::check::{Cmp, Num};
use crate::report::{Check, Table};

/// `[fig3]` in a profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Noise level (0.15 in the paper).
    pub sigma: f64,
    /// Which held-out image.
    pub image_index: usize,
    /// Largest accepted relative asymmetry ‖J − Jᵀ‖/‖J‖.
    pub max_asymmetry: f64,
    /// Largest accepted relative residual of f(y) = ∇f(y)·y.
    pub max_bias_free_residual: f64,
    /// Largest accepted effective dimension as a fraction of d.
    pub max_effective_fraction: f64,
    /// Smallest accepted λ_5.
    pub min_lambda5: f64,
    /// Largest accepted λ_(d/4) / λ_5.
    pub max_decay_ratio: f64,
    /// How the spectrum is taken (dense up to 64×64 unless set).
    #[serde(default)]
    pub jacobian: RouteSpec,
}

/// The paper's Fig. 3 eigenvalues at k = 5, 17, ..., 245 (PAPER.md §11).
pub const PAPER_LAMBDAS: [f64; 21] = [
    1.244, 1.115, 1.046, 1.008, 0.973, 0.93, 0.896, 0.857, 0.822, 0.792, 0.758, 0.718, 0.689,
    0.663, 0.637, 0.612, 0.59, 0.569, 0.551, 0.53, 0.51,
];

/// The restarted Lanczos top k at fig3's image.
#[derive(Debug, Serialize)]
pub struct TopK {
    /// Pairs asked for.
    pub k: usize,
    /// Products spent.
    pub products: usize,
    /// Pairs converged.
    pub converged: usize,
    /// max |θ_i − λ_i| against the dense route.
    pub max_error: f64,
    /// Wall time.
    pub seconds: f64,
}

/// The matrix-free route at the same noisy image (issue 15): restarted Lanczos top-k against the
/// dense eigenvalues, and Hutch++ tr ∇f against the exact trace.
#[derive(Debug, Serialize)]
pub struct MatrixFree {
    /// One row per k.
    pub top_k: Vec<TopK>,
    /// Hutch++ estimate, its 95% half-width, and the products it spent.
    pub trace: (f64, f64, usize),
}

/// What Fig. 3 measured.
#[derive(Debug, Serialize)]
pub struct Results {
    /// The matrix-free route beside the dense one, when the spectrum took the dense route.
    pub matrix_free: Option<MatrixFree>,
    /// The largest N of the sweep.
    pub n: usize,
    /// The data's description.
    pub description: String,
    /// The analysis.
    pub spectrum: Spectrum,
}

/// Fig. 3.
pub struct Fig3;

impl Experiment for Fig3 {
    const NAME: &'static str = "fig3";
    const WHAT: &'static str = "Jacobian eigen-analysis of a generalizing denoiser (GAHB)";
    type Config = Config;
    type Results = Results;

    fn validate(cfg: &Config) -> Result<()> {
        anyhow::ensure!(cfg.sigma > 0.0, "fig3.sigma must be > 0, got {}", cfg.sigma);
        cfg.jacobian.validate("fig3")
    }

    fn jobs(lab: &Lab, _cfg: &Config) -> Result<Vec<Job>> {
        let sweep = lab.sweep(Self::NAME)?;
        let n = *sweep.ns.last().context("sweep.ns is empty")?;
        lab.sweep_jobs(sweep, &[n], &[Half::S1])
    }

    fn measure(lab: &Lab, cfg: &Config) -> Result<Results> {
        let sweep = lab.sweep(Self::NAME)?;
        let data = lab.sweep_data(sweep)?;
        let n = *sweep.ns.last().context("sweep.ns is empty")?;
        let (m, _) = lab.sweep_model(sweep, n, Half::S1)?;
        let test = sweep.test_images(&data)?;
        anyhow::ensure!(
            cfg.image_index < test.dim().0,
            "fig3.image_index {} ≥ {} held-out images",
            cfg.image_index,
            test.dim().0
        );
        let x = test.slice(s![cfg.image_index, .., ..]).to_owned();
        let spectrum = analyse(
            &m.model,
            &x,
            cfg.sigma,
            lab.seed_of("fig3"),
            Shown {
                first: 5,
                step: 12,
                count: 21,
                read: 6,
            },
            None,
            &cfg.jacobian,
        )?;
        let matrix_free = match spectrum.dense {
            Some(_) => Some(matrix_free(
                &m.model,
                &x,
                cfg.sigma,
                lab.seed_of("fig3"),
                &spectrum,
            )?),
            None => None,
        };
        Ok(Results {
            matrix_free,
            n,
            description: data.description.clone(),
            spectrum,
        })
    }

    fn present(cfg: &Config, r: &Results, page: &mut Page) -> Result<()> {
        let sp = &r.spectrum;
        let d = sp.dim;
        draw(page.dir(), "face", sp)?;
        page.title("Jacobian eigen-analysis of a generalizing denoiser (GAHB)");
        page.dataset(format!(
            "{} (held-out image {} of the largest-N model, N = {})",
            r.description, cfg.image_index, r.n
        ));
        page.summary(format!(
            "Jacobian at y = x + σz, σ = {}: {}.",
            cfg.sigma,
            sp.describe()
        ));
        page.listed_figure("face_spectrum.png", "λ_k and |⟨x, e_k⟩| against k");
        page.listed_figure(
            "face_eigenvectors.png",
            "eigenvectors e_k, k = 5, 17, 29, ... (diverging colour map)",
        );
        page.listed_figure("face_images.png", "clean, noisy, denoised");
        let mut table = Table::new(["k", "λ_k ours", "λ_k paper (80², d = 6400)", "difference"]);
        for (i, p) in PAPER_LAMBDAS.iter().enumerate() {
            let k = 5 + 12 * i;
            if let Some(l) = sp.lambda(k) {
                let est = if sp.estimated(k) { " (SLQ)" } else { "" };
                table.row(vec![
                    k.to_string(),
                    format!("{l:.3}{est}"),
                    format!("{p:.3}"),
                    format!("{:+.3}", l - p),
                ]);
            }
        }
        page.table(table, None)?;
        page.check(Check::compare(
            "f(y) = ∇f(y)·y (bias-free), relative residual",
            Num::sci(sp.bias_free_residual),
            Cmp::Below(cfg.max_bias_free_residual),
            "exact (fp precision)",
        ));
        page.check(Check::compare(
            if sp.dense.is_some() {
                "Jacobian symmetry ‖J − Jᵀ‖/‖J‖"
            } else {
                "Jacobian symmetry ‖J − Jᵀ‖_F/‖J‖_F (estimated from Gaussian probes)"
            },
            Num::plain(sp.asymmetry, 3),
            Cmp::Below(cfg.max_asymmetry),
            "nearly symmetric",
        ));
        let frac = sp.effective_dimension / d as f64;
        page.check(Check::compare_shown(
            "effective dimension tr ∇f / d",
            Num::plain(frac, 3),
            format!("{:.1} / {d} = {frac:.3}", sp.effective_dimension),
            Cmp::Below(cfg.max_effective_fraction),
            "a low-dimensional adaptive subspace",
        ));
        let l5 = sp.lambda(5).unwrap_or(f64::NAN);
        let lq = sp.lambda(d / 4).unwrap_or(f64::NAN);
        let lq_est = if sp.estimated(d / 4) {
            " (λ_(d/4) by SLQ)"
        } else {
            ""
        };
        page.check(Check::all(
            "shrinkage decays: λ_5 against λ_(d/4)",
            &[
                ("λ_5", Num::plain(l5, 3), Cmp::Above(cfg.min_lambda5)),
                (
                    "λ_(d/4) / λ_5",
                    Num::plain(lq / l5, 3),
                    Cmp::Below(cfg.max_decay_ratio),
                ),
            ],
            format!("{l5:.3} → {lq:.3}{lq_est}"),
            "1.244 at k = 5, 0.51 at k = 245 of 6400",
        ));
        if let Some(check) = convergence_check(sp) {
            page.check(check);
        }
        if let Some(t) = route_table(sp, "") {
            page.table(t, Some("matrix_free.csv"))?;
            page.note("The spectrum took the matrix-free route (products J·v and Jᵀ·v only, O(k·d) memory): the top k by restarted block Lanczos, tr ∇f by Hutch++, the eigenvalues beyond the top k (λ_(d/4) among them) by stochastic Lanczos quadrature, the checks from probes; the paper builds the full Jacobian.");
        }
        if let (Some(mfr), Some(dense)) = (&r.matrix_free, &sp.dense) {
            let j = &dense.jacobian;
            let mut mf = Table::new([
                "route",
                "products",
                "converged",
                "max |θ − λ_dense|",
                "seconds",
            ]);
            for &TopK {
                k,
                products,
                converged: conv,
                max_error: err,
                seconds: secs,
            } in &mfr.top_k
            {
                mf.row(vec![
                    format!("restarted Lanczos, top {k} (tol 1e-4, block 8)"),
                    products.to_string(),
                    format!("{conv}/{k}"),
                    format!("{err:.1e}"),
                    format!("{secs:.1}"),
                ]);
            }
            let (tr, half, products) = mfr.trace;
            mf.row(vec![
                format!("Hutch++ tr ∇f = {tr:.1} ± {half:.1} (95%)"),
                products.to_string(),
                "-".into(),
                format!(
                    "{:.1}% of {:.1}",
                    100.0 * (tr - sp.effective_dimension).abs()
                        / sp.effective_dimension.abs().max(1e-12),
                    sp.effective_dimension
                ),
                "-".into(),
            ]);
            mf.row(vec![
                "dense (reference)".into(),
                d.to_string(),
                format!("{d}/{d}"),
                "0".into(),
                format!("{:.1}", j.wall_s + dense.eigh_seconds),
            ]);
            page.table(mf, Some("matrix_free.csv"))?;
            page.note("The second table is the matrix-free route at the same noisy image (products J·v and Jᵀ·v only, O(k·d) memory: restarted block Lanczos for the top k, Hutch++ for tr ∇f) against the dense one; the paper builds the full Jacobian.");
        }
        if d != 6400 {
            page.note(format!("The paper's eigenvalues are for 80×80 CelebA faces (d = 6400); ours are for d = {d}, so only the shape of the decay is comparable."));
        }
        Ok(())
    }
}

/// Restarted Lanczos top-k (k = 8 and 32 where k < d/2) and Hutch++ tr ∇f (99 directions) at the
/// noisy image [`analyse`] used (the same noise seed), against its dense eigenvalues.
fn matrix_free(
    f: &dyn gahb_tensor::Denoiser,
    x: &ndarray::Array2<f32>,
    sigma: f64,
    seed: u64,
    dense: &Spectrum,
) -> Result<MatrixFree> {
    let (h, w) = x.dim();
    let (_, y) = crate::lab::spectral::noisy_image(x, sigma, seed)?;
    let yt = gahb_tensor::convert::images_to_batch(&y).to_device(f.device());
    let d = h * w;
    let mut top_k = Vec::new();
    for k in [8usize, 32].into_iter().filter(|&k| 2 * k < d) {
        let cfg = gahb_analysis::RestartedConfig {
            tol: 1e-4,
            block_size: 8,
            budget: 4000,
            seed,
            ..gahb_analysis::RestartedConfig::default()
        };
        let r = gahb_analysis::restarted_top_k(f, &yt, k, &cfg).context("restarted Lanczos")?;
        let err = r
            .eigen
            .values_vec()?
            .iter()
            .zip(&dense.eigenvalues)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        top_k.push(TopK {
            k,
            products: r.summary.n_products,
            converged: r.summary.n_converged,
            max_error: err,
            seconds: r.summary.wall_s,
        });
    }
    let t = gahb_analysis::jacobian_trace(
        f,
        &yt,
        gahb_analysis::TraceMethod::HutchPlusPlus,
        &gahb_analysis::TraceConfig {
            n_directions: 99,
            seed,
            ..gahb_analysis::TraceConfig::default()
        },
    )
    .context("Hutch++")?;
    Ok(MatrixFree {
        top_k,
        trace: (t.estimate, 0.5 * (t.ci_high - t.ci_low), t.n_products),
    })
}
