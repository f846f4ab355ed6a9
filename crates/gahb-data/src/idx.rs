//! IDX reader (the MNIST / Fashion-MNIST format; DATASETS.md §2), gzip-compressed or raw.
//!
//! Layout: two zero bytes, a type byte (only `0x08`, unsigned byte, is supported), the number of
//! dimensions `d`, then `d` big-endian `u32` sizes, then the data. The data length must equal the
//! product of the sizes exactly; a shorter or longer payload is an error naming both numbers.

use std::io::Read;
use std::path::Path;

use ndarray::Array3;

use crate::error::{Error, Result};

/// The raw content of an IDX file of unsigned bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// The sizes from the header.
    pub dims: Vec<usize>,
    /// The data, row-major.
    pub data: Vec<u8>,
}

/// Read a file, transparently un-gzipping it when it starts with the gzip magic `1f 8b`.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::format(path, format!("gzip stream: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Parse IDX bytes; `path` only labels errors.
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<IdxArray> {
    if bytes.len() < 4 {
        return Err(Error::Truncated {
            path: path.into(),
            expected: 4,
            got: bytes.len() as u64,
        });
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(Error::format(
            path,
            "IDX magic must start with two zero bytes",
        ));
    }
    if bytes[2] != 0x08 {
        return Err(Error::format(
            path,
            format!(
                "IDX type 0x{:02x} unsupported (only 0x08, unsigned byte)",
                bytes[2]
            ),
        ));
    }
    let ndim = bytes[3] as usize;
    let header = 4 + 4 * ndim;
    if ndim == 0 || bytes.len() < header {
        return Err(Error::Truncated {
            path: path.into(),
            expected: header as u64,
            got: bytes.len() as u64,
        });
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| {
            let b = &bytes[4 + 4 * i..8 + 4 * i];
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
        })
        .collect();
    let expected = dims.iter().product::<usize>();
    let got = bytes.len() - header;
    if got != expected {
        return Err(Error::Truncated {
            path: path.into(),
            expected: expected as u64,
            got: got as u64,
        });
    }
    Ok(IdxArray {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Read an IDX file (raw or gzip).
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray> {
    let path = path.as_ref();
    parse_idx(&read_maybe_gz(path)?, path)
}

/// Read an IDX image file `[n, h, w]` of bytes as `[n, h, w]` floats in `[0, 1]` (byte / 255).
pub fn read_idx_images(path: impl AsRef<Path>) -> Result<Array3<f32>> {
    let path = path.as_ref();
    let a = read_idx(path)?;
    if a.dims.len() != 3 {
        return Err(Error::format(
            path,
            format!("expected 3 dimensions, header has {:?}", a.dims),
        ));
    }
    let data: Vec<f32> = a.data.iter().map(|&b| b as f32 / 255.0).collect();
    Array3::from_shape_vec((a.dims[0], a.dims[1], a.dims[2]), data)
        .map_err(|e| Error::format(path, e.to_string()))
}

/// Read an IDX label file (1 dimension).
pub fn read_idx_labels(path: impl AsRef<Path>) -> Result<Vec<u8>> {
    let path = path.as_ref();
    let a = read_idx(path)?;
    if a.dims.len() != 1 {
        return Err(Error::format(
            path,
            format!("expected 1 dimension, header has {:?}", a.dims),
        ));
    }
    Ok(a.data)
}

/// Encode an IDX file of bytes (used by tests and fixtures).
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_length_checks() {
        let p = Path::new("mem.idx");
        let bytes = encode_idx(&[2, 2, 3], &[0, 255, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        let a = parse_idx(&bytes, p).expect("valid");
        assert_eq!(a.dims, vec![2, 2, 3]);
        let short = &bytes[..bytes.len() - 1];
        let err = parse_idx(short, p).expect_err("truncated").to_string();
        assert!(err.contains("12") && err.contains("11"), "{err}");
        let mut long = bytes.clone();
        long.push(0);
        assert!(parse_idx(&long, p).is_err());
        assert!(parse_idx(&bytes[..6], p).is_err());
    }
}
