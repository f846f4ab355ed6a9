//! Profiles: the checked-in experiment configurations `configs/<name>.toml` (smoke, quick,
//! standard, paper), read with unknown keys refused.
//!
//! A profile has a name, a description, a master seed, the shared tables `[train]` (the default
//! recipe) and `[sweep]` (the S1/S2 N-sweep), and one table per experiment, named as in
//! `crate::experiments::REGISTRY`. The four profiles are embedded in the binary, so
//! `gahb reproduce --profile quick` works from any folder; `--profile path/to/file.toml` reads a
//! user's own file instead.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;

use crate::experiments;
use crate::harness::Entry;
use crate::lab::recipe::TrainSpec;
use crate::lab::sweep::SweepSpec;

/// The profiles shipped with gahb: (name, TOML text).
pub const BUILTIN: &[(&str, &str)] = &[
    ("smoke", include_str!("../../../configs/smoke.toml")),
    ("quick", include_str!("../../../configs/quick.toml")),
    ("standard", include_str!("../../../configs/standard.toml")),
    ("paper", include_str!("../../../configs/paper.toml")),
    ("long", include_str!("../../../configs/long.toml")),
    ("levers", include_str!("../../../configs/levers.toml")),
    ("spectra80", include_str!("../../../configs/spectra80.toml")),
];

/// A whole profile.
#[derive(Clone)]
pub struct Profile {
    /// The profile's name (results go to `results/<name>/`).
    pub name: String,
    /// What the profile is for, in one sentence.
    pub description: String,
    /// The master seed; each experiment derives its seeds from it.
    pub seed: u64,
    /// The training recipe experiments use unless they override it.
    pub train: TrainSpec,
    /// The N-sweep shared by Figs. 1, 2, 3, 6 and 15.
    pub sweep: Option<SweepSpec>,
    /// The experiments' tables, in registry order (validated when the profile is read).
    pub experiments: Vec<(&'static dyn Entry, toml::Value)>,
    /// The text it was read from, for writing it beside the results.
    pub text: String,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tables: Vec<&str> = self.experiments.iter().map(|(e, _)| e.name()).collect();
        f.debug_struct("Profile")
            .field("name", &self.name)
            .field("seed", &self.seed)
            .field("experiments", &tables)
            .finish()
    }
}

impl Profile {
    /// Reads a built-in profile by name, or a TOML file by path.
    pub fn load(name_or_path: &str) -> Result<Self> {
        let (origin, text) = match BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            Some((n, t)) => (format!("built-in profile `{n}`"), (*t).to_string()),
            None => {
                let path = Path::new(name_or_path);
                if !path.is_file() {
                    let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
                    bail!(
                        "no profile `{name_or_path}`: use one of {} or a path to a TOML file",
                        names.join(", ")
                    );
                }
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                (path.display().to_string(), text)
            }
        };
        Self::parse(&text).with_context(|| format!("in {origin}"))
    }

    /// Parses profile TOML; every error is one line naming the table, the key and its line.
    pub fn parse(text: &str) -> Result<Self> {
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            match line {
                Some(l) => anyhow::anyhow!("line {l}: {}", e.message()),
                None => anyhow::anyhow!("{}", e.message()),
            }
        })?;
        let mut name = None;
        let mut description = None;
        let mut seed = None;
        let mut train = None;
        let mut sweep = None;
        let mut tables: Vec<(&'static dyn Entry, toml::Value)> = Vec::new();
        for (key, value) in &table {
            match key.as_str() {
                "name" => name = Some(typed::<String>(text, key, value)?),
                "description" => description = Some(typed::<String>(text, key, value)?),
                "seed" => seed = Some(typed::<u64>(text, key, value)?),
                "train" => train = Some(typed::<TrainSpec>(text, key, value)?),
                "sweep" => sweep = Some(typed::<SweepSpec>(text, key, value)?),
                other => match experiments::find(other) {
                    Some(entry) => {
                        entry
                            .check(value)
                            .map_err(|e| located(text, other, &format!("{e:#}")))?;
                        tables.push((entry, value.clone()));
                    }
                    None => bail!(
                        "{}unknown table `[{other}]`: use name, description, seed, train, sweep or an experiment ({})",
                        line_prefix(line_of_table(text, other)),
                        experiments::names().join(", ")
                    ),
                },
            }
        }
        tables.sort_by_key(|(e, _)| experiments::names().iter().position(|n| *n == e.name()));
        let train: TrainSpec = train.context("the profile needs a `[train]` table")?;
        check_recipe(&train).map_err(|e| located(text, "train", &format!("{e:#}")))?;
        if let Some(s) = &sweep {
            check_sweep(s).map_err(|e| located(text, "sweep", &format!("{e:#}")))?;
        }
        Ok(Self {
            name: name.context("the profile needs a `name`")?,
            description: description.context("the profile needs a `description`")?,
            seed: seed.context("the profile needs a `seed`")?,
            train,
            sweep,
            experiments: tables,
            text: text.to_string(),
        })
    }

    /// The table of experiment `name`, when the profile has one.
    pub fn table(&self, name: &str) -> Option<&toml::Value> {
        self.experiments
            .iter()
            .find(|(e, _)| e.name() == name)
            .map(|(_, v)| v)
    }
}

/// Checks a training recipe's values when the profile is read, before anything trains: a value
/// training cannot use is a one-line error naming its field (`lr`, `sigma_max`, `steps`, ...).
pub fn check_recipe(recipe: &TrainSpec) -> Result<()> {
    recipe.to_config(0).map(|_| ())
}

/// Checks `[sweep]` beyond its types, before anything trains: its sizes, its own recipe, and that
/// its evaluation images fit in memory (the rest is checked against the data once it is read).
fn check_sweep(sweep: &SweepSpec) -> Result<()> {
    anyhow::ensure!(
        sweep.n_test > 0,
        "sweep.n_test must be at least 1 (the held-out images the test curves are measured on), got 0"
    );
    anyhow::ensure!(
        sweep.n_eval > 0,
        "sweep.n_eval must be at least 1 (the images PSNR curves are measured on), got 0"
    );
    anyhow::ensure!(
        !sweep.ns.is_empty(),
        "sweep.ns is empty: give at least one N"
    );
    if let Some(r) = &sweep.train {
        check_recipe(r).context("sweep.train")?;
    }
    if let Some(size) = sweep.data.size() {
        crate::lab::data::check_images("sweep.n_eval", sweep.n_eval, "sweep.data.size", size)?;
    }
    Ok(())
}

fn typed<T: DeserializeOwned>(text: &str, key: &str, value: &toml::Value) -> Result<T> {
    T::deserialize(value.clone()).map_err(|e| located(text, key, e.message()))
}

/// An error inside table `table`, with the line of the key it names (or of the table).
fn located(text: &str, table: &str, message: &str) -> anyhow::Error {
    let line = key_in_message(message)
        .and_then(|key| line_of_key(text, table, key))
        .or_else(|| line_of_table(text, table));
    anyhow::anyhow!("{}in [{table}]: {message}", line_prefix(line))
}

fn line_prefix(line: Option<usize>) -> String {
    line.map(|l| format!("line {l}: ")).unwrap_or_default()
}

/// The first `name` in backticks of a serde message (`unknown field `alpah``).
fn key_in_message(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// The 1-based line of the header `[table]` (or of `table =` at the top level).
fn line_of_table(text: &str, table: &str) -> Option<usize> {
    let header = format!("[{table}]");
    text.lines()
        .position(|l| {
            let l = l.trim();
            l == header
                || l.starts_with(&format!("{table} "))
                || l.starts_with(&format!("{table}="))
        })
        .map(|i| i + 1)
}

/// The 1-based line where `key = ` appears inside `[table]` (inline tables included).
fn line_of_key(text: &str, table: &str, key: &str) -> Option<usize> {
    let start = line_of_table(text, table)?;
    let is_key = |l: &str| {
        l.match_indices(key).any(|(i, _)| {
            let before = l[..i].chars().last();
            let after = l[i + key.len()..].trim_start();
            before.is_none_or(|c| !(c.is_alphanumeric() || c == '_')) && after.starts_with('=')
        })
    };
    text.lines()
        .enumerate()
        .skip(start)
        .take_while(|(_, l)| !l.trim_start().starts_with('['))
        .find(|(_, l)| is_key(l))
        .map(|(i, _)| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gahb_denoiser::LossWeight;

    #[test]
    fn builtin_profiles_parse() {
        for (name, _) in BUILTIN {
            let p = Profile::load(name).unwrap_or_else(|e| panic!("{name}: {e:#}"));
            assert_eq!(&p.name, name);
            assert!(!p.experiments.is_empty(), "{name}");
        }
        let mem = Profile::load(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../configs/memorization-40.toml"
        ))
        .expect("memorization-40");
        assert!(mem.table("fig1").is_some());
    }

    /// The spectra of fig3, fig5 and fig21 take the matrix-free route at the paper's 80×80 (and
    /// beyond) by default, in `paper` and `spectra80`; a route name that does not exist is an
    /// error naming the key.
    #[test]
    fn spectra_at_80_take_the_matrix_free_route() {
        use crate::lab::spectral::RouteSpec;
        for name in ["paper", "spectra80"] {
            let p = Profile::load(name).expect(name);
            for (table, size_key) in [("fig5", "size"), ("fig21", "data")] {
                let t = p.table(table).unwrap_or_else(|| panic!("{name}: {table}"));
                let side = match size_key {
                    "size" => t.get("size").and_then(|v| v.as_integer()),
                    _ => t
                        .get("data")
                        .and_then(|d| d.get("size"))
                        .and_then(|v| v.as_integer()),
                }
                .expect("a size") as usize;
                assert!(side >= 80, "{name}.{table}: {side}");
                let route: RouteSpec = t
                    .get("jacobian")
                    .map(|v| v.clone().try_into().expect("route"))
                    .unwrap_or_default();
                assert!(!route.dense_at(side * side), "{name}.{table}");
            }
        }
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../configs/spectra80.toml"
        ))
        .expect("spectra80");
        let bad = text.replacen(
            "jacobian = { route = \"matrix_free\" }",
            "jacobian = { route = \"sparse\" }",
            1,
        );
        assert_ne!(bad, text);
        let err = format!("{:#}", Profile::parse(&bad).expect_err("bad route"));
        assert!(err.contains("sparse") && err.contains("[fig5]"), "{err}");
    }

    /// The paper profile keeps the paper's loss; quick and standard weight it by 1/σ, and the
    /// report's training line says which.
    #[test]
    fn the_report_names_the_loss_of_each_profile() {
        let paper = Profile::load("paper").expect("paper");
        assert_eq!(paper.train.loss_weight, LossWeight::None);
        assert!(paper
            .train
            .describe()
            .contains("the paper's unweighted loss"));
        for name in ["quick", "standard"] {
            let p = Profile::load(name).expect(name);
            assert_eq!(
                p.train.loss_weight,
                LossWeight::InversePower {
                    power: 1.0,
                    floor: 0.01
                },
                "{name}"
            );
            let d = p.train.describe();
            assert!(
                d.contains("max(σ, 0.01)^1") && d.contains("not the paper's loss"),
                "{d}"
            );
        }
    }

    /// Every profile states the optimum-gap thresholds of fig1, fig4 and fig5; a missing key or a
    /// value the experiment cannot use is an error naming it.
    #[test]
    fn optimum_gap_thresholds_are_required_and_checked() {
        let smoke = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../configs/smoke.toml"
        ))
        .expect("smoke");
        for (key, line) in [
            ("max_optimum_gap_db", "max_optimum_gap_db = 1.0\n"),
            ("max_oracle_gap_db", "max_oracle_gap_db = 1.0\n"),
            ("max_optimum_gap_db", "max_optimum_gap_db = 3.0\n"),
        ] {
            assert!(smoke.contains(line), "smoke has {line:?}");
            let err = format!(
                "{:#}",
                Profile::parse(&smoke.replacen(line, "", 1)).expect_err("missing key")
            );
            assert!(err.contains(key), "{err}");
        }
        for (from, to, needle) in [
            (
                "max_optimum_gap_db = 1.0",
                "max_optimum_gap_db = -1.0",
                "fig1.max_optimum_gap_db",
            ),
            (
                "max_oracle_gap_db = 1.0",
                "max_oracle_gap_db = nan",
                "fig4.max_oracle_gap_db",
            ),
            (
                "max_optimum_gap_db = 3.0",
                "max_optimum_gap_db = inf",
                "fig5.max_optimum_gap_db",
            ),
        ] {
            let err = format!(
                "{:#}",
                Profile::parse(&smoke.replacen(from, to, 1)).expect_err("bad value")
            );
            assert!(err.contains(needle), "{err}");
        }
        let odd = smoke.replace(
            "size = 16\nn_train = 64\nn_test = 16\nnet = { arch = \"unet\", n_blocks = 2, base_channels = 8, image_size = 16 }\nfit_range_db",
            "size = 15\nn_train = 64\nn_test = 16\nnet = { arch = \"unet\", n_blocks = 2, base_channels = 8, image_size = 16 }\nfit_range_db",
        );
        assert_ne!(odd, smoke);
        let err = format!("{:#}", Profile::parse(&odd).expect_err("odd size"));
        assert!(err.contains("fig4.size = 15"), "{err}");
        for name in ["quick", "standard", "paper"] {
            Profile::load(name).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        }
    }

    const BASE: &str =
        "name = \"x\"\ndescription = \"d\"\nseed = 1\n[train]\nsteps = 1\nbatch_size = 1\n";

    #[test]
    fn unknown_key_names_the_key_and_line() {
        let text = "name = \"x\"\ndescription = \"d\"\nseed = 1\nbogus = 3\n[train]\nsteps = 1\nbatch_size = 1\n";
        let err = format!("{:#}", Profile::parse(text).expect_err("unknown key"));
        assert!(err.contains("bogus") && err.contains("line 4"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }

    #[test]
    fn errors_inside_an_experiment_table_name_the_table_key_and_line() {
        let text = format!(
            "{BASE}[fig6]\nmax_queries = 3\nn_pairs = 2\nmax_median_cosine = 0.95\nn_pears = 1\n"
        );
        let err = format!("{:#}", Profile::parse(&text).expect_err("typo"));
        assert!(
            err.contains("[fig6]") && err.contains("n_pears") && err.contains("line 11"),
            "{err}"
        );
        let text = format!("{BASE}[sweep]\nns = [1]\nn_test = 1\nn_eval = 1\ndata = {{ name = \"mnist\", size = 32 }}\nnet = {{ arch = \"unet\", n_blocks = 2, base_channels = 8, image_size = 32, chanels = 3 }}\n");
        let err = format!("{:#}", Profile::parse(&text).expect_err("typo"));
        assert!(err.contains("chanels") && err.contains("line 12"), "{err}");
        let err = format!(
            "{:#}",
            Profile::parse(&format!("{BASE}[fig99]\nx = 1\n")).expect_err("unknown table")
        );
        assert!(
            err.contains("[fig99]") && err.contains("fig1") && err.contains("line 7"),
            "{err}"
        );
    }

    fn smoke() -> String {
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../configs/smoke.toml"
        ))
        .expect("smoke")
    }

    /// The smoke profile with the `nth` (0-based) occurrence of `from` replaced by `to`, parsed: the
    /// one-line error it gives.
    fn error_with(from: &str, to: &str, nth: usize) -> String {
        let text = smoke();
        let (at, _) = text
            .match_indices(from)
            .nth(nth)
            .unwrap_or_else(|| panic!("smoke has {from:?} {} times", nth + 1));
        let patched = format!("{}{to}{}", &text[..at], &text[at + from.len()..]);
        let e = format!(
            "{:#}",
            Profile::parse(&patched).expect_err(&format!("{from} -> {to}"))
        );
        assert!(!e.contains('\n'), "one line: {e}");
        e
    }

    /// Issue 13, item 8: values that used to fail late, or with a message naming neither the field
    /// nor what to change, are refused when the profile is read.
    #[test]
    fn weak_values_are_refused_when_the_profile_is_read() {
        for (from, to, nth, want) in [
            (
                "sigma_max = 1.0",
                "sigma_max = 1e300",
                0,
                "sigma_max: must be in (0, 10]",
            ),
            (
                "batch_size = 16\n",
                "batch_size = 16\nlr = 1e30\n",
                0,
                "lr: must be in (0, 1]",
            ),
            (
                "n_eval = 20",
                "n_eval = 0",
                0,
                "sweep.n_eval must be at least 1",
            ),
            (
                "n_test = 100",
                "n_test = 0",
                0,
                "sweep.n_test must be at least 1",
            ),
            (
                "n_test = 8",
                "n_test = 0",
                0,
                "slice.n_test must be at least 1",
            ),
            (
                "n_test = 16",
                "n_test = 0",
                0,
                "fig4.n_test must be at least 1",
            ),
            (
                "n_test = 8",
                "n_test = 0",
                1,
                "fig5.n_test must be at least 1",
            ),
            (
                "n_test = 16",
                "n_test = 0",
                1,
                "fig21.n_test must be at least 1",
            ),
            (
                "n_test = 32",
                "n_test = 0",
                0,
                "optimality.n_test must be at least 1",
            ),
            (
                "n_test = 32",
                "n_test = 0",
                1,
                "levers.n_test must be at least 1",
            ),
            (
                "size = 16\nn_train = 64\nn_test = 8",
                "size = 4\nn_train = 64\nn_test = 8",
                0,
                "fig5.size = 4",
            ),
        ] {
            let e = error_with(from, to, nth);
            assert!(e.contains(want), "{from} -> {to}: {e}");
            assert!(!e.contains("psnr_curve") && !e.contains("r_max"), "{e}");
        }
    }

    /// Issue 13, item 5: sizes too large for the machine are refused when the profile is read,
    /// naming the field and the bytes needed, before anything is allocated.
    #[test]
    fn huge_sizes_are_refused_with_the_bytes_needed() {
        for (from, to, nth, want) in [
            ("steps = 30", "steps = 1000000000000", 0, "steps"),
            (
                "image_size = 16\n",
                "image_size = 1000000\n",
                0,
                "slice.image_size",
            ),
            ("n_train = 64", "n_train = 100000000000", 0, "slice.n_train"),
            ("n_train = 64", "n_train = 100000000000", 1, "fig4.n_train"),
            ("n_eval = 20", "n_eval = 100000000000", 0, "sweep.n_eval"),
        ] {
            let e = error_with(from, to, nth);
            assert!(
                e.contains(want) && e.contains("bytes"),
                "{from} -> {to}: {e}"
            );
        }
    }
}
