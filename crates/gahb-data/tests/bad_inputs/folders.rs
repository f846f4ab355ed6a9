//! Bad image folders (DATASETS.md §3 and the CelebA pipeline): a file given as a folder, empty
//! folders, folders of non-images, undecodable, truncated or giant PNG and JPEG files, and bad
//! `size` and `limit` settings.

use std::io::Cursor;
use std::path::Path;

use gahb_data::{list_images, prepare_celeba, read_folder, CelebaConfig, CropMode, FolderConfig};

use super::{file, many, Case, Entry, Outcome};

fn cfg(size: usize, limit: Option<usize>) -> FolderConfig {
    FolderConfig {
        size,
        crop: CropMode::Center,
        limit,
    }
}

fn folder(p: &Path) -> Outcome {
    read_folder(p, &cfg(16, None)).map(drop)
}

fn folder_limit_0(p: &Path) -> Outcome {
    read_folder(p, &cfg(16, Some(0))).map(drop)
}

fn folder_size_0(p: &Path) -> Outcome {
    read_folder(p, &cfg(0, None)).map(drop)
}

fn folder_size_huge(p: &Path) -> Outcome {
    read_folder(p, &cfg(100_000, None)).map(drop)
}

fn listing(p: &Path) -> Outcome {
    list_images(p).map(drop)
}

fn celeba(p: &Path) -> Outcome {
    prepare_celeba(p, &CelebaConfig::default()).map(drop)
}

fn celeba_limit_0(p: &Path) -> Outcome {
    let cfg = CelebaConfig {
        limit: Some(0),
        ..CelebaConfig::default()
    };
    prepare_celeba(p, &cfg).map(drop)
}

/// A small gray gradient encoded as `format`.
fn encoded(w: u32, h: u32, format: image::ImageFormat) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 9) as u8, (y * 7) as u8, 99]));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format)
        .expect("invariant: encoding a small image to memory cannot fail");
    out.into_inner()
}

fn png() -> Vec<u8> {
    encoded(20, 20, image::ImageFormat::Png)
}

fn jpeg() -> Vec<u8> {
    encoded(20, 20, image::ImageFormat::Jpeg)
}

/// A valid PNG whose IHDR claims `w × h` (CRC recomputed), so only the decoder's limits stop it.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut b = encoded(1, 1, image::ImageFormat::Png);
    // Signature (8), IHDR length (4), "IHDR" (4), width (4), height (4), 5 more bytes, CRC (4).
    b[16..20].copy_from_slice(&w.to_be_bytes());
    b[20..24].copy_from_slice(&h.to_be_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(&b[12..29]);
    b[29..33].copy_from_slice(&crc.sum().to_be_bytes());
    b
}

pub fn cases() -> Vec<Case> {
    let (p, j) = (png(), jpeg());
    vec![
        many(
            "folder/is-a-file",
            vec![file("img.png", p.clone())],
            "img.png",
            folder,
            "img.png",
            "is a file, not a folder",
        ),
        many(
            "folder/missing",
            vec![],
            "images",
            folder,
            "images",
            "missing path",
        ),
        many(
            "folder/empty",
            vec![Entry::Dir("images".into())],
            "images",
            folder,
            "images",
            "no .png, .jpg or .jpeg files found",
        ),
        many(
            "folder/only-non-images",
            vec![file("images/readme.txt", "x"), file("images/data.npy", "x")],
            "images",
            folder,
            "images",
            "no .png, .jpg or .jpeg files found",
        ),
        many(
            "folder/folder-named-png",
            vec![Entry::Dir("images/sub.png".into())],
            "images",
            folder,
            "images",
            "no .png, .jpg or .jpeg files found",
        ),
        many(
            "folder/dangling-symlink",
            vec![
                Entry::Dir("images".into()),
                Entry::Dangling("images/a.png".into()),
            ],
            "images",
            folder,
            "images",
            "no .png, .jpg or .jpeg files found",
        ),
        many(
            "folder/text-as-png",
            vec![file("images/b.png", "not an image")],
            "images",
            folder,
            "b.png",
            "cannot decode image",
        ),
        many(
            "folder/empty-png",
            vec![file("images/e.png", vec![])],
            "images",
            folder,
            "e.png",
            "cannot decode image",
        ),
        many(
            "folder/png-as-jpg",
            vec![file("images/a.jpg", p[..p.len() / 2].to_vec())],
            "images",
            folder,
            "a.jpg",
            "end-of-image marker is missing",
        ),
        many(
            "folder/truncated-jpeg",
            vec![file("images/t.jpg", j[..j.len() / 2].to_vec())],
            "images",
            folder,
            "t.jpg",
            "end-of-image marker is missing",
        ),
        many(
            "folder/truncated-png",
            vec![file("images/t.png", p[..p.len() / 2].to_vec())],
            "images",
            folder,
            "t.png",
            "end-of-image marker is missing",
        ),
        many(
            "folder/giant-png-header",
            vec![file("images/giant.png", png_claiming(100_000, 100_000))],
            "images",
            folder,
            "giant.png",
            "cannot decode image",
        ),
        many(
            "folder/zero-width-png",
            vec![file("images/zero.png", png_claiming(0, 5))],
            "images",
            folder,
            "zero.png",
            "cannot decode image",
        ),
        many(
            "folder/one-bad-among-good",
            vec![
                file("images/a.png", p.clone()),
                file("images/b.png", "garbage"),
                file("images/c.jpg", j.clone()),
            ],
            "images",
            folder,
            "b.png",
            "cannot decode image",
        ),
        many(
            "folder/limit-0",
            vec![file("images/a.png", p.clone())],
            "images",
            folder_limit_0,
            "limit",
            "limit = 0: must be at least 1",
        ),
        many(
            "folder/size-0",
            vec![file("images/a.png", p.clone())],
            "images",
            folder_size_0,
            "size",
            "size = 0: must be at least 1",
        ),
        many(
            "folder/size-huge",
            vec![file("images/a.png", p.clone())],
            "images",
            folder_size_huge,
            "read_folder",
            "output 1×100000×100000 would need 40000000000 bytes (n·h·w·4)",
        ),
        many(
            "list-images/is-a-file",
            vec![file("a.jpg", j.clone())],
            "a.jpg",
            listing,
            "a.jpg",
            "is a file, not a folder",
        ),
        many(
            "celeba/is-a-file",
            vec![file("a.jpg", j.clone())],
            "a.jpg",
            celeba,
            "a.jpg",
            "is a file, not a folder",
        ),
        many(
            "celeba/limit-0",
            vec![file("celeba/a.jpg", j.clone())],
            "celeba",
            celeba_limit_0,
            "limit",
            "limit = 0: must be at least 1",
        ),
        many(
            "celeba/too-small",
            vec![file("celeba/a.jpg", j)],
            "celeba",
            celeba,
            "a.jpg",
            "smaller than the 189×169 crop",
        ),
    ]
}
