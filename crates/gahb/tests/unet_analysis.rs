//! The Jacobian analysis (gahb-analysis) on the real bias-free UNet (gahb-denoiser), not only on the
//! analysis crate's toy net: every route gives the same exact Jacobian, Jᵀu by reverse mode is its
//! transpose, f(y) = ∇f(y)·y, and Lanczos on the symmetric part finds the dense route's top
//! eigenvalues.
//!
//! The tiny UNet (16×16, 2 blocks, 8 channels) has its batch-norm scales set to 1, as after
//! training (at initialisation they are ≤ 0.025 and the Jacobian is nearly the identity).

use gahb_analysis::{
    bias_free_residual, eigh_sym, jacobian, lanczos_top_k, symmetric_part, vjp, EighBackend,
    JacobianConfig, JacobianRoute, LanczosConfig,
};
use gahb_denoiser::{Model, ModelConfig, UNetConfig};
use tch::{Device, Kind, Tensor};

fn unet() -> Model {
    tch::manual_seed(0);
    let m = Model::new(&ModelConfig::UNet(UNetConfig::tiny()), Device::Cpu).expect("model");
    m.set_bn_scales(1.0).expect("scales");
    m
}

fn noisy(seed: u64) -> Tensor {
    let x = gahb_tensor::random::uniform_like(seed, &[1, 1, 16, 16], Kind::Float).expect("x");
    let z = gahb_tensor::random::normal_like(seed + 1, &[1, 1, 16, 16], Kind::Float).expect("z");
    x + z * 0.2
}

fn rel(a: &Tensor, b: &Tensor) -> f64 {
    let a = a.to_kind(Kind::Double);
    let b = b.to_kind(Kind::Double);
    (&a - &b).norm().double_value(&[]) / b.norm().double_value(&[])
}

fn dense(m: &Model, y: &Tensor, route: JacobianRoute) -> Tensor {
    let cfg = JacobianConfig {
        route,
        batch_size: 48,
    };
    jacobian(m, y, &cfg).expect("jacobian").jacobian
}

#[test]
fn linearized_and_backward_routes_agree_and_are_bias_free() {
    let m = unet();
    let y = noisy(1);
    let lin = dense(&m, &y, JacobianRoute::Linearized);
    let bwd = dense(&m, &y, JacobianRoute::Backward);
    assert_eq!(lin.size(), vec![256, 256]);
    // Far from the identity (the scales are 1), so agreement is not trivial.
    let far = rel(&lin, &Tensor::eye(256, (Kind::Float, Device::Cpu)));
    assert!(far > 0.1, "‖J − I‖/‖I‖ = {far}");
    let diff = rel(&bwd, &lin);
    assert!(diff < 1e-5, "backward vs linearized: {diff}");
    let res = bias_free_residual(&m, &y, &lin).expect("residual");
    assert!(res < 1e-5, "‖f(y) − J y‖/‖f(y)‖ = {res}");
}

#[test]
fn reverse_mode_products_are_the_transpose() {
    let m = unet();
    let y = noisy(3);
    let j = dense(&m, &y, JacobianRoute::Linearized);
    let u = gahb_tensor::random::normal_like(5, &[3, 1, 16, 16], Kind::Float).expect("u");
    let jtu = vjp(&m, &y, &u).expect("vjp").reshape([3, 256]);
    let expect = u.reshape([3, 256]).matmul(&j);
    let diff = rel(&jtu, &expect);
    assert!(diff < 1e-5, "vjp vs uᵀJ: {diff}");
}

#[test]
fn lanczos_finds_the_dense_top_eigenvalues() {
    let m = unet();
    let y = noisy(7);
    let j = dense(&m, &y, JacobianRoute::Linearized);
    let full = eigh_sym(&symmetric_part(&j).expect("sym"), EighBackend::Torch).expect("eigh");
    let want = full.values_vec().expect("values");
    let k = 8;
    let got = lanczos_top_k(&m, &y, k, &LanczosConfig::default()).expect("lanczos");
    let got = got.eigen.values_vec().expect("values");
    assert_eq!(got.len(), k);
    for i in 0..k {
        assert!(
            (got[i] - want[i]).abs() < 1e-3 * want[0].abs(),
            "λ_{i}: Lanczos {} vs dense {}",
            got[i],
            want[i]
        );
    }
}
