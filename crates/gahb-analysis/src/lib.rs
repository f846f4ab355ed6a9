//! Jacobian eigen-analysis (GAHB), oracle shrinkage in fixed bases, slopes and the density bound.
//!
//! PAPER.md §5: the exact Jacobian ∇f(y) of a denoiser at a noisy image ([`jacobian()`]), the
//! eigendecomposition of its symmetric part ([`eigh_sym`]): shrinkage factors λ_k, the adaptive
//! basis e_k, the effective dimension tr ∇f, and the signal coefficients ⟨x, e_k⟩; beyond the paper,
//! the top-k spectrum without forming the matrix ([`lanczos_top_k`], and restarted within a fixed
//! memory and product budget, [`restarted_lanczos`]), and tr ∇f and the spectral density from
//! products alone ([`trace`](mod@trace), [`slq`](mod@slq)) over matrix-free [`operator`]s, with
//! the bias-free and symmetry checks from probes ([`probe`]).
//! PAPER.md §9: fixed-basis oracles in orthonormal DCT and periodic wavelet bases ([`bases`],
//! [`oracle`]). PAPER.md §6, §7, §10: PSNR slopes, optimal references and the density bound
//! ([`slopes`], [`density`]).
//!
//! Everything works with any [`gahb_tensor::Denoiser`]; this crate never depends on
//! `gahb-denoiser`.

pub mod bases;
pub mod density;
pub mod eigen;
pub mod error;
pub mod jacobian;
pub mod lanczos;
pub mod operator;
pub mod oracle;
pub mod probe;
pub mod restart;
pub mod slopes;
pub mod slq;
pub mod toy;
pub mod trace;

pub use bases::{BasisKind, Transform2d};
pub use density::{density_bound, log_spaced, DensityBound};
pub use eigen::{eigh_sym, eigh_sym_top, symmetric_part, Eigen, EighBackend};
pub use error::{Error, Result};
pub use jacobian::{
    asymmetry, bias_free_residual, jacobian, jvp, vjp, JacobianConfig, JacobianReport,
    JacobianRoute, JacobianSummary,
};
pub use lanczos::{
    lanczos_top_k, lanczos_top_k_matrix, LanczosConfig, LanczosOperator, LanczosResult,
    LanczosSummary,
};
pub use operator::{
    apply_counted, rademacher, DenoiserOperator, FnOperator, LinearOperator, MatrixOperator,
};
pub use oracle::{
    m_term_error, oracle_error, oracle_mse_curve, oracle_shrinkage, shrinkage_error, MTerm,
    OraclePoint,
};
pub use probe::{probed_checks, ProbedChecks};
pub use restart::{
    default_max_basis, restarted_lanczos, restarted_top_k, restarted_top_k_matrix, RestartedConfig,
    RestartedResult, RestartedSummary, ToleranceScale,
};
pub use slopes::{
    calpha_theory_slope, disk_optimal_output_psnr, fit_psnr_slope, fit_psnr_slope_small_sigma,
    manifold_optimal_mse, manifold_optimal_output_psnr, SlopeFit,
};
pub use slq::{slq, SlqConfig, SpectralDensity};
pub use trace::{
    hutch_plus_plus, hutchinson, jacobian_trace, normal_quantile, student_t_quantile, TraceConfig,
    TraceEstimate, TraceMethod,
};
