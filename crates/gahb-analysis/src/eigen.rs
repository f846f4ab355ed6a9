//! Eigendecomposition of the symmetric part of a Jacobian (PAPER.md §5, "Eigendecomposition" and
//! "Plots"; §10 "Bias-free expansion" f(y) = Σ_k λ_k⟨y, e_k⟩e_k).
//!
//! The paper treats ∇f as symmetric; the network's Jacobian is nearly so, and we decompose
//! (J + Jᵀ)/2. Eigenvalues are returned in descending order (the shrinkage factors λ_k, which may
//! exceed 1), eigenvectors e_k are orthonormal columns, tr ∇f = Σ_k λ_k is the effective dimension
//! (Eq. 10), and ⟨x, e_k⟩ are the clean image's coefficients in the adaptive basis.
//!
//! The default backend is libtorch's `linalg_eigh` in f64 on the matrix's device (12-15× faster
//! than LAPACK's dsyev through ndarray-linalg, and it runs on CUDA). With the `lapack` cargo
//! feature, `EighBackend::Lapack` runs ndarray-linalg's `eigh` on the CPU for cross-checks.

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::error::{Error, Result};
use crate::jacobian::check_square;

/// Which library decomposes the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EighBackend {
    /// libtorch `linalg_eigh`, f64, on the matrix's device.
    #[default]
    Torch,
    /// libtorch `linalg_eigh` in f32 (about 2× faster, about 1e-6 relative accuracy).
    TorchF32,
    /// LAPACK `dsyev` through ndarray-linalg, f64, on the CPU (cargo feature `lapack`).
    #[cfg(feature = "lapack")]
    Lapack,
}

/// Eigenpairs of a symmetric matrix, largest eigenvalue first.
#[derive(Debug)]
pub struct Eigen {
    /// λ_k, `[n]`, f64, descending.
    pub values: Tensor,
    /// e_k as columns, `[d, n]`, f64, orthonormal.
    pub vectors: Tensor,
}

impl Eigen {
    /// The number of eigenpairs held.
    pub fn len(&self) -> usize {
        self.values.size()[0] as usize
    }

    /// True when no eigenpair is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The dimension d of the eigenvectors.
    pub fn dim(&self) -> usize {
        self.vectors.size()[0] as usize
    }

    /// The eigenvalues as a vector, descending.
    pub fn values_vec(&self) -> Result<Vec<f64>> {
        Ok(Vec::<f64>::try_from(
            &self.values.f_to_device(tch::Device::Cpu)?,
        )?)
    }

    /// The k leading eigenpairs; k > the number held is an error.
    pub fn top(&self, k: usize) -> Result<Eigen> {
        if k > self.len() {
            return Err(Error::TooManyEigenpairs {
                op: "Eigen::top",
                k,
                d: self.len(),
            });
        }
        Ok(Eigen {
            values: self.values.f_narrow(0, 0, k as i64)?,
            vectors: self.vectors.f_narrow(1, 0, k as i64)?,
        })
    }

    /// Σ_k λ_k: tr ∇f when all d eigenvalues are held, the effective dimension (PAPER.md Eq. 10).
    pub fn effective_dimension(&self) -> Result<f64> {
        Ok(self.values.f_sum(Kind::Double)?.f_double_value(&[])?)
    }

    /// ⟨x, e_k⟩ for a clean image x with d pixels (any shape): `[n]`, f64.
    pub fn signal_coefficients(&self, x: &Tensor) -> Result<Tensor> {
        if x.numel() != self.dim() {
            return Err(Error::ShapeMismatch {
                op: "signal_coefficients",
                expected: format!("an image of {} pixels", self.dim()),
                got: x.size(),
            });
        }
        let x = x
            .f_to_device(self.vectors.device())?
            .f_to_kind(Kind::Double)?
            .f_reshape([-1])?;
        Ok(self.vectors.f_tr()?.f_mv(&x)?)
    }

    /// The k-th eigenvector as an image of shape `[c, h, w]` (PAPER.md Figs. 3-5).
    pub fn eigenvector_image(&self, k: usize, shape: [i64; 3]) -> Result<Tensor> {
        if k >= self.len() {
            return Err(Error::TooManyEigenpairs {
                op: "eigenvector_image",
                k: k + 1,
                d: self.len(),
            });
        }
        let d: i64 = shape.iter().product();
        if d as usize != self.dim() {
            return Err(Error::ShapeMismatch {
                op: "eigenvector_image",
                expected: format!("an image shape with {} pixels", self.dim()),
                got: shape.to_vec(),
            });
        }
        Ok(self.vectors.f_select(1, k as i64)?.f_reshape(shape)?)
    }

    /// Σ_k λ_k ⟨y, e_k⟩ e_k, the bias-free expansion of f(y) (PAPER.md §10), as a flat `[d]` f64.
    pub fn expand(&self, y: &Tensor) -> Result<Tensor> {
        let c = self.signal_coefficients(y)?;
        Ok(self.vectors.f_mv(&(&c * &self.values))?)
    }
}

/// (J + Jᵀ)/2 of a square matrix, in f64.
pub fn symmetric_part(j: &Tensor) -> Result<Tensor> {
    check_square(j, "symmetric_part")?;
    let j = j.f_to_kind(Kind::Double)?;
    Ok(((&j + j.f_tr()?) * 0.5).f_contiguous()?)
}

/// Eigendecomposition of the symmetric part (J + Jᵀ)/2 of a square matrix: all d eigenpairs,
/// eigenvalues descending. Non-square and non-finite inputs are errors.
pub fn eigh_sym(j: &Tensor, backend: EighBackend) -> Result<Eigen> {
    check_square(j, "eigh_sym")?;
    if !bool::try_from(j.f_isfinite()?.f_all()?)? {
        return Err(Error::NonFinite { op: "eigh_sym" });
    }
    let s = symmetric_part(j)?;
    let (values, vectors) = match backend {
        EighBackend::Torch => s.f_linalg_eigh("L")?,
        EighBackend::TorchF32 => {
            let (v, e) = s.f_to_kind(Kind::Float)?.f_linalg_eigh("L")?;
            (v.f_to_kind(Kind::Double)?, e.f_to_kind(Kind::Double)?)
        }
        #[cfg(feature = "lapack")]
        EighBackend::Lapack => lapack::eigh(&s)?,
    };
    // Both libraries return ascending eigenvalues; flip to descending.
    Ok(Eigen {
        values: values.f_flip([0])?.f_contiguous()?,
        vectors: vectors.f_flip([1])?.f_contiguous()?,
    })
}

/// The k leading eigenpairs of (J + Jᵀ)/2; k > d is an error.
pub fn eigh_sym_top(j: &Tensor, k: usize, backend: EighBackend) -> Result<Eigen> {
    let d = check_square(j, "eigh_sym_top")?;
    if k > d {
        return Err(Error::TooManyEigenpairs {
            op: "eigh_sym_top",
            k,
            d,
        });
    }
    eigh_sym(j, backend)?.top(k)
}

#[cfg(feature = "lapack")]
mod lapack {
    //! The LAPACK backend: copies to an f64 ndarray on the CPU and calls ndarray-linalg's `eigh`.

    use gahb_tensor::convert::{array_to_tensor_f64, tensor_to_arrayd_f64};
    use ndarray::Ix2;
    use ndarray_linalg::{Eigh, UPLO};
    use tch::Tensor;

    use crate::error::Result;

    pub(super) fn eigh(s: &Tensor) -> Result<(Tensor, Tensor)> {
        let device = s.device();
        let a = tensor_to_arrayd_f64(s)?.into_dimensionality::<Ix2>()?;
        let (values, vectors) = a.eigh(UPLO::Lower)?;
        Ok((
            array_to_tensor_f64(&values).f_to_device(device)?,
            array_to_tensor_f64(&vectors).f_to_device(device)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use gahb_tensor::LinearDenoiser;
    use proptest::prelude::*;
    use tch::Device;

    use super::*;
    use crate::jacobian::{jacobian, JacobianConfig};

    const CPU: (Kind, Device) = (Kind::Double, Device::Cpu);

    fn check(a: &Tensor, b: &Tensor, tol: f64) {
        let diff = (a.to_kind(Kind::Double) - b.to_kind(Kind::Double))
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff <= tol, "max difference {diff} > {tol}");
    }

    /// A random orthogonal matrix (QR of a Gaussian matrix).
    fn orthogonal(d: i64, seed: u64) -> Tensor {
        let a = gahb_tensor::random::normal_like(seed, &[d, d], Kind::Double).expect("draw");
        let (q, _) = Tensor::linalg_qr(&a, "reduced");
        q
    }

    fn backends() -> Vec<EighBackend> {
        vec![
            EighBackend::Torch,
            #[cfg(feature = "lapack")]
            EighBackend::Lapack,
        ]
    }

    /// Eigenvectors orthonormal and S e_k = λ_k e_k, with S the symmetric part.
    fn check_eigenpairs(j: &Tensor, e: &Eigen, tol: f64) {
        let n = e.len() as i64;
        let s = symmetric_part(j).expect("sym");
        check(
            &e.vectors.tr().matmul(&e.vectors),
            &Tensor::eye(n, CPU),
            tol,
        );
        check(&s.matmul(&e.vectors), &(&e.vectors * &e.values), tol);
        let v = e.values_vec().expect("values");
        assert!(v.windows(2).all(|w| w[0] >= w[1]), "not descending: {v:?}");
    }

    #[test]
    fn known_symmetric_matrix_gives_its_eigenpairs() {
        let q = orthogonal(10, 300);
        let lambda: Vec<f64> = (0..10).map(|k| 1.3 - 0.15 * k as f64).collect();
        let a = q
            .matmul(&Tensor::from_slice(&lambda).diag(0))
            .matmul(&q.tr());
        for backend in backends() {
            let e = eigh_sym(&a, backend).expect("eigh");
            check(&e.values, &Tensor::from_slice(&lambda), 1e-12);
            check_eigenpairs(&a, &e, 1e-12);
            // Each e_k is ±q_k.
            let overlap = q.tr().matmul(&e.vectors).abs();
            check(&overlap, &Tensor::eye(10, CPU), 1e-10);
            assert!(
                (e.effective_dimension().expect("tr") - lambda.iter().sum::<f64>()).abs() < 1e-12
            );
        }
    }

    #[test]
    fn projection_jacobian_has_k_unit_eigenvalues() {
        // f(y) = P y with P the projection onto a 3-dimensional subspace of 2×4×4 images (d = 32).
        let u = orthogonal(32, 401).narrow(1, 0, 3);
        let p = u.matmul(&u.tr());
        let f = LinearDenoiser::new(&p, [2, 4, 4]).expect("denoiser");
        let y = gahb_tensor::random::normal_like(400, &[1, 2, 4, 4], Kind::Float).expect("draw");
        let r = jacobian(&f, &y, &JacobianConfig::default()).expect("jacobian");
        assert!(r.summary.asymmetry < 1e-6);
        for backend in backends() {
            let e = eigh_sym(&r.jacobian, backend).expect("eigh");
            let v = e.values_vec().expect("values");
            for (k, l) in v.iter().enumerate() {
                let want = if k < 3 { 1.0 } else { 0.0 };
                assert!((l - want).abs() < 1e-6, "λ_{k} = {l}");
            }
            assert!((e.effective_dimension().expect("tr") - 3.0).abs() < 1e-5);
            check_eigenpairs(&r.jacobian, &e, 1e-6);
            // The top 3 eigenvectors span the subspace: their projector is P.
            let top = e.top(3).expect("top");
            check(&top.vectors.matmul(&top.vectors.tr()), &p, 1e-5);
            // A clean image in the subspace has all its energy in the first 3 coefficients.
            let x = u.mv(&Tensor::from_slice(&[1.0f64, -2.0, 0.5]));
            let c = e.signal_coefficients(&x).expect("coeffs");
            let c2: f64 = c
                .narrow(0, 0, 3)
                .square()
                .sum(Kind::Double)
                .double_value(&[]);
            assert!((c2 - 5.25).abs() < 1e-5, "{c2}");
            assert!(c.narrow(0, 3, 29).abs().max().double_value(&[]) < 1e-5);
        }
    }

    #[test]
    fn nonsymmetric_matrix_decomposes_its_symmetric_part_and_expands() {
        let j = gahb_tensor::random::normal_like(500, &[8, 8], Kind::Double).expect("draw");
        let e = eigh_sym(&j, EighBackend::Torch).expect("eigh");
        check_eigenpairs(&j, &e, 1e-10);
        let img = e.eigenvector_image(2, [2, 2, 2]).expect("image");
        assert_eq!(img.size(), vec![2, 2, 2]);
        // Σ λ_k ⟨y, e_k⟩ e_k = S y.
        let y = gahb_tensor::random::normal_like(501, &[8], Kind::Double).expect("draw");
        check(
            &e.expand(&y).expect("expand"),
            &symmetric_part(&j).expect("S").mv(&y),
            1e-10,
        );
        let f32e = eigh_sym(&j, EighBackend::TorchF32).expect("f32");
        check(&f32e.values, &e.values, 1e-4);
    }

    #[test]
    fn bad_input_is_an_error() {
        let rect = Tensor::zeros([3, 4], CPU);
        assert!(matches!(
            eigh_sym(&rect, EighBackend::Torch),
            Err(Error::NotSquare { .. })
        ));
        let nan = Tensor::from_slice(&[1.0f64, f64::NAN, 0.0, 1.0]).reshape([2, 2]);
        assert!(matches!(
            eigh_sym(&nan, EighBackend::Torch),
            Err(Error::NonFinite { .. })
        ));
        let eye = Tensor::eye(3, CPU);
        assert!(matches!(
            eigh_sym_top(&eye, 4, EighBackend::Torch),
            Err(Error::TooManyEigenpairs { k: 4, d: 3, .. })
        ));
        let e = eigh_sym(&eye, EighBackend::Torch).expect("eigh");
        assert!(e.top(4).is_err());
        assert!(e.eigenvector_image(3, [1, 1, 3]).is_err());
        assert!(e.signal_coefficients(&Tensor::zeros([4], CPU)).is_err());
    }

    #[cfg(feature = "lapack")]
    #[test]
    fn lapack_and_torch_backends_agree() {
        let j = gahb_tensor::random::normal_like(600, &[24, 24], Kind::Double).expect("draw");
        let a = eigh_sym(&j, EighBackend::Torch).expect("torch");
        let b = eigh_sym(&j, EighBackend::Lapack).expect("lapack");
        check(&a.values, &b.values, 1e-10);
        // Eigenvectors agree up to sign.
        let overlap = a.vectors.tr().matmul(&b.vectors).abs();
        check(&overlap, &Tensor::eye(24, CPU), 1e-8);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn eigenpairs_of_random_matrices(n in 1usize..9, data in prop::collection::vec(-3.0f64..3.0, 64)) {
            let j = Tensor::from_slice(&data[..n * n]).reshape([n as i64, n as i64]);
            let e = eigh_sym(&j, EighBackend::Torch).expect("eigh");
            check_eigenpairs(&j, &e, 1e-10);
            let tr = symmetric_part(&j).expect("S").trace().double_value(&[]);
            prop_assert!((e.effective_dimension().expect("tr") - tr).abs() < 1e-9);
        }
    }
}
