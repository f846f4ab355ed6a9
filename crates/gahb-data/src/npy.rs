//! `.npy` reader (NumPy format versions 1–3; the LFW subset of DATASETS.md §2): C-order,
//! little-endian arrays returned as `f32` with their shape.
//!
//! Values are checked, because every dataset of this crate lives in `[0, 1]` (see the crate doc):
//! - `f4` and `f8` arrays are read as they are and must be finite and inside `[0, 1]`;
//! - integer arrays (`u1`, `u2`, `u4`, `u8`, `i1`, `i2`, `i4`, `i8`) carry no scale of their own, so the
//!   plain readers refuse them and [`read_npy_images_scaled`] divides every value by an explicit
//!   `scale` (255 for 8-bit images) before the same checks.
//!
//! Every size in the header is at least 1, their product is computed with checked multiplication and
//! compared with the file's length before anything is allocated, so no header makes the reader
//! allocate more than the file holds.

use std::path::Path;

use ndarray::{Array3, ArrayD, IxDyn};

use crate::error::{checked_bytes, unravel, Error, Result};

/// The element types read; all little-endian (or single-byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dtype {
    F4,
    F8,
    U1,
    U2,
    U4,
    U8,
    I1,
    I2,
    I4,
    I8,
}

impl Dtype {
    /// The dtype of a `descr` string such as `<f4`, or what is wrong with it.
    fn parse(descr: &str) -> std::result::Result<Self, String> {
        let unsupported = || {
            format!(
                "npy dtype {descr:?} unsupported: save the array as float32 ('<f4') or \
                 float64 ('<f8')"
            )
        };
        let (Some(order), Some(code)) = (descr.get(..1), descr.get(1..)) else {
            return Err(unsupported());
        };
        let d = match code {
            "f4" => Dtype::F4,
            "f8" => Dtype::F8,
            "u1" => Dtype::U1,
            "u2" => Dtype::U2,
            "u4" => Dtype::U4,
            "u8" => Dtype::U8,
            "i1" => Dtype::I1,
            "i2" => Dtype::I2,
            "i4" => Dtype::I4,
            "i8" => Dtype::I8,
            _ => return Err(unsupported()),
        };
        match order {
            "<" | "|" | "=" => Ok(d),
            ">" if d.size() == 1 => Ok(d),
            ">" => Err(format!(
                "npy dtype {descr:?} is big-endian, unsupported: save it little-endian, e.g. \
                 a.astype('<{code}')"
            )),
            _ => Err(format!(
                "npy dtype {descr:?} has no byte order ('<', '>' or '|')"
            )),
        }
    }

    fn size(self) -> usize {
        match self {
            Dtype::U1 | Dtype::I1 => 1,
            Dtype::U2 | Dtype::I2 => 2,
            Dtype::F4 | Dtype::U4 | Dtype::I4 => 4,
            Dtype::F8 | Dtype::U8 | Dtype::I8 => 8,
        }
    }

    fn is_float(self) -> bool {
        matches!(self, Dtype::F4 | Dtype::F8)
    }

    /// One element, little-endian; `c` has exactly [`Dtype::size`] bytes.
    fn read(self, c: &[u8]) -> f64 {
        let mut b = [0u8; 8];
        b[..c.len()].copy_from_slice(c);
        match self {
            Dtype::F4 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
            Dtype::F8 => f64::from_le_bytes(b),
            Dtype::U1 => b[0] as f64,
            Dtype::U2 => u16::from_le_bytes([b[0], b[1]]) as f64,
            Dtype::U4 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
            Dtype::U8 => u64::from_le_bytes(b) as f64,
            Dtype::I1 => b[0] as i8 as f64,
            Dtype::I2 => i16::from_le_bytes([b[0], b[1]]) as f64,
            Dtype::I4 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
            Dtype::I8 => i64::from_le_bytes(b) as f64,
        }
    }
}

/// Parse `.npy` bytes of a float array with values in `[0, 1]`; `path` only labels errors.
///
/// Integer arrays are refused with [`Error::IntegerNeedsScale`]: use [`parse_npy_scaled`].
pub fn parse_npy(bytes: &[u8], path: &Path) -> Result<ArrayD<f32>> {
    parse(bytes, path, None)
}

/// Parse `.npy` bytes of any supported dtype, dividing every value by `scale` (255 for 8-bit
/// images); the results must be finite and inside `[0, 1]`.
pub fn parse_npy_scaled(bytes: &[u8], path: &Path, scale: f64) -> Result<ArrayD<f32>> {
    if !(scale.is_finite() && scale > 0.0) {
        return Err(Error::InvalidConfig {
            field: "scale",
            value: scale.to_string(),
            reason: "must be a finite number > 0, e.g. 255 for 8-bit images",
        });
    }
    parse(bytes, path, Some(scale))
}

/// Read a float `.npy` file with values in `[0, 1]` as an `f32` array of any rank.
pub fn read_npy(path: impl AsRef<Path>) -> Result<ArrayD<f32>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_npy(&bytes, path)
}

/// Read a `.npy` file of any supported dtype divided by `scale` (see [`parse_npy_scaled`]).
pub fn read_npy_scaled(path: impl AsRef<Path>, scale: f64) -> Result<ArrayD<f32>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_npy_scaled(&bytes, path, scale)
}

/// Read a 3-D float `.npy` file `[n, h, w]` with values in `[0, 1]`.
pub fn read_npy_images(path: impl AsRef<Path>) -> Result<Array3<f32>> {
    let path = path.as_ref();
    into_images(read_npy(path)?, path)
}

/// Read a 3-D `.npy` file `[n, h, w]` of any supported dtype divided by `scale`, e.g.
/// `read_npy_images_scaled(path, 255.0)` for `uint8` images.
pub fn read_npy_images_scaled(path: impl AsRef<Path>, scale: f64) -> Result<Array3<f32>> {
    let path = path.as_ref();
    into_images(read_npy_scaled(path, scale)?, path)
}

/// Encode a C-order `<f4` `.npy` file (version 1), for tests and fixtures.
pub fn encode_npy_f32(shape: &[usize], data: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

fn into_images(a: ArrayD<f32>, path: &Path) -> Result<Array3<f32>> {
    let shape = a.shape().to_vec();
    a.into_dimensionality().map_err(|_| {
        Error::format(
            path,
            format!("expected 3 dimensions [n, h, w], got shape {shape:?}"),
        )
    })
}

/// The header's dict: `descr`, `fortran_order` and `shape`.
struct Header {
    descr: String,
    dtype: Dtype,
    shape: Vec<usize>,
}

fn parse_header(header: &str, path: &Path) -> Result<Header> {
    let field = |key: &str| -> Result<&str> {
        let k = format!("'{key}':");
        let at = header.find(&k).ok_or_else(|| {
            Error::format(
                path,
                format!("npy header lacks '{key}': the file is not a NumPy array"),
            )
        })?;
        Ok(header[at + k.len()..].trim_start())
    };
    let descr = field("descr")?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|d| d.split('\'').next())
        .ok_or_else(|| {
            Error::format(path, "npy descr is not a quoted dtype string such as '<f4'")
        })?;
    let dtype = Dtype::parse(descr).map_err(|reason| Error::format(path, reason))?;
    let fortran = field("fortran_order")?;
    if fortran.starts_with("True") {
        return Err(Error::format(
            path,
            "npy array is in Fortran order, unsupported: save np.ascontiguousarray(a)",
        ));
    }
    if !fortran.starts_with("False") {
        return Err(Error::format(
            path,
            "npy fortran_order is neither True nor False",
        ));
    }
    let inner = field("shape")?
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| Error::format(path, "npy shape is not a tuple"))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse().map_err(|_| {
                Error::format(
                    path,
                    format!("npy shape entry {s:?} is not a size below 2^64"),
                )
            })
        })
        .collect::<Result<_>>()?;
    Ok(Header {
        descr: descr.to_string(),
        dtype,
        shape,
    })
}

fn parse(bytes: &[u8], path: &Path, scale: Option<f64>) -> Result<ArrayD<f32>> {
    if !bytes.starts_with(b"\x93NUMPY") {
        return Err(Error::format(
            path,
            "missing the \\x93NUMPY magic: the file is not a .npy array",
        ));
    }
    let (hlen, start) = match bytes.get(6) {
        Some(1) if bytes.len() >= 10 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        Some(2 | 3) if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        Some(1..=3) | None => {
            return Err(Error::Truncated {
                path: path.into(),
                expected: if bytes.get(6) == Some(&1) { 10 } else { 12 },
                got: bytes.len() as u64,
            })
        }
        Some(v) => {
            return Err(Error::format(
                path,
                format!("npy version {v} unsupported (1, 2 or 3)"),
            ))
        }
    };
    let end = start + hlen;
    let header = bytes.get(start..end).ok_or_else(|| Error::Truncated {
        path: path.into(),
        expected: end as u64,
        got: bytes.len() as u64,
    })?;
    let header =
        std::str::from_utf8(header).map_err(|_| Error::format(path, "npy header is not text"))?;
    let Header {
        descr,
        dtype,
        shape,
    } = parse_header(header, path)?;
    let expected = checked_bytes(path, &shape, &[], dtype.size())?;
    let data = &bytes[end..];
    if data.len() != expected {
        return Err(Error::Truncated {
            path: path.into(),
            expected: expected as u64,
            got: data.len() as u64,
        });
    }
    if !dtype.is_float() && scale.is_none() {
        return Err(Error::IntegerNeedsScale {
            path: path.into(),
            dtype: descr,
        });
    }
    let scale_by = scale.unwrap_or(1.0);
    let mut vals = Vec::with_capacity(expected / dtype.size());
    let (mut n_bad, mut first_bad) = (0usize, None);
    let (mut n_out, mut min, mut max) = (0usize, f64::INFINITY, f64::NEG_INFINITY);
    for (i, c) in data.chunks_exact(dtype.size()).enumerate() {
        let v = dtype.read(c) / scale_by;
        if !v.is_finite() {
            n_bad += 1;
            first_bad.get_or_insert((i, v));
        } else if !(0.0..=1.0).contains(&v) {
            n_out += 1;
        }
        if v.is_finite() {
            min = min.min(v);
            max = max.max(v);
        }
        vals.push(v as f32);
    }
    if let Some((i, v)) = first_bad {
        return Err(Error::NonFinite {
            path: path.into(),
            count: n_bad,
            first_value: format!("{v}"),
            first_index: unravel(i, &shape),
        });
    }
    if n_out > 0 {
        let hint = match scale {
            Some(s) => format!(" (values were divided by scale {s}; pass a larger scale)"),
            None if min >= 0.0 && max > 2.0 && max <= 255.0 => {
                " or read it with read_npy_images_scaled(path, 255)".into()
            }
            None => String::new(),
        };
        return Err(Error::OutOfRange {
            path: path.into(),
            count: n_out,
            min,
            max,
            hint,
        });
    }
    ArrayD::from_shape_vec(IxDyn(&shape), vals).map_err(|e| Error::format(path, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_truncation() {
        let p = Path::new("mem.npy");
        let bytes = encode_npy_f32(&[2, 1, 3], &[0.0, 0.5, 1.0, 0.25, 0.75, 0.125]);
        let a = parse_npy(&bytes, p).expect("valid");
        assert_eq!(a.shape(), &[2, 1, 3]);
        assert_eq!(a[[1, 0, 2]], 0.125);
        assert!(parse_npy(&bytes[..bytes.len() - 2], p).is_err());
        assert!(parse_npy(&bytes[..20], p).is_err());
    }

    #[test]
    fn values_are_checked() {
        let p = Path::new("mem.npy");
        let nan = encode_npy_f32(
            &[2, 2, 2],
            &[0.0, 0.1, 0.2, f32::NAN, 0.4, f32::INFINITY, 0.6, 0.7],
        );
        let e = parse_npy(&nan, p).expect_err("nan").to_string();
        assert!(
            e.contains("2 NaN") && e.contains("[0, 1, 1] (flat 3)"),
            "{e}"
        );
        let big = encode_npy_f32(&[1, 1, 3], &[0.0, 128.0, 255.0]);
        let e = parse_npy(&big, p).expect_err("0..255").to_string();
        assert!(
            e.contains("2 value(s)") && e.contains("max 255.0") && e.contains("255)"),
            "{e}"
        );
        let a = parse_npy_scaled(&big, p, 255.0).expect("scaled");
        assert_eq!(a[[0, 0, 2]], 1.0);
        assert!(parse_npy_scaled(&big, p, 0.0).is_err());
    }
}
