//! Crash safety and cache integrity of the `gahb` binary (issue 13), end to end on the smoke
//! profile's slice experiment (one 30-step model):
//! - a process killed at each step of a checkpoint commit (`GAHB_FAULT_AT`, gahb-denoiser
//!   `fault`), of a dataset's cache write or of a report write resumes, on the next run, to the same numbers as an
//!   uninterrupted run, and leaves no temporary behind;
//! - a corrupted, torn or foreign cached model is refused, rebuilt and named in the report;
//! - two runs on one cache train each model once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn gahb_cmd(dir: &Path, out: &str, cache: &str, fault: Option<&str>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gahb"));
    c.args([
        "run",
        "slice",
        "--profile",
        "smoke",
        "--out",
        out,
        "--cache",
        cache,
        "--checkpoint-every",
        "10",
    ])
    .current_dir(dir)
    .env_remove("RUST_BACKTRACE")
    .env_remove("GAHB_FAULT_AT");
    if let Some(f) = fault {
        c.env("GAHB_FAULT_AT", f);
    }
    c
}

fn run(dir: &Path, out: &str, cache: &str, fault: Option<&str>) -> Output {
    gahb_cmd(dir, out, cache, fault)
        .output()
        .expect("the gahb binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) -> String {
    let e = stderr(o);
    assert!(o.status.success(), "the run failed: {e}");
    e
}

/// The slice section's checks and CSV tables: what a rerun must reproduce exactly.
fn numbers(dir: &Path, out: &str) -> BTreeMap<String, String> {
    let root = dir.join(out);
    let mut m = BTreeMap::new();
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("results.json")).expect("results.json"))
            .expect("json");
    for s in results["sections"].as_array().expect("sections") {
        for c in s["checks"].as_array().expect("checks") {
            m.insert(
                format!("check {}", c["claim"]),
                format!("{} {}", c["ours"], c["pass"]),
            );
        }
    }
    for e in std::fs::read_dir(root.join("slice")).expect("slice folder") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "csv") {
            m.insert(
                p.file_name().expect("name").to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).expect("csv"),
            );
        }
    }
    assert!(m.len() > 2, "too little to compare: {m:?}");
    m
}

/// Every file under `dir`, relative.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(
                    p.strip_prefix(dir)
                        .expect("under")
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out.sort();
    out
}

fn leftovers(dir: &Path) -> Vec<String> {
    files(dir)
        .into_iter()
        .filter(|f| f.contains(".tmp") || f.ends_with(".prev") || f.ends_with(".lock"))
        .collect()
}

fn model_files(dir: &Path, cache: &str) -> Vec<PathBuf> {
    let models = dir.join(cache).join("models");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&models)
        .expect("models")
        .map(|e| e.expect("entry").path())
        .collect();
    v.sort();
    v
}

fn weights(dir: &Path, cache: &str) -> PathBuf {
    model_files(dir, cache)
        .into_iter()
        .find(|p| {
            let n = p.to_string_lossy();
            n.ends_with(".safetensors") && !n.ends_with(".optim.safetensors")
        })
        .expect("a cached model")
}

#[test]
fn a_kill_at_each_step_of_a_checkpoint_commit_resumes_to_the_same_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    ok(&run(d, "ref", "cref", None));
    let reference = numbers(d, "ref");
    // The prepared dataset's cache file before its rename; the second commit (step 20): after its
    // parts are written, after its first part (of two) is renamed, after its sidecar is renamed;
    // then a report write.
    for (i, fault) in [
        "data:before-rename",
        "commit:parts-written@2",
        "commit:part-renamed@3",
        "commit:sidecar-renamed@2",
        "write:before-rename@2",
    ]
    .iter()
    .enumerate()
    {
        let (out, cache) = (format!("r{i}"), format!("c{i}"));
        let killed = run(d, &out, &cache, Some(fault));
        assert!(
            !killed.status.success() && stderr(&killed).contains("aborting at"),
            "{fault}: expected the injected abort: {}",
            stderr(&killed)
        );
        let again = ok(&run(d, &out, &cache, None));
        assert_eq!(numbers(d, &out), reference, "{fault}: {again}");
        assert_eq!(leftovers(&d.join(&cache)), Vec::<String>::new(), "{fault}");
        assert_eq!(leftovers(&d.join(&out)), Vec::<String>::new(), "{fault}");
        if *fault == "commit:part-renamed@3" {
            assert!(
                again.contains("previous good checkpoint (step 10)"),
                "{fault}: the torn save should be named: {again}"
            );
        }
    }
}

#[test]
fn a_corrupted_or_foreign_cached_model_is_rebuilt_and_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    ok(&run(d, "ref", "c", None));
    let reference = numbers(d, "ref");
    let w = weights(d, "c");
    let key = w.file_stem().expect("stem").to_string_lossy().into_owned();
    let flip = |p: &Path| {
        let mut b = std::fs::read(p).expect("read");
        let i = b.len() - 3;
        b[i] ^= 0x40;
        std::fs::write(p, b).expect("write");
    };
    let side = w.with_extension("json");
    let optim = w.with_extension("optim.safetensors");
    type Damage<'a> = (&'a str, Box<dyn Fn() + 'a>);
    let cases: Vec<Damage> = vec![
        ("a flipped weight byte", Box::new(|| flip(&w))),
        ("a flipped optimizer byte", Box::new(|| flip(&optim))),
        (
            "an edited sidecar",
            Box::new(|| {
                let t = std::fs::read_to_string(&side).expect("sidecar");
                std::fs::write(&side, t.replacen("\"step\": 30", "\"step\": 31", 1))
                    .expect("write");
            }),
        ),
        (
            "a missing optimizer file",
            Box::new(|| std::fs::remove_file(&optim).expect("rm")),
        ),
        (
            "an empty weights file",
            Box::new(|| std::fs::write(&w, b"").expect("write")),
        ),
    ];
    for (what, damage) in &cases {
        damage();
        let e = ok(&run(d, "r", "c", None));
        assert!(
            e.contains("refused") && e.contains(&key[..12]),
            "{what}: the refusal should be said: {e}"
        );
        assert!(e.contains("training on"), "{what}: not retrained: {e}");
        let report = std::fs::read_to_string(d.join("r/REPORT.md")).expect("report");
        assert!(
            report.contains("Cache repairs") && report.contains("refused"),
            "{what}: the report should say so"
        );
        assert_eq!(numbers(d, "r"), reference, "{what}");
        // The rebuilt model is used as it is on the next run.
        let e = ok(&run(d, "r", "c", None));
        assert!(
            e.contains("cached") && !e.contains("refused"),
            "{what}: {e}"
        );
    }
    // Another model's sealed checkpoint under this key (from a profile with another seed).
    let other = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/smoke.toml"),
    )
    .expect("smoke")
    .replacen("seed = ", "seed = 1", 1);
    std::fs::write(d.join("other.toml"), other).expect("write");
    let o = Command::new(env!("CARGO_BIN_EXE_gahb"))
        .args([
            "run",
            "slice",
            "--profile",
            "other.toml",
            "--out",
            "o",
            "--cache",
            "c2",
        ])
        .current_dir(d)
        .output()
        .expect("runs");
    ok(&o);
    let ow = weights(d, "c2");
    for (from, to) in [
        (ow.clone(), w.clone()),
        (ow.with_extension("json"), side.clone()),
        (ow.with_extension("optim.safetensors"), optim.clone()),
    ] {
        std::fs::copy(from, to).expect("copy");
    }
    let e = ok(&run(d, "r", "c", None));
    assert!(
        e.contains("refused") && e.contains(&key[..12]),
        "a foreign model should be refused: {e}"
    );
    assert_eq!(numbers(d, "r"), reference);
}

#[test]
fn stale_temporaries_and_locks_of_a_killed_run_are_cleared() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    ok(&run(d, "ref", "c", None));
    let w = weights(d, "c");
    let key = w.file_stem().expect("stem").to_string_lossy().into_owned();
    let models = w.parent().expect("models").to_path_buf();
    // A killed writer's temporaries (this code's and the older form) and its lock (a pid above
    // the kernel's maximum is never running).
    std::fs::write(
        models.join(format!(".{key}.safetensors.somehost-77.tmp.safetensors")),
        vec![0u8; 4096],
    )
    .expect("tmp");
    std::fs::write(models.join(format!("{key}.json.tmp4194305")), b"{").expect("tmp");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    std::fs::write(
        models.join(format!("{key}.lock")),
        format!(
            r#"{{"pid":4194305,"host":"{host}","job_id":null,"what":"killed","since_unix":0}}"#
        ),
    )
    .expect("lock");
    let e = ok(&run(d, "r", "c", None));
    assert!(e.contains("stale lock"), "{e}");
    assert!(e.contains("temporary file(s)"), "{e}");
    assert_eq!(leftovers(&d.join("c")), Vec::<String>::new());
}

#[test]
fn two_runs_on_one_cache_train_each_model_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let a = gahb_cmd(d, "a", "c", None)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn a");
    let b = gahb_cmd(d, "b", "c", None)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn b");
    let (a, b) = (
        a.wait_with_output().expect("a"),
        b.wait_with_output().expect("b"),
    );
    let (ea, eb) = (ok(&a), ok(&b));
    let trained = |e: &str| e.matches("training on").count();
    assert_eq!(
        trained(&ea) + trained(&eb),
        1,
        "the slice model should be trained once:\n{ea}\n---\n{eb}"
    );
    assert_eq!(numbers(d, "a"), numbers(d, "b"));
    assert_eq!(leftovers(&d.join("c")), Vec::<String>::new());
}
