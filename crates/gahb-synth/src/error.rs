//! Errors of the synthetic generators (PAPER.md §6–§8).

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong when configuring or running a generator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
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
    /// An array does not have the shape an operation needs.
    #[error("shape mismatch in {op}: expected {expected}, got {got}")]
    ShapeMismatch {
        /// The operation that checked the shape.
        op: &'static str,
        /// The expected shape, formatted.
        expected: String,
        /// The shape that was passed, formatted.
        got: String,
    },
    /// A function argument (not a config field) has a value outside its domain.
    #[error("invalid argument: {name} = {value}: {reason}")]
    InvalidArgument {
        /// The offending argument.
        name: &'static str,
        /// Its value, formatted.
        value: String,
        /// What it must satisfy.
        reason: &'static str,
    },
}
