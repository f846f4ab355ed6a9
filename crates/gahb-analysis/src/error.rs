//! Errors of the analysis crate (Jacobians and eigen-analysis of PAPER.md §5, oracles of §9, the
//! slopes and bounds of §6, §7 and §10).

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// What can go wrong in the Jacobian, eigen, oracle, slope and density code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A libtorch call failed.
    #[error("libtorch: {0}")]
    Tch(#[from] tch::TchError),
    /// A tensor utility or a denoiser call failed.
    #[error("tensor layer: {0}")]
    Tensor(#[from] gahb_tensor::Error),
    /// An ndarray shape could not be formed.
    #[error("ndarray shape: {0}")]
    Shape(#[from] ndarray::ShapeError),
    /// LAPACK (through ndarray-linalg) failed.
    #[cfg(feature = "lapack")]
    #[error("lapack: {0}")]
    Linalg(#[from] ndarray_linalg::error::LinalgError),
    /// A tensor or array had a shape other than the one an operation needs.
    #[error("{op}: expected shape {expected}, got {got:?}")]
    ShapeMismatch {
        /// The operation that checked the shape.
        op: &'static str,
        /// The shape it needs, in words.
        expected: String,
        /// The shape it got.
        got: Vec<i64>,
    },
    /// A matrix that must be square was not.
    #[error("{op}: expected a square matrix, got {got:?}")]
    NotSquare {
        /// The operation that checked the shape.
        op: &'static str,
        /// The shape it got.
        got: Vec<i64>,
    },
    /// A tensor or array held NaN or infinite values.
    #[error("{op}: non-finite values")]
    NonFinite {
        /// The operation that found them.
        op: &'static str,
    },
    /// More eigenpairs were asked for than the dimension has.
    #[error("{op}: asked for k = {k} eigenpairs of a {d}-dimensional operator")]
    TooManyEigenpairs {
        /// The operation.
        op: &'static str,
        /// The number asked for.
        k: usize,
        /// The dimension.
        d: usize,
    },
    /// An image size that a wavelet decomposition depth cannot take.
    #[error("wavelet {wavelet} at depth {depth}: size {size} is not {reason}")]
    WaveletDepth {
        /// The wavelet's name.
        wavelet: &'static str,
        /// The decomposition depth asked for.
        depth: usize,
        /// The image side that does not fit.
        size: usize,
        /// What the size must be.
        reason: String,
    },
    /// The requested Jacobian route cannot run with this denoiser.
    #[error("jacobian route {route} is not available for `{denoiser}`: {reason}")]
    RouteUnavailable {
        /// The route asked for.
        route: &'static str,
        /// The denoiser's name.
        denoiser: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// A linear operator returned NaN or infinite values (matrix-free spectrum and trace code).
    #[error(
        "{op}: operator `{operator}` returned non-finite values in products {first}..{end} \
         (numbered from 0 in the order they were spent)"
    )]
    NonFiniteProduct {
        /// The estimator that called the operator.
        op: &'static str,
        /// The operator's name.
        operator: String,
        /// The first product of the offending block.
        first: usize,
        /// One past its last product.
        end: usize,
    },
    /// A product budget that cannot even build the smallest basis the method needs.
    #[error("{op}: a budget of {budget} products is below the {needed} needed to {what}")]
    BudgetTooSmall {
        /// The operation.
        op: &'static str,
        /// The budget given.
        budget: usize,
        /// The least budget that can produce an answer.
        needed: usize,
        /// What that least budget buys.
        what: String,
    },
    /// An argument was out of its valid range.
    #[error("invalid {name}: {reason}")]
    InvalidArgument {
        /// The argument's name.
        name: &'static str,
        /// What is wrong and what to change.
        reason: String,
    },
}
