//! Oracle shrinkage in a fixed orthonormal basis (PAPER.md §9, Eqs. 11-13, App. D.4).
//!
//! For coefficients c_k = ⟨x, e_k⟩ of a clean image and noise level σ:
//! - a diagonal shrinkage λ_k has error Σ_k [(1−λ_k)² c_k² + λ_k² σ²] ([`shrinkage_error`]);
//! - it is minimised by the oracle λ_k = c_k²/(c_k² + σ²) ([`oracle_shrinkage`]), with error
//!   σ² Σ_k λ_k ([`oracle_error`]);
//! - that error lies between ½ and 1 times Σ_k min(c_k², σ²) = Mσ² + ‖x − x_M‖², the M-term
//!   approximation error, where x_M keeps the M coefficients with c_k² > σ² ([`m_term_error`]).
//!
//! [`oracle_mse_curve`] evaluates these per σ for a set of images in a [`Transform2d`] basis, as
//! per-pixel MSE and PSNR on the [0, 1] scale (PAPER.md §3), to set beside a denoiser's curve.

use ndarray::ArrayView4;
use serde::{Deserialize, Serialize};

use crate::bases::Transform2d;
use crate::error::{Error, Result};

/// λ_k = c_k²/(c_k² + σ²) (1 where c_k = 0 and σ = 0).
pub fn oracle_shrinkage(coeffs: &[f64], sigma: f64) -> Vec<f64> {
    let s2 = sigma * sigma;
    coeffs
        .iter()
        .map(|c| {
            let c2 = c * c;
            if c2 + s2 == 0.0 {
                1.0
            } else {
                c2 / (c2 + s2)
            }
        })
        .collect()
}

/// σ² Σ_k λ_k, the oracle's expected squared error ‖x̂ − x‖² (summed over coefficients).
pub fn oracle_error(coeffs: &[f64], sigma: f64) -> f64 {
    sigma * sigma * oracle_shrinkage(coeffs, sigma).iter().sum::<f64>()
}

/// Σ_k [(1−λ_k)² c_k² + λ_k² σ²], the expected squared error of the diagonal shrinkage λ.
pub fn shrinkage_error(coeffs: &[f64], lambdas: &[f64], sigma: f64) -> Result<f64> {
    if coeffs.len() != lambdas.len() {
        return Err(Error::ShapeMismatch {
            op: "shrinkage_error",
            expected: format!("{} shrinkage factors", coeffs.len()),
            got: vec![lambdas.len() as i64],
        });
    }
    let s2 = sigma * sigma;
    Ok(coeffs
        .iter()
        .zip(lambdas)
        .map(|(c, l)| (1.0 - l).powi(2) * c * c + l * l * s2)
        .sum())
}

/// The M-term approximation error at noise level σ.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MTerm {
    /// M, the number of coefficients with c_k² > σ².
    pub m: usize,
    /// ‖x − x_M‖², the energy of the other coefficients.
    pub tail_energy: f64,
    /// Mσ² + ‖x − x_M‖² = Σ_k min(c_k², σ²).
    pub error: f64,
}

/// Mσ² + ‖x − x_M‖², with x_M the coefficients with c_k² > σ².
pub fn m_term_error(coeffs: &[f64], sigma: f64) -> MTerm {
    let s2 = sigma * sigma;
    let m = coeffs.iter().filter(|c| *c * *c > s2).count();
    let tail_energy: f64 = coeffs.iter().map(|c| c * c).filter(|c2| *c2 <= s2).sum();
    MTerm {
        m,
        tail_energy,
        error: m as f64 * s2 + tail_energy,
    }
}

/// The oracle's and the M-term approximation's errors at one σ, averaged over a set of images.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OraclePoint {
    /// The noise level.
    pub sigma: f64,
    /// −20·log10 σ, in dB.
    pub input_psnr_db: f64,
    /// Mean over images of the oracle's per-pixel MSE, σ²Σλ_k/d.
    pub oracle_mse: f64,
    /// Mean over images of the per-image oracle PSNR, 10·log10(1/MSE), in dB (PAPER.md §3).
    pub oracle_psnr_db: f64,
    /// Mean over images of the per-pixel M-term error Σ min(c_k², σ²)/d.
    pub m_term_mse: f64,
    /// Mean over images of M/d, the fraction of coefficients above the noise.
    pub m_fraction: f64,
}

/// For each σ, the oracle shrinkage error and the M-term error in `basis` for `images`
/// (`[n, c, h, w]`, on the [0, 1] scale), per pixel and averaged over images.
pub fn oracle_mse_curve(
    images: ArrayView4<f64>,
    basis: &Transform2d,
    sigmas: &[f64],
) -> Result<Vec<OraclePoint>> {
    let (n, c, h, w) = images.dim();
    if n == 0 || h * w != basis.dim() {
        return Err(Error::ShapeMismatch {
            op: "oracle_mse_curve",
            expected: format!("[n ≥ 1, c, h, w] with h·w = {}", basis.dim()),
            got: vec![n as i64, c as i64, h as i64, w as i64],
        });
    }
    if let Some(s) = sigmas.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(Error::InvalidArgument {
            name: "sigmas",
            reason: format!("noise levels must be finite and positive, got {s}"),
        });
    }
    let d = (c * h * w) as f64;
    let coeffs: Vec<Vec<f64>> = images
        .outer_iter()
        .map(|x| basis.coefficients(x).map(|a| a.to_vec()))
        .collect::<Result<_>>()?;
    Ok(sigmas
        .iter()
        .map(|&sigma| {
            let mut p = OraclePoint {
                sigma,
                input_psnr_db: -20.0 * sigma.log10(),
                oracle_mse: 0.0,
                oracle_psnr_db: 0.0,
                m_term_mse: 0.0,
                m_fraction: 0.0,
            };
            for ck in &coeffs {
                let mse = oracle_error(ck, sigma) / d;
                let mt = m_term_error(ck, sigma);
                p.oracle_mse += mse;
                p.oracle_psnr_db += -10.0 * mse.log10();
                p.m_term_mse += mt.error / d;
                p.m_fraction += mt.m as f64 / d;
            }
            let nf = n as f64;
            p.oracle_mse /= nf;
            p.oracle_psnr_db /= nf;
            p.m_term_mse /= nf;
            p.m_fraction /= nf;
            p
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use ndarray::Array4;
    use proptest::prelude::*;

    use super::*;
    use crate::bases::BasisKind;

    fn check(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b} (tolerance {tol})");
    }

    #[test]
    fn oracle_is_the_minimum_over_a_grid_of_shrinkages() {
        // Brute force on two coefficients: search λ on a fine grid for each, the best error must
        // equal σ²Σλ_k at λ_k = c_k²/(c_k² + σ²).
        let c = [0.8, -0.1];
        let sigma = 0.3;
        let lam = oracle_shrinkage(&c, sigma);
        check(lam[0], 0.64 / 0.73, 1e-15);
        let mut best = f64::INFINITY;
        for i in 0..=1000 {
            for j in 0..=1000 {
                let l = [i as f64 / 1000.0, j as f64 / 1000.0];
                best = best.min(shrinkage_error(&c, &l, sigma).expect("err"));
            }
        }
        let oracle = oracle_error(&c, sigma);
        check(
            shrinkage_error(&c, &lam, sigma).expect("err"),
            oracle,
            1e-15,
        );
        assert!(best >= oracle - 1e-15);
        check(best, oracle, 1e-6);
    }

    #[test]
    fn shrinkage_error_matches_monte_carlo() {
        // E‖λ(c + σz) − c‖² by simulation with a fixed seed, against the closed form.
        let c = [1.0, 0.2, -0.5];
        let l = [0.9, 0.3, 0.6];
        let sigma = 0.4;
        let z =
            gahb_tensor::random::normal_like(700, &[200_000, 3], tch::Kind::Double).expect("draw");
        let z = Vec::<f64>::try_from(z.flatten(0, -1)).expect("vec");
        let mut total = 0.0;
        for row in z.chunks(3) {
            for k in 0..3 {
                total += (l[k] * (c[k] + sigma * row[k]) - c[k]).powi(2);
            }
        }
        let mc = total / 200_000.0;
        check(mc, shrinkage_error(&c, &l, sigma).expect("err"), 5e-3);
        assert!(shrinkage_error(&c, &l[..2], sigma).is_err());
    }

    #[test]
    fn m_term_counts_and_tail() {
        let c = [3.0, -2.0, 0.5, 0.1, 0.0];
        let mt = m_term_error(&c, 1.0);
        assert_eq!(mt.m, 2);
        check(mt.tail_energy, 0.26, 1e-15);
        check(mt.error, 2.26, 1e-15);
    }

    #[test]
    fn curve_in_dct_basis_for_a_constant_image() {
        // A constant image 0.5 on 1×4×4: one DCT coefficient 2, the rest 0.
        // Oracle error σ²·4/(4 + σ²) over 16 pixels; M-term error min(4, σ²)/16.
        let x = Array4::from_elem((2, 1, 4, 4), 0.5);
        let t = Transform2d::new(BasisKind::Dct, 4, 4).expect("dct");
        let pts = oracle_mse_curve(x.view(), &t, &[0.1, 3.0]).expect("curve");
        check(pts[0].oracle_mse, 0.01 * 4.0 / 4.01 / 16.0, 1e-15);
        check(pts[0].m_term_mse, 0.01 / 16.0, 1e-15);
        check(pts[0].m_fraction, 1.0 / 16.0, 1e-15);
        check(pts[1].m_term_mse, 4.0 / 16.0, 1e-15);
        check(pts[0].input_psnr_db, 20.0, 1e-12);
        check(
            pts[0].oracle_psnr_db,
            -10.0 * pts[0].oracle_mse.log10(),
            1e-12,
        );
        assert!(oracle_mse_curve(x.view(), &t, &[0.0]).is_err());
        let t8 = Transform2d::new(BasisKind::Dct, 8, 8).expect("dct");
        assert!(oracle_mse_curve(x.view(), &t8, &[0.1]).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn oracle_between_half_and_one_m_term(c in prop::collection::vec(-2.0f64..2.0, 1..20), sigma in 0.01f64..1.0) {
            let o = oracle_error(&c, sigma);
            let m = m_term_error(&c, sigma).error;
            prop_assert!(o <= m + 1e-12);
            prop_assert!(o >= 0.5 * m - 1e-12);
        }
    }
}
