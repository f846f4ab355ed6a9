//! The matrix-free Jacobian checks ([`probed_checks`]) against the dense route (PAPER.md §5:
//! f(y) = ∇f(y)·y for a bias-free denoiser, and a nearly symmetric Jacobian), and the SLQ
//! estimate of the eigenvalue at a given rank against known spectra.

mod common;

use common::spectral_matrix;

use gahb_analysis::toy::BiasFreeConvNet;
use gahb_analysis::{
    asymmetry, jacobian, probed_checks, slq, Error, JacobianConfig, MatrixOperator, SlqConfig,
};
use gahb_tensor::LinearDenoiser;
use tch::{Device, Kind, Tensor};

#[test]
fn probed_asymmetry_matches_the_dense_value_of_a_linear_denoiser() {
    // M = S + εK: S symmetric with a decaying spectrum, K a random matrix; the dense asymmetry
    // ‖M − Mᵀ‖_F/‖M‖_F is known exactly.
    let lambda: Vec<f64> = (0..256).map(|i| (-(i as f64) / 60.0).exp()).collect();
    let y = gahb_tensor::random::normal_like(3, &[1, 1, 16, 16], Kind::Float).expect("draw");
    for eps in [0.0, 0.01, 0.05] {
        let k = gahb_tensor::random::normal_like(2, &[256, 256], Kind::Double).expect("draw");
        let m = spectral_matrix(&lambda, 1) + k * eps;
        let truth = asymmetry(&m).expect("asymmetry");
        let f = LinearDenoiser::new(&m, [1, 16, 16]).expect("f");
        let c = probed_checks(&f, &y, 32, 8, 5).expect("probes");
        assert_eq!((c.n_probes, c.n_products), (32, 1 + 64));
        assert!(c.bias_free_residual < 1e-5, "{c:?}");
        if eps == 0.0 {
            assert!(c.asymmetry < 1e-6, "symmetric M: {c:?}");
        } else {
            let rel = (c.asymmetry - truth).abs() / truth;
            assert!(
                rel < 0.1,
                "eps {eps}: probed {} against {truth}",
                c.asymmetry
            );
        }
    }
}

#[test]
fn probed_checks_of_the_toy_net_match_its_dense_jacobian() {
    tch::manual_seed(21);
    let net = BiasFreeConvNet::new(1, 8, 3, Device::Cpu).expect("net");
    let y = gahb_tensor::random::normal_like(22, &[1, 1, 12, 12], Kind::Float).expect("draw");
    let dense = jacobian(&net, &y, &JacobianConfig::default()).expect("jacobian");
    let c = probed_checks(&net, &y, 48, 16, 23).expect("probes");
    assert!(
        (c.asymmetry - dense.summary.asymmetry).abs() < 0.15 * dense.summary.asymmetry,
        "probed {} against dense {}",
        c.asymmetry,
        dense.summary.asymmetry
    );
    assert!(
        dense.summary.asymmetry > 1e-3,
        "the toy net is not symmetric"
    );
    assert!(c.bias_free_residual < 1e-4, "{c:?}");
    // The same seed gives the same probes.
    let again = probed_checks(&net, &y, 48, 7, 23).expect("probes");
    assert!((again.asymmetry - c.asymmetry).abs() < 1e-5 * c.asymmetry);
}

#[test]
fn probed_checks_refuse_bad_settings() {
    let m = Tensor::eye(16, (Kind::Double, Device::Cpu));
    let f = LinearDenoiser::new(&m, [1, 4, 4]).expect("f");
    let y = Tensor::ones([1, 1, 4, 4], (Kind::Float, Device::Cpu));
    assert!(matches!(
        probed_checks(&f, &y, 0, 4, 0),
        Err(Error::InvalidArgument {
            name: "n_probes",
            ..
        })
    ));
    assert!(matches!(
        probed_checks(&f, &y, 4, 0, 0),
        Err(Error::InvalidArgument {
            name: "block_size",
            ..
        })
    ));
}

#[test]
fn slq_value_at_rank_follows_known_spectra() {
    // A linear ramp 1 → 0 over d = 400: rank r has λ = 1 − r/399.
    let d = 400;
    let ramp: Vec<f64> = (0..d).map(|i| 1.0 - i as f64 / (d - 1) as f64).collect();
    let mut op = MatrixOperator::new(&spectral_matrix(&ramp, 31)).expect("op");
    let cfg = SlqConfig {
        n_probes: 10,
        n_steps: 40,
        seed: 32,
        ..SlqConfig::default()
    };
    let s = slq(&mut op, &cfg).expect("slq");
    for r in [40, 100, 200, 300] {
        let est = s.value_at_rank(r);
        assert!(
            (est - ramp[r]).abs() < 0.04,
            "rank {r}: {est} against {}",
            ramp[r]
        );
    }
    // Two plateaus: 100 eigenvalues at 1, 300 at 0.1.
    let steps: Vec<f64> = (0..d).map(|i| if i < 100 { 1.0 } else { 0.1 }).collect();
    let mut op = MatrixOperator::new(&spectral_matrix(&steps, 33)).expect("op");
    let s = slq(&mut op, &cfg).expect("slq");
    assert!(
        (s.value_at_rank(30) - 1.0).abs() < 0.05,
        "{}",
        s.value_at_rank(30)
    );
    assert!(
        (s.value_at_rank(250) - 0.1).abs() < 0.05,
        "{}",
        s.value_at_rank(250)
    );
    assert!(
        s.value_at_rank(10 * d) <= 0.1 + 1e-9,
        "clamped to the smallest node"
    );
}
