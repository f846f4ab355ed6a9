//! The `gahb` command line: environment report, dataset preparation, and the paper's experiments
//! with their figures and report.
//!
//! Layers, bottom up: `lab` (data, recipes, the model store, sweep, evaluation, spectra; it knows no
//! experiment), `report` (sections and their one renderer), `harness` (the `Experiment` trait),
//! `experiments` (one module per figure and the registry), `profile` (a profile's tables, bound to
//! experiments through the registry), `runner` (a profile run: one experiment into its record, the
//! report from the records), `plan` (a profile as units of work), and this file with the `cmd_*`
//! modules (`cmd_cluster`: plan, run --task, slurm, compare).

mod cmd_analyse;
mod cmd_cluster;
mod cmd_data;
mod cmd_model;
mod experiments;
mod harness;
mod lab;
mod plan;
mod profile;
mod report;
mod runner;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::runner::RunArgs;

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
    /// Run experiments by name, or one unit of the profile's plan (`--task`, or the
    /// `SLURM_ARRAY_TASK_ID` of a job array) into the shared cache and results folder.
    Run {
        /// Experiment names (see `gahb list`).
        experiments: Vec<String>,
        /// The unit to run, by its index in `gahb plan`.
        #[arg(long, conflicts_with = "experiments")]
        task: Option<usize>,
        #[command(flatten)]
        args: RunArgs,
    },
    /// List a profile's units of work as JSON: trainings, analyses, report, with ids,
    /// dependencies and costs.
    Plan(cmd_cluster::PlanArgs),
    /// Write (and with --submit, submit) the Slurm scripts of a profile: a job array over its
    /// trainings, one over its analyses, and the report.
    Slurm(cmd_cluster::SlurmArgs),
    /// Check that two results folders of a profile hold the same numbers.
    Compare(cmd_cluster::CompareArgs),
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
        Cmd::Reproduce(a) => runner::reproduce(&a, &a.only),
        Cmd::Run {
            experiments,
            task,
            args,
        } => run(&experiments, task, &args),
        Cmd::Plan(a) => cmd_cluster::plan(&a),
        Cmd::Slurm(a) => cmd_cluster::slurm(&a),
        Cmd::Compare(a) => cmd_cluster::compare(&a),
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

/// `gahb run`: experiments by name, or one planned unit.
fn run(experiments: &[String], task: Option<usize>, args: &RunArgs) -> Result<()> {
    if let Some(i) = cmd_cluster::task_index(task)?.filter(|_| experiments.is_empty()) {
        return cmd_cluster::run_task(args, i);
    }
    anyhow::ensure!(
        !experiments.is_empty(),
        "give experiment names (see `gahb list`) or --task I (see `gahb plan`)"
    );
    runner::reproduce(args, experiments)
}
