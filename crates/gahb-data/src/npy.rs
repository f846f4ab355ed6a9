//! `.npy` reader (NumPy format versions 1–3; the LFW subset of DATASETS.md §2): C-order arrays of
//! `f4`, `f8` (little-endian) or `u1`, returned as `f32` with their shape.

use std::path::Path;

use ndarray::{Array3, ArrayD, IxDyn};

use crate::error::{Error, Result};

/// Parse `.npy` bytes; `path` only labels errors.
pub fn parse_npy(bytes: &[u8], path: &Path) -> Result<ArrayD<f32>> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(Error::format(path, "missing the \\x93NUMPY magic"));
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(Error::format(path, format!("npy version {v} unsupported"))),
    };
    let header = bytes
        .get(start..start + hlen)
        .ok_or_else(|| Error::Truncated {
            path: path.into(),
            expected: (start + hlen) as u64,
            got: bytes.len() as u64,
        })?;
    let header = String::from_utf8_lossy(header);
    let field = |key: &str| -> Result<String> {
        let k = format!("'{key}':");
        let at = header
            .find(&k)
            .ok_or_else(|| Error::format(path, format!("npy header lacks {key}")))?;
        Ok(header[at + k.len()..].trim_start().to_string())
    };
    let descr = field("descr")?;
    let descr = descr.split('\'').nth(1).unwrap_or("").to_string();
    if field("fortran_order")?.starts_with("True") {
        return Err(Error::format(path, "Fortran-order arrays unsupported"));
    }
    let shape_s = field("shape")?;
    let inner = shape_s
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| Error::format(path, "npy shape is not a tuple"))?;
    let shape: Vec<usize> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| Error::format(path, format!("npy shape entry {s:?}")))
        })
        .collect::<Result<_>>()?;
    let n: usize = shape.iter().product();
    let data = &bytes[start + hlen..];
    let item = match descr.as_str() {
        "<f4" => 4,
        "<f8" => 8,
        "|u1" | "<u1" => 1,
        d => {
            return Err(Error::format(
                path,
                format!("npy dtype {d:?} unsupported (<f4, <f8, |u1)"),
            ))
        }
    };
    if data.len() != n * item {
        return Err(Error::Truncated {
            path: path.into(),
            expected: (n * item) as u64,
            got: data.len() as u64,
        });
    }
    let vals: Vec<f32> = match item {
        4 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        8 => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
            .collect(),
        _ => data.iter().map(|&b| b as f32).collect(),
    };
    ArrayD::from_shape_vec(IxDyn(&shape), vals).map_err(|e| Error::format(path, e.to_string()))
}

/// Read a `.npy` file as an `f32` array of any rank (no rescaling).
pub fn read_npy(path: impl AsRef<Path>) -> Result<ArrayD<f32>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_npy(&bytes, path)
}

/// Read a 3-D `.npy` file `[n, h, w]`.
pub fn read_npy_images(path: impl AsRef<Path>) -> Result<Array3<f32>> {
    let path = path.as_ref();
    let a = read_npy(path)?;
    let shape = a.shape().to_vec();
    a.into_dimensionality()
        .map_err(|_| Error::format(path, format!("expected 3 dimensions, got shape {shape:?}")))
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
}
