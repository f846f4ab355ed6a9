//! The report of a profile run: structured sections ([`Section`]: figures, [`Table`]s, [`Check`]s
//! of measured numbers against the paper's, notes, config, wall time) that one renderer
//! (`render`) writes as `REPORT.md` and `report.html` with the same content, plus
//! `results.json` with every number.
//!
//! Every number in a report comes from the run; nothing is typed in except the paper's values,
//! which are quoted from PAPER.md §11.

pub mod check;
pub mod render;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use check::Check;

/// A table: a header and rows of cells, some of them marked strong (a failed check).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Table {
    /// Column titles.
    pub header: Vec<String>,
    /// Rows of cells, as text.
    pub rows: Vec<Vec<String>>,
    /// (row, column) of the cells shown in bold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub strong: Vec<(usize, usize)>,
}

impl Table {
    /// A table with these column titles and no rows.
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Self {
            header: header.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
}

/// A figure: a caption and its path relative to the report folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figure {
    /// What it shows.
    pub caption: String,
    /// `<experiment>/<file>.png`.
    pub path: PathBuf,
}

/// One experiment's part of the report.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Section {
    /// Registry name (`fig1`, `slice`, ...).
    pub name: String,
    /// Title.
    pub title: String,
    /// The data used, and what it stands in for.
    pub dataset: String,
    /// What was run, in a few sentences.
    pub summary: String,
    /// The figures.
    pub figures: Vec<Figure>,
    /// Tables of measured numbers.
    pub tables: Vec<Table>,
    /// Comparisons with the paper.
    pub checks: Vec<Check>,
    /// Observations, including effects that did not show at this scale.
    pub notes: Vec<String>,
    /// The experiment's resolved config, as JSON.
    pub config: serde_json::Value,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// A whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Profile name.
    pub profile: String,
    /// Profile description.
    pub description: String,
    /// Master seed.
    pub seed: u64,
    /// Git revision of the code.
    pub git_revision: Option<String>,
    /// Device used.
    pub device: String,
    /// The profile's default training recipe, in words (experiments may override it; their
    /// config blocks say so).
    pub training: String,
    /// What was wrong in the cache and what was done about it (refused artefacts rebuilt, stale
    /// locks taken over), one line each.
    pub cache_notes: Vec<String>,
    /// The sections, in run order.
    pub sections: Vec<Section>,
    /// Experiments that failed, with their error.
    pub failures: Vec<(String, String)>,
    /// Total wall time.
    pub seconds: f64,
}

impl Report {
    /// One line per failing check: "experiment: claim: ours (wanted criterion)".
    pub fn not_shown(&self) -> Vec<String> {
        self.sections
            .iter()
            .flat_map(|sec| {
                sec.checks.iter().filter(|c| !c.pass).map(move |c| {
                    format!(
                        "{}: {}: {} (wanted {})",
                        sec.name, c.claim, c.ours, c.criterion
                    )
                })
            })
            .collect()
    }

    /// (passing, all) checks.
    pub fn tally(&self) -> (usize, usize) {
        let all: Vec<&Check> = self.sections.iter().flat_map(|s| &s.checks).collect();
        (all.iter().filter(|c| c.pass).count(), all.len())
    }
}
