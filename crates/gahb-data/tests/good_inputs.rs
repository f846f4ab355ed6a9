//! The other side of the bad-input corpus (issue 13): inputs at the edge of what the readers accept
//! still read, with the values they should have, so the checks refuse only what is wrong.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use gahb_data::{
    encode_idx, encode_npy_f32, pad_to, parse_npy, parse_npy_scaled, parse_pgm, read_folder,
    read_idx_images, read_idx_labels, read_npy_images_scaled, read_pgm_files, read_pgm_folder,
    resize_all, resize_bicubic_checked, CropMode, FolderConfig,
};
use ndarray::{Array2, Array3};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&p, bytes)?;
    Ok(p)
}

/// A version-`v` `.npy` file with dtype `descr`.
fn npy(v: u8, descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let pre = if v == 1 { 10 } else { 12 };
    let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while !(pre + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend_from_slice(&[v, 0]);
    if v == 1 {
        out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(h.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn npy_edges_are_accepted() -> Result<()> {
    let p = Path::new("mem.npy");
    // Exactly 0 and 1 are inside [0, 1].
    let a = parse_npy(&encode_npy_f32(&[1, 1, 2], &[0.0, 1.0]), p)?;
    assert_eq!(a.iter().copied().collect::<Vec<_>>(), vec![0.0, 1.0]);
    // f8, versions 2 and 3.
    let f8: Vec<u8> = [0.25f64, 0.75]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    for v in [2, 3] {
        let a = parse_npy(&npy(v, "<f8", "(1, 1, 2)", &f8), p)?;
        assert_eq!(a[[0, 0, 1]], 0.75);
    }
    // Integers with a scale; a single byte has no byte order, so '>u1' and '|u1' both read.
    for descr in ["|u1", "<u1", ">u1"] {
        let a = parse_npy_scaled(&npy(1, descr, "(1, 1, 3)", &[0, 51, 255]), p, 255.0)?;
        assert_eq!(a.iter().copied().collect::<Vec<_>>(), vec![0.0, 0.2, 1.0]);
    }
    let i2: Vec<u8> = [0i16, 1000].iter().flat_map(|v| v.to_le_bytes()).collect();
    let a = parse_npy_scaled(&npy(1, "<i2", "(2,)", &i2), p, 1000.0)?;
    assert_eq!(a[[1]], 1.0);
    // A float array may be scaled too.
    let f4 = encode_npy_f32(&[1, 1, 2], &[0.0, 255.0]);
    assert_eq!(parse_npy_scaled(&f4, p, 255.0)?[[0, 0, 1]], 1.0);
    // The file reader, for the user's uint8 case.
    let dir = tempfile::tempdir()?;
    let path = write(
        dir.path(),
        "u8.npy",
        &npy(1, "|u1", "(2, 1, 2)", &[0, 255, 255, 0]),
    )?;
    let x = read_npy_images_scaled(&path, 255.0)?;
    assert_eq!(x.dim(), (2, 1, 2));
    assert!((x.mean().unwrap_or(0.0) - 0.5).abs() < 1e-6);
    Ok(())
}

#[test]
fn pgm_edges_are_accepted() -> Result<()> {
    let p = Path::new("mem.pgm");
    // A pixel equal to maxval is 1; 16-bit; comments anywhere in the header; maxval 65535.
    let mut p5 = b"P5\n# c\n2 # w\n1\n100\n".to_vec();
    p5.extend_from_slice(&[100, 0]);
    assert_eq!(
        parse_pgm(&p5, p)?.iter().copied().collect::<Vec<_>>(),
        vec![1.0, 0.0]
    );
    let mut p16 = b"P5 1 1 65535\n".to_vec();
    p16.extend_from_slice(&[0xff, 0xff]);
    assert_eq!(parse_pgm(&p16, p)?[[0, 0]], 1.0);
    assert_eq!(parse_pgm(b"P2 1 2 1\n1\n0", p)?.dim(), (2, 1));
    // Trailing bytes after the P5 payload are allowed (multi-image files).
    let mut extra = b"P5 1 1 255\n".to_vec();
    extra.extend_from_slice(&[255, 9, 9]);
    assert_eq!(parse_pgm(&extra, p)?[[0, 0]], 1.0);
    Ok(())
}

fn p5(w: usize, h: usize, v: u8) -> Vec<u8> {
    let mut b = format!("P5\n{w} {h}\n255\n").into_bytes();
    b.extend(std::iter::repeat_n(v, w * h));
    b
}

#[test]
fn pgm_folders_and_file_lists_stack() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    write(d, "faces/b.pgm", &p5(3, 2, 255))?;
    write(d, "faces/a.pgm", &p5(3, 2, 0))?;
    write(d, "faces/notes.txt", b"skipped")?;
    let x = read_pgm_folder(d.join("faces"))?;
    assert_eq!(x.dim(), (2, 2, 3));
    assert_eq!(
        (x[[0, 0, 0]], x[[1, 0, 0]]),
        (0.0, 1.0),
        "sorted by file name"
    );
    let y = read_pgm_files(&[d.join("faces/b.pgm"), d.join("faces/a.pgm")])?;
    assert_eq!(
        (y[[0, 0, 0]], y[[1, 0, 0]]),
        (1.0, 0.0),
        "in the order given"
    );
    Ok(())
}

#[test]
fn idx_gzip_and_labels_read() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let raw = encode_idx(&[2, 2, 2], &[0, 255, 0, 255, 0, 0, 255, 255]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw)?;
    let x = read_idx_images(write(dir.path(), "x.idx.gz", &gz.finish()?)?)?;
    assert_eq!((x.dim(), x[[0, 0, 1]]), ((2, 2, 2), 1.0));
    let l = read_idx_labels(write(dir.path(), "l.idx", &encode_idx(&[3], &[1, 2, 3]))?)?;
    assert_eq!(l, vec![1, 2, 3]);
    Ok(())
}

#[test]
fn folders_with_a_limit_and_sizes_within_the_cap_read() -> Result<()> {
    let dir = tempfile::tempdir()?;
    for name in ["a.png", "b.png"] {
        image::RgbImage::from_pixel(20, 30, image::Rgb([255, 255, 255]))
            .save(dir.path().join(name))?;
    }
    let cfg = FolderConfig {
        size: 8,
        crop: CropMode::Center,
        limit: Some(1),
    };
    let x = read_folder(dir.path(), &cfg)?;
    assert_eq!(x.dim(), (1, 8, 8));
    assert!(x.iter().all(|&v| (v - 1.0).abs() < 1e-6));

    let imgs = Array3::from_elem((2, 4, 4), 0.5f32);
    assert_eq!(resize_all(&imgs, 8, 2)?.dim(), (2, 8, 2));
    assert_eq!(pad_to(&imgs, 4, 4, 0.0)?, imgs);
    let plane = Array2::from_elem((4, 4), 0.5f32);
    assert_eq!(
        resize_bicubic_checked(plane.view(), 1, 1, false)?.dim(),
        (1, 1)
    );
    Ok(())
}
