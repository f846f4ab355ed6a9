//! The exact Jacobian ∇f(y) of a denoiser at a noisy image (PAPER.md §5, "Computation" and
//! "Cheaper route").
//!
//! The Jacobian is the d×d matrix J with J[i, j] = ∂f_i/∂y_j, d = c·h·w, pixels flattened in
//! `[c, h, w]` row-major order. Two exact routes:
//! - [`JacobianRoute::Linearized`]: push the identity basis e_j through
//!   [`Denoiser::linearized`] in batches; each output is J·e_j, a column of J. For a bias-free ReLU
//!   network with its masks fixed at y this is exact and forward-only (the fast route).
//! - [`JacobianRoute::Backward`]: batched reverse-mode passes. The image is repeated k times with
//!   `requires_grad`, the batch is denoised once, and the gradient of Σ_b ⟨e_{i_b}, f(y)_b⟩ gives
//!   the rows e_iᵀ J for k output pixels at once. This needs a denoiser that treats batch entries
//!   independently (eval mode) and keeps its autograd graph.
//!
//! Every result carries the checks of PAPER.md §5: the relative residual of f(y) = ∇f(y)·y
//! (meaningful for bias-free denoisers) and the relative asymmetry ‖J − Jᵀ‖_F/‖J‖_F.

use std::time::Instant;

use gahb_tensor::{check_batch, Denoiser};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::error::{Error, Result};

/// How the Jacobian is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum JacobianRoute {
    /// [`JacobianRoute::Linearized`] when the denoiser offers it, else [`JacobianRoute::Backward`].
    #[default]
    Auto,
    /// Forward-only, through [`Denoiser::linearized`].
    Linearized,
    /// Batched reverse-mode automatic differentiation.
    Backward,
}

impl JacobianRoute {
    /// The route's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            JacobianRoute::Auto => "auto",
            JacobianRoute::Linearized => "linearized",
            JacobianRoute::Backward => "backward",
        }
    }
}

/// Settings of [`jacobian()`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JacobianConfig {
    /// The route.
    pub route: JacobianRoute,
    /// How many basis vectors (linearized) or output pixels (backward) go through one pass.
    pub batch_size: usize,
}

impl Default for JacobianConfig {
    fn default() -> Self {
        Self {
            route: JacobianRoute::Auto,
            batch_size: 64,
        }
    }
}

impl JacobianConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(Error::InvalidArgument {
                name: "batch_size",
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }
}

/// The Jacobian with its checks.
#[derive(Debug)]
pub struct JacobianReport {
    /// ∇f(y), `[d, d]`, J[i, j] = ∂f_i/∂y_j, in the denoiser's float kind, on its device.
    pub jacobian: Tensor,
    /// The check numbers (serialisable).
    pub summary: JacobianSummary,
}

/// The numbers reported with every Jacobian.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JacobianSummary {
    /// The route that ran (never `auto`).
    pub route: JacobianRoute,
    /// The batch size used.
    pub batch_size: usize,
    /// d = c·h·w.
    pub dim: usize,
    /// ‖f(y) − J·y‖/‖f(y)‖; near machine precision for a bias-free denoiser (PAPER.md §5).
    pub bias_free_residual: f64,
    /// Whether the denoiser declares itself bias-free (otherwise the residual means little).
    pub bias_free: bool,
    /// ‖J − Jᵀ‖_F/‖J‖_F.
    pub asymmetry: f64,
    /// tr J, the effective dimension (PAPER.md §5, Eq. 10).
    pub trace: f64,
    /// Wall time of the Jacobian passes alone, in seconds.
    pub wall_s: f64,
    /// The denoiser's name.
    pub denoiser: String,
}

/// Computes the exact Jacobian ∇f(y) at one image `y` (`[1, c, h, w]` or `[c, h, w]`).
///
/// # Shapes
/// `y`: `[1, c, h, w]` (or `[c, h, w]`); the result's `jacobian` is `[d, d]` with d = c·h·w.
pub fn jacobian(f: &dyn Denoiser, y: &Tensor, cfg: &JacobianConfig) -> Result<JacobianReport> {
    cfg.validate()?;
    let y = single_image(y, "jacobian")?.f_to_device(f.device())?;
    let d = y.numel();
    let route = resolve_route(f, &y, cfg.route)?;
    let start = Instant::now();
    let jac = match route {
        JacobianRoute::Linearized => jacobian_linearized(f, &y, cfg.batch_size)?,
        _ => jacobian_backward(f, &y, cfg.batch_size)?,
    };
    let wall_s = start.elapsed().as_secs_f64();
    if !bool::try_from(jac.f_isfinite()?.f_all()?)? {
        return Err(Error::NonFinite { op: "jacobian" });
    }
    let summary = JacobianSummary {
        route,
        batch_size: cfg.batch_size,
        dim: d,
        bias_free_residual: bias_free_residual(f, &y, &jac)?,
        bias_free: f.is_bias_free(),
        asymmetry: asymmetry(&jac)?,
        trace: jac
            .f_to_kind(Kind::Double)?
            .f_trace()?
            .f_double_value(&[])?,
        wall_s,
        denoiser: f.name(),
    };
    Ok(JacobianReport {
        jacobian: jac,
        summary,
    })
}

/// ‖J − Jᵀ‖_F/‖J‖_F of a square matrix (0 for the zero matrix).
pub fn asymmetry(j: &Tensor) -> Result<f64> {
    check_square(j, "asymmetry")?;
    let j = j.f_to_kind(Kind::Double)?;
    let norm = j
        .f_square()?
        .f_sum(Kind::Double)?
        .f_double_value(&[])?
        .sqrt();
    if norm == 0.0 {
        return Ok(0.0);
    }
    let diff = (&j - j.f_tr()?)
        .f_square()?
        .f_sum(Kind::Double)?
        .f_double_value(&[])?
        .sqrt();
    Ok(diff / norm)
}

/// ‖f(y) − J·y‖/‖f(y)‖ for one image `y` and its Jacobian `j` (`[d, d]`).
pub fn bias_free_residual(f: &dyn Denoiser, y: &Tensor, j: &Tensor) -> Result<f64> {
    let y = single_image(y, "bias_free_residual")?.f_to_device(f.device())?;
    check_square(j, "bias_free_residual")?;
    let fy = tch::no_grad(|| f.denoise(&y))?
        .f_to_kind(Kind::Double)?
        .f_reshape([-1])?;
    let jy = j
        .f_to_kind(Kind::Double)?
        .f_mv(&y.f_to_kind(Kind::Double)?.f_reshape([-1])?)?;
    let num = (&fy - jy).f_norm()?.f_double_value(&[])?;
    let den = fy.f_norm()?.f_double_value(&[])?;
    Ok(if den > 0.0 { num / den } else { num })
}

/// J·v for a batch of directions `v` (`[k, c, h, w]`): through [`Denoiser::linearized`] when the
/// denoiser offers it, else by double reverse mode (the gradient with respect to u of
/// ⟨v, ∇_y⟨u, f(y)⟩⟩, which needs a twice-differentiable graph, as ReLU networks have).
pub fn jvp(f: &dyn Denoiser, y: &Tensor, v: &Tensor) -> Result<Tensor> {
    let y = single_image(y, "jvp")?.f_to_device(f.device())?;
    let v = v.f_to_device(f.device())?.f_to_kind(y.kind())?;
    if let Some(out) = tch::no_grad(|| f.linearized(&y, &v))? {
        return Ok(out);
    }
    let k = check_batch("jvp", &v)?.0;
    let yk = y
        .f_repeat([k, 1, 1, 1])?
        .f_detach()?
        .f_set_requires_grad(true)?;
    let u = v.f_zeros_like()?.f_set_requires_grad(true)?;
    let out = f.denoise(&yk)?;
    check_graph(f, &out, "backward")?;
    let s = (&out * &u).f_sum(Kind::Float)?;
    let g = Tensor::f_run_backward(&[&s], &[&yk], true, true)?;
    let t = (&g[0] * &v).f_sum(Kind::Float)?;
    let jv = Tensor::f_run_backward(&[&t], &[&u], false, false)?;
    Ok(jv[0].f_detach()?)
}

/// Jᵀ·u for a batch of directions `u` (`[k, c, h, w]`), by one batched reverse-mode pass.
pub fn vjp(f: &dyn Denoiser, y: &Tensor, u: &Tensor) -> Result<Tensor> {
    let y = single_image(y, "vjp")?.f_to_device(f.device())?;
    let u = u.f_to_device(f.device())?.f_to_kind(y.kind())?;
    let (k, c, h, w) = check_batch("vjp", &u)?;
    if [c, h, w] != y.size()[1..] {
        return Err(Error::ShapeMismatch {
            op: "vjp",
            expected: format!("[k, {:?}] like the image", &y.size()[1..]),
            got: u.size(),
        });
    }
    let yk = y
        .f_repeat([k, 1, 1, 1])?
        .f_detach()?
        .f_set_requires_grad(true)?;
    let out = f.denoise(&yk)?;
    check_graph(f, &out, "backward")?;
    let s = (&out * &u).f_sum(Kind::Float)?;
    let g = Tensor::f_run_backward(&[&s], &[&yk], false, false)?;
    Ok(g[0].f_detach()?)
}

/// Accepts `[1, c, h, w]` or `[c, h, w]` and returns `[1, c, h, w]`.
pub(crate) fn single_image(y: &Tensor, op: &'static str) -> Result<Tensor> {
    let y = if y.dim() == 3 {
        y.f_unsqueeze(0)?
    } else {
        y.shallow_clone()
    };
    let (b, ..) = check_batch(op, &y)?;
    if b != 1 {
        return Err(Error::ShapeMismatch {
            op,
            expected: "[1, c, h, w] or [c, h, w]".into(),
            got: y.size(),
        });
    }
    Ok(y.f_detach()?)
}

pub(crate) fn check_square(j: &Tensor, op: &'static str) -> Result<usize> {
    let s = j.size();
    if s.len() != 2 || s[0] != s[1] || s[0] == 0 {
        return Err(Error::NotSquare { op, got: s });
    }
    Ok(s[0] as usize)
}

fn resolve_route(f: &dyn Denoiser, y: &Tensor, route: JacobianRoute) -> Result<JacobianRoute> {
    let probe = || -> Result<bool> {
        let v = y.f_zeros_like()?;
        Ok(tch::no_grad(|| f.linearized(y, &v))?.is_some())
    };
    match route {
        JacobianRoute::Backward => Ok(JacobianRoute::Backward),
        JacobianRoute::Linearized => {
            if probe()? {
                Ok(JacobianRoute::Linearized)
            } else {
                Err(Error::RouteUnavailable {
                    route: "linearized",
                    denoiser: f.name(),
                    reason:
                        "the denoiser offers no forward linearization; use `backward` or `auto`"
                            .into(),
                })
            }
        }
        JacobianRoute::Auto => Ok(if probe()? {
            JacobianRoute::Linearized
        } else {
            JacobianRoute::Backward
        }),
    }
}

fn jacobian_linearized(f: &dyn Denoiser, y: &Tensor, batch: usize) -> Result<Tensor> {
    let size = y.size();
    let d = y.numel() as i64;
    let opts = (y.kind(), y.device());
    let mut cols = Vec::new();
    let mut start = 0i64;
    while start < d {
        let k = (batch as i64).min(d - start);
        // Rows start..start+k of the identity, as images: [k, c, h, w].
        let basis = Tensor::f_eye_m(k, d, opts)?
            .f_roll([start], [1])?
            .f_reshape([k, size[1], size[2], size[3]])?;
        let out =
            tch::no_grad(|| f.linearized(y, &basis))?.ok_or_else(|| Error::RouteUnavailable {
                route: "linearized",
                denoiser: f.name(),
                reason: "linearized returned None after first offering it".into(),
            })?;
        if out.size() != basis.size() {
            return Err(Error::ShapeMismatch {
                op: "jacobian (linearized output)",
                expected: format!("{:?}", basis.size()),
                got: out.size(),
            });
        }
        // Each output image is J·e_j, column j of J.
        cols.push(out.f_reshape([k, d])?);
        start += k;
    }
    Ok(Tensor::f_cat(&cols, 0)?.f_tr()?.f_contiguous()?)
}

fn jacobian_backward(f: &dyn Denoiser, y: &Tensor, batch: usize) -> Result<Tensor> {
    let size = y.size();
    let d = y.numel() as i64;
    let opts = (y.kind(), y.device());
    let mut rows = Vec::new();
    let mut start = 0i64;
    while start < d {
        let k = (batch as i64).min(d - start);
        let onehot = Tensor::f_eye_m(k, d, opts)?
            .f_roll([start], [1])?
            .f_reshape([k, size[1], size[2], size[3]])?;
        // Each gradient image is e_iᵀ J, row i of J.
        let g = vjp(f, y, &onehot)?;
        rows.push(g.f_reshape([k, d])?);
        start += k;
    }
    Ok(Tensor::f_cat(&rows, 0)?)
}

fn check_graph(f: &dyn Denoiser, out: &Tensor, route: &'static str) -> Result<()> {
    if !out.requires_grad() {
        return Err(Error::RouteUnavailable {
            route,
            denoiser: f.name(),
            reason: "the denoiser's output carries no autograd graph (does it run under no_grad?)"
                .into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use gahb_tensor::{IdentityDenoiser, LinearDenoiser};
    use tch::Device;

    use super::*;
    use crate::toy::{BiasFreeConvNet, NoLinearization};

    fn check(a: &Tensor, b: &Tensor, tol: f64) {
        let diff = (a.to_kind(Kind::Double) - b.to_kind(Kind::Double))
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff <= tol, "max difference {diff} > {tol}");
    }

    fn cfg(route: JacobianRoute, batch_size: usize) -> JacobianConfig {
        JacobianConfig { route, batch_size }
    }

    #[test]
    fn linear_denoiser_jacobian_is_its_matrix_on_both_routes() {
        // A non-symmetric matrix on 1×3×4 images (d = 12); batch 5 does not divide d.
        let m = gahb_tensor::random::normal_like(100, &[12, 12], Kind::Float).expect("draw");
        let f = LinearDenoiser::new(&m, [1, 3, 4]).expect("denoiser");
        let y = gahb_tensor::random::normal_like(101, &[1, 1, 3, 4], Kind::Float).expect("draw");
        for route in [JacobianRoute::Linearized, JacobianRoute::Backward] {
            let r = jacobian(&f, &y, &cfg(route, 5)).expect("jacobian");
            assert_eq!(r.summary.route, route);
            assert_eq!(r.summary.dim, 12);
            check(&r.jacobian, &m, 1e-6);
            assert!(r.summary.bias_free_residual < 1e-6);
            let want = asymmetry(&m).expect("asym");
            assert!((r.summary.asymmetry - want).abs() < 1e-6);
            assert!(
                r.summary.asymmetry > 0.5,
                "a random matrix is far from symmetric"
            );
        }
    }

    #[test]
    fn auto_route_prefers_linearized_and_falls_back() {
        let f = IdentityDenoiser;
        let y = Tensor::ones([1, 2, 2], (Kind::Float, Device::Cpu));
        let r = jacobian(&f, &y, &JacobianConfig::default()).expect("jacobian");
        assert_eq!(r.summary.route, JacobianRoute::Linearized);
        check(
            &r.jacobian,
            &Tensor::eye(4, (Kind::Float, Device::Cpu)),
            0.0,
        );
        assert_eq!(r.summary.trace, 4.0);
        let g = NoLinearization(IdentityDenoiser);
        let r = jacobian(&g, &y, &JacobianConfig::default()).expect("jacobian");
        assert_eq!(r.summary.route, JacobianRoute::Backward);
        check(
            &r.jacobian,
            &Tensor::eye(4, (Kind::Float, Device::Cpu)),
            0.0,
        );
        let err = jacobian(&g, &y, &cfg(JacobianRoute::Linearized, 4));
        assert!(matches!(err, Err(Error::RouteUnavailable { .. })));
    }

    #[test]
    fn bias_free_relu_net_routes_agree_and_f_equals_jy() {
        tch::manual_seed(2);
        let net = BiasFreeConvNet::new(1, 8, 3, Device::Cpu).expect("net");
        let y = gahb_tensor::random::normal_like(200, &[1, 1, 6, 6], Kind::Float).expect("draw");
        let lin = jacobian(&net, &y, &cfg(JacobianRoute::Linearized, 16)).expect("linearized");
        let bwd = jacobian(&net, &y, &cfg(JacobianRoute::Backward, 7)).expect("backward");
        let scale = lin.jacobian.abs().max().double_value(&[]);
        assert!(scale > 0.0);
        check(&lin.jacobian, &bwd.jacobian, 1e-5 * scale);
        assert!(lin.summary.bias_free_residual < 1e-5, "{:?}", lin.summary);
        assert!(bwd.summary.bias_free_residual < 1e-5, "{:?}", bwd.summary);
        // A random conv net is not symmetric; the check must see it.
        assert!(lin.summary.asymmetry > 0.1);
        // J·v by double reverse mode agrees with the linearization; Jᵀ·u with the transpose.
        let v = gahb_tensor::random::normal_like(201, &[3, 1, 6, 6], Kind::Float).expect("draw");
        let jv_lin = jvp(&net, &y, &v).expect("jvp");
        let jv_ad = jvp(&NoLinearization(&net), &y, &v).expect("jvp autograd");
        check(&jv_lin, &jv_ad, 1e-5 * scale);
        let want = v
            .reshape([3, 36])
            .matmul(&lin.jacobian.tr())
            .reshape([3, 1, 6, 6]);
        check(&jv_lin, &want, 1e-5 * scale);
        let jtu = vjp(&net, &y, &v).expect("vjp");
        let want = v
            .reshape([3, 36])
            .matmul(&lin.jacobian)
            .reshape([3, 1, 6, 6]);
        check(&jtu, &want, 1e-5 * scale);
    }

    #[test]
    fn bad_input_is_an_error() {
        let f = IdentityDenoiser;
        let two = Tensor::ones([2, 1, 2, 2], (Kind::Float, Device::Cpu));
        assert!(jacobian(&f, &two, &JacobianConfig::default()).is_err());
        let one = Tensor::ones([1, 1, 2, 2], (Kind::Float, Device::Cpu));
        assert!(jacobian(&f, &one, &cfg(JacobianRoute::Auto, 0)).is_err());
        assert!(asymmetry(&Tensor::ones([2, 3], (Kind::Float, Device::Cpu))).is_err());
        let cfg_err = serde_json::from_str::<JacobianConfig>(r#"{"route":"auto","bogus":1}"#);
        assert!(cfg_err.is_err());
        let ok: JacobianConfig = serde_json::from_str(r#"{"route":"backward"}"#).expect("json");
        assert_eq!(ok.batch_size, 64);
    }
}
