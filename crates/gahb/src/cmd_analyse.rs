//! `gahb sample` (a checkpoint and seeds in, n samples out as a PNG grid and `.npy`, with the
//! sampler's parameters recorded) and `gahb spectrum` (a checkpoint, an image and σ in; the
//! eigenvalues λ_k of the Jacobian's symmetric part, the coefficients |⟨x, e_k⟩|, eigenvector
//! images and the basis out as `.npy` or safetensors, by the dense route — the full Jacobian and
//! eigh, PAPER.md §5 — or the restarted Lanczos route, top-k only, O(k·d) memory, with tr ∇f from
//! Hutch++ probes).
//!
//! Both accept what `--model` of [`crate::cmd_model`] accepts, and write into one folder with a
//! `summary.json`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use gahb_analysis::{
    eigh_sym, jacobian, jacobian_trace, probed_checks, restarted_top_k, EighBackend,
    JacobianConfig, LanczosOperator, RestartedConfig, TraceConfig, TraceMethod,
};
use gahb_diffusion::{InitMean, SamplerConfig};
use gahb_plot::{image_grid_png, GridOptions};
use gahb_tensor::convert::{images_to_batch, tensor_to_array};
use gahb_tensor::Denoiser;
use ndarray::{Array2, Array3, Axis, Ix2};
use tch::{Device, Kind, Tensor};

use crate::cmd_model::{bar, load_model, write_file, DataOpts, RunOpts};
use crate::lab::io::write_json;
use crate::lab::recipe::describe_model;

/// Arguments of `gahb sample`.
#[derive(clap::Args, Debug, Clone)]
pub struct SampleArgs {
    /// A gahb checkpoint (.safetensors), a cache key from `gahb models`, or a PyTorch .pt file.
    #[arg(long)]
    pub model: String,
    /// Image side of the samples (default: the UNet's own; required for a PyTorch file or a BF-CNN).
    #[arg(long)]
    pub image_size: Option<usize>,
    /// Number of samples.
    #[arg(long, default_value_t = 16)]
    pub n: usize,
    /// Seed of all the sampler's noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sample i uses noise stream first_index + i (so runs can be split and joined).
    #[arg(long, default_value_t = 0)]
    pub first_index: u64,
    /// Initial step size h₀ (paper 0.01).
    #[arg(long, default_value_t = 0.01)]
    pub h0: f64,
    /// Noise injection β (paper 0.1; 1 is deterministic).
    #[arg(long, default_value_t = 0.1)]
    pub beta: f64,
    /// Standard deviation σ₀ of the initial image (paper 1).
    #[arg(long, default_value_t = 1.0)]
    pub sigma0: f64,
    /// Stop when the effective noise falls below σ_L (paper 0.05).
    #[arg(long, default_value_t = 0.05)]
    pub sigma_l: f64,
    /// Mean of the initial image.
    #[arg(long, default_value_t = 0.5)]
    pub init_mean: f64,
    /// The most steps a sample may take.
    #[arg(long, default_value_t = 10_000)]
    pub max_steps: usize,
    /// Samples drawn together (memory).
    #[arg(long, default_value_t = 8)]
    pub chunk: usize,
    #[command(flatten)]
    pub run: RunOpts,
}

/// `gahb sample`.
pub fn sample(a: &SampleArgs) -> Result<()> {
    let t0 = Instant::now();
    if a.n == 0 {
        bail!("--n 0: ask for at least one sample");
    }
    let cache = a.run.cache();
    let device = a.run.device()?;
    let m = load_model(&a.model, &cache, a.image_size, device)?;
    let size = match (m.image_size(), a.image_size) {
        (Some(own), Some(s)) if own != s => bail!(
            "--image-size {s}: the checkpoint is a UNet for {own}×{own} images; leave --image-size out or give {own}"
        ),
        (Some(own), _) => own,
        (None, Some(s)) => s,
        (None, None) => bail!("{}: a BF-CNN takes any size: give --image-size", m.path.display()),
    };
    let out = a.run.out_dir("sample", &m.path)?;
    let cfg = SamplerConfig {
        h0: a.h0,
        beta: a.beta,
        sigma0: a.sigma0,
        sigma_l: a.sigma_l,
        init_mean: InitMean::Constant(a.init_mean),
        max_steps: a.max_steps,
        seed: a.seed,
        first_sample_index: a.first_index,
        ..SamplerConfig::default()
    };
    cfg.validate()?;
    let chunk = a.chunk.max(1);
    let pb = bar(a.n as u64, "sampling");
    let mut parts = Vec::new();
    let (mut unfinished, mut steps) = (0usize, 0.0f64);
    let mut start = 0;
    while start < a.n {
        let len = chunk.min(a.n - start);
        let c = SamplerConfig {
            first_sample_index: cfg.first_sample_index + start as u64,
            ..cfg.clone()
        };
        // Chunks draw the same samples as one call (noise stream per sample index).
        let drawn =
            crate::lab::samples::draw(&m.model, &c, len, [1, size as i64, size as i64], len)?;
        unfinished += drawn.unfinished;
        steps += drawn.mean_steps * len as f64;
        parts.push(drawn.images()?);
        start += len;
        pb.inc(len as u64);
    }
    pb.finish_and_clear();
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    let samples: Array3<f32> = ndarray::concatenate(Axis(0), &views)?;
    let tiles: Vec<Array2<f32>> = samples.outer_iter().map(|s| s.to_owned()).collect();
    let ncols = (a.n as f64).sqrt().ceil() as usize;
    image_grid_png(
        &out.join("samples.png"),
        &tiles,
        ncols,
        &GridOptions::default(),
    )
    .context("writing samples.png")?;
    let flat: Vec<f32> = samples.iter().copied().collect();
    write_file(
        &out.join("samples.npy"),
        &gahb_data::encode_npy_f32(&[a.n, size, size], &flat),
    )?;
    let summary = serde_json::json!({
        "command": "sample",
        "model": m.describe(),
        "n_samples": a.n,
        "image_size": size,
        "sampler": cfg,
        "unfinished": unfinished,
        "mean_steps": steps / a.n as f64,
        "outputs": ["samples.png", "samples.npy"],
        "wall_seconds": t0.elapsed().as_secs_f64(),
    });
    write_json(&out.join("summary.json"), &summary)?;
    println!(
        "{} samples of {}×{size} from {} ({:.0} steps on average, {unfinished} stopped before σ_L) -> {}",
        a.n,
        size,
        describe_model(m.model.config()),
        steps / a.n as f64,
        out.display()
    );
    Ok(())
}

/// Arguments of `gahb spectrum`.
#[derive(clap::Args, Debug, Clone)]
pub struct SpectrumArgs {
    /// A gahb checkpoint (.safetensors), a cache key from `gahb models`, or a PyTorch .pt file.
    #[arg(long)]
    pub model: String,
    /// The clean image: a PNG or JPEG (converted to gray, centre-cropped and resized to the
    /// network's size); or give --data and --index.
    #[arg(long)]
    pub image: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataOpts,
    /// Which image of --data (after --skip).
    #[arg(long, default_value_t = 0)]
    pub index: usize,
    /// Image side for a PyTorch UNet or a BF-CNN read from --image (default: the data's).
    #[arg(long)]
    pub image_size: Option<usize>,
    /// Noise level on the [0, 1] scale: the Jacobian is taken at y = x + σz.
    #[arg(long)]
    pub sigma: f64,
    /// Seed of z.
    #[arg(long, default_value_t = 0)]
    pub noise_seed: u64,
    /// dense (full Jacobian and eigh, every pair; d passes and d² memory) or lanczos (top --k
    /// pairs by restarted block Lanczos, O(k·d) memory). Default: dense up to 64×64, else lanczos.
    #[arg(long)]
    pub route: Option<String>,
    /// Pairs to keep: the Lanczos route's k (default 32); for the dense route the basis written
    /// is cut to the first k (default: all).
    #[arg(long)]
    pub k: Option<usize>,
    /// Lanczos: relative residual every pair must meet.
    #[arg(long, default_value_t = 1e-4)]
    pub tol: f64,
    /// Lanczos: the most single-vector products to spend.
    #[arg(long, default_value_t = 4000)]
    pub budget: usize,
    /// Lanczos: directions per batched network pass.
    #[arg(long, default_value_t = 8)]
    pub block: usize,
    /// Lanczos: the most stored basis vectors, locked ones included (default max(2k, k + 20) +
    /// 2·block; a larger basis restarts less often on flat spectra).
    #[arg(long)]
    pub max_basis: Option<usize>,
    /// Lanczos: Hutch++ directions for tr ∇f.
    #[arg(long, default_value_t = 90)]
    pub trace_directions: usize,
    /// npy (one file per array) or safetensors (one file `spectrum.safetensors`).
    #[arg(long, default_value = "npy")]
    pub format: String,
    /// Eigenvectors shown in eigenvectors.png.
    #[arg(long, default_value_t = 16)]
    pub show: usize,
    #[command(flatten)]
    pub run: RunOpts,
}

/// The clean image of `gahb spectrum` and what it is.
fn clean_image(a: &SpectrumArgs, cache: &Path) -> Result<(Array2<f32>, String)> {
    match (&a.image, a.data.given()) {
        (Some(_), true) => bail!("give either --image or --data, not both"),
        (None, false) => bail!("no image: give --image FILE or --data NAME [--index I]"),
        (Some(p), false) => {
            let rgb = gahb_data::load_rgb(p)?;
            let gray = gahb_data::gray_from_planes(&gahb_data::rgb_planes(&rgb));
            let (h, w) = gray.dim();
            let side = h.min(w);
            let (r0, c0) = ((h - side) / 2, (w - side) / 2);
            let square = gray
                .slice(ndarray::s![r0..r0 + side, c0..c0 + side])
                .to_owned();
            let target = a.image_size.unwrap_or(side);
            let img = if target == side {
                square
            } else {
                gahb_data::resize_bicubic(square.view(), target, target, false)
            };
            Ok((img.mapv(|v| v.clamp(0.0, 1.0)), p.display().to_string()))
        }
        (None, true) => {
            let d = a.data.load(cache)?;
            let n = d.images.dim().0;
            if a.index >= n {
                bail!(
                    "--index {}: the data hold {n} images ({})",
                    a.index,
                    d.description
                );
            }
            Ok((
                d.images.index_axis(Axis(0), a.index).to_owned(),
                format!("image {} of {}", a.index, d.description),
            ))
        }
    }
}

/// `gahb spectrum`.
pub fn spectrum(a: &SpectrumArgs) -> Result<()> {
    let t0 = Instant::now();
    if !(a.sigma.is_finite() && a.sigma > 0.0) {
        bail!("--sigma {}: must be finite and > 0", a.sigma);
    }
    let format = match a.format.as_str() {
        "npy" | "safetensors" => a.format.as_str(),
        other => bail!("--format {other:?}: choose npy or safetensors"),
    };
    let cache = a.run.cache();
    let device = a.run.device()?;
    // Data give the image first (and so a PyTorch UNet's size); an image file is resized to the
    // network's size, so the network comes first.
    let (m, x, what) = if a.data.given() {
        let (x, what) = clean_image(a, &cache)?;
        let m = load_model(&a.model, &cache, Some(x.dim().0), device)?;
        (m, x, what)
    } else {
        let m = load_model(&a.model, &cache, a.image_size, device)?;
        let args = SpectrumArgs {
            image_size: a.image_size.or(m.image_size()),
            ..a.clone()
        };
        let (x, what) = clean_image(&args, &cache)?;
        (m, x, what)
    };
    let (h, w) = x.dim();
    let stack = x.clone().into_shape_with_order((1, h, w))?;
    m.check_data(&stack)?;
    let d = h * w;
    let route = match a.route.as_deref() {
        None if d <= crate::lab::spectral::DENSE_MAX_DIM => "dense",
        None => "lanczos",
        Some(r @ ("dense" | "lanczos")) => r,
        Some(other) => bail!("--route {other:?}: choose dense or lanczos"),
    };
    let out = a.run.out_dir("spectrum", &m.path)?;
    let (_, y) = crate::lab::spectral::noisy_image(&x, a.sigma, a.noise_seed)?;
    let yt = images_to_batch(&y).to_device(device);
    let xt = images_to_batch(&stack);
    let f: &dyn Denoiser = &m.model;
    eprintln!(
        "spectrum of {} at {what}, σ = {}, by the {route} route",
        describe_model(m.model.config()),
        a.sigma
    );
    let (eig, route_summary, effective_dimension) = match route {
        "dense" => {
            let spin = spinner(&format!("Jacobian ({d} directions)"));
            let report = jacobian(f, &yt, &JacobianConfig::default()).context("jacobian")?;
            spin.set_message(format!("eigendecomposition of a {d}×{d} matrix"));
            let full = eigh_sym(&report.jacobian.to_kind(Kind::Double), EighBackend::Torch)
                .context("eigendecomposition")?;
            spin.finish_and_clear();
            let tr = full.effective_dimension()?;
            let keep = a.k.unwrap_or(d).min(d);
            if keep == 0 {
                bail!("--k 0: keep at least one pair");
            }
            let eig = if keep < d { full.top(keep)? } else { full };
            (
                eig,
                serde_json::json!({ "jacobian": report.summary }),
                serde_json::json!({ "value": tr, "method": "exact trace of the dense Jacobian" }),
            )
        }
        _ => {
            let k = a.k.unwrap_or(32);
            let cfg = RestartedConfig {
                tol: a.tol,
                budget: a.budget,
                block_size: a.block,
                max_basis: a.max_basis,
                seed: a.noise_seed,
                operator: LanczosOperator::SymmetricPart,
                ..RestartedConfig::default()
            };
            let spin = spinner(&format!(
                "restarted Lanczos, top {k} (budget {} products)",
                a.budget
            ));
            let res = restarted_top_k(f, &yt, k, &cfg).context("restarted Lanczos")?;
            spin.set_message(format!(
                "tr ∇f by Hutch++ ({} directions)",
                a.trace_directions
            ));
            let s = res.summary.clone();
            if !s.converged {
                eprintln!(
                    "warning: {} of {k} pairs met the tolerance {} within {} products; all {k} are written, and summary.json lists each residual",
                    s.n_converged, a.tol, s.n_products
                );
            }
            let trace = jacobian_trace(
                f,
                &yt,
                TraceMethod::HutchPlusPlus,
                &TraceConfig {
                    n_directions: a.trace_directions,
                    seed: a.noise_seed,
                    ..TraceConfig::default()
                },
            )
            .context("tr ∇f by Hutch++")?;
            spin.set_message("bias-free residual and asymmetry from 64 probes");
            let probes = probed_checks(f, &yt, 64, a.block.max(1), a.noise_seed)
                .context("probed Jacobian checks")?;
            spin.finish_and_clear();
            (
                res.eigen,
                serde_json::json!({ "lanczos": s, "probes": probes }),
                serde_json::json!({
                    "value": trace.estimate,
                    "method": "Hutch++ (matrix-free)",
                    "estimate": trace,
                }),
            )
        }
    };
    let values = eig.values_vec()?;
    let coefficients = Vec::<f64>::try_from(
        eig.signal_coefficients(&xt.to_device(eig.values.device()))?
            .abs()
            .to_kind(Kind::Double)
            .to_device(Device::Cpu)
            .flatten(0, -1),
    )?;
    let k = values.len();
    // The basis as images: e_k is column k of the vectors.
    let basis = eig
        .vectors
        .to_device(Device::Cpu)
        .to_kind(Kind::Float)
        .transpose(0, 1)
        .contiguous()
        .reshape([k as i64, h as i64, w as i64]);
    write_arrays(&out, format, &values, &coefficients, &basis, &y)?;
    let xhat = f.denoise(&yt)?.to_device(Device::Cpu);
    let shown = (0..a.show.min(k))
        .map(|i| Ok(tensor_to_array::<Ix2>(&basis.get(i as i64))?))
        .collect::<Result<Vec<Array2<f32>>>>()?;
    let trio = [
        x.clone(),
        y.index_axis(Axis(0), 0).to_owned(),
        tensor_to_array::<Ix2>(&xhat.to_kind(Kind::Float).reshape([h as i64, w as i64]))?,
    ];
    crate::lab::spectral::draw_parts(
        &out,
        "",
        a.sigma,
        &values,
        &coefficients,
        effective_dimension["value"].as_f64().unwrap_or(f64::NAN),
        &[],
        &shown,
        &trio,
    )?;
    let summary = serde_json::json!({
        "command": "spectrum",
        "model": m.describe(),
        "image": what,
        "sigma": a.sigma,
        "noise_seed": a.noise_seed,
        "route": route,
        "pairs": k,
        "dim": d,
        "effective_dimension": effective_dimension,
        "route_details": route_summary,
        "eigenvalues_top8": values.iter().take(8).collect::<Vec<_>>(),
        "outputs": match format {
            "npy" => serde_json::json!(["eigenvalues.npy", "coefficients.npy", "basis.npy", "noisy.npy", "spectrum.png", "eigenvectors.png", "images.png"]),
            _ => serde_json::json!(["spectrum.safetensors", "spectrum.png", "eigenvectors.png", "images.png"]),
        },
        "wall_seconds": t0.elapsed().as_secs_f64(),
    });
    write_json(&out.join("summary.json"), &summary)?;
    println!(
        "{k} eigenpairs (λ_1 = {:.4}, λ_{k} = {:.4}), tr ∇f = {:.1} -> {}",
        values.first().copied().unwrap_or(f64::NAN),
        values.last().copied().unwrap_or(f64::NAN),
        effective_dimension["value"].as_f64().unwrap_or(f64::NAN),
        out.display()
    );
    Ok(())
}

/// A spinner with the elapsed time for a stage that reports no steps (hidden off a terminal).
fn spinner(what: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    pb.set_message(what.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    pb
}

/// Writes λ_k, |⟨x, e_k⟩|, the basis `[k, h, w]` and the noisy image, as `.npy` files or one
/// safetensors file (f64 for the numbers, f32 for images).
fn write_arrays(
    out: &Path,
    format: &str,
    values: &[f64],
    coefficients: &[f64],
    basis: &Tensor,
    noisy: &Array3<f32>,
) -> Result<()> {
    let shape: Vec<usize> = basis.size().iter().map(|&s| s as usize).collect();
    let basis_flat = Vec::<f32>::try_from(basis.flatten(0, -1))?;
    let (_, h, w) = noisy.dim();
    let noisy_flat: Vec<f32> = noisy.iter().copied().collect();
    if format == "npy" {
        let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        write_file(
            &out.join("eigenvalues.npy"),
            &gahb_data::encode_npy_f32(&[values.len()], &f32s(values)),
        )?;
        write_file(
            &out.join("coefficients.npy"),
            &gahb_data::encode_npy_f32(&[coefficients.len()], &f32s(coefficients)),
        )?;
        write_file(
            &out.join("basis.npy"),
            &gahb_data::encode_npy_f32(&shape, &basis_flat),
        )?;
        write_file(
            &out.join("noisy.npy"),
            &gahb_data::encode_npy_f32(&[h, w], &noisy_flat),
        )?;
        return Ok(());
    }
    let tensors = [
        ("eigenvalues", Tensor::from_slice(values)),
        ("coefficients", Tensor::from_slice(coefficients)),
        ("basis", basis.shallow_clone()),
        (
            "noisy",
            Tensor::from_slice(&noisy_flat).reshape([h as i64, w as i64]),
        ),
    ];
    let path = out.join("spectrum.safetensors");
    let tmp = out.join(format!(".spectrum.safetensors.tmp.{}", std::process::id()));
    Tensor::write_safetensors(&tensors, &tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
