//! The module import graph of a crate's `src/` folder, for `cargo xtask tidy`: every file is a
//! node, and a path `crate::a::b::Item`, `super::x::Item` or a child path `x::Item` in a file is
//! an edge to the deepest module file it names (declaring `mod x;` is not an edge). Two rules are
//! checked on `crates/gahb`: the graph has no cycle, and nothing under a lower layer's folder
//! (`lab/`) reaches a module outside the lower layer that depends on it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result};

/// A module path: `[]` is the crate root, `["lab", "data"]` is `lab/data.rs`.
pub type ModPath = Vec<String>;

/// The import graph: each module file and the modules it refers to.
#[derive(Debug, Default)]
pub struct Graph {
    /// Edges, from a module to the modules it names.
    pub edges: BTreeMap<ModPath, BTreeSet<ModPath>>,
}

/// The module path of a file relative to `src/`: `main.rs`/`lib.rs` → `[]`, `a/mod.rs` → `[a]`,
/// `a/b.rs` → `[a, b]`.
fn module_of(rel: &Path) -> ModPath {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod")) {
        parts.pop();
    }
    if parts.len() == 1 && (parts[0] == "main" || parts[0] == "lib") {
        parts.clear();
    }
    parts
}

fn collect(dir: &Path, src: &Path, out: &mut Vec<(ModPath, String)>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, src, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(src).unwrap_or(&path);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            out.push((module_of(rel), text));
        }
    }
    Ok(())
}

/// Reads the graph of the crate whose sources are in `src`.
pub fn read(src: &Path) -> Result<Graph> {
    let mut files = Vec::new();
    collect(src, src, &mut files)?;
    Ok(build(&files))
}

/// The graph of in-memory files (module path, text).
pub fn build(files: &[(ModPath, String)]) -> Graph {
    let modules: BTreeSet<ModPath> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut g = Graph::default();
    for (m, text) in files {
        let mut targets = BTreeSet::new();
        for line in text.lines() {
            let code = line.trim_start();
            if code.starts_with("//") || code.starts_with("mod ") || code.starts_with("pub mod ") {
                continue;
            }
            let code = code.split("//").next().unwrap_or("");
            for path in paths_in(code) {
                let base: ModPath = match path.first().map(String::as_str) {
                    Some("crate") => Vec::new(),
                    Some("super") => m[..m.len().saturating_sub(1)].to_vec(),
                    Some("self") => m.clone(),
                    _ => {
                        // A bare path: a child module of this one, or nothing of ours.
                        let mut child = m.clone();
                        child.push(path[0].clone());
                        if !modules.contains(&child) {
                            continue;
                        }
                        m.clone()
                    }
                };
                let rest = match path.first().map(String::as_str) {
                    Some("crate" | "super" | "self") => &path[1..],
                    _ => &path[..],
                };
                let mut target = base;
                for seg in rest {
                    let mut next = target.clone();
                    next.push(seg.clone());
                    if modules.contains(&next) {
                        target = next;
                    } else {
                        break;
                    }
                }
                if &target != m && modules.contains(&target) {
                    targets.insert(target);
                }
            }
        }
        g.edges.insert(m.clone(), targets);
    }
    g
}

/// Every `a::b::c` path in a line of code, with one level of `{x, y::z}` groups expanded.
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = code.chars().collect();
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !ident(chars[i]) || (i > 0 && (ident(chars[i - 1]) || chars[i - 1] == ':')) {
            i += 1;
            continue;
        }
        let mut segs = Vec::new();
        let mut j = i;
        loop {
            let start = j;
            while j < chars.len() && ident(chars[j]) {
                j += 1;
            }
            segs.push(chars[start..j].iter().collect::<String>());
            if j + 1 < chars.len() && chars[j] == ':' && chars[j + 1] == ':' {
                j += 2;
                if j < chars.len() && chars[j] == '{' {
                    let close = chars[j..].iter().position(|&c| c == '}').map(|p| j + p);
                    let inner: String = chars[j + 1..close.unwrap_or(chars.len())].iter().collect();
                    for item in inner.split(',') {
                        let mut p = segs.clone();
                        p.extend(
                            item.trim()
                                .split("::")
                                .map(|s| s.trim().to_string())
                                .filter(|s| !s.is_empty()),
                        );
                        out.push(p);
                    }
                    j = close.map_or(chars.len(), |c| c + 1);
                    segs.clear();
                    break;
                }
                if j < chars.len() && ident(chars[j]) {
                    continue;
                }
            }
            break;
        }
        if segs.len() > 1 {
            out.push(segs);
        }
        i = j.max(i + 1);
    }
    out
}

fn show(m: &ModPath) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

impl Graph {
    /// One cycle, as module names, when there is one.
    pub fn cycle(&self) -> Option<Vec<String>> {
        #[derive(Clone, Copy, PartialEq)]
        enum State {
            Open,
            Done,
        }
        fn visit(
            g: &Graph,
            m: &ModPath,
            state: &mut BTreeMap<ModPath, State>,
            stack: &mut Vec<ModPath>,
        ) -> Option<Vec<String>> {
            state.insert(m.clone(), State::Open);
            stack.push(m.clone());
            for t in g.edges.get(m).into_iter().flatten() {
                match state.get(t) {
                    Some(State::Open) => {
                        let from = stack.iter().position(|s| s == t).unwrap_or(0);
                        let mut c: Vec<String> = stack[from..].iter().map(show).collect();
                        c.push(show(t));
                        return Some(c);
                    }
                    Some(State::Done) => {}
                    None => {
                        if let Some(c) = visit(g, t, state, stack) {
                            return Some(c);
                        }
                    }
                }
            }
            stack.pop();
            state.insert(m.clone(), State::Done);
            None
        }
        let mut state = BTreeMap::new();
        for m in self.edges.keys() {
            if !state.contains_key(m) {
                if let Some(c) = visit(self, m, &mut state, &mut Vec::new()) {
                    return Some(c);
                }
            }
        }
        None
    }

    /// Edges from a module under `layer` to a module outside it, other than those in `allowed`
    /// (prefixes): "lab::data -> experiments::fig1".
    pub fn escapes(&self, layer: &str, allowed: &[&str]) -> Vec<String> {
        let inside = |m: &ModPath| m.first().is_some_and(|f| f == layer);
        let ok =
            |m: &ModPath| inside(m) || allowed.iter().any(|a| m.first().is_some_and(|f| f == a));
        self.edges
            .iter()
            .filter(|(m, _)| inside(m))
            .flat_map(|(m, ts)| {
                ts.iter()
                    .filter(|t| !ok(t))
                    .map(move |t| format!("{} -> {}", show(m), show(t)))
            })
            .collect()
    }
}

/// The problems of `crates/gahb`: a cycle, or `lab` importing anything of the layers above it.
pub fn gahb_problems(root: &Path) -> Result<Vec<String>> {
    let g = read(&root.join("crates/gahb/src"))?;
    let mut problems = Vec::new();
    if let Some(c) = g.cycle() {
        problems.push(format!(
            "crates/gahb has an import cycle: {}",
            c.join(" -> ")
        ));
    }
    for e in g.escapes("lab", &[]) {
        problems.push(format!(
            "crates/gahb: the lower layer imports a module above it: {e}"
        ));
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> ModPath {
        if s.is_empty() {
            Vec::new()
        } else {
            s.split("::").map(String::from).collect()
        }
    }

    fn files(list: &[(&str, &str)]) -> Vec<(ModPath, String)> {
        list.iter().map(|(p, t)| (m(p), t.to_string())).collect()
    }

    #[test]
    fn paths_are_read_with_groups_and_comments_skipped() {
        let g = build(&files(&[
            (
                "",
                "mod lab;\nmod report;\nuse crate::lab::{data, store::Key};\n",
            ),
            (
                "lab",
                "//! `crate::report` is only in a doc\npub mod data;\npub mod store;\n",
            ),
            (
                "lab::data",
                "use crate::lab::store::key;\nfn f() { super::store::g(); }\n",
            ),
            ("lab::store", "use std::path::Path;\n"),
            ("report", "use crate::lab::data::X;\n"),
        ]));
        assert_eq!(
            g.edges[&m("")],
            [m("lab::data"), m("lab::store")].into_iter().collect()
        );
        assert!(
            g.edges[&m("lab")].is_empty(),
            "doc comments and mod lines are no edges"
        );
        assert_eq!(
            g.edges[&m("lab::data")],
            [m("lab::store")].into_iter().collect()
        );
        assert!(g.cycle().is_none());
        assert!(g.escapes("lab", &[]).is_empty());
    }

    #[test]
    fn a_cycle_and_an_upward_import_are_found() {
        let g = build(&files(&[
            ("", "mod a;\nmod lab;\n"),
            ("a", "pub mod b;\nuse b::Thing;\n"),
            ("a::b", "use super::Other;\n"),
            ("lab", "use crate::a::b::Thing;\n"),
        ]));
        let c = g.cycle().expect("a -> a::b -> a");
        assert!(
            c.contains(&"a".to_string()) && c.contains(&"a::b".to_string()),
            "{c:?}"
        );
        assert_eq!(g.escapes("lab", &[]), vec!["lab -> a::b".to_string()]);
    }

    /// The real crate: no import cycle, and `lab` imports nothing above it.
    #[test]
    fn crates_gahb_has_no_import_cycle_and_a_clean_lower_layer() {
        let root = crate::project_root();
        let problems = gahb_problems(&root).expect("read crates/gahb");
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
