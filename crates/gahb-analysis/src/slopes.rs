//! PSNR slopes and optimal references (PAPER.md §6 "Theory" and "Result", §7, §11).
//!
//! The slope is the least-squares fit of output PSNR against input PSNR over the small-σ end
//! (high input PSNR); the fitted range is returned with the fit. References: a C^α class has
//! MSE ∝ σ^{2α/(α+1)}, so slope α/(α+1); the disk manifold's small-σ optimum projects onto the
//! 5-D tangent space, MSE = 5σ² in total (5σ²/d per pixel), output PSNR = input + 10·log10(d/5),
//! slope 1.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A least-squares line through (input PSNR, output PSNR) points, with its range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlopeFit {
    /// d(output PSNR)/d(input PSNR).
    pub slope: f64,
    /// Output PSNR at input PSNR 0 dB.
    pub intercept: f64,
    /// The lowest input PSNR used, in dB.
    pub min_input_db: f64,
    /// The highest input PSNR used, in dB.
    pub max_input_db: f64,
    /// How many points the fit used.
    pub n_points: usize,
    /// The coefficient of determination R².
    pub r2: f64,
}

/// Fits output PSNR against input PSNR over the points with input PSNR in
/// [`min_input_db`, `max_input_db`]; at least two distinct inputs are needed.
pub fn fit_psnr_slope(
    input_db: &[f64],
    output_db: &[f64],
    min_input_db: f64,
    max_input_db: f64,
) -> Result<SlopeFit> {
    if input_db.len() != output_db.len() {
        return Err(Error::ShapeMismatch {
            op: "fit_psnr_slope",
            expected: format!("{} output PSNRs, one per input", input_db.len()),
            got: vec![output_db.len() as i64],
        });
    }
    if input_db.iter().chain(output_db).any(|v| !v.is_finite()) {
        return Err(Error::NonFinite {
            op: "fit_psnr_slope",
        });
    }
    let pts: Vec<(f64, f64)> = input_db
        .iter()
        .zip(output_db)
        .filter(|(x, _)| **x >= min_input_db && **x <= max_input_db)
        .map(|(x, y)| (*x, *y))
        .collect();
    let n = pts.len() as f64;
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if pts.len() < 2 || sxx == 0.0 {
        return Err(Error::InvalidArgument {
            name: "fitting range",
            reason: format!(
                "[{min_input_db}, {max_input_db}] dB holds {} points with distinct inputs; at \
                 least 2 are needed",
                pts.len()
            ),
        });
    }
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let syy: f64 = pts.iter().map(|p| (p.1 - my).powi(2)).sum();
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let sse: f64 = pts
        .iter()
        .map(|p| (p.1 - intercept - slope * p.0).powi(2))
        .sum();
    Ok(SlopeFit {
        slope,
        intercept,
        min_input_db: pts.iter().map(|p| p.0).fold(f64::INFINITY, f64::min),
        max_input_db: pts.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max),
        n_points: pts.len(),
        r2: if syy > 0.0 { 1.0 - sse / syy } else { 1.0 },
    })
}

/// Fits over the `n` points with the highest input PSNR (the small-σ end).
pub fn fit_psnr_slope_small_sigma(
    input_db: &[f64],
    output_db: &[f64],
    n: usize,
) -> Result<SlopeFit> {
    let mut sorted: Vec<f64> = input_db.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(|a, b| b.total_cmp(a));
    if n < 2 || n > sorted.len() {
        return Err(Error::InvalidArgument {
            name: "n",
            reason: format!("need 2 ≤ n ≤ {} points, got {n}", sorted.len()),
        });
    }
    fit_psnr_slope(input_db, output_db, sorted[n - 1], sorted[0])
}

/// α/(α+1), the PSNR slope of the optimal denoiser for the C^α class (PAPER.md §6).
pub fn calpha_theory_slope(alpha: f64) -> f64 {
    alpha / (alpha + 1.0)
}

/// The total squared error of projecting onto an `n_params`-dimensional tangent space:
/// n_params·σ² (5σ² for disks, PAPER.md §7).
pub fn manifold_optimal_mse(sigma: f64, n_params: usize) -> f64 {
    n_params as f64 * sigma * sigma
}

/// Output PSNR of that projection for d-pixel images: input + 10·log10(d/n_params).
pub fn manifold_optimal_output_psnr(input_db: f64, d: usize, n_params: usize) -> f64 {
    input_db + 10.0 * (d as f64 / n_params as f64).log10()
}

/// The disk optimum (5 parameters): output PSNR = input + 10·log10(d/5).
pub fn disk_optimal_output_psnr(input_db: f64, d: usize) -> f64 {
    manifold_optimal_output_psnr(input_db, d, 5)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b} (tolerance {tol})");
    }

    #[test]
    fn theory_references() {
        check(calpha_theory_slope(1.0), 0.5, 1e-15);
        check(calpha_theory_slope(3.0), 0.75, 1e-15);
        // PAPER.md §7: 80×80 disks gain 31.07 dB.
        check(disk_optimal_output_psnr(10.0, 6400) - 10.0, 31.07, 5e-3);
        check(manifold_optimal_mse(0.1, 5), 0.05, 1e-15);
    }

    #[test]
    fn fit_recovers_a_known_slope_over_the_range_only() {
        // MSE ∝ σ^{2α/(α+1)} with α = 3 gives output = 0.75·input + b at small σ; the large-σ
        // points (input < 10 dB) are saturated and must be left out by the range.
        let input: Vec<f64> = (0..15).map(|i| i as f64 * 34.0 / 14.0).collect();
        let output: Vec<f64> = input
            .iter()
            .map(|&x| if x < 10.0 { 12.0 } else { 0.75 * x + 5.0 })
            .collect();
        let fit = fit_psnr_slope(&input, &output, 10.0, 34.0).expect("fit");
        check(fit.slope, 0.75, 1e-12);
        check(fit.intercept, 5.0, 1e-10);
        check(fit.r2, 1.0, 1e-12);
        assert_eq!(fit.n_points, 10);
        check(fit.max_input_db, 34.0, 1e-12);
        let top = fit_psnr_slope_small_sigma(&input, &output, 5).expect("fit");
        check(top.slope, 0.75, 1e-12);
        let all = fit_psnr_slope(&input, &output, 0.0, 40.0).expect("fit");
        assert!(
            (all.slope - 0.75).abs() > 0.05,
            "saturation bends the full-range fit"
        );
        assert!(fit_psnr_slope(&input, &output, 40.0, 50.0).is_err());
        assert!(fit_psnr_slope(&input, &output[..3], 0.0, 40.0).is_err());
        assert!(fit_psnr_slope_small_sigma(&input, &output, 1).is_err());
    }
}
