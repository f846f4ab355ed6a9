//! Cross-module check (PAPER.md §5 and §9): the oracle shrinkage in a fixed basis, run as a linear
//! denoiser, has that basis as its Jacobian eigenvectors, the oracle factors as eigenvalues, and
//! tr ∇f·σ² as its error on the clean image's coefficients.

use anyhow::Context;
use gahb_analysis::{
    eigh_sym, jacobian, oracle_error, oracle_shrinkage, BasisKind, EighBackend, JacobianConfig,
    Transform2d,
};
use gahb_tensor::convert::array_to_tensor_f64;
use gahb_tensor::LinearDenoiser;
use ndarray::{Array1, Array2};
use tch::{Kind, Tensor};

#[test]
fn oracle_shrinkage_denoiser_has_the_basis_as_its_gahb() -> anyhow::Result<()> {
    let (h, w) = (4usize, 8usize);
    let x = Array2::from_shape_fn((h, w), |(i, j)| if j + i < 5 { 0.8 } else { 0.2 });
    let sigma = 0.1;
    let t = Transform2d::new(BasisKind::Daubechies4 { depth: 2 }, h, w)?;
    let b = t.matrix()?; // rows are basis vectors
    let c = t.forward(x.view())?;
    let coeffs: Vec<f64> = c.iter().copied().collect();
    let lambda = oracle_shrinkage(&coeffs, sigma);
    // f(y) = Bᵀ diag(λ) B y.
    let m = b
        .t()
        .dot(&Array2::from_diag(&Array1::from(lambda.clone())))
        .dot(&b);
    let f = LinearDenoiser::new(&array_to_tensor_f64(&m), [1, h as i64, w as i64])?;
    let y = Tensor::randn([1, 1, h as i64, w as i64], (Kind::Float, tch::Device::Cpu));
    let r = jacobian(&f, &y, &JacobianConfig::default())?;
    assert!(r.summary.asymmetry < 1e-6);
    let e = eigh_sym(&r.jacobian, EighBackend::Torch)?;
    let mut sorted = lambda.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let got = e.values_vec()?;
    for (g, s) in got.iter().zip(&sorted) {
        assert!((g - s).abs() < 1e-5, "{g} vs {s}");
    }
    let tr = e.effective_dimension()?;
    assert!((sigma * sigma * tr - oracle_error(&coeffs, sigma)).abs() < 1e-6);
    // The leading eigenvector is (up to sign) the basis vector with the largest coefficient.
    let k_max = coeffs
        .iter()
        .enumerate()
        .max_by(|a, b| (a.1 * a.1).total_cmp(&(b.1 * b.1)))
        .context("non-empty")?
        .0;
    let e0 = Vec::<f64>::try_from(e.vectors.select(1, 0))?;
    let dot: f64 = e0.iter().zip(b.row(k_max)).map(|(u, v)| u * v).sum();
    assert!(dot.abs() > 1.0 - 1e-4, "overlap {dot}");
    Ok(())
}
