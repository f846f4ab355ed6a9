//! Errors of the denoiser crate: configuration checks, shapes, checkpoints and training (paper §1-§3).

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
