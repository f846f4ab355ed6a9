//! `cargo xtask tidy`: checks the architecture invariants of docs/ARCHITECTURE.md with `cargo tree`,
//! the module layering inside `crates/gahb` (no import cycle; `lab` imports nothing above it; see
//! `imports.rs`), and that every Rust source file opens with a `//!` doc.

use std::path::Path;

use anyhow::{bail, Result};
use xshell::{cmd, Shell};

use crate::{cargo, project_root, step};

/// Options of `cargo xtask tidy`.
#[derive(clap::Args, Debug, Default)]
pub struct TidyCmd {}

/// (crate, forbidden dependency, why).
const FORBIDDEN: &[(&str, &str, &str)] = &[
    ("gahb-synth", "tch", "synthetic data is pure ndarray"),
    ("gahb-synth", "torch-sys", "synthetic data is pure ndarray"),
    ("gahb-data", "tch", "data loading is pure ndarray"),
    ("gahb-data", "torch-sys", "data loading is pure ndarray"),
    ("gahb-plot", "tch", "figures take ndarray arrays"),
    (
        "gahb-analysis",
        "gahb-denoiser",
        "analysis is tested against analytic denoisers",
    ),
    (
        "gahb-diffusion",
        "gahb-denoiser",
        "sampling is tested against analytic denoisers",
    ),
    (
        "gahb-tensor",
        "gahb-denoiser",
        "the trait sits below every model",
    ),
];

const LIBRARIES: &[&str] = &[
    "gahb-tensor",
    "gahb-denoiser",
    "gahb-diffusion",
    "gahb-analysis",
    "gahb-synth",
    "gahb-data",
    "gahb-plot",
];

impl TidyCmd {
    pub fn run(self, sh: &Shell) -> Result<()> {
        step("tidy: layering invariants and module docs");
        let mut problems = Vec::new();
        let cargo = cargo();
        for krate in LIBRARIES {
            let all = cmd!(
                sh,
                "{cargo} tree -q -p {krate} -e normal,build,dev --prefix none --all-features"
            )
            .read()?;
            let normal = cmd!(
                sh,
                "{cargo} tree -q -p {krate} -e normal,build --prefix none --depth 1"
            )
            .read()?;
            for (k, dep, why) in FORBIDDEN.iter().filter(|(k, ..)| k == krate) {
                if mentions(&all, dep) {
                    problems.push(format!("{k} depends on {dep}, but {why}"));
                }
            }
            if mentions(&normal, "anyhow") {
                problems.push(format!(
                    "{krate} uses anyhow outside dev-dependencies; use its thiserror Error"
                ));
            }
        }
        let xtask = cmd!(sh, "{cargo} tree -q -p xtask -e normal,build --prefix none").read()?;
        if xtask.lines().any(|l| l.starts_with("gahb")) {
            problems.push("xtask links a gahb crate; it must drive cargo instead".into());
        }
        let root = project_root();
        problems.extend(crate::imports::gahb_problems(&root)?);
        for dir in ["crates", "xtask"] {
            check_docs(&root.join(dir), &root, &mut problems)?;
        }
        if problems.is_empty() {
            eprintln!("tidy: ok");
            Ok(())
        } else {
            for p in &problems {
                eprintln!("tidy: {p}");
            }
            bail!("tidy found {} problem(s)", problems.len())
        }
    }
}

fn mentions(tree: &str, dep: &str) -> bool {
    tree.lines()
        .any(|l| l.split_whitespace().next() == Some(dep))
}

fn check_docs(dir: &Path, root: &Path, problems: &mut Vec<String>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            if path
                .file_name()
                .is_some_and(|n| n == "target" || n == "fixtures")
            {
                continue;
            }
            check_docs(&path, root, problems)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path)?;
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            if !first.starts_with("//!") {
                let rel = path.strip_prefix(root).unwrap_or(&path);
                problems.push(format!("{} does not open with a `//!` doc", rel.display()));
            }
        }
    }
    Ok(())
}
