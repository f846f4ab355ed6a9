//! Fixed orthonormal bases for the oracle comparison of PAPER.md §9: the 2-D DCT-II and periodic
//! orthonormal wavelet bases (Haar, Daubechies-4), as explicit transforms.
//!
//! A 2-D transform is separable: it holds one orthonormal analysis matrix per axis and level, and a
//! coefficient image is A_h · x · A_wᵀ. Wavelets use Mallat's square decomposition: each level
//! splits the current low-pass block into LL, LH, HL and HH, and only LL is split again.
//! Every level matrix is orthogonal, so the inverse is the transpose and ‖x‖ = ‖coefficients‖.
//! "Daubechies-4" is the 4-tap filter with two vanishing moments (pywt's `db2`); filters are
//! periodized (circular boundary), which keeps the basis orthonormal for any even length.

use ndarray::{s, Array1, Array2, ArrayView2, ArrayView3, Axis};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A fixed basis family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum BasisKind {
    /// The orthonormal 2-D DCT-II.
    Dct,
    /// The periodic orthonormal Haar wavelet basis with `depth` levels.
    Haar {
        /// The number of decomposition levels (≥ 1).
        depth: usize,
    },
    /// The periodic orthonormal Daubechies 4-tap wavelet basis with `depth` levels.
    Daubechies4 {
        /// The number of decomposition levels (≥ 1).
        depth: usize,
    },
}

impl BasisKind {
    /// The deepest wavelet decomposition an image side `n` allows (n divisible by 2^depth).
    pub fn max_depth(n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        n.trailing_zeros() as usize
    }
}

/// A separable orthonormal 2-D transform for `h × w` images.
#[derive(Debug, Clone)]
pub struct Transform2d {
    kind: BasisKind,
    h: usize,
    w: usize,
    /// Per level: (rows matrix, columns matrix) acting on the current low-pass block.
    levels: Vec<(Array2<f64>, Array2<f64>)>,
}

impl Transform2d {
    /// Builds the transform for `h × w` images; a size the wavelet depth cannot take is an error.
    pub fn new(kind: BasisKind, h: usize, w: usize) -> Result<Self> {
        if h == 0 || w == 0 {
            return Err(Error::InvalidArgument {
                name: "image size",
                reason: format!("{h}×{w} has no pixels"),
            });
        }
        let levels = match kind {
            BasisKind::Dct => vec![(dct_matrix(h), dct_matrix(w))],
            BasisKind::Haar { depth } | BasisKind::Daubechies4 { depth } => {
                let (name, filter) = match kind {
                    BasisKind::Haar { .. } => ("haar", haar_filter()),
                    _ => ("daubechies4", db4_filter()),
                };
                for n in [h, w] {
                    check_depth(name, depth, n)?;
                }
                (0..depth)
                    .map(|l| {
                        (
                            wavelet_level_matrix(&filter, h >> l),
                            wavelet_level_matrix(&filter, w >> l),
                        )
                    })
                    .collect()
            }
        };
        Ok(Self { kind, h, w, levels })
    }

    /// The basis family.
    pub fn kind(&self) -> BasisKind {
        self.kind
    }

    /// The number of pixels h·w.
    pub fn dim(&self) -> usize {
        self.h * self.w
    }

    /// Coefficients of one `h × w` image, as an `h × w` array (Mallat layout for wavelets).
    pub fn forward(&self, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        self.check(x.dim(), "Transform2d::forward")?;
        let mut c = x.to_owned();
        for (a_h, a_w) in &self.levels {
            let (m, n) = (a_h.nrows(), a_w.nrows());
            let block = c.slice(s![..m, ..n]).to_owned();
            let t = a_h.dot(&block).dot(&a_w.t());
            c.slice_mut(s![..m, ..n]).assign(&t);
        }
        Ok(c)
    }

    /// The image whose coefficients are `c` (the transpose of [`Transform2d::forward`]).
    pub fn inverse(&self, c: ArrayView2<f64>) -> Result<Array2<f64>> {
        self.check(c.dim(), "Transform2d::inverse")?;
        let mut x = c.to_owned();
        for (a_h, a_w) in self.levels.iter().rev() {
            let (m, n) = (a_h.nrows(), a_w.nrows());
            let block = x.slice(s![..m, ..n]).to_owned();
            let t = a_h.t().dot(&block).dot(a_w);
            x.slice_mut(s![..m, ..n]).assign(&t);
        }
        Ok(x)
    }

    /// Coefficients of a `[c, h, w]` image, each channel transformed, flattened to `[c·h·w]`.
    pub fn coefficients(&self, x: ArrayView3<f64>) -> Result<Array1<f64>> {
        let (c, h, w) = x.dim();
        self.check((h, w), "Transform2d::coefficients")?;
        let mut out = Vec::with_capacity(c * h * w);
        for ch in x.axis_iter(Axis(0)) {
            out.extend(self.forward(ch)?.iter().copied());
        }
        Ok(Array1::from(out))
    }

    /// The d×d analysis matrix B (d = h·w): coefficients = B · x with x flattened row-major, and
    /// the rows of B are the basis vectors. Meant for small d (it costs d transforms).
    pub fn matrix(&self) -> Result<Array2<f64>> {
        let d = self.dim();
        let mut b = Array2::zeros((d, d));
        let mut e = Array2::zeros((self.h, self.w));
        for j in 0..d {
            e[[j / self.w, j % self.w]] = 1.0;
            let col = self.forward(e.view())?;
            b.column_mut(j)
                .assign(&Array1::from_iter(col.iter().copied()));
            e[[j / self.w, j % self.w]] = 0.0;
        }
        Ok(b)
    }

    fn check(&self, dim: (usize, usize), op: &'static str) -> Result<()> {
        if dim != (self.h, self.w) {
            return Err(Error::ShapeMismatch {
                op,
                expected: format!("[{}, {}]", self.h, self.w),
                got: vec![dim.0 as i64, dim.1 as i64],
            });
        }
        Ok(())
    }
}

/// The orthonormal DCT-II matrix of size n: C[k, i] = a_k cos(π(2i+1)k/(2n)), a_0 = √(1/n),
/// a_k = √(2/n).
pub fn dct_matrix(n: usize) -> Array2<f64> {
    let nf = n as f64;
    Array2::from_shape_fn((n, n), |(k, i)| {
        let a = if k == 0 {
            (1.0 / nf).sqrt()
        } else {
            (2.0 / nf).sqrt()
        };
        a * (std::f64::consts::PI * (2.0 * i as f64 + 1.0) * k as f64 / (2.0 * nf)).cos()
    })
}

/// The low-pass Haar filter.
pub fn haar_filter() -> Vec<f64> {
    let r = std::f64::consts::FRAC_1_SQRT_2;
    vec![r, r]
}

/// The low-pass Daubechies 4-tap filter (two vanishing moments; pywt `db2`).
pub fn db4_filter() -> Vec<f64> {
    let s3 = 3f64.sqrt();
    let k = 4.0 * 2f64.sqrt();
    vec![
        (1.0 + s3) / k,
        (3.0 + s3) / k,
        (3.0 - s3) / k,
        (1.0 - s3) / k,
    ]
}

/// One periodic analysis level for length n (even): rows 0..n/2 low-pass, rows n/2..n high-pass,
/// with g\[t\] = (−1)^t h\[L−1−t\].
pub fn wavelet_level_matrix(h: &[f64], n: usize) -> Array2<f64> {
    let half = n / 2;
    let len = h.len();
    let mut a = Array2::zeros((n, n));
    for i in 0..half {
        for (t, &ht) in h.iter().enumerate() {
            let col = (2 * i + t) % n;
            let gt = if t % 2 == 0 { 1.0 } else { -1.0 } * h[len - 1 - t];
            a[[i, col]] += ht;
            a[[half + i, col]] += gt;
        }
    }
    a
}

fn check_depth(name: &'static str, depth: usize, n: usize) -> Result<()> {
    if depth == 0 {
        return Err(Error::WaveletDepth {
            wavelet: name,
            depth,
            size: n,
            reason: "usable: the depth must be at least 1".into(),
        });
    }
    if depth > BasisKind::max_depth(n) {
        return Err(Error::WaveletDepth {
            wavelet: name,
            depth,
            size: n,
            reason: format!(
                "divisible by 2^{depth} = {} (the deepest it allows is {})",
                1usize << depth.min(63),
                BasisKind::max_depth(n)
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use ndarray::Array3;

    use super::*;

    fn check_orthonormal(b: &Array2<f64>, tol: f64) {
        let d = b.nrows();
        let g = b.dot(&b.t());
        let err = (&g - &Array2::<f64>::eye(d))
            .iter()
            .fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(err < tol, "‖B Bᵀ − I‖_max = {err}");
    }

    #[test]
    fn bases_are_orthonormal() {
        for kind in [
            BasisKind::Dct,
            BasisKind::Haar { depth: 1 },
            BasisKind::Haar { depth: 3 },
            BasisKind::Daubechies4 { depth: 1 },
            BasisKind::Daubechies4 { depth: 3 },
        ] {
            let t = Transform2d::new(kind, 8, 8).expect("transform");
            check_orthonormal(&t.matrix().expect("matrix"), 1e-12);
        }
        // Rectangular images and the deepest level (2×2 → 1×1 blocks) of a periodized D4.
        let t = Transform2d::new(BasisKind::Daubechies4 { depth: 2 }, 4, 12).expect("rect");
        check_orthonormal(&t.matrix().expect("matrix"), 1e-12);
    }

    #[test]
    fn known_coefficients() {
        // A constant image has one DCT coefficient, at DC, equal to √d times the value.
        let t = Transform2d::new(BasisKind::Dct, 4, 4).expect("dct");
        let c = t
            .forward(Array2::from_elem((4, 4), 2.0).view())
            .expect("fwd");
        assert!((c[[0, 0]] - 8.0).abs() < 1e-12);
        assert!(c.iter().skip(1).all(|v| v.abs() < 1e-12));
        // Haar at full depth: the same for a constant image.
        let t = Transform2d::new(BasisKind::Haar { depth: 2 }, 4, 4).expect("haar");
        let c = t
            .forward(Array2::from_elem((4, 4), 2.0).view())
            .expect("fwd");
        assert!((c[[0, 0]] - 8.0).abs() < 1e-12);
        assert!(c.iter().skip(1).all(|v| v.abs() < 1e-12));
        // D4 has two vanishing moments: a linear ramp in the interior has zero detail coefficients
        // away from the periodic wrap.
        let ramp = Array2::from_shape_fn((1, 16), |(_, j)| j as f64);
        let a = wavelet_level_matrix(&db4_filter(), 16);
        let d = a.dot(&ramp.t());
        for i in 8..15 {
            assert!(d[[i, 0]].abs() < 1e-12, "detail {i} = {}", d[[i, 0]]);
        }
        assert!(
            d[[15, 0]].abs() > 1.0,
            "the wrap-around detail sees the jump"
        );
    }

    #[test]
    fn inverse_and_channels_round_trip() {
        let x = Array3::from_shape_fn((2, 8, 4), |(c, i, j)| ((c * 7 + i * 3 + j) % 5) as f64);
        for kind in [BasisKind::Dct, BasisKind::Daubechies4 { depth: 2 }] {
            let t = Transform2d::new(kind, 8, 4).expect("transform");
            let c = t.forward(x.index_axis(Axis(0), 1)).expect("fwd");
            let back = t.inverse(c.view()).expect("inv");
            let err = (&back - &x.index_axis(Axis(0), 1))
                .iter()
                .fold(0.0f64, |m, v| m.max(v.abs()));
            assert!(err < 1e-12);
            let all = t.coefficients(x.view()).expect("coeffs");
            assert_eq!(all.len(), 64);
            let e_x: f64 = x.iter().map(|v| v * v).sum();
            let e_c: f64 = all.iter().map(|v| v * v).sum();
            assert!((e_x - e_c).abs() < 1e-9, "Parseval");
        }
    }

    #[test]
    fn sizes_a_depth_cannot_take_are_errors() {
        assert!(matches!(
            Transform2d::new(BasisKind::Haar { depth: 3 }, 12, 8),
            Err(Error::WaveletDepth { size: 12, .. })
        ));
        assert!(Transform2d::new(BasisKind::Daubechies4 { depth: 0 }, 8, 8).is_err());
        assert!(Transform2d::new(BasisKind::Haar { depth: 1 }, 7, 8).is_err());
        assert!(Transform2d::new(BasisKind::Dct, 0, 8).is_err());
        assert_eq!(BasisKind::max_depth(80), 4);
        let t = Transform2d::new(BasisKind::Dct, 4, 4).expect("dct");
        assert!(t.forward(Array2::zeros((4, 5)).view()).is_err());
    }
}
