//! The density bound of PAPER.md §10:
//! D_KL(p‖p_θ) ≤ ∫₀^∞ (MSE(f_θ, σ²) − MSE(f*, σ²)) σ⁻³ dσ.
//!
//! MSE here is the total expected squared error E‖f(y) − x‖² over all d pixels (not per pixel),
//! so the bound is in nats. The integral is evaluated numerically from MSE curves sampled on a
//! σ grid (usually log-spaced): with u = ln σ, ∫ g(σ) σ⁻³ dσ = ∫ g(e^u) e^{−2u} du, and the
//! trapezoid rule in u is exact for power laws between nodes far better than in σ.
//! The integral is truncated to the grid's range; the caller chooses a range wide enough that
//! the gap is negligible at both ends.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The bound and how it was evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DensityBound {
    /// ∫ (MSE_θ − MSE*) σ⁻³ dσ over the grid, in nats.
    pub bound_nats: f64,
    /// The smallest σ of the grid.
    pub sigma_min: f64,
    /// The largest σ of the grid.
    pub sigma_max: f64,
    /// The number of grid points.
    pub n_points: usize,
    /// The most negative MSE gap seen (should be ≥ 0 up to estimation noise when f* is optimal).
    pub min_gap: f64,
}

/// ∫ (mse_model − mse_optimal) σ⁻³ dσ by the trapezoid rule in ln σ on the given increasing grid.
pub fn density_bound(
    sigmas: &[f64],
    mse_model: &[f64],
    mse_optimal: &[f64],
) -> Result<DensityBound> {
    let n = sigmas.len();
    if mse_model.len() != n || mse_optimal.len() != n {
        return Err(Error::ShapeMismatch {
            op: "density_bound",
            expected: format!("{n} MSE values per curve, one per σ"),
            got: vec![mse_model.len() as i64, mse_optimal.len() as i64],
        });
    }
    if n < 2 {
        return Err(Error::InvalidArgument {
            name: "sigmas",
            reason: format!("need at least 2 noise levels, got {n}"),
        });
    }
    if sigmas
        .iter()
        .chain(mse_model)
        .chain(mse_optimal)
        .any(|v| !v.is_finite())
    {
        return Err(Error::NonFinite {
            op: "density_bound",
        });
    }
    if sigmas[0] <= 0.0 || sigmas.windows(2).any(|w| w[1] <= w[0]) {
        return Err(Error::InvalidArgument {
            name: "sigmas",
            reason: "noise levels must be positive and strictly increasing".into(),
        });
    }
    let integrand: Vec<f64> = (0..n)
        .map(|i| (mse_model[i] - mse_optimal[i]) / (sigmas[i] * sigmas[i]))
        .collect();
    let bound_nats = (1..n)
        .map(|i| 0.5 * (integrand[i] + integrand[i - 1]) * (sigmas[i] / sigmas[i - 1]).ln())
        .sum();
    let min_gap = (0..n)
        .map(|i| mse_model[i] - mse_optimal[i])
        .fold(f64::INFINITY, f64::min);
    Ok(DensityBound {
        bound_nats,
        sigma_min: sigmas[0],
        sigma_max: sigmas[n - 1],
        n_points: n,
        min_gap,
    })
}

/// `n` log-spaced noise levels from `lo` to `hi` inclusive.
pub fn log_spaced(lo: f64, hi: f64, n: usize) -> Result<Vec<f64>> {
    if !(lo > 0.0 && hi > lo && n >= 2 && hi.is_finite()) {
        return Err(Error::InvalidArgument {
            name: "log_spaced",
            reason: format!("need 0 < lo < hi and n ≥ 2, got lo {lo}, hi {hi}, n {n}"),
        });
    }
    let (a, b) = (lo.ln(), hi.ln());
    Ok((0..n)
        .map(|i| (a + (b - a) * i as f64 / (n - 1) as f64).exp())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Data p = N(0, a²I_d), model p_θ = N(0, b²I_d): the optimal denoiser shrinks by
    /// a²/(a²+σ²), the model's by b²/(b²+σ²), and both MSEs have closed forms on data from p.
    fn gaussian_mses(a: f64, b: f64, d: f64, sigmas: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (a2, b2) = (a * a, b * b);
        let model = sigmas
            .iter()
            .map(|s| {
                let s2 = s * s;
                let l = b2 / (b2 + s2);
                d * ((1.0 - l).powi(2) * a2 + l * l * s2)
            })
            .collect();
        let opt = sigmas
            .iter()
            .map(|s| d * a2 * s * s / (a2 + s * s))
            .collect();
        (model, opt)
    }

    #[test]
    fn gaussian_priors_match_the_closed_form_kl() {
        // For Gaussians the bound is tight: D_KL = d/2 (a²/b² − 1 − ln(a²/b²)).
        let sigmas = log_spaced(1e-4, 1e4, 2000).expect("grid");
        for (a, b) in [(1.0, 0.5), (0.3, 0.9)] {
            let d = 16.0;
            let (model, opt) = gaussian_mses(a, b, d, &sigmas);
            let r = density_bound(&sigmas, &model, &opt).expect("bound");
            let q: f64 = a * a / (b * b);
            let kl = d / 2.0 * (q - 1.0 - q.ln());
            assert!(
                (r.bound_nats - kl).abs() < 1e-3 * kl,
                "{} vs {kl}",
                r.bound_nats
            );
            assert!(r.min_gap >= 0.0);
        }
        // The same model is no gap at all.
        let (_, opt) = gaussian_mses(1.0, 1.0, 4.0, &sigmas);
        let r = density_bound(&sigmas, &opt, &opt).expect("bound");
        assert_eq!(r.bound_nats, 0.0);
    }

    #[test]
    fn bad_grids_are_errors() {
        assert!(density_bound(&[0.1, 0.05], &[1.0, 1.0], &[0.0, 0.0]).is_err());
        assert!(density_bound(&[0.1], &[1.0], &[0.0]).is_err());
        assert!(density_bound(&[0.1, 0.2], &[1.0], &[0.0, 0.0]).is_err());
        assert!(density_bound(&[0.1, 0.2], &[1.0, f64::NAN], &[0.0, 0.0]).is_err());
        assert!(log_spaced(0.0, 1.0, 3).is_err());
    }
}
