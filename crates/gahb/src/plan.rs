//! A profile as independent units of work (issue 16), for `gahb plan`, `gahb run --task` and
//! `gahb slurm`: every training (one per cache key, however many experiments use it), then one
//! analysis per experiment (which trains nothing: it loads its models from the cache), then the
//! report (which assembles the analyses' records). Units are numbered in that order, so a job array
//! over the trainings is `0..trainings` and one over the analyses follows it.
//!
//! Ids are stable: a training's is its content-addressed cache key, an analysis's its
//! experiment's name.

use std::collections::HashMap;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::lab::job::{Cost, Job};
use crate::runner::{record_path, Session};

/// What a unit does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Trains one model or classifier into the cache.
    Train,
    /// Runs one experiment on cached models and writes its record.
    Analysis,
    /// Assembles the records into the report.
    Report,
}

/// One unit.
#[derive(Debug, Clone, Serialize)]
pub struct Unit {
    /// Its index: `gahb run --task <index>`, `SLURM_ARRAY_TASK_ID`.
    pub index: usize,
    /// Its stable id.
    pub id: String,
    /// What it does.
    pub kind: Kind,
    /// In words.
    pub what: String,
    /// The cache key of a training.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The ids of the units it needs.
    pub deps: Vec<String>,
    /// The experiments that use a training.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub used_by: Vec<String>,
    /// A training's cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
    /// Whether a training is in the cache already (its unit then only verifies and loads it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached: Option<bool>,
    /// Seconds it took when it last ran: a cached training's from its checkpoint, an analysis's
    /// from its record in the results folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// A training's seconds estimated from its GFLOP and the throughput of this plan's cached
    /// trainings (none when nothing is cached yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimate_seconds: Option<f64>,
}

/// A profile's units.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The profile.
    pub profile: String,
    /// SHA-256 of its text.
    pub profile_sha256: String,
    /// Its master seed.
    pub seed: u64,
    /// Trainings, analyses, report: the index ranges of each kind.
    pub trainings: usize,
    /// Number of analysis units.
    pub analyses: usize,
    /// How `estimate_seconds` was made.
    pub estimate_basis: String,
    /// Every unit, by index.
    pub units: Vec<Unit>,
}

impl Unit {
    /// The experiment an analysis unit runs.
    pub fn experiment(&self) -> Option<&str> {
        self.id.strip_prefix("analysis-")
    }
}

impl Plan {
    /// Indices of the units of `kind`.
    pub fn range(&self, kind: Kind) -> std::ops::Range<usize> {
        match kind {
            Kind::Train => 0..self.trainings,
            Kind::Analysis => self.trainings..self.trainings + self.analyses,
            Kind::Report => self.trainings + self.analyses..self.units.len(),
        }
    }
}

/// The plan of `session`'s profile (the experiments among `only`, or all), with the jobs of its
/// training units (by index).
pub fn build(session: &Session, only: &[String]) -> Result<(Plan, Vec<Job>)> {
    let selected = session.selected(only);
    let mut jobs: Vec<Job> = Vec::new();
    let mut units: Vec<Unit> = Vec::new();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    let mut needs: Vec<(String, String, Vec<String>)> = Vec::new();
    for (entry, table) in &selected {
        let name = entry.name();
        let mut deps = Vec::new();
        for job in entry
            .jobs(&session.lab, table)
            .with_context(|| format!("planning {name}"))?
        {
            let key = job.key()?;
            let i = match by_key.get(&key) {
                Some(&i) => i,
                None => {
                    let i = units.len();
                    by_key.insert(key.clone(), i);
                    let (cached, seconds) = cached(session, &job, &key);
                    units.push(Unit {
                        index: i,
                        id: format!("train-{}-{}", job.kind(), &key[..12]),
                        kind: Kind::Train,
                        what: format!("train {} `{}`", job.kind(), job.label()),
                        key: Some(key),
                        deps: Vec::new(),
                        used_by: Vec::new(),
                        cost: Some(job.cost()),
                        cached: Some(cached),
                        seconds,
                        estimate_seconds: None,
                    });
                    jobs.push(job);
                    i
                }
            };
            if !units[i].used_by.iter().any(|u| u == name) {
                units[i].used_by.push(name.to_string());
            }
            if !deps.contains(&units[i].id) {
                deps.push(units[i].id.clone());
            }
        }
        needs.push((name.to_string(), entry.what().to_string(), deps));
    }
    let trainings = units.len();
    let estimate_basis = estimate(&mut units);
    for (name, what, deps) in needs {
        let seconds = std::fs::read(record_path(&session.out, &name))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v.pointer("/section/seconds").and_then(|s| s.as_f64()));
        units.push(Unit {
            index: units.len(),
            id: format!("analysis-{name}"),
            kind: Kind::Analysis,
            what: format!("{name}: {what}"),
            key: None,
            deps,
            used_by: Vec::new(),
            cost: None,
            cached: None,
            seconds,
            estimate_seconds: None,
        });
    }
    let analyses = units.len() - trainings;
    let deps = units[trainings..].iter().map(|u| u.id.clone()).collect();
    units.push(Unit {
        index: units.len(),
        id: "report".to_string(),
        kind: Kind::Report,
        what: format!(
            "assemble {} from the analyses' records",
            session.out.join("REPORT.md").display()
        ),
        key: None,
        deps,
        used_by: Vec::new(),
        cost: None,
        cached: None,
        seconds: None,
        estimate_seconds: None,
    });
    Ok((
        Plan {
            profile: session.profile.name.clone(),
            profile_sha256: session.profile_sha256.clone(),
            seed: session.profile.seed,
            trainings,
            analyses,
            estimate_basis,
            units,
        },
        jobs,
    ))
}

/// Whether `job` is done in the cache, and the seconds its training took.
fn cached(session: &Session, job: &Job, key: &str) -> (bool, Option<f64>) {
    match job {
        Job::Model(j) => match session.lab.store.done(&j.spec, key) {
            Some(m) => (true, (m.train_seconds > 0.0).then_some(m.train_seconds)),
            None => (false, None),
        },
        Job::Classifier(_) => (session.lab.classifiers.path_of(key).is_file(), None),
    }
}

/// Fills the trainings' `estimate_seconds` from the median throughput (GFLOP/s) of the cached ones
/// with a measured time; says how.
fn estimate(units: &mut [Unit]) -> String {
    let mut rates: Vec<f64> = units
        .iter()
        .filter_map(|u| Some(u.cost.as_ref()?.gflop / u.seconds?))
        .filter(|r| r.is_finite() && *r > 0.0)
        .collect();
    if rates.is_empty() {
        return "none: no training of this plan is cached with a measured time yet".to_string();
    }
    rates.sort_by(f64::total_cmp);
    let rate = rates[rates.len() / 2];
    for u in units.iter_mut() {
        if let (Some(c), None) = (&u.cost, u.seconds) {
            if c.gflop > 0.0 {
                u.estimate_seconds = Some(c.gflop / rate);
            }
        }
    }
    format!(
        "GFLOP ÷ {rate:.2} GFLOP/s, the median throughput of the {} cached trainings of this plan (same cache, so the same kind of machine only if they were trained on it)",
        rates.len()
    )
}
