//! A profile as independent units (issue 16), through the binary: `gahb plan` lists them, every
//! unit run alone by `gahb run --task` (as a Slurm array task would) into one cache gives the same
//! numbers as a single-process `reproduce` into another; the analyses train nothing (so the plan
//! lists every training); and the cluster commands' bad input gets one-line errors. The same run
//! under a real Slurm is `cargo xtask slurm-test`.

mod common;

use std::path::Path;

use common::{command, error_line, gahb, stderr};
use serde_json::Value;

fn plan(dir: &Path, cache: &Path, out: &Path) -> Value {
    let o = gahb(
        &[
            "plan",
            "--profile",
            "smoke",
            "--cache",
            &cache.display().to_string(),
            "--out",
            &out.display().to_string(),
        ],
        dir,
    );
    assert!(o.status.success(), "plan: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).expect("the plan is JSON")
}

fn task(i: usize, dir: &Path, cache: &Path, out: &Path) -> std::process::Output {
    command(
        &[
            "run",
            "--task",
            &i.to_string(),
            "--profile",
            "smoke",
            "--cache",
            &cache.display().to_string(),
            "--out",
            &out.display().to_string(),
        ],
        dir,
    )
    .env("OMP_NUM_THREADS", "1")
    .output()
    .expect("gahb runs")
}

#[test]
fn every_unit_run_alone_gives_the_single_process_report() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let (cache, out) = (d.join("cache"), d.join("units"));
    let p = plan(d, &cache, &out);
    let units = p["units"].as_array().expect("units");
    let trainings = p["trainings"].as_u64().expect("trainings") as usize;
    let analyses = p["analyses"].as_u64().expect("analyses") as usize;
    assert_eq!(units.len(), trainings + analyses + 1);
    assert!(trainings > 10 && analyses > 5, "{trainings} {analyses}");
    let ids: Vec<&str> = units
        .iter()
        .map(|u| u["id"].as_str().expect("id"))
        .collect();
    for (i, u) in units.iter().enumerate() {
        assert_eq!(u["index"].as_u64(), Some(i as u64));
        let kind = u["kind"].as_str().expect("kind");
        let want = if i < trainings {
            "train"
        } else if i < trainings + analyses {
            "analysis"
        } else {
            "report"
        };
        assert_eq!(kind, want, "unit {i}");
        for dep in u["deps"].as_array().expect("deps") {
            let j = ids.iter().position(|x| Some(*x) == dep.as_str());
            assert!(
                j.is_some_and(|j| j < i),
                "unit {i}: dependency {dep} is not before it"
            );
        }
        if kind == "train" {
            assert!(u["cost"]["gflop"].as_f64().expect("gflop") > 0.0);
            assert_eq!(u["cached"].as_bool(), Some(false), "a fresh cache");
        }
    }
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "ids are unique");

    // An analysis before its trainings refuses to train: the plan must list them all.
    let early = task(trainings, d, &cache, &out);
    let line = error_line(&early);
    assert!(line.contains("not in the cache"), "{line}");

    for (i, id) in ids.iter().enumerate() {
        let o = task(i, d, &cache, &out);
        assert!(o.status.success(), "unit {i} ({id}): {}", stderr(&o));
    }
    // A second plan of the same cache finds every training done, with its measured time, and
    // estimates nothing it has measured.
    let again = plan(d, &cache, &out);
    assert_eq!(again["units"].as_array().map(Vec::len), Some(units.len()));
    for u in &again["units"].as_array().expect("units")[..trainings] {
        assert_eq!(u["cached"].as_bool(), Some(true), "{u}");
    }
    assert_eq!(
        again["units"][0]["id"], p["units"][0]["id"],
        "ids are stable"
    );

    let single = d.join("single");
    let o = command(
        &[
            "reproduce",
            "--profile",
            "smoke",
            "--cache",
            &d.join("cache-single").display().to_string(),
            "--out",
            &single.display().to_string(),
        ],
        d,
    )
    .env("OMP_NUM_THREADS", "1")
    .output()
    .expect("gahb runs");
    assert!(o.status.success(), "reproduce: {}", stderr(&o));
    let cmp = gahb(
        &[
            "compare",
            &out.display().to_string(),
            &single.display().to_string(),
        ],
        d,
    );
    assert!(cmp.status.success(), "compare: {}", stderr(&cmp));

    // compare can fail: a changed number is found.
    let file = single.join("fig4").join("results.json");
    let text = std::fs::read_to_string(&file).expect("fig4 results");
    let mut v: Value = serde_json::from_str(&text).expect("json");
    let slot = v
        .pointer_mut("/per_alpha/0/fit/slope")
        .expect("fig4 results have per_alpha[0].fit.slope");
    *slot = Value::from(slot.as_f64().expect("a number") + 1e-9);
    std::fs::write(&file, serde_json::to_vec(&v).expect("json")).expect("write");
    let line = error_line(&gahb(
        &[
            "compare",
            &out.display().to_string(),
            &single.display().to_string(),
        ],
        d,
    ));
    assert!(line.contains("per_alpha[0].fit.slope"), "{line}");

    // The report unit refuses a record made under another profile.
    let record = out.join("fig6").join("section.json");
    let text = std::fs::read_to_string(&record).expect("record");
    let mut v: Value = serde_json::from_str(&text).expect("json");
    v["profile_sha256"] = Value::from("0".repeat(64));
    std::fs::write(&record, serde_json::to_vec(&v).expect("json")).expect("write");
    let line = error_line(&task(units.len() - 1, d, &cache, &out));
    assert!(
        line.contains("another version of profile") && line.contains("fig6"),
        "{line}"
    );
}

#[test]
fn bad_cluster_input_gets_one_line_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let s = |p: &Path| p.display().to_string();
    let (cache, out) = (d.join("cache"), d.join("out"));

    let line = error_line(&task(9999, d, &cache, &out));
    assert!(
        line.contains("--task 9999") && line.contains("out of range") && line.contains("units"),
        "{line}"
    );
    let o = command(&["run", "--profile", "smoke", "--cache", &s(&cache)], d)
        .env("SLURM_ARRAY_TASK_ID", "x1")
        .output()
        .expect("runs");
    let line = error_line(&o);
    assert!(line.contains("SLURM_ARRAY_TASK_ID"), "{line}");

    let file = d.join("a-file");
    std::fs::write(&file, b"x").expect("write");
    let line = error_line(&gahb(
        &["plan", "--profile", "smoke", "--cache", &s(&file)],
        d,
    ));
    assert!(
        line.contains("--cache") && line.contains("a-file"),
        "{line}"
    );

    // The scripts: an array over the trainings with the GPU and CPU flags, then the analyses.
    let o = gahb(
        &[
            "slurm",
            "--profile",
            "smoke",
            "--cache",
            &s(&cache),
            "--out",
            &s(&out),
            "--gpus",
            "2",
            "--cpus-per-task",
            "4",
            "--time",
            "30",
        ],
        d,
    );
    assert!(o.status.success(), "slurm: {}", stderr(&o));
    let p = plan(d, &cache, &out);
    let trainings = p["trainings"].as_u64().expect("n") as usize;
    let analyses = p["analyses"].as_u64().expect("n") as usize;
    let train = std::fs::read_to_string(out.join("slurm/train.sbatch")).expect("train.sbatch");
    assert!(
        train.contains(&format!("#SBATCH --array=0-{}\n", trainings - 1)),
        "{train}"
    );
    assert!(train.contains("#SBATCH --gres=gpu:2\n") && train.contains("--cpus-per-task=4\n"));
    assert!(
        train.contains("#SBATCH --time=30\n") && train.contains("--task \"$SLURM_ARRAY_TASK_ID\"")
    );
    let analyse = std::fs::read_to_string(out.join("slurm/analyse.sbatch")).expect("analyse");
    assert!(
        analyse.contains(&format!(
            "#SBATCH --array={trainings}-{}\n",
            trainings + analyses - 1
        )),
        "{analyse}"
    );
    let report = std::fs::read_to_string(out.join("slurm/report.sbatch")).expect("report");
    assert!(
        report.contains(&format!("--task {}", trainings + analyses)),
        "{report}"
    );
    assert!(!report.contains("--gres"), "the report needs no GPU");

    // sbatch missing, and sbatch failing: one line each, naming it.
    let empty = d.join("empty-path");
    std::fs::create_dir_all(&empty).expect("dir");
    let submit = |path: &Path| {
        command(
            &[
                "slurm",
                "--profile",
                "smoke",
                "--cache",
                &s(&cache),
                "--out",
                &s(&out),
                "--submit",
            ],
            d,
        )
        .env("PATH", path)
        .output()
        .expect("runs")
    };
    let line = error_line(&submit(&empty));
    assert!(line.contains("sbatch is not on PATH"), "{line}");
    let failing = d.join("failing-path");
    std::fs::create_dir_all(&failing).expect("dir");
    let fake = failing.join("sbatch");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'sbatch: error: Batch job submission failed: Invalid partition name specified' >&2\nexit 1\n",
    )
    .expect("write");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let line = error_line(&submit(&failing));
    assert!(
        line.contains("sbatch train.sbatch failed") && line.contains("Invalid partition"),
        "{line}"
    );
    let line = error_line(&gahb(
        &[
            "slurm",
            "--profile",
            "smoke",
            "--cache",
            &s(&cache),
            "--time",
            "soon",
        ],
        d,
    ));
    assert!(line.contains("--time"), "{line}");
}
