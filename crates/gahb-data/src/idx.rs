//! IDX reader (the MNIST / Fashion-MNIST format; DATASETS.md §2), gzip-compressed or raw.
//!
//! Layout: two zero bytes, a type byte (only `0x08`, unsigned byte, is supported), the number of
//! dimensions `d`, then `d` big-endian `u32` sizes, then the data. The data length must equal the
//! product of the sizes exactly; a shorter or longer payload is an error naming both numbers. Every
//! size is at least 1 and the product is computed with checked multiplication, so no header makes
//! the reader allocate more than the file holds.

use std::io::Read;
use std::path::Path;

use ndarray::Array3;

use crate::error::{checked_bytes, Error, Result};

/// The raw content of an IDX file of unsigned bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// The sizes from the header.
    pub dims: Vec<usize>,
    /// The data, row-major.
    pub data: Vec<u8>,
}

/// Read a file, transparently un-gzipping it when it starts with the gzip magic `1f 8b`.
///
/// A gzip stream is decompressed only as far as an IDX header allows: first the header, then at most
/// the bytes its sizes promise plus one (so a longer payload is still detected), so a small
/// compressed file cannot make the reader allocate more than its header's product.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    let gz_err = |e: std::io::Error| {
        Error::format(
            path,
            format!("gzip stream: {e}: the file is damaged, fetch it again"),
        )
    };
    let mut dec = flate2::read::GzDecoder::new(&raw[..]);
    let mut out = Vec::new();
    (&mut dec).take(4).read_to_end(&mut out).map_err(gz_err)?;
    if out.len() == 4 {
        let ndim = out[3] as u64;
        (&mut dec)
            .take(4 * ndim)
            .read_to_end(&mut out)
            .map_err(gz_err)?;
        if let Ok(h) = parse_header(&out, path) {
            let limit = (h.data_len as u64).saturating_add(1);
            (&mut dec)
                .take(limit)
                .read_to_end(&mut out)
                .map_err(gz_err)?;
            return Ok(out);
        }
    }
    // A header that is bad on its own: `parse_idx` reports it from these bytes.
    Ok(out)
}

/// What an IDX header says: the sizes, the header length and the data length.
struct Header {
    dims: Vec<usize>,
    header_len: usize,
    data_len: usize,
}

fn parse_header(bytes: &[u8], path: &Path) -> Result<Header> {
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
            "IDX magic must start with two zero bytes: the file is not an IDX file",
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
    if ndim == 0 {
        return Err(Error::format(
            path,
            "IDX header declares 0 dimensions: it needs at least 1",
        ));
    }
    let header_len = 4 + 4 * ndim;
    if bytes.len() < header_len {
        return Err(Error::Truncated {
            path: path.into(),
            expected: header_len as u64,
            got: bytes.len() as u64,
        });
    }
    let dims: Vec<usize> = bytes[4..header_len]
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let names: &[&str] = if ndim == 3 {
        &["n", "height", "width"]
    } else {
        &[]
    };
    let data_len = checked_bytes(path, &dims, names, 1)?;
    Ok(Header {
        dims,
        header_len,
        data_len,
    })
}

/// Parse IDX bytes; `path` only labels errors.
///
/// Every size must be at least 1 and the data must have exactly the length their product promises;
/// both are checked before the data is copied.
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<IdxArray> {
    let Header {
        dims,
        header_len,
        data_len,
    } = parse_header(bytes, path)?;
    let got = bytes.len() - header_len;
    if got != data_len {
        return Err(Error::Truncated {
            path: path.into(),
            expected: data_len as u64,
            got: got as u64,
        });
    }
    Ok(IdxArray {
        dims,
        data: bytes[header_len..].to_vec(),
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
            format!(
                "expected 3 dimensions [n, h, w] (an image file), header has {:?}",
                a.dims
            ),
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
            format!(
                "expected 1 dimension (a label file), header has {:?}",
                a.dims
            ),
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
