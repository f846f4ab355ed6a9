//! Scale space, the Tweedie/Miyasawa score and the stochastic coarse-to-fine reverse-diffusion
//! sampler of PAPER.md §4, with analytic reference denoisers and the sample-comparison measures of
//! PAPER.md §3.
//!
//! Everything works with any [`gahb_tensor::Denoiser`]; this crate never depends on
//! `gahb-denoiser`, so it is tested against denoisers whose optimum is known
//! ([`reference::GaussianWiener`], [`reference::Memorizer`]).
//!
//! * [`scale_space`]: y = x + σz, Gaussian blur at scale t = σ², the score (f(y) − y)/σ².
//! * [`sampler`]: Algorithm 1 (PAPER.md §4), batched, seeded per sample, with traces and timing.
//! * [`mod@reference`]: the Wiener denoiser of a Gaussian prior and the memoriser of a training set.
//! * [`bias_free`]: the best bias-free (homogeneous) denoiser of a training set, at a known σ (a
//!   bound) or blind over the training law of σ (what a memorising bias-free network converges to).
//! * [`manifolds`]: optimal denoisers with known MSE: projections onto a ray (Fig. 19) and a cone of
//!   sinusoids (Fig. 20), and the Wiener filter of a stationary Gaussian class in the DFT domain.
//! * [`compare`]: cosine similarities, nearest training images and histograms (PAPER.md §3, Fig. 2).
//! * [`noise`]: the seeded per-sample noise streams shared by all of the above.

pub mod bias_free;
pub mod compare;
pub mod error;
pub mod manifolds;
pub mod noise;
pub mod reference;
pub mod sampler;
pub mod scale_space;

pub use bias_free::{log_radial_moment, BiasFreeMemorizer, NoisePrior, Optimum};
pub use compare::{
    compare_models, histogram, nearest_images, nearest_images_chunked, paired_similarity, stats,
    ComparisonReport, Histogram, HistogramSpec, Nearest, Stats,
};
pub use error::{Error, Result};
pub use manifolds::{Ray, SineCone, SpectralWiener};
pub use reference::{GaussianWiener, Memorizer, NoiseLevel};
pub use sampler::{
    predict_gaussian_moments, sample, sample_with, GaussianPrediction, InitMean, Progress,
    SampleOptions, SampleRun, SampleSummary, SampleTrace, SamplerConfig, Snapshot, StepSchedule,
    StopReason, Timing,
};
pub use scale_space::{
    add_noise, gaussian_blur, residual_sigma, score_from_denoised, tweedie_score, Noised,
};
