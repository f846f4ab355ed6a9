//! The lower layer of `gahb`: everything experiments measure with, and nothing that knows an
//! experiment.
//!
//! - [`data`]: the typed [`data::DataSpec`] and the one function that prepares any dataset into the
//!   one cache ([`data::prepare`]), used by `gahb data` and by every experiment.
//! - [`recipe`]: the training recipe of a profile ([`recipe::TrainSpec`], hyper-parameters only) and
//!   the settings of a run ([`recipe::RunSettings`], never part of a model's identity).
//! - [`store`]: the content-addressed model store, keyed by [`store::ModelSpec`] (the denoiser
//!   crate's `ModelConfig` and `TrainConfig` as they are) and the training images' bytes.
//! - [`sweep`]: the S1/S2 N-sweep shared by Figs. 1, 2, 3, 6 and 15, and its measured PSNR curves.
//! - [`eval`]: PSNR curves at the paper's 15 noise levels.
//! - [`quality`]: sample quality as numbers: the classifier store (a small classifier of a labelled
//!   set, keyed by its config and data) and the class confidence of a set of images.
//! - [`samples`]: samples of any denoiser with the paper's sampler, drawn in bounded chunks.
//! - [`spectral`]: the Jacobian eigen-analysis and its figures.
//! - [`seed`]: the one seed-derivation scheme.
//! - [`io`]: atomic file writes and CSV.
//! - [`lock`]: one writer per cache key (a lock file naming its holder, with a stale-lock rule).
//! - [`job`]: the trainings a run needs, stated before they run (the units of `gahb plan`).
//! - [`context`]: [`context::Lab`], what a run gives every experiment.
//!
//! **Architecture Invariant:** nothing here imports `crate::experiments`, `crate::harness` or
//! `crate::profile` (`cargo xtask tidy` and a test of xtask check it).

pub mod context;
pub mod data;
pub mod eval;
pub mod io;
pub mod job;
pub mod lock;
pub mod quality;
pub mod recipe;
pub mod samples;
pub mod seed;
pub mod spectral;
pub mod store;
pub mod sweep;
