//! The seed-derivation scheme of a run: `gahb_tensor::seed`, the one scheme of the workspace.
//!
//! Named children ([`derive_seed`]) give every part of a run its seed from the profile's master
//! seed, as a path of tags: `fig4` → `alpha-2` → `test-noise`. Numbered streams (image `i`, row
//! `i`, step `i`) come from the same module's `stream`, used by `gahb_tensor::random`, the sampler
//! and the training loop.

pub use gahb_tensor::seed::derive_seed;
