//! `cargo xtask reproduce`: sets up, fetches the offline datasets, builds `gahb` in release mode and
//! runs the paper's experiments for one profile (`configs/<profile>.toml`), writing figures and
//! `results/<profile>/REPORT.md`.

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::setup::ensure_libtorch;
use crate::{cargo, project_root, step};

/// Options of `cargo xtask reproduce`.
#[derive(clap::Args, Debug)]
pub struct ReproduceCmd {
    /// Profile: smoke, quick (default), standard or paper (`configs/<profile>.toml`), or a path to a
    /// profile file such as `configs/memorization-40.toml`.
    #[arg(long, default_value = "quick")]
    profile: String,
    /// Run only these experiments (e.g. --only fig4 --only fig5).
    #[arg(long)]
    only: Vec<String>,
    /// Use the CUDA build of libtorch and run on the GPU.
    #[arg(long)]
    cuda: bool,
    /// Extra arguments for `gahb reproduce`, after `--` (e.g. `--celeba /data/img_align_celeba`).
    #[arg(last = true)]
    rest: Vec<String>,
}

impl ReproduceCmd {
    pub fn run(self, sh: &Shell) -> Result<()> {
        ensure_libtorch(sh, self.cuda)?;
        crate::datasets::ensure(sh, &["orl-faces", "fashion-mnist"])
            .context("fetching the offline datasets")?;
        step("building gahb (release)");
        let cargo = cargo();
        cmd!(sh, "{cargo} build --release -p gahb")
            .run()
            .context("building gahb")?;
        let bin = project_root().join("target/release/gahb");
        let profile = self.profile;
        let mut args = vec!["reproduce".to_string(), "--profile".into(), profile.clone()];
        for o in &self.only {
            args.push("--only".into());
            args.push(o.clone());
        }
        if self.cuda {
            args.push("--device".into());
            args.push("cuda".into());
        }
        args.extend(self.rest);
        step(&format!("gahb reproduce --profile {profile}"));
        cmd!(sh, "{bin} {args...}")
            .run()
            .context("gahb reproduce failed")?;
        // gahb itself prints where the report went (a profile given as a path names its folder).
        Ok(())
    }
}
