//! The `gahb` command line: environment report, dataset preparation, and the paper's experiments
//! with their figures and report.

mod cmd_data;
mod ctx;
mod data;
mod eval;
mod experiments;
mod profile;
mod report;
mod spectral;
mod sweep;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

use crate::ctx::Ctx;
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
    /// Cache folder for trained models (default: results/cache).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// A local CelebA `img_align_celeba` folder; face experiments then use it.
    #[arg(long)]
    celeba: Option<PathBuf>,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Doctor => doctor(),
        Cmd::Data(a) => cmd_data::run(&a),
        Cmd::Reproduce(a) => reproduce(&a, &a.only),
        Cmd::Run { experiments, args } => reproduce(&args, &experiments),
        Cmd::List => {
            for (name, what, _) in experiments::REGISTRY {
                println!("{name:8} {what}");
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
            let names: Vec<&str> = experiments::REGISTRY.iter().map(|(n, ..)| *n).collect();
            bail!(
                "unknown experiment `{name}`: choose from {}",
                names.join(", ")
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
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    if let Some(c) = &args.celeba {
        anyhow::ensure!(c.is_dir(), "--celeba {}: no such folder", c.display());
    }
    let git_revision = ctx::git_revision(&std::env::current_dir()?);
    let ctx = Ctx {
        profile: profile.clone(),
        out: out.clone(),
        cache,
        device,
        git_revision: git_revision.clone(),
        celeba: args.celeba.clone(),
        loaded: Default::default(),
        curves: Default::default(),
    };
    std::fs::write(out.join("profile.toml"), toml::to_string_pretty(&profile)?)?;
    let mut report = Report {
        profile: profile.name.clone(),
        description: profile.description.clone(),
        seed: profile.seed,
        git_revision,
        device: format!("{device:?}"),
        training: profile.train.describe(),
        sections: Vec::new(),
        failures: Vec::new(),
        seconds: 0.0,
    };
    let selected: Vec<_> = experiments::REGISTRY
        .iter()
        .filter(|(n, ..)| only.is_empty() || only.iter().any(|o| o == n))
        .collect();
    for (i, (name, what, run)) in selected.iter().enumerate() {
        eprintln!(
            "[{}/{}] {name}: {what} ({:.0} s elapsed)",
            i + 1,
            selected.len(),
            t0.elapsed().as_secs_f64()
        );
        match run(&ctx) {
            Ok(Some(section)) => {
                let p = section.checks.iter().filter(|c| c.pass).count();
                eprintln!(
                    "  {name}: {p}/{} checks pass, {:.0} s",
                    section.checks.len(),
                    section.seconds
                );
                report.sections.push(section);
            }
            Ok(None) => eprintln!("  {name}: not in profile `{}`, skipped", profile.name),
            Err(e) => {
                eprintln!("  {name} FAILED: {e:#}");
                report.failures.push((name.to_string(), format!("{e:#}")));
            }
        }
        report.seconds = t0.elapsed().as_secs_f64();
        report.write(&out)?;
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
