//! What the experiments that take a spectrum (fig3, fig4, fig5, fig21) show of the route it took
//! ([`crate::lab::spectral`]): the matrix-free route's convergence check and its table of costs.

use crate::lab::spectral::Spectrum;
use crate::report::check::{Cmp, Num};
use crate::report::{Check, Table};

/// The check every matrix-free spectrum carries: its top k met the tolerance (a partial
/// result is reported, never passed silently). `None` on the dense route.
pub fn convergence_check(sp: &Spectrum) -> Option<Check> {
    let m = sp.matrix_free.as_ref()?;
    let t = &m.top_k;
    Some(Check::compare_shown(
        format!(
            "matrix-free route: top-{} pairs converged to {:.0e} within {} products",
            t.k, t.tol, t.budget
        ),
        Num::plain(t.n_converged as f64, 0),
        format!("{}/{} in {} products", t.n_converged, t.k, t.n_products),
        Cmp::AtLeast(t.k as f64),
        "(the paper forms the dense Jacobian)",
    ))
}

/// The matrix-free route's costs as a table (`None` on the dense route): products and results
/// of each of its four estimates; `what` names the spectrum in the first column's header when a
/// page has several.
pub fn route_table(s: &Spectrum, what: &str) -> Option<Table> {
    let m = s.matrix_free.as_ref()?;
    let first = if what.is_empty() {
        "matrix-free estimate".to_string()
    } else {
        format!("matrix-free estimate ({what})")
    };
    let mut t = Table::new([first.as_str(), "products", "result"]);
    let top = &m.top_k;
    let worst = top.residuals.iter().copied().fold(0.0, f64::max);
    t.row(vec![
        format!(
            "restarted block Lanczos, top {} of the symmetric part (block {}, tol {:.0e})",
            top.k, top.block_size, top.tol
        ),
        top.n_products.to_string(),
        format!(
            "{}/{} converged, largest residual {worst:.1e}, {} restarts, {:.1} s",
            top.n_converged, top.k, top.restarts, top.wall_s
        ),
    ]);
    let tr = &m.trace;
    t.row(vec![
        format!("Hutch++ tr ∇f ({} directions)", tr.n_directions),
        tr.n_products.to_string(),
        format!(
            "{:.1}, {:.0}% interval [{:.1}, {:.1}]",
            tr.estimate,
            100.0 * tr.confidence,
            tr.ci_low,
            tr.ci_high
        ),
    ]);
    let dn = &m.density;
    t.row(vec![
        format!(
            "stochastic Lanczos quadrature ({} probes × {} steps)",
            dn.steps.len(),
            dn.steps.iter().copied().max().unwrap_or(0)
        ),
        dn.n_products.to_string(),
        format!(
            "λ at every rank (λ_(d/4) ≈ {:.3}); its own tr ∇f {:.1}",
            dn.value_at_rank(s.dim / 4),
            dn.trace.estimate
        ),
    ]);
    let p = &m.probes;
    t.row(vec![
        format!("J·y and {} Gaussian probes (J·v, Jᵀ·v)", p.n_probes),
        p.n_products.to_string(),
        format!(
            "bias-free residual {:.1e}, asymmetry ≈ {:.3}",
            p.bias_free_residual, p.asymmetry
        ),
    ]);
    t.row(vec![
        "all (the dense route would take d linearized passes and a d×d eigh)".into(),
        m.products().to_string(),
        format!("d = {}, {:.1} s", s.dim, s.seconds),
    ]);
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::spectral::tests::{toy_spectrum, SHOWN};
    use crate::lab::spectral::{RouteKind, RouteSpec, Shown};

    #[test]
    fn a_converged_matrix_free_spectrum_passes_and_a_dense_one_has_no_route_rows() {
        let take = |route| {
            toy_spectrum(
                3,
                9,
                SHOWN,
                RouteSpec {
                    route,
                    ..RouteSpec::default()
                },
            )
            .expect("spectrum")
        };
        let (free, dense) = (take(RouteKind::MatrixFree), take(RouteKind::Dense));
        let c = convergence_check(&free).expect("check");
        assert!(c.pass && c.ours.starts_with("12/12"), "{c:?}");
        assert!(convergence_check(&dense).is_none());
        let t = route_table(&free, "faces").expect("table");
        assert_eq!(t.header[0], "matrix-free estimate (faces)");
        assert_eq!(t.rows.len(), 5);
        assert!(route_table(&dense, "").is_none());
    }

    #[test]
    fn an_unconverged_top_k_is_a_failing_check_not_a_silent_result() {
        let sp = toy_spectrum(
            4,
            1,
            Shown { read: 30, ..SHOWN },
            RouteSpec {
                route: RouteKind::MatrixFree,
                budget: 120,
                tol: 1e-10,
                ..RouteSpec::default()
            },
        )
        .expect("a partial result is returned");
        let c = convergence_check(&sp).expect("check");
        assert!(!c.pass, "{c:?}");
        assert!(c.ours.contains("/30"), "{}", c.ours);
    }
}
