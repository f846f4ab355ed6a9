//! The top-k eigenpairs of a symmetric operator by thick-restarted block Lanczos with locking
//! (beyond the paper; PAPER.md §5 asks for the shrinkage factors λ_k and the adaptive basis e_k of
//! the Jacobian's symmetric part at 80×80, d = 6400, where the dense route costs d products and d²
//! memory).
//!
//! # Method
//! Krylov-Schur / thick restart (Wu and Simon 2000, Stathopoulos and Saad 1998, Stewart 2001) in
//! block form, with full reorthogonalization and explicit Rayleigh-Ritz:
//! - The active basis V (orthonormal, `[d, m]`) and its products AV are stored, so the Rayleigh
//!   matrix T = Vᵀ(AV) and every residual ‖A s − θ s‖ are computed from exact products, not from
//!   a recurrence. Memory is 2·`max_basis`·d f64, never d².
//! - Each step applies A to the pending block P (`block_size` directions), appends P and AP, and
//!   takes the Ritz pairs of (T + Tᵀ)/2. The next block is AP orthogonalized twice against every
//!   stored vector and QR-factorized, AP − V(VᵀAP) = Q R; its R gives every Ritz pair's residual
//!   norm ‖R·y_last‖ for free (y_last: the Ritz vector's coordinates on the last block), as in
//!   ARPACK. A breakdown (an invariant subspace) is continued with fresh seeded directions.
//! - When the basis is full, it is restarted without any product: V ← V Y_keep, AV ← AV Y_keep,
//!   keeping the `k − locked` wanted Ritz vectors and a share `keep_fraction` of the free room in
//!   the next ones. The pending block Q stays valid (it is orthogonal to the old V), and the
//!   kept Ritz vectors' residuals lie in its span, so the Krylov structure carries over.
//! - At a restart, the leading run of wanted Ritz pairs whose exact residual meets the tolerance
//!   (from the top down to the first unconverged one, so a pair below an unresolved cluster is
//!   never locked in its place; decision 0006) is locked: moved out
//!   of the active basis (hard locking), kept orthogonal to every later direction and no longer
//!   updated.
//! - When the estimates say k pairs have converged, a final Rayleigh-Ritz over the locked and
//!   active vectors (from the stored products, no new ones) gives the answer, and its exact
//!   residuals decide: the run stops only when they meet the tolerance.
//!
//! Convergence of a pair: ‖A s − θ s‖ ≤ tol·|θ_1| ([`ToleranceScale::Leading`], the default:
//! |θ_1| is the largest |θ| among the k returned) or ≤ tol·|θ_i| ([`ToleranceScale::PerPair`],
//! ARPACK's test, with |θ_i| floored at ε^(2/3)·|θ_1|).
//!
//! # Budget and failure
//! Products are counted per column: a block of b directions counts b·[`LinearOperator::products_per_column`]
//! (2 for the symmetric part of a denoiser's Jacobian: J·v and Jᵀ·v). A budget that cannot buy k
//! directions is [`Error::BudgetTooSmall`]; a budget that runs out before convergence returns `Ok`
//! with `converged = false`, `n_converged` set, the best k pairs and their true residuals. k = 0,
//! k ≥ d, tol ≤ 0, block size 0 and a basis too small for k are errors; a non-finite product is
//! [`Error::NonFiniteProduct`] naming it.
//!
//! The operator is assumed symmetric; for a non-symmetric one (the [`LanczosOperator::Jacobian`]
//! route on a non-symmetric J) the Ritz values are those of the symmetrized Rayleigh matrix and
//! `summary.asymmetry` = ‖T − Tᵀ‖_F/‖T‖_F says how far from symmetric it was.

use std::time::Instant;

use gahb_tensor::Denoiser;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::eigen::Eigen;
use crate::error::{Error, Result};
use crate::jacobian::check_square;
use crate::lanczos::LanczosOperator;
use crate::operator::{apply_counted, gaussian, DenoiserOperator, LinearOperator, MatrixOperator};

/// What a residual is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ToleranceScale {
    /// ‖A s_i − θ_i s_i‖ ≤ tol·|θ_1| for every pair (absolute in units of the top eigenvalue).
    #[default]
    Leading,
    /// ‖A s_i − θ_i s_i‖ ≤ tol·|θ_i| (ARPACK's test; stricter for small eigenvalues).
    PerPair,
}

/// Settings of [`restarted_lanczos`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RestartedConfig {
    /// The relative residual every returned pair must meet.
    pub tol: f64,
    /// What the residual is relative to.
    pub tol_scale: ToleranceScale,
    /// The most single-vector operator products to spend.
    pub budget: usize,
    /// The most stored basis vectors, locked ones included; `None` means
    /// min(d, max(2k, k + 20) + 2·block_size), close to ARPACK's default max(2k + 1, 20).
    pub max_basis: Option<usize>,
    /// Directions per operator application (one batched network pass).
    pub block_size: usize,
    /// At a restart, the share of the basis room beyond the wanted Ritz vectors that is kept
    /// (0: keep only the wanted ones; 1: restart as late as possible).
    pub keep_fraction: f64,
    /// Seed of the start block and of any breakdown directions (no global generator is touched).
    pub seed: u64,
    /// The operator, for [`restarted_top_k`] and [`restarted_top_k_matrix`].
    pub operator: LanczosOperator,
}

impl Default for RestartedConfig {
    fn default() -> Self {
        Self {
            tol: 1e-4,
            tol_scale: ToleranceScale::Leading,
            budget: 10_000,
            max_basis: None,
            block_size: 1,
            keep_fraction: 0.5,
            seed: 0,
            operator: LanczosOperator::SymmetricPart,
        }
    }
}

impl RestartedConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(Error::InvalidArgument {
                name: "tol",
                reason: format!("must be finite and positive, got {}", self.tol),
            });
        }
        if self.block_size == 0 {
            return Err(Error::InvalidArgument {
                name: "block_size",
                reason: "must be at least 1".into(),
            });
        }
        if !(0.0..=1.0).contains(&self.keep_fraction) {
            return Err(Error::InvalidArgument {
                name: "keep_fraction",
                reason: format!("must lie in [0, 1], got {}", self.keep_fraction),
            });
        }
        Ok(())
    }
}

/// The k leading eigenpairs and how they were obtained.
#[derive(Debug)]
pub struct RestartedResult {
    /// θ_i descending, `[k]`, and orthonormal Ritz vectors as columns, `[d, k]`, f64.
    pub eigen: Eigen,
    /// The numbers of the run (serialisable).
    pub summary: RestartedSummary,
}

/// The numbers reported with a restarted Lanczos run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartedSummary {
    /// The operator's name.
    pub operator: String,
    /// k.
    pub k: usize,
    /// d.
    pub dim: usize,
    /// The block size used.
    pub block_size: usize,
    /// The basis cap used (locked vectors included).
    pub max_basis: usize,
    /// The tolerance.
    pub tol: f64,
    /// What the tolerance is relative to.
    pub tol_scale: ToleranceScale,
    /// The budget of products.
    pub budget: usize,
    /// Single-vector products spent.
    pub n_products: usize,
    /// Restarts done.
    pub restarts: usize,
    /// Pairs locked during the iteration (before the final Rayleigh-Ritz).
    pub n_locked: usize,
    /// Returned pairs whose residual meets the tolerance.
    pub n_converged: usize,
    /// Whether all k pairs meet it.
    pub converged: bool,
    /// `n_products / n_converged` (`None` when nothing converged).
    pub products_per_converged_pair: Option<f64>,
    /// ‖A s_i − θ_i s_i‖ over the scale of `tol_scale`, for the k returned pairs (≤ tol: converged).
    pub residuals: Vec<f64>,
    /// |θ_1|, the largest |θ| among the k returned.
    pub leading_scale: f64,
    /// ‖T − Tᵀ‖_F/‖T‖_F of the final Rayleigh matrix (0 for a symmetric operator).
    pub asymmetry: f64,
    /// Wall time in seconds.
    pub wall_s: f64,
}

/// The k largest eigenvalues (with eigenvectors) of a denoiser's Jacobian or its symmetric part
/// (`cfg.operator`) at `y` (`[1, c, h, w]` or `[c, h, w]`), by [`restarted_lanczos`].
pub fn restarted_top_k(
    f: &dyn Denoiser,
    y: &Tensor,
    k: usize,
    cfg: &RestartedConfig,
) -> Result<RestartedResult> {
    let mut op = DenoiserOperator::new(f, y, cfg.operator)?;
    restarted_lanczos(&mut op, k, cfg)
}

/// The k largest eigenvalues of a dense square matrix (its symmetric part, or the matrix itself
/// with [`LanczosOperator::Jacobian`]), by [`restarted_lanczos`].
pub fn restarted_top_k_matrix(
    a: &Tensor,
    k: usize,
    cfg: &RestartedConfig,
) -> Result<RestartedResult> {
    check_square(a, "restarted_top_k_matrix")?;
    let mut op = match cfg.operator {
        LanczosOperator::SymmetricPart => MatrixOperator::symmetric_part(a)?,
        LanczosOperator::Jacobian => MatrixOperator::new(a)?,
    };
    restarted_lanczos(&mut op, k, cfg)
}

/// The default basis cap for k pairs in blocks of b, before clamping to d.
pub fn default_max_basis(k: usize, block_size: usize) -> usize {
    (2 * k).max(k + 20) + 2 * block_size
}

/// The k largest eigenvalues (algebraically) of a symmetric operator, with orthonormal
/// eigenvectors, by thick-restarted block Lanczos with locking (see the module doc).
pub fn restarted_lanczos(
    op: &mut dyn LinearOperator,
    k: usize,
    cfg: &RestartedConfig,
) -> Result<RestartedResult> {
    const OP: &str = "restarted_lanczos";
    cfg.validate()?;
    let d = op.dim();
    if k == 0 || k >= d {
        return Err(Error::TooManyEigenpairs { op: OP, k, d });
    }
    let ppc = op.products_per_column().max(1);
    let b = cfg.block_size.min(d - k);
    let cap = cfg.max_basis.unwrap_or(default_max_basis(k, b)).min(d);
    if cap < k + b {
        return Err(Error::InvalidArgument {
            name: "max_basis",
            reason: format!(
                "{cap} cannot hold the k = {k} wanted vectors and a block of {b} (needs ≥ {})",
                k + b
            ),
        });
    }
    if cfg.budget < k * ppc {
        return Err(Error::BudgetTooSmall {
            op: OP,
            budget: cfg.budget,
            needed: k * ppc,
            what: format!("build {k} Ritz vectors ({ppc} per direction)"),
        });
    }
    let start = Instant::now();
    let mut s = State::new(op, d, cap, cfg)?;
    let mut p = s.start_block(b.min(cfg.budget / ppc))?;
    // Estimated residuals must fall below tol·gate before a final Rayleigh-Ritz is tried; a final
    // check that fails halves the gate, so a misleading estimate cannot trigger one every step.
    let mut gate = 1.0;
    let finish = loop {
        let nb = p.size()[1] as usize;
        if s.n_locked + s.m + nb > cap {
            s.restart(k, b, cfg)?;
        }
        let w = apply_counted(s.op, &p, &mut s.n_products, OP)?;
        s.append(&p, &w)?;
        s.ritz()?;
        let whole_space = s.n_locked + s.m >= d;
        // The next block and, from its R, every Ritz residual norm.
        let next = if whole_space {
            None
        } else {
            Some(s.next_block(&w)?)
        };
        let wanted = k - s.n_locked;
        if s.m >= wanted {
            let est = match &next {
                Some((_, r)) => s.residual_estimates(r, nb, wanted)?,
                None => vec![0.0; wanted],
            };
            let tols = s.thresholds(k, cfg);
            let gated = est.iter().zip(&tols).all(|(e, t)| *e <= t * gate);
            if gated || whole_space {
                let fin = s.final_rayleigh_ritz(k, cfg)?;
                if fin.n_converged == k || whole_space {
                    break fin;
                }
                gate *= 0.5;
            }
        }
        let left = (cfg.budget - s.n_products) / ppc;
        let room = d - s.n_locked - s.m;
        let nb_next = b.min(left).min(room);
        match next {
            Some((q, _)) if nb_next > 0 => {
                p = if nb_next < q.size()[1] as usize {
                    q.f_narrow(1, 0, nb_next as i64)?
                } else {
                    q
                };
            }
            _ => break s.final_rayleigh_ritz(k, cfg)?,
        }
    };
    let n_converged = finish.n_converged;
    let summary = RestartedSummary {
        operator: s.op.name(),
        k,
        dim: d,
        block_size: b,
        max_basis: cap,
        tol: cfg.tol,
        tol_scale: cfg.tol_scale,
        budget: cfg.budget,
        n_products: s.n_products,
        restarts: s.restarts,
        n_locked: s.n_locked,
        n_converged,
        converged: n_converged == k,
        products_per_converged_pair: (n_converged > 0)
            .then(|| s.n_products as f64 / n_converged as f64),
        residuals: finish.residuals,
        leading_scale: finish.leading_scale,
        asymmetry: finish.asymmetry,
        wall_s: start.elapsed().as_secs_f64(),
    };
    Ok(RestartedResult {
        eigen: finish.eigen,
        summary,
    })
}

/// The outcome of a final Rayleigh-Ritz.
struct Finish {
    eigen: Eigen,
    residuals: Vec<f64>,
    n_converged: usize,
    leading_scale: f64,
    asymmetry: f64,
}

/// The iteration's storage: columns `[0, n_locked)` of `basis`/`products` hold the locked vectors
/// X and AX, columns `[n_locked, n_locked + m)` the active basis V and AV.
struct State<'o> {
    op: &'o mut dyn LinearOperator,
    basis: Tensor,
    products: Tensor,
    /// Locked Ritz values, in the order of the locked columns.
    locked_values: Vec<f64>,
    n_locked: usize,
    m: usize,
    /// Vᵀ(AV), `[m, m]`, not symmetrized.
    t: Tensor,
    /// Ritz values of (T + Tᵀ)/2, descending, and their coordinates `[m, m]`.
    theta: Vec<f64>,
    y: Tensor,
    n_products: usize,
    restarts: usize,
    seed: u64,
    salt: u64,
    device: Device,
}

impl<'o> State<'o> {
    fn new(
        op: &'o mut dyn LinearOperator,
        d: usize,
        cap: usize,
        cfg: &RestartedConfig,
    ) -> Result<Self> {
        let device = op.device();
        let opts = (Kind::Double, device);
        Ok(Self {
            op,
            basis: Tensor::f_zeros([d as i64, cap as i64], opts)?,
            products: Tensor::f_zeros([d as i64, cap as i64], opts)?,
            locked_values: Vec::new(),
            n_locked: 0,
            m: 0,
            t: Tensor::f_zeros([0, 0], opts)?,
            theta: Vec::new(),
            y: Tensor::f_zeros([0, 0], opts)?,
            n_products: 0,
            restarts: 0,
            seed: cfg.seed,
            salt: 0,
            device,
        })
    }

    fn d(&self) -> i64 {
        self.basis.size()[0]
    }

    /// Every stored vector (locked and active), `[d, n_locked + m]`.
    fn stored(&self) -> Result<Tensor> {
        Ok(self.basis.f_narrow(1, 0, (self.n_locked + self.m) as i64)?)
    }

    fn active(&self) -> Result<(Tensor, Tensor)> {
        let (l, m) = (self.n_locked as i64, self.m as i64);
        Ok((
            self.basis.f_narrow(1, l, m)?,
            self.products.f_narrow(1, l, m)?,
        ))
    }

    fn fresh(&mut self, b: usize) -> Result<Tensor> {
        self.salt += 1;
        gaussian(
            self.seed,
            self.salt.wrapping_mul(1 << 20),
            self.d() as usize,
            b,
            self.device,
        )
    }

    fn start_block(&mut self, b: usize) -> Result<Tensor> {
        let g = self.fresh(b)?;
        Ok(self.orthonormalize(&g)?.0)
    }

    /// Appends P and AP to the active basis and grows T by their rows and columns.
    fn append(&mut self, p: &Tensor, w: &Tensor) -> Result<()> {
        let nb = p.size()[1];
        let at = (self.n_locked + self.m) as i64;
        self.basis.f_narrow(1, at, nb)?.f_copy_(p)?;
        self.products.f_narrow(1, at, nb)?.f_copy_(w)?;
        let (v_old, av_old) = self.active()?;
        let cols = Tensor::f_cat(&[v_old.shallow_clone(), p.shallow_clone()], 1)?
            .f_tr()?
            .f_matmul(w)?; // [m + nb, nb]
        let rows = p.f_tr()?.f_matmul(&av_old)?; // [nb, m]
        let top = Tensor::f_cat(&[&self.t, &cols.f_narrow(0, 0, self.m as i64)?], 1)?;
        let bottom = Tensor::f_cat(&[&rows, &cols.f_narrow(0, self.m as i64, nb)?], 1)?;
        self.t = Tensor::f_cat(&[top, bottom], 0)?;
        self.m += nb as usize;
        Ok(())
    }

    /// The Ritz pairs of the active basis, descending.
    fn ritz(&mut self) -> Result<()> {
        let sym = (&self.t + self.t.f_tr()?) * 0.5;
        let (theta, y) = sym.f_linalg_eigh("L")?;
        self.theta = Vec::<f64>::try_from(&theta.f_flip([0])?.f_to_device(Device::Cpu)?)?;
        self.y = y.f_flip([1])?.f_contiguous()?;
        Ok(())
    }

    /// The next block from AP: orthogonalized against every stored vector, QR-factorized.
    /// Returns Q (columns replaced by fresh directions where AP was dependent) and the R of AP's
    /// projection, whose product with a Ritz vector's last-block coordinates is its residual.
    fn next_block(&mut self, w: &Tensor) -> Result<(Tensor, Tensor)> {
        let stored = self.stored()?;
        let z = project_out(w, &stored)?;
        let scale = w.f_norm()?.f_double_value(&[])?;
        let (q, r) = Tensor::f_linalg_qr(&z, "reduced")?;
        let q = self.repair(q, &r, scale)?;
        Ok((q, r))
    }

    /// Orthonormalizes `g` against every stored vector (R is discarded).
    fn orthonormalize(&mut self, g: &Tensor) -> Result<(Tensor, Tensor)> {
        let stored = self.stored()?;
        let z = project_out(g, &stored)?;
        let scale = g.f_norm()?.f_double_value(&[])?;
        let (q, r) = Tensor::f_linalg_qr(&z, "reduced")?;
        let q = self.repair(q, &r, scale)?;
        Ok((q, r))
    }

    /// Replaces the columns of `q` whose R diagonal is negligible by fresh seeded directions
    /// orthogonal to everything stored and to the other columns.
    fn repair(&mut self, mut q: Tensor, r: &Tensor, scale: f64) -> Result<Tensor> {
        let nb = q.size()[1] as usize;
        let mut weak = r
            .f_diagonal(0, 0, 1)?
            .f_abs()?
            .f_le(1e-10 * scale.max(1e-300))?;
        for _ in 0..4 {
            if !bool::try_from(weak.f_any()?)? {
                return Ok(q);
            }
            let fresh = self.fresh(nb)?;
            let mask = weak.f_to_kind(Kind::Double)?.f_unsqueeze(0)?;
            let mixed = &q * (1.0 - &mask) + fresh * &mask;
            let z = project_out(&mixed, &self.stored()?)?;
            let (q2, r2) = Tensor::f_linalg_qr(&z, "reduced")?;
            weak = r2.f_diagonal(0, 0, 1)?.f_abs()?.f_le(1e-8)?;
            q = q2;
        }
        Err(Error::InvalidArgument {
            name: "restarted lanczos basis",
            reason: "could not extend the basis with independent directions".into(),
        })
    }

    /// ‖R·y_last‖ for the first `n` Ritz vectors: y_last are their coordinates on the last `nb`
    /// active columns.
    fn residual_estimates(&self, r: &Tensor, nb: usize, n: usize) -> Result<Vec<f64>> {
        let y_last = self
            .y
            .f_narrow(0, (self.m - nb) as i64, nb as i64)?
            .f_narrow(1, 0, n as i64)?;
        let est = r
            .f_matmul(&y_last)?
            .f_norm_scalaropt_dim(2, [0i64], false)?;
        Ok(Vec::<f64>::try_from(&est.f_to_device(Device::Cpu)?)?)
    }

    /// The residual thresholds (absolute) of the active wanted Ritz pairs, in their order; |θ_1|
    /// is taken over the locked values and these.
    fn thresholds(&self, k: usize, cfg: &RestartedConfig) -> Vec<f64> {
        let wanted = k - self.n_locked;
        let mut all: Vec<f64> = self.locked_values.clone();
        all.extend(self.theta.iter().take(wanted));
        let lead = leading_scale(&all);
        self.theta
            .iter()
            .take(wanted)
            .map(|t| cfg.tol * pair_scale(*t, lead, cfg.tol_scale))
            .collect()
    }

    /// Locks the wanted Ritz pairs that meet the tolerance exactly, then keeps the wanted rest and
    /// a share of the room in the next Ritz vectors (no products).
    fn restart(&mut self, k: usize, b: usize, cfg: &RestartedConfig) -> Result<()> {
        let wanted = k - self.n_locked;
        let (v, av) = self.active()?;
        // Exact residuals of the wanted Ritz pairs.
        let y_w = self.y.f_narrow(1, 0, wanted as i64)?;
        let theta_w = Tensor::from_slice(&self.theta[..wanted]).f_to_device(self.device)?;
        let s_w = v.f_matmul(&y_w)?;
        let as_w = av.f_matmul(&y_w)?;
        let res = (&as_w - &s_w * &theta_w).f_norm_scalaropt_dim(2, [0i64], false)?;
        let res = Vec::<f64>::try_from(&res.f_to_device(Device::Cpu)?)?;
        let tols = self.thresholds(k, cfg);
        // Only the leading run of converged pairs is locked: a converged pair below an
        // unconverged one may lie below eigenvalues the basis has not resolved yet (a cluster),
        // and locking it would keep it in the answer in their place (decision 0006).
        let lock: Vec<i64> = (0..wanted)
            .take_while(|&i| res[i] <= tols[i])
            .map(|i| i as i64)
            .collect();
        let n_lock = lock.len();
        let wanted_after = wanted - n_lock;
        let room = self.basis.size()[1] as usize - self.n_locked - n_lock;
        let free = room.saturating_sub(wanted_after + b);
        let keep = (wanted_after + (cfg.keep_fraction * free as f64).floor() as usize)
            .min(room - b)
            .min(self.m - n_lock)
            .max(wanted_after);
        // The kept columns: the locked ones first, then the best `keep` of the others.
        let mut sel = lock.clone();
        sel.extend((0..self.m as i64).filter(|i| !lock.contains(i)).take(keep));
        let sel_t = Tensor::from_slice(&sel).f_to_device(self.device)?;
        let y_sel = self.y.f_index_select(1, &sel_t)?;
        let new_v = v.f_matmul(&y_sel)?;
        let new_av = av.f_matmul(&y_sel)?;
        let t_keep = {
            let y_keep = y_sel.f_narrow(1, n_lock as i64, keep as i64)?;
            y_keep.f_tr()?.f_matmul(&self.t)?.f_matmul(&y_keep)?
        };
        let at = self.n_locked as i64;
        let n = (n_lock + keep) as i64;
        self.basis.f_narrow(1, at, n)?.f_copy_(&new_v)?;
        self.products.f_narrow(1, at, n)?.f_copy_(&new_av)?;
        for &i in &lock {
            self.locked_values.push(self.theta[i as usize]);
        }
        self.n_locked += n_lock;
        self.m = keep;
        self.t = t_keep;
        let kept: Vec<f64> = sel[n_lock..]
            .iter()
            .map(|&i| self.theta[i as usize])
            .collect();
        self.theta = kept;
        self.y = Tensor::f_eye(keep as i64, (Kind::Double, self.device))?;
        self.restarts += 1;
        Ok(())
    }

    /// Rayleigh-Ritz over every stored vector from the stored products, the k best pairs and their
    /// exact residuals.
    fn final_rayleigh_ritz(&self, k: usize, cfg: &RestartedConfig) -> Result<Finish> {
        let n = (self.n_locked + self.m) as i64;
        let basis = self.basis.f_narrow(1, 0, n)?;
        let products = self.products.f_narrow(1, 0, n)?;
        let g = basis.f_tr()?.f_matmul(&products)?;
        let asymmetry = relative_asymmetry(&g)?;
        let sym = (&g + g.f_tr()?) * 0.5;
        let (theta, y) = sym.f_linalg_eigh("L")?;
        let kk = (k as i64).min(n);
        let theta = theta.f_flip([0])?.f_narrow(0, 0, kk)?.f_contiguous()?;
        let y = y.f_flip([1])?.f_narrow(1, 0, kk)?;
        let vectors = basis.f_matmul(&y)?.f_contiguous()?;
        let r = products.f_matmul(&y)? - &vectors * &theta;
        let res = Vec::<f64>::try_from(
            &r.f_norm_scalaropt_dim(2, [0i64], false)?
                .f_to_device(Device::Cpu)?,
        )?;
        let values = Vec::<f64>::try_from(&theta.f_to_device(Device::Cpu)?)?;
        let lead = leading_scale(&values);
        let residuals: Vec<f64> = res
            .iter()
            .zip(&values)
            .map(|(r, t)| r / pair_scale(*t, lead, cfg.tol_scale))
            .collect();
        let n_converged = residuals.iter().filter(|r| **r <= cfg.tol).count();
        Ok(Finish {
            eigen: Eigen {
                values: theta,
                vectors,
            },
            residuals,
            n_converged,
            leading_scale: lead,
            asymmetry,
        })
    }
}

/// x − B(Bᵀx), twice (classical Gram-Schmidt with reorthogonalization).
fn project_out(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    if b.size()[1] == 0 {
        return Ok(x.shallow_clone());
    }
    let bt = b.f_tr()?;
    let x = x - b.f_matmul(&bt.f_matmul(x)?)?;
    Ok(&x - b.f_matmul(&bt.f_matmul(&x)?)?)
}

/// The largest |θ| (guarded away from 0).
fn leading_scale(values: &[f64]) -> f64 {
    values
        .iter()
        .fold(0.0f64, |a, v| a.max(v.abs()))
        .max(f64::MIN_POSITIVE)
}

/// The scale a pair's residual is divided by.
fn pair_scale(theta: f64, lead: f64, scale: ToleranceScale) -> f64 {
    match scale {
        ToleranceScale::Leading => lead,
        ToleranceScale::PerPair => theta.abs().max(f64::EPSILON.powf(2.0 / 3.0) * lead),
    }
}

/// ‖G − Gᵀ‖_F/‖G‖_F (0 for the zero matrix).
fn relative_asymmetry(g: &Tensor) -> Result<f64> {
    let norm = g.f_norm()?.f_double_value(&[])?;
    if norm == 0.0 {
        return Ok(0.0);
    }
    Ok((g - g.f_tr()?).f_norm()?.f_double_value(&[])? / norm)
}
