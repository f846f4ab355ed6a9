//! The Jacobian eigen-analysis shared by Figs. 3, 4, 5 and 21 (paper §5): the exact Jacobian of a
//! denoiser at y = x + σz, the eigendecomposition of its symmetric part, the shrinkage factors λ_k,
//! the signal coefficients |⟨x, e_k⟩|, the effective dimension tr ∇f, and the figures.

use std::path::Path;

use anyhow::{Context, Result};
use gahb_analysis::{eigh_sym, jacobian, EighBackend, JacobianConfig, JacobianSummary};
use gahb_plot::{image_grid_png, line_plot_png, GridOptions, Panel, Series};
use gahb_synth::PixelPermutation;
use gahb_tensor::convert::tensor_to_array;
use gahb_tensor::Denoiser;
use ndarray::{Array2, Ix2};
use serde::Serialize;
use tch::Kind;

use crate::eval::noise;

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
}

/// Options of [`analyse`].
pub struct SpectrumFigures<'a> {
    /// Folder of the figures.
    pub dir: &'a Path,
    /// File-name prefix.
    pub tag: &'a str,
    /// Eigenvectors shown: `first, first + step, ...`, `count` of them.
    pub first: usize,
    /// Step between shown eigenvectors.
    pub step: usize,
    /// Number of eigenvectors shown.
    pub count: usize,
    /// Shown after this permutation's inverse (shuffled data).
    pub unshuffle: Option<&'a PixelPermutation>,
}

/// Analyses `f` at `x` (`[h, w]`) plus noise of level `sigma` drawn from `seed`, and draws the
/// spectrum and eigenvector figures.
pub fn analyse(
    f: &dyn Denoiser,
    x: &Array2<f32>,
    sigma: f64,
    seed: u64,
    figs: &SpectrumFigures<'_>,
) -> Result<Spectrum> {
    let (h, w) = x.dim();
    let clean = x.clone().into_shape_with_order((1, h, w))?;
    let z = noise((1, h, w), seed);
    let y = &clean + &(z * sigma as f32);
    let yt = crate::ctx::to_batch(&y);
    let report = jacobian(f, &yt, &JacobianConfig::default()).context("jacobian")?;
    let t0 = std::time::Instant::now();
    let eig = eigh_sym(&report.jacobian.to_kind(Kind::Double), EighBackend::Torch)
        .context("eigendecomposition")?;
    let eigh_seconds = t0.elapsed().as_secs_f64();
    let values = eig.values_vec()?;
    let coeffs = Vec::<f64>::try_from(
        eig.signal_coefficients(&crate::ctx::to_batch(&clean))?
            .abs()
            .to_kind(Kind::Double)
            .flatten(0, -1),
    )?;
    let eff = eig.effective_dimension()?;

    let ks: Vec<f64> = (0..values.len()).map(|k| k as f64).collect();
    line_plot_png(
        &figs.dir.join(format!("{}_spectrum.png", figs.tag)),
        &[
            Panel {
                title: format!("eigenvalues λ_k of ∇f(y), σ = {sigma}"),
                x_label: "k".into(),
                y_label: "λ_k".into(),
                series: vec![Series {
                    label: format!("tr ∇f = {eff:.1}"),
                    points: ks.iter().copied().zip(values.iter().copied()).collect(),
                    reference: false,
                    markers: false,
                }],
                ..Panel::default()
            },
            Panel {
                title: "signal coefficients |⟨x, e_k⟩|".into(),
                x_label: "k".into(),
                y_label: "|⟨x, e_k⟩|".into(),
                series: vec![Series {
                    label: String::new(),
                    points: ks
                        .iter()
                        .copied()
                        .zip(coeffs.iter().map(|c| c.max(1e-8)))
                        .collect(),
                    reference: false,
                    markers: false,
                }],
                log_y: true,
                ..Panel::default()
            },
        ],
        (1100, 420),
    )?;

    let mut tiles = Vec::new();
    for i in 0..figs.count {
        let k = figs.first + i * figs.step;
        if k >= values.len() {
            break;
        }
        let v = eig.eigenvector_image(k, [1, h as i64, w as i64])?;
        let mut img = tensor_to_array::<Ix2>(&v.reshape([h as i64, w as i64]))?;
        if let Some(p) = figs.unshuffle {
            img = p.invert_image(img.view())?;
        }
        tiles.push(img);
    }
    if !tiles.is_empty() {
        image_grid_png(
            &figs.dir.join(format!("{}_eigenvectors.png", figs.tag)),
            &tiles,
            tiles.len().min(11),
            &GridOptions::diverging(),
        )?;
    }
    let xhat = f.denoise(&yt)?;
    let mut trio = vec![
        clean.index_axis(ndarray::Axis(0), 0).to_owned(),
        y.index_axis(ndarray::Axis(0), 0).to_owned(),
        tensor_to_array::<Ix2>(&xhat.reshape([h as i64, w as i64]))?,
    ];
    if let Some(p) = figs.unshuffle {
        trio = trio
            .iter()
            .map(|t| p.invert_image(t.view()))
            .collect::<gahb_synth::Result<_>>()?;
    }
    image_grid_png(
        &figs.dir.join(format!("{}_images.png", figs.tag)),
        &trio,
        3,
        &GridOptions::default(),
    )?;
    Ok(Spectrum {
        sigma,
        eigenvalues: values,
        coefficients: coeffs,
        effective_dimension: eff,
        jacobian: report.summary,
        eigh_seconds,
    })
}
