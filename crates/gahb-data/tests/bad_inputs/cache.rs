//! Prepared-dataset cache files (`.gahbds`, issue 13 item 1): every damage a cache file can suffer
//! (a cut, a flipped byte, a foreign file, a header that lies about its shape) is refused by
//! [`read_prepared`], which `Cache::load_or_rebuild` then answers by preparing the set again.

use std::path::Path;

use gahb_data::{check_memory, read_prepared, write_prepared, DatasetMeta, Prepared};
use ndarray::Array3;

use super::{file, many, one, Case, Entry, Outcome};

fn read(p: &Path) -> Outcome {
    read_prepared(p).map(drop)
}

/// A valid cache file of a 2×3×4 set, as `write_prepared` writes it.
fn valid() -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("set.gahbds");
    let p = Prepared {
        images: Array3::from_shape_fn((2, 3, 4), |(a, b, c)| (a * 12 + b * 4 + c) as f32 / 24.0),
        meta: DatasetMeta {
            name: "toy".into(),
            source: "corpus".into(),
            duplicates_removed: 0,
            params: serde_json::json!({}),
        },
    };
    write_prepared(&path, &p).expect("write");
    std::fs::read(&path).expect("read")
}

/// The JSON header of a cache file and the data after it.
fn split(bytes: &[u8]) -> (serde_json::Value, Vec<u8>) {
    let l = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
    let header = serde_json::from_slice(&bytes[12..12 + l]).expect("header");
    (header, bytes[12 + l..].to_vec())
}

/// A cache file with `header` and `data`.
fn join(header: &serde_json::Value, data: &[u8]) -> Vec<u8> {
    let json = serde_json::to_vec(header).expect("json");
    let mut out = b"GAHBDS01".to_vec();
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(data);
    out
}

/// The valid file with its header changed by `edit`.
fn with_header(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let (mut header, data) = split(&valid());
    edit(&mut header);
    join(&header, &data)
}

fn memory_check(_: &Path) -> Outcome {
    check_memory("--size", "1 image of 10^7×10^7", 4 * 10u128.pow(14))
}

const F: &str = "set.gahbds";

pub fn cases() -> Vec<Case> {
    let good = valid();
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    let (_, data) = split(&good);
    let mut long = good.clone();
    long.extend_from_slice(&[0, 0, 0, 0]);
    vec![
        one("cache/empty", F, vec![], read, "bad magic"),
        one(
            "cache/foreign-file",
            F,
            b"\x89PNG\r\n\x1a\n....".to_vec(),
            read,
            "bad magic",
        ),
        one(
            "cache/magic-only",
            F,
            b"GAHBDS01".to_vec(),
            read,
            "bad magic",
        ),
        one(
            "cache/header-cut",
            F,
            good[..20].to_vec(),
            read,
            "header truncated",
        ),
        one(
            "cache/header-length-huge",
            F,
            {
                let mut b = good.clone();
                b[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
                b
            },
            read,
            "header truncated",
        ),
        one(
            "cache/header-not-json",
            F,
            {
                let mut b = b"GAHBDS01".to_vec();
                b.extend_from_slice(&3u32.to_le_bytes());
                b.extend_from_slice(b"{{{");
                b
            },
            read,
            "header:",
        ),
        one(
            "cache/header-unknown-field",
            F,
            with_header(|h| h["colour"] = serde_json::json!(true)),
            read,
            "unknown field `colour`",
        ),
        one(
            "cache/header-no-sha256",
            F,
            with_header(|h| {
                h.as_object_mut().expect("object").remove("sha256");
            }),
            read,
            "missing field `sha256`",
        ),
        one(
            "cache/shape-overflows",
            F,
            with_header(|h| h["shape"] = serde_json::json!([u64::MAX, u64::MAX, 2])),
            read,
            "overflow 64 bits",
        ),
        one(
            "cache/shape-zero",
            F,
            with_header(|h| h["shape"] = serde_json::json!([0, 3, 4])),
            read,
            "is 0",
        ),
        one(
            "cache/shape-lies",
            F,
            with_header(|h| h["shape"] = serde_json::json!([3, 3, 4])),
            read,
            "header says 144 bytes of data, file has 96",
        ),
        one(
            "cache/data-cut",
            F,
            good[..good.len() - 4].to_vec(),
            read,
            "header says 96 bytes of data, file has 92",
        ),
        one(
            "cache/data-too-long",
            F,
            long,
            read,
            "header says 96 bytes of data, file has 100",
        ),
        one("cache/flipped-data-byte", F, flipped, read, "sha256"),
        one(
            "cache/zeroed-data",
            F,
            {
                let (h, _) = split(&good);
                join(&h, &vec![0u8; data.len()])
            },
            read,
            "differs from header",
        ),
        many(
            "cache/a-folder-in-its-place",
            vec![Entry::Dir(F.into())],
            F,
            read,
            F,
            "i/o error",
        ),
        many(
            "cache/missing",
            vec![file("other.gahbds", good.clone())],
            F,
            read,
            F,
            "missing path",
        ),
        many(
            "limits/memory-too-small",
            vec![],
            "",
            memory_check,
            "--size",
            "400000000000000 bytes, more than this machine's",
        ),
    ]
}
