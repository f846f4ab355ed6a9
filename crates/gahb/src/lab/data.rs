//! Datasets: the typed [`DataSpec`] of a profile or of `gahb data`, and [`prepare`], the one
//! function that turns a spec into images, through one cache (`<cache>/datasets/`) with one key
//! recipe ([`data_key`]).
//!
//! Real sets are centre-cropped to a square and resized (bicubic) to the requested size, or padded;
//! CelebA goes through the paper's pipeline (PAPER.md §2); C^α images (§6) and disks (§7) are
//! generated from a seed. Every prepared set is cached under the SHA-256 of its spec, its seed (for
//! generated sets) and the SHA-256 of every source file's bytes (with its name), so replacing,
//! editing (even at the same length and time) or deleting a source re-prepares it. A cache file that
//! fails its checks is never used: the set is prepared again, said on stderr and in
//! [`Loaded::rebuilt`].

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use gahb_data::{
    check_memory, default_raw_dir, file_sha256, image_bytes, load_real, load_real_labels, pad_to,
    resize_all, source_files, Cache, CelebaConfig, CropMode, DatasetMeta, FolderConfig, Origin,
    Prepared, RealSet, LABELLED_SETS,
};
use gahb_synth::{generate_calpha, generate_disks, CAlphaConfig, DiskConfig};
use ndarray::{s, Array3};
use serde::{Deserialize, Serialize};

use crate::lab::store::content_key;

/// Bumped when a change to the preparation code changes prepared bytes.
const DATA_VERSION: &str = "gahb-data-v1";

/// Checks an experiment's train and test sets before anything runs: both counts at least 1, and the
/// `n_train + n_test` images of `size × size` fit in memory; errors name `<who>.n_train`,
/// `<who>.n_test` or `<who>.<size_key>`.
pub fn check_sets(
    who: &str,
    n_train: usize,
    n_test: usize,
    size_key: &str,
    size: usize,
) -> Result<()> {
    anyhow::ensure!(n_train > 0, "{who}.n_train must be at least 1, got 0");
    anyhow::ensure!(
        n_test > 0,
        "{who}.n_test must be at least 1 (the held-out images the PSNR curve is measured on), got 0"
    );
    check_images(
        &format!("{who}.n_train"),
        n_train.saturating_add(n_test),
        &format!("{who}.{size_key}"),
        size,
    )
}

/// The smallest side at which the paper's disks exist (radii from 3 to (size − 3)/2, PAPER.md §7).
pub fn min_disk_size() -> usize {
    (4..1024)
        .find(|&s| DiskConfig::paper(s).validate().is_ok())
        .unwrap_or(1024)
}

/// Checks that `n` images (a number set by `n_field`) of `size × size` (set by `size_field`) fit
/// in the machine's memory, before anything is allocated: otherwise a one-line error naming the
/// field to change (the size when one image is already too large) and the bytes needed.
pub fn check_images(n_field: &str, n: usize, size_field: &str, size: usize) -> Result<()> {
    let what = |k: usize| format!("{k} image(s) of {size}×{size} (4 bytes a pixel)");
    check_memory(size_field, &what(1), image_bytes(1, size, size))?;
    check_memory(n_field, &what(n), image_bytes(n, size, size))?;
    Ok(())
}

/// How a real set reaches the requested size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Fit {
    /// Centre-crop to a square, then resize (bicubic).
    #[default]
    Crop,
    /// Pad with 0 (for example 28 → 32), keeping every pixel.
    Pad,
}

/// The array formats a [`DataSpec::Array`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArrayKind {
    /// NumPy `.npy`.
    Npy,
    /// `.safetensors`.
    Safetensors,
}

impl ArrayKind {
    fn format(self) -> gahb_data::ArrayFormat {
        match self {
            ArrayKind::Npy => gahb_data::ArrayFormat::Npy,
            ArrayKind::Safetensors => gahb_data::ArrayFormat::Safetensors,
        }
    }
}

/// Which images, in a profile (`data = { name = "fashion-mnist", size = 32 }`) or on the command
/// line of `gahb data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawDataSpec", into = "RawDataSpec")]
pub enum DataSpec {
    /// An offline real set (`cargo xtask datasets fetch`).
    Real {
        /// Which set.
        set: RealSet,
        /// Side of the square output; `None` keeps the set's own size.
        size: Option<usize>,
        /// How it reaches `size`.
        fit: Fit,
    },
    /// Faces: the run's CelebA folder when it has one (`--celeba`), the ORL faces otherwise.
    Faces {
        /// Side of the square output.
        size: usize,
    },
    /// A local CelebA `img_align_celeba` folder through the paper's pipeline.
    Celeba {
        /// The folder; `None` takes the run's `--celeba`.
        path: Option<PathBuf>,
        /// Side of the square output.
        size: usize,
        /// Read at most this many files (the first in sorted order).
        limit: Option<usize>,
    },
    /// A folder of images of one's own, centre-cropped and resized.
    Folder {
        /// The folder.
        path: PathBuf,
        /// Side of the square output.
        size: usize,
        /// Read at most this many files (the first in sorted order).
        limit: Option<usize>,
    },
    /// An array file of one's own: a `.npy` array or one tensor of a `.safetensors` file,
    /// `[n, h, w]` or `[n, 1, h, w]`, float in [0, 1].
    Array {
        /// The file.
        path: PathBuf,
        /// `.npy` or `.safetensors` (the profile's `name`).
        format: ArrayKind,
        /// The tensor's name in a `.safetensors` file (optional when it holds one).
        tensor: Option<String>,
        /// Side of the square output; `None` keeps the array's own size.
        size: Option<usize>,
        /// How it reaches `size`.
        fit: Fit,
    },
    /// C^α images (PAPER.md §6), generated.
    Calpha {
        /// Side.
        size: usize,
        /// Contour regularity α.
        alpha: f64,
        /// Background regularity β (default α).
        beta: Option<f64>,
        /// Number of images.
        n: usize,
    },
    /// Antialiased disks (PAPER.md §7), generated.
    Disks {
        /// Side.
        size: usize,
        /// Number of images.
        n: usize,
    },
}

/// The serde form of a [`DataSpec`]: one table with a `name` and the fields that name takes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDataSpec {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fit: Option<Fit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alpha: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    beta: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tensor: Option<String>,
}

impl TryFrom<RawDataSpec> for DataSpec {
    type Error = String;

    fn try_from(r: RawDataSpec) -> std::result::Result<Self, String> {
        let name = r.name.clone();
        let need = |v: Option<usize>, field: &str| {
            v.ok_or_else(|| format!("data `{name}` needs `{field}`"))
        };
        let refuse = |present: bool, field: &str| {
            if present {
                Err(format!("data `{name}` takes no `{field}`"))
            } else {
                Ok(())
            }
        };
        let spec = match name.as_str() {
            "faces" => DataSpec::Faces {
                size: need(r.size, "size")?,
            },
            "celeba" => DataSpec::Celeba {
                path: r.path.clone(),
                size: need(r.size, "size")?,
                limit: r.limit,
            },
            "folder" => DataSpec::Folder {
                path: r
                    .path
                    .clone()
                    .ok_or_else(|| format!("data `{name}` needs `path`"))?,
                size: need(r.size, "size")?,
                limit: r.limit,
            },
            "npy" | "safetensors" => DataSpec::Array {
                path: r
                    .path
                    .clone()
                    .ok_or_else(|| format!("data `{name}` needs `path`"))?,
                format: if name == "npy" {
                    ArrayKind::Npy
                } else {
                    ArrayKind::Safetensors
                },
                tensor: r.tensor.clone(),
                size: r.size,
                fit: r.fit.unwrap_or_default(),
            },
            "calpha" => DataSpec::Calpha {
                size: need(r.size, "size")?,
                alpha: r
                    .alpha
                    .ok_or_else(|| format!("data `{name}` needs `alpha`"))?,
                beta: r.beta,
                n: need(r.n, "n")?,
            },
            "disks" => DataSpec::Disks {
                size: need(r.size, "size")?,
                n: need(r.n, "n")?,
            },
            other => match RealSet::parse(other) {
                Ok(set) => DataSpec::Real {
                    set,
                    size: r.size,
                    fit: r.fit.unwrap_or_default(),
                },
                Err(_) => {
                    return Err(format!(
                        "unknown dataset `{other}`: use fashion-mnist, mnist, orl-faces, \
                         lfw-subset, faces, celeba, folder, npy, safetensors, calpha or disks"
                    ))
                }
            },
        };
        let synthetic = matches!(spec, DataSpec::Calpha { .. } | DataSpec::Disks { .. });
        refuse(
            r.fit.is_some() && !matches!(spec, DataSpec::Real { .. } | DataSpec::Array { .. }),
            "fit",
        )?;
        refuse(
            r.tensor.is_some()
                && !matches!(
                    spec,
                    DataSpec::Array {
                        format: ArrayKind::Safetensors,
                        ..
                    }
                ),
            "tensor",
        )?;
        refuse(
            r.alpha.is_some() && !matches!(spec, DataSpec::Calpha { .. }),
            "alpha",
        )?;
        refuse(
            r.beta.is_some() && !matches!(spec, DataSpec::Calpha { .. }),
            "beta",
        )?;
        refuse(r.n.is_some() && !synthetic, "n")?;
        refuse(
            r.path.is_some()
                && !matches!(
                    spec,
                    DataSpec::Celeba { .. } | DataSpec::Folder { .. } | DataSpec::Array { .. }
                ),
            "path",
        )?;
        refuse(
            r.limit.is_some() && !matches!(spec, DataSpec::Celeba { .. } | DataSpec::Folder { .. }),
            "limit",
        )?;
        spec.validate().map_err(|e| format!("{e:#}"))?;
        Ok(spec)
    }
}

impl From<DataSpec> for RawDataSpec {
    fn from(d: DataSpec) -> Self {
        let name = d.name();
        let base = RawDataSpec {
            name,
            ..Default::default()
        };
        match d {
            DataSpec::Real { size, fit, .. } => RawDataSpec {
                size,
                fit: (fit != Fit::Crop).then_some(fit),
                ..base
            },
            DataSpec::Faces { size } => RawDataSpec {
                size: Some(size),
                ..base
            },
            DataSpec::Celeba { path, size, limit } => RawDataSpec {
                size: Some(size),
                path,
                limit,
                ..base
            },
            DataSpec::Folder { path, size, limit } => RawDataSpec {
                size: Some(size),
                path: Some(path),
                limit,
                ..base
            },
            DataSpec::Array {
                path,
                tensor,
                size,
                fit,
                ..
            } => RawDataSpec {
                size,
                path: Some(path),
                tensor,
                fit: (fit != Fit::Crop).then_some(fit),
                ..base
            },
            DataSpec::Calpha {
                size,
                alpha,
                beta,
                n,
            } => RawDataSpec {
                size: Some(size),
                alpha: Some(alpha),
                beta,
                n: Some(n),
                ..base
            },
            DataSpec::Disks { size, n } => RawDataSpec {
                size: Some(size),
                n: Some(n),
                ..base
            },
        }
    }
}

impl DataSpec {
    /// The name a profile gives it.
    pub fn name(&self) -> String {
        match self {
            DataSpec::Real { set, .. } => set.name().to_string(),
            DataSpec::Faces { .. } => "faces".into(),
            DataSpec::Celeba { .. } => "celeba".into(),
            DataSpec::Folder { .. } => "folder".into(),
            DataSpec::Array { format, .. } => match format {
                ArrayKind::Npy => "npy".into(),
                ArrayKind::Safetensors => "safetensors".into(),
            },
            DataSpec::Calpha { .. } => "calpha".into(),
            DataSpec::Disks { .. } => "disks".into(),
        }
    }

    /// The side of the square output, when the spec fixes it.
    pub fn size(&self) -> Option<usize> {
        match self {
            DataSpec::Real { size, .. } | DataSpec::Array { size, .. } => *size,
            DataSpec::Faces { size }
            | DataSpec::Celeba { size, .. }
            | DataSpec::Folder { size, .. }
            | DataSpec::Calpha { size, .. }
            | DataSpec::Disks { size, .. } => Some(*size),
        }
    }

    /// The same spec at another size.
    pub fn with_size(&self, new: usize) -> Self {
        let mut d = self.clone();
        match &mut d {
            DataSpec::Real { size, .. } | DataSpec::Array { size, .. } => *size = Some(new),
            DataSpec::Faces { size }
            | DataSpec::Celeba { size, .. }
            | DataSpec::Folder { size, .. }
            | DataSpec::Calpha { size, .. }
            | DataSpec::Disks { size, .. } => *size = new,
        }
        d
    }

    /// The names of the classes of the set's labels, in label order, or a one-line error naming
    /// the dataset when it has no labels (faces, folders, C^α images, disks).
    pub fn classes(&self) -> Result<&'static [&'static str]> {
        let names = match self {
            DataSpec::Real { set, .. } => set.class_names(),
            _ => None,
        };
        names.ok_or_else(|| {
            anyhow::Error::new(gahb_data::Error::NoLabels {
                dataset: self.name(),
                labelled: LABELLED_SETS,
            })
        })
    }

    /// Checks the numbers, and that the images fit in memory (for generated sets, all of them;
    /// for others, one image: the number of files is checked when they are listed).
    pub fn validate(&self) -> Result<()> {
        if let Some(size) = self.size() {
            anyhow::ensure!(size >= 4, "data.size must be at least 4, got {size}");
            let n = match self {
                DataSpec::Calpha { n, .. } | DataSpec::Disks { n, .. } => *n,
                _ => 1,
            };
            check_images("data.n", n, "data.size", size)?;
        }
        match self {
            DataSpec::Calpha { alpha, beta, n, .. } => {
                anyhow::ensure!(
                    alpha.is_finite() && *alpha > 0.0,
                    "data.alpha must be > 0, got {alpha}"
                );
                if let Some(b) = beta {
                    anyhow::ensure!(b.is_finite() && *b > 0.0, "data.beta must be > 0, got {b}");
                }
                anyhow::ensure!(*n > 0, "data.n must be at least 1, got 0");
            }
            DataSpec::Disks { n, size } => {
                anyhow::ensure!(*n > 0, "data.n must be at least 1, got 0");
                let min = min_disk_size();
                anyhow::ensure!(
                    *size >= min,
                    "data.size must be at least {min} for disks (radii from 3 to (size − 3)/2, \
                     PAPER.md §7), got {size}"
                );
            }
            DataSpec::Celeba { limit: Some(0), .. } | DataSpec::Folder { limit: Some(0), .. } => {
                bail!("data.limit must be at least 1, got 0")
            }
            _ => {}
        }
        Ok(())
    }
}

/// Where data comes from and goes: the folder of fetched raw sets, the cache, the user's CelebA.
#[derive(Debug, Clone)]
pub struct DataEnv {
    /// The project root holding `.gahb/datasets/raw/` (`GAHB_ROOT` or the current folder).
    pub root: PathBuf,
    /// The cache root; prepared sets go to `<cache>/datasets/`.
    pub cache: PathBuf,
    /// A local CelebA folder, when the user gave one (`--celeba`).
    pub celeba: Option<PathBuf>,
}

impl DataEnv {
    /// The environment for a cache root: the raw sets under `GAHB_ROOT` or the current folder.
    pub fn new(cache: PathBuf, celeba: Option<PathBuf>) -> Self {
        let root = std::env::var_os("GAHB_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        Self {
            root,
            cache,
            celeba,
        }
    }
}

/// Prepared images and what they are.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// `[n, size, size]` in [0, 1].
    pub images: Array3<f32>,
    /// What the images are and what they stand in for, one sentence.
    pub description: String,
    /// The cache's record of the set.
    pub meta: DatasetMeta,
    /// Whether it came from the cache.
    pub from_cache: bool,
    /// Why the cached copy was not used, when one existed but failed its checks (a damaged or
    /// unreadable file): the set was prepared again and the file replaced. `None` otherwise.
    pub rebuilt: Option<String>,
}

/// The cache key of `spec` (resolved against `env`) with `seed`: what [`prepare`] stores it under.
pub fn data_key(env: &DataEnv, spec: &DataSpec, seed: u64) -> Result<String> {
    let spec = resolve(env, spec)?;
    let synthetic = matches!(spec, DataSpec::Calpha { .. } | DataSpec::Disks { .. });
    let stamp = source_stamp(env, &spec)?;
    content_key(&(DATA_VERSION, &spec, synthetic.then_some(seed), stamp))
}

/// Prepares `spec`'s images (generated ones from `seed`), from the cache when it has them.
pub fn prepare(env: &DataEnv, spec: &DataSpec, seed: u64) -> Result<Loaded> {
    let key = data_key(env, spec, seed)?;
    prepare_keyed(env, spec, seed, &key)
}

/// [`prepare`] with the key [`data_key`] already computed (it stats every source file).
pub fn prepare_keyed(env: &DataEnv, spec: &DataSpec, seed: u64, key: &str) -> Result<Loaded> {
    let resolved = resolve(env, spec)?;
    resolved.validate()?;
    let cache = Cache::new(env.cache.join("datasets"));
    let mut failure = None;
    let (p, origin) = match cache.load_or_rebuild(&resolved.name(), key, || {
        build(env, &resolved, seed, &mut failure)
    }) {
        Ok(done) => done,
        Err(e) => {
            let e = failure.take().unwrap_or_else(|| e.into());
            return Err(e.context(format!("preparing dataset `{}`", resolved.name())));
        }
    };
    let from_cache = origin == Origin::Cached;
    let rebuilt = match origin {
        Origin::Rebuilt(reason) => {
            eprintln!(
                "  dataset `{}`: the cached copy was not used ({reason}); prepared again",
                resolved.name()
            );
            Some(reason)
        }
        Origin::Cached | Origin::Prepared => None,
    };
    let description = p
        .meta
        .params
        .get("description")
        .and_then(|d| d.as_str())
        .unwrap_or(&p.meta.source)
        .to_string();
    Ok(Loaded {
        images: p.images,
        description,
        meta: p.meta,
        from_cache,
        rebuilt,
    })
}

/// The class labels of `spec`'s images: one per image of [`prepare`]'s stack, in its order (real
/// sets are never deduplicated or reordered). A set without labels is a one-line error naming it
/// ([`DataSpec::classes`]).
pub fn labels(env: &DataEnv, spec: &DataSpec) -> Result<Vec<u8>> {
    spec.classes()?;
    let DataSpec::Real { set, .. } = spec else {
        bail!("invariant: only real sets have classes")
    };
    let raw = default_raw_dir(&env.root, *set);
    load_real_labels(*set, &raw).with_context(|| {
        format!("loading the labels of {set}: fetch it with `cargo xtask datasets fetch {set}`")
    })
}

/// `Faces` becomes CelebA or ORL faces, and CelebA without a path takes the run's folder.
fn resolve(env: &DataEnv, spec: &DataSpec) -> Result<DataSpec> {
    Ok(match spec {
        DataSpec::Faces { size } => match &env.celeba {
            Some(dir) => DataSpec::Celeba {
                path: Some(dir.clone()),
                size: *size,
                limit: None,
            },
            None => DataSpec::Real {
                set: RealSet::OrlFaces,
                size: Some(*size),
                fit: Fit::Crop,
            },
        },
        DataSpec::Celeba {
            path: None,
            size,
            limit,
        } => DataSpec::Celeba {
            path: Some(
                env.celeba
                    .clone()
                    .context("celeba needs a folder: give --celeba DIR or data.path")?,
            ),
            size: *size,
            limit: *limit,
        },
        other => other.clone(),
    })
}

/// The name and the SHA-256 of the bytes of every file a spec reads, in reading order: any change
/// of content (a replaced, edited or deleted file, whatever its length and time) changes the key.
/// A folder with a `limit` stamps only the files read. Every file is hashed on each call (the sets
/// here are small: 30 MB for Fashion-MNIST); the raw source files are read again to prepare anyway.
fn source_stamp(env: &DataEnv, spec: &DataSpec) -> Result<Vec<(String, String)>> {
    let (base, files): (PathBuf, Vec<PathBuf>) = match spec {
        DataSpec::Real { set, .. } => {
            let raw = default_raw_dir(&env.root, *set);
            if !raw.is_dir() {
                bail!(
                    "{} {}: fetch it first with `cargo xtask datasets fetch {set}`",
                    raw.display(),
                    if raw.exists() {
                        "is a file, not the folder of the fetched set"
                    } else {
                        "is missing"
                    }
                );
            }
            let files = source_files(*set, &raw)?;
            (raw, files)
        }
        DataSpec::Celeba {
            path: Some(p),
            limit,
            ..
        }
        | DataSpec::Folder { path: p, limit, .. } => {
            ensure_folder(p)?;
            let mut files = gahb_data::list_images(p)?;
            if let Some(l) = limit {
                files.truncate(*l);
            }
            (p.clone(), files)
        }
        DataSpec::Array { path, .. } => {
            ensure_file(path)?;
            let base = path.parent().map(PathBuf::from).unwrap_or_default();
            (base, vec![path.clone()])
        }
        _ => return Ok(Vec::new()),
    };
    files
        .iter()
        .map(|f| {
            let name = f.strip_prefix(&base).unwrap_or(f).display().to_string();
            Ok((name, file_sha256(f)?))
        })
        .collect()
}

/// `p` is a folder, or a one-line error saying what it is.
pub fn ensure_folder(p: &std::path::Path) -> Result<()> {
    anyhow::ensure!(
        p.is_dir(),
        "{}: not a folder{}",
        p.display(),
        if p.exists() {
            " (it is a file): give the folder that holds the images"
        } else {
            " (it does not exist)"
        }
    );
    Ok(())
}

/// `p` is a file, or a one-line error saying what it is.
pub fn ensure_file(p: &std::path::Path) -> Result<()> {
    anyhow::ensure!(
        p.is_file(),
        "{}: not a file{}",
        p.display(),
        if p.exists() {
            " (it is a folder): give the array file itself"
        } else {
            " (it does not exist)"
        }
    );
    Ok(())
}

/// Checks that the images of folder `dir` (at most `limit`) fit in memory at `size × size`.
fn check_files_fit(dir: &std::path::Path, size: usize, limit: Option<usize>) -> Result<()> {
    let files = gahb_data::list_images(dir)?.len();
    let n = limit.map_or(files, |l| l.min(files));
    check_images(
        "data.limit (the number of files read)",
        n,
        "data.size",
        size,
    )
}

fn meta(name: &str, source: &str, removed: usize, params: serde_json::Value) -> DatasetMeta {
    DatasetMeta {
        name: name.into(),
        source: source.into(),
        duplicates_removed: removed,
        params,
    }
}

/// Builds a resolved spec's images. gahb-data's closure type is its own Result, so the error
/// itself is kept in `failure` (to be returned as it is) and the cache gets a stand-in.
fn build(
    env: &DataEnv,
    spec: &DataSpec,
    seed: u64,
    failure: &mut Option<anyhow::Error>,
) -> gahb_data::Result<Prepared> {
    build_any(env, spec, seed).map_err(|e| {
        let stand_in = gahb_data::Error::Format {
            path: PathBuf::from(spec.name()),
            reason: format!("{e:#}"),
        };
        *failure = Some(e);
        stand_in
    })
}

fn build_any(env: &DataEnv, spec: &DataSpec, seed: u64) -> Result<Prepared> {
    Ok(match spec {
        DataSpec::Calpha {
            size,
            alpha,
            beta,
            n,
        } => {
            let b = beta.unwrap_or(*alpha);
            let cfg = CAlphaConfig {
                size: *size,
                alpha: *alpha,
                beta: b,
                blur: true,
            };
            let regularity = if b == *alpha {
                format!("α = β = {alpha}")
            } else {
                format!("α = {alpha}, β = {b}")
            };
            Prepared {
                images: generate_calpha(&cfg, *n, seed)?,
                meta: meta(
                    "calpha",
                    "gahb-synth C^α (PAPER.md §6)",
                    0,
                    serde_json::json!({
                        "config": cfg, "seed": seed,
                        "description": format!("{n} C^α images ({regularity}, PAPER.md §6), {size}×{size}, seed {seed}"),
                    }),
                ),
            }
        }
        DataSpec::Disks { size, n } => {
            let cfg = DiskConfig::paper(*size);
            let (images, _) = generate_disks(&cfg, *n, seed)?;
            Prepared {
                images,
                meta: meta(
                    "disks",
                    "gahb-synth disks (PAPER.md §7)",
                    0,
                    serde_json::json!({
                        "config": cfg, "seed": seed,
                        "description": format!("{n} antialiased disks (5 parameters, PAPER.md §7), {size}×{size}, seed {seed}"),
                    }),
                ),
            }
        }
        DataSpec::Celeba {
            path: Some(dir),
            size,
            limit,
        } => {
            check_files_fit(dir, *size, *limit)?;
            // The dedup thumbnails are 20×20 (PAPER.md §2), or the output itself when smaller.
            let cfg = CelebaConfig {
                size: *size,
                limit: *limit,
                thumb: CelebaConfig::default().thumb.min(*size),
                ..CelebaConfig::default()
            };
            let prep = gahb_data::prepare_celeba(dir, &cfg)?;
            let n = prep.images.dim().0;
            Prepared {
                images: prep.images,
                meta: meta(
                    "celeba",
                    &dir.display().to_string(),
                    prep.removed.len(),
                    serde_json::json!({
                        "config": cfg, "n_files": prep.n_files, "removed": prep.removed,
                        "description": format!("CelebA from {} (paper pipeline, PAPER.md §2): {n} images {size}×{size}", dir.display()),
                    }),
                ),
            }
        }
        DataSpec::Folder { path, size, limit } => {
            check_files_fit(path, *size, *limit)?;
            let cfg = FolderConfig {
                size: *size,
                crop: CropMode::Center,
                limit: *limit,
            };
            let images = gahb_data::read_folder(path, &cfg)?;
            let n = images.dim().0;
            Prepared {
                images,
                meta: meta(
                    "folder",
                    &path.display().to_string(),
                    0,
                    serde_json::json!({
                        "config": cfg,
                        "description": format!("{n} images from {}, centre-cropped and resized to {size}×{size}", path.display()),
                    }),
                ),
            }
        }
        DataSpec::Array {
            path,
            format,
            tensor,
            size,
            fit,
        } => {
            let x = gahb_data::read_image_array(path, format.format(), tensor.as_deref())?;
            let (n, h, w) = x.dim();
            let (images, how) = fit_to(x, *size, *fit)?;
            Prepared {
                images,
                meta: meta(
                    &spec.name(),
                    &path.display().to_string(),
                    0,
                    serde_json::json!({
                        "tensor": tensor, "size": size, "fit": fit,
                        "description": format!("{n} images {h}×{w} from {}{how}", path.display()),
                    }),
                ),
            }
        }
        DataSpec::Real { set, size, fit } => {
            let raw = default_raw_dir(&env.root, *set);
            let x = load_real(*set, &raw).with_context(|| {
                format!("loading {set}: fetch it first with `cargo xtask datasets fetch {set}`")
            })?;
            let (n, h, w) = x.dim();
            let stand_in = match set {
                RealSet::OrlFaces => {
                    " (stands in for CelebA faces, which cannot be downloaded here)"
                }
                RealSet::FashionMnist | RealSet::Mnist => {
                    " (a large real set standing in for CelebA's N up to 10^5)"
                }
                RealSet::LfwSubset => "",
            };
            let (images, how) = fit_to(x, *size, *fit)?;
            Prepared {
                images,
                meta: meta(
                    set.name(),
                    &format!("datasets/{set}.toml"),
                    0,
                    serde_json::json!({
                        "size": size, "fit": fit,
                        "description": format!("{set}: {n} images {h}×{w}{how}{stand_in}"),
                    }),
                ),
            }
        }
        DataSpec::Faces { .. } | DataSpec::Celeba { path: None, .. } => {
            bail!("invariant: specs are resolved before they are built")
        }
    })
}

/// `x` brought to `size × size` by `fit` (as it is when `size` is `None`), and how, for a
/// description (", padded with 0 to 32×32").
fn fit_to(x: Array3<f32>, size: Option<usize>, fit: Fit) -> Result<(Array3<f32>, String)> {
    let (_, h, w) = x.dim();
    Ok(match (size, fit) {
        (None, _) => (x, String::new()),
        (Some(size), Fit::Pad) => {
            anyhow::ensure!(
                size >= h && size >= w,
                "data.size {size} is smaller than the images ({h}×{w}): padding cannot shrink \
                 them; use fit = \"crop\""
            );
            (
                pad_to(&x, size, size, 0.0)?,
                format!(", padded with 0 to {size}×{size}"),
            )
        }
        (Some(size), Fit::Crop) => {
            let side = h.min(w);
            let (t, l) = ((h - side) / 2, (w - side) / 2);
            let square = x.slice(s![.., t..t + side, l..l + side]).to_owned();
            let images = if side == size {
                square
            } else {
                resize_all(&square, size, size)?
            };
            (
                images,
                format!(", centre-cropped to {side}² and resized to {size}×{size}"),
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> std::result::Result<DataSpec, String> {
        #[derive(Deserialize)]
        struct T {
            data: DataSpec,
        }
        toml::from_str::<T>(text)
            .map(|t| t.data)
            .map_err(|e| e.message().to_string())
    }

    #[test]
    fn specs_parse_and_round_trip() {
        let d = parse(r#"data = { name = "fashion-mnist", size = 32 }"#).expect("parse");
        assert_eq!(
            d,
            DataSpec::Real {
                set: RealSet::FashionMnist,
                size: Some(32),
                fit: Fit::Crop
            }
        );
        let c =
            parse(r#"data = { name = "calpha", size = 16, alpha = 2.0, n = 4 }"#).expect("parse");
        let json = serde_json::to_string(&c).expect("json");
        let back: DataSpec = serde_json::from_str(&json).expect("back");
        assert_eq!(back, c);
    }

    #[test]
    fn a_set_without_labels_is_named_in_one_line() {
        let env = DataEnv {
            root: PathBuf::from("/nonexistent"),
            cache: PathBuf::from("/nonexistent"),
            celeba: None,
        };
        for (text, name) in [
            (
                r#"data = { name = "calpha", size = 16, alpha = 2.0, n = 4 }"#,
                "calpha",
            ),
            (r#"data = { name = "faces", size = 32 }"#, "faces"),
            (
                r#"data = { name = "folder", path = "x", size = 32 }"#,
                "folder",
            ),
            (r#"data = { name = "orl-faces", size = 32 }"#, "orl-faces"),
        ] {
            let spec = parse(text).expect("parse");
            let e = format!("{:#}", labels(&env, &spec).expect_err(text));
            assert!(
                e.contains(&format!("`{name}` has no class labels")) && !e.contains('\n'),
                "{text}: {e}"
            );
        }
        let fashion = parse(r#"data = { name = "fashion-mnist", size = 32 }"#).expect("parse");
        assert_eq!(fashion.classes().expect("labelled").len(), 10);
        let e = format!("{:#}", labels(&env, &fashion).expect_err("not fetched"));
        assert!(
            e.contains("cargo xtask datasets fetch fashion-mnist"),
            "{e}"
        );
    }

    #[test]
    fn bad_specs_name_the_field() {
        for (text, want) in [
            (
                r#"data = { name = "nope", size = 32 }"#,
                "unknown dataset `nope`",
            ),
            (
                r#"data = { name = "calpha", size = 32, n = 3 }"#,
                "needs `alpha`",
            ),
            (
                r#"data = { name = "disks", size = 32, n = 3, alpha = 1.0 }"#,
                "takes no `alpha`",
            ),
            (
                r#"data = { name = "mnist", size = 2 }"#,
                "data.size must be at least 4",
            ),
            (r#"data = { name = "folder", size = 32 }"#, "needs `path`"),
            (
                r#"data = { name = "folder", path = "x", size = 32, limit = 0 }"#,
                "data.limit",
            ),
            (
                r#"data = { name = "mnist", size = 32, colour = 1 }"#,
                "colour",
            ),
        ] {
            let e = parse(text).expect_err(text);
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn generated_sets_are_cached_under_their_seed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = DataEnv::new(dir.path().to_path_buf(), None);
        let spec = DataSpec::Disks { size: 16, n: 3 };
        let a = prepare(&env, &spec, 1).expect("prepare");
        assert!(!a.from_cache);
        let again = prepare(&env, &spec, 1).expect("again");
        assert!(again.from_cache);
        assert_eq!(again.images, a.images);
        assert_eq!(again.description, a.description);
        let other = prepare(&env, &spec, 2).expect("other seed");
        assert!(!other.from_cache);
        assert_ne!(other.images, a.images);
    }

    #[test]
    fn a_folder_that_is_a_file_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("x.png");
        std::fs::write(&file, b"not a folder").expect("write");
        let env = DataEnv::new(dir.path().to_path_buf(), None);
        let spec = DataSpec::Folder {
            path: file,
            size: 16,
            limit: None,
        };
        let e = format!("{:#}", prepare(&env, &spec, 0).expect_err("file"));
        assert!(e.contains("it is a file"), "{e}");
    }

    /// Issue 14: an array file of one's own goes through the same preparation and cache as the
    /// built-ins, in both formats; its key follows its bytes; a wrong rank or out-of-range values
    /// are one-line errors.
    #[test]
    fn array_files_are_prepared_and_cached_like_the_built_ins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = env_at(dir.path());
        let x = Array3::from_shape_fn((5, 12, 10), |(i, r, c)| ((i + r + c) % 7) as f32 / 7.0);
        for (file, kind) in [("x.npy", "npy"), ("x.safetensors", "safetensors")] {
            let path = dir.path().join(file);
            let format = gahb_data::ArrayFormat::of(&path).expect("format");
            std::fs::write(
                &path,
                gahb_data::encode_image_array(&x, format).expect("encode"),
            )
            .expect("write");
            let text = format!(
                "data = {{ name = \"{kind}\", path = \"{}\" }}",
                path.display()
            );
            let spec = parse(&text).expect("parse");
            assert_eq!(spec.name(), kind);
            let a = prepare(&env, &spec, 0).expect("prepare");
            assert!(!a.from_cache);
            assert_eq!(a.images, x, "{kind}: kept as it is without a size");
            assert!(prepare(&env, &spec, 0).expect("again").from_cache);
            let sized = prepare(&env, &spec.with_size(8), 0).expect("sized");
            assert_eq!(sized.images.dim(), (5, 8, 8));
            assert!(
                sized.description.contains("centre-cropped to 10²"),
                "{}",
                sized.description
            );
            let mut y = x.clone();
            y[[0, 0, 0]] = 0.5;
            std::fs::write(
                &path,
                gahb_data::encode_image_array(&y, format).expect("encode"),
            )
            .expect("write");
            let b = prepare(&env, &spec, 0).expect("edited");
            assert!(!b.from_cache, "{kind}: an edited file is prepared again");
            assert_eq!(b.images[[0, 0, 0]], 0.5);
            y[[1, 1, 1]] = 3.0;
            y[[2, 1, 1]] = -1.0;
            std::fs::write(
                &path,
                gahb_data::encode_image_array(&y, format).expect("encode"),
            )
            .expect("write");
            let e = format!("{:#}", prepare(&env, &spec, 0).expect_err("range"));
            assert!(
                e.contains("2 value(s) outside [0, 1]") && e.contains(file),
                "{e}"
            );
        }
        let e = parse(r#"data = { name = "npy" }"#).expect_err("no path");
        assert!(e.contains("needs `path`"), "{e}");
        let e =
            parse(r#"data = { name = "npy", path = "a.npy", tensor = "x" }"#).expect_err("tensor");
        assert!(e.contains("takes no `tensor`"), "{e}");
        let missing =
            parse(r#"data = { name = "npy", path = "/nonexistent/a.npy" }"#).expect("parse");
        let e = format!("{:#}", prepare(&env, &missing, 0).expect_err("missing"));
        assert!(
            e.contains("/nonexistent/a.npy: not a file (it does not exist)"),
            "{e}"
        );
    }

    /// Writes `bytes` to `path`, then gives it `mtime`: an edit that keeps the length and the
    /// modification time, which a key on names, lengths and times would miss.
    fn rewrite_keeping_time(path: &std::path::Path, bytes: &[u8], mtime: std::time::SystemTime) {
        let old = std::fs::read(path).expect("read");
        assert_eq!(old.len(), bytes.len(), "the edit keeps the length");
        assert_ne!(old, bytes, "the edit changes the content");
        std::fs::write(path, bytes).expect("write");
        let f = std::fs::File::options()
            .write(true)
            .open(path)
            .expect("open");
        f.set_modified(mtime).expect("set mtime");
    }

    fn gray_png(value: u8) -> Vec<u8> {
        let img = image::GrayImage::from_pixel(12, 12, image::Luma([value]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png)
            .expect("encode png");
        out.into_inner()
    }

    fn env_at(root: &std::path::Path) -> DataEnv {
        DataEnv {
            root: root.to_path_buf(),
            cache: root.join("cache"),
            celeba: None,
        }
    }

    /// Issue 13, item 4: a folder's key follows the bytes of its files, so a same-length edit at
    /// the same modification time re-prepares it and gives the new data; so do a replaced and a
    /// deleted file.
    #[test]
    fn a_folder_key_follows_its_files_contents() {
        let dir = tempfile::tempdir().expect("tempdir");
        let images = dir.path().join("images");
        std::fs::create_dir(&images).expect("mkdir");
        for (name, v) in [("a.png", 40), ("b.png", 200)] {
            std::fs::write(images.join(name), gray_png(v)).expect("write");
        }
        let env = env_at(dir.path());
        let spec = DataSpec::Folder {
            path: images.clone(),
            size: 8,
            limit: None,
        };
        let key = data_key(&env, &spec, 0).expect("key");
        let first = prepare(&env, &spec, 0).expect("prepare");
        assert!(!first.from_cache);
        assert!(prepare(&env, &spec, 0).expect("again").from_cache);
        let a = images.join("a.png");
        let mtime = std::fs::metadata(&a)
            .and_then(|m| m.modified())
            .expect("mtime");
        rewrite_keeping_time(&a, &gray_png(100), mtime);
        let edited_key = data_key(&env, &spec, 0).expect("key");
        assert_ne!(edited_key, key, "a same-length edit changes the key");
        let edited = prepare(&env, &spec, 0).expect("edited");
        assert!(!edited.from_cache, "the edited folder is prepared again");
        assert!((edited.images[[0, 0, 0]] - 100.0 / 255.0).abs() < 1e-3);
        assert!((first.images[[0, 0, 0]] - 40.0 / 255.0).abs() < 1e-3);
        std::fs::remove_file(images.join("b.png")).expect("delete");
        let fewer = prepare(&env, &spec, 0).expect("after a deletion");
        assert!(!fewer.from_cache);
        assert_eq!(fewer.images.dim().0, 1);
    }

    /// Issue 13, item 4: a real set's key follows its files' bytes too (here the LFW subset's one
    /// `.npy` file, edited at the same length and time).
    #[test]
    fn a_real_set_key_follows_its_files_contents() {
        let dir = tempfile::tempdir().expect("tempdir");
        let raw = default_raw_dir(dir.path(), RealSet::LfwSubset);
        let file = raw.join("skimage/data/lfw_subset.npy");
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        let mut values = vec![0.25f32; 2 * 6 * 6];
        std::fs::write(&file, gahb_data::encode_npy_f32(&[2, 6, 6], &values)).expect("write");
        let env = env_at(dir.path());
        let spec = DataSpec::Real {
            set: RealSet::LfwSubset,
            size: None,
            fit: Fit::Crop,
        };
        let first = prepare(&env, &spec, 0).expect("prepare");
        assert_eq!(first.images[[1, 2, 3]], 0.25);
        let mtime = std::fs::metadata(&file)
            .and_then(|m| m.modified())
            .expect("mtime");
        values[36 + 2 * 6 + 3] = 0.75;
        rewrite_keeping_time(
            &file,
            &gahb_data::encode_npy_f32(&[2, 6, 6], &values),
            mtime,
        );
        let edited = prepare(&env, &spec, 0).expect("edited");
        assert!(!edited.from_cache, "the edited set is prepared again");
        assert_eq!(edited.images[[1, 2, 3]], 0.75);
    }

    /// Issue 13, item 1 for datasets: a cache file with one flipped byte, cut short or replaced by
    /// garbage is never used; the set is prepared again, `rebuilt` says why, and the data are right.
    #[test]
    fn a_damaged_cache_file_is_prepared_again_and_said() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = env_at(dir.path());
        let spec = DataSpec::Disks { size: 16, n: 3 };
        let good = prepare(&env, &spec, 7).expect("prepare");
        assert!(good.rebuilt.is_none());
        let key = data_key(&env, &spec, 7).expect("key");
        let path = Cache::new(env.cache.join("datasets")).path_for("disks", &key);
        let bytes = std::fs::read(&path).expect("cache file");
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x01;
        for (what, damaged, reason) in [
            ("a flipped byte", flipped, "sha256"),
            ("a cut file", bytes[..bytes.len() / 2].to_vec(), "bytes"),
            ("garbage", b"not a cache file".to_vec(), "bad magic"),
        ] {
            std::fs::write(&path, &damaged).expect("damage");
            let again = prepare(&env, &spec, 7).expect(what);
            assert!(!again.from_cache, "{what}: the damaged copy was used");
            let why = again
                .rebuilt
                .as_deref()
                .unwrap_or_else(|| panic!("{what}: not said"));
            assert!(
                why.contains(reason) && why.contains(&path.display().to_string()),
                "{what}: {why}"
            );
            assert_eq!(again.images, good.images, "{what}");
            let healed = prepare(&env, &spec, 7).expect("healed");
            assert!(healed.from_cache && healed.rebuilt.is_none(), "{what}");
        }
    }

    /// A cache entry that cannot be read at all (here a folder in its place) is prepared again
    /// when it can be replaced, and otherwise is an error naming the file, never used.
    #[test]
    fn a_killed_preparation_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = env_at(dir.path());
        let spec = DataSpec::Disks { size: 16, n: 2 };
        let key = data_key(&env, &spec, 1).expect("key");
        let path = Cache::new(env.cache.join("datasets")).path_for("disks", &key);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        // A pid far above any pid_max: no such process runs.
        let stale = path.with_extension("tmp.4294967295");
        std::fs::write(&stale, b"half a file").expect("write");
        prepare(&env, &spec, 1).expect("prepare");
        assert!(!stale.exists(), "the stale temporary is removed");
        assert!(path.exists());
    }

    /// Issue 13, items 5 and 8: sizes too large for the machine's memory, and sizes the data cannot
    /// take, are refused before anything is allocated, naming the field and the bytes needed.
    #[test]
    fn impossible_sizes_name_the_field_and_the_bytes() {
        for (text, want) in [
            (
                r#"data = { name = "disks", size = 1000000, n = 64 }"#,
                "data.size: 1 image(s) of 1000000×1000000",
            ),
            (
                r#"data = { name = "disks", size = 100000, n = 640 }"#,
                "of 100000×100000",
            ),
            (
                r#"data = { name = "calpha", size = 64, alpha = 2.0, n = 100000000000 }"#,
                "data.n: 100000000000 image(s) of 64×64",
            ),
            (
                r#"data = { name = "folder", path = "x", size = 1000000 }"#,
                "data.size",
            ),
            (
                r#"data = { name = "disks", size = 4, n = 4 }"#,
                "data.size must be at least 11 for disks",
            ),
        ] {
            let e = parse(text).expect_err(text);
            assert!(e.contains(want) && !e.contains('\n'), "{text}: {e}");
            assert!(!e.contains("r_max"), "{text}: {e}");
            if want.contains("image(s)") {
                assert!(e.contains("bytes"), "{text}: {e}");
            }
        }
        parse(r#"data = { name = "disks", size = 11, n = 4 }"#).expect("the smallest disks");
        let e = format!(
            "{:#}",
            check_sets("fig4", 100_000_000_000, 16, "size", 16).expect_err("n_train")
        );
        assert!(e.contains("fig4.n_train") && e.contains("bytes"), "{e}");
        let e = format!(
            "{:#}",
            check_sets("fig4", 10, 0, "size", 16).expect_err("n_test")
        );
        assert!(e.contains("fig4.n_test must be at least 1"), "{e}");
    }

    /// A folder of more files than memory holds at the asked size is refused after the files are
    /// listed and before any is decoded.
    #[test]
    fn a_folder_too_large_for_memory_is_refused_before_decoding() {
        let dir = tempfile::tempdir().expect("tempdir");
        let images = dir.path().join("images");
        std::fs::create_dir(&images).expect("mkdir");
        std::fs::write(images.join("a.png"), b"not even a png").expect("write");
        // One image of this side fits in no machine's memory.
        let e = check_files_fit(&images, 1 << 24, None).expect_err("too large");
        let e = format!("{e:#}");
        assert!(e.contains("data.size") && e.contains("bytes"), "{e}");
    }
}
