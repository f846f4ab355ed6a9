//! `cargo xtask test`, `ci`, `doctor` and `bench`.
//!
//! `test` is the README's test command and what `.ci/run` calls: it sets up libtorch and OpenBLAS,
//! then runs every workspace test with the LAPACK cross-check backend enabled.
//! `ci` runs the cheap checks first (fmt, tidy, clippy), then the tests, `bench --no-run` and docs.

use std::time::Instant;

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::setup::{ensure_libtorch, ensure_openblas};
use crate::{cargo, project_root, step};

/// Features enabled in tests, clippy and benches: the LAPACK backend of the analysis crate.
pub fn test_features(sh: &Shell) -> Vec<String> {
    if ensure_openblas(sh).is_ok() {
        vec!["--features".into(), "gahb-analysis/lapack".into()]
    } else {
        eprintln!("warning: OpenBLAS is missing, so the LAPACK cross-checks are skipped");
        Vec::new()
    }
}

/// Options of `cargo xtask test`.
#[derive(clap::Args, Debug)]
pub struct TestCmd {
    /// Also run the slow tests (sets GAHB_SLOW_TESTS=1).
    #[arg(long)]
    slow: bool,
    /// Skip the Slurm test (`cargo xtask slurm-test`), which runs after the cargo tests when
    /// Slurm is installed or installable (root); in CI (`CI` set) it always runs.
    #[arg(long)]
    no_slurm: bool,
    /// Extra arguments for `cargo test` (e.g. `-p gahb-tensor`), after `--`.
    #[arg(last = true)]
    rest: Vec<String>,
}

impl TestCmd {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let started = Instant::now();
        ensure_libtorch(sh, false)?;
        let features = test_features(sh);
        run_tests(sh, &features, self.slow, &self.rest)?;
        let in_ci = std::env::var_os("CI").is_some();
        if !self.no_slurm && self.rest.is_empty() {
            if in_ci || crate::slurm::available(sh) {
                step("cargo xtask slurm-test");
                crate::slurm::SlurmTestCmd::default().run(sh)?;
            } else {
                eprintln!("\nslurm-test skipped: Slurm is not installed and this is not root (run `cargo xtask slurm-test` as root)");
            }
        }
        eprintln!(
            "\ncargo xtask test: done in {:.0} s",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

fn run_tests(sh: &Shell, features: &[String], slow: bool, rest: &[String]) -> Result<()> {
    step("cargo test");
    let cargo = cargo();
    let _slow = slow.then(|| sh.push_env("GAHB_SLOW_TESTS", "1"));
    let scope: Vec<String> = if rest.iter().any(|a| a == "-p" || a.starts_with("--package")) {
        Vec::new()
    } else {
        vec!["--workspace".into()]
    };
    // Test binaries run their tests on parallel threads; one libtorch thread per test avoids
    // OpenMP spin-waiting on oversubscribed cores, which made tests 10-30 times slower here.
    let threads = std::env::var("OMP_NUM_THREADS").unwrap_or_else(|_| "1".into());
    cmd!(sh, "{cargo} test {scope...} {features...} {rest...}")
        .env("OMP_NUM_THREADS", threads)
        .run()
        .context("tests failed")?;
    Ok(())
}

/// Options of `cargo xtask ci`.
#[derive(clap::Args, Debug)]
pub struct CiCmd {}

impl CiCmd {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let started = Instant::now();
        let cargo = cargo();
        step("cargo fmt --check");
        cmd!(sh, "{cargo} fmt --all -- --check")
            .run()
            .context("formatting differs: run `cargo fmt --all`")?;
        crate::tidy::TidyCmd::default().run(sh)?;
        ensure_libtorch(sh, false)?;
        let features = test_features(sh);
        let features = &features;
        step("cargo clippy");
        cmd!(
            sh,
            "{cargo} clippy --workspace --all-targets {features...} -- -D warnings"
        )
        .run()
        .context("clippy found warnings")?;
        run_tests(sh, features, false, &[])?;
        step("cargo bench --no-run");
        cmd!(sh, "{cargo} bench --workspace --no-run {features...}")
            .run()
            .context("benchmarks do not build")?;
        step("cargo doc");
        cmd!(sh, "{cargo} doc --workspace --no-deps {features...}")
            .env("RUSTDOCFLAGS", "-D warnings")
            .run()
            .context("documentation has warnings")?;
        eprintln!(
            "\ncargo xtask ci: all green in {:.0} s",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

/// Options of `cargo xtask doctor`.
#[derive(clap::Args, Debug)]
pub struct DoctorCmd {}

impl DoctorCmd {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let rustc = cmd!(sh, "rustc --version")
            .read()
            .unwrap_or_else(|e| format!("unavailable ({e})"));
        println!("rustc:     {rustc}");
        let stamp = std::fs::read_to_string(project_root().join(".gahb/libtorch.stamp"))
            .unwrap_or_else(|_| "not installed (run `cargo xtask setup`)".into());
        println!("libtorch:  {}", stamp.replace('\n', " "));
        let cargo = cargo();
        ensure_libtorch(sh, false)?;
        cmd!(sh, "{cargo} run -q -p gahb -- doctor")
            .run()
            .context("running `gahb doctor`")?;
        Ok(())
    }
}

/// Options of `cargo xtask bench`.
#[derive(clap::Args, Debug)]
pub struct BenchCmd {
    /// Benchmark only this package (e.g. gahb-analysis).
    #[arg(short, long)]
    package: Option<String>,
    /// Arguments passed to criterion, after `--` (e.g. a filter).
    #[arg(last = true)]
    rest: Vec<String>,
}

impl BenchCmd {
    pub fn run(self, sh: &Shell) -> Result<()> {
        ensure_libtorch(sh, false)?;
        let features = test_features(sh);
        let cargo = cargo();
        let scope = match &self.package {
            Some(p) => vec!["-p".to_string(), p.clone()],
            None => vec!["--workspace".to_string()],
        };
        let rest = self.rest;
        cmd!(sh, "{cargo} bench {scope...} {features...} -- {rest...}")
            .run()
            .context("benchmarks failed")?;
        Ok(())
    }
}
