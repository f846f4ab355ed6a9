//! `gahb data`: prepares one dataset (PAPER.md §2 CelebA pipeline, §6 C^α, §7 disks, §8 shuffled
//! pixels, or an offline set of shared DATASETS.md §2) and writes a contact sheet of its first images
//! and a short summary (count, size, mean, std, duplicates removed) into an output folder.
//!
//! `gahb data all` writes the contact sheets issue 3 asks to look at: C^α for α = 1, 2, 4, disks,
//! shuffled ORL faces, ORL faces and Fashion-MNIST.
//! Real sets and image folders are prepared once and cached (`gahb_data::Cache`, under
//! `.gahb/datasets/prepared/`); synthetic sets are regenerated from their seed.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use gahb_data::{
    default_raw_dir, load_real, pad_to, prepare_celeba, read_folder, resize_all, source_files,
    Cache, CelebaConfig, CropMode, DatasetMeta, FolderConfig, Prepared,
};
use gahb_synth::{generate_calpha, generate_disks, CAlphaConfig, DiskConfig, PixelPermutation};
use ndarray::{Array2, Axis};

/// Arguments of `gahb data`.
#[derive(clap::Args, Debug, Clone)]
pub struct DataArgs {
    /// calpha, disks, fashion-mnist, mnist, orl-faces, lfw-subset, celeba (--path), folder (--path),
    /// or all (the contact sheets of issue 3).
    pub name: String,
    /// Contour regularity α of calpha.
    #[arg(long, default_value_t = 2.0)]
    pub alpha: f64,
    /// Background regularity β of calpha (default: α).
    #[arg(long)]
    pub beta: Option<f64>,
    /// Side of the square output images (synthetic default 80; real sets keep their size unless given).
    #[arg(long)]
    pub size: Option<usize>,
    /// How a real set reaches --size: bicubic `resize` or `pad` with 0 (for example 28 → 32).
    #[arg(long, default_value = "resize")]
    pub fit: String,
    /// Number of synthetic images to generate.
    #[arg(long, default_value_t = 64)]
    pub n: usize,
    /// Seed of the synthetic generators and of the pixel permutation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Apply one fixed seeded pixel permutation to every image (shuffled images, PAPER.md §8).
    #[arg(long)]
    pub shuffle: bool,
    /// Folder of images for celeba and folder.
    #[arg(long)]
    pub path: Option<PathBuf>,
    /// Read at most this many files of a celeba or image folder (the first in sorted order).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Output folder (default `results/data/<name>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Images on the contact sheet.
    #[arg(long, default_value_t = 64)]
    pub show: usize,
}

/// The project root for fetched and cached data: `GAHB_ROOT` or the current folder.
fn root() -> PathBuf {
    std::env::var_os("GAHB_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cache() -> Cache {
    Cache::new(root().join(".gahb").join("datasets").join("prepared"))
}

/// Prepares the dataset of `args` and writes `contact.png` and `summary.json`.
pub fn run(args: &DataArgs) -> Result<()> {
    if args.name == "all" {
        return run_all(args);
    }
    let (prepared, cache_hit) = prepare(args)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| root().join("results").join("data").join(label(args)));
    write_outputs(&out, &prepared, cache_hit, args.show)
}

/// The contact sheets of issue 3, each in its own folder under results/data/ (or --out).
fn run_all(args: &DataArgs) -> Result<()> {
    let base = args
        .out
        .clone()
        .unwrap_or_else(|| root().join("results").join("data"));
    let mut jobs: Vec<DataArgs> = Vec::new();
    for alpha in [1.0, 2.0, 4.0] {
        jobs.push(DataArgs {
            name: "calpha".into(),
            alpha,
            ..args.clone()
        });
    }
    jobs.push(DataArgs {
        name: "disks".into(),
        ..args.clone()
    });
    jobs.push(DataArgs {
        name: "orl-faces".into(),
        shuffle: true,
        ..args.clone()
    });
    jobs.push(DataArgs {
        name: "orl-faces".into(),
        ..args.clone()
    });
    jobs.push(DataArgs {
        name: "fashion-mnist".into(),
        ..args.clone()
    });
    for mut job in jobs {
        job.out = Some(base.join(label(&job)));
        run(&job).with_context(|| format!("gahb data {}", label(&job)))?;
    }
    Ok(())
}

/// A folder name saying what was prepared, for example `calpha-a2-b2-80` or `orl-faces-shuffled`.
fn label(args: &DataArgs) -> String {
    let mut s = match args.name.as_str() {
        "calpha" => {
            let b = args.beta.unwrap_or(args.alpha);
            format!("calpha-a{}-b{}-{}", args.alpha, b, args.size.unwrap_or(80))
        }
        "disks" => format!("disks-{}", args.size.unwrap_or(80)),
        other => match args.size {
            Some(sz) => format!("{other}-{sz}"),
            None => other.to_string(),
        },
    };
    if args.shuffle {
        s.push_str("-shuffled");
    }
    s
}

/// Builds (or loads from the cache) the dataset of `args`; the flag says whether it was cached.
fn prepare(args: &DataArgs) -> Result<(Prepared, bool)> {
    let (mut p, hit) = match args.name.as_str() {
        "calpha" => {
            let cfg = CAlphaConfig {
                size: args.size.unwrap_or(80),
                alpha: args.alpha,
                beta: args.beta.unwrap_or(args.alpha),
                blur: true,
            };
            let images = generate_calpha(&cfg, args.n, args.seed)?;
            let meta = meta("calpha", "gahb-synth C^α (PAPER.md §6)", 0, serde_json::json!({"config": cfg, "seed": args.seed}));
            (Prepared { images, meta }, false)
        }
        "disks" => {
            let cfg = DiskConfig::paper(args.size.unwrap_or(80));
            let (images, _) = generate_disks(&cfg, args.n, args.seed)?;
            let meta = meta("disks", "gahb-synth disks (PAPER.md §7)", 0, serde_json::json!({"config": cfg, "seed": args.seed}));
            (Prepared { images, meta }, false)
        }
        "fashion-mnist" | "mnist" | "orl-faces" | "lfw-subset" => prepare_real(args)?,
        "celeba" => {
            let dir = args.path.clone().context("celeba needs --path DIR (img_align_celeba)")?;
            let cfg = CelebaConfig { size: args.size.unwrap_or(80), limit: args.limit, ..CelebaConfig::default() };
            let key = format!("celeba|{}|{}|{}", dir.canonicalize().unwrap_or(dir.clone()).display(), folder_stamp(&dir)?, serde_json::to_string(&cfg)?);
            cache().load_or_prepare("celeba", &key, || {
                let out = prepare_celeba(&dir, &cfg)?;
                Ok(Prepared {
                    images: out.images,
                    meta: meta("celeba", &dir.display().to_string(), out.removed.len(), serde_json::json!({"config": cfg, "n_files": out.n_files, "removed": out.removed})),
                })
            })?
        }
        "folder" => {
            let dir = args.path.clone().context("folder needs --path DIR")?;
            let cfg = FolderConfig { size: args.size.unwrap_or(80), crop: CropMode::Center, limit: args.limit };
            let key = format!("folder|{}|{}|{}", dir.canonicalize().unwrap_or(dir.clone()).display(), folder_stamp(&dir)?, serde_json::to_string(&cfg)?);
            cache().load_or_prepare("folder", &key, || {
                Ok(Prepared {
                    images: read_folder(&dir, &cfg)?,
                    meta: meta("folder", &dir.display().to_string(), 0, serde_json::json!({"config": cfg})),
                })
            })?
        }
        other => bail!(
            "unknown dataset {other:?} (calpha, disks, fashion-mnist, mnist, orl-faces, lfw-subset, celeba, folder, all)"
        ),
    };
    if args.shuffle {
        let (_, h, w) = p.images.dim();
        let perm = PixelPermutation::from_seed(h, w, args.seed)?;
        p.images = perm.apply(p.images.view())?;
        p.meta.name.push_str("-shuffled");
        p.meta.params["pixel_permutation_seed"] = serde_json::json!(args.seed);
    }
    Ok((p, hit))
}

fn meta(
    name: &str,
    source: &str,
    duplicates_removed: usize,
    params: serde_json::Value,
) -> DatasetMeta {
    DatasetMeta {
        name: name.into(),
        source: source.into(),
        duplicates_removed,
        params,
    }
}

/// Number, names and sizes of the files of a folder: any change invalidates its cache entry.
fn folder_stamp(dir: &Path) -> Result<String> {
    let files = gahb_data::list_images(dir)?;
    let mut total = 0u64;
    for f in &files {
        total += std::fs::metadata(f)
            .with_context(|| format!("reading {}", f.display()))?
            .len();
    }
    Ok(format!(
        "{} files, {total} bytes, last {:?}",
        files.len(),
        files.last()
    ))
}

/// An offline set, read from `.gahb/datasets/raw/<name>/` and cached after resizing or padding.
fn prepare_real(args: &DataArgs) -> Result<(Prepared, bool)> {
    let name = args.name.as_str();
    let raw = default_raw_dir(&root(), name);
    if !raw.is_dir() {
        bail!(
            "{} is missing: run `cargo xtask datasets fetch {name}` first",
            raw.display()
        );
    }
    let mut stamp = String::new();
    for f in source_files(name, &raw)? {
        let len = std::fs::metadata(&f)
            .with_context(|| format!("reading {}", f.display()))?
            .len();
        stamp.push_str(&format!("{}:{len};", f.display()));
    }
    if !matches!(args.fit.as_str(), "resize" | "pad") {
        bail!("--fit must be resize or pad, got {:?}", args.fit);
    }
    let key = format!("{name}|{stamp}|size={:?}|fit={}", args.size, args.fit);
    Ok(cache().load_or_prepare(name, &key, || {
        let mut images = load_real(name, &raw)?;
        if let Some(sz) = args.size {
            images = if args.fit == "pad" {
                pad_to(&images, sz, sz, 0.0)?
            } else {
                resize_all(&images, sz, sz)
            };
        }
        Ok(Prepared {
            images,
            meta: meta(
                name,
                &format!("datasets/{name}.toml"),
                0,
                serde_json::json!({"size": args.size, "fit": args.fit}),
            ),
        })
    })?)
}

/// Writes `contact.png` (the first `show` images) and `summary.json` into `out`, and prints the summary.
fn write_outputs(out: &Path, p: &Prepared, cache_hit: bool, show: usize) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let (n, h, w) = p.images.dim();
    let k = show.min(n);
    let tiles: Vec<Array2<f32>> = p
        .images
        .axis_iter(Axis(0))
        .take(k)
        .map(|a| a.to_owned())
        .collect();
    let ncols = (k as f64).sqrt().ceil().max(1.0) as usize;
    let png = out.join("contact.png");
    gahb_plot::image_grid_png(&png, &tiles, ncols, &gahb_plot::GridOptions::default())
        .with_context(|| format!("writing {}", png.display()))?;
    let count = p.images.len().max(1) as f64;
    let mean = p.images.iter().map(|&v| v as f64).sum::<f64>() / count;
    let var = p
        .images
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / count;
    let summary = serde_json::json!({
        "name": p.meta.name,
        "source": p.meta.source,
        "count": n,
        "height": h,
        "width": w,
        "mean": mean,
        "std": var.sqrt(),
        "duplicates_removed": p.meta.duplicates_removed,
        "from_cache": cache_hit,
        "params": p.meta.params,
    });
    let path = out.join("summary.json");
    std::fs::write(&path, serde_json::to_string_pretty(&summary)?)
        .with_context(|| format!("writing {}", path.display()))?;
    println!(
        "{}: {n} images {h}×{w}, mean {mean:.4}, std {:.4}, {} duplicates removed{} -> {}",
        p.meta.name,
        var.sqrt(),
        p.meta.duplicates_removed,
        if cache_hit { " (cached)" } else { "" },
        png.display()
    );
    Ok(())
}
