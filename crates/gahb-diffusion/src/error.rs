//! Errors of the scale-space, sampling (PAPER.md §4, Algorithm 1) and comparison (PAPER.md §3) code.

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// What can go wrong while noising, sampling or comparing images.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A libtorch call failed.
    #[error("libtorch: {0}")]
    Tch(#[from] tch::TchError),
    /// The tensor layer (a denoiser call, a conversion or a metric) failed.
    #[error(transparent)]
    Tensor(#[from] gahb_tensor::Error),
    /// A configuration value is out of its valid range.
    #[error("invalid config `{field}`: {reason}")]
    InvalidConfig {
        /// The config field.
        field: &'static str,
        /// What is wrong and what to change.
        reason: String,
    },
    /// An argument is out of its valid range.
    #[error("invalid {name}: {reason}")]
    InvalidArgument {
        /// The argument's name.
        name: &'static str,
        /// What is wrong and what to change.
        reason: String,
    },
    /// A tensor had a shape other than the one an operation needs.
    #[error("{op}: expected shape {expected}, got {got:?}")]
    ShapeMismatch {
        /// The operation that checked the shape.
        op: &'static str,
        /// The shape it needs, in words.
        expected: String,
        /// The shape it got.
        got: Vec<i64>,
    },
    /// A denoiser returned a batch whose shape differs from its input's.
    #[error("denoiser `{denoiser}` returned shape {got:?} for an input of shape {expected:?}")]
    DenoiserOutput {
        /// The denoiser's name.
        denoiser: String,
        /// The input shape.
        expected: Vec<i64>,
        /// The output shape.
        got: Vec<i64>,
    },
    /// A noise-generating worker thread stopped unexpectedly.
    #[error("noise worker stopped: {0}")]
    NoiseWorker(String),
}
