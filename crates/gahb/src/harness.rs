//! The experiment harness: an [`Experiment`] measures (its results are serde data), then presents
//! them on a [`Page`]; [`Bind`] turns one into a registry [`Entry`] that reads its profile table,
//! times it, gives it its folder and makes its report section. The registry itself is
//! `crate::experiments::REGISTRY`, one line per experiment.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize as _, Serialize};

use crate::lab::context::Lab;
use crate::lab::io;
use crate::lab::job::Job;
use crate::report::{Check, Figure, Section, Table};

/// One paper figure (or one experiment beyond the paper).
pub trait Experiment {
    /// Its name: the profile table, the results folder and the report section.
    const NAME: &'static str;
    /// One line for `gahb list`.
    const WHAT: &'static str;
    /// Its profile table.
    type Config: DeserializeOwned + Serialize;
    /// What it measured.
    type Results: Serialize;

    /// Checks the table beyond its types (called when the profile is read, before anything runs).
    fn validate(cfg: &Self::Config) -> Result<()> {
        let _ = cfg;
        Ok(())
    }

    /// Every training `measure` needs, built by the same functions `measure` trains them with (the
    /// training units of `gahb plan`; a run with `cached_only` proves the list complete).
    fn jobs(lab: &Lab, cfg: &Self::Config) -> Result<Vec<Job>>;

    /// Trains, evaluates and analyses: everything numeric, no figures.
    fn measure(lab: &Lab, cfg: &Self::Config) -> Result<Self::Results>;

    /// Draws the figures and writes the section: title, data line, summary, tables, checks, notes.
    fn present(cfg: &Self::Config, results: &Self::Results, page: &mut Page) -> Result<()>;
}

/// The section an experiment is writing, with its output folder.
pub struct Page {
    dir: PathBuf,
    section: Section,
}

impl Page {
    /// The folder of the experiment's files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Sets the title.
    pub fn title(&mut self, text: impl Into<String>) {
        self.section.title = text.into();
    }

    /// Sets the data line: what the images are and what they stand in for.
    pub fn dataset(&mut self, text: impl Into<String>) {
        self.section.dataset = text.into();
    }

    /// Sets the summary: what was run.
    pub fn summary(&mut self, text: impl Into<String>) {
        self.section.summary = text.into();
    }

    /// Draws a figure into `file` of the experiment's folder with `draw` and adds it.
    pub fn figure(
        &mut self,
        file: &str,
        caption: impl Into<String>,
        draw: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<()> {
        let path = self.dir.join(file);
        draw(&path).with_context(|| format!("drawing {}", path.display()))?;
        self.listed_figure(file, caption);
        Ok(())
    }

    /// Adds a figure that was drawn into `file` of the experiment's folder by other code.
    pub fn listed_figure(&mut self, file: &str, caption: impl Into<String>) {
        self.section.figures.push(Figure {
            caption: caption.into(),
            path: PathBuf::from(&self.section.name).join(file),
        });
    }

    /// Adds a table to the section and writes it as `file` (CSV) when one is given.
    pub fn table(&mut self, table: Table, csv: Option<&str>) -> Result<()> {
        if let Some(file) = csv {
            io::write_csv(&self.dir.join(file), &table.header, &table.rows)?;
        }
        self.section.tables.push(table);
        Ok(())
    }

    /// Adds a check.
    pub fn check(&mut self, check: Check) {
        self.section.checks.push(check);
    }

    /// Adds a note.
    pub fn note(&mut self, text: impl Into<String>) {
        self.section.notes.push(text.into());
    }

    /// An empty page writing into `dir`, for tests of an experiment's `present`.
    #[cfg(test)]
    pub fn for_test(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            section: Section::default(),
        }
    }

    /// The section written so far, for tests.
    #[cfg(test)]
    pub fn into_section(self) -> Section {
        self.section
    }

    /// Records another table of the profile that the experiment used, beside its own config.
    pub fn used(&mut self, table: &str, value: &impl Serialize) -> Result<()> {
        if let serde_json::Value::Object(m) = &mut self.section.config {
            m.insert(table.to_string(), serde_json::to_value(value)?);
        }
        Ok(())
    }
}

/// A registry entry: an experiment behind an object-safe interface.
pub trait Entry: Sync {
    /// The experiment's name.
    fn name(&self) -> &'static str;
    /// One line for `gahb list`.
    fn what(&self) -> &'static str;
    /// Reads and validates the experiment's table.
    fn check(&self, table: &toml::Value) -> Result<()>;
    /// The trainings it needs.
    fn jobs(&self, lab: &Lab, table: &toml::Value) -> Result<Vec<Job>>;
    /// Runs it: measure, write `<name>/results.json`, present.
    fn run(&self, lab: &Lab, table: &toml::Value, out: &Path) -> Result<Section>;
}

/// The registry entry of experiment `E`.
pub struct Bind<E>(PhantomData<fn() -> E>);

impl<E> Bind<E> {
    /// The entry.
    pub const ENTRY: Self = Bind(PhantomData);
}

impl<E: Experiment> Bind<E> {
    fn config(&self, table: &toml::Value) -> Result<E::Config> {
        let cfg = E::Config::deserialize(table.clone())
            .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
        E::validate(&cfg)?;
        Ok(cfg)
    }
}

impl<E: Experiment> Entry for Bind<E> {
    fn name(&self) -> &'static str {
        E::NAME
    }

    fn what(&self) -> &'static str {
        E::WHAT
    }

    fn check(&self, table: &toml::Value) -> Result<()> {
        self.config(table).map(|_| ())
    }

    fn jobs(&self, lab: &Lab, table: &toml::Value) -> Result<Vec<Job>> {
        E::jobs(lab, &self.config(table)?)
    }

    fn run(&self, lab: &Lab, table: &toml::Value, out: &Path) -> Result<Section> {
        let t0 = Instant::now();
        let cfg = self.config(table)?;
        let dir = out.join(E::NAME);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let results = E::measure(lab, &cfg)?;
        io::write_json(&dir.join("results.json"), &results)?;
        let mut config = serde_json::Map::new();
        config.insert(E::NAME.to_string(), serde_json::to_value(&cfg)?);
        let mut page = Page {
            dir,
            section: Section {
                name: E::NAME.to_string(),
                config: serde_json::Value::Object(config),
                ..Section::default()
            },
        };
        E::present(&cfg, &results, &mut page)?;
        page.section.seconds = t0.elapsed().as_secs_f64();
        Ok(page.section)
    }
}
