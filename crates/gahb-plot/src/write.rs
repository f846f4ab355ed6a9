//! Atomic PNG writes: the image is encoded in memory, written to a temporary name in the target's
//! folder and renamed into place, so a run killed at any point leaves the old file or the new one,
//! never a truncated PNG.

use std::io::{Cursor, Write};
use std::path::Path;

use image::{ImageFormat, RgbImage};

use crate::error::Result;

/// Encodes `img` as PNG and writes it to `path` atomically (parent folders are created).
pub fn png_atomic(path: &Path, img: &RgbImage) -> Result<()> {
    let mut bytes = Cursor::new(Vec::new());
    img.write_to(&mut bytes, ImageFormat::Png)?;
    write_atomic(path, bytes.get_ref())
}

/// Writes `bytes` to `path` through a temporary file in the same folder (synced) and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map_or_else(|| "figure".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(written?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("gahb-plot-write-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let p = dir.join("sub/a.png");
        png_atomic(&p, &RgbImage::new(3, 2)).expect("write");
        png_atomic(&p, &RgbImage::new(5, 4)).expect("rewrite");
        let back = image::open(&p).expect("decode").to_rgb8();
        assert_eq!(back.dimensions(), (5, 4));
        let names: Vec<_> = std::fs::read_dir(p.parent().expect("parent"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        std::fs::remove_dir_all(&dir).expect("clean");
    }

    #[test]
    fn a_failed_write_leaves_the_old_file() {
        let dir = std::env::temp_dir().join(format!("gahb-plot-fail-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("a.png");
        png_atomic(&p, &RgbImage::new(3, 2)).expect("write");
        // A folder where the temporary would go makes the write fail before the rename.
        std::fs::create_dir(dir.join(format!(".a.png.tmp{}", std::process::id()))).expect("block");
        assert!(png_atomic(&p, &RgbImage::new(5, 4)).is_err());
        assert_eq!(image::open(&p).expect("old").to_rgb8().dimensions(), (3, 2));
        std::fs::remove_dir_all(&dir).expect("clean");
    }
}
