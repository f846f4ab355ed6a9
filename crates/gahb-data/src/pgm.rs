//! PGM reader, binary (P5, 8 or 16 bit) and plain (P2); the format of the ORL faces (DATASETS.md §2).
//! Values are divided by the header's maxval, so images are in `[0, 1]`.

use std::path::Path;

use ndarray::Array2;

use crate::error::{Error, Result};

/// Header tokens, skipping whitespace and `#` comments; returns the tokens and the offset just past
/// the single whitespace byte that ends the header.
fn header_tokens(bytes: &[u8], n: usize, path: &Path) -> Result<(Vec<String>, usize)> {
    let mut toks = Vec::new();
    let mut i = 0;
    while toks.len() < n {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'#') {
            if bytes[i] == b'#' {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            } else {
                i += 1;
            }
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'#' {
            i += 1;
        }
        if start == i {
            return Err(Error::format(path, "PGM header ends early"));
        }
        toks.push(String::from_utf8_lossy(&bytes[start..i]).into_owned());
    }
    // Exactly one whitespace byte separates the header from binary data.
    Ok((toks, i + 1))
}

/// Parse PGM bytes; `path` only labels errors.
pub fn parse_pgm(bytes: &[u8], path: &Path) -> Result<Array2<f32>> {
    let (toks, offset) = header_tokens(bytes, 4, path)?;
    let num = |s: &str, what: &str| -> Result<usize> {
        s.parse::<usize>()
            .map_err(|_| Error::format(path, format!("PGM {what} {s:?} is not a number")))
    };
    let (w, h, maxval) = (
        num(&toks[1], "width")?,
        num(&toks[2], "height")?,
        num(&toks[3], "maxval")?,
    );
    if w == 0 || h == 0 || maxval == 0 || maxval > 65535 {
        return Err(Error::format(
            path,
            format!("PGM header {w}×{h}, maxval {maxval} invalid"),
        ));
    }
    let n = w * h;
    let scale = 1.0 / maxval as f32;
    let data: Vec<f32> = match toks[0].as_str() {
        "P5" => {
            let bpp = if maxval < 256 { 1 } else { 2 };
            let payload = bytes.get(offset..).unwrap_or(&[]);
            if payload.len() < n * bpp {
                return Err(Error::Truncated {
                    path: path.into(),
                    expected: (n * bpp) as u64,
                    got: payload.len() as u64,
                });
            }
            if bpp == 1 {
                payload[..n].iter().map(|&b| b as f32 * scale).collect()
            } else {
                payload[..2 * n]
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]) as f32 * scale)
                    .collect()
            }
        }
        "P2" => {
            let text =
                String::from_utf8_lossy(bytes.get(offset.saturating_sub(1)..).unwrap_or(&[]));
            let vals: Vec<f32> = text
                .split_ascii_whitespace()
                .take(n)
                .map(|t| num(t, "pixel").map(|v| v as f32 * scale))
                .collect::<Result<_>>()?;
            if vals.len() < n {
                return Err(Error::Truncated {
                    path: path.into(),
                    expected: n as u64,
                    got: vals.len() as u64,
                });
            }
            vals
        }
        m => {
            return Err(Error::format(
                path,
                format!("PGM magic {m:?} unsupported (P5 or P2)"),
            ))
        }
    };
    Array2::from_shape_vec((h, w), data).map_err(|e| Error::format(path, e.to_string()))
}

/// Read a PGM file as `[h, w]` in `[0, 1]`.
pub fn read_pgm(path: impl AsRef<Path>) -> Result<Array2<f32>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_pgm(&bytes, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p5_and_p2_agree_and_truncation_fails() {
        let p = Path::new("mem.pgm");
        let mut p5 = b"P5\n# comment\n3 2\n255\n".to_vec();
        p5.extend_from_slice(&[0, 51, 255, 102, 153, 204]);
        let p2 = b"P2\n3 2 255\n0 51 255\n102 153 204\n";
        let a = parse_pgm(&p5, p).expect("valid P5");
        let b = parse_pgm(p2, p).expect("valid P2");
        assert_eq!(a, b);
        assert_eq!(a.dim(), (2, 3));
        assert!((a[[0, 1]] - 0.2).abs() < 1e-6);
        assert!(parse_pgm(&p5[..p5.len() - 1], p).is_err());
        assert!(parse_pgm(&p2[..p2.len() - 5], p).is_err());
        assert!(parse_pgm(b"P6\n1 1 255\n\0\0\0", p).is_err());
    }
}
