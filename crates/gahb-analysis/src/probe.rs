//! The Jacobian checks of PAPER.md §5 without forming J (the matrix-free route at 80×80 and
//! beyond): the bias-free identity f(y) = ∇f(y)·y from one product J·y, and the asymmetry
//! ‖J − Jᵀ‖_F/‖J‖_F from Gaussian probes, since E‖A v‖² = ‖A‖_F² for v ~ N(0, I).
//!
//! The asymmetry is the ratio of two such estimates over the same probes,
//! √(Σ_i ‖(J − Jᵀ) v_i‖² / Σ_i ‖J v_i‖²); its relative error falls like 1/√(n·r) for an operator
//! of effective rank r (a denoiser's Jacobian at 80×80 has r in the hundreds), and it is exact
//! in expectation of each sum, not of the ratio. `tests/probe.rs` compares it with the dense
//! value on known matrices.

use std::time::Instant;

use gahb_tensor::Denoiser;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::error::{Error, Result};
use crate::jacobian::{jvp, single_image, vjp};

/// What [`probed_checks`] measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbedChecks {
    /// ‖f(y) − J·y‖/‖f(y)‖ (exact, from one product).
    pub bias_free_residual: f64,
    /// The estimate of ‖J − Jᵀ‖_F/‖J‖_F.
    pub asymmetry: f64,
    /// Gaussian probes used for the asymmetry.
    pub n_probes: usize,
    /// Single-vector products spent (J·y, then J·v and Jᵀ·v per probe).
    pub n_products: usize,
    /// Wall time in seconds.
    pub wall_s: f64,
}

/// The bias-free residual and the estimated asymmetry of `f`'s Jacobian at `y` (`[1, c, h, w]`
/// or `[c, h, w]`) from `n_probes` Gaussian probes drawn from `seed`, in batches of `block_size`.
pub fn probed_checks(
    f: &dyn Denoiser,
    y: &Tensor,
    n_probes: usize,
    block_size: usize,
    seed: u64,
) -> Result<ProbedChecks> {
    const OP: &str = "probed_checks";
    if n_probes == 0 {
        return Err(Error::InvalidArgument {
            name: "n_probes",
            reason: "needs at least 1 probe for the asymmetry".into(),
        });
    }
    if block_size == 0 {
        return Err(Error::InvalidArgument {
            name: "block_size",
            reason: "must be at least 1".into(),
        });
    }
    let t0 = Instant::now();
    let y = single_image(y, OP)?.f_to_device(f.device())?;
    let shape = y.size();
    let norm2 = |t: &Tensor| -> Result<f64> {
        let v = t
            .f_to_kind(Kind::Double)?
            .f_square()?
            .f_sum(Kind::Double)?
            .f_double_value(&[])?;
        if v.is_finite() {
            Ok(v)
        } else {
            Err(Error::NonFinite { op: OP })
        }
    };
    let fy = tch::no_grad(|| f.denoise(&y))?;
    let jy = jvp(f, &y, &y)?;
    let residual = norm2(&(&fy.f_to_kind(Kind::Double)? - jy.f_to_kind(Kind::Double)?))?.sqrt();
    let scale = norm2(&fy)?.sqrt();
    let bias_free_residual = if scale > 0.0 {
        residual / scale
    } else {
        residual
    };
    let mut n_products = 1;
    let (mut skew, mut full) = (0.0, 0.0);
    let mut done = 0;
    while done < n_probes {
        let b = block_size.min(n_probes - done);
        let v = gahb_tensor::random::standard_normal(
            seed,
            done as u64,
            b,
            &shape[1..],
            tch::Device::Cpu,
        )?
        .f_to_device(f.device())?
        .f_to_kind(y.kind())?;
        let jv = jvp(f, &y, &v)?.f_to_kind(Kind::Double)?;
        let jtv = vjp(f, &y, &v)?.f_to_kind(Kind::Double)?;
        n_products += 2 * b;
        skew += norm2(&(&jv - &jtv))?;
        full += norm2(&jv)?;
        done += b;
    }
    let asymmetry = if full > 0.0 {
        (skew / full).sqrt()
    } else {
        0.0
    };
    Ok(ProbedChecks {
        bias_free_residual,
        asymmetry,
        n_probes,
        n_products,
        wall_s: t0.elapsed().as_secs_f64(),
    })
}
