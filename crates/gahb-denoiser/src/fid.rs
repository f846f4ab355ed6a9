//! Sample quality as numbers (issue 12, for paper Fig. 2): the Fréchet distance between two sets of
//! feature vectors, and how confidently a classifier assigns samples to classes.
//!
//! The Fréchet distance between Gaussians N(μ₁, Σ₁) and N(μ₂, Σ₂) fitted to two feature sets is
//! ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2(Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}) (with Inception features this is the
//! FID; here the features come from [`crate::classifier::Classifier::features`]).
//! It is computed in f64 on the CPU through two symmetric eigendecompositions: Σ₁^{1/2} = V √Λ Vᵀ,
//! then the eigenvalues of the symmetric PSD matrix Σ₁^{1/2} Σ₂ Σ₁^{1/2}, whose square roots sum to
//! the trace term. Eigenvalues that rounding makes slightly negative are set to 0, and so is a
//! slightly negative total. Covariances are the unbiased ones (divided by n − 1), as numpy's `cov`
//! used by the reference FID code.

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::classifier::Classifier;
use crate::error::{Error, Result};

/// Relative asymmetry above which a matrix is not accepted as a covariance.
const SYMMETRY_TOL: f64 = 1e-8;

/// The mean and covariance of a set of feature vectors (f64, CPU).
///
/// # Shapes
/// `mean` `[f]`, `cov` `[f, f]`.
#[derive(Debug)]
pub struct FeatureStats {
    mean: Tensor,
    cov: Tensor,
    n_samples: Option<i64>,
}

impl FeatureStats {
    /// The sample mean and unbiased covariance of `features` (`[n, f]`, n ≥ 2, finite, any device
    /// and float kind).
    pub fn from_features(features: &Tensor) -> Result<Self> {
        const OP: &str = "FeatureStats::from_features";
        let size = features.size();
        if size.len() != 2 || size[1] == 0 {
            return Err(Error::ShapeMismatch {
                op: OP,
                expected: "[n, f] features with f ≥ 1".into(),
                got: size,
            });
        }
        let n = size[0];
        if n < 2 {
            return Err(Error::TooFewSamples {
                op: OP,
                got: n,
                need: 2,
            });
        }
        let x = features.f_to_device(Device::Cpu)?.f_to_kind(Kind::Double)?;
        check_finite(OP, "features", &x)?;
        let mean = x.f_mean_dim(0, false, Kind::Double)?; // [f]
        let centred = x.f_sub(&mean)?; // [n, f]
        let cov = centred
            .f_transpose(0, 1)?
            .f_matmul(&centred)?
            .f_div_scalar((n - 1) as f64)?; // [f, f]
        Ok(Self {
            mean,
            cov,
            n_samples: Some(n),
        })
    }

    /// Statistics given as a mean `[f]` and a symmetric positive semi-definite covariance `[f, f]`
    /// (for closed-form checks, or statistics cached from a large set).
    pub fn from_moments(mean: &Tensor, cov: &Tensor) -> Result<Self> {
        const OP: &str = "FeatureStats::from_moments";
        let (ms, cs) = (mean.size(), cov.size());
        if ms.len() != 1 || ms[0] == 0 {
            return Err(Error::ShapeMismatch {
                op: OP,
                expected: "a mean of shape [f] with f ≥ 1".into(),
                got: ms,
            });
        }
        let f = ms[0];
        if cs != [f, f] {
            return Err(Error::ShapeMismatch {
                op: OP,
                expected: format!("a covariance of shape [{f}, {f}]"),
                got: cs,
            });
        }
        let mean = mean.f_to_device(Device::Cpu)?.f_to_kind(Kind::Double)?;
        let cov = cov.f_to_device(Device::Cpu)?.f_to_kind(Kind::Double)?;
        check_finite(OP, "mean", &mean)?;
        check_finite(OP, "covariance", &cov)?;
        let scale = cov.f_abs()?.f_max()?.f_double_value(&[])?;
        let asym = cov
            .f_sub(&cov.f_transpose(0, 1)?)?
            .f_abs()?
            .f_max()?
            .f_double_value(&[])?;
        if asym > SYMMETRY_TOL * scale {
            return Err(Error::InvalidInput {
                op: OP,
                reason: format!(
                    "the covariance is not symmetric (largest |Σ − Σᵀ| entry {asym:e}, largest \
                     |Σ| entry {scale:e})"
                ),
            });
        }
        let lowest = cov.f_linalg_eigvalsh("L")?.f_min()?.f_double_value(&[])?;
        if lowest < -SYMMETRY_TOL * scale.max(f64::MIN_POSITIVE) {
            return Err(Error::InvalidInput {
                op: OP,
                reason: format!(
                    "the covariance is not positive semi-definite (eigenvalue {lowest:e})"
                ),
            });
        }
        Ok(Self {
            mean,
            cov,
            n_samples: None,
        })
    }

    /// The mean `[f]` (f64, CPU).
    pub fn mean(&self) -> &Tensor {
        &self.mean
    }

    /// The covariance `[f, f]` (f64, CPU).
    pub fn cov(&self) -> &Tensor {
        &self.cov
    }

    /// The feature dimension f.
    pub fn dim(&self) -> i64 {
        self.mean.size()[0]
    }

    /// The number of feature vectors, when the statistics come from samples.
    pub fn n_samples(&self) -> Option<i64> {
        self.n_samples
    }
}

/// The Fréchet distance between the Gaussians fitted to two feature sets `a` `[n, f]` and `b`
/// `[m, f]` (n, m ≥ 2).
pub fn frechet_distance(a: &Tensor, b: &Tensor) -> Result<f64> {
    frechet_distance_stats(
        &FeatureStats::from_features(a)?,
        &FeatureStats::from_features(b)?,
    )
}

/// The Fréchet distance ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2(Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}) between two
/// feature statistics of the same dimension.
pub fn frechet_distance_stats(a: &FeatureStats, b: &FeatureStats) -> Result<f64> {
    const OP: &str = "frechet_distance";
    if a.dim() != b.dim() {
        return Err(Error::ShapeMismatch {
            op: OP,
            expected: format!("features of dimension {} in both sets", a.dim()),
            got: vec![b.dim()],
        });
    }
    let mean_term = a
        .mean
        .f_sub(&b.mean)?
        .f_square()?
        .f_sum(Kind::Double)?
        .f_double_value(&[])?;
    let trace_a = a.cov.f_trace()?.f_double_value(&[])?;
    let trace_b = b.cov.f_trace()?.f_double_value(&[])?;
    let root_a = psd_sqrt(&a.cov)?;
    let m = root_a.f_matmul(&b.cov)?.f_matmul(&root_a)?;
    let m = m.f_add(&m.f_transpose(0, 1)?)?.f_mul_scalar(0.5)?; // exact symmetry for eigh
    let cross = m
        .f_linalg_eigvalsh("L")?
        .f_clamp_min(0.0)?
        .f_sqrt()?
        .f_sum(Kind::Double)?
        .f_double_value(&[])?;
    Ok((mean_term + trace_a + trace_b - 2.0 * cross).max(0.0))
}

/// The symmetric square root V √max(Λ, 0) Vᵀ of a symmetric positive semi-definite matrix
/// `[f, f]`, through its eigendecomposition (eigenvalues that rounding makes negative count as 0).
pub fn psd_sqrt(m: &Tensor) -> Result<Tensor> {
    let (values, vectors) = m.f_linalg_eigh("L")?; // [f], [f, f]
    let root = values.f_clamp_min(0.0)?.f_sqrt()?;
    Ok(vectors
        .f_mul(&root.f_unsqueeze(0)?)?
        .f_matmul(&vectors.f_transpose(0, 1)?)?)
}

/// How confidently a classifier assigns a set of samples to its classes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassConfidence {
    /// Number of samples.
    pub n_samples: usize,
    /// Mean over the samples of the largest class probability (1/n_classes for a classifier that
    /// cannot tell; near 1 for samples that look like one class).
    pub mean_max_probability: f64,
    /// How many samples were predicted as each class (length n_classes).
    pub histogram: Vec<usize>,
}

impl ClassConfidence {
    /// The fraction of samples predicted as each class.
    pub fn class_fractions(&self) -> Vec<f64> {
        let n = self.n_samples.max(1) as f64;
        self.histogram.iter().map(|&h| h as f64 / n).collect()
    }
}

/// The mean max-probability and the predicted-class histogram of `samples`
/// (`[n, image_channels, image_size, image_size]` in [0, 1]: clamp a sampler's output first).
pub fn class_confidence(classifier: &Classifier, samples: &Tensor) -> Result<ClassConfidence> {
    let probs = classifier
        .probabilities(samples)?
        .f_to_device(Device::Cpu)?; // [n, k]
    let (max_p, pred) = probs.f_max_dim(1, false)?; // [n], [n]
    let n = probs.size()[0];
    let k = classifier.config().n_classes;
    let mean_max_probability = max_p.f_mean(Kind::Double)?.f_double_value(&[])?;
    let counts = pred.f_bincount(None::<Tensor>, k)?; // [k] int64
    let histogram = Vec::<i64>::try_from(&counts)?
        .into_iter()
        .map(|c| c as usize)
        .collect();
    Ok(ClassConfidence {
        n_samples: n as usize,
        mean_max_probability,
        histogram,
    })
}

/// The Fréchet distance between the classifier features of two image sets (each
/// `[n, image_channels, image_size, image_size]` in [0, 1], n ≥ 2): an FID with `classifier` in place
/// of Inception.
pub fn classifier_frechet_distance(classifier: &Classifier, a: &Tensor, b: &Tensor) -> Result<f64> {
    frechet_distance(&classifier.features(a)?, &classifier.features(b)?)
}

/// Checks that every entry of `x` is finite, naming the first one that is not.
fn check_finite(op: &'static str, what: &str, x: &Tensor) -> Result<()> {
    let bad = x.f_isfinite()?.f_logical_not()?.f_reshape([-1])?;
    if bad.f_any()?.f_int64_value(&[])? == 0 {
        return Ok(());
    }
    let first = bad.f_nonzero()?.f_int64_value(&[0, 0])?;
    let value = x.f_reshape([-1])?.f_double_value(&[first])?;
    Err(Error::InvalidInput {
        op,
        reason: format!("{what}: the non-finite value {value} at flat index {first}"),
    })
}
