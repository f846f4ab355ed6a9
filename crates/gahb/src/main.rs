//! The `gahb` command line: environment report, dataset preparation, and the paper's experiments
//! with their figures and report.

mod cmd_data;

use anyhow::Result;
use clap::{Parser, Subcommand};

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
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Doctor => doctor(),
        Cmd::Data(a) => cmd_data::run(&a),
    }
}

fn doctor() -> Result<()> {
    let info = gahb_tensor::device_summary();
    println!("tch:       0.24.0 (libtorch 2.11.0 expected)");
    println!("cuda:      {} ({} devices, cuDNN {})", info.cuda_available, info.cuda_devices, info.cudnn_available);
    println!("threads:   {} (libtorch intra-op)", info.threads);
    println!("cores:     {}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    Ok(())
}
