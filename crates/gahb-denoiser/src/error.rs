//! Errors of the denoiser crate: configuration checks, shapes, checkpoints and training (paper §1-§3),
//! and the input checks of the sample-quality classifier and Fréchet distance (issue 12).

use std::path::PathBuf;

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// What can go wrong while building, training, saving or evaluating a denoiser.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A libtorch call failed.
    #[error("libtorch: {0}")]
    Tch(#[from] tch::TchError),
    /// The tensor layer reported an error.
    #[error(transparent)]
    Tensor(#[from] gahb_tensor::Error),
    /// A file could not be read or written.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// A JSON sidecar could not be (de)serialised.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// A TOML config could not be parsed.
    #[error("toml: {0}")]
    TomlDe(#[from] toml::de::Error),
    /// A TOML config could not be written.
    #[error("toml: {0}")]
    TomlSer(#[from] toml::ser::Error),
    /// A configuration value is out of its valid range.
    #[error("invalid config {field}: {reason}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
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
    /// A checkpoint does not fit the model it is loaded into.
    #[error("checkpoint {path}: {reason}")]
    CheckpointMismatch {
        /// The checkpoint file.
        path: PathBuf,
        /// Which parameter or setting differs, with both values.
        reason: String,
    },
    /// A PyTorch `torch.save` file was refused: its format, or something the safe reader does not
    /// run or read (a pickle global outside the allowlist, an entry that is not a tensor, ...).
    #[error("pytorch file {path}: {reason}")]
    PyTorchFile {
        /// The file.
        path: PathBuf,
        /// What was refused, naming the key, global or opcode.
        reason: String,
    },
    /// An image set that must hold at least one image is empty.
    #[error("{op}: the image set is empty")]
    EmptyDataset {
        /// The operation that got the empty set.
        op: &'static str,
    },
    /// A labelled operation got a dataset without labels.
    #[error("{op}: the dataset has no labels, and this needs one class label per image")]
    MissingLabels {
        /// The operation that needs labels.
        op: &'static str,
    },
    /// The label count differs from the image count.
    #[error("{op}: {labels} labels for {images} images")]
    LabelCountMismatch {
        /// The operation that compared the counts.
        op: &'static str,
        /// The number of images.
        images: i64,
        /// The number of labels.
        labels: i64,
    },
    /// A label is not a class index in 0..n_classes.
    #[error("{op}: label {label} of image {index} is outside 0..{n_classes}")]
    LabelOutOfRange {
        /// The operation that checked the labels.
        op: &'static str,
        /// The index of the first offending label.
        index: i64,
        /// Its value.
        label: i64,
        /// The number of classes.
        n_classes: i64,
    },
    /// Labels must be integers.
    #[error("{op}: labels must be an integer tensor, got {kind}")]
    LabelKind {
        /// The operation that checked the labels.
        op: &'static str,
        /// The tensor kind it got.
        kind: String,
    },
    /// An image holds a value outside [0, 1] (NaN and ±∞ included).
    #[error("{op}: image {image} holds the value {value}, outside [0, 1]")]
    ImageValueOutOfRange {
        /// The operation that checked the images.
        op: &'static str,
        /// The index of the first offending image.
        image: i64,
        /// Its first offending value.
        value: f64,
    },
    /// A statistic needs more samples than it got.
    #[error("{op}: needs at least {need} samples, got {got}")]
    TooFewSamples {
        /// The operation that counted.
        op: &'static str,
        /// The samples it got.
        got: i64,
        /// The samples it needs.
        need: i64,
    },
    /// An input that no other variant describes is invalid (non-finite features, a covariance that
    /// is not symmetric positive semi-definite, ...).
    #[error("{op}: {reason}")]
    InvalidInput {
        /// The operation that checked the input.
        op: &'static str,
        /// What is wrong, with the offending value.
        reason: String,
    },
    /// The training loss became NaN or infinite; the parameters were not updated at that step.
    #[error("non-finite training loss {loss} at step {step}; last good checkpoint: {}", last_checkpoint.as_ref().map_or("none".to_string(), |p| p.display().to_string()))]
    NonFiniteLoss {
        /// The 0-based step whose loss was not finite.
        step: usize,
        /// The loss value.
        loss: f64,
        /// The last checkpoint written before that step, if any.
        last_checkpoint: Option<PathBuf>,
    },
}

/// Shorthand for an [`Error::InvalidConfig`].
pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidConfig {
        field,
        reason: reason.into(),
    }
}

/// Checks the shape fields every conv network shares: its channel width, the image channels and an
/// odd, positive kernel size.
pub(crate) fn check_conv_shape(
    channels_field: &'static str,
    channels: i64,
    image_channels: i64,
    kernel_size: i64,
) -> Result<()> {
    if channels <= 0 {
        return Err(invalid(
            channels_field,
            format!("must be > 0, got {channels}"),
        ));
    }
    if image_channels <= 0 {
        return Err(invalid(
            "image_channels",
            format!("must be > 0, got {image_channels}"),
        ));
    }
    if kernel_size <= 0 || kernel_size % 2 == 0 {
        return Err(invalid(
            "kernel_size",
            format!("must be odd and > 0, got {kernel_size}"),
        ));
    }
    Ok(())
}
