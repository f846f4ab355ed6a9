//! Tensor operations over libtorch shared by every gahb crate that computes with `tch`.
//!
//! This crate sits at the bottom of the tensor stack, like `Module` in tch: it owns the [`Denoiser`]
//! trait (a noisy batch in, a denoised batch out), so that `gahb-analysis` and `gahb-diffusion` are
//! written and tested against analytic denoisers and never depend on `gahb-denoiser`.
//! It also holds device choice, seeding, tch/ndarray conversion, PSNR and cosine similarity
//! (paper §3), and seeded random tensors that never touch libtorch's global generator.

pub mod analytic;
pub mod convert;
pub mod denoiser;
pub mod device;
pub mod error;
pub mod metrics;
pub mod random;
pub mod seed;

pub use analytic::{IdentityDenoiser, LinearDenoiser};
pub use denoiser::{check_batch, Denoiser};
pub use device::{device_summary, manual_seed, parse_device, DeviceInfo};
pub use error::{Error, Result};
pub use metrics::{
    cosine_similarity_matrix, input_psnr_db, mse_per_image, psnr_db, psnr_per_image,
};
