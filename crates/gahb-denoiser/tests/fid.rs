//! Fréchet distance tests (issue 12) against closed forms: sampled Gaussians with diagonal and with
//! commuting (rotated) covariances, exact 2×2 moments that do not commute, FD(X, X) = 0 even for
//! singular covariances, symmetry, a shifted mean adding ‖Δμ‖², and the input errors.

use anyhow::Result;
use gahb_denoiser::fid::psd_sqrt;
use gahb_denoiser::{frechet_distance, frechet_distance_stats, Error, FeatureStats};
use tch::{Device, Kind, Tensor};

/// The tests draw from libtorch's global generator after seeding it, so they run one at a time.
static GLOBAL_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    tch::set_num_threads(1);
    GLOBAL_RNG.lock().unwrap_or_else(|e| e.into_inner())
}

const F64: (Kind, Device) = (Kind::Double, Device::Cpu);

fn t(v: &[f64]) -> Tensor {
    Tensor::from_slice(v)
}

/// `n` samples `[n, f]` of N(mean, diag(sd²)), rotated by `rot` (`[f, f]` orthogonal) when given.
fn gaussian(n: i64, mean: &[f64], sd: &[f64], rot: Option<&Tensor>) -> Tensor {
    let f = mean.len() as i64;
    let z = Tensor::randn([n, f], F64) * t(sd) + t(mean);
    match rot {
        Some(q) => z.matmul(&q.tr()),
        None => z,
    }
}

/// ‖μ₁ − μ₂‖² + Σᵢ (σ₁ᵢ − σ₂ᵢ)²: the Fréchet distance of Gaussians with diagonal covariances
/// (also of the same Gaussians rotated by one orthogonal matrix).
fn diagonal_formula(m1: &[f64], s1: &[f64], m2: &[f64], s2: &[f64]) -> f64 {
    let mean: f64 = m1.iter().zip(m2).map(|(a, b)| (a - b).powi(2)).sum();
    let cov: f64 = s1.iter().zip(s2).map(|(a, b)| (a - b).powi(2)).sum();
    mean + cov
}

const M1: [f64; 4] = [0.0, 1.0, -1.0, 2.0];
const S1: [f64; 4] = [1.0, 2.0, 0.5, 1.5];
const M2: [f64; 4] = [1.0, 1.0, 0.0, 2.5];
const S2: [f64; 4] = [2.0, 1.0, 0.5, 1.0];
/// Samples per set. The estimate's error is dominated by the mean term, whose standard deviation
/// is about 2‖Δμ‖·√(tr(Σ₁ + Σ₂)/n) ≈ 0.03 here; the tolerance is about 3 of those.
const N: i64 = 50_000;
const SAMPLED_TOL: f64 = 0.1;

#[test]
fn sampled_diagonal_gaussians_match_the_formula() -> Result<()> {
    let _g = serial();
    tch::manual_seed(11);
    let a = gaussian(N, &M1, &S1, None);
    let b = gaussian(N, &M2, &S2, None);
    let expected = diagonal_formula(&M1, &S1, &M2, &S2); // 4.5
    let got = frechet_distance(&a, &b)?;
    println!("diagonal: FD {got:.4}, formula {expected}");
    assert!(
        (got - expected).abs() < SAMPLED_TOL,
        "FD {got}, formula {expected}"
    );
    Ok(())
}

#[test]
fn sampled_rotated_gaussians_match_the_formula() -> Result<()> {
    let _g = serial();
    tch::manual_seed(12);
    // One random rotation for both sets: the covariances Q D Qᵀ commute but are not diagonal.
    let (q, _) = Tensor::linalg_qr(&Tensor::randn([4, 4], F64), "reduced");
    let a = gaussian(N, &M1, &S1, Some(&q));
    let b = gaussian(N, &M2, &S2, Some(&q));
    let expected = diagonal_formula(&M1, &S1, &M2, &S2);
    let got = frechet_distance(&a, &b)?;
    println!("rotated: FD {got:.4}, formula {expected}");
    assert!(
        (got - expected).abs() < SAMPLED_TOL,
        "FD {got}, formula {expected}"
    );
    Ok(())
}

/// For 2×2 PSD matrices tr √M = √(tr M + 2√det M), so the cross term of non-commuting A and B is
/// √(tr(AB) + 2√(det A det B)).
#[test]
fn exact_non_commuting_moments_match_the_2x2_formula() -> Result<()> {
    let a = [2.0, 0.6, 0.6, 1.0];
    let b = [0.5, -0.3, -0.3, 3.0];
    let (m1, m2) = ([1.0, -2.0], [0.5, 0.0]);
    let sa = FeatureStats::from_moments(&t(&m1), &t(&a).reshape([2, 2]))?;
    let sb = FeatureStats::from_moments(&t(&m2), &t(&b).reshape([2, 2]))?;
    let tr_ab = a[0] * b[0] + a[1] * b[2] + a[2] * b[1] + a[3] * b[3];
    let det = |m: [f64; 4]| m[0] * m[3] - m[1] * m[2];
    let cross = (tr_ab + 2.0 * (det(a) * det(b)).sqrt()).sqrt();
    let mean = (m1[0] - m2[0]).powi(2) + (m1[1] - m2[1]).powi(2);
    let expected = mean + a[0] + a[3] + b[0] + b[3] - 2.0 * cross;
    let got = frechet_distance_stats(&sa, &sb)?;
    assert!(
        (got - expected).abs() < 1e-12,
        "FD {got}, formula {expected}"
    );
    let back = frechet_distance_stats(&sb, &sa)?;
    assert!(
        (back - expected).abs() < 1e-12,
        "FD {back}, formula {expected}"
    );
    Ok(())
}

#[test]
fn identical_sets_are_at_distance_zero() -> Result<()> {
    let _g = serial();
    tch::manual_seed(13);
    // Full-rank covariance, then a singular one (5 points in 16 dimensions, rank 4).
    for (n, f) in [(200, 8), (5, 16)] {
        let x = Tensor::randn([n, f], F64) * 3.0 + 1.0;
        let fd = frechet_distance(&x, &x)?;
        let scale = FeatureStats::from_features(&x)?
            .cov()
            .trace()
            .double_value(&[]);
        assert!(
            fd.is_finite() && fd.abs() < 1e-9 * scale,
            "FD(X, X) = {fd} for [{n}, {f}]"
        );
    }
    Ok(())
}

#[test]
fn distance_is_symmetric() -> Result<()> {
    let _g = serial();
    tch::manual_seed(14);
    // Correlated, non-commuting covariances.
    let x = Tensor::randn([300, 6], F64).matmul(&Tensor::randn([6, 6], F64));
    let y = Tensor::randn([250, 6], F64).matmul(&Tensor::randn([6, 6], F64)) + 0.5;
    let (xy, yx) = (frechet_distance(&x, &y)?, frechet_distance(&y, &x)?);
    assert!(xy > 1.0, "the sets should differ, FD {xy}");
    assert!(
        (xy - yx).abs() < 1e-9 * xy,
        "FD(X, Y) = {xy}, FD(Y, X) = {yx}"
    );
    Ok(())
}

#[test]
fn shifted_mean_adds_its_squared_norm() -> Result<()> {
    let _g = serial();
    tch::manual_seed(15);
    let x = Tensor::randn([100, 5], F64).matmul(&Tensor::randn([5, 5], F64));
    let delta = [0.5, -1.0, 2.0, 0.0, 0.25];
    let fd = frechet_distance(&x, &(&x + t(&delta)))?;
    let expected: f64 = delta.iter().map(|d| d * d).sum();
    assert!((fd - expected).abs() < 1e-9, "FD {fd}, ‖Δμ‖² {expected}");
    // Single-precision features give the same answer to float rounding.
    let fd32 = frechet_distance(
        &x.to_kind(Kind::Float),
        &(&x + t(&delta)).to_kind(Kind::Float),
    )?;
    assert!(
        (fd32 - expected).abs() < 1e-4,
        "f32: FD {fd32}, ‖Δμ‖² {expected}"
    );
    Ok(())
}

#[test]
fn psd_sqrt_squares_back() -> Result<()> {
    let _g = serial();
    tch::manual_seed(16);
    let a = Tensor::randn([6, 4], F64);
    let m = a.matmul(&a.tr()); // rank 4 of 6
    let r = psd_sqrt(&m)?;
    let diff = (r.matmul(&r) - &m).abs().max().double_value(&[]);
    assert!(diff < 1e-10, "|√M√M − M| = {diff}");
    let asym = (&r - r.tr()).abs().max().double_value(&[]);
    assert!(asym < 1e-12, "√M is not symmetric: {asym}");
    Ok(())
}

fn check<T: std::fmt::Debug>(r: gahb_denoiser::Result<T>, needle: &str) -> Error {
    let err = r.expect_err("bad input should be rejected");
    let text = err.to_string();
    assert!(
        text.contains(needle),
        "{text:?} does not contain {needle:?}"
    );
    assert!(!text.contains('\n'), "{text:?} is not one line");
    err
}

#[test]
fn bad_inputs_are_named() {
    let x = Tensor::ones([10, 3], F64);
    check(
        frechet_distance(&x, &Tensor::ones([10, 4], F64)),
        "features of dimension 3 in both sets",
    );
    let err = check(
        frechet_distance(&x, &Tensor::ones([1, 3], F64)),
        "needs at least 2 samples, got 1",
    );
    assert!(matches!(
        err,
        Error::TooFewSamples {
            got: 1,
            need: 2,
            ..
        }
    ));
    check(frechet_distance(&Tensor::ones([10], F64), &x), "got [10]");
    let nan = Tensor::ones([10, 3], F64);
    let _ = nan.get(4).get(2).fill_(f64::NAN);
    check(
        frechet_distance(&x, &nan),
        "features: the non-finite value NaN at flat index 14",
    );
    check(
        FeatureStats::from_moments(&t(&[0.0, 0.0]), &t(&[1.0, 0.5, 0.0, 1.0]).reshape([2, 2])),
        "not symmetric",
    );
    check(
        FeatureStats::from_moments(&t(&[0.0, 0.0]), &t(&[1.0, 2.0, 2.0, 1.0]).reshape([2, 2])),
        "not positive semi-definite (eigenvalue -1",
    );
    check(
        FeatureStats::from_moments(&t(&[0.0, 0.0]), &Tensor::eye(3, F64)),
        "a covariance of shape [2, 2]",
    );
}
