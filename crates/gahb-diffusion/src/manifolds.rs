//! Closed-form optimal denoisers of image classes whose optimum is known, so that a trained
//! denoiser's distance to the best possible one can be measured in dB per σ (issue 12):
//!
//! * [`Ray`]: the ray {s·x : s > 0} through one image x (PAPER.md §7 "Other manifolds", Fig. 19).
//!   At small σ the optimum projects onto the line, f(y) = max(0, ⟨y, u⟩)·u with u = x/‖x‖, with
//!   MSE σ² per image, so the optimal output PSNR is the input PSNR + 10·log10 d.
//! * [`SineCone`]: the 2-D cone of sinusoids a·cos θ + b·sin θ of one fixed frequency (Fig. 20), with
//!   random amplitude and phase. The small-σ optimum projects onto the span of the two sinusoids,
//!   with MSE 2σ² per image, output PSNR = input + 10·log10(d/2).
//! * [`SpectralWiener`]: the exact MMSE (Wiener) denoiser of a stationary Gaussian class on a
//!   periodic grid, applied in the DFT domain from its power spectrum (`gahb_synth::GaussianField`
//!   gives one), with no dense d × d matrix. Its MSE per pixel is mean_k P(k)σ²/(P(k) + σ²) at every
//!   σ; it equals [`GaussianWiener`](crate::GaussianWiener) built from the dense circulant
//!   covariance, known σ or blind.
//!
//! # Which optimum
//! The projections are the optimal denoisers in the small-σ limit for any smooth positive density
//! along the manifold (away from the ends of its support): they are what the paper compares its
//! networks with (PAPER.md §7). They are σ-free, so they are blind and bias-free
//! (f(a·y) = a·f(y) for a > 0) as they stand. The Wiener filter is optimal at every σ; like the other
//! references it has a [`NoiseLevel`], known or blind (the posterior mean over σ uniform on
//! (0, σ_max], as in [`mod@crate::reference`]).
//!
//! # PSNR
//! "Output PSNR = input PSNR + 10·log10(d/m)" is −10·log10 of the *expected* MSE per pixel, m·σ²/d,
//! which is what [`Ray::optimal_psnr`] and [`SineCone::optimal_psnr`] return. The mean of per-image
//! PSNRs (`gahb_tensor::psnr_db`) is larger for small m, because a per-image error σ²·χ²_m has a
//! heavy left tail in the log: by 5.5 dB for m = 1 (E[−10·log10 χ²₁] = −10·(ψ(½) + ln 2)/ln 10) and
//! 2.5 dB for m = 2. Compare measured mean-squared errors, or PSNRs of the mean MSE, with these.

use gahb_tensor::{check_batch, Denoiser};
use ndarray::ArrayView2;
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};
use crate::reference::{
    flatten_images, into_tensor_error, noise_grid, posterior, posterior_mean_sigma, scalar,
    NoiseLevel,
};

/// The ray {s·x : s > 0} through a fixed non-zero image x (PAPER.md Fig. 19), as a generator of
/// training images and as its small-σ optimal denoiser, the projection onto the ray.
#[derive(Debug)]
pub struct Ray {
    /// u = x/‖x‖, `[d]` f64.
    unit: Tensor,
    /// x, `[d]` f64.
    image: Tensor,
    image_shape: [i64; 3],
    s_range: (f64, f64),
}

impl Ray {
    /// The ray through `x` (`[c, h, w]` or `[1, c, h, w]`, on the device to compute on); training
    /// images are s·x with s uniform on [`s_min`, `s_max`) (the paper does not state the law of s;
    /// this is the crate's choice). Errors on a zero or non-finite x, or a range not
    /// 0 ≤ s_min < s_max < ∞.
    pub fn new(x: &Tensor, s_min: f64, s_max: f64) -> Result<Self> {
        let image_shape = single_image_shape("Ray::new", x)?;
        if !(s_min.is_finite() && s_max.is_finite() && 0.0 <= s_min && s_min < s_max) {
            return Err(Error::InvalidArgument {
                name: "scale range",
                reason: format!(
                    "Ray::new: need 0 ≤ s_min < s_max < ∞, got s_min = {s_min}, s_max = {s_max}"
                ),
            });
        }
        let image = x.f_reshape([-1])?.f_to_kind(Kind::Double)?;
        let norm = finite_norm("Ray::new", &image)?;
        if norm == 0.0 {
            return Err(Error::InvalidArgument {
                name: "ray image",
                reason:
                    "Ray::new: ‖x‖ = 0: a ray through the zero image is a single point, not a ray"
                        .into(),
            });
        }
        Ok(Self {
            unit: image.f_div_scalar(norm)?,
            image,
            image_shape,
            s_range: (s_min, s_max),
        })
    }

    /// The unit direction u = x/‖x‖, `[d]` f64.
    pub fn unit(&self) -> &Tensor {
        &self.unit
    }

    /// The dimension of the manifold, 1.
    pub fn dim(&self) -> usize {
        1
    }

    /// `n` training images s_i·x, `[n, c, h, w]` f32, with s_i = s_min + (s_max − s_min)·u_i and u_i
    /// uniform from stream i of `seed` (`gahb_tensor::random::uniform`); also returns the s_i.
    pub fn sample(&self, n: usize, seed: u64) -> Result<(Tensor, Vec<f64>)> {
        let (lo, hi) = self.s_range;
        let u = gahb_tensor::random::uniform(seed, 0, n, &[1], self.unit.device())?
            .f_to_kind(Kind::Double)?
            .f_reshape([n as i64])?;
        let s = u.f_mul_scalar(hi - lo)?.f_add_scalar(lo)?;
        let [c, h, w] = self.image_shape;
        let images = s
            .f_unsqueeze(1)?
            .f_mul(&self.image.f_unsqueeze(0)?)?
            .f_reshape([n as i64, c, h, w])?
            .f_to_kind(Kind::Float)?;
        Ok((images, Vec::<f64>::try_from(&s.f_to_device(Device::Cpu)?)?))
    }

    /// The projection onto the ray, max(0, ⟨y, u⟩)·u, of each image of `y` (`[b, c, h, w]`); the
    /// result has y's kind and device.
    pub fn project(&self, y: &Tensor) -> Result<Tensor> {
        let (b, flat) = flatten_images(y, "Ray::project", self.image_shape, self.unit.device())?;
        let coef = flat.f_matmul(&self.unit)?.f_clamp_min(0.0)?; // [b]
        let out = coef.f_unsqueeze(1)?.f_mul(&self.unit.f_unsqueeze(0)?)?;
        restore(&out, b, self.image_shape, y)
    }

    /// The MSE per image of the projection at small σ, σ² (the noise along u). For a clean image s·x
    /// it is exactly σ²·E[z²; z > −t] + s²‖x‖²·P(z < −t) with t = s‖x‖/σ and z standard normal: at
    /// most σ², and → σ² as t grows.
    pub fn small_sigma_mse(&self, sigma: f64) -> f64 {
        sigma * sigma
    }

    /// The optimal output PSNR at small σ, −10·log10(σ²/d) = input PSNR + 10·log10 d (see the module
    /// doc on PSNR).
    pub fn optimal_psnr(&self, sigma: f64) -> f64 {
        projection_psnr(sigma, self.image.size()[0], 1)
    }
}

impl Denoiser for Ray {
    fn denoise(&self, y: &Tensor) -> gahb_tensor::Result<Tensor> {
        self.project(y).map_err(into_tensor_error)
    }

    fn linearized(&self, y: &Tensor, v: &Tensor) -> gahb_tensor::Result<Option<Tensor>> {
        // ∇f(y) = u·uᵀ where ⟨y, u⟩ > 0 and 0 where the projection is clamped.
        (|| {
            let (_, fy) = flatten_images(y, "Ray::linearized", self.image_shape, self.device())?;
            let inside = scalar(&fy.f_matmul(&self.unit)?.f_sum(Kind::Double)?)? > 0.0;
            let (k, fv) = flatten_images(v, "Ray::linearized", self.image_shape, self.device())?;
            let mut coef = fv.f_matmul(&self.unit)?;
            if !inside {
                coef = coef.f_zeros_like()?;
            }
            let out = coef.f_unsqueeze(1)?.f_mul(&self.unit.f_unsqueeze(0)?)?;
            restore(&out, k, self.image_shape, v).map(Some)
        })()
        .map_err(into_tensor_error)
    }

    fn is_bias_free(&self) -> bool {
        true
    }

    fn device(&self) -> Device {
        self.unit.device()
    }

    fn name(&self) -> String {
        format!("ray projection d={}", self.unit.size()[0])
    }
}

/// The 2-D cone of sinusoids a·cos θ + b·sin θ, θ(i, j) = 2π(f_row·i/h + f_col·j/w), the same in
/// every channel (PAPER.md Fig. 20), as a generator and as its small-σ optimal denoiser, the
/// projection onto the span of the two sinusoids.
#[derive(Debug)]
pub struct SineCone {
    /// The orthonormalised cos and sin patterns, `[2, d]` f64.
    basis: Tensor,
    /// The unnormalised cos θ and sin θ, `[2, d]` f64.
    patterns: Tensor,
    freq: [i64; 2],
    image_shape: [i64; 3],
    amplitude: (f64, f64),
}

impl SineCone {
    /// The cone of frequency `freq` = [f_row, f_col] (cycles per image along rows and columns) for
    /// `[c, h, w]` images on `device`. Training images have amplitude A = √(a² + b²) uniform on
    /// [`amplitude.0`, `amplitude.1`) and phase uniform on [0, 2π) (the paper states neither law).
    /// Errors on a frequency the grid cannot hold, f = [0, 0] or |f_row| ≥ h/2 or |f_col| ≥ w/2 (at
    /// the Nyquist frequency sin θ vanishes), and on an amplitude range not 0 ≤ lo < hi < ∞.
    pub fn new(
        image_shape: [i64; 3],
        freq: [i64; 2],
        amplitude: (f64, f64),
        device: Device,
    ) -> Result<Self> {
        let [c, h, w] = image_shape;
        if image_shape.iter().any(|&s| s <= 0) {
            return Err(Error::InvalidArgument {
                name: "image shape",
                reason: format!("SineCone::new: every dimension must be > 0, got {image_shape:?}"),
            });
        }
        let [fr, fc] = freq;
        if freq == [0, 0] || 2 * fr.abs() >= h || 2 * fc.abs() >= w {
            return Err(Error::InvalidArgument {
                name: "frequency",
                reason: format!(
                    "SineCone::new: frequency {freq:?} does not fit a {h}×{w} grid: it must be \
                     non-zero with |f_row| < h/2 and |f_col| < w/2"
                ),
            });
        }
        let (lo, hi) = amplitude;
        if !(lo.is_finite() && hi.is_finite() && 0.0 <= lo && lo < hi) {
            return Err(Error::InvalidArgument {
                name: "amplitude range",
                reason: format!("SineCone::new: need 0 ≤ lo < hi < ∞, got ({lo}, {hi})"),
            });
        }
        let d = (c * h * w) as usize;
        let mut cos = Vec::with_capacity(d);
        let mut sin = Vec::with_capacity(d);
        for _ in 0..c {
            for i in 0..h {
                for j in 0..w {
                    let theta = 2.0
                        * std::f64::consts::PI
                        * (fr as f64 * i as f64 / h as f64 + fc as f64 * j as f64 / w as f64);
                    cos.push(theta.cos());
                    sin.push(theta.sin());
                }
            }
        }
        cos.extend_from_slice(&sin);
        let patterns = Tensor::from_slice(&cos)
            .f_reshape([2, d as i64])?
            .f_to_device(device)?;
        // QR gives an orthonormal basis of the span (the two patterns are orthogonal with norm²
        // d/2 in exact arithmetic; QR makes that hold to rounding).
        let (q, _) = Tensor::f_linalg_qr(&patterns.f_tr()?, "reduced")?;
        Ok(Self {
            basis: q.f_tr()?.f_contiguous()?,
            patterns,
            freq,
            image_shape,
            amplitude,
        })
    }

    /// One cycle per image along the columns, freq = [0, 1]: the unit-frequency sinusoids of Fig. 20.
    pub fn unit_frequency(
        image_shape: [i64; 3],
        amplitude: (f64, f64),
        device: Device,
    ) -> Result<Self> {
        Self::new(image_shape, [0, 1], amplitude, device)
    }

    /// The frequency [f_row, f_col].
    pub fn frequency(&self) -> [i64; 2] {
        self.freq
    }

    /// An orthonormal basis of the plane, `[2, d]` f64.
    pub fn basis(&self) -> &Tensor {
        &self.basis
    }

    /// The dimension of the manifold, 2.
    pub fn dim(&self) -> usize {
        2
    }

    /// `n` training images a_i·cos θ + b_i·sin θ, `[n, c, h, w]` f32, with (a_i, b_i) =
    /// A_i·(cos φ_i, sin φ_i), A_i and φ_i from the two uniforms of stream i of `seed`; also returns
    /// the (a_i, b_i).
    pub fn sample(&self, n: usize, seed: u64) -> Result<(Tensor, Vec<[f64; 2]>)> {
        let (lo, hi) = self.amplitude;
        let u = gahb_tensor::random::uniform(seed, 0, n, &[2], self.basis.device())?
            .f_to_kind(Kind::Double)?;
        let amp = u.f_select(1, 0)?.f_mul_scalar(hi - lo)?.f_add_scalar(lo)?;
        let phase = u.f_select(1, 1)?.f_mul_scalar(2.0 * std::f64::consts::PI)?;
        let ab = Tensor::f_stack(
            &[amp.f_mul(&phase.f_cos()?)?, amp.f_mul(&phase.f_sin()?)?],
            1,
        )?; // [n, 2]
        let [c, h, w] = self.image_shape;
        let images = ab
            .f_matmul(&self.patterns)?
            .f_reshape([n as i64, c, h, w])?
            .f_to_kind(Kind::Float)?;
        let flat = Vec::<f64>::try_from(&ab.f_reshape([-1])?.f_to_device(Device::Cpu)?)?;
        Ok((images, flat.chunks(2).map(|p| [p[0], p[1]]).collect()))
    }

    /// The orthogonal projection onto the plane of each image of `y` (`[b, c, h, w]`); the result has
    /// y's kind and device.
    pub fn project(&self, y: &Tensor) -> Result<Tensor> {
        let (b, flat) = flatten_images(
            y,
            "SineCone::project",
            self.image_shape,
            self.basis.device(),
        )?;
        let out = flat.f_matmul(&self.basis.f_tr()?)?.f_matmul(&self.basis)?;
        restore(&out, b, self.image_shape, y)
    }

    /// The MSE per image of the projection, 2σ² (exact at every σ for images on the plane).
    pub fn small_sigma_mse(&self, sigma: f64) -> f64 {
        2.0 * sigma * sigma
    }

    /// The optimal output PSNR at small σ, input PSNR + 10·log10(d/2) (see the module doc on PSNR).
    pub fn optimal_psnr(&self, sigma: f64) -> f64 {
        projection_psnr(sigma, self.basis.size()[1], 2)
    }
}

impl Denoiser for SineCone {
    fn denoise(&self, y: &Tensor) -> gahb_tensor::Result<Tensor> {
        self.project(y).map_err(into_tensor_error)
    }

    fn linearized(&self, _y: &Tensor, v: &Tensor) -> gahb_tensor::Result<Option<Tensor>> {
        // The projection is linear: its Jacobian is itself.
        self.project(v).map(Some).map_err(into_tensor_error)
    }

    fn is_bias_free(&self) -> bool {
        true
    }

    fn device(&self) -> Device {
        self.basis.device()
    }

    fn name(&self) -> String {
        format!("sine-cone projection f={:?}", self.freq)
    }
}

/// The exact Wiener denoiser of a stationary Gaussian class on a periodic `n × n` grid with constant
/// mean μ and power spectrum P(k) (the covariance's eigenvalues in the orthonormal 2-D DFT basis),
/// applied in the DFT domain: f(y) = μ + IDFT(P/(P + σ²) · DFT(y − μ)). It is
/// [`GaussianWiener`](crate::GaussianWiener) for the circulant covariance, without its d × d matrix.
#[derive(Debug)]
pub struct SpectralWiener {
    /// P(k), `[n, n]` f64 in FFT layout.
    spectrum: Tensor,
    mean: f64,
    size: i64,
    noise: NoiseLevel,
}

impl SpectralWiener {
    /// Builds the denoiser of `[1, n, n]` images from the spectrum (`[n, n]` in FFT layout, entry
    /// `[i, j]` at frequency (`fftfreq(n)[i]·n`, `fftfreq(n)[j]·n`), as `gahb_synth::GaussianField::spectrum`)
    /// and the mean, computing on `device` in f64. The spectrum must be finite, ≥ 0 and symmetric,
    /// P(k) = P(−k), as the spectrum of a real field is.
    pub fn new(
        spectrum: ArrayView2<f64>,
        mean: f64,
        noise: NoiseLevel,
        device: Device,
    ) -> Result<Self> {
        noise.check("SpectralWiener::new")?;
        let (n, m) = spectrum.dim();
        if n != m || n == 0 {
            return Err(Error::ShapeMismatch {
                op: "SpectralWiener::new (spectrum)",
                expected: "[n, n] with n ≥ 1".into(),
                got: vec![n as i64, m as i64],
            });
        }
        if let Some(((i, j), v)) = spectrum
            .indexed_iter()
            .find(|(_, v)| !(v.is_finite() && **v >= 0.0))
        {
            return Err(Error::InvalidArgument {
                name: "spectrum",
                reason: format!("P[{i}, {j}] = {v}: every entry must be finite and ≥ 0"),
            });
        }
        let scale = spectrum.iter().fold(0.0f64, |a, &v| a.max(v));
        for ((i, j), &v) in spectrum.indexed_iter() {
            let mirror = spectrum[[(n - i) % n, (n - j) % n]];
            if (v - mirror).abs() > 1e-12 * scale {
                return Err(Error::InvalidArgument {
                    name: "spectrum",
                    reason: format!(
                        "P[{i}, {j}] = {v} but P(−k) = {mirror}: a real field's spectrum is symmetric"
                    ),
                });
            }
        }
        if !mean.is_finite() {
            return Err(Error::InvalidArgument {
                name: "mean",
                reason: format!("SpectralWiener::new: the mean must be finite, got {mean}"),
            });
        }
        let flat: Vec<f64> = spectrum.iter().copied().collect();
        let spectrum = Tensor::from_slice(&flat)
            .f_reshape([n as i64, n as i64])?
            .f_to_device(device)?;
        Ok(Self {
            spectrum,
            mean,
            size: n as i64,
            noise,
        })
    }

    /// The same prior with another noise level.
    pub fn with_noise(&self, noise: NoiseLevel) -> Result<Self> {
        noise.check("SpectralWiener::with_noise")?;
        Ok(Self {
            spectrum: self.spectrum.shallow_clone(),
            mean: self.mean,
            size: self.size,
            noise,
        })
    }

    /// The spectrum P(k), `[n, n]` f64.
    pub fn spectrum(&self) -> &Tensor {
        &self.spectrum
    }

    /// The prior mean μ of every pixel.
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// The exact MSE per pixel of the Wiener filter at a known σ, mean_k P(k)σ²/(P(k) + σ²).
    pub fn mse_per_pixel(&self, sigma: f64) -> Result<f64> {
        NoiseLevel::Known(sigma).check("SpectralWiener::mse_per_pixel")?;
        let s2 = sigma * sigma;
        scalar(
            &self
                .spectrum
                .f_mul_scalar(s2)?
                .f_div(&self.spectrum.f_add_scalar(s2)?)?
                .f_mean(Kind::Double)?,
        )
    }

    /// The best possible output PSNR at σ, −10·log10 of [`mse_per_pixel`](Self::mse_per_pixel).
    pub fn optimal_psnr(&self, sigma: f64) -> Result<f64> {
        Ok(-10.0 * self.mse_per_pixel(sigma)?.log10())
    }

    /// The MMSE denoiser at a given σ (whatever this denoiser's own noise level).
    pub fn denoise_at(&self, y: &Tensor, sigma: f64) -> Result<Tensor> {
        NoiseLevel::Known(sigma).check("SpectralWiener::denoise_at")?;
        let coef = self.coefficients(y, "SpectralWiener::denoise_at")?;
        let gain = self
            .spectrum
            .f_div(&self.spectrum.f_add_scalar(sigma * sigma)?)?;
        self.synthesise(&coef.f_mul(&gain)?, y)
    }

    /// The posterior mean E[σ | y] of each image's noise level for σ uniform on (0, `sigma_max`]:
    /// `[b]` f64.
    pub fn estimate_sigma(&self, y: &Tensor, sigma_max: f64) -> Result<Tensor> {
        NoiseLevel::Blind { sigma_max }.check("SpectralWiener::estimate_sigma")?;
        let coef = self.coefficients(y, "SpectralWiener::estimate_sigma")?;
        let (post, log_var) = self.noise_posterior(&coef, sigma_max)?;
        posterior_mean_sigma(&post, &log_var)
    }

    /// The orthonormal DFT of y − μ, `[b, 1, n, n]` complex f64, after checking y's shape.
    fn coefficients(&self, y: &Tensor, op: &'static str) -> Result<Tensor> {
        let (b, c, h, w) = check_batch(op, y)?;
        if [c, h, w] != [1, self.size, self.size] {
            return Err(Error::ShapeMismatch {
                op,
                expected: format!("[b, 1, {n}, {n}]", n = self.size),
                got: vec![b, c, h, w],
            });
        }
        Ok(y.f_to_kind(Kind::Double)?
            .f_to_device(self.spectrum.device())?
            .f_sub_scalar(self.mean)?
            .f_fft_fft2(None::<&[i64]>, [-2i64, -1], "ortho")?)
    }

    /// μ + IDFT(coef), real, with y's kind and device.
    fn synthesise(&self, coef: &Tensor, y: &Tensor) -> Result<Tensor> {
        Ok(coef
            .f_fft_ifft2(None::<&[i64]>, [-2i64, -1], "ortho")?
            .f_real()?
            .f_add_scalar(self.mean)?
            .f_to_kind(y.kind())?
            .f_to_device(y.device())?)
    }

    /// The posterior p(σ_j | y), `[b, G]`, and the grid's log σ_j², `[G]`:
    /// log p_s(y) = −½Σ_k [log(P(k) + s) + |Y(k)|²/(P(k) + s)] + const, as in `GaussianWiener`
    /// with the DFT as eigenbasis.
    fn noise_posterior(&self, coef: &Tensor, sigma_max: f64) -> Result<(Tensor, Tensor)> {
        let b = coef.size()[0];
        let power = coef.f_abs()?.f_square()?.f_reshape([b, -1])?; // [b, d]
        let log_var = noise_grid(sigma_max, self.spectrum.device())?;
        let v = self
            .spectrum
            .f_reshape([1, -1])?
            .f_add(&log_var.f_exp()?.f_unsqueeze(1)?)?; // [G, d]
        let log_det = v
            .f_log()?
            .f_sum_dim_intlist([1i64].as_slice(), false, Kind::Double)?;
        let quad = power.f_matmul(&v.f_reciprocal()?.f_tr()?)?; // [b, G]
        let loglik = quad.f_add(&log_det.f_unsqueeze(0)?)?.f_mul_scalar(-0.5)?;
        Ok((posterior(&loglik, &log_var)?, log_var))
    }

    /// The blind denoiser: the gain Σ_j p(σ_j | y)·P/(P + σ_j²) per image and frequency.
    fn denoise_blind(&self, y: &Tensor, sigma_max: f64) -> Result<Tensor> {
        let coef = self.coefficients(y, "SpectralWiener::denoise")?;
        let (post, log_var) = self.noise_posterior(&coef, sigma_max)?;
        let p = self.spectrum.f_reshape([1, -1])?;
        let gains = p.f_div(
            &p.f_add(&log_var.f_exp()?.f_unsqueeze(1)?)?
                .f_clamp_min(1e-300)?,
        )?; // [G, d]
        let gain = post
            .f_matmul(&gains)?
            .f_reshape([-1, 1, self.size, self.size])?;
        self.synthesise(&coef.f_mul(&gain)?, y)
    }
}

impl Denoiser for SpectralWiener {
    fn denoise(&self, y: &Tensor) -> gahb_tensor::Result<Tensor> {
        let out = match self.noise {
            NoiseLevel::Known(s) => self.denoise_at(y, s),
            NoiseLevel::Blind { sigma_max } => self.denoise_blind(y, sigma_max),
        };
        out.map_err(into_tensor_error)
    }

    fn linearized(&self, _y: &Tensor, v: &Tensor) -> gahb_tensor::Result<Option<Tensor>> {
        // With a known σ and μ = 0 the filter is linear; otherwise let callers differentiate.
        match self.noise {
            NoiseLevel::Known(s) if self.mean == 0.0 => {
                self.denoise_at(v, s).map(Some).map_err(into_tensor_error)
            }
            _ => Ok(None),
        }
    }

    fn device(&self) -> Device {
        self.spectrum.device()
    }

    fn name(&self) -> String {
        format!("spectral-wiener {n}x{n} {:?}", self.noise, n = self.size)
    }
}

/// −10·log10(m·σ²/d): the PSNR of the expected MSE of a projection onto an m-dimensional subspace.
fn projection_psnr(sigma: f64, d: i64, m: i64) -> f64 {
    -10.0 * (m as f64 * sigma * sigma / d as f64).log10()
}

/// The `[c, h, w]` shape of a single image given as `[c, h, w]` or `[1, c, h, w]`.
fn single_image_shape(op: &'static str, x: &Tensor) -> Result<[i64; 3]> {
    match x.size().as_slice() {
        &[c, h, w] | &[1, c, h, w] if c > 0 && h > 0 && w > 0 => Ok([c, h, w]),
        _ => Err(Error::ShapeMismatch {
            op,
            expected: "one image, [c, h, w] or [1, c, h, w]".into(),
            got: x.size(),
        }),
    }
}

/// ‖x‖, with an error naming a non-finite entry.
fn finite_norm(op: &'static str, x: &Tensor) -> Result<f64> {
    let norm = scalar(&x.f_norm()?)?;
    if !norm.is_finite() {
        return Err(Error::InvalidArgument {
            name: "ray image",
            reason: format!("{op}: every pixel must be finite, got a norm of {norm}"),
        });
    }
    Ok(norm)
}

/// `[b, d]` rows back to `[b, c, h, w]` with `like`'s kind and device.
fn restore(flat: &Tensor, b: i64, [c, h, w]: [i64; 3], like: &Tensor) -> Result<Tensor> {
    Ok(flat
        .f_reshape([b, c, h, w])?
        .f_to_kind(like.kind())?
        .f_to_device(like.device())?)
}
