//! The top-k spectrum of a denoiser's Jacobian without forming the matrix (beyond the paper;
//! PAPER.md §5 asks for λ_k and e_k, and a full 80×80 Jacobian costs 6400 network passes).
//!
//! Block Lanczos with full reorthogonalization, in its Rayleigh-Ritz form: a Krylov basis Q of
//! the operator A is grown a block of `block_size` directions at a time (each new block is A
//! applied to the last block, orthogonalized twice against all of Q, then QR-factorized), the
//! products AQ are kept, and the Ritz pairs come from eigh of T = Qᵀ(AQ). With full
//! reorthogonalization this equals block Lanczos in exact arithmetic and stays stable in floating
//! point. Iteration stops when the k leading Ritz pairs have residuals ‖A s − θ s‖ ≤ tol·|θ_1|, or
//! at the basis cap (then `converged` is false). A breakdown (an invariant subspace, e.g. a low-rank
//! projection) is handled by continuing with fresh deterministic directions.
//!
//! The operator is the symmetric part S = (J + Jᵀ)/2 by default: S·v = (J·v + Jᵀ·v)/2 with J·v from
//! [`Denoiser::linearized`] (forward only) or double reverse mode ([`crate::jacobian::jvp`]), and
//! Jᵀ·v from one batched reverse-mode pass ([`crate::jacobian::vjp`]). [`LanczosOperator::Jacobian`]
//! uses J·v alone, forward-only and about twice as fast, and is exact only when J is symmetric (as
//! the paper assumes ∇f to be); on a non-symmetric J its answer is not the spectrum of S.
//!
//! This method does not restart: its basis grows until convergence or `max_basis`. For the top-k
//! at the paper's 80×80 within a fixed memory and product budget, use
//! [`crate::restart::restarted_lanczos`], which restarts, locks and shares the same operators
//! ([`crate::operator::DenoiserOperator`]).

use std::time::Instant;

use gahb_tensor::Denoiser;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::eigen::Eigen;
use crate::error::{Error, Result};
use crate::jacobian::check_square;
use crate::operator::{DenoiserOperator, LinearOperator};

/// Which matrix's spectrum is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LanczosOperator {
    /// (J + Jᵀ)/2, the matrix [`crate::eigh_sym`] decomposes: J·v and Jᵀ·v per block.
    #[default]
    SymmetricPart,
    /// J itself, assumed symmetric: J·v only (forward-only with a linearization).
    Jacobian,
}

/// Settings of [`lanczos_top_k`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LanczosConfig {
    /// Directions per operator application (one batched network pass).
    pub block_size: usize,
    /// The cap on the Krylov basis size; `None` means min(d, 3k + 8·block_size).
    pub max_basis: Option<usize>,
    /// Convergence: every one of the k leading Ritz residuals ≤ tol·|θ_1|.
    pub tol: f64,
    /// Seed of the deterministic start block (no global generator is touched).
    pub seed: u64,
    /// The operator.
    pub operator: LanczosOperator,
}

impl Default for LanczosConfig {
    fn default() -> Self {
        Self {
            block_size: 32,
            max_basis: None,
            tol: 1e-4,
            seed: 0,
            operator: LanczosOperator::SymmetricPart,
        }
    }
}

impl LanczosConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if self.block_size == 0 {
            return Err(Error::InvalidArgument {
                name: "block_size",
                reason: "must be at least 1".into(),
            });
        }
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(Error::InvalidArgument {
                name: "tol",
                reason: format!("must be finite and positive, got {}", self.tol),
            });
        }
        Ok(())
    }
}

/// The k leading Ritz pairs and how they were obtained.
#[derive(Debug)]
pub struct LanczosResult {
    /// λ_k descending, `[k]`, and Ritz vectors e_k as orthonormal columns, `[d, k]`, f64.
    pub eigen: Eigen,
    /// The numbers of the run (serialisable).
    pub summary: LanczosSummary,
}

/// The numbers reported with a Lanczos run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanczosSummary {
    /// k.
    pub k: usize,
    /// d.
    pub dim: usize,
    /// The final Krylov basis size.
    pub basis_size: usize,
    /// Operator applications to single directions (J·v and Jᵀ·v each count once).
    pub n_products: usize,
    /// ‖A s_i − θ_i s_i‖/|θ_1| for the k leading Ritz pairs.
    pub residuals: Vec<f64>,
    /// Whether every residual met the tolerance.
    pub converged: bool,
    /// The operator.
    pub operator: LanczosOperator,
    /// Wall time in seconds.
    pub wall_s: f64,
}

/// The k largest eigenvalues (with eigenvectors) of the Jacobian's symmetric part at `y`
/// (`[1, c, h, w]` or `[c, h, w]`), without forming the matrix.
pub fn lanczos_top_k(
    f: &dyn Denoiser,
    y: &Tensor,
    k: usize,
    cfg: &LanczosConfig,
) -> Result<LanczosResult> {
    let mut op = DenoiserOperator::new(f, y, cfg.operator)?;
    let d = op.dim();
    let device = op.device();
    let ppc = op.products_per_column();
    let apply =
        |v: &Tensor| -> Result<(Tensor, usize)> { Ok((op.apply(v)?, v.size()[1] as usize * ppc)) };
    block_lanczos(apply, d, k, device, cfg)
}

/// The k largest eigenvalues of the symmetric part of a dense square matrix by the same method
/// (for tests and for matrices too large to decompose in full).
pub fn lanczos_top_k_matrix(a: &Tensor, k: usize, cfg: &LanczosConfig) -> Result<LanczosResult> {
    let d = check_square(a, "lanczos_top_k_matrix")?;
    let a = a.f_to_kind(Kind::Double)?;
    let op = match cfg.operator {
        LanczosOperator::SymmetricPart => ((&a + a.f_tr()?) * 0.5).f_contiguous()?,
        LanczosOperator::Jacobian => a,
    };
    let apply =
        |v: &Tensor| -> Result<(Tensor, usize)> { Ok((op.f_matmul(v)?, v.size()[1] as usize)) };
    block_lanczos(apply, d, k, op.device(), cfg)
}

fn block_lanczos(
    mut apply: impl FnMut(&Tensor) -> Result<(Tensor, usize)>,
    d: usize,
    k: usize,
    device: Device,
    cfg: &LanczosConfig,
) -> Result<LanczosResult> {
    cfg.validate()?;
    if k == 0 || k > d {
        return Err(Error::TooManyEigenpairs {
            op: "lanczos_top_k",
            k,
            d,
        });
    }
    let start = Instant::now();
    let cap = cfg
        .max_basis
        .unwrap_or(3 * k + 8 * cfg.block_size)
        .clamp(k, d);
    let opts = (Kind::Double, device);
    let q_all = Tensor::f_zeros([d as i64, cap as i64], opts)?;
    let aq_all = Tensor::f_zeros([d as i64, cap as i64], opts)?;
    let mut t = Tensor::f_zeros([0, 0], opts)?;
    let mut m = 0usize;
    let mut n_products = 0usize;
    let mut salt = 0u64;
    let b0 = cfg.block_size.min(cap);
    let mut v = orthonormal_block(
        &pseudo_random(d, b0, cfg.seed, &mut salt)?.f_to_device(device)?,
        None,
        cfg.seed,
        &mut salt,
    )?;
    loop {
        let b = v.size()[1] as usize;
        let (w, products) = apply(&v)?;
        n_products += products;
        if !bool::try_from(w.f_isfinite()?.f_all()?)? {
            return Err(Error::NonFinite {
                op: "lanczos_top_k (operator output)",
            });
        }
        q_all.f_narrow(1, m as i64, b as i64)?.f_copy_(&v)?;
        aq_all.f_narrow(1, m as i64, b as i64)?.f_copy_(&w)?;
        let m_new = m + b;
        let q = q_all.f_narrow(1, 0, m_new as i64)?;
        let aq = aq_all.f_narrow(1, 0, m_new as i64)?;
        // Grow T = Qᵀ(AQ) by the new block's columns (and, by symmetry, rows).
        let c = q.f_tr()?.f_matmul(&w)?; // [m_new, b]
        let c_top = c.f_narrow(0, 0, m as i64)?;
        let c_new = c.f_narrow(0, m as i64, b as i64)?;
        let c_new = (&c_new + c_new.f_tr()?) * 0.5;
        let top = Tensor::f_cat(&[&t, &c_top], 1)?;
        let bottom = Tensor::f_cat(&[&c_top.f_tr()?, &c_new], 1)?;
        t = Tensor::f_cat(&[top, bottom], 0)?;
        m = m_new;

        let done = m >= cap || m >= d;
        if m >= k {
            let (theta, s) = t.f_linalg_eigh("L")?;
            let theta = theta.f_flip([0])?.f_narrow(0, 0, k as i64)?;
            let s = s.f_flip([1])?.f_narrow(1, 0, k as i64)?;
            let ritz = q.f_matmul(&s)?;
            let r = aq.f_matmul(&s)? - &ritz * &theta;
            let scale = theta.f_abs()?.f_max()?.f_double_value(&[])?.max(1e-300);
            let residuals: Vec<f64> = Vec::<f64>::try_from(
                &r.f_norm_scalaropt_dim(2, [0i64], false)?
                    .f_div_scalar(scale)?
                    .f_to_device(Device::Cpu)?,
            )?;
            let converged = residuals.iter().all(|r| *r <= cfg.tol);
            if converged || done {
                return Ok(LanczosResult {
                    eigen: Eigen {
                        values: theta.f_contiguous()?,
                        vectors: ritz.f_contiguous()?,
                    },
                    summary: LanczosSummary {
                        k,
                        dim: d,
                        basis_size: m,
                        n_products,
                        residuals,
                        converged,
                        operator: cfg.operator,
                        wall_s: start.elapsed().as_secs_f64(),
                    },
                });
            }
        }
        let b_next = cfg.block_size.min(cap - m).min(d - m);
        let w_next = if b_next < b {
            w.f_narrow(1, 0, b_next as i64)?
        } else {
            w
        };
        v = orthonormal_block(&w_next, Some(&q), cfg.seed, &mut salt)?;
    }
}

/// Orthonormalizes the columns of `w` against `q` (twice, classical Gram-Schmidt) and each other
/// (QR); columns that vanish (breakdown) are replaced by fresh deterministic directions.
fn orthonormal_block(w: &Tensor, q: Option<&Tensor>, seed: u64, salt: &mut u64) -> Result<Tensor> {
    let (d, b) = (w.size()[0] as usize, w.size()[1]);
    let project = |x: Tensor| -> Result<Tensor> {
        match q {
            Some(q) => {
                let x = &x - q.f_matmul(&q.f_tr()?.f_matmul(&x)?)?;
                Ok(&x - q.f_matmul(&q.f_tr()?.f_matmul(&x)?)?)
            }
            None => Ok(x),
        }
    };
    let scale = w.f_abs()?.f_max()?.f_double_value(&[])?.max(1e-300);
    let mut x = project(w.shallow_clone())?;
    for _ in 0..4 {
        let (qx, r) = Tensor::f_linalg_qr(&x, "reduced")?;
        let diag = r.f_diagonal(0, 0, 1)?.f_abs()?;
        let weak = diag.f_lt(1e-10 * scale)?;
        if !bool::try_from(weak.f_any()?)? {
            return Ok(qx);
        }
        // Replace the weak columns by new directions, keep the strong ones, and try again.
        let fresh = pseudo_random(d, b as usize, seed, salt)?.f_to_device(w.device())?;
        let mask = weak.f_to_kind(Kind::Double)?.f_unsqueeze(0)?;
        let kept = &qx * (1.0 - &mask) + fresh * &mask;
        x = project(kept)?;
    }
    Err(Error::InvalidArgument {
        name: "lanczos basis",
        reason: "could not extend the Krylov basis with independent directions".into(),
    })
}

/// A deterministic `[d, b]` block of values in [−0.5, 0.5) (a hash of index, seed and salt).
fn pseudo_random(d: usize, b: usize, seed: u64, salt: &mut u64) -> Result<Tensor> {
    *salt += 1;
    let mut state = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(salt.wrapping_mul(0xD1B5_4A32_D192_ED03));
    let data: Vec<f64> = (0..d * b)
        .map(|_| {
            // splitmix64.
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
        .collect();
    Ok(Tensor::from_slice(&data).f_reshape([d as i64, b as i64])?)
}

#[cfg(test)]
mod tests {
    use gahb_tensor::LinearDenoiser;

    use super::*;
    use crate::eigen::{eigh_sym, EighBackend};
    use crate::toy::{BiasFreeConvNet, NoLinearization};

    const CPU: (Kind, Device) = (Kind::Double, Device::Cpu);

    fn check(a: &Tensor, b: &Tensor, tol: f64) {
        let diff = (a.to_kind(Kind::Double) - b.to_kind(Kind::Double))
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff <= tol, "max difference {diff} > {tol}");
    }

    fn small(block_size: usize, tol: f64) -> LanczosConfig {
        LanczosConfig {
            block_size,
            tol,
            ..LanczosConfig::default()
        }
    }

    #[test]
    fn known_symmetric_matrix_top_k() {
        let (q, _) = Tensor::linalg_qr(
            &gahb_tensor::random::normal_like(1100, &[48, 48], Kind::Double).expect("draw"),
            "reduced",
        );
        let lambda: Vec<f64> = (0..48).map(|i| 1.2 * 0.9f64.powi(i)).collect();
        let a = q
            .matmul(&Tensor::from_slice(&lambda).diag(0))
            .matmul(&q.tr());
        let f = LinearDenoiser::new(&a, [3, 4, 4]).expect("denoiser");
        let y = gahb_tensor::random::normal_like(1101, &[1, 3, 4, 4], Kind::Float).expect("draw");
        for op in [LanczosOperator::SymmetricPart, LanczosOperator::Jacobian] {
            let cfg = LanczosConfig {
                operator: op,
                ..small(4, 1e-6)
            };
            let r = lanczos_top_k(&f, &y, 5, &cfg).expect("lanczos");
            assert!(r.summary.converged, "{:?}", r.summary);
            // The matrix is stored in f32, so agreement is to f32 precision.
            check(&r.eigen.values, &Tensor::from_slice(&lambda[..5]), 1e-5);
            let vt_v = r.eigen.vectors.tr().matmul(&r.eigen.vectors);
            check(&vt_v, &Tensor::eye(5, CPU), 1e-10);
        }
        let r = lanczos_top_k_matrix(&a, 5, &small(4, 1e-8)).expect("dense lanczos");
        check(&r.eigen.values, &Tensor::from_slice(&lambda[..5]), 1e-10);
    }

    #[test]
    fn nonsymmetric_matrix_agrees_with_dense_symmetric_part() {
        let m = gahb_tensor::random::normal_like(1200, &[40, 40], Kind::Double).expect("draw")
            / 6.0
            + Tensor::eye(40, CPU);
        let f = LinearDenoiser::new(&m, [1, 5, 8]).expect("denoiser");
        let y = gahb_tensor::random::normal_like(1201, &[1, 1, 5, 8], Kind::Float).expect("draw");
        let r = lanczos_top_k(&f, &y, 6, &small(5, 1e-6)).expect("lanczos");
        assert!(r.summary.converged, "{:?}", r.summary);
        let dense = eigh_sym(f.matrix(), EighBackend::Torch).expect("eigh");
        check(&r.eigen.values, &dense.values.narrow(0, 0, 6), 1e-5);
        // Same eigenvectors up to sign.
        let overlap = dense
            .vectors
            .narrow(1, 0, 6)
            .tr()
            .matmul(&r.eigen.vectors)
            .abs();
        check(&overlap.diagonal(0, 0, 1), &Tensor::ones([6], CPU), 1e-3);
    }

    #[test]
    fn stops_early_on_a_separated_spectrum() {
        let (q, _) = Tensor::linalg_qr(
            &gahb_tensor::random::normal_like(1500, &[300, 300], Kind::Double).expect("draw"),
            "reduced",
        );
        let lambda: Vec<f64> = (0..300).map(|i| 0.7f64.powi(i)).collect();
        let a = q
            .matmul(&Tensor::from_slice(&lambda).diag(0))
            .matmul(&q.tr());
        let r = lanczos_top_k_matrix(&a, 4, &small(4, 1e-8)).expect("lanczos");
        assert!(r.summary.converged);
        assert!(r.summary.basis_size < 100, "{:?}", r.summary);
        check(&r.eigen.values, &Tensor::from_slice(&lambda[..4]), 1e-12);
    }

    #[test]
    fn projection_breakdown_is_handled() {
        let (q, _) = Tensor::linalg_qr(
            &gahb_tensor::random::normal_like(1300, &[30, 30], Kind::Double).expect("draw"),
            "reduced",
        );
        let u = q.narrow(1, 0, 3);
        let p = u.matmul(&u.tr());
        let r = lanczos_top_k_matrix(&p, 5, &small(4, 1e-8)).expect("lanczos");
        let v = r.eigen.values_vec().expect("values");
        for (i, l) in v.iter().enumerate() {
            let want = if i < 3 { 1.0 } else { 0.0 };
            assert!((l - want).abs() < 1e-10, "λ_{i} = {l}");
        }
    }

    #[test]
    fn bias_free_net_agrees_with_dense_route_with_and_without_linearization() {
        tch::manual_seed(14);
        let net = BiasFreeConvNet::new(1, 8, 3, Device::Cpu).expect("net");
        let y = gahb_tensor::random::normal_like(1400, &[1, 1, 6, 6], Kind::Float).expect("draw");
        let j = crate::jacobian::jacobian(&net, &y, &crate::JacobianConfig::default())
            .expect("jacobian");
        let dense = eigh_sym(&j.jacobian, EighBackend::Torch).expect("eigh");
        let top = dense.values.narrow(0, 0, 4);
        let scale = top.abs().max().double_value(&[]);
        let r = lanczos_top_k(&net, &y, 4, &small(6, 1e-6)).expect("lanczos");
        assert!(r.summary.converged, "{:?}", r.summary);
        check(&r.eigen.values, &top, 1e-4 * scale);
        let r = lanczos_top_k(&NoLinearization(&net), &y, 4, &small(6, 1e-6)).expect("autograd");
        check(&r.eigen.values, &top, 1e-4 * scale);
    }

    #[test]
    fn bad_input_is_an_error() {
        let a = Tensor::eye(4, CPU);
        assert!(matches!(
            lanczos_top_k_matrix(&a, 5, &LanczosConfig::default()),
            Err(Error::TooManyEigenpairs { k: 5, d: 4, .. })
        ));
        assert!(lanczos_top_k_matrix(&a, 0, &LanczosConfig::default()).is_err());
        assert!(
            lanczos_top_k_matrix(&Tensor::zeros([2, 3], CPU), 1, &LanczosConfig::default())
                .is_err()
        );
        assert!(lanczos_top_k_matrix(&a, 1, &small(0, 1e-6)).is_err());
        let nan = Tensor::full([3, 3], f64::NAN, CPU);
        assert!(lanczos_top_k_matrix(&nan, 1, &LanczosConfig::default()).is_err());
    }
}
