//! Cross-module tests of gahb-data (PAPER.md §2; issue 3): splits, dedup, truncated files for every
//! reader, the cache, and the CelebA pipeline on the committed fixture.
//!
//! The fixture `tests/fixtures/celeba/*.jpg` (four 218×178 JPEGs, "CelebA-like" drawn faces; 002 is a
//! slightly brightened copy of 000, a planted near-duplicate) is written by [`write_celeba_fixture`]
//! when the test runs with `GAHB_WRITE_FIXTURES=1`; otherwise the committed files are used.

use std::path::{Path, PathBuf};

use anyhow::Result;
use gahb_data::{
    encode_idx, encode_npy_f32, near_duplicates, prepare_celeba, read_folder, read_idx_images,
    read_npy, read_pgm, read_prepared, remove_near_duplicates, Cache, CelebaConfig, CropMode,
    DatasetMeta, Error, FolderConfig, Prepared, Split,
};
use ndarray::{Array2, Array3};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/celeba")
}

/// Draw a 218×178 RGB "face": background gradient, skin ellipse, two eyes and a mouth.
fn drawn_face(seed: u32, brighten: u8) -> image::RgbImage {
    let f = seed as f32;
    image::RgbImage::from_fn(178, 218, |x, y| {
        let (xf, yf) = (x as f32, y as f32);
        let (cx, cy) = (89.0 + 6.0 * (f * 1.3).sin(), 115.0 + 5.0 * (f * 0.7).cos());
        let (ax, ay) = (45.0 + 4.0 * f, 60.0 - 2.0 * f);
        let inside = ((xf - cx) / ax).powi(2) + ((yf - cy) / ay).powi(2) < 1.0;
        let eye = |ex: f32| ((xf - ex).powi(2) + (yf - (cy - 15.0)).powi(2)) < 36.0;
        let mouth = (yf - (cy + 28.0)).abs() < 3.0 && (xf - cx).abs() < 16.0 + 3.0 * f;
        let base = if eye(cx - 18.0) || eye(cx + 18.0) || mouth {
            [40.0, 30.0, 30.0]
        } else if inside {
            [200.0 - 20.0 * f, 160.0 - 10.0 * f, 130.0]
        } else {
            [
                60.0 + 0.6 * yf + 30.0 * f,
                80.0 + 0.4 * xf,
                150.0 - 25.0 * f,
            ]
        };
        image::Rgb(base.map(|v| (v + brighten as f32).clamp(0.0, 255.0) as u8))
    })
}

/// Write the committed fixture (run once with `GAHB_WRITE_FIXTURES=1`).
fn write_celeba_fixture(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let faces = [
        drawn_face(0, 0),
        drawn_face(1, 0),
        drawn_face(0, 6),
        drawn_face(2, 0),
    ];
    for (i, img) in faces.iter().enumerate() {
        let file = std::fs::File::create(dir.join(format!("{i:06}.jpg")))?;
        let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(file, 80);
        enc.encode_image(img)?;
    }
    Ok(())
}

#[test]
fn celeba_pipeline_on_fixture_removes_the_planted_duplicate() -> Result<()> {
    let dir = fixture_dir();
    if std::env::var("GAHB_WRITE_FIXTURES").as_deref() == Ok("1") {
        write_celeba_fixture(&dir)?;
    }
    let out = prepare_celeba(&dir, &CelebaConfig::default())?;
    assert_eq!(out.n_files, 4);
    assert_eq!(out.removed, vec![2]);
    assert_eq!(out.images.dim(), (3, 80, 80));
    assert!(out.images.iter().all(|v| (0.0..=1.0).contains(v)));
    Ok(())
}

#[test]
fn image_smaller_than_crop_is_named() -> Result<()> {
    let dir = tempfile::tempdir()?;
    image::RgbImage::new(100, 100).save(dir.path().join("small.png"))?;
    let err = prepare_celeba(dir.path(), &CelebaConfig::default()).expect_err("too small");
    let msg = err.to_string();
    assert!(
        matches!(err, Error::ImageTooSmall { .. }) && msg.contains("small.png"),
        "{msg}"
    );
    Ok(())
}

#[test]
fn splits_are_disjoint_nested_and_bounded() -> Result<()> {
    let (total, n_test) = (1000, 100);
    let mut prev: Option<Split> = None;
    for n in [1, 10, 100, 450] {
        let s = Split::new(total, n, n_test)?;
        assert!(
            s.s1.end <= s.test.start && s.test.end <= s.s2.start,
            "{s:?}"
        );
        assert_eq!((s.s1.len(), s.s2.len(), s.test.len()), (n, n, n_test));
        if let Some(p) = prev {
            assert!(p.s1.start == s.s1.start && p.s1.end <= s.s1.end);
            assert!(p.s2.end == s.s2.end && p.s2.start >= s.s2.start);
        }
        // The split description round-trips through JSON.
        assert_eq!(
            serde_json::from_str::<Split>(&serde_json::to_string(&s)?)?,
            s
        );
        prev = Some(s);
    }
    let err = Split::new(total, 451, n_test)
        .expect_err("too large")
        .to_string();
    assert!(err.contains("451") && err.contains("450"), "{err}");
    assert!(Split::new(total, 0, n_test).is_err());
    Ok(())
}

#[test]
fn dedup_removes_planted_near_duplicate_and_keeps_distinct() {
    let a = Array2::from_shape_fn((40, 40), |(i, j)| {
        ((i as f32) * 0.3).sin() * 0.5 + 0.5 + j as f32 * 0.001
    });
    let b = Array2::from_shape_fn((40, 40), |(i, j)| {
        ((j as f32) * 0.2).cos() * 0.5 + 0.5 + i as f32 * 0.002
    });
    // A brightened, contrast-changed copy of `a`: cosine of mean-subtracted thumbnails is 1.
    let a2 = a.mapv(|v| 0.8 * v + 0.1);
    let c = Array2::from_shape_fn((40, 40), |(i, j)| (((i * 7 + j * 13) % 17) as f32) / 17.0);
    let x = ndarray::stack(ndarray::Axis(0), &[a.view(), b.view(), a2.view(), c.view()])
        .expect("same shape");
    assert_eq!(near_duplicates(x.view(), 20, 0.95), vec![2]);
    let (kept, removed) = remove_near_duplicates(&x, 20, 0.95);
    assert_eq!((kept.dim().0, removed.len()), (3, 1));
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    let p = dir.join(name);
    std::fs::write(&p, bytes)?;
    Ok(p)
}

#[test]
fn every_reader_rejects_a_truncated_file() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    // IDX, raw and gzip.
    let idx = encode_idx(&[2, 3, 3], &[7u8; 18]);
    assert_eq!(read_idx_images(write(d, "ok.idx", &idx)?)?.dim(), (2, 3, 3));
    let e = read_idx_images(write(d, "t.idx", &idx[..idx.len() - 3])?).expect_err("truncated");
    assert!(
        e.to_string().contains("t.idx") && e.to_string().contains("18"),
        "{e}"
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &idx[..idx.len() - 1])?;
    assert!(read_idx_images(write(d, "t.idx.gz", &gz.finish()?)?).is_err());
    // PGM.
    let mut pgm = b"P5\n4 2\n255\n".to_vec();
    pgm.extend_from_slice(&[1u8; 8]);
    assert_eq!(read_pgm(write(d, "ok.pgm", &pgm)?)?.dim(), (2, 4));
    assert!(read_pgm(write(d, "t.pgm", &pgm[..pgm.len() - 2])?).is_err());
    // npy.
    let npy = encode_npy_f32(&[2, 2], &[0.0, 0.1, 0.2, 0.3]);
    assert_eq!(read_npy(write(d, "ok.npy", &npy)?)?.shape(), &[2, 2]);
    assert!(read_npy(write(d, "t.npy", &npy[..npy.len() - 4])?).is_err());
    // Image folder: a truncated JPEG and a non-image named .png.
    let jpg = std::fs::read(fixture_dir().join("000000.jpg"))?;
    let f1 = tempfile::tempdir()?;
    write(f1.path(), "a.jpg", &jpg[..jpg.len() / 2])?;
    let cfg = FolderConfig {
        size: 16,
        crop: CropMode::Center,
        limit: None,
    };
    let e = read_folder(f1.path(), &cfg).expect_err("truncated jpeg");
    assert!(e.to_string().contains("a.jpg"), "{e}");
    let f2 = tempfile::tempdir()?;
    write(f2.path(), "b.png", b"not an image")?;
    assert!(read_folder(f2.path(), &cfg).is_err());
    // Missing path.
    let e = read_pgm(d.join("nope.pgm")).expect_err("missing");
    assert!(matches!(e, Error::Missing { .. }), "{e}");
    Ok(())
}

#[test]
fn cache_prepares_once_and_detects_corruption() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cache = Cache::new(dir.path());
    let make = || -> gahb_data::Result<Prepared> {
        Ok(Prepared {
            images: Array3::from_shape_fn((3, 4, 5), |(a, b, c)| {
                (a * 20 + b * 5 + c) as f32 / 60.0
            }),
            meta: DatasetMeta {
                name: "toy".into(),
                source: "test".into(),
                duplicates_removed: 0,
                params: serde_json::json!({"k": 1}),
            },
        })
    };
    let (p1, hit1) = cache.load_or_prepare("toy", "key-1", make)?;
    let (p2, hit2) =
        cache.load_or_prepare("toy", "key-1", || panic!("must come from the cache"))?;
    assert!(!hit1 && hit2);
    assert_eq!(p1, p2);
    // Flip one data byte: the hash check catches it.
    let path = cache.path_for("toy", "key-1");
    let mut bytes = std::fs::read(&path)?;
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&path, &bytes)?;
    assert!(read_prepared(&path).is_err());
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(dir.path())?.count(), 1);
    Ok(())
}

#[test]
fn offline_set_layout_is_read_and_missing_files_are_named() -> Result<()> {
    let raw = tempfile::tempdir()?;
    let dir = raw.path().join("package/data");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("train-images-idx3-ubyte"),
        encode_idx(&[2, 2, 2], &[0, 255, 0, 255, 1, 2, 3, 4]),
    )?;
    let e = gahb_data::load_real(gahb_data::RealSet::Mnist, raw.path()).expect_err("t10k missing");
    assert!(e.to_string().contains("t10k-images-idx3-ubyte"), "{e}");
    std::fs::write(
        dir.join("t10k-images-idx3-ubyte"),
        encode_idx(&[1, 2, 2], &[9, 9, 9, 9]),
    )?;
    let x = gahb_data::load_real(gahb_data::RealSet::Mnist, raw.path())?;
    assert_eq!(x.dim(), (3, 2, 2));
    assert_eq!(x[[0, 0, 1]], 1.0);
    assert!(gahb_data::RealSet::parse("nope").is_err());
    Ok(())
}

#[test]
fn labels_follow_the_images_and_unlabelled_sets_say_so() -> Result<()> {
    use gahb_data::{load_real_labels, RealSet};
    let raw = tempfile::tempdir()?;
    let dir = raw.path().join("package/data");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("train-labels-idx1-ubyte"),
        encode_idx(&[3], &[4, 0, 9]),
    )?;
    let e = load_real_labels(RealSet::Mnist, raw.path()).expect_err("t10k labels missing");
    assert!(e.to_string().contains("t10k-labels-idx1-ubyte"), "{e}");
    std::fs::write(
        dir.join("t10k-labels-idx1-ubyte"),
        encode_idx(&[2], &[7, 1]),
    )?;
    assert_eq!(
        load_real_labels(RealSet::Mnist, raw.path())?,
        vec![4, 0, 9, 7, 1]
    );
    std::fs::write(
        dir.join("t10k-labels-idx1-ubyte"),
        encode_idx(&[2], &[7, 10]),
    )?;
    let e = load_real_labels(RealSet::Mnist, raw.path()).expect_err("label 10 of 10 classes");
    assert!(e.to_string().contains("label 10 of entry 1"), "{e}");
    let e = load_real_labels(RealSet::OrlFaces, raw.path()).expect_err("faces have no labels");
    let text = e.to_string();
    assert!(matches!(e, Error::NoLabels { .. }), "{text}");
    assert!(
        text.contains("`orl-faces`") && !text.contains('\n'),
        "one line naming the set: {text}"
    );
    assert_eq!(
        RealSet::FashionMnist.class_names().map(<[_]>::len),
        Some(10)
    );
    assert_eq!(RealSet::LfwSubset.class_names(), None);
    Ok(())
}

#[test]
fn dedup_does_not_depend_on_thread_count() -> Result<()> {
    let x = Array3::from_shape_fn((40, 20, 20), |(n, i, j)| {
        (((n % 7) * 3 + i * (n % 5 + 1) + j) % 11) as f32 / 11.0
    });
    let run = |t: usize| -> Result<Vec<usize>> {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build()?;
        Ok(pool.install(|| near_duplicates(x.view(), 20, 0.95)))
    };
    let (a, b) = (run(1)?, run(2)?);
    assert_eq!(a, b);
    assert!(
        !a.is_empty(),
        "the pattern repeats every 35 images, so some are duplicates"
    );
    Ok(())
}
