//! The prepared-dataset cache (DATASETS.md; issue 3): one file per prepared dataset, so that preparing
//! twice costs nothing.
//!
//! # File format (`.gahbds`, version 1)
//! ```text
//! offset 0   8 bytes   magic b"GAHBDS01"
//! offset 8   u32 LE    L, the length of the JSON header
//! offset 12  L bytes   JSON header: {"shape": [n, h, w], "sha256": "<hex of the data bytes>",
//!                      "meta": DatasetMeta}
//! offset 12+L          n·h·w f32 little-endian, row-major [n, h, w]
//! ```
//! A file is written to `<name>.tmp.<pid>` and renamed into place only when complete, so an
//! interrupted preparation leaves nothing under the final name. Reading checks the magic, the length
//! and the sha256 of the data.

use std::path::{Path, PathBuf};

use ndarray::Array3;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"GAHBDS01";

/// What a prepared dataset is; saved in the cache header and in run reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetMeta {
    /// Dataset name (for example `fashion-mnist`, `celeba`).
    pub name: String,
    /// Where it came from (a recipe name, a folder, a generator config), free text.
    pub source: String,
    /// Images removed as near-duplicates.
    pub duplicates_removed: usize,
    /// Preprocessing parameters, as JSON.
    pub params: serde_json::Value,
}

/// A prepared dataset: images `[n, h, w]` in `[0, 1]` and their description.
#[derive(Clone, Debug, PartialEq)]
pub struct Prepared {
    /// The images.
    pub images: Array3<f32>,
    /// Their description.
    pub meta: DatasetMeta,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    shape: [usize; 3],
    sha256: String,
    meta: DatasetMeta,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn data_bytes(x: &Array3<f32>) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len() * 4);
    for v in x.iter() {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Write `p` to `path` atomically (temporary name, then rename).
pub fn write_prepared(path: &Path, p: &Prepared) -> Result<()> {
    let data = data_bytes(&p.images);
    let (n, h, w) = p.images.dim();
    let header = Header {
        shape: [n, h, w],
        sha256: hex(&Sha256::digest(&data)),
        meta: p.meta.clone(),
    };
    let json = serde_json::to_vec(&header).map_err(|e| Error::format(path, e.to_string()))?;
    let mut buf = Vec::with_capacity(12 + json.len() + data.len());
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(&(json.len() as u32).to_le_bytes());
    buf.extend_from_slice(&json);
    buf.extend_from_slice(&data);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, &buf).map_err(|e| Error::io(&tmp, e))?;
    crate::fault::point("data:before-rename");
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Read and verify a cache file.
pub fn read_prepared(path: &Path) -> Result<Prepared> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let corrupt = |reason: String| Error::CacheCorrupt {
        path: path.into(),
        reason,
    };
    if bytes.len() < 12 || &bytes[..8] != MAGIC {
        return Err(corrupt("bad magic".into()));
    }
    let l = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
    let json = bytes
        .get(12..12 + l)
        .ok_or_else(|| corrupt("header truncated".into()))?;
    let header: Header =
        serde_json::from_slice(json).map_err(|e| corrupt(format!("header: {e}")))?;
    let data = &bytes[12 + l..];
    let [n, h, w] = header.shape;
    let expected = crate::error::checked_bytes(path, &[n, h, w], &["n", "height", "width"], 4)
        .map_err(|e| corrupt(format!("header shape: {e}")))?;
    if data.len() != expected {
        return Err(Error::Truncated {
            path: path.into(),
            expected: expected as u64,
            got: data.len() as u64,
        });
    }
    let digest = hex(&Sha256::digest(data));
    if digest != header.sha256 {
        return Err(corrupt(format!(
            "sha256 {digest} differs from header {}",
            header.sha256
        )));
    }
    let vals: Vec<f32> = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let images = Array3::from_shape_vec((n, h, w), vals).map_err(|e| corrupt(e.to_string()))?;
    Ok(Prepared {
        images,
        meta: header.meta,
    })
}

/// A folder of `.gahbds` files keyed by a description of how each dataset was made.
#[derive(Clone, Debug)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// A cache in `dir` (created on first write), conventionally `.gahb/datasets/prepared/`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The file for `name` prepared as described by `key` (any text that changes whenever the
    /// preparation would: source checksums, config JSON, code version).
    pub fn path_for(&self, name: &str, key: &str) -> PathBuf {
        let digest = hex(&Sha256::digest(key.as_bytes()));
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join(format!("{safe}-{}.gahbds", &digest[..16]))
    }

    /// Load the dataset from the cache, or run `prepare`, store its result and return it. The second
    /// value says whether it came from the cache. A corrupt cache file is prepared again
    /// ([`Cache::load_or_rebuild`] says when that happened).
    pub fn load_or_prepare(
        &self,
        name: &str,
        key: &str,
        prepare: impl FnOnce() -> Result<Prepared>,
    ) -> Result<(Prepared, bool)> {
        let (p, origin) = self.load_or_rebuild(name, key, prepare)?;
        Ok((p, origin == Origin::Cached))
    }

    /// [`Cache::load_or_prepare`], saying where the data came from: a cache file that fails any
    /// check (magic, header, length, sha256) or cannot be read is never used; the set is prepared
    /// again, written over it, and the result is [`Origin::Rebuilt`] with the reason.
    pub fn load_or_rebuild(
        &self,
        name: &str,
        key: &str,
        prepare: impl FnOnce() -> Result<Prepared>,
    ) -> Result<(Prepared, Origin)> {
        let path = self.path_for(name, key);
        let mut origin = Origin::Prepared;
        if path.exists() {
            match read_prepared(&path) {
                Ok(p) => return Ok((p, Origin::Cached)),
                Err(e) => origin = Origin::Rebuilt(e.to_string()),
            }
        }
        remove_stale_temporaries(&path);
        let p = prepare()?;
        write_prepared(&path, &p)?;
        Ok((p, origin))
    }
}

/// Removes the temporaries `<file>.tmp.<pid>` of `path` that a killed preparation left behind: those
/// whose process no longer runs (on systems without `/proc`, none is removed). Best effort: a file
/// that cannot be removed stays.
fn remove_stale_temporaries(path: &Path) {
    let (Some(dir), Some(stem)) = (path.parent(), path.file_stem().and_then(|s| s.to_str())) else {
        return;
    };
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!("{stem}.tmp.");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let alive = pid.parse::<u32>().is_ok_and(|pid| {
            pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists()
        });
        if !alive {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Where [`Cache::load_or_rebuild`]'s data came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A cache file that passed every check.
    Cached,
    /// Prepared now: there was no cache file.
    Prepared,
    /// Prepared again: the cache file failed its checks or could not be read (the reason, one
    /// line naming the file); it was replaced.
    Rebuilt(String),
}

/// The SHA-256 (hex) of a file's bytes, read in blocks: what content keys are made of.
pub fn file_sha256(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let k = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if k == 0 {
            break;
        }
        hasher.update(&buf[..k]);
    }
    Ok(hex(&hasher.finalize()))
}
