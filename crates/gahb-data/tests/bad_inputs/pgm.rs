//! Bad PGM files (the ORL faces format) and PGM folders: wrong magic, broken headers, zero and giant
//! sizes, maxval out of range, pixels above maxval, short payloads, and a file of another size in a
//! folder.

use std::path::{Path, PathBuf};

use gahb_data::{read_pgm, read_pgm_files, read_pgm_folder};

use super::{file, many, one, Case, Entry, Outcome};

fn pgm(p: &Path) -> Outcome {
    read_pgm(p).map(drop)
}

fn folder(p: &Path) -> Outcome {
    read_pgm_folder(p).map(drop)
}

fn no_files(_: &Path) -> Outcome {
    read_pgm_files::<PathBuf>(&[]).map(drop)
}

/// A P5 file: header then raw bytes.
fn p5(header: &str, data: &[u8]) -> Vec<u8> {
    [header.as_bytes(), data].concat()
}

/// A valid 8-bit P5 image of `w × h`.
fn valid(w: usize, h: usize) -> Vec<u8> {
    p5(&format!("P5\n{w} {h}\n255\n"), &vec![128; w * h])
}

pub fn cases() -> Vec<Case> {
    vec![
        one("pgm/empty", "empty.pgm", vec![], pgm, "no P5 or P2 magic"),
        one(
            "pgm/ppm-p6",
            "colour.pgm",
            p5("P6\n1 1\n255\n", &[1, 2, 3]),
            pgm,
            "\"P6\" unsupported",
        ),
        one(
            "pgm/bitmap-p1",
            "bitmap.pgm",
            b"P1\n2 1\n0 1\n".to_vec(),
            pgm,
            "\"P1\" unsupported",
        ),
        one(
            "pgm/png-bytes",
            "png.pgm",
            b"\x89PNG\r\n\x1a\n".to_vec(),
            pgm,
            "no P5 or P2 magic",
        ),
        one(
            "pgm/header-ends-early",
            "early.pgm",
            b"P5\n3 2".to_vec(),
            pgm,
            "ends after 3 of its 4 fields",
        ),
        one(
            "pgm/comment-never-ends",
            "comment.pgm",
            b"P5\n# a comment without end".to_vec(),
            pgm,
            "ends after 1 of its 4 fields",
        ),
        one(
            "pgm/width-not-number",
            "w-text.pgm",
            p5("P5\nx 2\n255\n", &[0; 4]),
            pgm,
            "width \"x\" is not a whole number",
        ),
        one(
            "pgm/negative-width",
            "w-neg.pgm",
            p5("P5\n-3 2\n255\n", &[0; 6]),
            pgm,
            "width \"-3\"",
        ),
        one(
            "pgm/width-above-u64",
            "w-huge.pgm",
            p5("P5\n99999999999999999999 2\n255\n", &[0; 4]),
            pgm,
            "below 2^64",
        ),
        one(
            "pgm/zero-width",
            "w-zero.pgm",
            p5("P5\n0 2\n255\n", &[]),
            pgm,
            "dimension 1 (width) is 0",
        ),
        one(
            "pgm/zero-height",
            "h-zero.pgm",
            p5("P5\n2 0\n255\n", &[]),
            pgm,
            "dimension 0 (height) is 0",
        ),
        one(
            "pgm/p2-zero-height",
            "p2-h-zero.pgm",
            b"P2\n2 0\n255\n".to_vec(),
            pgm,
            "dimension 0 (height) is 0",
        ),
        one(
            "pgm/maxval-zero",
            "max0.pgm",
            p5("P5\n2 2\n0\n", &[0; 4]),
            pgm,
            "maxval 0 invalid",
        ),
        one(
            "pgm/maxval-70000",
            "max70000.pgm",
            p5("P5\n2 2\n70000\n", &[0; 8]),
            pgm,
            "maxval 70000 invalid",
        ),
        one(
            "pgm/maxval-not-number",
            "max-text.pgm",
            p5("P5\n2 2\nabc\n", &[0; 4]),
            pgm,
            "maxval \"abc\"",
        ),
        one(
            "pgm/p5-payload-short",
            "short.pgm",
            p5("P5\n4 2\n255\n", &[1; 7]),
            pgm,
            "header says 8 bytes of data, file has 7",
        ),
        one(
            "pgm/p5-16bit-short",
            "short16.pgm",
            p5("P5\n2 2\n1000\n", &[0; 7]),
            pgm,
            "header says 8 bytes of data, file has 7",
        ),
        one(
            "pgm/p5-no-payload",
            "nopayload.pgm",
            b"P5\n2 2\n255".to_vec(),
            pgm,
            "file has 0",
        ),
        one(
            "pgm/p5-above-maxval",
            "above.pgm",
            p5("P5\n3 2\n100\n", &[0, 50, 200, 100, 101, 7]),
            pgm,
            "pixel value 200 at [row 0, col 2] exceeds the header's maxval 100 (2 pixel(s)",
        ),
        one(
            "pgm/p5-16bit-above-maxval",
            "above16.pgm",
            p5("P5\n2 1\n1000\n", &[0xea, 0x60, 0, 5]),
            pgm,
            "pixel value 60000 at [row 0, col 0] exceeds the header's maxval 1000",
        ),
        one(
            "pgm/p2-above-maxval",
            "p2-above.pgm",
            b"P2\n2 2\n15\n1 2\n16 3\n".to_vec(),
            pgm,
            "pixel value 16 at [row 1, col 0] exceeds the header's maxval 15",
        ),
        one(
            "pgm/p2-pixel-not-number",
            "p2-text.pgm",
            b"P2\n2 1\n255\n1 x\n".to_vec(),
            pgm,
            "pixel \"x\"",
        ),
        one(
            "pgm/p2-negative-pixel",
            "p2-neg.pgm",
            b"P2\n2 1\n255\n1 -2\n".to_vec(),
            pgm,
            "pixel \"-2\"",
        ),
        one(
            "pgm/p2-too-few-pixels",
            "p2-few.pgm",
            b"P2\n3 2\n255\n10 20 30 40\n".to_vec(),
            pgm,
            "P2 data has 4 pixels, the 3×2 header needs 6",
        ),
        one(
            "pgm/p2-giant-dims",
            "p2-giant.pgm",
            b"P2\n100000 100000\n255\n1 2 3\n".to_vec(),
            pgm,
            "header says 19999999999 bytes of data, file has 7",
        ),
        one(
            "pgm/p5-giant-dims",
            "giant.pgm",
            p5("P5\n4000000000 4000000000\n255\n", &[0, 0]),
            pgm,
            "header says 16000000000000000000 bytes of data, file has 2",
        ),
        one(
            "pgm/p5-overflow-dims",
            "overflow.pgm",
            p5("P5\n18446744073709551615 2\n255\n", &[0]),
            pgm,
            "overflow 64 bits",
        ),
        one(
            "pgm/p5-16bit-overflow",
            "overflow16.pgm",
            p5("P5\n4294967296 4294967296\n65535\n", &[0]),
            pgm,
            "overflow 64 bits",
        ),
        many(
            "pgm/missing",
            vec![],
            "missing.pgm",
            pgm,
            "missing.pgm",
            "missing path",
        ),
        many(
            "pgm/directory",
            vec![Entry::Dir("dir.pgm".into())],
            "dir.pgm",
            pgm,
            "dir.pgm",
            "i/o error",
        ),
        many(
            "pgm-folder/wrong-size",
            vec![
                file("faces/a.pgm", valid(2, 2)),
                file("faces/b.pgm", valid(2, 2)),
                file("faces/c.pgm", valid(3, 2)),
            ],
            "faces",
            folder,
            "c.pgm",
            "shape 2×3 differs from the dataset's 2×2 (of ",
        ),
        many(
            "pgm-folder/empty",
            vec![Entry::Dir("faces".into())],
            "faces",
            folder,
            "faces",
            "no .pgm files found",
        ),
        many(
            "pgm-folder/only-text",
            vec![file("faces/readme.txt", "faces")],
            "faces",
            folder,
            "faces",
            "no .pgm files found",
        ),
        many(
            "pgm-folder/is-a-file",
            vec![file("faces.pgm", valid(2, 2))],
            "faces.pgm",
            folder,
            "faces.pgm",
            "is a file, not a folder",
        ),
        many(
            "pgm-folder/missing",
            vec![],
            "faces",
            folder,
            "faces",
            "missing path",
        ),
        many(
            "pgm-folder/one-bad-file",
            vec![
                file("faces/a.pgm", valid(2, 2)),
                file("faces/b.pgm", p5("P5\n2 2\n9\n", &[1, 2, 3, 10])),
            ],
            "faces",
            folder,
            "b.pgm",
            "pixel value 10",
        ),
        many(
            "pgm-files/empty-list",
            vec![],
            "",
            no_files,
            "files",
            "must name at least one",
        ),
    ]
}
