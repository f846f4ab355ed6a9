//! Shared fixtures of the integration tests: a Gaussian prior with a decaying spectrum and a
//! small training set (PAPER.md §10 known answers).

#![allow(dead_code)]

use gahb_diffusion::{GaussianWiener, NoiseLevel};
use tch::{Kind, Tensor};

/// The non-zero covariance eigenvalues of [`gaussian_prior`]: top·ratio^k for k < rank.
pub fn prior_spectrum(rank: i64, top: f64, ratio: f64) -> Vec<f64> {
    (0..rank).map(|k| top * ratio.powi(k as i32)).collect()
}

/// A Gaussian prior on `[1, side, side]` images: a random orthonormal basis (seeded QR) with
/// variances `top`·`ratio`^k for the first `rank` directions and 0 for the others, and a mean
/// around 0.5.
pub fn gaussian_prior(
    side: i64,
    seed: i64,
    rank: i64,
    top: f64,
    ratio: f64,
    noise: NoiseLevel,
) -> GaussianWiener {
    let d = side * side;
    let a =
        gahb_tensor::random::normal_like(seed as u64 * 100, &[d, d], Kind::Double).expect("draw");
    let (q, _) = Tensor::linalg_qr(&a, "reduced");
    let mut lam = prior_spectrum(rank, top, ratio);
    lam.resize(d as usize, 0.0);
    let lam = Tensor::from_slice(&lam);
    let cov = q.matmul(&lam.diag(0)).matmul(&q.tr());
    let cov = (&cov + cov.tr()) * 0.5;
    let mean = gahb_tensor::random::normal_like(seed as u64 * 100 + 1, &[d], Kind::Double)
        .expect("draw")
        * 0.1
        + 0.5;
    GaussianWiener::new(&mean, &cov, [1, side, side], noise).expect("valid prior")
}

/// `n` smooth, distinct training images `[n, 1, side, side]` in [0, 1].
pub fn training_set(n: i64, side: i64, seed: i64) -> Tensor {
    let coarse = gahb_tensor::random::uniform_like(seed as u64 * 100, &[n, 1, 4, 4], Kind::Float)
        .expect("draw");
    coarse.upsample_bilinear2d([side, side], false, None, None)
}

/// The sample mean `[d]` and covariance `[d, d]` (f64) of a batch `[n, ...]`.
pub fn moments(x: &Tensor) -> (Tensor, Tensor) {
    let n = x.size()[0];
    let flat = x.reshape([n, -1]).to_kind(Kind::Double);
    let mean = flat.mean_dim(Some([0i64].as_slice()), false, Kind::Double);
    let c = &flat - &mean;
    let cov = c.tr().matmul(&c) / (n - 1) as f64;
    (mean, cov)
}

/// Relative Frobenius distance ‖a − b‖/‖b‖.
pub fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).norm().double_value(&[]) / b.norm().double_value(&[])
}

/// Runs libtorch on one thread in the calling test thread: the tensors here are tiny, and on a
/// shared, oversubscribed machine OpenMP's spinning threads make them 10-30× slower.
pub fn single_thread() {
    tch::set_num_threads(1);
}
