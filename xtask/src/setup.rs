//! `cargo xtask setup`: installs libtorch from the PyPI `torch==2.11.0` wheel (tch 0.24 pairs with
//! it) into `.gahb/venv`, points the `.libtorch` symlink at it, and installs OpenBLAS for the LAPACK
//! cross-check backend.
//!
//! The CPU install uses `--no-deps` with the two CUDA runtime wheels libtorch links against (about
//! 1.3 GB, 22-40 s); `--cuda` installs the full wheel with its CUDA dependencies (about 4.6 GB), so
//! that the build scripts force `libtorch_cuda` to load. Python is used only to install the wheel.
//! Idempotent: a stamp file records what was installed, and a second run costs milliseconds.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::{project_root, step};

/// The PyTorch version tch 0.24 expects.
pub const TORCH_VERSION: &str = "2.11.0";
const CUDA_RUNTIME: &str = "nvidia-cuda-runtime==13.0.96";
const CUDA_CUPTI: &str = "nvidia-cuda-cupti==13.0.85";

/// Options of `cargo xtask setup`.
#[derive(clap::Args, Debug, Default)]
pub struct SetupCmd {
    /// Install the full CUDA-capable wheel (about 4.6 GB) instead of the CPU subset.
    #[arg(long)]
    pub cuda: bool,
    /// Skip installing OpenBLAS (the LAPACK backend is then unavailable to tests).
    #[arg(long)]
    pub no_lapack: bool,
    /// Also install Slurm (slurm-wlm and munge from Debian) for `cargo xtask slurm-test`.
    #[arg(long)]
    pub slurm: bool,
}

impl SetupCmd {
    pub fn run(self, sh: &Shell) -> Result<()> {
        ensure_libtorch(sh, self.cuda)?;
        if !self.no_lapack {
            ensure_openblas(sh)?;
        }
        if self.slurm {
            crate::slurm::ensure_slurm(sh)?;
        }
        Ok(())
    }
}

fn venv_dir() -> PathBuf {
    project_root().join(".gahb").join("venv")
}

fn stamp_path() -> PathBuf {
    project_root().join(".gahb").join("libtorch.stamp")
}

/// Makes sure libtorch 2.11.0 is installed and linked at `.libtorch`.
pub fn ensure_libtorch(sh: &Shell, cuda: bool) -> Result<()> {
    let want = if cuda { "cuda" } else { "cpu" };
    let link = project_root().join(".libtorch");
    if let Ok(stamp) = std::fs::read_to_string(stamp_path()) {
        let have_cuda = stamp.contains("variant=cuda");
        if stamp.contains(&format!("torch={TORCH_VERSION}"))
            && (have_cuda || !cuda)
            && link.join("lib").join("libtorch_cpu.so").exists()
        {
            return Ok(());
        }
    }
    step(&format!(
        "installing libtorch {TORCH_VERSION} ({want}) into .gahb/venv"
    ));
    let python = find_python(sh)?;
    let venv = venv_dir();
    if !venv.join("bin").join("python").exists() {
        std::fs::create_dir_all(venv.parent().context("venv has no parent")?)?;
        cmd!(sh, "{python} -m venv {venv}")
            .run()
            .context("creating the Python venv failed; install python3-venv (Debian) or use a Python with venv")?;
    }
    let pip = venv.join("bin").join("pip");
    let started = std::time::Instant::now();
    if cuda {
        cmd!(
            sh,
            "{pip} install --disable-pip-version-check -q torch=={TORCH_VERSION}"
        )
        .run()
        .context("pip could not install the CUDA torch wheel")?;
    } else {
        cmd!(
            sh,
            "{pip} install --disable-pip-version-check -q --no-deps torch=={TORCH_VERSION} {CUDA_RUNTIME} {CUDA_CUPTI}"
        )
        .run()
        .context("pip could not install the torch wheel (is PyPI reachable?)")?;
    }
    let vpython = venv.join("bin").join("python");
    // importlib.metadata reads the version without importing torch (which needs cuDNN).
    let version = cmd!(
        sh,
        "{vpython} -c 'import importlib.metadata as m; print(m.version(\"torch\"))'"
    )
    .read()
    .context("reading the installed torch version")?;
    let version = version.trim().split('+').next().unwrap_or("").to_string();
    if version != TORCH_VERSION {
        bail!("installed torch is {version}, but tch 0.24 needs {TORCH_VERSION}: remove .gahb/venv and rerun `cargo xtask setup`");
    }
    let site = cmd!(
        sh,
        "{vpython} -c 'import sysconfig; print(sysconfig.get_paths()[\"purelib\"])'"
    )
    .read()?;
    let torch_dir = Path::new(site.trim()).join("torch");
    if !torch_dir.join("lib").join("libtorch_cpu.so").exists() {
        bail!(
            "{} has no lib/libtorch_cpu.so: the wheel is incomplete",
            torch_dir.display()
        );
    }
    let rel = torch_dir
        .strip_prefix(project_root())
        .map(Path::to_path_buf)
        .unwrap_or(torch_dir.clone());
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&rel, &link)
        .with_context(|| format!("linking {} -> {}", link.display(), rel.display()))?;
    std::fs::write(
        stamp_path(),
        format!(
            "torch={TORCH_VERSION}\nvariant={want}\npath={}\n",
            rel.display()
        ),
    )?;
    eprintln!(
        "libtorch {TORCH_VERSION} ({want}) installed in {:.0} s at {}",
        started.elapsed().as_secs_f64(),
        rel.display()
    );
    Ok(())
}

fn find_python(sh: &Shell) -> Result<String> {
    for p in ["python3", "python"] {
        if cmd!(sh, "{p} --version")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run()
            .is_ok()
        {
            return Ok(p.to_string());
        }
    }
    bail!("no python3 found: it is needed once, to install the PyTorch wheel (apt-get install python3 python3-venv)")
}

/// Makes sure `libopenblas.so` (Debian's libopenblas-dev) exists for ndarray-linalg's `openblas-system`.
pub fn ensure_openblas(sh: &Shell) -> Result<()> {
    let candidates = [
        "/usr/lib/x86_64-linux-gnu/libopenblas.so",
        "/usr/lib/aarch64-linux-gnu/libopenblas.so",
        "/usr/lib/libopenblas.so",
        "/usr/lib64/libopenblas.so",
    ];
    if candidates.iter().any(|p| Path::new(p).exists()) {
        return Ok(());
    }
    step("installing libopenblas-dev (LAPACK cross-check backend)");
    let root = cmd!(sh, "id -u")
        .read()
        .map(|u| u.trim() == "0")
        .unwrap_or(false);
    let (prog, pre): (&str, &[&str]) = if root {
        ("apt-get", &[])
    } else {
        ("sudo", &["apt-get"])
    };
    cmd!(sh, "{prog} {pre...} update -qq")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .run()
        .context("apt-get update failed")?;
    cmd!(sh, "{prog} {pre...} install -y -qq libopenblas-dev")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .run()
        .context("could not install libopenblas-dev; install it by hand or run `cargo xtask setup --no-lapack` and test without the `lapack` feature")?;
    Ok(())
}
