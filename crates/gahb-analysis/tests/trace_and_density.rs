//! Hutchinson, Hutch++ and stochastic Lanczos quadrature against exact traces and spectra
//! (PAPER.md §5 and Eq. 10: tr ∇f, the effective dimension, and the distribution of the λ_k):
//! seeded intervals contain the truth, Hutch++ beats Hutchinson at equal products on a
//! low-rank-plus-small matrix, SLQ's density integrates to 1 and its trace matches; bad input.

mod common;

use common::spectral_matrix;

use gahb_analysis::toy::BiasFreeConvNet;
use gahb_analysis::{
    hutch_plus_plus, hutchinson, jacobian, jacobian_trace, slq, student_t_quantile,
    DenoiserOperator, Error, FnOperator, JacobianConfig, LanczosOperator, MatrixOperator,
    SlqConfig, TraceConfig, TraceMethod,
};
use gahb_tensor::LinearDenoiser;
use tch::{Device, Kind, Tensor};

const CPU: (Kind, Device) = (Kind::Double, Device::Cpu);

/// 20 large eigenvalues (1 down to 0.5), the rest 0.01: low rank plus small.
fn low_rank_plus_small(d: usize) -> Vec<f64> {
    (0..d)
        .map(|i| {
            if i < 20 {
                1.0 - 0.5 * i as f64 / 19.0
            } else {
                0.01
            }
        })
        .collect()
}

fn tcfg(n: usize, seed: u64) -> TraceConfig {
    TraceConfig {
        n_directions: n,
        seed,
        ..TraceConfig::default()
    }
}

#[test]
fn hutchinson_interval_contains_the_trace() {
    let lambda: Vec<f64> = (0..300)
        .map(|i| 1.0 / (1.0 + (i as f64 / 30.0).powi(2)))
        .collect();
    let truth: f64 = lambda.iter().sum();
    let mut op = MatrixOperator::new(&spectral_matrix(&lambda, 1)).expect("op");
    let e = hutchinson(&mut op, &tcfg(60, 3)).expect("hutchinson");
    assert_eq!(e.method, TraceMethod::Hutchinson);
    assert_eq!((e.n_probes, e.n_products), (60, 60));
    assert!(e.contains(truth), "{truth} not in {e:?}");
    assert!(e.ci_high - e.ci_low > 0.0);
    assert!((e.estimate - truth).abs() < 0.1 * truth, "{e:?}");
    // Over 40 seeds, a 95% interval covers the truth about 38 times; fewer than 32 would mean
    // the interval is too narrow (P < 1e-3 under the nominal level).
    let covered = (0..40)
        .filter(|&s| {
            hutchinson(&mut op, &tcfg(30, 100 + s))
                .expect("hutchinson")
                .contains(truth)
        })
        .count();
    assert!(covered >= 32, "covered {covered} of 40");
}

#[test]
fn hutch_plus_plus_beats_hutchinson_at_equal_products() {
    let lambda = low_rank_plus_small(400);
    let truth: f64 = lambda.iter().sum();
    let mut op = MatrixOperator::new(&spectral_matrix(&lambda, 2)).expect("op");
    let (mut err_h, mut err_pp) = (0.0, 0.0);
    for s in 0..10 {
        let h = hutchinson(&mut op, &tcfg(60, 10 + s)).expect("hutchinson");
        let pp = hutch_plus_plus(&mut op, &tcfg(60, 10 + s)).expect("hutch++");
        assert_eq!(h.n_products, pp.n_products);
        assert_eq!(pp.n_probes, 20);
        err_h += (h.estimate - truth).abs();
        err_pp += (pp.estimate - truth).abs();
    }
    assert!(
        err_pp < 0.5 * err_h,
        "mean |error|: Hutch++ {} vs Hutchinson {}",
        err_pp / 10.0,
        err_h / 10.0
    );
    let pp = hutch_plus_plus(&mut op, &tcfg(60, 5)).expect("hutch++");
    assert!(pp.contains(truth), "{truth} not in {pp:?}");
    assert!(pp.sketched_part > 10.0, "{pp:?}");
}

#[test]
fn hutch_plus_plus_is_exact_on_a_low_rank_matrix() {
    let lambda: Vec<f64> = (0..100)
        .map(|i| if i < 5 { 2.0 - 0.3 * i as f64 } else { 0.0 })
        .collect();
    let truth: f64 = lambda.iter().sum();
    let mut op = MatrixOperator::new(&spectral_matrix(&lambda, 3)).expect("op");
    let pp = hutch_plus_plus(&mut op, &tcfg(30, 1)).expect("hutch++");
    assert!((pp.estimate - truth).abs() < 1e-9, "{pp:?}");
    assert!(pp.std_error < 1e-9);
}

#[test]
fn jacobian_trace_of_denoisers() {
    // A linear denoiser: tr M exactly known; a non-symmetric M has the trace of its symmetric part.
    let m = gahb_tensor::random::normal_like(4, &[64, 64], Kind::Double).expect("draw") / 10.0
        + spectral_matrix(&low_rank_plus_small(64), 5);
    let f = LinearDenoiser::new(&m, [1, 8, 8]).expect("f");
    let y = Tensor::ones([1, 1, 8, 8], (Kind::Float, Device::Cpu));
    let truth = f.matrix().to_kind(Kind::Double).trace().double_value(&[]);
    for method in [TraceMethod::Hutchinson, TraceMethod::HutchPlusPlus] {
        let e = jacobian_trace(&f, &y, method, &tcfg(48, 6)).expect("trace");
        assert_eq!(e.n_products, 48, "J·v alone: one product per direction");
        assert!(e.contains(truth), "{method:?}: {truth} not in {e:?}");
    }
    // The toy bias-free net against its dense Jacobian.
    tch::manual_seed(7);
    let net = BiasFreeConvNet::new(1, 8, 3, Device::Cpu).expect("net");
    let y = gahb_tensor::random::normal_like(8, &[1, 1, 8, 8], Kind::Float).expect("draw");
    let dense = jacobian(&net, &y, &JacobianConfig::default()).expect("jacobian");
    let e = jacobian_trace(&net, &y, TraceMethod::HutchPlusPlus, &tcfg(48, 9)).expect("trace");
    assert!(
        e.contains(dense.summary.trace),
        "{} not in {e:?}",
        dense.summary.trace
    );
    assert!(matches!(
        jacobian_trace(&net, &y, TraceMethod::Slq, &tcfg(48, 9)),
        Err(Error::InvalidArgument { name: "method", .. })
    ));
}

#[test]
fn slq_density_integrates_to_one_and_gives_the_trace() {
    // 60 eigenvalues in (0.94, 1], the rest spread in (0, 0.3].
    let d = 300;
    let lambda: Vec<f64> = (0..d)
        .map(|i| {
            if i < 60 {
                1.0 - 0.001 * i as f64
            } else {
                0.3 * (d - i) as f64 / 240.0
            }
        })
        .collect();
    let truth: f64 = lambda.iter().sum();
    let mut op = MatrixOperator::new(&spectral_matrix(&lambda, 11)).expect("op");
    let cfg = SlqConfig {
        n_probes: 12,
        n_steps: 25,
        seed: 1,
        ..SlqConfig::default()
    };
    let s = slq(&mut op, &cfg).expect("slq");
    assert_eq!(s.n_products, 12 * 25);
    assert_eq!(s.trace.method, TraceMethod::Slq);
    let wsum: f64 = s.weights.iter().sum();
    assert!((wsum - 1.0).abs() < 1e-10, "weights sum {wsum}");
    assert!(
        (s.integral() - 1.0).abs() < 1e-4,
        "∫ density = {}",
        s.integral()
    );
    assert!(
        (s.trace_from_nodes() - s.trace.estimate).abs() < 1e-8 * truth,
        "{} vs {}",
        s.trace_from_nodes(),
        s.trace.estimate
    );
    assert!(s.trace.contains(truth), "{truth} not in {:?}", s.trace);
    // The plateau holds about 60 eigenvalues, and none lie in (0.35, 0.9).
    let near_one = s.eigenvalue_count(0.9, 1.05);
    assert!((near_one - 60.0).abs() < 15.0, "count near 1: {near_one}");
    let in_gap = s.eigenvalue_count(0.35, 0.9);
    assert!(in_gap < 1.0, "count in the gap {in_gap}");
    // The density has its mass where the spectrum is: little in the gap.
    let gap_mass: f64 = s
        .grid
        .windows(2)
        .zip(s.density.windows(2))
        .filter(|(t, _)| t[0] > 0.45 && t[1] < 0.85)
        .map(|(t, p)| 0.5 * (t[1] - t[0]) * (p[0] + p[1]))
        .sum();
    assert!(gap_mass < 0.01, "mass in the gap {gap_mass}");
    // The same probes as Hutchinson: the same estimate.
    let h = hutchinson(
        &mut op,
        &TraceConfig {
            n_directions: 12,
            seed: 1,
            ..TraceConfig::default()
        },
    )
    .expect("hutchinson");
    assert!((h.estimate - s.trace.estimate).abs() < 1e-8 * truth);
}

#[test]
fn slq_on_a_projection_stops_early_and_is_exact() {
    let lambda: Vec<f64> = (0..50).map(|i| if i < 4 { 1.0 } else { 0.0 }).collect();
    let mut op = MatrixOperator::new(&spectral_matrix(&lambda, 12)).expect("op");
    let s = slq(&mut op, &SlqConfig::default()).expect("slq");
    assert!(s.steps.iter().all(|&m| m <= 3), "steps {:?}", s.steps);
    assert!(s.n_products < 10 * 30);
    for (t, w) in s.nodes.iter().zip(&s.weights) {
        assert!(
            t.abs() < 1e-8 || (t - 1.0).abs() < 1e-8 || *w < 1e-12,
            "node {t}"
        );
    }
    assert!((s.integral() - 1.0).abs() < 1e-4);
}

#[test]
fn slq_of_the_toy_net_matches_its_dense_trace() {
    tch::manual_seed(13);
    let net = BiasFreeConvNet::new(1, 8, 3, Device::Cpu).expect("net");
    let y = gahb_tensor::random::normal_like(14, &[1, 1, 6, 6], Kind::Float).expect("draw");
    let dense = jacobian(&net, &y, &JacobianConfig::default()).expect("jacobian");
    let mut op = DenoiserOperator::new(&net, &y, LanczosOperator::SymmetricPart).expect("op");
    let cfg = SlqConfig {
        n_probes: 16,
        n_steps: 12,
        ..SlqConfig::default()
    };
    let s = slq(&mut op, &cfg).expect("slq");
    assert_eq!(s.n_products, 2 * 16 * 12, "J·v and Jᵀ·v per direction");
    assert!(
        s.trace.contains(dense.summary.trace),
        "{} not in {:?}",
        dense.summary.trace,
        s.trace
    );
    assert!((s.integral() - 1.0).abs() < 1e-4);
}

#[test]
fn student_t_quantiles_match_tables() {
    for (p, dof, want) in [
        (0.975, 1, 12.706_205),
        (0.975, 2, 4.302_653),
        (0.975, 3, 3.182_446),
        (0.975, 5, 2.570_582),
        (0.975, 29, 2.045_230),
        (0.995, 59, 2.661_759),
        (0.975, 10_000, 1.960_201),
    ] {
        let got = student_t_quantile(p, dof);
        assert!(
            (got - want).abs() < 2e-3 * want,
            "t({p}, {dof}) = {got}, want {want}"
        );
    }
}

#[test]
fn bad_input_is_an_error() {
    let mut op = MatrixOperator::new(&Tensor::eye(10, CPU)).expect("op");
    assert!(matches!(
        hutchinson(&mut op, &tcfg(1, 0)),
        Err(Error::InvalidArgument {
            name: "n_directions",
            ..
        })
    ));
    assert!(matches!(
        hutch_plus_plus(&mut op, &tcfg(3, 0)),
        Err(Error::InvalidArgument {
            name: "n_directions",
            ..
        })
    ));
    for confidence in [0.0, 1.0, f64::NAN, -0.5] {
        let c = TraceConfig {
            confidence,
            ..tcfg(10, 0)
        };
        assert!(hutchinson(&mut op, &c).is_err(), "confidence {confidence}");
        let c = SlqConfig {
            confidence,
            ..SlqConfig::default()
        };
        assert!(slq(&mut op, &c).is_err(), "confidence {confidence}");
    }
    let c = TraceConfig {
        block_size: 0,
        ..tcfg(10, 0)
    };
    assert!(hutchinson(&mut op, &c).is_err());
    for c in [
        SlqConfig {
            n_probes: 1,
            ..SlqConfig::default()
        },
        SlqConfig {
            n_steps: 0,
            ..SlqConfig::default()
        },
        SlqConfig {
            grid_points: 1,
            ..SlqConfig::default()
        },
        SlqConfig {
            bandwidth: Some(0.0),
            ..SlqConfig::default()
        },
        SlqConfig {
            bandwidth: Some(f64::NAN),
            ..SlqConfig::default()
        },
    ] {
        assert!(
            matches!(slq(&mut op, &c), Err(Error::InvalidArgument { .. })),
            "{c:?}"
        );
    }
    // Non-finite products are errors naming the operator and the products.
    let mut bad = FnOperator::new(10, |v: &Tensor| Ok(v * f64::INFINITY)).with_name("inf");
    for r in [
        hutchinson(&mut bad, &tcfg(10, 0)).map(|_| ()),
        hutch_plus_plus(&mut bad, &tcfg(10, 0)).map(|_| ()),
        slq(&mut bad, &SlqConfig::default()).map(|_| ()),
    ] {
        assert!(
            matches!(&r, Err(Error::NonFiniteProduct { operator, first: 0, .. }) if operator == "inf"),
            "{r:?}"
        );
    }
}
