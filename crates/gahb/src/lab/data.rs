//! Datasets: the typed [`DataSpec`] of a profile or of `gahb data`, and [`prepare`], the one
//! function that turns a spec into images, through one cache (`<cache>/datasets/`) with one key
//! recipe ([`data_key`]).
//!
//! Real sets are centre-cropped to a square and resized (bicubic) to the requested size, or padded;
//! CelebA goes through the paper's pipeline (PAPER.md §2); C^α images (§6) and disks (§7) are
//! generated from a seed. Every prepared set is cached under the SHA-256 of its spec, its seed (for
//! generated sets) and a stamp of its source files (names, lengths and modification times), so any
//! edit to a source re-prepares it.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use gahb_data::{
    default_raw_dir, load_real, load_real_labels, pad_to, resize_all, source_files, Cache,
    CelebaConfig, CropMode, DatasetMeta, FolderConfig, Prepared, RealSet, LABELLED_SETS,
};
use gahb_synth::{generate_calpha, generate_disks, CAlphaConfig, DiskConfig};
use ndarray::{s, Array3};
use serde::{Deserialize, Serialize};

use crate::lab::store::content_key;

/// Bumped when a change to the preparation code changes prepared bytes.
const DATA_VERSION: &str = "gahb-data-v1";

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
                         lfw-subset, faces, celeba, folder, calpha or disks"
                    ))
                }
            },
        };
        let synthetic = matches!(spec, DataSpec::Calpha { .. } | DataSpec::Disks { .. });
        refuse(
            r.fit.is_some() && !matches!(spec, DataSpec::Real { .. }),
            "fit",
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
            r.path.is_some() && !matches!(spec, DataSpec::Celeba { .. } | DataSpec::Folder { .. }),
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
            DataSpec::Calpha { .. } => "calpha".into(),
            DataSpec::Disks { .. } => "disks".into(),
        }
    }

    /// The side of the square output, when the spec fixes it.
    pub fn size(&self) -> Option<usize> {
        match self {
            DataSpec::Real { size, .. } => *size,
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
            DataSpec::Real { size, .. } => *size = Some(new),
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

    /// Checks the numbers.
    pub fn validate(&self) -> Result<()> {
        if let Some(size) = self.size() {
            anyhow::ensure!(size >= 4, "data.size must be at least 4, got {size}");
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
            DataSpec::Disks { n, .. } => {
                anyhow::ensure!(*n > 0, "data.n must be at least 1, got 0")
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
    let (p, hit) = cache
        .load_or_prepare(&resolved.name(), key, || build(env, &resolved, seed))
        .with_context(|| format!("preparing dataset `{}`", resolved.name()))?;
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
        from_cache: hit,
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

/// Names, lengths and modification times of the files a spec reads: any edit changes the key.
fn source_stamp(env: &DataEnv, spec: &DataSpec) -> Result<Vec<(String, u64, u128)>> {
    let files: Vec<PathBuf> = match spec {
        DataSpec::Real { set, .. } => {
            let raw = default_raw_dir(&env.root, *set);
            if !raw.is_dir() {
                bail!(
                    "{} is missing: fetch it first with `cargo xtask datasets fetch {set}`",
                    raw.display()
                );
            }
            source_files(*set, &raw)?
        }
        DataSpec::Celeba { path: Some(p), .. } | DataSpec::Folder { path: p, .. } => {
            anyhow::ensure!(
                p.is_dir(),
                "{}: not a folder{}",
                p.display(),
                if p.exists() {
                    " (it is a file)"
                } else {
                    " (it does not exist)"
                }
            );
            gahb_data::list_images(p)?
        }
        _ => Vec::new(),
    };
    files
        .iter()
        .map(|f| {
            let m = std::fs::metadata(f).with_context(|| format!("reading {}", f.display()))?;
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            Ok((f.display().to_string(), m.len(), mtime))
        })
        .collect()
}

fn meta(name: &str, source: &str, removed: usize, params: serde_json::Value) -> DatasetMeta {
    DatasetMeta {
        name: name.into(),
        source: source.into(),
        duplicates_removed: removed,
        params,
    }
}

/// Builds a resolved spec's images.
fn build(env: &DataEnv, spec: &DataSpec, seed: u64) -> gahb_data::Result<Prepared> {
    // gahb-data's closure type is its own Result: other crates' errors travel as text.
    let text = |e: anyhow::Error| gahb_data::Error::Format {
        path: PathBuf::from(spec.name()),
        reason: format!("{e:#}"),
    };
    build_any(env, spec, seed).map_err(text)
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
            let cfg = CelebaConfig {
                size: *size,
                limit: *limit,
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
            let (images, how) = match (size, fit) {
                (None, _) => (x, String::new()),
                (Some(size), Fit::Pad) => (
                    pad_to(&x, *size, *size, 0.0)?,
                    format!(", padded with 0 to {size}×{size}"),
                ),
                (Some(size), Fit::Crop) => {
                    let side = h.min(w);
                    let (t, l) = ((h - side) / 2, (w - side) / 2);
                    let square = x.slice(s![.., t..t + side, l..l + side]).to_owned();
                    let images = if side == *size {
                        square
                    } else {
                        resize_all(&square, *size, *size)?
                    };
                    (
                        images,
                        format!(", centre-cropped to {side}² and resized to {size}×{size}"),
                    )
                }
            };
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
}
