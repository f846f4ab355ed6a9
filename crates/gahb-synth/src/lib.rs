//! Synthetic image classes with known optimal bases (PAPER.md §6 C^α images, §7 disks, §8 shuffled
//! pixels).
//!
//! # Conventions
//! - A dataset is an `ndarray::Array3<f32>` of shape `[n, h, w]`: grayscale, values in `[0, 1]`,
//!   row-major images. The same convention is used by `gahb-data`.
//! - Every generator is deterministic: a batch generator takes a `seed` and draws image `i` from
//!   [`image_rng`]`(seed, i)` (ChaCha8 with stream `i`), so results do not depend on the number of
//!   rayon threads; single-image functions take `&mut impl Rng`.
//! - Configs are serde structs with `deny_unknown_fields` and a `validate()` that constructors call.
//!
//! # Entry points
//! - [`generate_calpha`] / [`CAlphaGenerator`]: C^α images with contour regularity α and background
//!   regularity β.
//! - [`generate_disks`] / [`render_disk`]: antialiased disks with their 5 parameters.
//! - [`PixelPermutation`]: one seeded pixel permutation applied to any dataset, and its inverse.
//! - [`GaussianField`]: stationary Gaussian images with a power-law spectrum, whose optimal
//!   (Wiener) denoiser and its MSE at every σ are known exactly, and a comparison of samples with it.
//! - [`fit_disk`] / [`fraction_of_disks`]: the best disk for an image, to tell disks from non-disks.

mod calpha;
mod disk_fit;
mod disks;
mod error;
mod gaussian;
mod rng;
mod shuffle;

pub use calpha::{box_blur_2x2, generate_calpha, CAlphaConfig, CAlphaGenerator};
pub use disk_fit::{fit_disk, fit_disks, fraction_of_disks, DiskFit};
pub use disks::{generate_disks, render_disk, DiskConfig, DiskParams};
pub use error::{Error, Result};
pub use gaussian::{
    generate_gaussian, BandRatio, GaussianField, GaussianFieldConfig, SpectrumComparison,
    MAX_DENSE_PIXELS,
};
pub use rng::image_rng;
pub use shuffle::PixelPermutation;
