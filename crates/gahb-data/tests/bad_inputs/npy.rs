//! Bad `.npy` files (the LFW subset format): wrong magic and versions, broken headers, unsupported
//! dtypes (big-endian, complex, bool, text), Fortran order, integers without a scale, NaN, infinities,
//! values outside `[0, 1]`, zero and giant shapes, wrong lengths and wrong ranks.

use std::path::Path;

use gahb_data::{read_npy, read_npy_images, read_npy_images_scaled};

use super::{file, many, one, Case, Entry, Outcome};

fn images(p: &Path) -> Outcome {
    read_npy_images(p).map(drop)
}

fn any(p: &Path) -> Outcome {
    read_npy(p).map(drop)
}

fn scaled_1(p: &Path) -> Outcome {
    read_npy_images_scaled(p, 1.0).map(drop)
}

fn scaled_255(p: &Path) -> Outcome {
    read_npy_images_scaled(p, 255.0).map(drop)
}

fn scaled_0(p: &Path) -> Outcome {
    read_npy_images_scaled(p, 0.0).map(drop)
}

fn scaled_nan(p: &Path) -> Outcome {
    read_npy_images_scaled(p, f64::NAN).map(drop)
}

fn scaled_neg(p: &Path) -> Outcome {
    read_npy_images_scaled(p, -255.0).map(drop)
}

/// A `.npy` file of `version` with header dict `dict` (padded to 64 bytes) and raw `data`.
fn npy_v(version: u8, dict: &str, data: &[u8]) -> Vec<u8> {
    let pre = if version == 1 { 10 } else { 12 };
    let mut header = dict.to_string();
    while !(pre + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// The usual header dict.
fn dict(descr: &str, fortran: &str, shape: &str) -> String {
    format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}")
}

/// A version-1 C-order file.
fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    npy_v(1, &dict(descr, "False", shape), data)
}

fn f4(vals: &[f32]) -> Vec<u8> {
    vals.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn f8(vals: &[f64]) -> Vec<u8> {
    vals.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub fn cases() -> Vec<Case> {
    let ok12 = f4(&[0.5; 12]);
    let mut nan = vec![0.5f32; 12];
    nan[8] = f32::NAN;
    nan[11] = f32::NAN;
    let mut inf = vec![0.5f32; 12];
    inf[1] = f32::INFINITY;
    let mut ninf = vec![0.5f64; 12];
    ninf[5] = f64::NEG_INFINITY;
    let bytes255: Vec<f32> = (0..12).map(|i| (i * 23) as f32).collect();
    let long_header = npy("<f4", "(2, 2, 3)", &ok12);
    vec![
        one("npy/empty", "empty.npy", vec![], images, "\\x93NUMPY magic"),
        one("npy/pgm-bytes", "pgm.npy", b"P5\n1 1\n255\n\0".to_vec(), images, "\\x93NUMPY magic"),
        one("npy/magic-only", "magic.npy", b"\x93NUMPY".to_vec(), images, "header says 12 bytes of data, file has 6"),
        one("npy/v1-preamble-cut", "pre1.npy", b"\x93NUMPY\x01\x00\x76".to_vec(), images, "header says 10 bytes of data, file has 9"),
        one("npy/v2-preamble-cut", "pre2.npy", b"\x93NUMPY\x02\x00\x76\x00\x00".to_vec(), images, "header says 12 bytes of data, file has 11"),
        one("npy/version-4", "v4.npy", npy_v(2, &dict("<f4", "False", "(1, 1, 1)"), &f4(&[0.5])).into_iter().enumerate().map(|(i, b)| if i == 6 { 4 } else { b }).collect(), images, "npy version 4 unsupported"),
        one("npy/header-cut", "hcut.npy", long_header[..40].to_vec(), images, "header says 128 bytes of data, file has 40"),
        one("npy/header-not-text", "binary.npy", npy_v(1, "{'descr': '<f4', ~~", &[]).into_iter().map(|b| if b == b'~' { 0xff } else { b }).collect(), images, "header is not text"),
        one("npy/no-descr", "nodescr.npy", npy_v(1, "{'fortran_order': False, 'shape': (1, 1, 1), }", &f4(&[0.5])), images, "lacks 'descr'"),
        one("npy/no-fortran-order", "nofortran.npy", npy_v(1, "{'descr': '<f4', 'shape': (1, 1, 1), }", &f4(&[0.5])), images, "lacks 'fortran_order'"),
        one("npy/no-shape", "noshape.npy", npy_v(1, "{'descr': '<f4', 'fortran_order': False, }", &f4(&[0.5])), images, "lacks 'shape'"),
        one("npy/descr-unquoted", "unquoted.npy", npy_v(1, "{'descr': <f4, 'fortran_order': False, 'shape': (1, 1, 1), }", &f4(&[0.5])), images, "not a quoted dtype"),
        one("npy/shape-list", "shapelist.npy", npy("<f4", "[1, 1, 1]", &f4(&[0.5])), images, "shape is not a tuple"),
        one("npy/shape-text", "shapetext.npy", npy("<f4", "('a', 1, 1)", &f4(&[0.5])), images, "shape entry \"'a'\""),
        one("npy/shape-negative", "shapeneg.npy", npy("<f4", "(-1, 1, 1)", &f4(&[0.5])), images, "shape entry \"-1\""),
        one("npy/shape-above-u64", "shapehuge.npy", npy("<f4", "(99999999999999999999,)", &[]), any, "below 2^64"),
        one("npy/fortran-order", "fortran.npy", npy_v(1, &dict("<f4", "True", "(2, 2, 3)"), &ok12), images, "Fortran order"),
        one("npy/fortran-order-garbage", "fortran0.npy", npy_v(1, &dict("<f4", "0", "(2, 2, 3)"), &ok12), images, "neither True nor False"),
        one("npy/big-endian-f4", "be4.npy", npy(">f4", "(2, 2, 3)", &ok12), images, "big-endian"),
        one("npy/big-endian-f8", "be8.npy", npy(">f8", "(1, 1, 1)", &f8(&[0.5])), images, "big-endian"),
        one("npy/big-endian-u2", "beu2.npy", npy(">u2", "(1, 1, 1)", &[0, 1]), scaled_255, "big-endian"),
        one("npy/complex", "complex.npy", npy("<c8", "(1, 1, 1)", &[0; 8]), images, "\"<c8\" unsupported"),
        one("npy/bool", "bool.npy", npy("|b1", "(1, 1, 1)", &[1]), images, "\"|b1\" unsupported"),
        one("npy/unicode", "text.npy", npy("<U10", "(1,)", &[0; 40]), any, "\"<U10\" unsupported"),
        one("npy/object", "object.npy", npy("|O", "(1,)", &[0; 8]), any, "\"|O\" unsupported"),
        one("npy/float16", "half.npy", npy("<f2", "(1, 1, 1)", &[0, 0x38]), images, "\"<f2\" unsupported"),
        one("npy/u1-without-scale", "u1.npy", npy("|u1", "(1, 2, 2)", &[0, 64, 128, 255]), images, "dtype |u1 holds integers: read it with read_npy_images_scaled(path, scale), e.g. scale 255"),
        one("npy/u2-without-scale", "u2.npy", npy("<u2", "(1, 1, 2)", &[0, 1, 0, 2]), images, "dtype <u2 holds integers"),
        one("npy/i4-without-scale", "i4.npy", npy("<i4", "(1, 1, 1)", &[1, 0, 0, 0]), images, "dtype <i4 holds integers"),
        one("npy/u1-v3-any-rank", "u1v3.npy", npy_v(3, &dict("|u1", "False", "(4,)"), &[1, 2, 3, 4]), any, "dtype |u1 holds integers"),
        one("npy/u1-scale-1", "u1s1.npy", npy("|u1", "(1, 2, 2)", &[0, 1, 128, 255]), scaled_1, "2 value(s) outside [0, 1] (min 0.0, max 255.0)"),
        one("npy/u2-scale-255", "u2s255.npy", npy("<u2", "(1, 1, 2)", &[0, 0, 0xff, 0xff]), scaled_255, "max 257.0"),
        one("npy/i2-negative-scaled", "i2neg.npy", npy("<i2", "(1, 1, 2)", &(-51i16).to_le_bytes().into_iter().chain([0, 0]).collect::<Vec<_>>()), scaled_255, "min -0.2, max 0.0"),
        many("npy/scale-zero", vec![file("scale0.npy", npy("|u1", "(1, 1, 1)", &[1]))], "scale0.npy", scaled_0, "scale", "scale = 0"),
        many("npy/scale-nan", vec![file("scalenan.npy", npy("|u1", "(1, 1, 1)", &[1]))], "scalenan.npy", scaled_nan, "scale", "scale = NaN"),
        many("npy/scale-negative", vec![file("scaleneg.npy", npy("|u1", "(1, 1, 1)", &[1]))], "scaleneg.npy", scaled_neg, "scale", "scale = -255"),
        one("npy/f4-nan", "nan.npy", npy("<f4", "(2, 2, 3)", &f4(&nan)), images, "2 NaN or infinite value(s), the first (NaN) at index [1, 0, 2] (flat 8)"),
        one("npy/f4-inf", "inf.npy", npy("<f4", "(2, 2, 3)", &f4(&inf)), images, "the first (inf) at index [0, 0, 1] (flat 1)"),
        one("npy/f8-neg-inf", "ninf.npy", npy("<f8", "(2, 2, 3)", &f8(&ninf)), images, "the first (-inf) at index [0, 1, 2] (flat 5)"),
        one("npy/f4-nan-any-rank", "nan1d.npy", npy("<f4", "(3,)", &f4(&[0.0, f32::NAN, 1.0])), any, "at index [1] (flat 1)"),
        one("npy/f4-0-to-255", "u8-as-float.npy", npy("<f4", "(2, 2, 3)", &f4(&bytes255)), images, "11 value(s) outside [0, 1] (min 0.0, max 253.0): rescale the array to [0, 1] or read it with read_npy_images_scaled(path, 255)"),
        one("npy/f8-negative", "neg.npy", npy("<f8", "(1, 1, 2)", &f8(&[-0.5, 0.5])), images, "1 value(s) outside [0, 1] (min -0.5, max 0.5)"),
        one("npy/f8-1e300", "huge.npy", npy("<f8", "(1, 1, 2)", &f8(&[1e300, 0.5])), images, "max 1e300"),
        one("npy/f4-just-above-1", "above1.npy", npy("<f4", "(1, 1, 2)", &f4(&[1.0001, 0.5])), images, "1 value(s) outside [0, 1]"),
        one("npy/zero-n", "zero-n.npy", npy("<f4", "(0, 25, 25)", &[]), images, "dimension 0 is 0 (shape [0, 25, 25])"),
        one("npy/zero-width", "zero-w.npy", npy("<f4", "(2, 3, 0)", &[]), images, "dimension 2 is 0"),
        one("npy/giant-shape", "giant.npy", npy("<f4", "(100000, 100000, 100000)", &[]), images, "header says 4000000000000000 bytes of data, file has 0"),
        one("npy/overflow-shape", "overflow.npy", npy("<f8", "(1099511627776, 1099511627776, 1099511627776)", &[]), images, "overflow 64 bits"),
        one("npy/data-short", "short.npy", npy("<f4", "(2, 2, 3)", &ok12[..44]), images, "header says 48 bytes of data, file has 44"),
        one("npy/data-long", "long.npy", npy("<f4", "(2, 2, 3)", &[ok12.clone(), vec![0; 4]].concat()), images, "header says 48 bytes of data, file has 52"),
        one("npy/rank-2", "rank2.npy", npy("<f4", "(3, 4)", &ok12), images, "expected 3 dimensions [n, h, w], got shape [3, 4]"),
        one("npy/rank-4", "rank4.npy", npy("<f4", "(1, 2, 2, 3)", &ok12), images, "got shape [1, 2, 2, 3]"),
        one("npy/scalar", "scalar.npy", npy("<f4", "()", &f4(&[0.5])), images, "got shape []"),
        many("npy/missing", vec![], "missing.npy", images, "missing.npy", "missing path"),
        many("npy/directory", vec![Entry::Dir("dir.npy".into())], "dir.npy", images, "dir.npy", "i/o error"),
    ]
}
