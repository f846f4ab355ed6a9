//! Errors of the dataset readers, the CelebA pipeline (PAPER.md §2), splits and the cache.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong when reading or preparing a dataset; every variant names the file or
/// the numbers involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A path that must exist does not.
    #[error("missing path {path}")]
    Missing {
        /// The missing file or folder.
        path: PathBuf,
    },
    /// An operating-system error while reading or writing a file.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file is shorter (or longer) than its header says.
    #[error("{path}: header says {expected} bytes of data, file has {got}")]
    Truncated {
        /// The file involved.
        path: PathBuf,
        /// Bytes the header promises.
        expected: u64,
        /// Bytes present.
        got: u64,
    },
    /// A file is not in the format its reader expects.
    #[error("{path}: bad format: {reason}")]
    Format {
        /// The file involved.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The `image` crate could not decode a file.
    #[error("{path}: cannot decode image: {source}")]
    Image {
        /// The file involved.
        path: PathBuf,
        /// The decoder's error.
        source: image::ImageError,
    },
    /// An image is smaller than the crop it must undergo.
    #[error("{path}: image is {height}×{width}, smaller than the {need_height}×{need_width} crop")]
    ImageTooSmall {
        /// The file involved.
        path: PathBuf,
        /// Its height.
        height: usize,
        /// Its width.
        width: usize,
        /// The height needed.
        need_height: usize,
        /// The width needed.
        need_width: usize,
    },
    /// A folder holds no image.
    #[error("{path}: no image files found")]
    Empty {
        /// The folder.
        path: PathBuf,
    },
    /// A split asks for more images than the set holds.
    #[error(
        "split of N = {n} impossible: at most {available} per split \
         ({total} images, {n_test} held out for test)"
    )]
    SplitTooLarge {
        /// The requested N.
        n: usize,
        /// The largest allowed N.
        available: usize,
        /// Images in the set.
        total: usize,
        /// Images held out for the test set.
        n_test: usize,
    },
    /// A configuration field has a value outside its domain.
    #[error("invalid config: {field} = {value}: {reason}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// Its value, formatted.
        value: String,
        /// What it must satisfy.
        reason: &'static str,
    },
    /// Images of different sizes cannot form one dataset.
    #[error("{path}: shape {got} differs from the dataset's {expected}")]
    ShapeMismatch {
        /// The file involved.
        path: PathBuf,
        /// The expected shape.
        expected: String,
        /// The file's shape.
        got: String,
    },
    /// A cache file fails its checks.
    #[error("cache file {path} is corrupt: {reason}")]
    CacheCorrupt {
        /// The cache file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    /// An [`Error::Io`] for `path`, or [`Error::Missing`] when the file does not exist.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::Missing { path }
        } else {
            Error::Io { path, source }
        }
    }

    /// An [`Error::Format`].
    pub(crate) fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
