//! Cross-module tests of the synthetic classes (PAPER.md §6–§8): contour power law, disk re-rendering,
//! permutation inverse, determinism across thread counts.

use anyhow::Result;
use gahb_synth::{
    generate_calpha, generate_disks, image_rng, render_disk, CAlphaConfig, CAlphaGenerator,
    DiskConfig, PixelPermutation,
};
use rustfft::{num_complex::Complex64, FftPlanner};

/// Least-squares slope of `log P(k)` against `log k` of the contour periodogram, averaged over draws.
fn contour_spectrum_slope(alpha: f64) -> Result<f64> {
    let n = 256;
    let gen = CAlphaGenerator::new(&CAlphaConfig {
        size: n,
        alpha,
        beta: 1.0,
        blur: false,
    })?;
    let fft = FftPlanner::new().plan_fft_forward(n);
    let mut power = vec![0.0f64; n / 2];
    for i in 0..200 {
        let c = gen.contour(&mut image_rng(11, i));
        let mut buf: Vec<Complex64> = c.iter().map(|&v| Complex64::new(v, 0.0)).collect();
        fft.process(&mut buf);
        for (k, p) in power.iter_mut().enumerate() {
            *p += buf[k].norm_sqr();
        }
    }
    let pts: Vec<(f64, f64)> = (1..n / 2)
        .map(|k| ((k as f64).ln(), power[k].ln()))
        .collect();
    let m = pts.len() as f64;
    let (mx, my) = (
        pts.iter().map(|p| p.0).sum::<f64>() / m,
        pts.iter().map(|p| p.1).sum::<f64>() / m,
    );
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    Ok(sxy / sxx)
}

#[test]
fn contour_periodogram_decays_as_k_to_minus_two_alpha() -> Result<()> {
    // |C_k|² = |k|^{-2α} |c_k|² with white c, so the log-log slope is -2α.
    for alpha in [1.0, 2.5] {
        let slope = contour_spectrum_slope(alpha)?;
        assert!(
            (slope + 2.0 * alpha).abs() < 0.1,
            "alpha {alpha}: slope {slope}"
        );
    }
    Ok(())
}

#[test]
fn disks_rerender_from_their_parameters() -> Result<()> {
    let cfg = DiskConfig::paper(24);
    let (x, params) = generate_disks(&cfg, 8, 5)?;
    for (img, p) in x.outer_iter().zip(&params) {
        let again = render_disk(cfg.size, p, cfg.supersample);
        assert_eq!(img, again);
    }
    // A perturbed parameter changes the image, so the test can fail.
    let mut p = params[0];
    p.r += 0.5;
    assert_ne!(
        x.index_axis(ndarray::Axis(0), 0),
        render_disk(cfg.size, &p, cfg.supersample)
    );
    Ok(())
}

#[test]
fn permutation_then_inverse_is_identity() -> Result<()> {
    let x = generate_calpha(
        &CAlphaConfig {
            size: 12,
            ..CAlphaConfig::paper(2.0)
        },
        3,
        1,
    )?;
    let p = PixelPermutation::from_seed(12, 12, 42)?;
    let shuffled = p.apply(x.view())?;
    assert_ne!(shuffled, x);
    assert_eq!(p.invert(shuffled.view())?, x);
    assert_eq!(p.inverse().apply(shuffled.view())?, x);
    // Same seed, same permutation.
    assert_eq!(p, PixelPermutation::from_seed(12, 12, 42)?);
    Ok(())
}

#[test]
fn generation_does_not_depend_on_thread_count() -> Result<()> {
    let run = |threads: usize| -> Result<_> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()?;
        pool.install(|| -> Result<_> {
            let c = generate_calpha(
                &CAlphaConfig {
                    size: 16,
                    ..CAlphaConfig::paper(3.0)
                },
                9,
                7,
            )?;
            let d = generate_disks(&DiskConfig::paper(16), 9, 7)?;
            Ok((c, d.0))
        })
    };
    let (c1, d1) = run(1)?;
    let (c2, d2) = run(2)?;
    assert_eq!(c1, c2);
    assert_eq!(d1, d2);
    // A different seed gives different images.
    let c3 = generate_calpha(
        &CAlphaConfig {
            size: 16,
            ..CAlphaConfig::paper(3.0)
        },
        9,
        8,
    )?;
    assert_ne!(c1, c3);
    Ok(())
}
