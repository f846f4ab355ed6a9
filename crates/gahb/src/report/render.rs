//! One renderer for both report formats: [`walk`] goes through a [`Report`] once and tells a
//! [`Sink`] what to write; [`Markdown`] and [`Html`] write it. Both files therefore hold the same
//! content (seed, revision, device, training, the pass table, every section's data line, summary,
//! checks, figures, tables, notes and config), and HTML tables are real `<table>`s.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use crate::report::{Report, Table};

/// Writes REPORT.md, report.html and results.json into `dir`, each atomically.
pub fn write(report: &Report, dir: &Path) -> Result<()> {
    crate::lab::io::write_atomic(&dir.join("REPORT.md"), markdown(report).as_bytes())?;
    crate::lab::io::write_atomic(&dir.join("report.html"), html(report).as_bytes())?;
    crate::lab::io::write_json(&dir.join("results.json"), report)
}

/// What a format writes.
pub trait Sink {
    /// A heading of `level` (1 or 2) with an anchor id.
    fn heading(&mut self, level: usize, id: Option<&str>, text: &str);
    /// A paragraph, optionally led by a bold word (`Data.`).
    fn para(&mut self, lead: Option<&str>, text: &str);
    /// A bold paragraph.
    fn strong_para(&mut self, text: &str);
    /// A table; cells whose (row, column) is in `table.strong` are bold; `links` makes the first
    /// cell of each row a link to the anchor of the same name.
    fn table(&mut self, table: &Table, links: bool);
    /// A figure.
    fn figure(&mut self, caption: &str, path: &str);
    /// A bulleted list.
    fn list(&mut self, items: &[String]);
    /// A folded block of code with a summary line.
    fn code(&mut self, summary: &str, code: &str);
}

/// Tells `sink` what the report holds, in order.
pub fn walk(r: &Report, sink: &mut dyn Sink) {
    sink.heading(1, None, &format!("gahb report: profile `{}`", r.profile));
    sink.para(None, &r.description);
    sink.para(
        None,
        &format!(
            "Seed {}, git revision {}, device {}, wall time {:.0} s.",
            r.seed,
            r.git_revision.as_deref().unwrap_or("unknown"),
            r.device,
            r.seconds
        ),
    );
    sink.para(
        None,
        &format!(
            "Training (unless a section's config says otherwise): {}.",
            r.training
        ),
    );
    if !r.cache_notes.is_empty() {
        sink.para(
            Some("Cache repairs"),
            "These cached artefacts were refused and rebuilt, or taken over; none was used as found:",
        );
        sink.list(&r.cache_notes);
    }
    let (pass, all) = r.tally();
    sink.strong_para(&format!("{pass} of {all} checks pass."));
    let mut overview = Table::new(["experiment", "checks passed", "wall time"]);
    for sec in &r.sections {
        let p = sec.checks.iter().filter(|c| c.pass).count();
        overview.row(vec![
            format!("{} {}", sec.name, sec.title),
            format!("{p}/{}", sec.checks.len()),
            format!("{:.0} s", sec.seconds),
        ]);
    }
    for (name, err) in &r.failures {
        let i = overview.rows.len();
        overview.row(vec![name.clone(), format!("FAILED: {err}"), String::new()]);
        overview.strong.push((i, 1));
    }
    sink.table(&overview, true);
    let missing = r.not_shown();
    if !missing.is_empty() {
        sink.para(
            Some("What did not show at this scale"),
            "(each failing check, with what we measured; the sections say more):",
        );
        sink.list(&missing);
    }
    for sec in &r.sections {
        sink.heading(2, Some(&sec.name), &format!("{}: {}", sec.name, sec.title));
        sink.para(Some("Data."), &sec.dataset);
        if !sec.summary.is_empty() {
            sink.para(None, &sec.summary);
        }
        if !sec.checks.is_empty() {
            let mut t = Table::new(["claim", "ours", "paper", "criterion", "result"]);
            for (i, c) in sec.checks.iter().enumerate() {
                t.row(vec![
                    c.claim.clone(),
                    c.ours.clone(),
                    c.paper.clone(),
                    c.criterion.clone(),
                    if c.pass { "pass" } else { "FAIL" }.into(),
                ]);
                if !c.pass {
                    t.strong.push((i, 4));
                }
            }
            sink.table(&t, false);
        }
        for f in &sec.figures {
            sink.figure(&f.caption, &f.path.display().to_string());
        }
        for t in &sec.tables {
            sink.table(t, false);
        }
        if !sec.notes.is_empty() {
            sink.list(&sec.notes);
        }
        sink.code(
            &format!("config ({:.0} s)", sec.seconds),
            &serde_json::to_string_pretty(&sec.config).unwrap_or_default(),
        );
    }
}

/// The markdown report.
pub fn markdown(r: &Report) -> String {
    let mut m = Markdown::default();
    walk(r, &mut m);
    m.0
}

/// The HTML report: a self-contained page with the figures by relative path.
pub fn html(r: &Report) -> String {
    let mut h = Html(String::from(
        "<!doctype html><meta charset=\"utf-8\"><title>gahb report</title>\
         <style>body{font-family:sans-serif;max-width:1100px;margin:auto}\
         table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px}\
         .fail{color:#b00;font-weight:bold}img{max-width:100%}pre{background:#f6f6f6;padding:6px}</style>\n",
    ));
    walk(r, &mut h);
    h.0
}

/// Writes markdown.
#[derive(Default)]
pub struct Markdown(pub String);

/// A markdown table cell: `|` (as in |x|) would end the cell, so it is escaped.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

impl Sink for Markdown {
    fn heading(&mut self, level: usize, id: Option<&str>, text: &str) {
        if let Some(id) = id {
            let _ = writeln!(self.0, "\n<a id=\"{id}\"></a>");
        }
        let _ = writeln!(self.0, "{} {text}\n", "#".repeat(level));
    }
    fn para(&mut self, lead: Option<&str>, text: &str) {
        match lead {
            Some(l) => {
                let _ = writeln!(self.0, "**{l}** {text}\n");
            }
            None => {
                let _ = writeln!(self.0, "{text}\n");
            }
        }
    }
    fn strong_para(&mut self, text: &str) {
        let _ = writeln!(self.0, "**{text}**\n");
    }
    fn table(&mut self, t: &Table, links: bool) {
        let head: Vec<String> = t.header.iter().map(|h| cell(h)).collect();
        let _ = writeln!(
            self.0,
            "| {} |\n|{}|",
            head.join(" | "),
            vec!["---"; t.header.len()].join("|")
        );
        for (i, row) in t.rows.iter().enumerate() {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(j, c)| {
                    let text = cell(c);
                    if t.strong.contains(&(i, j)) {
                        format!("**{text}**")
                    } else if links && j == 0 {
                        match text.split_once(' ') {
                            Some((name, rest)) => format!("[{name}](#{name}) {rest}"),
                            None => format!("[{text}](#{text})"),
                        }
                    } else {
                        text
                    }
                })
                .collect();
            let _ = writeln!(self.0, "| {} |", cells.join(" | "));
        }
        self.0.push('\n');
    }
    fn figure(&mut self, caption: &str, path: &str) {
        let _ = writeln!(self.0, "![{caption}]({path})\n\n*{caption}*\n");
    }
    fn list(&mut self, items: &[String]) {
        for i in items {
            let _ = writeln!(self.0, "- {i}");
        }
        self.0.push('\n');
    }
    fn code(&mut self, summary: &str, code: &str) {
        let _ = writeln!(
            self.0,
            "<details><summary>{summary}</summary>\n\n```json\n{code}\n```\n</details>"
        );
    }
}

/// Writes HTML.
pub struct Html(pub String);

fn esc(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Sink for Html {
    fn heading(&mut self, level: usize, id: Option<&str>, text: &str) {
        let id = id
            .map(|i| format!(" id=\"{}\"", esc(i)))
            .unwrap_or_default();
        let _ = writeln!(self.0, "<h{level}{id}>{}</h{level}>", esc(text));
    }
    fn para(&mut self, lead: Option<&str>, text: &str) {
        match lead {
            Some(l) => {
                let _ = writeln!(self.0, "<p><b>{}</b> {}</p>", esc(l), esc(text));
            }
            None => {
                let _ = writeln!(self.0, "<p>{}</p>", esc(text));
            }
        }
    }
    fn strong_para(&mut self, text: &str) {
        let _ = writeln!(self.0, "<p><b>{}</b></p>", esc(text));
    }
    fn table(&mut self, t: &Table, links: bool) {
        self.0.push_str("<table><tr>");
        for h in &t.header {
            let _ = write!(self.0, "<th>{}</th>", esc(h));
        }
        self.0.push_str("</tr>\n");
        for (i, row) in t.rows.iter().enumerate() {
            self.0.push_str("<tr>");
            for (j, c) in row.iter().enumerate() {
                let text = if links && j == 0 {
                    match c.split_once(' ') {
                        Some((name, rest)) => {
                            format!("<a href=\"#{0}\">{0}</a> {1}", esc(name), esc(rest))
                        }
                        None => format!("<a href=\"#{0}\">{0}</a>", esc(c)),
                    }
                } else {
                    esc(c)
                };
                if t.strong.contains(&(i, j)) {
                    let _ = write!(self.0, "<td class=\"fail\">{text}</td>");
                } else {
                    let _ = write!(self.0, "<td>{text}</td>");
                }
            }
            self.0.push_str("</tr>\n");
        }
        self.0.push_str("</table>\n");
    }
    fn figure(&mut self, caption: &str, path: &str) {
        let _ = writeln!(
            self.0,
            "<figure><img src=\"{}\" alt=\"{1}\"><figcaption>{1}</figcaption></figure>",
            esc(path),
            esc(caption)
        );
    }
    fn list(&mut self, items: &[String]) {
        self.0.push_str("<ul>");
        for i in items {
            let _ = write!(self.0, "<li>{}</li>", esc(i));
        }
        self.0.push_str("</ul>\n");
    }
    fn code(&mut self, summary: &str, code: &str) {
        let _ = writeln!(
            self.0,
            "<details><summary>{}</summary><pre>{}</pre></details>",
            esc(summary),
            esc(code)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::check::{Cmp, Num};
    use crate::report::{Check, Section};

    /// Pipes that are not escaped, i.e. cell boundaries.
    fn boundaries(line: &str) -> usize {
        line.match_indices('|')
            .filter(|(i, _)| *i == 0 || &line[i - 1..*i] != "\\")
            .count()
    }

    fn report(checks: Vec<Check>) -> Report {
        let mut table = Table::new(["N", "|gap|"]);
        table.row(vec!["1".into(), "|x − y| = 2".into()]);
        Report {
            profile: "t".into(),
            description: "d".into(),
            seed: 42,
            git_revision: Some("abc123".into()),
            device: "Cpu".into(),
            training: "600 steps".into(),
            cache_notes: Vec::new(),
            sections: vec![Section {
                name: "fig9".into(),
                title: "a test".into(),
                dataset: "none <b>".into(),
                summary: "s".into(),
                tables: vec![table],
                checks,
                config: serde_json::json!({"alpha": 2.5}),
                seconds: 1.0,
                ..Section::default()
            }],
            failures: vec![("fig8".into(), "boom".into())],
            seconds: 1.0,
        }
    }

    #[test]
    fn table_cells_keep_their_pipes_inside() {
        let md = markdown(&report(vec![]));
        let line = md
            .lines()
            .find(|l| l.contains("x − y"))
            .expect("the row is there");
        assert_eq!(boundaries(line), 3, "{line}");
        assert!(line.contains("\\|x − y\\| = 2"), "{line}");
    }

    #[test]
    fn failing_checks_are_listed_as_not_shown_at_this_scale() {
        let r = report(vec![
            Check::compare("slopes", Num::plain(0.2, 2), Cmp::Above(0.4), "rising"),
            Check::compare("gain", Num::db(8.0), Cmp::Above(3.0), "> 0"),
        ]);
        let md = markdown(&r);
        assert!(md.contains("What did not show at this scale"), "{md}");
        assert!(md.contains("- fig9: slopes: 0.20 (wanted > 0.4)"), "{md}");
        assert!(!md.contains("- fig9: gain"), "{md}");
        assert!(html(&r).contains("<li>fig9: slopes"));
        let all_pass = report(vec![Check::compare(
            "gain",
            Num::db(8.0),
            Cmp::Above(3.0),
            "> 0",
        )]);
        assert!(!markdown(&all_pass).contains("What did not show"));
        assert!(markdown(&all_pass)
            .contains("Training (unless a section's config says otherwise): 600 steps."));
    }

    /// The same content in both formats: every cell, the header facts and the config, and real
    /// HTML tables.
    #[test]
    fn markdown_and_html_hold_the_same_content() {
        let r = report(vec![Check::compare(
            "gain",
            Num::db(2.0),
            Cmp::Above(3.0),
            "> 0",
        )]);
        let md = markdown(&r);
        let h = html(&r);
        for needle in [
            "Seed 42",
            "abc123",
            "device Cpu",
            "0 of 1 checks pass.",
            "FAILED: boom",
            "2.00 dB",
            "&gt; 3 dB",
            "\"alpha\": 2.5",
            "none &lt;b&gt;",
        ] {
            let plain = needle
                .replace("&gt;", ">")
                .replace("&lt;", "<")
                .replace("&quot;", "\"");
            assert!(md.contains(&plain), "markdown lacks {plain}");
            let quoted = needle.replace('"', "&quot;");
            assert!(h.contains(&quoted), "html lacks {quoted}");
        }
        assert!(h.contains("<table>") && !h.contains("<pre>|"), "{h}");
        assert_eq!(h.matches("<table>").count(), 3, "overview, checks, data");
        assert!(h.contains("<td class=\"fail\">FAIL</td>"), "{h}");
        assert!(md.contains("**FAIL**"), "{md}");
    }
}
