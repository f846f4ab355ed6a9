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
    #[error("missing path {path}: no such file or folder")]
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
    #[error(
        "{path}: header says {expected} bytes of data, file has {got}: the file is damaged or \
         its header is wrong, write or fetch it again"
    )]
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
    #[error("{path}: no {what} files found: point at the folder that holds the images")]
    Empty {
        /// The folder.
        path: PathBuf,
        /// The kinds of file looked for, e.g. `.png, .jpg or .jpeg`.
        what: &'static str,
    },
    /// A path given as a folder is a file.
    #[error("{path} is a file, not a folder: pass the folder that holds the images")]
    NotAFolder {
        /// The file given.
        path: PathBuf,
    },
    /// A size in a header, a shape or a target is zero.
    #[error("{path}: {field} is 0 (shape {shape}): every dimension must be at least 1")]
    ZeroDimension {
        /// The file (or operation) involved.
        path: PathBuf,
        /// Which dimension, e.g. `dimension 1` or `height`.
        field: String,
        /// The whole shape, formatted.
        shape: String,
    },
    /// The product of header sizes does not fit in 64 bits.
    #[error("{path}: header sizes {shape} overflow 64 bits: the header is corrupt")]
    SizeOverflow {
        /// The file involved.
        path: PathBuf,
        /// The sizes, formatted.
        shape: String,
    },
    /// An integer `.npy` array was read without saying how to map it to `[0, 1]`.
    #[error(
        "{path}: dtype {dtype} holds integers: read it with read_npy_images_scaled(path, scale), \
         e.g. scale 255 for 8-bit images"
    )]
    IntegerNeedsScale {
        /// The file involved.
        path: PathBuf,
        /// The `.npy` dtype, e.g. `|u1`.
        dtype: String,
    },
    /// NaN or infinite values in the data.
    #[error(
        "{path}: {count} NaN or infinite value(s), the first ({first_value}) at index \
         {first_index}: replace them before reading"
    )]
    NonFinite {
        /// The file involved.
        path: PathBuf,
        /// How many values are not finite.
        count: usize,
        /// The first one, formatted (`NaN`, `inf`, `-inf`).
        first_value: String,
        /// Where the first one is, e.g. `[0, 1, 2] (flat 5)`.
        first_index: String,
    },
    /// Values outside `[0, 1]` (after the scale, when one was given).
    #[error(
        "{path}: {count} value(s) outside [0, 1] (min {min:?}, max {max:?}): rescale the array to \
         [0, 1]{hint}"
    )]
    OutOfRange {
        /// The file involved.
        path: PathBuf,
        /// How many values are outside `[0, 1]`.
        count: usize,
        /// The smallest value.
        min: f64,
        /// The largest value.
        max: f64,
        /// What else to try, e.g. `or pass scale 255`; empty when nothing else applies.
        hint: String,
    },
    /// A PGM pixel exceeds the header's maxval.
    #[error(
        "{path}: pixel value {value} at [row {row}, col {col}] exceeds the header's maxval \
         {maxval} ({count} pixel(s) above it): fix the maxval or the data"
    )]
    PixelAboveMaxval {
        /// The file involved.
        path: PathBuf,
        /// The first offending value.
        value: u64,
        /// The header's maxval.
        maxval: u64,
        /// Its row.
        row: usize,
        /// Its column.
        col: usize,
        /// How many pixels exceed maxval.
        count: usize,
    },
    /// An output would exceed the size cap of [`MAX_OUTPUT_PIXELS`](crate::MAX_OUTPUT_PIXELS).
    #[error(
        "{op}: output {n}×{height}×{width} would need {bytes} bytes (n·h·w·4), over the cap of \
         {cap_bytes} bytes: choose a smaller size or fewer images"
    )]
    OutputTooLarge {
        /// The operation, e.g. `resize_all`.
        op: &'static str,
        /// Images.
        n: usize,
        /// Output height.
        height: usize,
        /// Output width.
        width: usize,
        /// Bytes the output would need (saturating).
        bytes: u128,
        /// The cap in bytes.
        cap_bytes: u128,
    },
    /// A size set by the user would need more memory than the machine has.
    #[error(
        "{field}: {what} would need {bytes} bytes, more than this machine's {memory} bytes of \
         memory: choose a smaller {field}"
    )]
    TooLarge {
        /// The field or option that sets the size, e.g. `data.size` or `--size`.
        field: String,
        /// What would be allocated, e.g. `64 images of 100000×100000`.
        what: String,
        /// Bytes needed (saturating).
        bytes: u128,
        /// The machine's memory in bytes.
        memory: u64,
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
    #[error(
        "{path}: shape {got} differs from the dataset's {expected}: give every image the same size"
    )]
    ShapeMismatch {
        /// The file involved.
        path: PathBuf,
        /// The expected shape.
        expected: String,
        /// The file's shape.
        got: String,
    },
    /// Class labels were asked of a set that has none.
    #[error("dataset `{dataset}` has no class labels: only {labelled} do")]
    NoLabels {
        /// The set's name.
        dataset: String,
        /// The sets that have labels, for the message.
        labelled: &'static str,
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

/// The number of bytes `item · Π dims` of a header's shape, after checking that every size is at least
/// 1 ([`Error::ZeroDimension`]) and that the product fits ([`Error::SizeOverflow`]); `names` labels
/// the dimensions (`height`, `width`), missing names read `dimension i`.
pub(crate) fn checked_bytes(
    path: &std::path::Path,
    dims: &[usize],
    names: &[&str],
    item: usize,
) -> Result<usize> {
    let shape = || format!("{dims:?}");
    if let Some(i) = dims.iter().position(|&d| d == 0) {
        let field = match names.get(i) {
            Some(name) => format!("dimension {i} ({name})"),
            None => format!("dimension {i}"),
        };
        return Err(Error::ZeroDimension {
            path: path.into(),
            field,
            shape: shape(),
        });
    }
    dims.iter()
        .try_fold(item, |acc, &d| acc.checked_mul(d))
        .filter(|&b| u64::try_from(b).is_ok())
        .ok_or_else(|| Error::SizeOverflow {
            path: path.into(),
            shape: shape(),
        })
}

/// Format a flat index of an array of shape `dims` as `[i, j, k] (flat f)`.
pub(crate) fn unravel(flat: usize, dims: &[usize]) -> String {
    let mut rest = flat;
    let mut idx = vec![0; dims.len()];
    for (slot, &d) in idx.iter_mut().zip(dims).rev() {
        if d > 0 {
            *slot = rest % d;
            rest /= d;
        }
    }
    let parts: Vec<String> = idx.iter().map(usize::to_string).collect();
    format!("[{}] (flat {flat})", parts.join(", "))
}
