//! Stationary Gaussian images on a periodic grid with a power-law spectrum: an image class whose
//! optimal denoiser (the Wiener filter) and its MSE at every σ are known in closed form, so that a
//! trained denoiser's distance to the optimum can be measured in dB per σ (issue 12; PAPER.md §10,
//! MSE* = E tr Cov[x | y] = σ²·E tr∇f*; §9, the oracle shrinkage of a fixed basis, here the Fourier
//! basis, is exact for this class).
//!
//! # The class
//! An `n × n` image is x = μ·1 + g, where g is a zero-mean stationary Gaussian field on the periodic
//! grid (a torus). Its covariance is circulant, so it is diagonal in the orthonormal 2-D DFT basis,
//! with eigenvalues (the power spectrum)
//!
//! P(k) = v · w(k) / mean_k' w(k'),  w(k) = (c + |k|²)^(−p),
//!
//! where k = (k₁, k₂) is the integer FFT index of each axis (numpy's `fftfreq(n) · n`, so |k| is in
//! cycles per image and c in cycles²), c > 0 and p > 0. The normalisation makes the mean eigenvalue,
//! and hence the variance of every pixel, equal to v. [`GaussianFieldConfig::power_law`] takes
//! v = 0.04 (pixel standard deviation 0.2) around μ = 0.5, so that about 99% of the pixels lie in
//! [0, 1]. Samples are not clipped: clipping would make the class non-Gaussian and the optimum
//! unknown.
//!
//! The spectrum is stored as an `[n, n]` array in FFT layout: entry `[i, j]` is P at frequency
//! (`fftfreq(n)[i]·n`, `fftfreq(n)[j]·n`), rows along the first image axis.
//!
//! # The optimum
//! At noise level σ the MMSE denoiser is the Wiener filter f(y) = μ + Σ(Σ + σ²I)⁻¹(y − μ), a gain
//! P(k)/(P(k) + σ²) per frequency, and its MSE per pixel is mean_k P(k)σ²/(P(k) + σ²)
//! ([`GaussianField::wiener_mse`]). [`GaussianField::optimal_psnr`] turns it into the best possible
//! output PSNR, −10·log10 of that MSE. This is the optimum when σ is known; a blind denoiser that
//! estimates σ from the image can only do worse, but for d ≫ 1 pixels σ is estimated so precisely
//! that the difference is negligible.
//!
//! # Sampling
//! A sample is μ + IDFT(√P · DFT(z)) with z white standard normal (orthonormal transforms), which has
//! exactly the covariance above. Image `i` of [`GaussianField::generate`] draws z from
//! [`image_rng`](crate::image_rng)`(seed, i)`, so a batch does not depend on the number of threads.

use std::sync::Arc;

use ndarray::{Array2, Array3, ArrayView2, ArrayView3};
use rand::Rng;
use rand_distr::StandardNormal;
use rustfft::{num_complex::Complex64, Fft, FftPlanner};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rng::generate_indexed;

/// The largest number of pixels d = n² for which [`GaussianField::covariance_matrix`] builds the
/// dense d × d matrix (4096² f64 values take 128 MiB).
pub const MAX_DENSE_PIXELS: usize = 4096;

/// Parameters of the stationary Gaussian class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GaussianFieldConfig {
    /// Side of the square image in pixels (≥ 1).
    pub size: usize,
    /// The constant c > 0 of the spectrum (c + |k|²)^(−p), in cycles per image squared.
    pub c: f64,
    /// The exponent p > 0 of the spectrum; p = 1 gives the 1/|k|² decay of natural images.
    pub exponent: f64,
    /// The variance v > 0 of every pixel (the mean of the spectrum).
    pub variance: f64,
    /// The mean μ of every pixel.
    pub mean: f64,
}

impl GaussianFieldConfig {
    /// A natural-image-like class: spectrum 1/(1 + |k|²) (c = 1, p = 1), pixel variance 0.04 around
    /// the mean 0.5. Not a paper value (the paper has no Gaussian class); a documented choice.
    pub fn power_law(size: usize) -> Self {
        Self {
            size,
            c: 1.0,
            exponent: 1.0,
            variance: 0.04,
            mean: 0.5,
        }
    }

    /// Check every field; constructors call this.
    pub fn validate(&self) -> Result<()> {
        if self.size == 0 {
            return Err(Error::InvalidConfig {
                field: "size",
                value: "0".into(),
                reason: "must be at least 1",
            });
        }
        for (field, v) in [
            ("c", self.c),
            ("exponent", self.exponent),
            ("variance", self.variance),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::InvalidConfig {
                    field,
                    value: v.to_string(),
                    reason: "must be finite and > 0",
                });
            }
        }
        if !self.mean.is_finite() {
            return Err(Error::InvalidConfig {
                field: "mean",
                value: self.mean.to_string(),
                reason: "must be finite",
            });
        }
        Ok(())
    }
}

/// A validated Gaussian class with its spectrum and FFT plans; cheap to share across threads.
pub struct GaussianField {
    cfg: GaussianFieldConfig,
    /// P(k), `[n, n]` in FFT layout.
    spectrum: Array2<f64>,
    fft: Fft2,
}

impl std::fmt::Debug for GaussianField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GaussianField")
            .field("cfg", &self.cfg)
            .finish()
    }
}

impl GaussianField {
    /// Validate `cfg`, compute the spectrum and plan the transforms.
    pub fn new(cfg: &GaussianFieldConfig) -> Result<Self> {
        cfg.validate()?;
        let n = cfg.size;
        let w = Array2::from_shape_fn((n, n), |(i, j)| {
            let (a, b) = (fft_index(i, n), fft_index(j, n));
            (cfg.c + a * a + b * b).powf(-cfg.exponent)
        });
        let mean_w = w.sum() / (n * n) as f64;
        if !(mean_w.is_finite() && mean_w > 0.0 && w.iter().all(|&v| v.is_finite() && v > 0.0)) {
            // Only reachable through extreme c or p (an over- or underflowing power).
            return Err(Error::InvalidConfig {
                field: "exponent",
                value: cfg.exponent.to_string(),
                reason: "gives a spectrum (c + |k|²)^(-p) that is not finite and > 0 in f64",
            });
        }
        let spectrum = w.mapv(|v| cfg.variance * v / mean_w);
        Ok(Self {
            cfg: cfg.clone(),
            spectrum,
            fft: Fft2::new(n),
        })
    }

    /// The configuration this class was built from.
    pub fn config(&self) -> &GaussianFieldConfig {
        &self.cfg
    }

    /// The image side n.
    pub fn size(&self) -> usize {
        self.cfg.size
    }

    /// The mean μ of every pixel.
    pub fn mean(&self) -> f64 {
        self.cfg.mean
    }

    /// The power spectrum P(k), `[n, n]` in FFT layout: the eigenvalues of the covariance in the
    /// orthonormal 2-D DFT basis. Its mean is the pixel variance.
    pub fn spectrum(&self) -> &Array2<f64> {
        &self.spectrum
    }

    /// The autocovariance r(Δ) = Cov(x_p, x_{p+Δ}) = (1/d)·Σ_k P(k)·e^{2πi k·Δ/n} of the periodic
    /// field, `[n, n]` indexed by the offset Δ (mod n); r(0) is the pixel variance.
    pub fn autocovariance(&self) -> Array2<f64> {
        let n = self.cfg.size;
        let mut buf: Vec<Complex64> = self
            .spectrum
            .iter()
            .map(|&p| Complex64::new(p, 0.0))
            .collect();
        self.fft.unnormalised(&mut buf, true);
        let d = (n * n) as f64;
        Array2::from_shape_fn((n, n), |(i, j)| buf[i * n + j].re / d)
    }

    /// The dense covariance Σ, `[d, d]` with d = n² and pixels in row-major order:
    /// Σ[(a, b), (a', b')] = r((a − a') mod n, (b − b') mod n). For building dense reference
    /// denoisers on small images; refuses d > [`MAX_DENSE_PIXELS`].
    pub fn covariance_matrix(&self) -> Result<Array2<f64>> {
        let n = self.cfg.size;
        let d = n * n;
        if d > MAX_DENSE_PIXELS {
            return Err(Error::InvalidArgument {
                name: "size",
                value: n.to_string(),
                reason: "gives more than MAX_DENSE_PIXELS = 4096 pixels for a dense covariance",
            });
        }
        let r = self.autocovariance();
        Ok(Array2::from_shape_fn((d, d), |(p, q)| {
            let (a, b) = (p / n, p % n);
            let (a2, b2) = (q / n, q % n);
            r[[(a + n - a2) % n, (b + n - b2) % n]]
        }))
    }

    /// The mean image μ·1, `[n, n]`.
    pub fn mean_image(&self) -> Array2<f64> {
        Array2::from_elem((self.cfg.size, self.cfg.size), self.cfg.mean)
    }

    /// Draw one image, `[n, n]`, from `rng`: μ + IDFT(√P · DFT(z)), z white standard normal.
    pub fn sample(&self, rng: &mut impl Rng) -> Array2<f32> {
        let n = self.cfg.size;
        let mut buf: Vec<Complex64> = (0..n * n)
            .map(|_| Complex64::new(rng.sample(StandardNormal), 0.0))
            .collect();
        self.fft.ortho(&mut buf, false);
        for (b, p) in buf.iter_mut().zip(self.spectrum.iter()) {
            *b *= p.sqrt();
        }
        self.fft.ortho(&mut buf, true);
        let mu = self.cfg.mean;
        Array2::from_shape_fn((n, n), |(i, j)| (mu + buf[i * n + j].re) as f32)
    }

    /// Draw `n_images` images `[n_images, n, n]` in parallel; image `i` uses
    /// [`image_rng`](crate::image_rng)`(seed, i)`, so the result does not depend on the number of
    /// threads.
    pub fn generate(&self, n_images: usize, seed: u64) -> Array3<f32> {
        generate_indexed(n_images, self.cfg.size, seed, |rng| (self.sample(rng), ())).0
    }

    /// The exact MSE per pixel of the Wiener (MMSE) denoiser at noise level σ:
    /// mean_k P(k)σ²/(P(k) + σ²). Always below both σ² and the pixel variance.
    pub fn wiener_mse(&self, sigma: f64) -> Result<f64> {
        check_sigma(sigma)?;
        let s2 = sigma * sigma;
        let n = self.spectrum.len() as f64;
        Ok(self
            .spectrum
            .iter()
            .map(|&p| p * s2 / (p + s2))
            .sum::<f64>()
            / n)
    }

    /// The best possible output PSNR at noise level σ, in dB on the [0, 1] scale:
    /// −10·log10([`wiener_mse`](Self::wiener_mse)(σ)). This is the PSNR of the expected MSE; the mean
    /// of per-image PSNRs differs from it by the spread of the per-image MSE, small for d ≫ 1.
    pub fn optimal_psnr(&self, sigma: f64) -> Result<f64> {
        Ok(-10.0 * self.wiener_mse(sigma)?.log10())
    }

    /// The Wiener filter at a known σ applied to one noisy image `[n, n]`:
    /// μ + IDFT(P/(P + σ²) · DFT(y − μ)).
    pub fn wiener_denoise(&self, y: ArrayView2<f32>, sigma: f64) -> Result<Array2<f32>> {
        check_sigma(sigma)?;
        let n = self.cfg.size;
        if y.dim() != (n, n) {
            return Err(Error::ShapeMismatch {
                op: "GaussianField::wiener_denoise",
                expected: format!("[{n}, {n}]"),
                got: format!("{:?}", y.shape()),
            });
        }
        let mu = self.cfg.mean;
        let mut buf: Vec<Complex64> = y
            .iter()
            .map(|&v| Complex64::new(v as f64 - mu, 0.0))
            .collect();
        self.fft.ortho(&mut buf, false);
        let s2 = sigma * sigma;
        for (b, &p) in buf.iter_mut().zip(self.spectrum.iter()) {
            *b *= p / (p + s2);
        }
        self.fft.ortho(&mut buf, true);
        Ok(Array2::from_shape_fn((n, n), |(i, j)| {
            (mu + buf[i * n + j].re) as f32
        }))
    }

    /// The radial band of frequency `[i, j]` (FFT layout): round(|k|), |k| in cycles per image.
    pub fn radial_band(&self, i: usize, j: usize) -> usize {
        let n = self.cfg.size;
        let (a, b) = (fft_index(i, n), fft_index(j, n));
        (a * a + b * b).sqrt().round() as usize
    }

    /// The samples' average power spectrum about the prior mean, (1/N)·Σ_x |DFT(x − μ)|² with the
    /// orthonormal DFT, `[n, n]` in FFT layout; for samples of this class its expectation is P.
    pub fn sample_spectrum(&self, samples: ArrayView3<f32>) -> Result<Array2<f64>> {
        let n = self.cfg.size;
        let (count, h, w) = samples.dim();
        if count == 0 || (h, w) != (n, n) {
            return Err(Error::ShapeMismatch {
                op: "GaussianField::sample_spectrum",
                expected: format!("[N ≥ 1, {n}, {n}]"),
                got: format!("{:?}", samples.shape()),
            });
        }
        if let Some(v) = samples.iter().find(|v| !v.is_finite()) {
            return Err(Error::InvalidArgument {
                name: "samples",
                value: v.to_string(),
                reason: "every pixel must be finite",
            });
        }
        let mu = self.cfg.mean;
        let mut power = Array2::<f64>::zeros((n, n));
        let mut buf = vec![Complex64::new(0.0, 0.0); n * n];
        for img in samples.outer_iter() {
            for (b, &v) in buf.iter_mut().zip(img.iter()) {
                *b = Complex64::new(v as f64 - mu, 0.0);
            }
            self.fft.ortho(&mut buf, false);
            // `power` is in standard (row-major) layout, as `buf`.
            for (p, b) in power.iter_mut().zip(&buf) {
                *p += b.norm_sqr();
            }
        }
        Ok(power / count as f64)
    }

    /// Compares a batch of samples `[N, n, n]` (for instance from a diffusion sampler) with this
    /// prior: the error of their mean, and their average power spectrum against P per radial band
    /// and as a log-spectral distance (see [`SpectrumComparison`]).
    pub fn compare_samples(&self, samples: ArrayView3<f32>) -> Result<SpectrumComparison> {
        let power = self.sample_spectrum(samples)?;
        let n = self.cfg.size;
        let count = samples.dim().0;
        let d = (n * n) as f64;
        let mean = samples.iter().map(|&v| v as f64).sum::<f64>() / (count as f64 * d);
        let n_bands = (0..n)
            .flat_map(|i| (0..n).map(move |j| (i, j)))
            .map(|(i, j)| self.radial_band(i, j))
            .max()
            .expect("invariant: size ≥ 1")
            + 1;
        let mut prior = vec![0.0; n_bands];
        let mut prior_sq = vec![0.0; n_bands];
        let mut sample = vec![0.0; n_bands];
        let mut counts = vec![0usize; n_bands];
        let mut log_sq = 0.0;
        let mut floor_sq = 0.0;
        for i in 0..n {
            for j in 0..n {
                let b = self.radial_band(i, j);
                let p = self.spectrum[[i, j]];
                prior[b] += p;
                prior_sq[b] += p * p;
                sample[b] += power[[i, j]];
                counts[b] += 1;
                let ratio = power[[i, j]] / p;
                // A zero-power frequency (a constant or degenerate batch) counts as −300 dB.
                let lr = if ratio > 0.0 { ratio.ln() } else { -300.0 / DB };
                log_sq += lr * lr;
                // Under the prior the sample power / P is a mean of N Exp(1) variables, Gamma(N, 1/N),
                // or of N χ²₁ variables where k ≡ −k, Gamma(N/2, 2/N); E[ln²] = ψ'(a) + (ψ(a) − ln a)².
                let self_conjugate = (2 * i) % n == 0 && (2 * j) % n == 0;
                let a = if self_conjugate {
                    count as f64 / 2.0
                } else {
                    count as f64
                };
                floor_sq += trigamma(a) + (digamma(a) - a.ln()).powi(2);
            }
        }
        let bands = (0..n_bands)
            .filter(|&b| counts[b] > 0)
            .map(|b| BandRatio {
                radius: b,
                n_frequencies: counts[b],
                prior_power: prior[b],
                sample_power: sample[b],
                ratio: sample[b] / prior[b],
                // Var Σ_{k∈B} |X_k|² = 2 Σ_{k∈B} P_k² per sample, paired or not (k and −k have
                // equal power).
                ratio_se: (2.0 * prior_sq[b] / count as f64).sqrt() / prior[b],
            })
            .collect();
        Ok(SpectrumComparison {
            n_samples: count,
            mean_error: mean - self.cfg.mean,
            // The image mean is DC/n, of variance P(0)/d per sample.
            mean_error_se: (self.spectrum[[0, 0]] / (d * count as f64)).sqrt(),
            bands,
            log_spectral_distance_db: DB * (log_sq / d).sqrt(),
            log_spectral_distance_floor_db: DB * (floor_sq / d).sqrt(),
        })
    }
}

/// Generate `n_images` images `[n_images, size, size]` of the Gaussian class (see the module doc).
pub fn generate_gaussian(
    cfg: &GaussianFieldConfig,
    n_images: usize,
    seed: u64,
) -> Result<Array3<f32>> {
    Ok(GaussianField::new(cfg)?.generate(n_images, seed))
}

/// How a batch of samples compares with the Gaussian prior ([`GaussianField::compare_samples`]).
///
/// The standard errors and the floor are those of `n_samples` independent draws from the prior, so
/// a deviation of a few standard errors (or a distance well above the floor) is significant.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpectrumComparison {
    /// The number of samples N.
    pub n_samples: usize,
    /// The samples' mean pixel value minus μ.
    pub mean_error: f64,
    /// The standard error of that mean under the prior, √(P(0)/(N·d)).
    pub mean_error_se: f64,
    /// Sample power against prior power per radial band round(|k|), from the DC band 0 up.
    pub bands: Vec<BandRatio>,
    /// The log-spectral distance √(mean_k (10·log10(S(k)/P(k)))²) in dB, S the sample spectrum.
    pub log_spectral_distance_db: f64,
    /// The root of its expected square for N exact samples (from the Gamma law of S(k)/P(k)), the
    /// value a perfect sampler gets; it falls as 4.34/√N dB.
    pub log_spectral_distance_floor_db: f64,
}

/// Sample and prior power in one radial frequency band.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BandRatio {
    /// The band: frequencies with round(|k|) = `radius` cycles per image.
    pub radius: usize,
    /// How many of the n² frequencies fall in it.
    pub n_frequencies: usize,
    /// Σ_{k∈band} P(k).
    pub prior_power: f64,
    /// Σ_{k∈band} S(k), S the samples' average power about μ.
    pub sample_power: f64,
    /// `sample_power / prior_power`; 1 for a perfect sampler, up to sampling error.
    pub ratio: f64,
    /// The standard error of `ratio` under the prior, √(2·Σ P(k)²/N) / Σ P(k).
    pub ratio_se: f64,
}

/// 10/ln 10: natural-log ratios to dB.
const DB: f64 = 10.0 / std::f64::consts::LN_10;

fn check_sigma(sigma: f64) -> Result<()> {
    if sigma.is_finite() && sigma > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            name: "sigma",
            value: sigma.to_string(),
            reason: "must be finite and > 0",
        })
    }
}

/// The integer FFT index of bin `i` of an `n`-point transform (numpy's `fftfreq(n) * n`).
fn fft_index(i: usize, n: usize) -> f64 {
    if i < n.div_ceil(2) {
        i as f64
    } else {
        i as f64 - n as f64
    }
}

/// Square 2-D FFTs of row-major `[n, n]` buffers.
struct Fft2 {
    n: usize,
    fwd: Arc<dyn Fft<f64>>,
    inv: Arc<dyn Fft<f64>>,
}

impl Fft2 {
    fn new(n: usize) -> Self {
        let mut planner = FftPlanner::new();
        Self {
            n,
            fwd: planner.plan_fft_forward(n),
            inv: planner.plan_fft_inverse(n),
        }
    }

    /// The orthonormal transform (scaled by 1/n = 1/√d), forward or inverse.
    fn ortho(&self, buf: &mut [Complex64], inverse: bool) {
        self.unnormalised(buf, inverse);
        let s = 1.0 / self.n as f64;
        for b in buf.iter_mut() {
            *b *= s;
        }
    }

    /// The unnormalised transform: rows, then columns (by transposing).
    fn unnormalised(&self, buf: &mut [Complex64], inverse: bool) {
        let n = self.n;
        let plan = if inverse { &self.inv } else { &self.fwd };
        plan.process(buf);
        let mut t = vec![Complex64::new(0.0, 0.0); n * n];
        for i in 0..n {
            for j in 0..n {
                t[j * n + i] = buf[i * n + j];
            }
        }
        plan.process(&mut t);
        for i in 0..n {
            for j in 0..n {
                buf[i * n + j] = t[j * n + i];
            }
        }
    }
}

/// The digamma function ψ(x) for x > 0: recurrence up to x ≥ 10, then the asymptotic series
/// (absolute error below 1e−10).
fn digamma(mut x: f64) -> f64 {
    let mut acc = 0.0;
    while x < 10.0 {
        acc -= 1.0 / x;
        x += 1.0;
    }
    let x2 = 1.0 / (x * x);
    acc + x.ln()
        - 0.5 / x
        - x2 * (1.0 / 12.0 - x2 * (1.0 / 120.0 - x2 * (1.0 / 252.0 - x2 / 240.0)))
}

/// The trigamma function ψ'(x) for x > 0, as [`digamma`].
fn trigamma(mut x: f64) -> f64 {
    let mut acc = 0.0;
    while x < 10.0 {
        acc += 1.0 / (x * x);
        x += 1.0;
    }
    let x2 = 1.0 / (x * x);
    acc + 1.0 / x
        + 0.5 * x2
        + x2 / x * (1.0 / 6.0 - x2 * (1.0 / 30.0 - x2 * (1.0 / 42.0 - x2 / 30.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::image_rng;

    fn field(n: usize) -> GaussianField {
        GaussianField::new(&GaussianFieldConfig::power_law(n)).expect("valid config")
    }

    fn check(a: f64, b: f64, tol: f64, what: &str) {
        assert!((a - b).abs() <= tol, "{what}: {a} vs {b} (tolerance {tol})");
    }

    #[test]
    fn every_bad_value_is_rejected_by_name() {
        let base = GaussianFieldConfig::power_law(8);
        let cases = [
            (
                GaussianFieldConfig {
                    size: 0,
                    ..base.clone()
                },
                "size = 0",
            ),
            (
                GaussianFieldConfig {
                    c: 0.0,
                    ..base.clone()
                },
                "c = 0",
            ),
            (
                GaussianFieldConfig {
                    c: f64::NAN,
                    ..base.clone()
                },
                "c = NaN",
            ),
            (
                GaussianFieldConfig {
                    exponent: -1.0,
                    ..base.clone()
                },
                "exponent = -1",
            ),
            (
                // A flat spectrum (white noise) is not a power law: p = 0 is rejected too.
                GaussianFieldConfig {
                    exponent: 0.0,
                    ..base.clone()
                },
                "exponent = 0",
            ),
            (
                GaussianFieldConfig {
                    exponent: f64::INFINITY,
                    ..base.clone()
                },
                "exponent = inf",
            ),
            (
                GaussianFieldConfig {
                    variance: 0.0,
                    ..base.clone()
                },
                "variance = 0",
            ),
            (
                GaussianFieldConfig {
                    mean: f64::NAN,
                    ..base.clone()
                },
                "mean = NaN",
            ),
        ];
        for (cfg, needle) in cases {
            let msg = GaussianField::new(&cfg)
                .expect_err("bad config")
                .to_string();
            assert!(msg.contains(needle), "{msg:?} should name {needle:?}");
            assert!(!msg.contains('\n'), "{msg:?} is one line");
        }
        let f = field(4);
        for s in [0.0, -0.1, f64::NAN, f64::INFINITY] {
            let msg = f.wiener_mse(s).expect_err("bad sigma").to_string();
            assert!(msg.contains("sigma"), "{msg}");
        }
        assert!(f.wiener_denoise(Array2::zeros((4, 5)).view(), 0.1).is_err());
        assert!(f.compare_samples(Array3::zeros((0, 4, 4)).view()).is_err());
        assert!(f.compare_samples(Array3::zeros((2, 4, 3)).view()).is_err());
        let mut nan = Array3::zeros((2, 4, 4));
        nan[[1, 2, 3]] = f32::NAN;
        assert!(f.compare_samples(nan.view()).is_err());
        assert!(field(65).covariance_matrix().is_err());
    }

    #[test]
    fn spectrum_is_the_normalised_symmetric_power_law() {
        for n in [1, 5, 8] {
            let cfg = GaussianFieldConfig {
                c: 2.5,
                exponent: 1.7,
                ..GaussianFieldConfig::power_law(n)
            };
            let f = GaussianField::new(&cfg).expect("valid");
            let p = f.spectrum();
            check(p.mean().expect("non-empty"), cfg.variance, 1e-15, "mean P");
            // P(k)·(c + |k|²)^p is the same constant everywhere, and P(k) = P(−k).
            let k0 = p[[0, 0]] * cfg.c.powf(cfg.exponent);
            for i in 0..n {
                for j in 0..n {
                    let (a, b) = (fft_index(i, n), fft_index(j, n));
                    let scaled = p[[i, j]] * (cfg.c + a * a + b * b).powf(cfg.exponent);
                    check(scaled, k0, 1e-12 * k0, "power law");
                    check(p[[i, j]], p[[(n - i) % n, (n - j) % n]], 1e-15, "P(-k)");
                }
            }
        }
    }

    #[test]
    fn dense_covariance_has_the_fourier_modes_as_eigenvectors() {
        let n = 6;
        let f = field(n);
        let cov = f.covariance_matrix().expect("small");
        let d = n * n;
        check(
            (0..d).map(|p| cov[[p, p]]).sum::<f64>() / d as f64,
            0.04,
            1e-12,
            "pixel variance",
        );
        assert!((&cov - &cov.t()).iter().all(|v| v.abs() < 1e-15));
        // cos(2π k·x/n) and sin(2π k·x/n) are eigenvectors with eigenvalue P(k).
        for (k1, k2) in [(0, 0), (1, 0), (2, 1), (3, 3), (5, 2)] {
            for phase in [0.0, std::f64::consts::FRAC_PI_2] {
                let v = ndarray::Array1::from_shape_fn(d, |p| {
                    let (a, b) = ((p / n) as f64, (p % n) as f64);
                    (2.0 * std::f64::consts::PI * (k1 as f64 * a + k2 as f64 * b) / n as f64
                        + phase)
                        .cos()
                });
                let cv = cov.dot(&v);
                let lam = f.spectrum()[[k1, k2]];
                for (x, y) in cv.iter().zip(v.iter()) {
                    check(*x, lam * y, 1e-14, "C v = P v");
                }
            }
        }
    }

    #[test]
    fn wiener_mse_is_bounded_monotone_and_has_the_right_limits() {
        let f = field(16);
        let mut last = 0.0;
        for s in [1e-4, 1e-3, 0.01, 0.05, 0.1, 0.3, 1.0, 10.0] {
            let m = f.wiener_mse(s).expect("valid");
            assert!(m < s * s && m < 0.04 && m > last, "sigma {s}: {m}");
            check(
                f.optimal_psnr(s).expect("valid"),
                -10.0 * m.log10(),
                1e-12,
                "psnr",
            );
            last = m;
        }
        // Small σ: every P(k) ≫ σ², so MSE → σ²; large σ: MSE → the pixel variance.
        check(f.wiener_mse(1e-5).expect("valid") / 1e-10, 1.0, 1e-3, "σ→0");
        check(f.wiener_mse(1e3).expect("valid") / 0.04, 1.0, 1e-6, "σ→∞");
    }

    #[test]
    fn wiener_mse_matches_monte_carlo() {
        let n = 16;
        let f = field(n);
        let count = 300;
        let x = f.generate(count, 21);
        for (si, sigma) in [0.05, 0.2].into_iter().enumerate() {
            let mut total = 0.0;
            for (i, img) in x.outer_iter().enumerate() {
                let mut rng = image_rng(1000 + si as u64, i as u64);
                let y = img.mapv(|v| v + (sigma * rng.sample::<f64, _>(StandardNormal)) as f32);
                let est = f.wiener_denoise(y.view(), sigma).expect("valid");
                total += (&est - &img)
                    .iter()
                    .map(|&e| (e as f64).powi(2))
                    .sum::<f64>();
            }
            let d = (n * n) as f64;
            let mc = total / (count as f64 * d);
            let exact = f.wiener_mse(sigma).expect("valid");
            // Per image, Var Σ_k |E_k|² = 2 Σ_k m_k², m_k = Pσ²/(P + σ²): 4 standard errors.
            let s2 = sigma * sigma;
            let var: f64 = f
                .spectrum()
                .iter()
                .map(|&p| 2.0 * (p * s2 / (p + s2)).powi(2))
                .sum();
            let se = (var / count as f64).sqrt() / d;
            check(mc, exact, 4.0 * se, &format!("MSE at σ = {sigma}"));
            // The test can fail: the MSE of plain identity (σ²) is far outside that band.
            assert!((s2 - exact).abs() > 20.0 * se);
        }
    }

    #[test]
    fn samples_match_the_prior_and_a_wrong_class_does_not() {
        let n = 16;
        let f = field(n);
        let count = 400;
        let x = f.generate(count, 5);
        let cmp = f.compare_samples(x.view()).expect("valid");
        assert_eq!(cmp.n_samples, count);
        assert!(
            cmp.mean_error.abs() < 4.0 * cmp.mean_error_se,
            "{} ± {}",
            cmp.mean_error,
            cmp.mean_error_se
        );
        assert_eq!(
            cmp.bands.iter().map(|b| b.n_frequencies).sum::<usize>(),
            n * n
        );
        for b in &cmp.bands {
            assert!(
                (b.ratio - 1.0).abs() < 4.5 * b.ratio_se,
                "band {}: {} ± {}",
                b.radius,
                b.ratio,
                b.ratio_se
            );
        }
        // Exact samples sit at the floor (its relative spread here is about 6%).
        let floor = cmp.log_spectral_distance_floor_db;
        check(cmp.log_spectral_distance_db / floor, 1.0, 0.25, "LSD/floor");
        check(
            floor,
            DB / (count as f64).sqrt(),
            0.05 * floor,
            "floor ≈ 4.34/√N",
        );

        // A steeper class (p = 2) and a shifted mean are both flagged.
        let steep = GaussianField::new(&GaussianFieldConfig {
            exponent: 2.0,
            ..GaussianFieldConfig::power_law(n)
        })
        .expect("valid");
        let bad = f
            .compare_samples(steep.generate(count, 5).view())
            .expect("valid");
        assert!(bad.log_spectral_distance_db > 5.0 * floor, "{bad:?}");
        let top = bad.bands.last().expect("bands");
        assert!((top.ratio - 1.0).abs() > 10.0 * top.ratio_se, "{top:?}");
        let shifted = f
            .compare_samples(x.mapv(|v| v + 0.1).view())
            .expect("valid");
        check(shifted.mean_error, cmp.mean_error + 0.1, 1e-5, "mean shift");
    }

    #[test]
    fn generation_is_deterministic_whatever_the_thread_count() {
        let f = field(12);
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool")
                .install(|| f.generate(6, 9))
        };
        let a = run(1);
        assert_eq!(a, run(3));
        assert_eq!(
            a.index_axis(ndarray::Axis(0), 4),
            f.sample(&mut image_rng(9, 4))
        );
        assert_ne!(a, f.generate(6, 10));
    }

    #[test]
    fn special_functions_match_known_values() {
        // ψ(1) = −γ, ψ'(1) = π²/6, ψ(1/2) = −γ − 2 ln 2, ψ'(1/2) = π²/2.
        let gamma = 0.577_215_664_901_532_9;
        let pi2 = std::f64::consts::PI.powi(2);
        check(digamma(1.0), -gamma, 1e-10, "ψ(1)");
        check(trigamma(1.0), pi2 / 6.0, 1e-10, "ψ'(1)");
        check(digamma(0.5), -gamma - 2.0 * 2f64.ln(), 1e-10, "ψ(1/2)");
        check(trigamma(0.5), pi2 / 2.0, 1e-10, "ψ'(1/2)");
    }
}
