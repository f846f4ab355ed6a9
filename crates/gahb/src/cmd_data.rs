//! `gahb data`: prepares one dataset (PAPER.md §2 CelebA pipeline, §6 C^α, §7 disks, §8 shuffled
//! pixels, an offline set of shared DATASETS.md §2, or a folder of one's own) through the same
//! function and cache as the experiments ([`crate::lab::data::prepare`]), and writes a contact
//! sheet of its first images and a short summary (count, size, mean, std, duplicates removed).
//!
//! `gahb data all` writes the contact sheets of C^α for α = 1, 2, 4, disks, shuffled ORL faces,
//! ORL faces and Fashion-MNIST.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use gahb_data::RealSet;
use gahb_synth::PixelPermutation;
use ndarray::{Array2, Axis};

use crate::lab::data::{prepare, DataEnv, DataSpec, Fit, Loaded};
use crate::lab::io::ensure_writable;

/// Arguments of `gahb data`.
#[derive(clap::Args, Debug, Clone)]
pub struct DataArgs {
    /// calpha, disks, fashion-mnist, mnist, orl-faces, lfw-subset, celeba (--path), folder (--path),
    /// npy (--path x.npy), safetensors (--path x.safetensors [--tensor NAME]), or all (a contact sheet of each kind of data the experiments use).
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
    /// How a real set reaches --size: `crop` (centre-crop to a square, then bicubic resize) or
    /// `pad` with 0 (for example 28 → 32).
    #[arg(long, default_value = "crop")]
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
    /// Folder of images for celeba and folder; the file of npy and safetensors.
    #[arg(long)]
    pub path: Option<PathBuf>,
    /// Read at most this many files of a celeba or image folder (the first in sorted order).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Output folder (default `results/data/<name>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Cache folder (default `results/cache`, the experiments' cache).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Images on the contact sheet.
    #[arg(long, default_value_t = 64)]
    pub show: usize,
    /// The tensor of a safetensors file (optional when it holds one).
    #[arg(long)]
    pub tensor: Option<String>,
    /// Also write the prepared images to this file: `.npy` ([n, h, w] float32) or
    /// `.safetensors` (tensor `images`, [n, 1, h, w] float32, as PyTorch takes a batch).
    #[arg(long)]
    pub export: Option<PathBuf>,
}

/// Prepares the dataset of `args` and writes `contact.png` and `summary.json`.
pub fn run(args: &DataArgs) -> Result<()> {
    if args.name == "all" {
        return run_all(args);
    }
    let env = DataEnv::new(
        args.cache
            .clone()
            .unwrap_or_else(|| PathBuf::from("results").join("cache")),
        None,
    );
    let spec = spec(args)?;
    ensure_writable("--cache", &env.cache)?;
    if let Some(out) = &args.out {
        ensure_writable("--out", out)?;
    }
    let export = match &args.export {
        Some(p) => {
            let format =
                gahb_data::ArrayFormat::of(p).map_err(|e| anyhow::anyhow!("--export: {e}"))?;
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                ensure_writable("--export", dir)?;
            }
            Some((p.clone(), format))
        }
        None => None,
    };
    let mut loaded = prepare(&env, &spec, args.seed)?;
    if args.shuffle {
        let (_, h, w) = loaded.images.dim();
        let perm = PixelPermutation::from_seed(h, w, args.seed)?;
        loaded.images = perm.apply(loaded.images.view())?;
        loaded.meta.name.push_str("-shuffled");
        loaded.meta.params["pixel_permutation_seed"] = serde_json::json!(args.seed);
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| env.root.join("results").join("data").join(label(args)));
    write_outputs(&out, &loaded, args.show)?;
    if let Some((path, format)) = export {
        let bytes = gahb_data::encode_image_array(&loaded.images, format)?;
        crate::lab::io::write_atomic(&path, &bytes)
            .with_context(|| format!("writing {}", path.display()))?;
        let (n, h, w) = loaded.images.dim();
        println!("exported {n} images {h}×{w} -> {}", path.display());
    }
    Ok(())
}

/// The typed spec of the arguments.
fn spec(args: &DataArgs) -> Result<DataSpec> {
    let fit = match args.fit.as_str() {
        "crop" => Fit::Crop,
        "pad" => Fit::Pad,
        other => anyhow::bail!("--fit must be crop or pad, got {other:?}"),
    };
    let size = args.size.unwrap_or(80);
    let spec = match args.name.as_str() {
        "calpha" => DataSpec::Calpha {
            size,
            alpha: args.alpha,
            beta: args.beta,
            n: args.n,
        },
        "disks" => DataSpec::Disks { size, n: args.n },
        "celeba" => DataSpec::Celeba {
            path: Some(
                args.path
                    .clone()
                    .context("celeba needs --path DIR (img_align_celeba)")?,
            ),
            size,
            limit: args.limit,
        },
        "npy" | "safetensors" => {
            return crate::cmd_model::DataOpts {
                data: Some(args.name.clone()),
                path: args.path.clone(),
                size: args.size,
                fit: (args.fit != "crop").then(|| args.fit.clone()),
                tensor: args.tensor.clone(),
                ..Default::default()
            }
            .spec()
        }
        "folder" => DataSpec::Folder {
            path: args.path.clone().context("folder needs --path DIR")?,
            size,
            limit: args.limit,
        },
        other => DataSpec::Real {
            set: RealSet::parse(other).map_err(|_| {
                anyhow::anyhow!(
                    "unknown dataset {other:?} (calpha, disks, fashion-mnist, mnist, orl-faces, lfw-subset, celeba, folder, npy, safetensors, all)"
                )
            })?,
            size: args.size,
            fit,
        },
    };
    spec.validate()?;
    Ok(spec)
}

/// One contact sheet of each kind of data the experiments use, each in its own folder under
/// results/data/ (or --out).
fn run_all(args: &DataArgs) -> Result<()> {
    let base = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("results").join("data"));
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

/// Writes `contact.png` (the first `show` images) and `summary.json` into `out`, and prints the summary.
fn write_outputs(out: &Path, p: &Loaded, show: usize) -> Result<()> {
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
        "description": p.description,
        "source": p.meta.source,
        "count": n,
        "height": h,
        "width": w,
        "mean": mean,
        "std": var.sqrt(),
        "duplicates_removed": p.meta.duplicates_removed,
        "from_cache": p.from_cache,
        "cache_rebuilt": p.rebuilt,
        "params": p.meta.params,
    });
    crate::lab::io::write_json(&out.join("summary.json"), &summary)?;
    println!(
        "{}: {n} images {h}×{w}, mean {mean:.4}, std {:.4}, {} duplicates removed{} -> {}",
        p.meta.name,
        var.sqrt(),
        p.meta.duplicates_removed,
        match (&p.rebuilt, p.from_cache) {
            (Some(_), _) => " (the cached copy failed its check: prepared again)",
            (None, true) => " (cached)",
            (None, false) => "",
        },
        png.display()
    );
    Ok(())
}
