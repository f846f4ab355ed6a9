//! Loading the images an experiment trains on: the offline real sets fetched by
//! `cargo xtask datasets fetch`, the user's CelebA folder, or synthetic classes, at a square size.
//!
//! Real sets are centre-cropped to a square and resized (bicubic) to the experiment's size; CelebA
//! goes through the paper's pipeline (PAPER.md §2) and is cached by `gahb-data`.

use std::path::PathBuf;
use std::rc::Rc;

use anyhow::{bail, Context, Result};
use gahb_data::{
    default_raw_dir, load_real, resize_all, Cache, CelebaConfig, DatasetMeta, Prepared,
};
use gahb_synth::{generate_calpha, CAlphaConfig, DiskConfig};
use ndarray::{s, Array3};
use serde::{Deserialize, Serialize};

use crate::ctx::Ctx;

/// Which images to use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// `fashion-mnist`, `mnist`, `orl-faces`, `lfw-subset`, `faces` (CelebA when `--celeba` is
    /// given, ORL otherwise), `calpha` or `disks`.
    pub name: String,
    /// Side of the square images.
    pub size: usize,
    /// C^α regularity (for `calpha`).
    #[serde(default)]
    pub alpha: Option<f64>,
    /// Number of synthetic images to generate (for `calpha` and `disks`).
    #[serde(default)]
    pub n_synthetic: Option<usize>,
}

/// Images plus a sentence saying what they are.
pub struct Loaded {
    /// `[n, size, size]` in [0, 1].
    pub images: Array3<f32>,
    /// What the images are and what they stand in for.
    pub description: String,
}

/// The project root for the fetched datasets: `GAHB_ROOT` or the current folder.
fn root() -> PathBuf {
    std::env::var_os("GAHB_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Loads `spec`'s images (once per run); `seed` drives synthetic generation.
pub fn load(ctx: &Ctx, spec: &DataSpec, seed: u64) -> Result<Rc<Loaded>> {
    let key = format!("{spec:?} {seed}");
    if let Some(l) = ctx.loaded.borrow().get(&key) {
        return Ok(l.clone());
    }
    let l = Rc::new(load_uncached(ctx, spec, seed)?);
    ctx.loaded.borrow_mut().insert(key, l.clone());
    Ok(l)
}

fn load_uncached(ctx: &Ctx, spec: &DataSpec, seed: u64) -> Result<Loaded> {
    let size = spec.size;
    anyhow::ensure!(size >= 4, "data.size must be at least 4, got {size}");
    let name = if spec.name == "faces" {
        if ctx.celeba.is_some() {
            "celeba"
        } else {
            "orl-faces"
        }
    } else {
        spec.name.as_str()
    };
    match name {
        "calpha" => {
            let alpha = spec.alpha.context("data.alpha is needed for calpha")?;
            let n = spec.n_synthetic.context("data.n_synthetic is needed for calpha")?;
            let cfg = CAlphaConfig { size, alpha, beta: alpha, blur: true };
            Ok(Loaded {
                images: generate_calpha(&cfg, n, seed)?,
                description: format!("{n} C^α images (α = β = {alpha}, PAPER.md §6), {size}×{size}, seed {seed}"),
            })
        }
        "disks" => {
            let n = spec.n_synthetic.context("data.n_synthetic is needed for disks")?;
            let (images, _) = gahb_synth::generate_disks(&DiskConfig::paper(size), n, seed)?;
            Ok(Loaded {
                images,
                description: format!("{n} antialiased disks (5 parameters, PAPER.md §7), {size}×{size}, seed {seed}"),
            })
        }
        "celeba" => {
            let dir = ctx.celeba.clone().context("CelebA needs --celeba DIR")?;
            let cfg = CelebaConfig { size, ..CelebaConfig::default() };
            let cache = Cache::new(ctx.cache.join("datasets"));
            let key = format!("celeba {} {:?}", dir.display(), cfg);
            let (p, _) = cache.load_or_prepare("celeba", &key, || {
                let prep = gahb_data::prepare_celeba(&dir, &cfg)?;
                Ok(Prepared {
                    images: prep.images,
                    meta: DatasetMeta {
                        name: "celeba".into(),
                        source: dir.display().to_string(),
                        duplicates_removed: prep.removed.len(),
                        params: serde_json::json!({ "size": size, "n_files": prep.n_files }),
                    },
                })
            })?;
            let n = p.images.dim().0;
            Ok(Loaded {
                images: p.images,
                description: format!("CelebA from {} (paper pipeline, PAPER.md §2): {n} images {size}×{size}", dir.display()),
            })
        }
        "fashion-mnist" | "mnist" | "orl-faces" | "lfw-subset" => {
            let raw = default_raw_dir(&root(), name);
            let x = load_real(name, &raw).with_context(|| {
                format!("loading {name}: fetch it first with `cargo xtask datasets fetch {name}`")
            })?;
            let (n, h, w) = x.dim();
            let side = h.min(w);
            let (t, l) = ((h - side) / 2, (w - side) / 2);
            let square = x.slice(s![.., t..t + side, l..l + side]).to_owned();
            let images = if side == size { square } else { resize_all(&square, size, size) };
            let stand_in = match name {
                "orl-faces" => " (stands in for CelebA faces, which cannot be downloaded here)",
                "fashion-mnist" | "mnist" => " (a large real set standing in for CelebA's N up to 10^5)",
                _ => "",
            };
            Ok(Loaded {
                images,
                description: format!("{name}: {n} images {h}×{w}, centre-cropped to {side}² and resized to {size}×{size}{stand_in}"),
            })
        }
        other => bail!("unknown dataset `{other}`: use fashion-mnist, mnist, orl-faces, lfw-subset, faces, celeba, calpha or disks"),
    }
}
