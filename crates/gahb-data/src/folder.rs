//! Image folders (DATASETS.md §3): PNG and JPEG files of one folder, in sorted file-name order
//! (PAPER.md §2: the reference's `os.listdir` order is filesystem-dependent, so we sort), decoded with
//! the `image` crate.

use std::path::{Path, PathBuf};

use image::RgbImage;
use ndarray::{Array2, Array3, Axis};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::resample::{check_output, resize_bicubic_checked};

/// The image files (`.png`, `.jpg`, `.jpeg`, any case) directly inside `dir`, sorted by file name.
///
/// A `dir` that does not exist is [`Error::Missing`], one that is a file [`Error::NotAFolder`], one
/// without image files [`Error::Empty`]; other files are skipped.
pub fn list_images(dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
    list_files(dir.as_ref(), &["png", "jpg", "jpeg"], ".png, .jpg or .jpeg")
}

/// The files directly inside `dir` whose extension is one of `exts` (lowercase; matched in any case),
/// sorted by file name; `what` names them in the [`Error::Empty`] message.
pub(crate) fn list_files(dir: &Path, exts: &[&str], what: &'static str) -> Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(dir).map_err(|e| Error::io(dir, e))?;
    if !meta.is_dir() {
        return Err(Error::NotAFolder { path: dir.into() });
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let p = entry.map_err(|e| Error::io(dir, e))?.path();
        let wanted = p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| exts.contains(&e.to_ascii_lowercase().as_str()));
        if wanted && p.is_file() {
            files.push(p);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(Error::Empty {
            path: dir.into(),
            what,
        });
    }
    Ok(files)
}

/// Reject a JPEG without its end-of-image marker `FF D9` or a PNG without its `IEND` chunk at the
/// end: decoders tolerate truncated files (they fill the missing part with gray), we do not.
fn check_complete(bytes: &[u8], path: &Path) -> Result<()> {
    let trimmed = {
        let mut end = bytes.len();
        while end > 0 && bytes[end - 1] == 0 {
            end -= 1;
        }
        &bytes[..end]
    };
    let truncated = if bytes.starts_with(&[0xff, 0xd8]) {
        !trimmed.ends_with(&[0xff, 0xd9])
    } else if bytes.starts_with(b"\x89PNG") {
        !bytes[bytes.len().saturating_sub(12)..]
            .windows(4)
            .any(|w| w == b"IEND")
    } else {
        false
    };
    if truncated {
        return Err(Error::format(
            path,
            "truncated: the end-of-image marker is missing",
        ));
    }
    Ok(())
}

/// Decode one image file as 8-bit RGB; truncated JPEG and PNG files are rejected.
pub fn load_rgb(path: impl AsRef<Path>) -> Result<RgbImage> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    check_complete(&bytes, path)?;
    let img = image::load_from_memory(&bytes).map_err(|source| Error::Image {
        path: path.into(),
        source,
    })?;
    Ok(img.to_rgb8())
}

/// The R, G, B planes of an image as `f32` in `0..=255`, `[3, h, w]`.
pub fn rgb_planes(img: &RgbImage) -> Array3<f32> {
    let (w, h) = img.dimensions();
    Array3::from_shape_fn((3, h as usize, w as usize), |(c, i, j)| {
        img.get_pixel(j as u32, i as u32).0[c] as f32
    })
}

/// Gray as the mean of R, G, B, scaled to `[0, 1]` (PAPER.md §2).
pub fn gray_from_planes(planes: &Array3<f32>) -> Array2<f32> {
    planes.sum_axis(Axis(0)).mapv(|v| v / (3.0 * 255.0))
}

/// Where a square crop is taken from a non-square image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CropMode {
    /// The largest centred square.
    Center,
    /// The largest square at the top-left corner (the reference LSUN loader).
    TopLeft,
    /// No crop: the whole image is resized (aspect ratio not kept).
    None,
}

/// How a folder of images becomes a dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FolderConfig {
    /// Output side in pixels.
    pub size: usize,
    /// The square crop taken before resizing.
    pub crop: CropMode,
    /// Keep at most this many images (the first in sorted order).
    pub limit: Option<usize>,
}

impl FolderConfig {
    /// Check every field.
    pub fn validate(&self) -> Result<()> {
        if self.size == 0 {
            return Err(Error::InvalidConfig {
                field: "size",
                value: "0".into(),
                reason: "must be at least 1",
            });
        }
        if self.limit == Some(0) {
            return Err(Error::InvalidConfig {
                field: "limit",
                value: "0".into(),
                reason: "must be at least 1 (leave it unset to read every image)",
            });
        }
        Ok(())
    }
}

/// Read a folder: crop, bicubic resize (on `uint8` planes, as PIL), gray, `[0, 1]`; `[n, size, size]`.
///
/// The output size is checked against [`MAX_OUTPUT_PIXELS`](crate::MAX_OUTPUT_PIXELS) before any
/// file is decoded.
pub fn read_folder(dir: impl AsRef<Path>, cfg: &FolderConfig) -> Result<Array3<f32>> {
    use rayon::prelude::*;
    cfg.validate()?;
    let mut files = list_images(dir)?;
    if let Some(l) = cfg.limit {
        files.truncate(l);
    }
    check_output("read_folder", files.len(), cfg.size, cfg.size)?;
    let imgs: Vec<Array2<f32>> = files
        .par_iter()
        .map(|p| {
            let planes = rgb_planes(&load_rgb(p)?);
            let (_, h, w) = planes.dim();
            let side = h.min(w);
            let (t, l, ch, cw) = match cfg.crop {
                CropMode::Center => ((h - side) / 2, (w - side) / 2, side, side),
                CropMode::TopLeft => (0, 0, side, side),
                CropMode::None => (0, 0, h, w),
            };
            let mut out = Array3::<f32>::zeros((3, cfg.size, cfg.size));
            for c in 0..3 {
                let plane = planes.slice(ndarray::s![c, t..t + ch, l..l + cw]);
                out.index_axis_mut(Axis(0), c)
                    .assign(&resize_bicubic_checked(plane, cfg.size, cfg.size, true)?);
            }
            Ok(gray_from_planes(&out))
        })
        .collect::<Result<_>>()?;
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    stack_files(&imgs, &paths)
}

/// Stack equally sized images read from `files` (same length) into `[n, h, w]`; an image of another
/// size than the first is an [`Error::ShapeMismatch`] naming its file and both sizes.
pub(crate) fn stack_files(imgs: &[Array2<f32>], files: &[&Path]) -> Result<Array3<f32>> {
    stack_labelled(imgs, |i| {
        files
            .get(i)
            .map_or_else(|| PathBuf::from(format!("image {i}")), |p| p.to_path_buf())
    })
}

/// Stack equally sized images into `[n, h, w]`; an image of another size than the first is an
/// [`Error::ShapeMismatch`] naming its index and both sizes (use [`stack_files`] to name files).
/// An empty list is what `limit = 0` leaves, so it is reported as that field.
pub(crate) fn stack(imgs: &[Array2<f32>]) -> Result<Array3<f32>> {
    stack_labelled(imgs, |i| PathBuf::from(format!("image {i} of the stack")))
}

fn stack_labelled(imgs: &[Array2<f32>], label: impl Fn(usize) -> PathBuf) -> Result<Array3<f32>> {
    let Some(first) = imgs.first() else {
        return Err(Error::InvalidConfig {
            field: "limit",
            value: "0".into(),
            reason: "must be at least 1: no image is left to read",
        });
    };
    let (h, w) = first.dim();
    if let Some(i) = imgs.iter().position(|a| a.dim() != (h, w)) {
        let (gh, gw) = imgs[i].dim();
        return Err(Error::ShapeMismatch {
            path: label(i),
            expected: format!("{h}×{w} (of {})", label(0).display()),
            got: format!("{gh}×{gw}"),
        });
    }
    check_output("stack", imgs.len(), h, w)?;
    let views: Vec<_> = imgs.iter().map(|a| a.view()).collect();
    ndarray::stack(Axis(0), &views).map_err(|e| Error::ShapeMismatch {
        path: label(0),
        expected: format!("{h}×{w}"),
        got: e.to_string(),
    })
}
