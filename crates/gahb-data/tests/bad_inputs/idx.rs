//! Bad IDX files (the MNIST format): short and wrong headers, zero and giant sizes, wrong lengths,
//! damaged gzip streams, and paths that are not files.

use std::io::Write;
use std::path::Path;

use gahb_data::{read_idx, read_idx_images, read_idx_labels};

use super::{many, one, Case, Entry, Outcome};

fn images(p: &Path) -> Outcome {
    read_idx_images(p).map(drop)
}

fn labels(p: &Path) -> Outcome {
    read_idx_labels(p).map(drop)
}

fn any(p: &Path) -> Outcome {
    read_idx(p).map(drop)
}

/// An IDX file: magic `00 00 ty nd`, big-endian sizes, then `data`.
fn idx(ty: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, ty, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes)
        .expect("invariant: writing to a Vec cannot fail");
    enc.finish()
        .expect("invariant: writing to a Vec cannot fail")
}

pub fn cases() -> Vec<Case> {
    let ok = idx(8, &[2, 3, 3], &[7; 18]);
    let big = 65535u64.pow(3);
    let mut bomb = idx(8, &[1, 10, 10], &[]);
    bomb.extend(std::iter::repeat_n(0u8, 4 << 20));
    let gz_ok = gz(&ok);
    vec![
        one(
            "idx/empty",
            "empty.idx",
            vec![],
            images,
            "header says 4 bytes of data, file has 0",
        ),
        one(
            "idx/three-bytes",
            "three.idx",
            vec![0, 0, 8],
            images,
            "file has 3",
        ),
        one(
            "idx/wrong-magic",
            "magic.idx",
            idx(8, &[1, 1, 1], &[0]).iter().map(|b| b ^ 0x55).collect(),
            images,
            "two zero bytes",
        ),
        one(
            "idx/png-bytes",
            "png.idx",
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(),
            images,
            "two zero bytes",
        ),
        one(
            "idx/type-signed-byte",
            "i8.idx",
            idx(0x09, &[1, 2, 2], &[0; 4]),
            images,
            "type 0x09 unsupported",
        ),
        one(
            "idx/type-float",
            "f32.idx",
            idx(0x0d, &[1, 1, 1], &[0; 4]),
            images,
            "type 0x0d unsupported",
        ),
        one(
            "idx/zero-ndim",
            "ndim0.idx",
            idx(8, &[], &[1, 2, 3]),
            images,
            "0 dimensions",
        ),
        one(
            "idx/header-cut",
            "cut.idx",
            idx(8, &[2, 3, 3], &[])[..9].to_vec(),
            images,
            "header says 16 bytes of data, file has 9",
        ),
        one(
            "idx/zero-n",
            "zero-n.idx",
            idx(8, &[0, 28, 28], &[]),
            images,
            "dimension 0 (n) is 0",
        ),
        one(
            "idx/zero-height",
            "zero-height.idx",
            idx(8, &[2, 0, 3], &[]),
            images,
            "dimension 1 (height) is 0",
        ),
        one(
            "idx/zero-width",
            "zero-width.idx",
            idx(8, &[2, 3, 0], &[]),
            images,
            "dimension 2 (width) is 0",
        ),
        one(
            "idx/zero-labels",
            "zero-labels.idx",
            idx(8, &[0], &[]),
            labels,
            "dimension 0 is 0",
        ),
        one(
            "idx/payload-short",
            "short.idx",
            ok[..ok.len() - 1].to_vec(),
            images,
            "header says 18 bytes of data, file has 17",
        ),
        one(
            "idx/payload-long",
            "long.idx",
            [ok.clone(), vec![0]].concat(),
            images,
            "header says 18 bytes of data, file has 19",
        ),
        one(
            "idx/giant-dims",
            "giant.idx",
            idx(8, &[65535; 3], &[1, 2, 3]),
            images,
            format!("header says {big} bytes of data, file has 3"),
        ),
        one(
            "idx/u32-max-dims",
            "u32max.idx",
            idx(8, &[u32::MAX; 3], &[]),
            images,
            "overflow 64 bits",
        ),
        one(
            "idx/eight-max-dims",
            "eight.idx",
            idx(8, &[u32::MAX; 8], &[]),
            any,
            "overflow 64 bits",
        ),
        one(
            "idx/rank-2-as-images",
            "rank2.idx",
            idx(8, &[3, 3], &[0; 9]),
            images,
            "expected 3 dimensions",
        ),
        one(
            "idx/rank-4-as-images",
            "rank4.idx",
            idx(8, &[1, 1, 2, 2], &[0; 4]),
            images,
            "expected 3 dimensions",
        ),
        one(
            "idx/images-as-labels",
            "imgs-as-labels.idx",
            ok.clone(),
            labels,
            "expected 1 dimension",
        ),
        one(
            "idx/labels-as-images",
            "labels-as-imgs.idx",
            idx(8, &[4], &[1, 2, 3, 4]),
            images,
            "expected 3 dimensions",
        ),
        one(
            "idx/gzip-cut-stream",
            "cut.idx.gz",
            gz_ok[..gz_ok.len() / 2].to_vec(),
            images,
            "gzip stream",
        ),
        one(
            "idx/gzip-payload-short",
            "short.idx.gz",
            gz(&ok[..ok.len() - 1]),
            images,
            "header says 18 bytes of data, file has 17",
        ),
        one(
            "idx/gzip-giant-dims",
            "giant.idx.gz",
            gz(&idx(8, &[65535; 3], &[0; 64])),
            images,
            format!("header says {big} bytes of data, file has 64"),
        ),
        one(
            "idx/gzip-bomb",
            "bomb.idx.gz",
            gz(&bomb),
            images,
            "header says 100 bytes of data, file has 101",
        ),
        one(
            "idx/gzip-garbage",
            "garbage.idx.gz",
            b"\x1f\x8bnot a gzip stream at all".to_vec(),
            images,
            "gzip stream",
        ),
        one(
            "idx/gzip-header-cut",
            "hcut.idx.gz",
            gz(&ok[..6]),
            images,
            "header says 16 bytes of data, file has 6",
        ),
        many(
            "idx/missing",
            vec![],
            "missing.idx",
            images,
            "missing.idx",
            "missing path",
        ),
        many(
            "idx/directory",
            vec![Entry::Dir("dir.idx".into())],
            "dir.idx",
            images,
            "dir.idx",
            "i/o error",
        ),
        many(
            "idx/dangling-symlink",
            vec![Entry::Dangling("link.idx".into())],
            "link.idx",
            images,
            "link.idx",
            "missing path",
        ),
    ]
}
