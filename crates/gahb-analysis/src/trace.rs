//! tr A from products alone: Hutchinson's and Hutch++ estimators with a confidence interval
//! (PAPER.md §5 and Eq. 10: the effective dimension tr ∇f(y) of a denoiser, here without the
//! d network passes of the dense Jacobian).
//!
//! - Hutchinson (1989): tr A = E\[vᵀAv\] for Rademacher v (entries ±1); the mean of n probes, with a
//!   Student-t interval from their sample variance.
//! - Hutch++ (Meyer, Musco, Musco and Woodruff 2021): a third of the directions sketch the range,
//!   Y = A S, Q = orth(Y); a third give tr(QᵀAQ) exactly; the last third run Hutchinson on the
//!   deflated (I − QQᵀ)A(I − QQᵀ). The interval comes from the deflated probes (the sketched part has
//!   no sampling error given S). At equal products its error is far smaller when A is close to
//!   low rank, as a denoiser's Jacobian is (PAPER.md §5: most λ_k are near 0).
//!
//! Probes come from [`crate::operator::rademacher`] (seeded, [`gahb_tensor::random`] streams,
//! never libtorch's global generator). Both work for any square operator, symmetric or not
//! (vᵀJv = vᵀ((J + Jᵀ)/2)v), so for a denoiser [`jacobian_trace`] uses J·v alone (one forward
//! product per probe with a linearization).

use gahb_tensor::Denoiser;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::error::{Error, Result};
use crate::lanczos::LanczosOperator;
use crate::operator::{apply_counted, rademacher, DenoiserOperator, LinearOperator};

/// Which estimator produced a [`TraceEstimate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TraceMethod {
    /// Hutchinson's mean of vᵀAv.
    #[default]
    Hutchinson,
    /// Hutch++: sketched low-rank part plus Hutchinson on the rest.
    HutchPlusPlus,
    /// Stochastic Lanczos quadrature ([`crate::slq::slq`]); the same numbers as Hutchinson's with
    /// the same probes.
    Slq,
}

/// Settings of [`hutchinson`] and [`hutch_plus_plus`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraceConfig {
    /// Operator directions in all (Hutch++ splits them in thirds); products are this times the
    /// operator's products per column.
    pub n_directions: usize,
    /// Directions per operator application.
    pub block_size: usize,
    /// Seed of the probes.
    pub seed: u64,
    /// The confidence level of the interval, in (0, 1).
    pub confidence: f64,
}

impl Default for TraceConfig {
    fn default() -> Self {
        Self {
            n_directions: 60,
            block_size: 32,
            seed: 0,
            confidence: 0.95,
        }
    }
}

impl TraceConfig {
    /// Checks the settings for `method` (Hutchinson needs 2 directions, Hutch++ 4).
    pub fn validate(&self, method: TraceMethod) -> Result<()> {
        let least = match method {
            TraceMethod::HutchPlusPlus => 4,
            _ => 2,
        };
        if self.n_directions < least {
            return Err(Error::InvalidArgument {
                name: "n_directions",
                reason: format!(
                    "{method:?} needs at least {least} directions for an interval, got {}",
                    self.n_directions
                ),
            });
        }
        if self.block_size == 0 {
            return Err(Error::InvalidArgument {
                name: "block_size",
                reason: "must be at least 1".into(),
            });
        }
        check_confidence(self.confidence)
    }
}

/// An estimate of tr A with its interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceEstimate {
    /// The estimator.
    pub method: TraceMethod,
    /// The estimate of tr A.
    pub estimate: f64,
    /// Its standard error (from the random probes' sample variance).
    pub std_error: f64,
    /// The interval's lower end, estimate − t·std_error.
    pub ci_low: f64,
    /// The interval's upper end.
    pub ci_high: f64,
    /// The interval's confidence level.
    pub confidence: f64,
    /// Random probes whose variance gives the interval.
    pub n_probes: usize,
    /// Operator directions applied.
    pub n_directions: usize,
    /// Single-vector products spent.
    pub n_products: usize,
    /// Hutch++'s exactly computed part tr(QᵀAQ) (0 for the other methods).
    pub sketched_part: f64,
}

impl TraceEstimate {
    /// Whether `value` lies in the interval.
    pub fn contains(&self, value: f64) -> bool {
        self.ci_low <= value && value <= self.ci_high
    }
}

/// Hutchinson's estimate of tr A from `cfg.n_directions` Rademacher probes.
pub fn hutchinson(op: &mut dyn LinearOperator, cfg: &TraceConfig) -> Result<TraceEstimate> {
    cfg.validate(TraceMethod::Hutchinson)?;
    let mut n_products = 0;
    let values = quadratic_forms(op, cfg, 0, cfg.n_directions, None, &mut n_products)?;
    let mut est = summarize(&values, cfg.confidence, TraceMethod::Hutchinson)?;
    est.n_directions = cfg.n_directions;
    est.n_products = n_products;
    Ok(est)
}

/// The Hutch++ estimate of tr A from `cfg.n_directions` directions (thirds: sketch, exact part,
/// deflated probes; the probes get the remainder).
pub fn hutch_plus_plus(op: &mut dyn LinearOperator, cfg: &TraceConfig) -> Result<TraceEstimate> {
    const OP: &str = "hutch_plus_plus";
    cfg.validate(TraceMethod::HutchPlusPlus)?;
    let d = op.dim();
    let device = op.device();
    // Thirds, at most d sketch directions, at least 2 probes.
    let n_sketch = (cfg.n_directions / 3).min(d).max(1);
    let n_probe = cfg.n_directions - 2 * n_sketch;
    let mut n_products = 0;
    let s = rademacher(cfg.seed, SKETCH_STREAM, d, n_sketch, device)?;
    let y = apply_blocks(op, &s, cfg.block_size, &mut n_products, OP)?;
    let (q, _) = Tensor::f_linalg_qr(&y, "reduced")?;
    let aq = apply_blocks(op, &q, cfg.block_size, &mut n_products, OP)?;
    let sketched = (&q * &aq).f_sum(Kind::Double)?.f_double_value(&[])?;
    let values = quadratic_forms(op, cfg, PROBE_STREAM, n_probe, Some(&q), &mut n_products)?;
    let mut est = summarize(&values, cfg.confidence, TraceMethod::HutchPlusPlus)?;
    est.estimate += sketched;
    est.ci_low += sketched;
    est.ci_high += sketched;
    est.sketched_part = sketched;
    est.n_directions = 2 * n_sketch + n_probe;
    est.n_products = n_products;
    Ok(est)
}

/// tr ∇f(y) of a denoiser at one image (`[1, c, h, w]` or `[c, h, w]`): the effective dimension
/// of PAPER.md Eq. 10, by `method` ([`TraceMethod::Slq`] is not accepted here) through J·v alone.
pub fn jacobian_trace(
    f: &dyn Denoiser,
    y: &Tensor,
    method: TraceMethod,
    cfg: &TraceConfig,
) -> Result<TraceEstimate> {
    let mut op = DenoiserOperator::new(f, y, LanczosOperator::Jacobian)?;
    match method {
        TraceMethod::Hutchinson => hutchinson(&mut op, cfg),
        TraceMethod::HutchPlusPlus => hutch_plus_plus(&mut op, cfg),
        TraceMethod::Slq => Err(Error::InvalidArgument {
            name: "method",
            reason: "SLQ needs the symmetric part: call slq::slq with a DenoiserOperator".into(),
        }),
    }
}

/// The two-sided quantile t_{p} of Student's t with `dof` degrees of freedom (exact for 1 and 2,
/// Hill's 1970 expansion in 1/ν around the normal quantile beyond; error < 1e-3 from ν = 3).
pub fn student_t_quantile(p: f64, dof: usize) -> f64 {
    let nu = dof.max(1) as f64;
    match dof {
        0 | 1 => (std::f64::consts::PI * (p - 0.5)).tan(),
        2 => (2.0 * p - 1.0) * (2.0 / (4.0 * p * (1.0 - p))).sqrt(),
        _ => {
            let z = normal_quantile(p);
            let z2 = z * z;
            let g1 = (z2 + 1.0) * z / 4.0;
            let g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0;
            let g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0;
            let g4 =
                ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) * z / 92160.0;
            z + g1 / nu + g2 / nu.powi(2) + g3 / nu.powi(3) + g4 / nu.powi(4)
        }
    }
}

/// The standard normal quantile Φ⁻¹(p) for p in (0, 1) (Acklam's rational approximation,
/// relative error < 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    const P_LOW: f64 = 0.02425;
    if p < P_LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p <= 1.0 - P_LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    }
}

/// The sketch's and the probes' stream ranges (disjoint, so Hutch++'s probes are independent of
/// its sketch).
const SKETCH_STREAM: u64 = 1 << 40;
const PROBE_STREAM: u64 = 2 << 40;

pub(crate) fn check_confidence(confidence: f64) -> Result<()> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(Error::InvalidArgument {
            name: "confidence",
            reason: format!("must lie in (0, 1), got {confidence}"),
        });
    }
    Ok(())
}

/// The mean of per-probe values with its standard error and Student-t interval.
pub(crate) fn summarize(
    values: &[f64],
    confidence: f64,
    method: TraceMethod,
) -> Result<TraceEstimate> {
    let n = values.len();
    if n < 2 {
        return Err(Error::InvalidArgument {
            name: "probes",
            reason: format!("an interval needs at least 2 probes, got {n}"),
        });
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let se = (var / n as f64).sqrt();
    let t = student_t_quantile(0.5 + confidence / 2.0, n - 1);
    Ok(TraceEstimate {
        method,
        estimate: mean,
        std_error: se,
        ci_low: mean - t * se,
        ci_high: mean + t * se,
        confidence,
        n_probes: n,
        n_directions: n,
        n_products: 0,
        sketched_part: 0.0,
    })
}

/// vᵀAv for `n` Rademacher probes from `first_stream`, deflated by (I − QQᵀ) when `q` is given.
fn quadratic_forms(
    op: &mut dyn LinearOperator,
    cfg: &TraceConfig,
    first_stream: u64,
    n: usize,
    q: Option<&Tensor>,
    n_products: &mut usize,
) -> Result<Vec<f64>> {
    let d = op.dim();
    let mut values = Vec::with_capacity(n);
    let mut done = 0;
    while done < n {
        let nb = cfg.block_size.min(n - done);
        let mut v = rademacher(cfg.seed, first_stream + done as u64, d, nb, op.device())?;
        if let Some(q) = q {
            v = &v - q.f_matmul(&q.f_tr()?.f_matmul(&v)?)?;
        }
        let w = apply_counted(op, &v, n_products, "trace estimator")?;
        let forms = (&v * &w).f_sum_dim_intlist(&[0i64][..], false, Kind::Double)?;
        values.extend(Vec::<f64>::try_from(&forms.f_to_device(tch::Device::Cpu)?)?);
        done += nb;
    }
    Ok(values)
}

/// A·X for the columns of X, `block` at a time.
fn apply_blocks(
    op: &mut dyn LinearOperator,
    x: &Tensor,
    block: usize,
    n_products: &mut usize,
    caller: &'static str,
) -> Result<Tensor> {
    let n = x.size()[1];
    let mut parts = Vec::new();
    let mut at = 0i64;
    while at < n {
        let nb = (block as i64).min(n - at);
        parts.push(apply_counted(
            op,
            &x.f_narrow(1, at, nb)?,
            n_products,
            caller,
        )?);
        at += nb;
    }
    Ok(Tensor::f_cat(&parts, 1)?)
}
