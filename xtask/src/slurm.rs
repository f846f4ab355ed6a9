//! `cargo xtask slurm-test`: the smoke profile under a real Slurm (issue 16), no scheduler of ours
//! and no mock. It installs `slurm-wlm` and `munge` from Debian when they are missing (as root;
//! `cargo xtask setup --slurm` does the same), starts munged (unless one answers already),
//! slurmctld and slurmd on this host from a generated `slurm.conf` (this hostname, its CPUs, state,
//! spool, pids and logs under a temporary folder), leaves a lock of a dead Slurm job on the first
//! training's key, submits the smoke profile with `gahb slurm --submit`, waits for its report job,
//! checks that the dead job's lock was taken over, and that `gahb compare` finds the report's
//! numbers equal to a single-process `gahb reproduce` of the same profile; then it stops the
//! daemons it started, by pid.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::{cargo, project_root, step};

/// Options of `cargo xtask slurm-test`.
#[derive(clap::Args, Debug)]
pub struct SlurmTestCmd {
    /// Keep the temporary folder (configuration, logs, results) for inspection.
    #[arg(long)]
    keep: bool,
    /// Give up waiting for the jobs after this many seconds.
    #[arg(long, default_value_t = 1200)]
    timeout: u64,
}

impl Default for SlurmTestCmd {
    fn default() -> Self {
        Self {
            keep: false,
            timeout: 1200,
        }
    }
}

fn is_root(sh: &Shell) -> bool {
    cmd!(sh, "id -u")
        .quiet()
        .read()
        .map(|u| u.trim() == "0")
        .unwrap_or(false)
}

fn have(sh: &Shell, prog: &str) -> bool {
    let probe = format!("command -v {prog}");
    cmd!(sh, "sh -c {probe}")
        .quiet()
        .ignore_stdout()
        .run()
        .is_ok()
}

/// Whether Slurm's daemons and clients are installed (or can be: root and apt-get).
pub fn available(sh: &Shell) -> bool {
    have(sh, "slurmctld") || (is_root(sh) && have(sh, "apt-get"))
}

/// Installs slurm-wlm and munge from Debian when slurmctld is missing.
pub fn ensure_slurm(sh: &Shell) -> Result<()> {
    if have(sh, "slurmctld") && have(sh, "munged") && have(sh, "sbatch") {
        return Ok(());
    }
    if !is_root(sh) {
        bail!("Slurm is not installed and this is not root: install slurm-wlm and munge (apt-get install slurm-wlm munge) or run as root");
    }
    step("installing slurm-wlm and munge (Debian)");
    cmd!(sh, "apt-get update -qq")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .run()
        .context("apt-get update failed")?;
    cmd!(sh, "apt-get install -y -qq slurm-wlm munge")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .run()
        .context("could not install slurm-wlm and munge")?;
    Ok(())
}

/// The daemons this test started, stopped on drop by their pids.
struct Daemons {
    pid_files: Vec<PathBuf>,
}

impl Drop for Daemons {
    fn drop(&mut self) {
        for f in self.pid_files.iter().rev() {
            let Some(pid) = std::fs::read_to_string(f)
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
            else {
                continue;
            };
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
            let t0 = Instant::now();
            while Path::new(&format!("/proc/{pid}")).exists() && t0.elapsed().as_secs() < 10 {
                std::thread::sleep(Duration::from_millis(100));
            }
            eprintln!("stopped pid {pid} ({})", f.display());
        }
    }
}

fn munge_answers(sh: &Shell) -> bool {
    cmd!(sh, "sh -c 'munge -n | unmunge'")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_ok()
}

/// Starts munged as user munge unless one answers; the pid file when this started it.
fn start_munge(sh: &Shell) -> Result<Option<PathBuf>> {
    if munge_answers(sh) {
        eprintln!("munged answers already: using it");
        return Ok(None);
    }
    for d in ["/run/munge", "/var/log/munge", "/var/lib/munge"] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {d}"))?;
        cmd!(sh, "chown munge:munge {d}").run()?;
    }
    cmd!(sh, "chmod 0755 /run/munge").run()?;
    cmd!(sh, "su -s /bin/sh munge -c /usr/sbin/munged")
        .run()
        .context("starting munged")?;
    let t0 = Instant::now();
    while !munge_answers(sh) {
        if t0.elapsed().as_secs() > 10 {
            bail!("munged started but `munge -n | unmunge` does not succeed");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(Some(PathBuf::from("/run/munge/munged.pid")))
}

fn slurm_conf(tmp: &Path, host: &str, cpus: usize, mem_mb: u64) -> String {
    let p = |name: &str| tmp.join(name).display().to_string();
    format!(
        "# Written by cargo xtask slurm-test: a one-node Slurm on {host}.
ClusterName=gahb-test
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
MinJobAge=3600
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
StateSaveLocation={state}
SlurmdSpoolDir={spool}
SlurmctldPidFile={ctld_pid}
SlurmdPidFile={d_pid}
SlurmctldLogFile={ctld_log}
SlurmdLogFile={d_log}
NodeName={host} CPUs={cpus} RealMemory={mem_mb} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
",
        state = p("state"),
        spool = p("spool"),
        ctld_pid = p("slurmctld.pid"),
        d_pid = p("slurmd.pid"),
        ctld_log = p("slurmctld.log"),
        d_log = p("slurmd.log"),
    )
}

fn mem_total_mb() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(1024, |kb| kb / 1024)
}

/// The value of `"name":"digits"` in a line of JSON.
fn json_field(text: &str, name: &str) -> Option<String> {
    let at = text.find(&format!("\"{name}\""))?;
    let rest = &text[at + name.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl SlurmTestCmd {
    pub fn run(self, sh: &Shell) -> Result<()> {
        let started = Instant::now();
        ensure_slurm(sh)?;
        if !is_root(sh) {
            bail!("slurm-test starts slurmctld and slurmd with SlurmUser=root: run it as root");
        }
        step("cargo build -p gahb");
        let cargo = cargo();
        // The test suite's features, so that the binary the tests built is reused.
        let features = crate::ci::test_features(sh);
        cmd!(sh, "{cargo} build -q -p gahb {features...}").run()?;
        let gahb = project_root().join("target/debug/gahb");
        let tmp = std::env::temp_dir().join(format!("gahb-slurm-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        for d in ["state", "spool"] {
            std::fs::create_dir_all(tmp.join(d))?;
        }
        let host = cmd!(sh, "hostname -s").read()?.trim().to_string();
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let conf = tmp.join("slurm.conf");
        std::fs::write(&conf, slurm_conf(&tmp, &host, cpus, mem_total_mb() / 2))?;
        let result = self.run_in(sh, &tmp, &conf, &gahb);
        if result.is_err() || self.keep {
            eprintln!("kept {} (slurm.conf, daemon logs, results)", tmp.display());
        } else {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result?;
        eprintln!(
            "\ncargo xtask slurm-test: done in {:.0} s",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    fn run_in(&self, sh: &Shell, tmp: &Path, conf: &Path, gahb: &Path) -> Result<()> {
        step("starting munged, slurmctld and slurmd");
        let mut daemons = Daemons {
            pid_files: Vec::new(),
        };
        if let Some(p) = start_munge(sh)? {
            daemons.pid_files.push(p);
        }
        let _conf = sh.push_env("SLURM_CONF", conf);
        cmd!(sh, "slurmctld -f {conf}")
            .run()
            .context("starting slurmctld")?;
        daemons.pid_files.push(tmp.join("slurmctld.pid"));
        cmd!(sh, "slurmd -f {conf}")
            .run()
            .context("starting slurmd")?;
        daemons.pid_files.push(tmp.join("slurmd.pid"));
        let t0 = Instant::now();
        loop {
            let state = cmd!(sh, "sinfo -h -o %T")
                .quiet()
                .ignore_stderr()
                .read()
                .unwrap_or_default();
            if state.trim() == "idle" {
                break;
            }
            if t0.elapsed().as_secs() > 60 {
                bail!(
                    "the node is not idle after 60 s (sinfo: {:?}); slurmctld.log:\n{}\nslurmd.log:\n{}",
                    state.trim(),
                    tail(&tmp.join("slurmctld.log"), 20),
                    tail(&tmp.join("slurmd.log"), 20)
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        eprintln!("node idle after {:.1} s", t0.elapsed().as_secs_f64());

        let (out, cache) = (tmp.join("slurm-out"), tmp.join("slurm-cache"));
        let (out_s, cache_s) = (out.display().to_string(), cache.display().to_string());
        let common = ["--profile", "smoke", "--out", &out_s, "--cache", &cache_s];

        // A lock on the first training's key held by a Slurm job on another host that is no
        // longer queued: the array task must take it over at once, by asking squeue.
        let plan = cmd!(sh, "{gahb} plan {common...}")
            .quiet()
            .ignore_stderr()
            .read()?;
        let key = json_field(&plan, "key").context("the plan names no training key")?;
        let models = cache.join("models");
        std::fs::create_dir_all(&models)?;
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        std::fs::write(
            models.join(format!("{key}.lock")),
            format!(
                r#"{{"pid":4194305,"host":"a-node-that-is-gone","job_id":"424242_0","what":"a killed array task","since_unix":{since}}}"#
            ),
        )?;

        step("gahb slurm --submit (smoke profile)");
        let submitted = cmd!(
            sh,
            "{gahb} slurm {common...} --cpus-per-task 1 --time 30 --submit"
        )
        .read()?;
        let report =
            json_field(&submitted, "report").context("gahb slurm printed no report job id")?;
        eprintln!("submitted: {submitted}");
        let t0 = Instant::now();
        let mut said = Instant::now();
        let state = loop {
            let info = cmd!(sh, "scontrol -o show job {report}").quiet().read()?;
            let state = info
                .split_whitespace()
                .find_map(|w| w.strip_prefix("JobState="))
                .unwrap_or("?")
                .to_string();
            if !matches!(
                state.as_str(),
                "PENDING" | "RUNNING" | "CONFIGURING" | "COMPLETING"
            ) {
                break state;
            }
            if t0.elapsed().as_secs() > self.timeout {
                bail!(
                    "the report job {report} is still {state} after {} s",
                    self.timeout
                );
            }
            if said.elapsed().as_secs() >= 30 {
                let queue = cmd!(sh, "squeue -h -o %i:%T")
                    .quiet()
                    .read()
                    .unwrap_or_default();
                eprintln!(
                    "  {:.0} s: {} job(s) queued or running",
                    t0.elapsed().as_secs_f64(),
                    queue.lines().count()
                );
                said = Instant::now();
            }
            std::thread::sleep(Duration::from_secs(2));
        };
        let logs = out.join("slurm").join("logs");
        if state != "COMPLETED" {
            let mut text = String::new();
            for e in std::fs::read_dir(&logs).into_iter().flatten().flatten() {
                text += &format!("--- {}\n{}\n", e.path().display(), tail(&e.path(), 8));
            }
            bail!("the report job {report} ended {state}; task logs:\n{text}");
        }
        eprintln!(
            "the Slurm run finished in {:.0} s",
            t0.elapsed().as_secs_f64()
        );
        let took_over = std::fs::read_dir(&logs)?.flatten().any(|e| {
            std::fs::read_to_string(e.path())
                .is_ok_and(|t| t.contains("424242_0") && t.contains("no longer in the Slurm queue"))
        });
        if !took_over {
            bail!("no task log says that the dead job's lock (Slurm job 424242_0) was taken over because it is no longer queued");
        }
        drop(daemons);

        step("gahb reproduce --profile smoke in one process, then gahb compare");
        let single = tmp.join("single-out");
        let single_cache = tmp.join("single-cache");
        cmd!(
            sh,
            "{gahb} reproduce --profile smoke --out {single} --cache {single_cache}"
        )
        .env("OMP_NUM_THREADS", "1")
        .run()?;
        cmd!(sh, "{gahb} compare {out} {single}").run()?;
        Ok(())
    }
}
