//! The Jacobian eigen-analysis shared by Figs. 3, 4, 5 and 21 (paper §5): the exact Jacobian of a
//! denoiser at y = x + σz, the eigendecomposition of its symmetric part, the shrinkage factors λ_k,
//! the signal coefficients |⟨x, e_k⟩|, the effective dimension tr ∇f ([`analyse`]), and the
//! figures drawn from what it measured ([`draw`]).

use std::path::Path;

use anyhow::{Context, Result};
use gahb_analysis::{eigh_sym, jacobian, EighBackend, JacobianConfig, JacobianSummary};
use gahb_plot::{image_grid_png, line_plot_png, GridOptions, Panel, Series};
use gahb_synth::PixelPermutation;
use gahb_tensor::convert::{images_to_batch, tensor_to_array};
use gahb_tensor::Denoiser;
use ndarray::{Array2, Array3, Axis, Ix2};
use serde::Serialize;
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
}

/// What the analysis of one noisy image found.
#[derive(Debug, Clone, Serialize)]
pub struct Spectrum {
    /// Noise level.
    pub sigma: f64,
    /// λ_k, descending.
    pub eigenvalues: Vec<f64>,
    /// |⟨x, e_k⟩| of the clean image.
    pub coefficients: Vec<f64>,
    /// tr ∇f (the sum of the λ_k).
    pub effective_dimension: f64,
    /// Jacobian checks and timing.
    pub jacobian: JacobianSummary,
    /// Seconds of the eigendecomposition.
    pub eigh_seconds: f64,
    /// The indices of the eigenvectors kept as images.
    pub shown: Vec<usize>,
    /// Those eigenvectors as images (after the inverse permutation, for shuffled data).
    #[serde(skip)]
    pub eigenvectors: Vec<Array2<f32>>,
    /// Clean, noisy and denoised image (likewise unshuffled).
    #[serde(skip)]
    pub trio: Vec<Array2<f32>>,
}

/// Analyses `f` at `x` (`[h, w]`) plus noise of level `sigma` drawn from `seed`, keeping the
/// `shown` eigenvectors as images (after `unshuffle`'s inverse, for shuffled data).
pub fn analyse(
    f: &dyn Denoiser,
    x: &Array2<f32>,
    sigma: f64,
    seed: u64,
    shown: Shown,
    unshuffle: Option<&PixelPermutation>,
) -> Result<Spectrum> {
    let (h, w) = x.dim();
    let (clean, y) = noisy_image(x, sigma, seed)?;
    let yt = images_to_batch(&y);
    let report = jacobian(f, &yt, &JacobianConfig::default()).context("jacobian")?;
    let t0 = std::time::Instant::now();
    let eig = eigh_sym(&report.jacobian.to_kind(Kind::Double), EighBackend::Torch)
        .context("eigendecomposition")?;
    let eigh_seconds = t0.elapsed().as_secs_f64();
    let values = eig.values_vec()?;
    let coefficients = Vec::<f64>::try_from(
        eig.signal_coefficients(&images_to_batch(&clean))?
            .abs()
            .to_kind(Kind::Double)
            .flatten(0, -1),
    )?;
    let effective_dimension = eig.effective_dimension()?;
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
        let v = eig.eigenvector_image(k, [1, h as i64, w as i64])?;
        indices.push(k);
        eigenvectors.push(unshuffled(tensor_to_array::<Ix2>(
            &v.reshape([h as i64, w as i64]),
        )?)?);
    }
    let xhat = f.denoise(&yt)?;
    let trio = [
        clean.index_axis(Axis(0), 0).to_owned(),
        y.index_axis(Axis(0), 0).to_owned(),
        tensor_to_array::<Ix2>(&xhat.reshape([h as i64, w as i64]))?,
    ]
    .into_iter()
    .map(unshuffled)
    .collect::<Result<Vec<_>>>()?;
    Ok(Spectrum {
        sigma,
        eigenvalues: values,
        coefficients,
        effective_dimension,
        jacobian: report.summary,
        eigh_seconds,
        shown: indices,
        eigenvectors,
        trio,
    })
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
        &s.eigenvectors,
        &s.trio,
    )
}

/// The figures of a spectrum from its parts (for [`draw`] and `gahb spectrum`):
/// `<prefix>spectrum.png` (λ_k, labelled with tr ∇f, and |⟨x, e_k⟩|; markers when there are at
/// most 64 pairs), `<prefix>eigenvectors.png` (when any are given) and `<prefix>images.png`.
#[allow(clippy::too_many_arguments)]
pub fn draw_parts(
    dir: &Path,
    prefix: &str,
    sigma: f64,
    eigenvalues: &[f64],
    coefficients: &[f64],
    effective_dimension: f64,
    eigenvectors: &[Array2<f32>],
    trio: &[Array2<f32>],
) -> Result<()> {
    let ks = || (0..eigenvalues.len()).map(|k| k as f64);
    let markers = eigenvalues.len() <= 64;
    line_plot_png(
        &dir.join(format!("{prefix}spectrum.png")),
        &[
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
