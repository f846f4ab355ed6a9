//! Errors of the figure layer.

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// What can go wrong while drawing a figure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Encoding or writing an image failed.
    #[error("image: {0}")]
    Image(#[from] image::ImageError),
    /// File-system error.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The plotting backend failed.
    #[error("plot {path}: {reason}")]
    Plot {
        /// The figure being drawn.
        path: String,
        /// The backend's message.
        reason: String,
    },
    /// An argument was out of range.
    #[error("invalid {name}: {reason}")]
    InvalidArgument {
        /// The argument's name.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
}
