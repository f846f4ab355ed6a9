//! Known answers of the optimal bias-free denoiser of a training set (gahb-diffusion
//! `bias_free.rs`): the radial moments against closed forms and their recursion, homogeneity, the
//! σ² error per image of one training image at small σ (where the memorizer is exact), and
//! optimality among homogeneous denoisers (the error is orthogonal to the output; the ray
//! projection fails that test and does worse); the blind optimum is orthogonal over the training
//! law of σ and the loss weight, where the known-σ optimum fails.

mod common;

use gahb_diffusion::{
    log_radial_moment, BiasFreeMemorizer, Memorizer, NoiseLevel, NoisePrior, Optimum, Ray,
};
use gahb_tensor::Denoiser;
use tch::{Device, Kind, Tensor};

fn check(a: f64, b: f64, tol: f64, what: &str) {
    assert!((a - b).abs() <= tol, "{what}: {a} vs {b} (tolerance {tol})");
}

fn scalar(t: &Tensor) -> f64 {
    t.double_value(&[])
}

/// `n` images `[n, 1, h, h]` uniform in [0, 1] from `seed`.
fn images(n: usize, h: i64, seed: u64) -> Tensor {
    gahb_tensor::random::uniform(seed, 0, n, &[1, h, h], Device::Cpu).expect("images")
}

#[test]
fn radial_moments_match_known_values_and_the_recursion() {
    common::single_thread();
    // m = 0 with c ≫ σ: the whole Gaussian lies in r > 0, I_0 = σ√(2π).
    check(
        log_radial_moment(0.0, 10.0, 0.1),
        (0.1 * (2.0 * std::f64::consts::PI).sqrt()).ln(),
        1e-12,
        "log I_0",
    );
    // c = 0: I_m = ∫ r^m e^{−r²/2σ²} dr = σ^{m+1} 2^{(m−1)/2} Γ((m+1)/2); m = 1 gives σ², and
    // m = 0 gives σ√(π/2).
    check(
        log_radial_moment(1.0, 0.0, 0.3),
        0.09f64.ln(),
        1e-12,
        "log I_1 at c = 0",
    );
    check(
        log_radial_moment(0.0, 0.0, 0.3),
        (0.3 * (0.5 * std::f64::consts::PI).sqrt()).ln(),
        1e-12,
        "log I_0 at c = 0",
    );
    // Integration by parts: I_{m+1} = c·I_m + m·σ²·I_{m−1}, from small m to image sizes, for
    // c on both sides of 0 and σ from 0.01 to 1; written as a sum of positive terms on each
    // side (c ≥ 0: I_{m+1}/I_m = c + mσ²·I_{m−1}/I_m; c < 0: I_{m+1}/I_m + |c| = mσ²·I_{m−1}/I_m),
    // so that the comparison does not cancel.
    for m in [1.0, 3.0, 256.0, 6400.0] {
        for sigma in [0.01, 0.2, 1.0] {
            for c in [-3.0f64, -0.2, 0.0, 0.5, 4.0, 40.0] {
                let at = |m: f64| log_radial_moment(m, c, sigma);
                let up = (at(m + 1.0) - at(m)).exp();
                let down = (at(m - 1.0) - at(m)).exp() * m * sigma * sigma;
                let (lhs, rhs) = if c >= 0.0 {
                    (up, c + down)
                } else {
                    (up - c, down)
                };
                check(
                    lhs / rhs,
                    1.0,
                    1e-9,
                    &format!("recursion m = {m}, σ = {sigma}, c = {c}"),
                );
            }
        }
    }
}

#[test]
fn homogeneous_and_zero_at_zero() {
    common::single_thread();
    let train = images(3, 4, 1);
    let f = BiasFreeMemorizer::new(&train, 0.2).expect("build");
    let y = (images(5, 4, 2) * 1.5 - 0.3).to_kind(Kind::Double);
    let fy = f.denoise(&y).expect("f(y)");
    for a in [0.25, 3.0] {
        let fay = f.denoise(&(&y * a)).expect("f(ay)");
        let err = scalar(&(&fay - &fy * a).abs().max()) / scalar(&fy.abs().max());
        assert!(err < 1e-9, "f({a}·y) ≠ {a}·f(y): relative {err}");
    }
    let zero = f
        .denoise(&Tensor::zeros([1, 1, 4, 4], (Kind::Float, Device::Cpu)))
        .expect("f(0)");
    assert_eq!(scalar(&zero.abs().max()), 0.0);
    let w = f.direction_weights(&y).expect("weights");
    check(
        scalar(
            &w.sum_dim_intlist([1i64].as_slice(), false, Kind::Double)
                .mean(Kind::Double),
        ),
        1.0,
        1e-12,
        "weights sum to 1",
    );
    assert!(f.is_bias_free());
}

/// The mean squared error per image of `f` on `k` noisy images x_(j mod n) + σz_j of the
/// training set `x` (`[n, c, h, w]`), and the z-score of the mean of ⟨f(y), f(y) − x⟩, which is
/// 0 for the optimal homogeneous denoiser (rescaling its output cannot lower the error).
fn mse_and_orthogonality(f: &dyn Denoiser, x: &Tensor, sigma: f64, k: usize) -> (f64, f64) {
    let shape = x.size();
    let idx: Vec<i64> = (0..k as i64).map(|j| j % shape[0]).collect();
    let x = x
        .to_kind(Kind::Double)
        .index_select(0, &Tensor::from_slice(&idx));
    let z = gahb_tensor::random::standard_normal(7, 0, k, &shape[1..], Device::Cpu)
        .expect("noise")
        .to_kind(Kind::Double);
    let y = &x + &z * sigma;
    let out = f.denoise(&y).expect("denoise").to_kind(Kind::Double);
    let err = (&out - &x).reshape([k as i64, -1]);
    let mse = scalar(&err.square().sum(Kind::Double)) / k as f64;
    let dot = (out.reshape([k as i64, -1]) * &err).sum_dim_intlist(
        [1i64].as_slice(),
        false,
        Kind::Double,
    );
    let mean = scalar(&dot.mean(Kind::Double));
    let sd = scalar(&dot.std(true));
    (mse, mean / (sd / (k as f64).sqrt()))
}

#[test]
fn one_image_mse_tends_to_sigma_squared_and_the_memorizer_is_exact() {
    common::single_thread();
    // A bias-free denoiser cannot output x whatever y: its best is the noise along the ray,
    // σ² per image at small σ, while the (non-homogeneous) memorizer is exact at every σ.
    let x = images(1, 8, 3);
    for sigma in [0.003, 0.01] {
        let f = BiasFreeMemorizer::new(&x, sigma).expect("build");
        let (mse, _) = mse_and_orthogonality(&f, &x, sigma, 4000);
        // The mean of 4000 squared normals: within 10% of 1 (its sd is 2.2%).
        check(
            mse / (sigma * sigma),
            1.0,
            0.1,
            &format!("MSE/σ² at σ = {sigma}"),
        );
        let m = Memorizer::new(&x, NoiseLevel::Known(sigma)).expect("memorizer");
        let (mse_m, _) = mse_and_orthogonality(&m, &x, sigma, 64);
        assert_eq!(mse_m, 0.0, "the memorizer of one image is that image");
    }
}

#[test]
fn optimal_among_homogeneous_denoisers() {
    common::single_thread();
    // At a large σ on a small image: the error is orthogonal to the output (no rescaling of
    // f(y) improves it), the ray projection (homogeneous, not optimal there) fails the same
    // test and does worse, and the memorizer (not homogeneous) does better.
    let x = images(1, 4, 4);
    let sigma = 0.5;
    let f = BiasFreeMemorizer::new(&x, sigma).expect("build");
    let (mse, z) = mse_and_orthogonality(&f, &x, sigma, 5_000);
    assert!(z.abs() < 4.0, "E⟨f, f − x⟩ ≠ 0: z = {z}");
    let ray = Ray::new(&x, 0.5, 1.5).expect("ray");
    let (mse_ray, z_ray) = mse_and_orthogonality(&ray, &x, sigma, 5_000);
    assert!(
        z_ray > 8.0,
        "the projection should fail the test: z = {z_ray}"
    );
    assert!(mse < mse_ray, "{mse} vs projection {mse_ray}");
    // Three images, noisy copies of each in turn: still orthogonal, and above the memorizer.
    let train = images(3, 4, 5);
    let f3 = BiasFreeMemorizer::new(&train, sigma).expect("build");
    let m3 = Memorizer::new(&train, NoiseLevel::Known(sigma)).expect("memorizer");
    let (mse3, z3) = mse_and_orthogonality(&f3, &train, sigma, 5_000);
    let (mse_m3, _) = mse_and_orthogonality(&m3, &train, sigma, 5_000);
    assert!(
        z3.abs() < 4.0,
        "E⟨f, f − x⟩ ≠ 0 with three images: z = {z3}"
    );
    assert!(mse_m3 < mse3, "memorizer {mse_m3} vs bias-free {mse3}");
}

/// The weighted mean of ⟨f(y), f(y) − x⟩ over the blind training law, as a z-score: noisy copies
/// x_(j mod n) + σ_j z_j with σ_j from `prior` (σ_max·U^(1/(a+1)) has density ∝ σ^a), each term
/// weighted by the loss weight at σ_j; also the weighted mean squared error per image.
fn blind_orthogonality(f: &dyn Denoiser, x: &Tensor, prior: &NoisePrior, k: usize) -> (f64, f64) {
    let shape = x.size();
    let idx: Vec<i64> = (0..k as i64).map(|j| j % shape[0]).collect();
    let x = x
        .to_kind(Kind::Double)
        .index_select(0, &Tensor::from_slice(&idx));
    let u = gahb_tensor::random::uniform(8, 0, k, &[1], Device::Cpu)
        .expect("uniforms")
        .to_kind(Kind::Double)
        .reshape([k as i64]);
    let sigma = u.pow_tensor_scalar(1.0 / (prior.density_power + 1.0)) * prior.sigma_max;
    let weight = if prior.weight_power == 0.0 {
        sigma.ones_like()
    } else {
        sigma
            .clamp_min(prior.weight_floor)
            .pow_tensor_scalar(-prior.weight_power)
    };
    let z = gahb_tensor::random::standard_normal(9, 0, k, &shape[1..], Device::Cpu)
        .expect("noise")
        .to_kind(Kind::Double);
    let y = &x + z * sigma.reshape([k as i64, 1, 1, 1]);
    let out = f.denoise(&y).expect("denoise").to_kind(Kind::Double);
    let err = (&out - &x).reshape([k as i64, -1]);
    let dot = (out.reshape([k as i64, -1]) * &err).sum_dim_intlist(
        [1i64].as_slice(),
        false,
        Kind::Double,
    ) * &weight;
    let mse = scalar(
        &(err
            .square()
            .sum_dim_intlist([1i64].as_slice(), false, Kind::Double)
            * &weight)
            .mean(Kind::Double),
    );
    let mean = scalar(&dot.mean(Kind::Double));
    let sd = scalar(&dot.std(true));
    (mse, mean / (sd / (k as f64).sqrt()))
}

#[test]
fn blind_optimum_is_optimal_over_the_training_law() {
    // Two 2×2 images (few pixels, so σ is poorly known from the direction of y and the prior
    // matters: dropping the factor σ of dσ = σ·d log σ fails this test); the unweighted loss with
    // σ ~ U(0, 1], and the quick profile's recipe (σ = U², loss ÷ max(σ, 0.01)). The blind
    // optimum's error is orthogonal to its output over the training law (rescaling cannot lower
    // the training loss); the known-σ optimum at σ = 0.5, homogeneous too, is not, and has a
    // larger training loss.
    common::single_thread();
    let train = images(2, 2, 10);
    let quick = NoisePrior {
        sigma_max: 1.0,
        density_power: -0.5,
        weight_power: 1.0,
        weight_floor: 0.01,
    };
    for prior in [NoisePrior::uniform(1.0), quick] {
        let f = BiasFreeMemorizer::blind(&train, prior).expect("blind");
        assert_eq!(f.optimum(), Optimum::Blind(prior));
        let (loss, z) = blind_orthogonality(&f, &train, &prior, 2500);
        assert!(z.abs() < 4.0, "{prior:?}: E ω⟨f, f − x⟩ ≠ 0, z = {z}");
        let known = f.with_sigma(0.5).expect("known");
        let (loss_known, z_known) = blind_orthogonality(&known, &train, &prior, 2500);
        assert!(
            z_known.abs() > 6.0,
            "{prior:?}: the known-σ optimum passes: z = {z_known}"
        );
        assert!(
            loss < loss_known,
            "{prior:?}: {loss} vs known-σ {loss_known}"
        );
        // Homogeneous, and at small σ as good as the known-σ optimum (σ² per image at N = 1).
        let y = (images(3, 2, 11) * 1.3 - 0.2).to_kind(Kind::Double);
        let (fy, f2y) = (
            f.denoise(&y).expect("f(y)"),
            f.denoise(&(&y * 2.0)).expect("f(2y)"),
        );
        let rel = scalar(&(&f2y - &fy * 2.0).abs().max()) / scalar(&fy.abs().max());
        assert!(rel < 1e-9, "{prior:?}: f(2y) ≠ 2f(y), relative {rel}");
    }
    let one = images(1, 8, 12);
    let blind = BiasFreeMemorizer::blind(&one, NoisePrior::uniform(1.0)).expect("blind");
    let (mse, _) = mse_and_orthogonality(&blind, &one, 0.01, 1000);
    check(mse / 1e-4, 1.0, 0.15, "blind MSE/σ² at σ = 0.01");
}

#[test]
fn bad_input_is_rejected() {
    common::single_thread();
    let train = images(2, 4, 6);
    assert!(BiasFreeMemorizer::new(&train, 0.0).is_err());
    assert!(BiasFreeMemorizer::new(&train, f64::NAN).is_err());
    assert!(BiasFreeMemorizer::new(&train.reshape([2, 16]), 0.1).is_err());
    let f = BiasFreeMemorizer::new(&train, 0.1).expect("build");
    assert!(f.with_sigma(-1.0).is_err());
    assert!(f
        .denoise(&Tensor::zeros([1, 1, 4, 5], (Kind::Float, Device::Cpu)))
        .is_err());
    let base = NoisePrior::uniform(1.0);
    for (prior, needle) in [
        (
            NoisePrior {
                sigma_max: 0.0,
                ..base
            },
            "sigma_max = 0",
        ),
        (
            NoisePrior {
                density_power: -1.0,
                ..base
            },
            "a = -1",
        ),
        (
            NoisePrior {
                weight_power: -1.0,
                ..base
            },
            "weight_power = -1",
        ),
        (
            NoisePrior {
                weight_floor: f64::NAN,
                ..base
            },
            "weight_floor = NaN",
        ),
    ] {
        let e = BiasFreeMemorizer::blind(&train, prior)
            .expect_err("bad prior")
            .to_string();
        assert!(e.contains(needle) && !e.contains('\n'), "{e}");
    }
}
