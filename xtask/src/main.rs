//! Project automation for gahb, in the style of rust-analyzer's xtask.
//!
//! `cargo xtask <task>`: `setup` installs libtorch (PyTorch 2.11.0 wheel) and OpenBLAS; `test`, `ci`,
//! `tidy`, `doctor`, `datasets`, `reproduce` and `bench` build on it.
//! xtask links no gahb crate: it drives `cargo` and the `gahb` binary.

mod ci;
mod datasets;
mod imports;
mod reproduce;
mod setup;
mod slurm;
mod tidy;

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Parser, Subcommand};
use xshell::Shell;

/// gahb project tasks.
#[derive(Parser, Debug)]
#[command(
    name = "cargo xtask",
    about = "gahb project tasks",
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Install libtorch (PyTorch 2.11.0 wheel into .gahb/venv) and OpenBLAS; fast when already done.
    Setup(setup::SetupCmd),
    /// Run the test suite (sets up first).
    Test(ci::TestCmd),
    /// fmt, clippy, tidy, test, bench --no-run, doc: cheapest first (what .ci/run calls).
    Ci(ci::CiCmd),
    /// Check the layering invariants and that every source file opens with a `//!` doc.
    Tidy(tidy::TidyCmd),
    /// Print versions of rustc, tch, libtorch, the device and thread counts.
    Doctor(ci::DoctorCmd),
    /// Fetch and verify the offline real datasets; check a local CelebA copy (`check celeba --path DIR`).
    Datasets(datasets::DatasetsCmd),
    /// Build in release mode and run the paper's experiments (profile `quick` by default).
    Reproduce(reproduce::ReproduceCmd),
    /// Run the criterion benchmarks.
    Bench(ci::BenchCmd),
    /// Run the smoke profile under a real Slurm started on this host and compare it with a
    /// single-process run (installs slurm-wlm and munge when missing; root).
    SlurmTest(slurm::SlurmTestCmd),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let sh = Shell::new()?;
    sh.change_dir(project_root());
    match cli.cmd {
        Cmd::Setup(c) => c.run(&sh),
        Cmd::Test(c) => c.run(&sh),
        Cmd::Ci(c) => c.run(&sh),
        Cmd::Tidy(c) => c.run(&sh),
        Cmd::Doctor(c) => c.run(&sh),
        Cmd::Datasets(c) => c.run(&sh),
        Cmd::Reproduce(c) => c.run(&sh),
        Cmd::Bench(c) => c.run(&sh),
        Cmd::SlurmTest(c) => c.run(&sh),
    }
}

/// The workspace root (the parent of this crate's folder).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The cargo that runs us (`$CARGO`), or `cargo`.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

/// Prints a step header so long tasks show where they are.
pub fn step(msg: &str) {
    eprintln!("\n==> {msg}");
}
