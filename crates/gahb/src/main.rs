//! The `gahb` command line: environment report, dataset preparation, and the paper's experiments
//! with their figures and report.
//!
//! Layers, bottom up: `lab` (data, recipes, the model store, sweep, evaluation, spectra; it knows no
//! experiment), `report` (sections and their one renderer), `harness` (the `Experiment` trait),
//! `experiments` (one module per figure and the registry), `profile` (a profile's tables, bound to
//! experiments through the registry), and this file with `cmd_data`.

mod cmd_analyse;
mod cmd_data;
mod cmd_model;
mod experiments;
mod harness;
mod lab;
mod profile;
mod report;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};

use crate::lab::context::Lab;
use crate::lab::data::DataEnv;
use crate::lab::recipe::RunSettings;
use crate::profile::Profile;
use crate::report::Report;

/// gahb: geometry-adaptive harmonic bases in diffusion denoisers.
#[derive(Parser, Debug)]
#[command(name = "gahb", version, about, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Print libtorch's view of the machine: version, devices, threads.
    Doctor,
    /// Prepare a dataset, write a contact sheet and a summary.
    Data(cmd_data::DataArgs),
    /// Run every experiment of a profile and write `results/<profile>/REPORT.md`.
    Reproduce(RunArgs),
    /// Run one or more experiments by name (same options as reproduce).
    Run {
        /// Experiment names (see `gahb list`).
        #[arg(required = true)]
        experiments: Vec<String>,
        #[command(flatten)]
        args: RunArgs,
    },
    /// List the experiments.
    List,
    /// Train one denoiser: data, net and recipe in, a checkpoint out (cached and resumable).
    Train(cmd_model::TrainArgs),
    /// Evaluate a checkpoint on data: the PSNR curve as PNG, CSV and JSON.
    Eval(cmd_model::EvalArgs),
    /// Draw samples from a checkpoint with the coarse-to-fine sampler: a PNG grid and .npy.
    Sample(cmd_analyse::SampleArgs),
    /// The Jacobian's eigenvalues, coefficients and basis at a noisy image (dense or Lanczos).
    Spectrum(cmd_analyse::SpectrumArgs),
    /// List the model cache: what each entry is (data, recipe, size, date).
    Models(cmd_model::ModelsArgs),
    /// Convert a PyTorch state_dict (torch.save) into a gahb checkpoint.
    Import(cmd_model::ImportArgs),
}

#[derive(clap::Args, Debug, Clone)]
struct RunArgs {
    /// Built-in profile (smoke, quick, standard, paper) or a path to a TOML profile.
    #[arg(long, default_value = "quick")]
    profile: String,
    /// Run only these experiments.
    #[arg(long)]
    only: Vec<String>,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Results folder (default: `results/<profile>`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Cache folder for trained models and prepared datasets (default: results/cache).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// A local CelebA `img_align_celeba` folder; face experiments then use it.
    #[arg(long)]
    celeba: Option<PathBuf>,
    /// Write a training checkpoint every this many steps (a killed run resumes from the last one;
    /// 0: only at the end).
    #[arg(long, default_value_t = 500)]
    checkpoint_every: usize,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Doctor => doctor(),
        Cmd::Data(a) => cmd_data::run(&a),
        Cmd::Train(a) => cmd_model::train(&a),
        Cmd::Eval(a) => cmd_model::eval(&a),
        Cmd::Sample(a) => cmd_analyse::sample(&a),
        Cmd::Spectrum(a) => cmd_analyse::spectrum(&a),
        Cmd::Models(a) => cmd_model::models(&a),
        Cmd::Import(a) => cmd_model::import(&a),
        Cmd::Reproduce(a) => reproduce(&a, &a.only),
        Cmd::Run { experiments, args } => reproduce(&args, &experiments),
        Cmd::List => {
            for e in experiments::REGISTRY {
                println!("{:8} {}", e.name(), e.what());
            }
            Ok(())
        }
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn doctor() -> Result<()> {
    let info = gahb_tensor::device_summary();
    println!("tch:       0.24.0 (libtorch 2.11.0 expected)");
    println!(
        "cuda:      {} ({} devices, cuDNN {})",
        info.cuda_available, info.cuda_devices, info.cudnn_available
    );
    println!("threads:   {} (libtorch intra-op)", info.threads);
    println!(
        "cores:     {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    Ok(())
}

fn reproduce(args: &RunArgs, only: &[String]) -> Result<()> {
    let t0 = Instant::now();
    let profile = Profile::load(&args.profile)?;
    for name in only {
        if experiments::find(name).is_none() {
            bail!(
                "unknown experiment `{name}`: choose from {}",
                experiments::names().join(", ")
            );
        }
    }
    let device = gahb_tensor::parse_device(&args.device)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("results").join(&profile.name));
    let cache = args
        .cache
        .clone()
        .unwrap_or_else(|| PathBuf::from("results").join("cache"));
    lab::io::ensure_writable("--out", &out)?;
    lab::io::ensure_writable("--cache", &cache)?;
    let swept = lab::io::remove_stale_temporaries(&out, 2);
    if swept > 0 {
        eprintln!(
            "removed {swept} temporary file(s) that an interrupted run left in {}",
            out.display()
        );
    }
    if let Some(c) = &args.celeba {
        anyhow::ensure!(
            c.is_dir(),
            "--celeba {}: {}",
            c.display(),
            if c.exists() {
                "is a file, not a folder: give the img_align_celeba folder that holds the images"
            } else {
                "no such folder"
            }
        );
    }
    let git_revision = lab::store::git_revision(&std::env::current_dir()?);
    let lab = Lab::new(
        profile.seed,
        device,
        profile.train.clone(),
        profile.sweep.clone(),
        DataEnv::new(cache, args.celeba.clone()),
        RunSettings {
            git_revision: git_revision.clone(),
            checkpoint_every: args.checkpoint_every,
            ..RunSettings::default()
        },
    );
    lab::io::write_atomic(&out.join("profile.toml"), profile.text.as_bytes())?;
    let mut report = Report {
        profile: profile.name.clone(),
        description: profile.description.clone(),
        seed: profile.seed,
        git_revision,
        device: match device {
            tch::Device::Cpu => "cpu".to_string(),
            tch::Device::Cuda(i) => format!("cuda:{i}"),
            other => format!("{other:?}").to_lowercase(),
        },
        training: profile.train.describe(),
        cache_notes: Vec::new(),
        sections: Vec::new(),
        failures: Vec::new(),
        seconds: 0.0,
    };
    let selected: Vec<_> = experiments::REGISTRY
        .iter()
        .filter(|e| only.is_empty() || only.iter().any(|o| o == e.name()))
        .collect();
    for (i, entry) in selected.iter().enumerate() {
        let name = entry.name();
        eprintln!(
            "[{}/{}] {name}: {} ({:.0} s elapsed)",
            i + 1,
            selected.len(),
            entry.what(),
            t0.elapsed().as_secs_f64()
        );
        let Some(table) = profile.table(name) else {
            eprintln!("  {name}: not in profile `{}`, skipped", profile.name);
            continue;
        };
        match entry.run(&lab, table, &out) {
            Ok(section) => {
                let p = section.checks.iter().filter(|c| c.pass).count();
                eprintln!(
                    "  {name}: {p}/{} checks pass, {:.0} s",
                    section.checks.len(),
                    section.seconds
                );
                report.sections.push(section);
            }
            Err(e) => {
                eprintln!("  {name} FAILED: {e:#}");
                report.failures.push((name.to_string(), format!("{e:#}")));
            }
        }
        report.seconds = t0.elapsed().as_secs_f64();
        report.cache_notes = lab.notes();
        report::render::write(&report, &out)?;
    }
    eprintln!("report: {}", out.join("REPORT.md").display());
    if !report.failures.is_empty() {
        let all: Vec<String> = report
            .failures
            .iter()
            .map(|(n, e)| format!("{n}: {e}"))
            .collect();
        bail!("{}", all.join("; "));
    }
    Ok(())
}
