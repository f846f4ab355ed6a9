//! Runs the bad-input corpus of `tests/bad_inputs/` (issue 13): every case must end in a clean
//! error, that is an `Err` (a panic or a silent `Ok` fails the test) whose message is one line, names
//! the file or field, contains the case's expected text, and leaves the case's folder unchanged.
//! Prints `corpus: N cases, N clean errors, 0 panics, 0 silent results`; with `GAHB_CORPUS_VERBOSE=1`
//! also every case's message.

mod bad_inputs;

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};

/// Every path under `dir` (not following links) with its length and modification time.
fn snapshot(dir: &Path) -> Result<BTreeMap<PathBuf, (u64, Option<SystemTime>)>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let e = e?;
            let meta = std::fs::symlink_metadata(e.path())?;
            if meta.is_dir() {
                todo.push(e.path());
            }
            out.insert(e.path(), (meta.len(), meta.modified().ok()));
        }
    }
    Ok(out)
}

/// What went wrong with one case, if anything.
enum Verdict {
    Clean,
    Panic(String),
    Silent,
    Bad(String),
}

fn run(case: &bad_inputs::Case, root: &Path) -> Result<Verdict> {
    let dir = case.dir(root);
    case.write(&dir)
        .with_context(|| format!("writing case {}", case.name))?;
    let before = snapshot(&dir)?;
    let target = dir.join(&case.target);
    let outcome = catch_unwind(AssertUnwindSafe(|| (case.read)(&target)));
    let after = snapshot(&dir)?;
    let verdict = match outcome {
        Err(p) => Verdict::Panic(
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default(),
        ),
        Ok(Ok(())) => Verdict::Silent,
        Ok(Err(e)) => {
            let msg = e.to_string();
            if std::env::var("GAHB_CORPUS_VERBOSE").as_deref() == Ok("1") {
                println!("{}: {msg}", case.name);
            }
            let mut problems = Vec::new();
            if msg.contains('\n') {
                problems.push("message is not one line");
            }
            if msg.ends_with('.') {
                problems.push("message ends with a period");
            }
            if !msg.contains(&case.names) {
                problems.push("message does not name the file or field");
            }
            if !msg.contains(&case.expect) {
                problems.push("message lacks the expected text");
            }
            if before != after {
                problems.push("the case's folder changed");
            }
            if problems.is_empty() {
                Verdict::Clean
            } else {
                Verdict::Bad(format!(
                    "{}: {msg:?} (names {:?}, expect {:?})",
                    problems.join(", "),
                    case.names,
                    case.expect
                ))
            }
        }
    };
    Ok(verdict)
}

#[test]
fn every_bad_input_is_a_clean_error() -> Result<()> {
    let cases = bad_inputs::all();
    let mut names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names must be unique");

    if let Ok(out) = std::env::var("GAHB_WRITE_BAD_INPUTS") {
        for c in &cases {
            c.write(&c.dir(Path::new(&out)))?;
        }
    }

    let root = tempfile::tempdir()?;
    let (mut clean, mut panics, mut silent) = (0, 0, 0);
    let mut failures = Vec::new();
    for case in &cases {
        match run(case, root.path())? {
            Verdict::Clean => clean += 1,
            Verdict::Panic(m) => {
                panics += 1;
                failures.push(format!("{}: panicked: {m}", case.name));
            }
            Verdict::Silent => {
                silent += 1;
                failures.push(format!("{}: returned Ok", case.name));
            }
            Verdict::Bad(m) => failures.push(format!("{}: {m}", case.name)),
        }
    }
    println!(
        "corpus: {} cases, {clean} clean errors, {panics} panics, {silent} silent results",
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    let per_format = |prefix: &str| cases.iter().filter(|c| c.name.starts_with(prefix)).count();
    assert!(
        per_format("idx/") >= 15
            && per_format("pgm") >= 15
            && per_format("npy/") >= 15
            && per_format("folder/") >= 10,
        "the corpus must cover every reader"
    );
    Ok(())
}
