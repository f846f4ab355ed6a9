//! The Jacobian eigen-analysis shared by Figs. 3, 4, 5 and 21 (paper §5): the exact Jacobian of a
//! denoiser at y = x + σz, the eigendecomposition of its symmetric part, the shrinkage factors λ_k,
//! the signal coefficients |⟨x, e_k⟩|, the effective dimension tr ∇f ([`analyse`]), and the
//! figures drawn from what it measured ([`draw`]).

use std::path::Path;

use anyhow::{Context, Result};
use gahb_analysis::{
    eigh_sym, jacobian, jacobian_trace, probed_checks, restarted_top_k, slq, DenoiserOperator,
    Eigen, EighBackend, JacobianConfig, JacobianSummary, LanczosOperator, ProbedChecks,
    RestartedConfig, RestartedSummary, SlqConfig, SpectralDensity, TraceConfig, TraceEstimate,
    TraceMethod,
};
use gahb_plot::{image_grid_png, line_plot_png, GridOptions, Panel, Series};
use gahb_synth::PixelPermutation;
use gahb_tensor::convert::{images_to_batch, tensor_to_array};
use gahb_tensor::Denoiser;
use ndarray::{Array2, Array3, Axis, Ix2};
use serde::{Deserialize, Serialize};
use tch::Kind;

use crate::lab::eval::noise;

/// Which eigenvectors [`analyse`] keeps as images: `first, first + step, ...`, `count` of them.
#[derive(Debug, Clone, Copy)]
pub struct Shown {
    /// The first index.
    pub first: usize,
    /// The step between indices.
    pub step: usize,
    /// How many.
    pub count: usize,
    /// How many top eigenvalues the caller reads besides (its tables and checks): the
    /// matrix-free route converges the top max(`read`, last shown index + 1).
    pub read: usize,
}

/// The largest d the dense route takes under [`RouteKind::Auto`] (64×64): beyond it the d
/// linearized passes and the d² matrix give way to the matrix-free route (issue 15; the paper's
/// 80×80 and 160×160 of Table 1 are matrix-free by default).
pub const DENSE_MAX_DIM: usize = 4096;

/// Which route a spectrum takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RouteKind {
    /// Dense up to [`DENSE_MAX_DIM`] pixels, matrix-free beyond.
    #[default]
    Auto,
    /// The exact d×d Jacobian and its full eigendecomposition (d passes, d² memory).
    Dense,
    /// Products J·v and Jᵀ·v only, O(k·d) memory: restarted Lanczos for the top k, Hutch++ for
    /// tr ∇f, stochastic Lanczos quadrature for the rest of the spectrum, probes for the checks.
    MatrixFree,
}

/// `jacobian = { ... }` in the tables of the experiments that take a spectrum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteSpec {
    /// `auto`, `dense` or `matrix_free`.
    pub route: RouteKind,
    /// Top pairs the matrix-free route converges; by default as many as the experiment shows or
    /// tabulates.
    pub k: Option<usize>,
    /// Residual tolerance of each pair, relative to λ_1.
    pub tol: f64,
    /// The most products the top-k may spend.
    pub budget: usize,
    /// Directions per network pass.
    pub block_size: usize,
    /// The most stored basis vectors of the top k; by default [`default_basis`].
    pub max_basis: Option<usize>,
    /// Hutch++ directions for tr ∇f.
    pub trace_directions: usize,
    /// SLQ probes, and Lanczos steps per probe, for the eigenvalues beyond the top k.
    pub slq_probes: usize,
    /// Lanczos steps per SLQ probe.
    pub slq_steps: usize,
    /// Gaussian probes for the asymmetry ‖J − Jᵀ‖_F/‖J‖_F.
    pub asymmetry_probes: usize,
}

impl Default for RouteSpec {
    fn default() -> Self {
        Self {
            route: RouteKind::Auto,
            k: None,
            tol: 1e-4,
            budget: 8000,
            block_size: 8,
            max_basis: None,
            trace_directions: 99,
            slq_probes: 10,
            slq_steps: 40,
            asymmetry_probes: 64,
        }
    }
}

impl RouteSpec {
    /// Checks the settings (`table` names the experiment in errors).
    pub fn validate(&self, table: &str) -> Result<()> {
        anyhow::ensure!(
            self.tol.is_finite() && self.tol > 0.0,
            "{table}.jacobian.tol must be finite and > 0, got {}",
            self.tol
        );
        anyhow::ensure!(
            self.k != Some(0),
            "{table}.jacobian.k must be at least 1, got 0"
        );
        for (name, v, min) in [
            ("budget", self.budget, 1),
            ("block_size", self.block_size, 1),
            ("trace_directions", self.trace_directions, 4),
            ("slq_probes", self.slq_probes, 2),
            ("slq_steps", self.slq_steps, 1),
            ("asymmetry_probes", self.asymmetry_probes, 1),
        ] {
            anyhow::ensure!(
                v >= min,
                "{table}.jacobian.{name} must be at least {min}, got {v}"
            );
        }
        Ok(())
    }

    /// Whether a spectrum of dimension `d` takes the dense route.
    pub fn dense_at(&self, d: usize) -> bool {
        match self.route {
            RouteKind::Auto => d <= DENSE_MAX_DIM,
            RouteKind::Dense => true,
            RouteKind::MatrixFree => false,
        }
    }
}

/// The basis the matrix-free top k keeps by default: room for 160 vectors beyond the k wanted,
/// or gahb-analysis's default when that is larger. On the 80×80 UNet of `spectra80`, top-32 in
/// blocks of 8 took 1,824 products with the 80-vector default and 1,184 with 200, and top-8 took
/// 1,952 with 44 and 342 (block 1) with 200 (docs/decisions/0008): a denoiser's clustered top
/// eigenvalues need room, which costs only O(k·d) memory more.
pub fn default_basis(k: usize, block_size: usize) -> usize {
    gahb_analysis::default_max_basis(k, block_size).max(k + 160)
}

/// What the dense route spent.
#[derive(Debug, Clone, Serialize)]
pub struct DenseRun {
    /// Jacobian checks and timing.
    pub jacobian: JacobianSummary,
    /// Seconds of the eigendecomposition.
    pub eigh_seconds: f64,
}

/// What the matrix-free route spent and found.
#[derive(Debug, Clone, Serialize)]
pub struct MatrixFreeRun {
    /// The restarted Lanczos top k (products, converged pairs, residuals).
    pub top_k: RestartedSummary,
    /// Hutch++ tr ∇f with its interval.
    pub trace: TraceEstimate,
    /// The SLQ density of the symmetric part (every eigenvalue beyond the top k).
    pub density: SpectralDensity,
    /// The bias-free residual and the probed asymmetry.
    pub probes: ProbedChecks,
}

impl MatrixFreeRun {
    /// Products spent by all four estimates.
    pub fn products(&self) -> usize {
        self.top_k.n_products
            + self.trace.n_products
            + self.density.n_products
            + self.probes.n_products
    }
}

/// What the analysis of one noisy image found.
#[derive(Debug, Clone, Serialize)]
pub struct Spectrum {
    /// Noise level.
    pub sigma: f64,
    /// d, the number of pixels.
    pub dim: usize,
    /// λ_k, descending: all d on the dense route, the top k on the matrix-free one.
    pub eigenvalues: Vec<f64>,
    /// |⟨x, e_k⟩| of the clean image, for the same k.
    pub coefficients: Vec<f64>,
    /// tr ∇f (exact on the dense route, Hutch++ on the matrix-free one).
    pub effective_dimension: f64,
    /// ‖f(y) − ∇f(y)·y‖/‖f(y)‖.
    pub bias_free_residual: f64,
    /// ‖J − Jᵀ‖_F/‖J‖_F (exact, or estimated from probes).
    pub asymmetry: f64,
    /// Seconds of the whole analysis.
    pub seconds: f64,
    /// The dense route's numbers, when it ran.
    pub dense: Option<DenseRun>,
    /// The matrix-free route's numbers, when it ran.
    pub matrix_free: Option<MatrixFreeRun>,
    /// The indices of the eigenvectors kept as images.
    pub shown: Vec<usize>,
    /// Those eigenvectors as images (after the inverse permutation, for shuffled data).
    #[serde(skip)]
    pub eigenvectors: Vec<Array2<f32>>,
    /// Clean, noisy and denoised image (likewise unshuffled).
    #[serde(skip)]
    pub trio: Vec<Array2<f32>>,
}

impl Spectrum {
    /// λ_k: computed when k is among the eigenvalues, else the SLQ estimate at rank k on the
    /// matrix-free route (`None` beyond d).
    pub fn lambda(&self, k: usize) -> Option<f64> {
        if let Some(l) = self.eigenvalues.get(k) {
            return Some(*l);
        }
        match &self.matrix_free {
            Some(m) if k < self.dim => Some(m.density.value_at_rank(k)),
            _ => None,
        }
    }

    /// Whether λ_k is an SLQ estimate rather than a converged eigenvalue.
    pub fn estimated(&self, k: usize) -> bool {
        k >= self.eigenvalues.len()
    }

    /// One sentence on how the spectrum was taken, for a page's summary.
    pub fn describe(&self) -> String {
        let d = self.dim;
        match (&self.dense, &self.matrix_free) {
            (Some(r), _) => format!(
                "exact Jacobian (d = {d}) by the {} route in {:.1} s, eigh of its symmetric part in {:.2} s",
                r.jacobian.route.name(),
                r.jacobian.wall_s,
                r.eigh_seconds
            ),
            (None, Some(m)) => format!(
                "matrix-free (d = {d}, J never formed): top {} of the symmetric part by restarted Lanczos ({}/{} converged to {:.0e} in {} products), tr ∇f by Hutch++ ({} products), the rest of the spectrum by SLQ ({} products), {} products in all, {:.1} s",
                m.top_k.k,
                m.top_k.n_converged,
                m.top_k.k,
                m.top_k.tol,
                m.top_k.n_products,
                m.trace.n_products,
                m.density.n_products,
                m.products(),
                self.seconds
            ),
            (None, None) => format!("d = {d}"),
        }
    }

    /// The (rank, λ) points of the SLQ estimate over all d ranks (empty on the dense route).
    pub fn estimated_curve(&self) -> Vec<(f64, f64)> {
        let Some(m) = &self.matrix_free else {
            return Vec::new();
        };
        let step = (self.dim / 400).max(1);
        (0..self.dim)
            .step_by(step)
            .map(|r| (r as f64, m.density.value_at_rank(r)))
            .collect()
    }
}

/// Analyses `f` at `x` (`[h, w]`) plus noise of level `sigma` drawn from `seed`, keeping the
/// `shown` eigenvectors as images (after `unshuffle`'s inverse, for shuffled data), by the route
/// `route` picks for d = h·w (the matrix-free route converges the top max(`shown.read`, the last
/// shown index + 1) unless `route.k` says otherwise).
pub fn analyse(
    f: &dyn Denoiser,
    x: &Array2<f32>,
    sigma: f64,
    seed: u64,
    shown: Shown,
    unshuffle: Option<&PixelPermutation>,
    route: &RouteSpec,
) -> Result<Spectrum> {
    let t0 = std::time::Instant::now();
    let (h, w) = x.dim();
    let d = h * w;
    let (clean, y) = noisy_image(x, sigma, seed)?;
    let yt = images_to_batch(&y).to_device(f.device());
    let xt = images_to_batch(&clean).to_device(f.device());
    let (eig, effective_dimension, bias_free_residual, asymmetry, dense, matrix_free) = if route
        .dense_at(d)
    {
        let report = jacobian(f, &yt, &JacobianConfig::default()).context("jacobian")?;
        let t1 = std::time::Instant::now();
        let eig = eigh_sym(&report.jacobian.to_kind(Kind::Double), EighBackend::Torch)
            .context("eigendecomposition")?;
        let eigh_seconds = t1.elapsed().as_secs_f64();
        let tr = eig.effective_dimension()?;
        let s = report.summary;
        let (bf, asym) = (s.bias_free_residual, s.asymmetry);
        (
            eig,
            tr,
            bf,
            asym,
            Some(DenseRun {
                jacobian: s,
                eigh_seconds,
            }),
            None,
        )
    } else {
        let last_shown = shown.first + shown.count.saturating_sub(1) * shown.step;
        let k = route.k.unwrap_or(shown.read.max(last_shown + 1));
        anyhow::ensure!(
                k < d,
                "the matrix-free route was asked for the top {k} of d = {d} eigenpairs: ask for fewer (jacobian.k) or take the dense route"
            );
        let (eig, run) = matrix_free(f, &yt, k, route, seed)?;
        let tr = run.trace.estimate;
        let (bf, asym) = (run.probes.bias_free_residual, run.probes.asymmetry);
        (eig, tr, bf, asym, None, Some(run))
    };
    let values = eig.values_vec()?;
    let coefficients = Vec::<f64>::try_from(
        eig.signal_coefficients(&xt.to_device(eig.values.device()))?
            .abs()
            .to_kind(Kind::Double)
            .to_device(tch::Device::Cpu)
            .flatten(0, -1),
    )?;
    let unshuffled = |img: Array2<f32>| -> Result<Array2<f32>> {
        Ok(match unshuffle {
            Some(p) => p.invert_image(img.view())?,
            None => img,
        })
    };
    let mut indices = Vec::new();
    let mut eigenvectors = Vec::new();
    for i in 0..shown.count {
        let k = shown.first + i * shown.step;
        if k >= values.len() {
            break;
        }
        let v = eig
            .eigenvector_image(k, [1, h as i64, w as i64])?
            .to_device(tch::Device::Cpu);
        indices.push(k);
        eigenvectors.push(unshuffled(tensor_to_array::<Ix2>(
            &v.reshape([h as i64, w as i64]),
        )?)?);
    }
    let xhat = f.denoise(&yt)?.to_device(tch::Device::Cpu);
    let trio = [
        clean.index_axis(Axis(0), 0).to_owned(),
        y.index_axis(Axis(0), 0).to_owned(),
        tensor_to_array::<Ix2>(&xhat.to_kind(Kind::Float).reshape([h as i64, w as i64]))?,
    ]
    .into_iter()
    .map(unshuffled)
    .collect::<Result<Vec<_>>>()?;
    Ok(Spectrum {
        sigma,
        dim: d,
        eigenvalues: values,
        coefficients,
        effective_dimension,
        bias_free_residual,
        asymmetry,
        seconds: t0.elapsed().as_secs_f64(),
        dense,
        matrix_free,
        shown: indices,
        eigenvectors,
        trio,
    })
}

/// The matrix-free estimates at `y`, and the top-k eigenpairs they found.
fn matrix_free(
    f: &dyn Denoiser,
    y: &tch::Tensor,
    k: usize,
    route: &RouteSpec,
    seed: u64,
) -> Result<(Eigen, MatrixFreeRun)> {
    let cfg = RestartedConfig {
        tol: route.tol,
        budget: route.budget,
        block_size: route.block_size,
        max_basis: Some(
            route
                .max_basis
                .unwrap_or(default_basis(k, route.block_size)),
        ),
        seed,
        operator: LanczosOperator::SymmetricPart,
        ..RestartedConfig::default()
    };
    let top = restarted_top_k(f, y, k, &cfg).context("restarted Lanczos (top k)")?;
    let trace = jacobian_trace(
        f,
        y,
        TraceMethod::HutchPlusPlus,
        &TraceConfig {
            n_directions: route.trace_directions,
            block_size: route.block_size,
            seed,
            ..TraceConfig::default()
        },
    )
    .context("Hutch++ (tr ∇f)")?;
    let mut op = DenoiserOperator::new(f, y, LanczosOperator::SymmetricPart)?;
    let density = slq(
        &mut op,
        &SlqConfig {
            n_probes: route.slq_probes,
            n_steps: route.slq_steps,
            seed,
            ..SlqConfig::default()
        },
    )
    .context("stochastic Lanczos quadrature")?;
    let probes = probed_checks(f, y, route.asymmetry_probes, route.block_size, seed)
        .context("probed Jacobian checks")?;
    Ok((
        top.eigen,
        MatrixFreeRun {
            top_k: top.summary,
            trace,
            density,
            probes,
        },
    ))
}

/// Draws `<tag>_spectrum.png` (λ_k and |⟨x, e_k⟩|), `<tag>_eigenvectors.png` and `<tag>_images.png`
/// (clean, noisy, denoised) into `dir`.
pub fn draw(dir: &Path, tag: &str, s: &Spectrum) -> Result<()> {
    draw_parts(
        dir,
        &format!("{tag}_"),
        s.sigma,
        &s.eigenvalues,
        &s.coefficients,
        s.effective_dimension,
        &s.estimated_curve(),
        &s.eigenvectors,
        &s.trio,
    )
}

/// The figures of a spectrum from its parts (for [`draw`] and `gahb spectrum`):
/// `<prefix>spectrum.png` (λ_k, labelled with tr ∇f, and |⟨x, e_k⟩|; markers when there are at
/// most 64 pairs; `estimated`, when not empty, is drawn beside them as the SLQ estimate of λ at
/// every rank), `<prefix>eigenvectors.png` (when any are given) and `<prefix>images.png`.
#[allow(clippy::too_many_arguments)]
pub fn draw_parts(
    dir: &Path,
    prefix: &str,
    sigma: f64,
    eigenvalues: &[f64],
    coefficients: &[f64],
    effective_dimension: f64,
    estimated: &[(f64, f64)],
    eigenvectors: &[Array2<f32>],
    trio: &[Array2<f32>],
) -> Result<()> {
    let ks = || (0..eigenvalues.len()).map(|k| k as f64);
    let markers = eigenvalues.len() <= 64;
    line_plot_png(
        &dir.join(format!("{prefix}spectrum.png")),
        &[
            if estimated.is_empty() {
                Panel {
                    title: format!("eigenvalues λ_k of ∇f(y), σ = {sigma}"),
                    x_label: "k".into(),
                    y_label: "λ_k".into(),
                    series: vec![Series {
                        label: format!("tr ∇f = {effective_dimension:.1}"),
                        points: ks().zip(eigenvalues.iter().copied()).collect(),
                        reference: false,
                        markers,
                    }],
                    ..Panel::default()
                }
            } else {
                // Matrix-free: the top k and the SLQ estimate over all d ranks, on a log axis of
                // k + 1 so both are visible.
                let shifted = |p: &[(f64, f64)]| p.iter().map(|&(k, l)| (k + 1.0, l)).collect();
                let top: Vec<(f64, f64)> = ks().zip(eigenvalues.iter().copied()).collect();
                Panel {
                    title: format!("eigenvalues λ_k of ∇f(y), σ = {sigma}"),
                    x_label: "(k + 1)".into(),
                    y_label: "λ_k".into(),
                    series: vec![
                        Series {
                            label: format!(
                                "top {} (restarted Lanczos); tr ∇f ≈ {effective_dimension:.1} (Hutch++)",
                                eigenvalues.len()
                            ),
                            points: shifted(&top),
                            reference: false,
                            markers,
                        },
                        Series::reference(
                            "every rank, SLQ estimate (matrix-free)",
                            shifted(estimated),
                        ),
                    ],
                    log_x: true,
                    ..Panel::default()
                }
            },
            Panel {
                title: "signal coefficients |⟨x, e_k⟩|".into(),
                x_label: "k".into(),
                y_label: "|⟨x, e_k⟩|".into(),
                series: vec![Series {
                    label: String::new(),
                    points: ks().zip(coefficients.iter().map(|c| c.max(1e-8))).collect(),
                    reference: false,
                    markers,
                }],
                log_y: true,
                ..Panel::default()
            },
        ],
        (1100, 420),
    )?;
    if !eigenvectors.is_empty() {
        image_grid_png(
            &dir.join(format!("{prefix}eigenvectors.png")),
            eigenvectors,
            eigenvectors.len().min(11),
            &GridOptions::diverging(),
        )?;
    }
    image_grid_png(
        &dir.join(format!("{prefix}images.png")),
        trio,
        3,
        &GridOptions::default(),
    )?;
    Ok(())
}

/// The clean image x as a stack `[1, h, w]` and y = x + σz with z drawn from `seed`: the noisy
/// image every analysis of x at σ uses ([`analyse`], the matrix-free rows of fig3, `gahb spectrum`).
pub fn noisy_image(x: &Array2<f32>, sigma: f64, seed: u64) -> Result<(Array3<f32>, Array3<f32>)> {
    let (h, w) = x.dim();
    let clean = x.clone().into_shape_with_order((1, h, w))?;
    let y = &clean + &(noise((1, h, w), seed) * sigma as f32);
    Ok((clean, y))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use gahb_analysis::toy::BiasFreeConvNet;

    fn image(n: usize) -> Array2<f32> {
        Array2::from_shape_fn((n, n), |(i, j)| {
            (0.5 + 0.4 * ((i as f32) * 0.7).sin() * ((j as f32) * 0.4).cos()).clamp(0.0, 1.0)
        })
    }

    /// The toy bias-free net (8 channels, 3 layers) built after `tch::manual_seed(net_seed)`,
    /// analysed at a smooth 16×16 image plus noise of level 0.2 drawn from `noise_seed`.
    pub(crate) fn toy_spectrum(
        net_seed: i64,
        noise_seed: u64,
        shown: Shown,
        route: RouteSpec,
    ) -> Result<Spectrum> {
        tch::manual_seed(net_seed);
        let net = BiasFreeConvNet::new(1, 8, 3, tch::Device::Cpu)?;
        analyse(&net, &image(16), 0.2, noise_seed, shown, None, &route)
    }

    pub(crate) const SHOWN: Shown = Shown {
        first: 0,
        step: 3,
        count: 4,
        read: 12,
    };

    #[test]
    fn the_matrix_free_route_agrees_with_the_dense_one() {
        let d = 256;
        let dense = toy_spectrum(
            3,
            9,
            SHOWN,
            RouteSpec {
                route: RouteKind::Dense,
                ..RouteSpec::default()
            },
        )
        .expect("dense");
        let free = toy_spectrum(
            3,
            9,
            SHOWN,
            RouteSpec {
                route: RouteKind::MatrixFree,
                trace_directions: 150,
                asymmetry_probes: 64,
                ..RouteSpec::default()
            },
        )
        .expect("matrix-free");
        assert_eq!((dense.dim, free.dim), (d, d));
        assert_eq!(dense.eigenvalues.len(), d);
        assert_eq!(
            free.eigenvalues.len(),
            12,
            "read 12 > the last shown index 9"
        );
        assert!(dense.matrix_free.is_none() && dense.dense.is_some());
        let m = free.matrix_free.as_ref().expect("matrix-free run");
        assert!(m.top_k.converged, "{:?}", m.top_k);
        let scale = dense.eigenvalues[0].abs();
        for (a, b) in free.eigenvalues.iter().zip(&dense.eigenvalues) {
            assert!((a - b).abs() < 1e-3 * scale, "top-k {a} against dense {b}");
        }
        // Signal coefficients are |⟨x, e_k⟩|: the sign of e_k does not matter.
        for (a, b) in free.coefficients.iter().zip(&dense.coefficients).take(4) {
            assert!((a - b).abs() < 2e-2 * b.max(1.0), "{a} against {b}");
        }
        let tr = dense.effective_dimension;
        let ci = (m.trace.ci_low, m.trace.ci_high);
        // The toy net's trace is near 0 (eigenvalues of both signs): the interval must hold it,
        // and the error must be small against Σ|λ_k|.
        let nuclear: f64 = dense.eigenvalues.iter().map(|l| l.abs()).sum();
        assert!(
            ci.0 <= tr && tr <= ci.1 && (free.effective_dimension - tr).abs() < 0.05 * nuclear,
            "Hutch++ {} {ci:?} against {tr} (Σ|λ| = {nuclear})",
            free.effective_dimension
        );
        assert!(
            (free.asymmetry - dense.asymmetry).abs() < 0.2 * dense.asymmetry,
            "probed {} against {}",
            free.asymmetry,
            dense.asymmetry
        );
        assert!(free.bias_free_residual < 1e-4 && dense.bias_free_residual < 1e-4);
        // Beyond the top k, λ comes from SLQ: within a twentieth of the spectrum's range.
        let range = dense.eigenvalues[0] - dense.eigenvalues[d - 1];
        for k in [d / 4, d / 2] {
            assert!(free.estimated(k) && !dense.estimated(k));
            let (a, b) = (free.lambda(k).expect("λ"), dense.lambda(k).expect("λ"));
            assert!((a - b).abs() < 0.05 * range, "λ_{k}: SLQ {a} against {b}");
        }
        assert_eq!(free.lambda(d), None);
        assert_eq!(free.shown, vec![0, 3, 6, 9]);
        assert_eq!(free.eigenvectors.len(), 4);
        assert_eq!(free.estimated_curve().len(), d);
    }

    #[test]
    fn the_route_follows_the_size_and_bad_settings_are_named() {
        let auto = RouteSpec::default();
        assert!(auto.dense_at(DENSE_MAX_DIM) && !auto.dense_at(DENSE_MAX_DIM + 1));
        assert!(auto.dense_at(64 * 64) && !auto.dense_at(80 * 80));
        for (spec, key) in [
            (
                RouteSpec {
                    tol: 0.0,
                    ..RouteSpec::default()
                },
                "fig3.jacobian.tol",
            ),
            (
                RouteSpec {
                    k: Some(0),
                    ..RouteSpec::default()
                },
                "fig3.jacobian.k",
            ),
            (
                RouteSpec {
                    slq_probes: 1,
                    ..RouteSpec::default()
                },
                "fig3.jacobian.slq_probes",
            ),
        ] {
            let e = spec.validate("fig3").expect_err("refused").to_string();
            assert!(e.contains(key), "{e}");
        }
        let big = analyse(
            &gahb_tensor::LinearDenoiser::new(
                &tch::Tensor::eye(16, (Kind::Double, tch::Device::Cpu)),
                [1, 4, 4],
            )
            .expect("f"),
            &image(4),
            0.1,
            0,
            Shown { read: 16, ..SHOWN },
            None,
            &RouteSpec {
                route: RouteKind::MatrixFree,
                ..RouteSpec::default()
            },
        )
        .expect_err("k ≥ d");
        assert!(big.to_string().contains("top 16 of d = 16"), "{big}");
    }
}
