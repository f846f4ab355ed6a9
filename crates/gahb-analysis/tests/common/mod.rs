//! Fixtures shared by the integration tests.

use tch::{Kind, Tensor};

/// A = Q diag(λ) Qᵀ with Q from the QR of a seeded Gaussian: a symmetric matrix of known spectrum.
pub fn spectral_matrix(lambda: &[f64], seed: u64) -> Tensor {
    let d = lambda.len() as i64;
    let g = gahb_tensor::random::normal_like(seed, &[d, d], Kind::Double).expect("draw");
    let (q, _) = Tensor::linalg_qr(&g, "reduced");
    q.matmul(&(q.tr() * Tensor::from_slice(lambda).unsqueeze(1)))
}
