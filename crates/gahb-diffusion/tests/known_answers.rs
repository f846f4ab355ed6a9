//! Known answers (issue 5): the Gaussian prior's Wiener denoiser gives the analytic Tweedie score
//! (PAPER.md §10) and the sampler (PAPER.md §4) reproduces the prior's moments; the memoriser gives
//! the empirical distribution's score and the sampler returns copies of training images.

mod common;

use anyhow::{Context, Result};
use common::{gaussian_prior, moments, prior_spectrum, training_set};
use gahb_diffusion::{
    add_noise, nearest_images, predict_gaussian_moments, sample, tweedie_score, Memorizer,
    NoiseLevel, SamplerConfig, StopReason,
};
use gahb_tensor::{psnr_per_image, Denoiser};
use tch::{Device, Kind, Tensor};

/// The mean output variance ratio that `predict_gaussian_moments` expects for the fixtures' prior
/// (`gaussian_prior(8, _, rank, 0.3, 0.8, _)`: variances 0.3·0.8^k in d = 64).
fn predicted_mean_ratio(rank: i64, cfg: &SamplerConfig) -> Result<f64> {
    let lam = prior_spectrum(rank, 0.3, 0.8);
    let p = predict_gaussian_moments(&lam, 64, cfg)?;
    Ok(p.output_ratio.iter().sum::<f64>() / rank as f64)
}

fn check(a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() <= tol, "{a} vs {b} (tolerance {tol})");
}

/// Per-direction statistics of samples in the prior's eigenbasis, restricted to its `rank` signal
/// directions: variance ratios Var(e_kᵀx)/λ_k, whitened mean errors, the largest whitened
/// off-diagonal covariance, and the share of energy outside the signal subspace.
struct Moments {
    var_ratio: Vec<f64>,
    mean_err: Vec<f64>,
    max_offdiag: f64,
    null_energy: f64,
}

fn eigen_moments(prior: &gahb_diffusion::GaussianWiener, x: &Tensor, rank: i64) -> Moments {
    let (lam, e) = prior.covariance().linalg_eigh("L");
    let d = lam.size()[0];
    let sig = e.narrow(1, d - rank, rank);
    let lam = lam.narrow(0, d - rank, rank);
    let (m, c) = moments(x);
    let proj = sig.tr().matmul(&c).matmul(&sig);
    let scale = lam.sqrt();
    let white = &proj / scale.unsqueeze(0) / scale.unsqueeze(1);
    let var_ratio = Vec::<f64>::try_from(white.diagonal(0, 0, 1)).expect("vec");
    let off = &white - white.diagonal(0, 0, 1).diag(0);
    let mean_err = Vec::<f64>::try_from((m - prior.mean()).matmul(&sig) / &scale).expect("vec");
    let n = x.size()[0];
    let centred = x.reshape([n, -1]).to_kind(Kind::Double) - prior.mean();
    let inside = centred
        .matmul(&sig)
        .square()
        .sum(Kind::Double)
        .double_value(&[]);
    let total = centred.square().sum(Kind::Double).double_value(&[]);
    Moments {
        var_ratio,
        mean_err,
        max_offdiag: off.abs().max().double_value(&[]),
        null_energy: (total - inside) / total,
    }
}

#[test]
fn wiener_tweedie_score_is_the_analytic_score() -> Result<()> {
    common::single_thread();
    let sigma = 0.3;
    let prior = gaussian_prior(4, 1, 16, 0.5, 0.7, NoiseLevel::Known(sigma));
    let y = gahb_tensor::random::normal_like(200, &[5, 1, 4, 4], Kind::Double).expect("draw") + 0.5;
    let score = tweedie_score(&prior, &y, sigma)?;
    let analytic = prior.analytic_score(&y, sigma)?;
    let err = (&score - &analytic).abs().max().double_value(&[]);
    let size = analytic.abs().max().double_value(&[]);
    assert!(
        err < 1e-9 * size.max(1.0),
        "score error {err} (scale {size})"
    );
    // The score of a wrong noise level is not the analytic one: the test can fail.
    let wrong = tweedie_score(&prior.with_noise(NoiseLevel::Known(0.2))?, &y, sigma)?;
    assert!((&wrong - &analytic).abs().max().double_value(&[]) > 1e-3);
    Ok(())
}

#[test]
fn blind_denoisers_recover_the_noise_level() -> Result<()> {
    common::single_thread();
    let prior = gaussian_prior(8, 1, 8, 0.3, 0.8, NoiseLevel::blind());
    let x = prior.sample_prior(64, 4)?;
    let train = training_set(5, 8, 3);
    let mem = Memorizer::new(&train, NoiseLevel::blind())?;
    let xt = train.repeat([8, 1, 1, 1]);
    for sigma in [0.05, 0.2, 0.6] {
        let y = add_noise(&x, &[sigma], 9)?.noisy;
        let est = prior
            .estimate_sigma(&y, 2.0)?
            .mean(Kind::Double)
            .double_value(&[]);
        check(est / sigma, 1.0, 0.06);
        let y = add_noise(&xt, &[sigma], 10)?.noisy;
        let est = mem
            .estimate_sigma(&y, 2.0)?
            .mean(Kind::Double)
            .double_value(&[]);
        check(est / sigma, 1.0, 0.06);
    }
    Ok(())
}

#[test]
fn sampler_reproduces_a_gaussian_prior_with_a_fine_schedule() -> Result<()> {
    common::single_thread();
    // d = 64 with an 8-dimensional signal subspace (variances 0.3 … 0.063): the 56 noise-only
    // directions let the blind denoiser see σ, as on images. Even with h₀ = 0.0005 (about 400 steps)
    // the ascending schedule's late, large steps leave the variances short of the prior's:
    // `predict_gaussian_moments` expects 0.93 of them (its docs say why). Measured over prior seeds
    // 1-3: 0.909, 0.935, 0.962 (sampler seed 5); 0.897 for prior seed 1 with the seed below.
    let (rank, n) = (8, 300);
    let prior = gaussian_prior(8, 1, rank, 0.3, 0.8, NoiseLevel::blind());
    let cfg = SamplerConfig {
        h0: 0.0005,
        seed: 3,
        ..SamplerConfig::default()
    };
    let run = sample(&prior, &cfg, n, [1, 8, 8])?;
    let conv = run
        .traces
        .iter()
        .filter(|t| t.stop == StopReason::Converged)
        .count();
    assert!(conv >= n - 3, "{conv} of {n} converged");
    let m = eigen_moments(&prior, &run.samples, rank);
    let tol = 4.0 / (n as f64).sqrt();
    for e in &m.mean_err {
        assert!(e.abs() < tol, "whitened mean error {e} (tolerance {tol})");
    }
    // Each sample variance has relative standard error √(2/n) = 0.08.
    for r in &m.var_ratio {
        assert!(
            (0.75..1.25).contains(r),
            "variance ratios {:?}",
            m.var_ratio
        );
    }
    // The mean of 8 ratios has a standard error of about 0.08/√8 = 0.03.
    let mean_ratio = m.var_ratio.iter().sum::<f64>() / rank as f64;
    let predicted = predicted_mean_ratio(rank, &cfg)?;
    assert!(
        (mean_ratio - predicted).abs() < 0.06,
        "mean variance ratio {mean_ratio}, predicted {predicted}"
    );
    assert!(
        m.max_offdiag < 0.25,
        "whitened covariance off-diagonal {}",
        m.max_offdiag
    );
    assert!(
        m.null_energy < 1e-3,
        "energy outside the prior's support {}",
        m.null_energy
    );
    Ok(())
}

#[test]
fn paper_defaults_under_disperse_a_gaussian_prior_slightly() -> Result<()> {
    common::single_thread();
    // With the paper's h₀ = 0.01 the same prior comes out with about 0.8 of its variance, as the
    // moment recursion of `predict_gaussian_moments` expects (0.797): the discretisation bias of
    // Algorithm 1's ascending schedule. Measured over prior seeds 1-3: 0.781, 0.793, 0.793. The
    // mean is unbiased.
    let (rank, n) = (8, 300);
    let prior = gaussian_prior(8, 1, rank, 0.3, 0.8, NoiseLevel::blind());
    let cfg = SamplerConfig {
        seed: 5,
        ..SamplerConfig::default()
    };
    let run = sample(&prior, &cfg, n, [1, 8, 8])?;
    let m = eigen_moments(&prior, &run.samples, rank);
    let mean_ratio = m.var_ratio.iter().sum::<f64>() / rank as f64;
    let predicted = predicted_mean_ratio(rank, &cfg)?;
    assert!(
        (mean_ratio - predicted).abs() < 0.06,
        "mean variance ratio {mean_ratio}, predicted {predicted}"
    );
    // The prediction itself separates the schedules: the fine one of the test above expects 0.93.
    assert!(predicted < 0.85, "predicted {predicted}");
    for e in &m.mean_err {
        assert!(e.abs() < 4.0 / (n as f64).sqrt(), "whitened mean error {e}");
    }
    assert!(run.timing.steps < 200, "{} steps", run.timing.steps);
    Ok(())
}

#[test]
fn memorizer_is_the_empirical_posterior_mean() -> Result<()> {
    common::single_thread();
    let train = training_set(4, 4, 1);
    let sigma = 0.2;
    let mem = Memorizer::new(&train, NoiseLevel::Known(sigma))?;
    let y = (train.get(2).unsqueeze(0)
        + gahb_tensor::random::normal_like(300, &[1, 1, 4, 4], Kind::Float).expect("draw") * 0.2)
        .to_kind(Kind::Double);
    // Brute force: w_i ∝ exp(−‖y − x_i‖²/(2σ²)).
    let flat = train.reshape([4, -1]).to_kind(Kind::Double);
    let d2 = (&flat - y.reshape([1, -1])).square().sum_dim_intlist(
        [1i64].as_slice(),
        false,
        Kind::Double,
    );
    let w = (d2 / (-2.0 * sigma * sigma)).softmax(0, Kind::Double);
    let expect = w.unsqueeze(0).matmul(&flat).reshape([1, 1, 4, 4]);
    let got = mem.denoise(&y)?;
    check((&got - &expect).abs().max().double_value(&[]), 0.0, 1e-12);
    // Tweedie: (f(y) − y)/σ² is the gradient of log p_σ, checked by central differences.
    let score = tweedie_score(&mem, &y, sigma)?.reshape([-1]);
    let eps = 1e-5;
    for k in [0i64, 5, 15] {
        let bump = Tensor::zeros([16], (Kind::Double, Device::Cpu));
        let _ = bump.get(k).fill_(eps);
        let bump = bump.reshape([1, 1, 4, 4]);
        let up = mem.log_density(&(&y + &bump), sigma)?.double_value(&[0]);
        let down = mem.log_density(&(&y - &bump), sigma)?.double_value(&[0]);
        check(score.double_value(&[k]), (up - down) / (2.0 * eps), 1e-5);
    }
    Ok(())
}

#[test]
fn memorizer_error_vanishes_as_sigma_falls() -> Result<()> {
    // The exact optimum of a training set: at N = 1 it returns the training image (MSE 0 at every
    // σ); at N = 4 its error on noisy training images falls with σ and is 0 to rounding once the
    // images are many σ apart.
    common::single_thread();
    let mse = |train: &Tensor, sigma: f64| -> Result<f64> {
        let n = train.size()[0];
        let mem = Memorizer::new(train, NoiseLevel::Known(sigma))?;
        let x = train.repeat([8, 1, 1, 1]).to_kind(Kind::Double);
        let z =
            gahb_tensor::random::standard_normal(11, 0, 8 * n as usize, &[1, 8, 8], Device::Cpu)?
                .to_kind(Kind::Double);
        let out = mem.denoise(&(&x + z * sigma))?;
        Ok((out - &x).square().mean(Kind::Double).double_value(&[]))
    };
    let one = training_set(1, 8, 3);
    for sigma in [1.0, 0.1, 0.001] {
        assert_eq!(mse(&one, sigma)?, 0.0, "N = 1 at σ = {sigma}");
    }
    let four = training_set(4, 8, 3);
    let errs: Vec<f64> = [1.0, 0.3, 0.1, 0.01]
        .iter()
        .map(|&s| mse(&four, s))
        .collect::<Result<_>>()?;
    assert!(errs.windows(2).all(|w| w[1] <= w[0]), "{errs:?}");
    assert!(errs[0] > 1e-4, "N = 4 at σ = 1 is not exact: {errs:?}");
    assert!(errs[3] < 1e-20, "{errs:?}");
    Ok(())
}

#[test]
fn sampler_with_the_memorizer_returns_training_images() -> Result<()> {
    common::single_thread();
    let train = training_set(5, 8, 7);
    let mem = Memorizer::new(&train, NoiseLevel::blind())?;
    let cfg = SamplerConfig {
        seed: 1,
        ..SamplerConfig::default()
    };
    let run = sample(&mem, &cfg, 12, [1, 8, 8])?;
    assert!(run.traces.iter().all(|t| t.stop == StopReason::Converged));
    let near = nearest_images(&run.samples, &train)?;
    for nb in &near {
        assert!(nb.cosine > 0.99, "nearest training cosine {nb:?}");
    }
    let copies = train.index_select(
        0,
        &Tensor::from_slice(&near.iter().map(|n| n.index as i64).collect::<Vec<_>>()),
    );
    let psnr = psnr_per_image(&copies, &run.samples)?;
    let worst = psnr.min().double_value(&[]);
    assert!(
        worst > 25.0,
        "worst PSNR against the nearest training image {worst} dB"
    );
    // More than one training image is reached: the samples are not all one mode.
    let mut idx: Vec<usize> = near.iter().map(|n| n.index).collect();
    idx.sort_unstable();
    idx.dedup();
    assert!(idx.len() >= 2, "only training images {idx:?} reached");
    Ok(())
}

#[test]
fn reference_denoisers_reject_bad_input() -> Result<()> {
    common::single_thread();
    let train = training_set(3, 4, 1);
    assert!(Memorizer::new(&train, NoiseLevel::Known(0.0)).is_err());
    assert!(Memorizer::new(
        &train,
        NoiseLevel::Blind {
            sigma_max: f64::NAN
        }
    )
    .is_err());
    let mem = Memorizer::new(&train, NoiseLevel::blind()).context("memorizer")?;
    assert!(mem
        .denoise(&Tensor::zeros([1, 1, 5, 5], (Kind::Float, Device::Cpu)))
        .is_err());
    let not_psd = Tensor::from_slice(&[1.0f64, 0.0, 0.0, -1.0]).reshape([2, 2]);
    let mean = Tensor::zeros([2], (Kind::Double, Device::Cpu));
    assert!(
        gahb_diffusion::GaussianWiener::new(&mean, &not_psd, [1, 1, 2], NoiseLevel::blind())
            .is_err()
    );
    let asym = Tensor::from_slice(&[1.0f64, 0.5, 0.0, 1.0]).reshape([2, 2]);
    assert!(
        gahb_diffusion::GaussianWiener::new(&mean, &asym, [1, 1, 2], NoiseLevel::blind()).is_err()
    );
    Ok(())
}
