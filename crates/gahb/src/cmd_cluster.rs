//! A profile on a cluster (issue 16): `gahb plan` lists its units, `gahb run --task I` runs one
//! (the index from the flag or `SLURM_ARRAY_TASK_ID`), `gahb slurm` writes the sbatch scripts of a
//! job array over the trainings, one over the analyses and a report job, each waiting for the one
//! before (and submits them with `--submit`), and `gahb compare` checks that two results folders
//! hold the same numbers (a cluster run against a single-process one).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::lab;
use crate::plan::{self, Kind};
use crate::runner::{self, RunArgs, Session};

/// `gahb plan`.
#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Also write the plan to this file (it is always printed).
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Prints the plan of a profile as JSON.
pub fn plan(args: &PlanArgs) -> Result<()> {
    let session = Session::open(&args.run, false)?;
    let (plan, _) = plan::build(&session, &args.run.only)?;
    let text = serde_json::to_string_pretty(&plan)?;
    if let Some(p) = &args.json {
        lab::io::write_atomic(p, text.as_bytes())?;
    }
    println!("{text}");
    eprintln!(
        "{}: {} training units (0-{}), {} analysis units, 1 report unit ({})",
        plan.profile,
        plan.trainings,
        plan.trainings.saturating_sub(1),
        plan.analyses,
        plan.range(Kind::Report).start
    );
    Ok(())
}

/// The unit index of `gahb run`: `--task`, else `SLURM_ARRAY_TASK_ID`.
pub fn task_index(task: Option<usize>) -> Result<Option<usize>> {
    if task.is_some() {
        return Ok(task);
    }
    match std::env::var("SLURM_ARRAY_TASK_ID") {
        Ok(v) => v.trim().parse().map(Some).map_err(|_| {
            anyhow::anyhow!("SLURM_ARRAY_TASK_ID = {v:?} is not a unit index (a whole number)")
        }),
        Err(_) => Ok(None),
    }
}

/// Runs unit `index` of the profile's plan alone, into the shared cache and results folder.
pub fn run_task(args: &RunArgs, index: usize) -> Result<()> {
    let t0 = Instant::now();
    // Trainings train; analyses and the report only load what the trainings cached.
    let mut session = Session::open(args, true)?;
    let (plan, jobs) = plan::build(&session, &args.only)?;
    let unit = plan.units.get(index).with_context(|| {
        format!(
            "--task {index} is out of range: profile `{}` has {} units (0-{}); `gahb plan --profile {}` lists them",
            plan.profile,
            plan.units.len(),
            plan.units.len() - 1,
            args.profile
        )
    })?;
    eprintln!(
        "unit {index} of {}: {} ({})",
        plan.units.len(),
        unit.id,
        unit.what
    );
    match unit.kind {
        Kind::Train => {
            session.lab.run.cached_only = false;
            let line = session.lab.run_job(&jobs[index])?;
            eprintln!("  {line}; {:.0} s", t0.elapsed().as_secs_f64());
        }
        Kind::Analysis => {
            let name = unit
                .experiment()
                .context("an analysis unit names its experiment")?;
            let (entry, table) = session
                .selected(&[name.to_string()])
                .into_iter()
                .next()
                .with_context(|| format!("{name} is not in profile `{}`", plan.profile))?;
            let record = session.run(entry, table)?;
            runner::say(&record);
            if let Some(e) = &record.failure {
                anyhow::bail!("{name}: {e}");
            }
        }
        Kind::Report => {
            session.write_profile()?;
            let records = plan
                .units
                .iter()
                .filter_map(|u| u.experiment())
                .map(|name| session.read_record(name))
                .collect::<Result<Vec<_>>>()?;
            let seconds = records
                .iter()
                .filter_map(|r| r.section.as_ref().map(|s| s.seconds))
                .sum();
            crate::report::render::write(&session.report(&records, seconds), &session.out)?;
            runner::finish(&session, &records)?;
        }
    }
    Ok(())
}

/// `gahb slurm`.
#[derive(clap::Args, Debug)]
pub struct SlurmArgs {
    #[command(flatten)]
    run: RunArgs,
    /// GPUs per task (`--gres=gpu:N`; 0: none).
    #[arg(long, default_value_t = 0)]
    gpus: usize,
    /// CPUs per task (`--cpus-per-task`; also the tasks' OMP_NUM_THREADS).
    #[arg(long, default_value_t = 1)]
    cpus_per_task: usize,
    /// Time limit per task (`--time`: minutes, or [D-]HH:MM:SS).
    #[arg(long, default_value = "04:00:00")]
    time: String,
    /// Partition (`--partition`).
    #[arg(long)]
    partition: Option<String>,
    /// Account (`--account`).
    #[arg(long)]
    account: Option<String>,
    /// Memory per task (`--mem`, e.g. 16G).
    #[arg(long)]
    mem: Option<String>,
    /// Folder of the scripts and the tasks' logs (default: `<out>/slurm`).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Submit the jobs with sbatch (else only write the scripts and `submit.sh`).
    #[arg(long)]
    submit: bool,
}

/// Quotes `s` for a POSIX shell.
fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-:=+@%,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(p).with_context(|| format!("resolving {}", p.display()))
}

/// The sbatch script of one job of the run.
struct Script {
    file: &'static str,
    name: String,
    array: Option<std::ops::Range<usize>>,
    task: String,
    gpus: usize,
    cpus: usize,
}

/// Writes the scripts (and submits them with `--submit`).
pub fn slurm(args: &SlurmArgs) -> Result<()> {
    anyhow::ensure!(
        args.cpus_per_task > 0,
        "--cpus-per-task must be at least 1, got 0"
    );
    anyhow::ensure!(
        !args.time.trim().is_empty()
            && args
                .time
                .chars()
                .all(|c| c.is_ascii_digit() || "-:".contains(c)),
        "--time {:?}: give minutes or [D-]HH:MM:SS, as sbatch takes it",
        args.time
    );
    let session = Session::open(&args.run, false)?;
    let (plan, _) = plan::build(&session, &args.run.only)?;
    let out = absolute(&session.out)?;
    let cache = absolute(&session.cache)?;
    let dir = args.dir.clone().unwrap_or_else(|| out.join("slurm"));
    lab::io::ensure_writable("--dir", &dir.join("logs"))?;
    let dir = absolute(&dir)?;
    let exe = std::env::current_exe().context("finding the gahb binary")?;
    let profile = if Path::new(&args.run.profile).is_file() {
        absolute(Path::new(&args.run.profile))?
            .display()
            .to_string()
    } else {
        args.run.profile.clone()
    };
    let mut common = vec![
        "--profile".to_string(),
        profile,
        "--out".into(),
        out.display().to_string(),
        "--cache".into(),
        cache.display().to_string(),
        "--device".into(),
        args.run.device.clone(),
        "--checkpoint-every".into(),
        args.run.checkpoint_every.to_string(),
    ];
    if let Some(c) = &args.run.celeba {
        common.extend(["--celeba".into(), absolute(c)?.display().to_string()]);
    }
    for o in &args.run.only {
        common.extend(["--only".into(), o.clone()]);
    }
    let common: Vec<String> = common.iter().map(|a| sh_quote(a)).collect();
    let scripts = [
        Script {
            file: "train.sbatch",
            name: format!("gahb-{}-train", plan.profile),
            array: Some(plan.range(Kind::Train)),
            task: "\"$SLURM_ARRAY_TASK_ID\"".into(),
            gpus: args.gpus,
            cpus: args.cpus_per_task,
        },
        Script {
            file: "analyse.sbatch",
            name: format!("gahb-{}-analyse", plan.profile),
            array: Some(plan.range(Kind::Analysis)),
            task: "\"$SLURM_ARRAY_TASK_ID\"".into(),
            gpus: args.gpus,
            cpus: args.cpus_per_task,
        },
        Script {
            file: "report.sbatch",
            name: format!("gahb-{}-report", plan.profile),
            array: None,
            task: plan.range(Kind::Report).start.to_string(),
            gpus: 0,
            cpus: 1,
        },
    ];
    let cwd = std::env::current_dir()?;
    for s in &scripts {
        let mut t = String::from("#!/bin/bash\n");
        t += &format!("#SBATCH --job-name={}\n", s.name);
        if let Some(r) = &s.array {
            if !r.is_empty() {
                t += &format!("#SBATCH --array={}-{}\n", r.start, r.end - 1);
            }
        }
        t += &format!("#SBATCH --cpus-per-task={}\n", s.cpus);
        t += &format!("#SBATCH --time={}\n", args.time);
        if s.gpus > 0 {
            t += &format!("#SBATCH --gres=gpu:{}\n", s.gpus);
        }
        for (flag, v) in [
            ("partition", &args.partition),
            ("account", &args.account),
            ("mem", &args.mem),
        ] {
            if let Some(v) = v {
                t += &format!("#SBATCH --{flag}={v}\n");
            }
        }
        let log = if s.array.is_some() {
            "%x-%A_%a.out"
        } else {
            "%x-%j.out"
        };
        t += &format!(
            "#SBATCH --output={}\n",
            dir.join("logs").join(log).display()
        );
        t += &format!("#SBATCH --chdir={}\n", cwd.display());
        t += &format!(
            "# Written by `gahb slurm` for profile `{}` (sha256 {:.12}): units {}; the plan is plan.json beside this script.\n",
            plan.profile,
            plan.profile_sha256,
            s.array.as_ref().map_or_else(|| s.task.clone(), |r| format!("{}-{}", r.start, r.end.saturating_sub(1)))
        );
        t += "set -euo pipefail\nexport OMP_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"\n";
        t += &format!(
            "exec {} run --task {} {}\n",
            sh_quote(&exe.display().to_string()),
            s.task,
            common.join(" ")
        );
        lab::io::write_atomic(&dir.join(s.file), t.as_bytes())?;
    }
    lab::io::write_atomic(
        &dir.join("plan.json"),
        serde_json::to_string_pretty(&plan)?.as_bytes(),
    )?;
    let has_train = plan.trainings > 0;
    let submit_sh = format!(
        "#!/bin/bash\n# Submits the run of profile `{}`: trainings, then analyses (after all trainings succeed), then the report (after the analyses, whatever their outcome).\nset -euo pipefail\ncd \"$(dirname \"$0\")\"\n{}analyse=$(sbatch --parsable {}analyse.sbatch)\nreport=$(sbatch --parsable --dependency=afterany:${{analyse%%;*}} report.sbatch)\necho \"{}analyse ${{analyse%%;*}}, report ${{report%%;*}}\"\n",
        plan.profile,
        if has_train { "train=$(sbatch --parsable train.sbatch)\n" } else { "" },
        if has_train { "--dependency=afterok:${train%%;*} --kill-on-invalid-dep=yes " } else { "" },
        if has_train { "train ${train%%;*}, " } else { "" },
    );
    let submit_path = dir.join("submit.sh");
    lab::io::write_atomic(&submit_path, submit_sh.as_bytes())?;
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&submit_path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", submit_path.display()))?;
    eprintln!(
        "wrote {}/{{train,analyse,report}}.sbatch and submit.sh: {} training tasks, {} analysis tasks, 1 report",
        dir.display(),
        plan.trainings,
        plan.analyses
    );
    if !args.submit {
        eprintln!("submit with: {}", submit_path.display());
        return Ok(());
    }
    let train = if has_train {
        Some(sbatch(&dir, &[], "train.sbatch")?)
    } else {
        None
    };
    let after_train = train
        .as_ref()
        .map(|id| {
            vec![
                format!("--dependency=afterok:{id}"),
                "--kill-on-invalid-dep=yes".into(),
            ]
        })
        .unwrap_or_default();
    let analyse = sbatch(&dir, &after_train, "analyse.sbatch")?;
    let report = sbatch(
        &dir,
        &[format!("--dependency=afterany:{analyse}")],
        "report.sbatch",
    )?;
    let ids = serde_json::json!({ "train": train, "analyse": analyse, "report": report });
    lab::io::write_json(&dir.join("submitted.json"), &ids)?;
    println!("{ids}");
    eprintln!(
        "submitted: train {}, analyse {analyse}, report {report}; the report will be {}",
        train.as_deref().unwrap_or("(none)"),
        out.join("REPORT.md").display()
    );
    Ok(())
}

/// Submits `script` in `dir` with `flags`; its job id.
fn sbatch(dir: &Path, flags: &[String], script: &str) -> Result<String> {
    let out = Command::new("sbatch")
        .arg("--parsable")
        .args(flags)
        .arg(script)
        .current_dir(dir)
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow::anyhow!(
                    "sbatch is not on PATH: run this on a Slurm login node, or copy {} there and run submit.sh",
                    dir.display()
                )
            } else {
                anyhow::anyhow!("running sbatch: {e}")
            }
        })?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    anyhow::ensure!(
        out.status.success(),
        "sbatch {script} failed ({}): {}",
        out.status,
        stderr.lines().next().unwrap_or("no message").trim()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let id = stdout.trim().split(';').next().unwrap_or("").to_string();
    anyhow::ensure!(
        !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()),
        "sbatch {script} printed no job id (stdout {:?})",
        stdout.trim()
    );
    Ok(id)
}

/// `gahb compare`.
#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// A results folder.
    a: PathBuf,
    /// Another results folder of the same profile.
    b: PathBuf,
}

/// Keys whose values may differ between two runs of the same profile: wall times (and the
/// sampler's overhead, a share of its wall time), whether a model was loaded or trained, and the
/// cache's repair notes.
fn volatile(key: &str) -> bool {
    matches!(key, "seconds" | "wall_s" | "overhead" | "cached" | "notes")
        || key.ends_with("_seconds")
}

/// Every path at which `a` and `b` differ, ignoring [`volatile`] keys.
fn differences(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                if volatile(k) {
                    continue;
                }
                match y.get(k) {
                    Some(w) => differences(&format!("{path}.{k}"), v, w, out),
                    None => out.push(format!("{path}.{k}: only in the first")),
                }
            }
            for k in y.keys() {
                if !volatile(k) && !x.contains_key(k) {
                    out.push(format!("{path}.{k}: only in the second"));
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                differences(&format!("{path}[{i}]"), v, w, out);
            }
        }
        _ if a == b => {}
        _ => {
            let short = |v: &Value| {
                let s = v.to_string();
                if s.len() > 60 {
                    format!(
                        "{}…",
                        &s[..s.char_indices().nth(60).map_or(s.len(), |c| c.0)]
                    )
                } else {
                    s
                }
            };
            out.push(format!("{path}: {} ≠ {}", short(a), short(b)));
        }
    }
}

fn read_json(p: &Path) -> Result<Value> {
    let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", p.display()))
}

/// Compares every experiment's `results.json` and checks in two results folders.
pub fn compare(args: &CompareArgs) -> Result<()> {
    let ra = read_json(&args.a.join("results.json"))?;
    let rb = read_json(&args.b.join("results.json"))?;
    let names = |r: &Value| -> Vec<String> {
        r.get("sections")
            .and_then(Value::as_array)
            .map(|s| {
                s.iter()
                    .filter_map(|x| x.get("name")?.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (na, nb) = (names(&ra), names(&rb));
    anyhow::ensure!(
        na == nb,
        "the reports hold different experiments: {na:?} and {nb:?}"
    );
    anyhow::ensure!(
        !na.is_empty(),
        "{}: the report has no section",
        args.a.display()
    );
    let mut diffs = Vec::new();
    for key in ["profile", "seed", "failures"] {
        differences(key, &ra[key], &rb[key], &mut diffs);
    }
    for (i, name) in na.iter().enumerate() {
        let (sa, sb) = (&ra["sections"][i], &rb["sections"][i]);
        // Tables render results.json's numbers, with wall times among them: not compared.
        for key in ["checks", "config"] {
            differences(&format!("{name}.{key}"), &sa[key], &sb[key], &mut diffs);
        }
        let file = |d: &Path| d.join(name).join("results.json");
        differences(
            &format!("{name}/results.json"),
            &read_json(&file(&args.a))?,
            &read_json(&file(&args.b))?,
            &mut diffs,
        );
    }
    if diffs.is_empty() {
        println!(
            "{} and {}: the same numbers in {} experiments ({})",
            args.a.display(),
            args.b.display(),
            na.len(),
            na.join(", ")
        );
        return Ok(());
    }
    for d in diffs.iter().take(20) {
        eprintln!("  {d}");
    }
    anyhow::bail!(
        "{} and {} differ at {} place(s), the first: {}",
        args.a.display(),
        args.b.display(),
        diffs.len(),
        diffs[0]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volatile_keys_are_ignored_and_numbers_are_not() {
        let a = serde_json::json!({"x": {"psnr": [1.0, 2.0], "seconds": 3.0, "cached": false}});
        let b = serde_json::json!({"x": {"psnr": [1.0, 2.5], "seconds": 9.0, "cached": true}});
        let mut d = Vec::new();
        differences("r", &a, &b, &mut d);
        assert_eq!(d, vec!["r.x.psnr[1]: 2.0 ≠ 2.5".to_string()]);
        let mut same = Vec::new();
        differences("r", &a, &a, &mut same);
        assert!(same.is_empty());
    }

    #[test]
    fn shell_quoting_keeps_plain_words_and_quotes_the_rest() {
        assert_eq!(sh_quote("/a/b-c_1.toml"), "/a/b-c_1.toml");
        assert_eq!(sh_quote("my dir/it's"), r"'my dir/it'\''s'");
        assert_eq!(sh_quote(""), "''");
    }
}
