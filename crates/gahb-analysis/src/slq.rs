//! The spectral density of a symmetric operator by stochastic Lanczos quadrature (SLQ; Golub and
//! Meurant 1994, Ubaru, Chen and Saad 2017, Lin, Saad and Yang 2016), for the distribution of a
//! denoiser's shrinkage factors λ_k (PAPER.md §5, Fig. 3 and Fig. 8: the eigenvalue spectra of
//! ∇f(y)) without the d products and d² memory of the dense route.
//!
//! For each of n Rademacher probes v (normalized, q₁ = v/√d), m Lanczos steps (full
//! reorthogonalization, all probes batched into one operator application per step) give a
//! tridiagonal T_m = U Θ Uᵀ; the Gauss quadrature nodes θ_j with weights τ_j = U₁ⱼ² satisfy
//! q₁ᵀ g(A) q₁ ≈ Σ_j τ_j g(θ_j), exactly for polynomials of degree < 2m. Averaged over the probes
//! (weights τ_j/n), the nodes approximate the spectral measure (1/d) Σ_k δ(t − λ_k): the weights
//! sum to 1, d·Σ τ_j θ_j = vᵀAv (so tr A comes out as Hutchinson's estimate with the same probes,
//! with its interval), and a Gaussian kernel of width `bandwidth` smooths the nodes into a
//! density on a grid. A probe whose Krylov space is invariant (β ≈ 0, e.g. a low-rank projection)
//! stops early; its quadrature is then exact.

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};
use crate::operator::{apply_counted, rademacher, LinearOperator};
use crate::trace::{check_confidence, summarize, TraceEstimate, TraceMethod};

/// Settings of [`slq`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlqConfig {
    /// Random probes (at least 2, for the trace interval).
    pub n_probes: usize,
    /// Lanczos steps per probe (products per probe, at most d).
    pub n_steps: usize,
    /// Seed of the probes.
    pub seed: u64,
    /// Points of the density grid (at least 2).
    pub grid_points: usize,
    /// Width σ of the Gaussian kernel; `None` means (θ_max − θ_min)/(2·n_steps), the spacing of
    /// m Gauss nodes on the spectrum's range.
    pub bandwidth: Option<f64>,
    /// The confidence level of the trace's interval, in (0, 1).
    pub confidence: f64,
}

impl Default for SlqConfig {
    fn default() -> Self {
        Self {
            n_probes: 10,
            n_steps: 30,
            seed: 0,
            grid_points: 512,
            bandwidth: None,
            confidence: 0.95,
        }
    }
}

impl SlqConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if self.n_probes < 2 {
            return Err(Error::InvalidArgument {
                name: "n_probes",
                reason: format!("needs at least 2 for an interval, got {}", self.n_probes),
            });
        }
        if self.n_steps == 0 {
            return Err(Error::InvalidArgument {
                name: "n_steps",
                reason: "must be at least 1".into(),
            });
        }
        if self.grid_points < 2 {
            return Err(Error::InvalidArgument {
                name: "grid_points",
                reason: format!("must be at least 2, got {}", self.grid_points),
            });
        }
        if let Some(bw) = self.bandwidth {
            if !(bw.is_finite() && bw > 0.0) {
                return Err(Error::InvalidArgument {
                    name: "bandwidth",
                    reason: format!("must be finite and positive, got {bw}"),
                });
            }
        }
        check_confidence(self.confidence)
    }
}

/// A spectral density estimate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpectralDensity {
    /// d.
    pub dim: usize,
    /// Quadrature nodes of every probe, concatenated.
    pub nodes: Vec<f64>,
    /// Their weights τ_j/n (sum 1).
    pub weights: Vec<f64>,
    /// Lanczos steps each probe took (fewer than asked after a breakdown).
    pub steps: Vec<usize>,
    /// The density's grid, ascending.
    pub grid: Vec<f64>,
    /// The smoothed density on the grid (integrates to 1 up to the kernel's tails).
    pub density: Vec<f64>,
    /// The kernel width σ used.
    pub bandwidth: f64,
    /// tr A = d·Σ τ_j θ_j, with its interval over the probes.
    pub trace: TraceEstimate,
    /// Single-vector products spent.
    pub n_products: usize,
}

impl SpectralDensity {
    /// The estimated eigenvalue of rank `rank` (0 = the largest) from the pooled quadrature:
    /// the nodes, sorted descending, each hold d·τ_j eigenvalues; rank r sits at the count
    /// r + ½, interpolated linearly between the nodes' centres (clamped to the extreme nodes).
    /// Its accuracy is that of the quadrature's distribution function, about one node spacing;
    /// for the top few eigenvalues, use a top-k route instead.
    pub fn value_at_rank(&self, rank: usize) -> f64 {
        let mut nodes: Vec<(f64, f64)> = self
            .nodes
            .iter()
            .zip(&self.weights)
            .filter(|(t, w)| t.is_finite() && **w > 0.0)
            .map(|(t, w)| (*t, self.dim as f64 * w))
            .collect();
        nodes.sort_by(|a, b| b.0.total_cmp(&a.0));
        let target = rank as f64 + 0.5;
        let mut before = 0.0;
        let mut last: Option<(f64, f64)> = None; // (centre count, value)
        for (theta, count) in nodes {
            let centre = before + 0.5 * count;
            if centre >= target {
                return match last {
                    Some((c0, t0)) if centre > c0 => {
                        t0 + (theta - t0) * (target - c0) / (centre - c0)
                    }
                    _ => theta,
                };
            }
            last = Some((centre, theta));
            before += count;
        }
        last.map_or(f64::NAN, |(_, t)| t)
    }

    /// ∫ density over the grid (trapezoid rule).
    pub fn integral(&self) -> f64 {
        self.grid
            .windows(2)
            .zip(self.density.windows(2))
            .map(|(t, p)| 0.5 * (t[1] - t[0]) * (p[0] + p[1]))
            .sum()
    }

    /// The estimated number of eigenvalues in [lo, hi): d·Σ of the weights of the nodes there.
    pub fn eigenvalue_count(&self, lo: f64, hi: f64) -> f64 {
        let w: f64 = self
            .nodes
            .iter()
            .zip(&self.weights)
            .filter(|(t, _)| **t >= lo && **t < hi)
            .map(|(_, w)| w)
            .sum();
        self.dim as f64 * w
    }

    /// d·Σ τ_j θ_j over all nodes (equals `trace.estimate`).
    pub fn trace_from_nodes(&self) -> f64 {
        self.dim as f64
            * self
                .nodes
                .iter()
                .zip(&self.weights)
                .map(|(t, w)| t * w)
                .sum::<f64>()
    }
}

/// The spectral density of a symmetric operator by SLQ (see the module doc).
pub fn slq(op: &mut dyn LinearOperator, cfg: &SlqConfig) -> Result<SpectralDensity> {
    const OP: &str = "slq";
    cfg.validate()?;
    let d = op.dim();
    let device = op.device();
    let n = cfg.n_probes;
    let m = cfg.n_steps.min(d);
    let opts = (Kind::Double, device);
    let mut n_products = 0;
    // [d, n]: one normalized Rademacher probe per column.
    let mut q = rademacher(cfg.seed, 0, d, n, device)? / (d as f64).sqrt();
    let mut q_prev = Tensor::f_zeros([d as i64, n as i64], opts)?;
    let mut beta_prev = Tensor::f_zeros([n as i64], opts)?;
    let mut basis: Vec<Tensor> = Vec::with_capacity(m);
    let mut alpha: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut beta: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut active: Vec<bool> = vec![true; n];
    for step in 0..m {
        let idx: Vec<i64> = (0..n as i64).filter(|&p| active[p as usize]).collect();
        if idx.is_empty() {
            break;
        }
        let idx_t = Tensor::from_slice(&idx).f_to_device(device)?;
        let w_act = apply_counted(op, &q.f_index_select(1, &idx_t)?, &mut n_products, OP)?;
        let w = Tensor::f_zeros([d as i64, n as i64], opts)?.f_index_copy(1, &idx_t, &w_act)?;
        basis.push(q.shallow_clone());
        let a = (&q * &w).f_sum_dim_intlist(&[0i64][..], false, Kind::Double)?;
        let mut r = &w - &q * &a - &q_prev * &beta_prev;
        // Full reorthogonalization of each probe's vector against its own basis, twice.
        let stack = Tensor::f_stack(&basis, 0)?; // [j + 1, d, n]
        for _ in 0..2 {
            let coef =
                (&stack * r.f_unsqueeze(0)?).f_sum_dim_intlist(&[1i64][..], true, Kind::Double)?;
            r = &r - (&stack * coef).f_sum_dim_intlist(&[0i64][..], false, Kind::Double)?;
        }
        let a = Vec::<f64>::try_from(&a.f_to_device(Device::Cpu)?)?;
        let b_t = r.f_norm_scalaropt_dim(2, [0i64], false)?;
        let b = Vec::<f64>::try_from(&b_t.f_to_device(Device::Cpu)?)?;
        let scale = Vec::<f64>::try_from(
            &w.f_norm_scalaropt_dim(2, [0i64], false)?
                .f_to_device(Device::Cpu)?,
        )?;
        let mut keep = vec![0.0f64; n];
        for &p in &idx {
            let p = p as usize;
            alpha[p].push(a[p]);
            let breakdown = b[p] <= 1e-10 * scale[p].max(a[p].abs()).max(f64::MIN_POSITIVE);
            if breakdown || step + 1 == m {
                active[p] = false;
            } else {
                beta[p].push(b[p]);
                keep[p] = 1.0;
            }
        }
        let keep_t = Tensor::from_slice(&keep).f_to_device(device)?;
        let safe_b = b_t.f_clamp_min(f64::MIN_POSITIVE)?;
        q_prev = q;
        q = (&r / &safe_b) * &keep_t;
        beta_prev = &b_t * &keep_t;
    }
    // Gauss quadrature per probe.
    let mut nodes = Vec::new();
    let mut weights = Vec::new();
    let mut steps = Vec::with_capacity(n);
    let mut forms = Vec::with_capacity(n);
    for p in 0..n {
        let s = alpha[p].len();
        steps.push(s);
        let t = tridiagonal(&alpha[p], &beta[p][..s - 1])?;
        let (theta, u) = t.f_linalg_eigh("L")?;
        let theta = Vec::<f64>::try_from(&theta)?;
        let tau = Vec::<f64>::try_from(&u.f_select(0, 0)?.f_square()?)?;
        forms.push(d as f64 * alpha[p][0]);
        nodes.extend_from_slice(&theta);
        weights.extend(tau.iter().map(|w| w / n as f64));
    }
    let mut trace = summarize(&forms, cfg.confidence, TraceMethod::Slq)?;
    trace.n_products = n_products;
    trace.n_directions = n_products / op.products_per_column().max(1);
    let (lo, hi) = nodes
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), t| {
            (a.min(*t), b.max(*t))
        });
    let bandwidth = cfg.bandwidth.unwrap_or_else(|| {
        let range = hi - lo;
        if range > 0.0 {
            range / (2.0 * m as f64)
        } else {
            1e-3 * hi.abs().max(1.0)
        }
    });
    let (g_lo, g_hi) = (lo - 6.0 * bandwidth, hi + 6.0 * bandwidth);
    let step = (g_hi - g_lo) / (cfg.grid_points - 1) as f64;
    let grid: Vec<f64> = (0..cfg.grid_points)
        .map(|i| g_lo + step * i as f64)
        .collect();
    let norm = 1.0 / (bandwidth * (2.0 * std::f64::consts::PI).sqrt());
    let density = grid
        .iter()
        .map(|t| {
            nodes
                .iter()
                .zip(&weights)
                .map(|(c, w)| w * norm * (-0.5 * ((t - c) / bandwidth).powi(2)).exp())
                .sum()
        })
        .collect();
    Ok(SpectralDensity {
        dim: d,
        nodes,
        weights,
        steps,
        grid,
        density,
        bandwidth,
        trace,
        n_products,
    })
}

/// The symmetric tridiagonal matrix with diagonal `a` and off-diagonal `b`, f64 on the CPU.
fn tridiagonal(a: &[f64], b: &[f64]) -> Result<Tensor> {
    let n = a.len();
    let mut data = vec![0.0f64; n * n];
    for i in 0..n {
        data[i * n + i] = a[i];
        if i + 1 < n {
            data[i * n + i + 1] = b[i];
            data[(i + 1) * n + i] = b[i];
        }
    }
    Ok(Tensor::from_slice(&data).f_reshape([n as i64, n as i64])?)
}
