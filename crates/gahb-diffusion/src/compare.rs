//! The sample-comparison measures of PAPER.md §3 (Fig. 2, 6, 10, 12): cosine similarity of
//! mean-subtracted, L2-normalised images (reference code `im_set_corr`, via
//! [`gahb_tensor::cosine_similarity_matrix`]), the nearest training image of each sample, the paired
//! similarity of two models' samples from the same seed, and histogram data.
//!
//! Everything here returns plain data (serde structs of `Vec<f64>`); the plots are drawn by the
//! `gahb` crate.

use gahb_tensor::cosine_similarity_matrix;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};

/// Reference images compared per chunk in [`nearest_images`] (bounds memory: 1024 × 6400 f64 is
/// 52 MB).
pub const NEAREST_CHUNK: usize = 1024;

/// A sample's most similar reference image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Nearest {
    /// Its index in the reference set.
    pub index: usize,
    /// The cosine similarity with it.
    pub cosine: f64,
}

/// For every image of `samples` (`[n, ...]`), the image of `reference` (`[m, ...]`) with the
/// largest cosine similarity (PAPER.md §3: the "closest image" of Fig. 2, and with two training
/// sets, the closest-pair baseline of Fig. 6).
///
/// The reference set may be large and on the CPU: it is moved to the samples' device
/// [`NEAREST_CHUNK`] images at a time.
pub fn nearest_images(samples: &Tensor, reference: &Tensor) -> Result<Vec<Nearest>> {
    nearest_images_chunked(samples, reference, NEAREST_CHUNK)
}

/// [`nearest_images`] with a chosen chunk size (≥ 1).
pub fn nearest_images_chunked(
    samples: &Tensor,
    reference: &Tensor,
    chunk: usize,
) -> Result<Vec<Nearest>> {
    if chunk == 0 {
        return Err(Error::InvalidArgument {
            name: "chunk",
            reason: "must be at least 1".into(),
        });
    }
    let n = samples.size().first().copied().unwrap_or(0);
    let m = reference.size().first().copied().unwrap_or(0);
    if n <= 0 || m <= 0 {
        return Err(Error::ShapeMismatch {
            op: "nearest_images",
            expected: "non-empty [n, ...] samples and [m, ...] reference images".into(),
            got: if n <= 0 {
                samples.size()
            } else {
                reference.size()
            },
        });
    }
    let _guard = tch::no_grad_guard();
    let mut best = vec![
        Nearest {
            index: 0,
            cosine: f64::NEG_INFINITY,
        };
        n as usize
    ];
    let mut start = 0i64;
    while start < m {
        let len = (chunk as i64).min(m - start);
        let part = reference
            .f_narrow(0, start, len)?
            .f_to_device(samples.device())?;
        let cos = cosine_similarity_matrix(samples, &part)?;
        let (values, indices) = cos.f_max_dim(1, false)?;
        let values = Vec::<f64>::try_from(values.f_to_device(Device::Cpu)?)?;
        let indices = Vec::<i64>::try_from(indices.f_to_device(Device::Cpu)?)?;
        for ((b, v), i) in best.iter_mut().zip(values).zip(indices) {
            if v > b.cosine {
                *b = Nearest {
                    index: (start + i) as usize,
                    cosine: v,
                };
            }
        }
        start += len;
    }
    Ok(best)
}

/// cos(a_i, b_i) for every i: the similarity of two models' samples drawn from the same noise
/// (PAPER.md §3, the blue histogram of Fig. 2). `a` and `b` have the same shape `[n, ...]`.
pub fn paired_similarity(a: &Tensor, b: &Tensor) -> Result<Vec<f64>> {
    if a.size() != b.size() || a.size().len() < 2 || a.numel() == 0 {
        return Err(Error::ShapeMismatch {
            op: "paired_similarity",
            expected: format!(
                "{:?} (the first batch's shape, [n, ...], non-empty)",
                a.size()
            ),
            got: b.size(),
        });
    }
    let _guard = tch::no_grad_guard();
    let na = normalised_rows(a)?;
    let nb = normalised_rows(&b.f_to_device(a.device())?)?;
    let cos = na
        .f_mul(&nb)?
        .f_sum_dim_intlist([1i64].as_slice(), false, Kind::Double)?;
    Ok(Vec::<f64>::try_from(cos.f_to_device(Device::Cpu)?)?)
}

/// Rows minus their mean, divided by their L2 norm (as `gahb_tensor::cosine_similarity_matrix`).
fn normalised_rows(t: &Tensor) -> Result<Tensor> {
    let n = t.size()[0];
    let flat = t.f_to_kind(Kind::Double)?.f_reshape([n, -1])?;
    let centred = flat.f_sub(&flat.f_mean_dim(Some([1i64].as_slice()), true, Kind::Double)?)?;
    let norm = centred
        .f_norm_scalaropt_dim(2, [1i64], true)?
        .f_clamp_min(1e-12)?;
    Ok(centred.f_div(&norm)?)
}

/// The bins of a histogram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistogramSpec {
    /// The left edge of the first bin.
    pub lo: f64,
    /// The right edge of the last bin (included in it).
    pub hi: f64,
    /// The number of equal-width bins.
    pub bins: usize,
}

impl Default for HistogramSpec {
    /// The whole range of a cosine, [−1, 1], in 80 bins of width 0.025.
    fn default() -> Self {
        Self {
            lo: -1.0,
            hi: 1.0,
            bins: 80,
        }
    }
}

/// Histogram data: `counts[j]` values lie in `[edges[j], edges[j + 1])` (the last bin includes `hi`;
/// values within 1e−9·(hi − lo) outside [lo, hi] count in the end bins).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// The `bins + 1` bin edges.
    pub edges: Vec<f64>,
    /// The count of each bin.
    pub counts: Vec<u64>,
    /// Values below `lo`.
    pub below: u64,
    /// Values above `hi`.
    pub above: u64,
    /// NaN values.
    pub nan: u64,
}

impl Histogram {
    /// The bin centres.
    pub fn centres(&self) -> Vec<f64> {
        self.edges.windows(2).map(|e| 0.5 * (e[0] + e[1])).collect()
    }

    /// The counts divided by (all values × bin width): a density that integrates to the share of
    /// values inside [lo, hi].
    pub fn density(&self) -> Vec<f64> {
        let total = self.counts.iter().sum::<u64>() + self.below + self.above + self.nan;
        self.edges
            .windows(2)
            .zip(&self.counts)
            .map(|(e, &c)| {
                if total == 0 {
                    0.0
                } else {
                    c as f64 / (total as f64 * (e[1] - e[0]))
                }
            })
            .collect()
    }
}

/// Bins `values` by `spec`.
pub fn histogram(values: &[f64], spec: &HistogramSpec) -> Result<Histogram> {
    let HistogramSpec { lo, hi, bins } = *spec;
    if bins == 0 || !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return Err(Error::InvalidArgument {
            name: "histogram spec",
            reason: format!("need bins ≥ 1 and finite lo < hi, got {spec:?}"),
        });
    }
    let width = (hi - lo) / bins as f64;
    let edges: Vec<f64> = (0..=bins).map(|j| lo + j as f64 * width).collect();
    let mut h = Histogram {
        edges,
        counts: vec![0; bins],
        below: 0,
        above: 0,
        nan: 0,
    };
    // Rounding can put a cosine of exactly 1 a few ulps above 1: such values count as `hi`.
    let slack = 1e-9 * (hi - lo);
    for &v in values {
        if v.is_nan() {
            h.nan += 1;
        } else if v < lo - slack {
            h.below += 1;
        } else if v > hi + slack {
            h.above += 1;
        } else {
            let j = (((v - lo) / width).max(0.0) as usize).min(bins - 1);
            h.counts[j] += 1;
        }
    }
    Ok(h)
}

/// Summary statistics of a list of similarities.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// The mean.
    pub mean: f64,
    /// The median.
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

/// Mean, median, min and max of `values` (NaN values ignored; all NaN for an empty list).
pub fn stats(values: &[f64]) -> Stats {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return Stats {
            mean: f64::NAN,
            median: f64::NAN,
            min: f64::NAN,
            max: f64::NAN,
        };
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    };
    Stats {
        mean: v.iter().sum::<f64>() / n as f64,
        median,
        min: v[0],
        max: v[n - 1],
    }
}

/// The measures of PAPER.md Fig. 2 for two models A and B (trained on S1 and S2) sampled from the
/// same seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonReport {
    /// cos(sample_i^A, sample_i^B), the blue histogram.
    pub a_vs_b: Vec<f64>,
    /// Each A sample's nearest image in A's training set (the orange histogram and the "closest
    /// image" panels).
    pub a_nearest_train: Vec<Nearest>,
    /// Each B sample's nearest image in B's training set.
    pub b_nearest_train: Vec<Nearest>,
    /// Histogram of `a_vs_b`.
    pub hist_a_vs_b: Histogram,
    /// Histogram of the cosines of `a_nearest_train`.
    pub hist_a_train: Histogram,
    /// Histogram of the cosines of `b_nearest_train`.
    pub hist_b_train: Histogram,
    /// Statistics of `a_vs_b`.
    pub stats_a_vs_b: Stats,
    /// Statistics of A's nearest-training cosines.
    pub stats_a_train: Stats,
    /// Statistics of B's nearest-training cosines.
    pub stats_b_train: Stats,
}

/// Compares two models' samples (`[n, c, h, w]` each, sample i of both from the same noise) with
/// each other and with their own training sets (PAPER.md §3, Fig. 2).
pub fn compare_models(
    samples_a: &Tensor,
    samples_b: &Tensor,
    train_a: &Tensor,
    train_b: &Tensor,
    spec: &HistogramSpec,
) -> Result<ComparisonReport> {
    let a_vs_b = paired_similarity(samples_a, samples_b)?;
    let a_nearest_train = nearest_images(samples_a, train_a)?;
    let b_nearest_train = nearest_images(samples_b, train_b)?;
    let cos_a: Vec<f64> = a_nearest_train.iter().map(|n| n.cosine).collect();
    let cos_b: Vec<f64> = b_nearest_train.iter().map(|n| n.cosine).collect();
    Ok(ComparisonReport {
        hist_a_vs_b: histogram(&a_vs_b, spec)?,
        hist_a_train: histogram(&cos_a, spec)?,
        hist_b_train: histogram(&cos_b, spec)?,
        stats_a_vs_b: stats(&a_vs_b),
        stats_a_train: stats(&cos_a),
        stats_b_train: stats(&cos_b),
        a_vs_b,
        a_nearest_train,
        b_nearest_train,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b} (tolerance {tol})");
    }

    fn images(n: i64, seed: i64) -> Tensor {
        gahb_tensor::random::uniform_like(seed as u64 * 100, &[n, 1, 6, 6], Kind::Float)
            .expect("draw")
    }

    #[test]
    fn nearest_finds_the_source_of_a_noisy_copy() {
        let train = images(9, 1);
        // Sample 0 is train[3] brightened and rescaled (cosine exactly 1); sample 1 is train[7]
        // plus a little noise.
        let s0 = train.get(3) * 2.0 + 0.3;
        let s1 = train.get(7) + images(1, 2).get(0) * 0.05;
        let samples = Tensor::stack(&[s0, s1], 0);
        for chunk in [1, 4, 1024] {
            let near = nearest_images_chunked(&samples, &train, chunk).expect("nearest");
            assert_eq!(near[0].index, 3);
            check(near[0].cosine, 1.0, 1e-9);
            assert_eq!(near[1].index, 7);
            assert!(
                near[1].cosine > 0.95 && near[1].cosine < 1.0,
                "{:?}",
                near[1]
            );
        }
        assert!(nearest_images_chunked(&samples, &train, 0).is_err());
    }

    #[test]
    fn paired_similarity_is_the_diagonal_of_the_matrix() {
        let a = images(5, 3);
        let b = images(5, 4);
        let paired = paired_similarity(&a, &b).expect("paired");
        let full = cosine_similarity_matrix(&a, &b).expect("matrix");
        for (i, p) in paired.iter().enumerate() {
            check(*p, full.double_value(&[i as i64, i as i64]), 1e-12);
        }
        assert!(paired_similarity(&a, &images(4, 4)).is_err());
    }

    #[test]
    fn histogram_counts_every_value_once() {
        let spec = HistogramSpec {
            lo: 0.0,
            hi: 1.0,
            bins: 4,
        };
        let h = histogram(&[-0.5, 0.0, 0.1, 0.25, 0.99, 1.0, 1.5, f64::NAN], &spec).expect("hist");
        assert_eq!(h.edges, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(h.counts, vec![2, 1, 0, 2]);
        assert_eq!((h.below, h.above, h.nan), (1, 1, 1));
        assert_eq!(h.centres(), vec![0.125, 0.375, 0.625, 0.875]);
        check(h.density()[0], 2.0 / (8.0 * 0.25), 1e-12);
        assert!(histogram(&[], &HistogramSpec { bins: 0, ..spec }).is_err());
        let s = stats(&[3.0, 1.0, 2.0, f64::NAN]);
        assert_eq!((s.mean, s.median, s.min, s.max), (2.0, 2.0, 1.0, 3.0));
    }

    #[test]
    fn comparing_a_model_with_itself_gives_ones() {
        let train = images(6, 5);
        let samples = train.narrow(0, 1, 3);
        let r = compare_models(
            &samples,
            &samples,
            &train,
            &train,
            &HistogramSpec::default(),
        )
        .expect("compare");
        for v in &r.a_vs_b {
            check(*v, 1.0, 1e-9);
        }
        let idx: Vec<usize> = r.a_nearest_train.iter().map(|n| n.index).collect();
        assert_eq!(idx, vec![1, 2, 3]);
        assert_eq!(r.hist_a_vs_b.counts.iter().sum::<u64>(), 3);
        assert_eq!(*r.hist_a_vs_b.counts.last().expect("bins"), 3);
        let json = serde_json::to_string(&r).expect("serde");
        assert!(json.contains("a_nearest_train"));
    }
}
