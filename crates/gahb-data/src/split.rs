//! Training splits of PAPER.md §2: S1 = the first N images, S2 = the last N, disjoint because
//! N ≤ (total − n_test)/2, and nested across N; plus a held-out test set disjoint from both for every
//! allowed N.
//!
//! Exactly: with `n_max = (total − n_test) / 2` (floor), the test set is indices
//! `[n_max, n_max + n_test)` (the middle of the set), `S1(N) = [0, N)` and `S2(N) = [total − N, total)`
//! for `1 ≤ N ≤ n_max`. The paper monitors on "the first 512 of the other half"; a middle block is
//! disjoint from S1 and S2 at every N instead of only at one.

use std::ops::Range;

use ndarray::{s, Array3, ArrayView3};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A split, serialisable so that every run saves its indices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Split {
    /// Images in the (deduplicated) set.
    pub total: usize,
    /// Training-set size N.
    pub n: usize,
    /// S1 = `[0, N)`.
    pub s1: Range<usize>,
    /// S2 = `[total − N, total)`.
    pub s2: Range<usize>,
    /// The held-out test set.
    pub test: Range<usize>,
}

impl Split {
    /// The largest N for a set of `total` images with `n_test` held out.
    pub fn n_max(total: usize, n_test: usize) -> usize {
        total.saturating_sub(n_test) / 2
    }

    /// The split of size `n` of a set of `total` images, holding out `n_test` for test.
    pub fn new(total: usize, n: usize, n_test: usize) -> Result<Self> {
        let n_max = Self::n_max(total, n_test);
        if n == 0 {
            return Err(Error::InvalidConfig {
                field: "n",
                value: "0".into(),
                reason: "the training-set size must be at least 1",
            });
        }
        if n > n_max || n_test > total {
            return Err(Error::SplitTooLarge {
                n,
                available: n_max,
                total,
                n_test,
            });
        }
        Ok(Self {
            total,
            n,
            s1: 0..n,
            s2: total - n..total,
            test: n_max..n_max + n_test,
        })
    }

    /// Select S1 from a dataset `[total, h, w]`.
    pub fn s1_of(&self, x: ArrayView3<'_, f32>) -> Result<Array3<f32>> {
        self.take(x, self.s1.clone())
    }

    /// Select S2 from a dataset `[total, h, w]`.
    pub fn s2_of(&self, x: ArrayView3<'_, f32>) -> Result<Array3<f32>> {
        self.take(x, self.s2.clone())
    }

    /// Select the test set from a dataset `[total, h, w]`.
    pub fn test_of(&self, x: ArrayView3<'_, f32>) -> Result<Array3<f32>> {
        self.take(x, self.test.clone())
    }

    fn take(&self, x: ArrayView3<'_, f32>, r: Range<usize>) -> Result<Array3<f32>> {
        if x.dim().0 != self.total {
            return Err(Error::InvalidConfig {
                field: "dataset length",
                value: format!("{} (split made for {})", x.dim().0, self.total),
                reason: "a split applies to the set it was made for",
            });
        }
        Ok(x.slice(s![r, .., ..]).to_owned())
    }
}
