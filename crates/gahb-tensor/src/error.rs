//! Errors of the tensor layer.

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// What can go wrong in tensor utilities and denoiser calls.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A libtorch call failed.
    #[error("libtorch: {0}")]
    Tch(#[from] tch::TchError),
    /// An ndarray shape could not be formed.
    #[error("ndarray shape: {0}")]
    Shape(#[from] ndarray::ShapeError),
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
    /// An argument was out of its valid range.
    #[error("invalid {name}: {reason}")]
    InvalidArgument {
        /// The argument's name.
        name: &'static str,
        /// What is wrong and what to change.
        reason: String,
    },
    /// A tensor held NaN or infinite values.
    #[error("{op}: non-finite values")]
    NonFinite {
        /// The operation that found them.
        op: &'static str,
    },
}
