//! The building blocks as commands (issue 14): `gahb train` (data, net and recipe in, a checkpoint
//! out), `gahb eval` (a checkpoint and data in, the PSNR curve out as PNG and CSV), `gahb models`
//! (what each entry of the model cache is) and `gahb import` (a PyTorch `state_dict` in, a gahb
//! checkpoint out). `gahb sample` and `gahb spectrum` are in [`crate::cmd_analyse`].
//!
//! Shared here: the data options every command takes ([`DataOpts`], the same specs, preparation
//! and cache as a profile's `data = { ... }`), and [`load_model`], which accepts a gahb checkpoint
//! (`.safetensors` with its sidecar), a cache key or its prefix (as `gahb models` lists them), or
//! a PyTorch file (`.pt`, `.pth`, `.bin`, imported on the fly). Every command writes its outputs
//! atomically into one folder with a `summary.json` that says what went in and what came out, and
//! checks a checkpoint against the data (image size, channels) before any work.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use gahb_denoiser::{BfCnnConfig, CheckpointMeta, Model, ModelConfig, PsnrRow, UNetConfig};
use ndarray::{s, Array3};
use tch::Device;

use crate::lab::data::{prepare, DataEnv, DataSpec, Loaded};
use crate::lab::io::ensure_writable;
use crate::lab::io::{write_atomic, write_csv, write_json};
use crate::lab::recipe::{describe_model, RunSettings, TrainSpec};
use crate::lab::store::{ModelSpec, ModelStore};
use crate::profile::Profile;

/// The default cache folder of every command (the experiments' cache).
pub fn default_cache() -> PathBuf {
    PathBuf::from("results").join("cache")
}

/// Which images a command reads: any dataset a profile can name, given by flags.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DataOpts {
    /// The dataset: fashion-mnist, mnist, orl-faces, lfw-subset, calpha, disks, celeba (--path),
    /// folder (--path), npy (--path x.npy) or safetensors (--path x.safetensors [--tensor NAME]).
    #[arg(long)]
    pub data: Option<String>,
    /// The folder (celeba, folder) or file (npy, safetensors) of the data.
    #[arg(long)]
    pub path: Option<PathBuf>,
    /// Side of the square images (required for calpha, disks, celeba and folder; real sets and
    /// arrays keep their own size unless given).
    #[arg(long)]
    pub size: Option<usize>,
    /// How a real set or an array reaches --size: crop (centre-crop, bicubic resize) or pad (with 0).
    #[arg(long)]
    pub fit: Option<String>,
    /// Number of generated images (calpha, disks).
    #[arg(long)]
    pub n: Option<usize>,
    /// Contour regularity α of calpha.
    #[arg(long)]
    pub alpha: Option<f64>,
    /// Background regularity β of calpha (default α).
    #[arg(long)]
    pub beta: Option<f64>,
    /// Read at most this many files of a celeba or image folder.
    #[arg(long)]
    pub limit: Option<usize>,
    /// The tensor of a safetensors file (optional when it holds one).
    #[arg(long)]
    pub tensor: Option<String>,
    /// Seed of generated data.
    #[arg(long, default_value_t = 0)]
    pub data_seed: u64,
    /// Skip this many images of the prepared set (for a held-out block, e.g. S1 = the first N).
    #[arg(long, default_value_t = 0)]
    pub skip: usize,
    /// Use at most this many images after --skip (all by default).
    #[arg(long)]
    pub take: Option<usize>,
}

/// Prepared images and what they are.
pub struct Images {
    /// `[n, h, w]` in [0, 1].
    pub images: Array3<f32>,
    /// The spec, as a profile would write it.
    pub spec: DataSpec,
    /// One line: the set, its size and the block used.
    pub description: String,
}

impl DataOpts {
    /// Whether any data was named.
    pub fn given(&self) -> bool {
        self.data.is_some()
    }

    /// The spec of the flags, through the same parser and checks as a profile's `data` table.
    pub fn spec(&self) -> Result<DataSpec> {
        let name = self
            .data
            .clone()
            .context("no data given: name it with --data (e.g. --data fashion-mnist --size 32)")?;
        let mut table = serde_json::Map::new();
        table.insert("name".into(), name.clone().into());
        let mut put = |k: &str, v: Option<serde_json::Value>| {
            if let Some(v) = v {
                table.insert(k.into(), v);
            }
        };
        put(
            "path",
            self.path.as_ref().map(|p| p.display().to_string().into()),
        );
        put("size", self.size.map(Into::into));
        put("fit", self.fit.clone().map(Into::into));
        put("n", self.n.map(Into::into));
        put("alpha", self.alpha.map(Into::into));
        put("beta", self.beta.map(Into::into));
        put("limit", self.limit.map(Into::into));
        put("tensor", self.tensor.clone().map(Into::into));
        serde_json::from_value(serde_json::Value::Object(table))
            .map_err(|e| anyhow::anyhow!("--data {name}: {e}"))
    }

    /// Prepares the data (cached like a profile's) and takes the --skip/--take block.
    pub fn load(&self, cache: &Path) -> Result<Images> {
        let spec = self.spec()?;
        let env = DataEnv::new(cache.to_path_buf(), None);
        let Loaded { images, meta, .. } = prepare(&env, &spec, self.data_seed)?;
        let (n, h, w) = images.dim();
        if self.skip >= n {
            bail!(
                "--skip {}: the prepared set {} has only {n} images",
                self.skip,
                meta.name
            );
        }
        let end = self.take.map_or(n, |t| (self.skip + t).min(n));
        if self.take == Some(0) {
            bail!("--take 0: no images left to use");
        }
        let block = images.slice(s![self.skip..end, .., ..]).to_owned();
        let name = match &spec {
            DataSpec::Array { path, .. } | DataSpec::Folder { path, .. } => {
                format!("{} {}", meta.name, path.display())
            }
            _ => meta.name.clone(),
        };
        let description = format!("{name} ({h}×{w}), images {}..{end} of {n}", self.skip);
        Ok(Images {
            images: block,
            spec,
            description,
        })
    }
}

/// A network ready to run and where it came from.
pub struct LoadedModel {
    /// The network with its weights.
    pub model: Model,
    /// The file read.
    pub path: PathBuf,
    /// `gahb` or `pytorch`.
    pub format: &'static str,
    /// The sidecar of a gahb checkpoint.
    pub meta: Option<CheckpointMeta>,
}

impl LoadedModel {
    /// What it is, for summaries.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "path": self.path.display().to_string(),
            "format": self.format,
            "model": self.model.config(),
            "in_words": describe_model(self.model.config()),
            "parameters": self.model.param_counts(),
            "trained_steps": self.meta.as_ref().map(|m| m.step),
            "trained_on": self.meta.as_ref().map(|m| m.data_split.clone()),
            "train": self.meta.as_ref().and_then(|m| m.train.clone()),
        })
    }

    /// The image side a UNet was built for (`None` for a BF-CNN, which takes any size).
    pub fn image_size(&self) -> Option<usize> {
        match self.model.config() {
            ModelConfig::UNet(u) => Some(u.image_size as usize),
            ModelConfig::BfCnn(_) => None,
        }
    }

    /// Refuses data of another image size or channel count than the checkpoint's: a one-line
    /// error naming both and the flag to change.
    pub fn check_data(&self, images: &Array3<f32>) -> Result<()> {
        let (_, h, w) = images.dim();
        let channels = match self.model.config() {
            ModelConfig::UNet(u) => u.image_channels,
            ModelConfig::BfCnn(b) => b.image_channels,
        };
        if channels != 1 {
            bail!(
                "{}: the network takes {channels}-channel images, gahb's data are grayscale (1 channel)",
                self.path.display()
            );
        }
        if let Some(size) = self.image_size() {
            if h != size || w != size {
                bail!(
                    "{}: the checkpoint is for {size}×{size} images, the data are {h}×{w}: prepare them with --size {size}",
                    self.path.display()
                );
            }
        }
        Ok(())
    }
}

/// True for the extensions of PyTorch files.
fn is_pytorch(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("pt" | "pth" | "bin" | "tar")
    )
}

/// Resolves a `--model` argument: a file, or a cache key (or a unique prefix of at least 6 hex
/// digits) of `<cache>/models`.
pub fn resolve_model_path(arg: &str, cache: &Path) -> Result<PathBuf> {
    let p = PathBuf::from(arg);
    if p.is_file() {
        return Ok(p);
    }
    if p.is_dir() {
        bail!("--model {arg}: is a folder; give a checkpoint file (.safetensors or a PyTorch .pt)");
    }
    let hex = arg.len() >= 6 && arg.chars().all(|c| c.is_ascii_hexdigit());
    if !hex {
        bail!("--model {arg}: no such file (give a checkpoint, a PyTorch .pt file, or a cache key from `gahb models`)");
    }
    let dir = cache.join("models");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|q| {
                    q.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                        n.starts_with(arg)
                            && n.ends_with(".safetensors")
                            && !n.ends_with(".optim.safetensors")
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    match found.len() {
        0 => bail!(
            "--model {arg}: no such file, and no cache entry in {} starts with it",
            dir.display()
        ),
        1 => Ok(found.remove(0)),
        n => bail!("--model {arg}: {n} cache entries start with it; give more digits"),
    }
}

/// Loads `--model`: a gahb checkpoint (architecture from its sidecar) or a PyTorch `state_dict`
/// (architecture inferred; a UNet then needs `image_size`, from `--image-size` or the data).
pub fn load_model(
    arg: &str,
    cache: &Path,
    image_size: Option<usize>,
    device: Device,
) -> Result<LoadedModel> {
    let path = resolve_model_path(arg, cache)?;
    if is_pytorch(&path) {
        let size = image_size.unwrap_or(0);
        let imported = gahb_denoiser::pytorch::import_state_dict(&path, size as i64, device)
            .map_err(|e| {
                if size == 0 {
                    anyhow::anyhow!(
                        "{e}; a PyTorch UNet's image size is not in its weights: give --image-size"
                    )
                } else {
                    anyhow::anyhow!("{e}")
                }
            })?;
        return Ok(LoadedModel {
            model: imported.model,
            path,
            format: "pytorch",
            meta: None,
        });
    }
    let (model, meta) = gahb_denoiser::checkpoint::load(&path, device)
        .with_context(|| format!("loading {}", path.display()))?;
    Ok(LoadedModel {
        model,
        path,
        format: "gahb",
        meta: Some(meta),
    })
}

/// The network options of `gahb train`.
#[derive(clap::Args, Debug, Clone)]
pub struct NetOpts {
    /// unet or bf_cnn.
    #[arg(long, default_value = "unet")]
    pub arch: String,
    /// UNet blocks (1, 2, 3, 4 for 20², 40², 80², 160² in the paper).
    #[arg(long, default_value_t = 2)]
    pub blocks: usize,
    /// Channels of the first UNet block, or of every BF-CNN layer.
    #[arg(long, default_value_t = 16)]
    pub channels: i64,
    /// BF-CNN layers.
    #[arg(long, default_value_t = 21)]
    pub layers: usize,
    /// Convolution kernel size.
    #[arg(long, default_value_t = 3)]
    pub kernel: i64,
}

impl NetOpts {
    fn config(&self, image_size: usize) -> Result<ModelConfig> {
        let cfg = match self.arch.as_str() {
            "unet" => ModelConfig::UNet(UNetConfig {
                n_blocks: self.blocks,
                base_channels: self.channels,
                image_channels: 1,
                image_size: image_size as i64,
                kernel_size: self.kernel,
            }),
            "bf_cnn" | "bfcnn" => ModelConfig::BfCnn(BfCnnConfig {
                n_layers: self.layers,
                channels: self.channels,
                kernel_size: self.kernel,
                ..BfCnnConfig::default()
            }),
            other => bail!("--arch {other:?}: choose unet or bf_cnn"),
        };
        cfg.validate().map_err(|e| {
            anyhow::anyhow!("the network cannot take {image_size}×{image_size} images: {e}")
        })?;
        Ok(cfg)
    }
}

/// Arguments of `gahb train`.
#[derive(clap::Args, Debug, Clone)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataOpts,
    #[command(flatten)]
    pub net: NetOpts,
    /// The profile whose `[train]` recipe is used (smoke, quick, standard, paper, long, or a path).
    #[arg(long, default_value = "quick")]
    pub recipe: String,
    /// Override the recipe's steps.
    #[arg(long)]
    pub steps: Option<usize>,
    /// Override the recipe's batch size.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Override the recipe's learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Training seed (initial weights, batches, noise).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The checkpoint to write (`.safetensors`; its sidecar `.json` and `.summary.json` beside it).
    #[arg(long)]
    pub out: PathBuf,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Cache folder (trained models are cached and resumable there, as in reproduce).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Write a resumable checkpoint every this many steps.
    #[arg(long, default_value_t = 500)]
    pub checkpoint_every: usize,
}

/// `gahb train`.
pub fn train(a: &TrainArgs) -> Result<()> {
    let t0 = Instant::now();
    if a.out.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        bail!(
            "--out {}: the checkpoint's name must end in .safetensors",
            a.out.display()
        );
    }
    let cache = a.cache.clone().unwrap_or_else(default_cache);
    ensure_writable("--cache", &cache)?;
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        ensure_writable("--out", dir)?;
    }
    let device = gahb_tensor::parse_device(&a.device)?;
    let mut recipe: TrainSpec = Profile::load(&a.recipe)
        .with_context(|| format!("--recipe {}", a.recipe))?
        .train;
    if let Some(s) = a.steps {
        recipe.steps = s;
    }
    if let Some(b) = a.batch_size {
        recipe.batch_size = b;
    }
    if let Some(lr) = a.lr {
        recipe.lr = lr;
    }
    crate::profile::check_recipe(&recipe)?;
    let train = recipe.to_config(a.seed)?;
    let data = a.data.load(&cache)?;
    let (n, h, w) = data.images.dim();
    if h != w {
        bail!("the data are {h}×{w}: the networks take square images; prepare them with --size");
    }
    let spec = ModelSpec {
        model: a.net.config(h)?,
        train,
    };
    eprintln!(
        "training {} on {n} images of {}: {}",
        describe_model(&spec.model),
        data.description,
        recipe.describe()
    );
    let store = ModelStore::new(&cache);
    let run = RunSettings {
        checkpoint_every: a.checkpoint_every,
        git_revision: crate::lab::store::git_revision(&std::env::current_dir()?),
        ..RunSettings::default()
    };
    let (model, info) = store.get_or_train(
        "train",
        &spec,
        &data.images,
        &data.description,
        &run,
        device,
    )?;
    let meta = gahb_denoiser::checkpoint::read_meta(&store.path_of(&info.key))?;
    gahb_denoiser::checkpoint::save(&a.out, &model, &meta, None)
        .with_context(|| format!("writing {}", a.out.display()))?;
    let summary = serde_json::json!({
        "command": "train",
        "checkpoint": a.out.display().to_string(),
        "cache_key": info.key,
        "from_cache": info.cached,
        "data": data.spec,
        "data_description": data.description,
        "n_images": n,
        "model": spec.model,
        "in_words": describe_model(&spec.model),
        "recipe": recipe,
        "recipe_in_words": recipe.describe(),
        "train": spec.train,
        "steps": info.steps,
        "last_loss": info.last_loss,
        "train_seconds": info.train_seconds,
        "notes": info.notes,
        "wall_seconds": t0.elapsed().as_secs_f64(),
    });
    write_json(&summary_path(&a.out), &summary)?;
    println!(
        "{} -> {} ({} steps, last loss {}, {:.0} s{})",
        describe_model(&spec.model),
        a.out.display(),
        info.steps,
        info.last_loss.map_or("-".into(), |l| format!("{l:.4e}")),
        t0.elapsed().as_secs_f64(),
        if info.cached { ", from the cache" } else { "" }
    );
    Ok(())
}

/// `x.safetensors` → `x.summary.json`.
fn summary_path(checkpoint: &Path) -> PathBuf {
    checkpoint.with_extension("summary.json")
}

/// Arguments of `gahb eval`.
#[derive(clap::Args, Debug, Clone)]
pub struct EvalArgs {
    /// A gahb checkpoint (.safetensors), a cache key from `gahb models`, or a PyTorch .pt file.
    #[arg(long)]
    pub model: String,
    #[command(flatten)]
    pub data: DataOpts,
    /// Noise levels on the [0, 1] scale, comma separated (default: the paper's 15, 0 to 42 dB).
    #[arg(long, value_delimiter = ',')]
    pub sigmas: Vec<f64>,
    /// Seed of the noise (image i uses stream i, so every model sees the same noisy images).
    #[arg(long, default_value_t = 0)]
    pub noise_seed: u64,
    /// Images per forward pass.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    #[command(flatten)]
    pub run: RunOpts,
}

/// The options `gahb eval`, `sample` and `spectrum` share: where outputs go, the device, the cache.
#[derive(clap::Args, Debug, Clone)]
pub struct RunOpts {
    /// Output folder (default: results/<command>/<checkpoint name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Cache folder: prepared data, and where cache keys from `gahb models` are looked up.
    #[arg(long)]
    pub cache: Option<PathBuf>,
}

impl RunOpts {
    /// The cache folder (default [`default_cache`]).
    pub fn cache(&self) -> PathBuf {
        self.cache.clone().unwrap_or_else(default_cache)
    }

    /// The device.
    pub fn device(&self) -> Result<Device> {
        Ok(gahb_tensor::parse_device(&self.device)?)
    }

    /// The output folder of command `cmd` for the model read from `model`, created and checked
    /// to be writable.
    pub fn out_dir(&self, cmd: &str, model: &Path) -> Result<PathBuf> {
        let out = self.out.clone().unwrap_or_else(|| default_out(cmd, model));
        ensure_writable("--out", &out)?;
        Ok(out)
    }
}

/// The default output folder of a command for a model argument.
pub fn default_out(cmd: &str, model: &Path) -> PathBuf {
    let stem = model
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("model")
        .chars()
        .take(40)
        .collect::<String>();
    PathBuf::from("results").join(cmd).join(stem)
}

/// A progress bar of `n` steps (hidden when stderr is not a terminal).
pub fn bar(n: u64, what: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new(n);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {pos}/{len} {elapsed} (eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    pb.set_message(what.to_string());
    pb
}

/// `gahb eval`.
pub fn eval(a: &EvalArgs) -> Result<()> {
    let t0 = Instant::now();
    let cache = a.run.cache();
    let device = a.run.device()?;
    let data = a.data.load(&cache)?;
    let (_, h, _) = data.images.dim();
    let m = load_model(&a.model, &cache, Some(h), device)?;
    m.check_data(&data.images)?;
    let out = a.run.out_dir("eval", &m.path)?;
    let sigmas = if a.sigmas.is_empty() {
        gahb_denoiser::paper_sigmas()
    } else {
        a.sigmas.clone()
    };
    if let Some(s) = sigmas.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        bail!("--sigmas: every σ must be finite and > 0, got {s}");
    }
    let batch = gahb_tensor::convert::images_to_batch(&data.images).to_device(device);
    let pb = bar(sigmas.len() as u64, "eval");
    let mut rows: Vec<PsnrRow> = Vec::with_capacity(sigmas.len());
    for &sigma in &sigmas {
        // The noise of image i is stream i of the seed at every σ, so one σ at a time gives
        // the same numbers as one call.
        let row = gahb_denoiser::eval::psnr_curve(
            &m.model,
            &batch,
            &[sigma],
            a.noise_seed,
            a.batch.max(1),
        )?;
        rows.extend(row);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let header: Vec<String> = [
        "sigma",
        "input_psnr_db",
        "output_psnr_db",
        "gain_db",
        "output_mse",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let csv_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                format!("{:.6}", r.sigma),
                format!("{:.4}", r.input_psnr),
                format!("{:.4}", r.output_psnr),
                format!("{:.4}", r.output_psnr - r.input_psnr),
                format!("{:.6e}", r.output_mse),
            ]
        })
        .collect();
    write_csv(&out.join("psnr.csv"), &header, &csv_rows)?;
    let pts = crate::lab::eval::points(&rows);
    let top = crate::lab::eval::top(&[&rows]).max(1.0);
    gahb_plot::line_plot_png(
        &out.join("psnr.png"),
        &[gahb_plot::Panel {
            title: format!(
                "{} on {}",
                describe_model(m.model.config()),
                data.description
            ),
            x_label: "input PSNR (dB)".into(),
            y_label: "output PSNR (dB)".into(),
            series: vec![
                gahb_plot::Series {
                    label: "denoiser".into(),
                    points: pts,
                    reference: false,
                    markers: true,
                },
                gahb_plot::Series {
                    label: "identity".into(),
                    points: vec![(0.0, 0.0), (top, top)],
                    reference: true,
                    markers: false,
                },
            ],
            ..gahb_plot::Panel::default()
        }],
        (640, 480),
    )?;
    let summary = serde_json::json!({
        "command": "eval",
        "model": m.describe(),
        "data": data.spec,
        "data_description": data.description,
        "n_images": data.images.dim().0,
        "noise_seed": a.noise_seed,
        "curve": rows,
        "mean_gain_db": rows.iter().map(|r| r.output_psnr - r.input_psnr).sum::<f64>() / rows.len() as f64,
        "outputs": ["psnr.csv", "psnr.png"],
        "wall_seconds": t0.elapsed().as_secs_f64(),
    });
    write_json(&out.join("summary.json"), &summary)?;
    for r in &rows {
        println!(
            "σ = {:.4}: {:6.2} dB in, {:6.2} dB out",
            r.sigma, r.input_psnr, r.output_psnr
        );
    }
    println!("-> {}", out.display());
    Ok(())
}

/// Arguments of `gahb models`.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelsArgs {
    /// Cache folder.
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One entry of the model cache, as `gahb models` lists it.
#[derive(Debug, serde::Serialize)]
pub struct CacheEntry {
    /// The cache key (the file stem).
    pub key: String,
    /// The network in words.
    pub model: String,
    /// What it was trained on, as recorded by the run that trained it.
    pub data: String,
    /// Training images.
    pub n_images: Option<usize>,
    /// The recipe in short.
    pub recipe: String,
    /// Steps done, and steps the recipe asks for.
    pub steps: usize,
    /// Steps of the recipe (`None`: epochs).
    pub steps_total: Option<usize>,
    /// Bytes of the weights, sidecar and optimizer state.
    pub bytes: u64,
    /// When it was written (UTC).
    pub date: String,
    /// Seconds of training.
    pub train_seconds: f64,
    /// The checkpoint file.
    pub path: String,
}

/// Reads the sidecars of `<cache>/models`.
pub fn cache_entries(cache: &Path) -> Result<Vec<CacheEntry>> {
    let dir = cache.join("models");
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".safetensors") && !n.ends_with(".optim.safetensors"))
        })
        .collect();
    files.sort();
    for path in files {
        let key = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
        let bytes = size(&path)
            + size(&gahb_denoiser::checkpoint::sidecar_path(&path))
            + size(&gahb_denoiser::checkpoint::optimizer_path(&path));
        match gahb_denoiser::checkpoint::read_meta(&path) {
            Ok(meta) => out.push(CacheEntry {
                key,
                model: describe_model(&meta.model),
                data: meta.data_split.clone(),
                n_images: meta.n_train_images,
                recipe: meta.train.as_ref().map_or("not recorded".into(), |t| {
                    format!(
                        "batch {}, lr {}, {}{}, σ ≤ {}, seed {}",
                        t.batch_size,
                        t.lr,
                        match t.schedule {
                            gahb_denoiser::LrSchedule::Cosine {
                                warmup,
                                final_fraction,
                            } => format!("{warmup} warm-up steps then cosine to {final_fraction}×"),
                            gahb_denoiser::LrSchedule::Milestones if t.lr_milestones.is_empty() => {
                                "constant lr".to_string()
                            }
                            gahb_denoiser::LrSchedule::Milestones => {
                                format!("halved at {:?}", t.lr_milestones)
                            }
                        },
                        t.ema.map_or(String::new(), |e| format!(", EMA {e}")),
                        t.sigma_max,
                        t.seed
                    )
                }),
                steps: meta.step,
                steps_total: meta.train.as_ref().and_then(|t| t.steps),
                bytes,
                date: utc_date(meta.saved_unix_time),
                train_seconds: meta.train_seconds,
                path: path.display().to_string(),
            }),
            Err(e) => out.push(CacheEntry {
                key,
                model: format!("unreadable sidecar ({e})"),
                data: String::new(),
                n_images: None,
                recipe: String::new(),
                steps: 0,
                steps_total: None,
                bytes,
                date: String::new(),
                train_seconds: 0.0,
                path: path.display().to_string(),
            }),
        }
    }
    Ok(out)
}

/// `gahb models`.
pub fn models(a: &ModelsArgs) -> Result<()> {
    let cache = a.cache.clone().unwrap_or_else(default_cache);
    let entries = cache_entries(&cache)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(());
    }
    if entries.is_empty() {
        println!("no trained models in {}", cache.join("models").display());
        return Ok(());
    }
    for e in &entries {
        let state = match e.steps_total {
            Some(t) if e.steps < t => format!("partial: {} of {t} steps", e.steps),
            _ => format!("{} steps", e.steps),
        };
        println!(
            "{:.12}  {}  {}  {} images  {state}  {:.1} MB  {}",
            e.key,
            e.model,
            e.data,
            e.n_images.map_or("?".into(), |n| n.to_string()),
            e.bytes as f64 / 1e6,
            e.date
        );
        println!("              recipe: {}", e.recipe);
    }
    println!(
        "{} model(s) in {} (use a key's first digits as --model)",
        entries.len(),
        cache.join("models").display()
    );
    Ok(())
}

/// `YYYY-MM-DD HH:MM UTC` of Unix seconds (the civil calendar from days, H. Hinnant's algorithm).
pub fn utc_date(unix: u64) -> String {
    if unix == 0 {
        return "date not recorded".into();
    }
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        secs / 3600,
        (secs % 3600) / 60
    )
}

/// Arguments of `gahb import`.
#[derive(clap::Args, Debug, Clone)]
pub struct ImportArgs {
    /// A PyTorch `state_dict` as `torch.save` writes it (zip format; keys of the reference code,
    /// with or without DataParallel's `module.` prefix).
    pub file: PathBuf,
    /// The image side the UNet was trained at (not in the weights; e.g. 80 for the paper's CelebA
    /// models). Any multiple of 2^blocks works for a BF-CNN or UNet.
    #[arg(long)]
    pub image_size: usize,
    /// The gahb checkpoint to write (`.safetensors`; default: the file's name with that extension).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// What the weights were trained on, recorded in the checkpoint.
    #[arg(long, default_value = "imported from PyTorch")]
    pub trained_on: String,
}

/// `gahb import`: nothing is written unless the whole file was read and checked.
pub fn import(a: &ImportArgs) -> Result<()> {
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| a.file.with_extension("safetensors"));
    if out.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        bail!(
            "--out {}: the checkpoint's name must end in .safetensors",
            out.display()
        );
    }
    let imported =
        gahb_denoiser::pytorch::import_state_dict(&a.file, a.image_size as i64, Device::Cpu)?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        ensure_writable("--out", dir)?;
    }
    let meta = CheckpointMeta::new(
        &imported.model,
        None,
        &format!("{} ({})", a.trained_on, a.file.display()),
        None,
        0,
    );
    gahb_denoiser::checkpoint::save(&out, &imported.model, &meta, None)
        .with_context(|| format!("writing {}", out.display()))?;
    let summary = serde_json::json!({
        "command": "import",
        "source": a.file.display().to_string(),
        "source_sha256": gahb_data::file_sha256(&a.file).ok(),
        "checkpoint": out.display().to_string(),
        "model": imported.config,
        "in_words": describe_model(&imported.config),
        "stripped_module_prefix": imported.stripped_prefix,
        "n_tensors": imported.n_tensors,
        "parameters": imported.param_counts,
    });
    write_json(&summary_path(&out), &summary)?;
    println!(
        "{}: {} ({} tensors{}) -> {}",
        a.file.display(),
        describe_model(&imported.config),
        imported.n_tensors,
        if imported.stripped_prefix {
            ", `module.` prefix stripped"
        } else {
            ""
        },
        out.display()
    );
    Ok(())
}

/// Writes `bytes` to `path` atomically, naming the file in the error.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, bytes).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_of_known_instants() {
        assert_eq!(utc_date(0), "date not recorded");
        assert_eq!(utc_date(86_400), "1970-01-02 00:00 UTC");
        // 2000-03-01 12:34 UTC (a leap year's March) and 2026-12-03 17:45 UTC.
        assert_eq!(utc_date(951_914_040), "2000-03-01 12:34 UTC");
        assert_eq!(utc_date(1_796_319_900), "2026-12-03 17:45 UTC");
    }

    #[test]
    fn data_flags_go_through_the_profile_parser() {
        let o = DataOpts {
            data: Some("npy".into()),
            ..DataOpts::default()
        };
        let err = format!("{:#}", o.spec().expect_err("no path"));
        assert!(err.contains("needs `path`"), "{err}");
        let o = DataOpts {
            data: Some("mnist".into()),
            alpha: Some(2.0),
            ..DataOpts::default()
        };
        let err = format!("{:#}", o.spec().expect_err("alpha on mnist"));
        assert!(err.contains("takes no `alpha`"), "{err}");
        let o = DataOpts {
            data: Some("calpha".into()),
            size: Some(16),
            n: Some(4),
            alpha: Some(2.0),
            ..DataOpts::default()
        };
        assert!(matches!(
            o.spec().expect("calpha"),
            DataSpec::Calpha { size: 16, n: 4, .. }
        ));
    }
}
