//! The report of a profile run: `REPORT.md` and `report.html` with one section per experiment
//! (figures, measured numbers beside the paper's, pass/fail against a stated tolerance, dataset,
//! config, seeds and wall time), plus `results.json` with every number.
//!
//! Every number in a report comes from the run; nothing is typed in except the paper's values,
//! which are quoted from PAPER.md §11.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

/// One comparison of a measured quantity with the paper.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What is compared.
    pub claim: String,
    /// Our measured value, formatted.
    pub ours: String,
    /// The paper's value or expectation.
    pub paper: String,
    /// The tolerance or criterion, in words.
    pub criterion: String,
    /// Whether the criterion holds.
    pub pass: bool,
}

impl Check {
    /// A check with a numeric criterion already decided by the caller.
    pub fn new(
        claim: impl Into<String>,
        ours: impl Into<String>,
        paper: impl Into<String>,
        criterion: impl Into<String>,
        pass: bool,
    ) -> Self {
        Self {
            claim: claim.into(),
            ours: ours.into(),
            paper: paper.into(),
            criterion: criterion.into(),
            pass,
        }
    }
}

/// One experiment's part of the report.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Section {
    /// Registry name (`fig1`, `slice`, ...).
    pub name: String,
    /// Title.
    pub title: String,
    /// The data used, and what it stands in for.
    pub dataset: String,
    /// Free text (markdown) explaining what was run.
    pub summary: String,
    /// (caption, path relative to the report folder).
    pub figures: Vec<(String, PathBuf)>,
    /// Markdown tables of measured numbers.
    pub tables: Vec<String>,
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
    /// The sections, in run order.
    pub sections: Vec<Section>,
    /// Experiments that failed, with their error.
    pub failures: Vec<(String, String)>,
    /// Total wall time.
    pub seconds: f64,
}

impl Report {
    /// Writes REPORT.md, report.html and results.json into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("REPORT.md"), self.markdown()).context("writing REPORT.md")?;
        std::fs::write(dir.join("report.html"), self.html()).context("writing report.html")?;
        std::fs::write(
            dir.join("results.json"),
            serde_json::to_string_pretty(self)?,
        )
        .context("writing results.json")?;
        Ok(())
    }

    /// One line per failing check: "experiment: claim: ours (criterion)".
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

    /// The markdown report.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# gahb report: profile `{}`\n", self.profile);
        let _ = writeln!(s, "{}\n", self.description);
        let _ = writeln!(
            s,
            "Seed {}, git revision {}, device {}, wall time {:.0} s.\n",
            self.seed,
            self.git_revision.as_deref().unwrap_or("unknown"),
            self.device,
            self.seconds
        );
        let _ = writeln!(
            s,
            "Training (unless a section's config says otherwise): {}.\n",
            self.training
        );
        let n_checks: usize = self.sections.iter().map(|x| x.checks.len()).sum();
        let n_pass: usize = self
            .sections
            .iter()
            .flat_map(|x| &x.checks)
            .filter(|c| c.pass)
            .count();
        let _ = writeln!(s, "**{n_pass} of {n_checks} checks pass.**\n");
        let _ = writeln!(
            s,
            "| experiment | checks passed | wall time |\n|---|---|---|"
        );
        for sec in &self.sections {
            let p = sec.checks.iter().filter(|c| c.pass).count();
            let _ = writeln!(
                s,
                "| [{}](#{}) {} | {p}/{} | {:.0} s |",
                sec.name,
                sec.name,
                sec.title,
                sec.checks.len(),
                sec.seconds
            );
        }
        for (name, err) in &self.failures {
            let _ = writeln!(s, "| {name} | FAILED: {err} | |");
        }
        let missing = self.not_shown();
        if !missing.is_empty() {
            let _ = writeln!(
                s,
                "\n**What did not show at this scale** (each failing check, with what we measured; \
                 the sections say more):\n"
            );
            for line in &missing {
                let _ = writeln!(s, "- {line}");
            }
        }
        for sec in &self.sections {
            let _ = writeln!(
                s,
                "\n<a id=\"{}\"></a>\n## {}: {}\n",
                sec.name, sec.name, sec.title
            );
            let _ = writeln!(s, "**Data.** {}\n", sec.dataset);
            if !sec.summary.is_empty() {
                let _ = writeln!(s, "{}\n", sec.summary);
            }
            if !sec.checks.is_empty() {
                let _ = writeln!(
                    s,
                    "| claim | ours | paper | criterion | result |\n|---|---|---|---|---|"
                );
                for c in &sec.checks {
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | {} | {} |",
                        cell(&c.claim),
                        cell(&c.ours),
                        cell(&c.paper),
                        cell(&c.criterion),
                        if c.pass { "pass" } else { "**FAIL**" }
                    );
                }
                s.push('\n');
            }
            for (caption, path) in &sec.figures {
                let _ = writeln!(s, "![{caption}]({})\n\n*{caption}*\n", path.display());
            }
            for t in &sec.tables {
                let _ = writeln!(s, "{t}\n");
            }
            for n in &sec.notes {
                let _ = writeln!(s, "- {n}");
            }
            let _ = writeln!(
                s,
                "\n<details><summary>config ({:.0} s)</summary>\n\n```json\n{}\n```\n</details>",
                sec.seconds,
                serde_json::to_string_pretty(&sec.config).unwrap_or_default()
            );
        }
        s
    }

    /// A self-contained HTML page with the figures inline (by relative path).
    pub fn html(&self) -> String {
        let esc = |t: &str| {
            t.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        };
        let mut s = String::from(
            "<!doctype html><meta charset=\"utf-8\"><title>gahb report</title>\
             <style>body{font-family:sans-serif;max-width:1100px;margin:auto}\
             table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}\
             .fail{color:#b00;font-weight:bold}img{max-width:100%}</style>",
        );
        let _ = write!(
            s,
            "<h1>gahb report: profile {}</h1><p>{}</p><p>Training (unless a section's config \
             says otherwise): {}.</p>",
            esc(&self.profile),
            esc(&self.description),
            esc(&self.training)
        );
        let missing = self.not_shown();
        if !missing.is_empty() {
            s.push_str("<p><b>What did not show at this scale</b> (each failing check):</p><ul>");
            for line in &missing {
                let _ = write!(s, "<li>{}</li>", esc(line));
            }
            s.push_str("</ul>");
        }
        for sec in &self.sections {
            let _ = write!(
                s,
                "<h2 id=\"{0}\">{0}: {1}</h2><p><b>Data.</b> {2}</p><p>{3}</p>",
                sec.name,
                esc(&sec.title),
                esc(&sec.dataset),
                esc(&sec.summary)
            );
            if !sec.checks.is_empty() {
                s.push_str("<table><tr><th>claim</th><th>ours</th><th>paper</th><th>criterion</th><th>result</th></tr>");
                for c in &sec.checks {
                    let _ = write!(
                        s,
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td{}>{}</td></tr>",
                        esc(&c.claim),
                        esc(&c.ours),
                        esc(&c.paper),
                        esc(&c.criterion),
                        if c.pass { "" } else { " class=\"fail\"" },
                        if c.pass { "pass" } else { "FAIL" }
                    );
                }
                s.push_str("</table>");
            }
            for (caption, path) in &sec.figures {
                let _ = write!(
                    s,
                    "<figure><img src=\"{}\"><figcaption>{}</figcaption></figure>",
                    path.display(),
                    esc(caption)
                );
            }
            for t in &sec.tables {
                let _ = write!(s, "<pre>{}</pre>", esc(t));
            }
            if !sec.notes.is_empty() {
                s.push_str("<ul>");
                for n in &sec.notes {
                    let _ = write!(s, "<li>{}</li>", esc(n));
                }
                s.push_str("</ul>");
            }
        }
        for (name, err) in &self.failures {
            let _ = write!(
                s,
                "<h2>{}</h2><p class=\"fail\">FAILED: {}</p>",
                esc(name),
                esc(err)
            );
        }
        s
    }
}

/// Formats rows as a markdown table.
pub fn md_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let join =
        |cells: &mut dyn Iterator<Item = &str>| cells.map(cell).collect::<Vec<_>>().join(" | ");
    let mut s = format!(
        "| {} |\n|{}|\n",
        join(&mut header.iter().copied()),
        vec!["---"; header.len()].join("|")
    );
    for r in rows {
        let _ = writeln!(s, "| {} |", join(&mut r.iter().map(String::as_str)));
    }
    s
}

/// A Markdown table cell: `|` (as in |x|) would end the cell, so it is escaped.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// Writes rows as CSV.
pub fn write_csv(path: &Path, header: &[&str], rows: &[Vec<String>]) -> Result<()> {
    let mut s = header.join(",");
    s.push('\n');
    for r in rows {
        s.push_str(&r.join(","));
        s.push('\n');
    }
    std::fs::write(path, s).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pipes that are not escaped, i.e. cell boundaries.
    fn boundaries(line: &str) -> usize {
        line.match_indices('|')
            .filter(|(i, _)| *i == 0 || &line[i - 1..*i] != "\\")
            .count()
    }

    #[test]
    fn table_cells_keep_their_pipes_inside() {
        let t = md_table(&["N", "|gap|"], &[vec!["1".into(), "|x − y| = 2".into()]]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        for line in [lines[0], lines[2]] {
            assert_eq!(boundaries(line), 3, "{line}");
        }
        assert!(lines[2].contains("\\|x − y\\| = 2"), "{}", lines[2]);
    }

    fn report(checks: Vec<Check>) -> Report {
        Report {
            profile: "t".into(),
            description: "d".into(),
            seed: 0,
            git_revision: None,
            device: "Cpu".into(),
            training: "600 steps".into(),
            sections: vec![Section {
                name: "fig9".into(),
                title: "a test".into(),
                dataset: "none".into(),
                summary: "s".into(),
                figures: vec![],
                tables: vec![],
                checks,
                notes: vec![],
                config: serde_json::Value::Null,
                seconds: 1.0,
            }],
            failures: vec![],
            seconds: 1.0,
        }
    }

    #[test]
    fn failing_checks_are_listed_as_not_shown_at_this_scale() {
        let r = report(vec![
            Check::new(
                "slopes rise",
                "0.2 / 0.1",
                "rising",
                "every pair rises",
                false,
            ),
            Check::new("gain", "+8 dB", "> 0", "> 3 dB", true),
        ]);
        let md = r.markdown();
        assert!(md.contains("What did not show at this scale"), "{md}");
        assert!(
            md.contains("- fig9: slopes rise: 0.2 / 0.1 (wanted every pair rises)"),
            "{md}"
        );
        assert!(!md.contains("- fig9: gain"), "{md}");
        assert!(r.html().contains("<li>fig9: slopes rise"));
        let all_pass = report(vec![Check::new("gain", "+8 dB", "> 0", "> 3 dB", true)]);
        assert!(!all_pass.markdown().contains("What did not show"));
        assert!(all_pass
            .markdown()
            .contains("Training (unless a section's config says otherwise): 600 steps."));
    }
}
