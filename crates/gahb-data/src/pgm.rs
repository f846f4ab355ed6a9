//! PGM reader, binary (P5, 8 or 16 bit) and plain (P2); the format of the ORL faces (DATASETS.md §2).
//! Values are divided by the header's maxval, so images are in `[0, 1]`; a pixel above maxval, a
//! maxval outside `1..=65535`, a zero size or a payload shorter than the header promises is an error
//! naming the file.

use std::path::Path;

use ndarray::{Array2, Array3};

use crate::error::{checked_bytes, Error, Result};
use crate::folder::{list_files, stack_files};

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
            return Err(Error::format(
                path,
                format!(
                    "PGM header ends after {} of its 4 fields (magic, width, height, maxval)",
                    toks.len()
                ),
            ));
        }
        toks.push(String::from_utf8_lossy(&bytes[start..i]).into_owned());
    }
    // Exactly one whitespace byte separates the header from binary data.
    Ok((toks, i + 1))
}

/// Parse PGM bytes; `path` only labels errors.
///
/// Width, height and maxval are checked (`1..`, `1..`, `1..=65535`) and the payload length against
/// the header before anything is allocated; a pixel above maxval is an error naming it.
pub fn parse_pgm(bytes: &[u8], path: &Path) -> Result<Array2<f32>> {
    let magic = bytes.get(..2).unwrap_or(bytes);
    match magic {
        b"P5" | b"P2" => {}
        b"P1" | b"P3" | b"P4" | b"P6" | b"P7" => {
            return Err(Error::format(
                path,
                format!(
                    "PGM magic {:?} unsupported: only grayscale P5 and P2, convert the image to \
                     grayscale PGM",
                    String::from_utf8_lossy(magic)
                ),
            ))
        }
        _ => {
            return Err(Error::format(
                path,
                "no P5 or P2 magic at the start: the file is not a PGM image",
            ))
        }
    }
    let (toks, offset) = header_tokens(bytes, 4, path)?;
    let num = |s: &str, what: &str| -> Result<u64> {
        s.parse::<u64>().map_err(|_| {
            Error::format(
                path,
                format!("PGM {what} {s:?} is not a whole number below 2^64"),
            )
        })
    };
    let size = |s: &str, what: &str| -> Result<usize> {
        usize::try_from(num(s, what)?).map_err(|_| Error::SizeOverflow {
            path: path.into(),
            shape: format!("{what} {s}"),
        })
    };
    let (w, h, maxval) = (
        size(&toks[1], "width")?,
        size(&toks[2], "height")?,
        num(&toks[3], "maxval")?,
    );
    if maxval == 0 || maxval > 65535 {
        return Err(Error::format(
            path,
            format!("PGM maxval {maxval} invalid: it must be in 1..=65535"),
        ));
    }
    let scale = 1.0 / maxval as f32;
    let mut above = Above::default();
    let data: Vec<f32> = match toks[0].as_str() {
        "P5" => {
            let bpp = if maxval < 256 { 1 } else { 2 };
            let need = checked_bytes(path, &[h, w], &["height", "width"], bpp)?;
            let payload = bytes.get(offset..).unwrap_or(&[]);
            if payload.len() < need {
                return Err(Error::Truncated {
                    path: path.into(),
                    expected: need as u64,
                    got: payload.len() as u64,
                });
            }
            let mut pixel = |i: usize, v: u64| {
                above.check(i, v, maxval);
                v as f32 * scale
            };
            if bpp == 1 {
                payload[..need]
                    .iter()
                    .enumerate()
                    .map(|(i, &b)| pixel(i, b as u64))
                    .collect()
            } else {
                payload[..need]
                    .chunks_exact(2)
                    .enumerate()
                    .map(|(i, c)| pixel(i, u16::from_be_bytes([c[0], c[1]]) as u64))
                    .collect()
            }
        }
        _ => {
            // P2: `n` decimal values, each at least one digit and one separator.
            let n = checked_bytes(path, &[h, w], &["height", "width"], 1)?;
            let text = bytes.get(offset.saturating_sub(1)..).unwrap_or(&[]);
            let min_len = n.saturating_mul(2).saturating_sub(1);
            if text.len() < min_len {
                return Err(Error::Truncated {
                    path: path.into(),
                    expected: min_len as u64,
                    got: text.len() as u64,
                });
            }
            let text = String::from_utf8_lossy(text);
            let vals: Vec<f32> = text
                .split_ascii_whitespace()
                .take(n)
                .enumerate()
                .map(|(i, t)| {
                    let v = num(t, "pixel")?;
                    above.check(i, v, maxval);
                    Ok(v as f32 * scale)
                })
                .collect::<Result<_>>()?;
            if vals.len() < n {
                return Err(Error::format(
                    path,
                    format!(
                        "P2 data has {} pixels, the {w}×{h} header needs {n}: the file is cut short",
                        vals.len()
                    ),
                ));
            }
            vals
        }
    };
    if let Some((i, value)) = above.first {
        return Err(Error::PixelAboveMaxval {
            path: path.into(),
            value,
            maxval,
            row: i / w,
            col: i % w,
            count: above.count,
        });
    }
    Array2::from_shape_vec((h, w), data).map_err(|e| Error::format(path, e.to_string()))
}

/// Pixels above maxval: how many, and the first (flat index, value).
#[derive(Default)]
struct Above {
    count: usize,
    first: Option<(usize, u64)>,
}

impl Above {
    fn check(&mut self, i: usize, v: u64, maxval: u64) {
        if v > maxval {
            self.count += 1;
            self.first.get_or_insert((i, v));
        }
    }
}

/// Read a PGM file as `[h, w]` in `[0, 1]`.
pub fn read_pgm(path: impl AsRef<Path>) -> Result<Array2<f32>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_pgm(&bytes, path)
}

/// Read PGM files of one size as `[n, h, w]` in `[0, 1]`, in the order given; a file of another size
/// is an [`Error::ShapeMismatch`] naming it, its size and the first file's.
pub fn read_pgm_files<P: AsRef<Path>>(files: &[P]) -> Result<Array3<f32>> {
    if files.is_empty() {
        return Err(Error::InvalidConfig {
            field: "files",
            value: "[]".into(),
            reason: "must name at least one PGM file",
        });
    }
    let imgs = files
        .iter()
        .map(|p| read_pgm(p.as_ref()))
        .collect::<Result<Vec<_>>>()?;
    let paths: Vec<&Path> = files.iter().map(AsRef::as_ref).collect();
    stack_files(&imgs, &paths)
}

/// Read every `.pgm` file directly inside `dir`, in sorted file-name order, as `[n, h, w]` (see
/// [`read_pgm_files`]).
pub fn read_pgm_folder(dir: impl AsRef<Path>) -> Result<Array3<f32>> {
    read_pgm_files(&list_files(dir.as_ref(), &["pgm"], ".pgm")?)
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
