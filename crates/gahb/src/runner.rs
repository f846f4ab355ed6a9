//! A profile run, shared by `reproduce`, `run` and the planned units of `run --task`: the options
//! they take ([`RunArgs`]), the run they open ([`Session`]: the profile, the [`Lab`], the output
//! folder), one experiment run into its section record (`<out>/<name>/section.json`, written
//! atomically, with the experiment's failure when it failed), and the report assembled from the
//! records. A single-process `reproduce` and a cluster's report unit assemble the same records, so
//! their reports are made the same way.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::experiments;
use crate::harness::Entry;
use crate::lab;
use crate::lab::context::Lab;
use crate::lab::data::DataEnv;
use crate::lab::recipe::RunSettings;
use crate::profile::Profile;
use crate::report::{Report, Section};

/// The options of every command that runs a profile.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Built-in profile (smoke, quick, standard, paper) or a path to a TOML profile.
    #[arg(long, default_value = "quick")]
    pub profile: String,
    /// Run only these experiments.
    #[arg(long)]
    pub only: Vec<String>,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Results folder (default: `results/<profile>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Cache folder for trained models and prepared datasets (default: results/cache).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// A local CelebA `img_align_celeba` folder; face experiments then use it.
    #[arg(long)]
    pub celeba: Option<PathBuf>,
    /// Write a training checkpoint every this many steps (a killed run resumes from the last one;
    /// 0: only at the end).
    #[arg(long, default_value_t = 500)]
    pub checkpoint_every: usize,
}

/// One experiment's outcome as a file: what the report unit assembles.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SectionRecord {
    /// The experiment.
    pub experiment: String,
    /// SHA-256 of the profile's text: a record of another profile is not assembled.
    pub profile_sha256: String,
    /// The code's revision.
    pub git_revision: Option<String>,
    /// The device it ran on.
    pub device: String,
    /// Its section, when it succeeded.
    pub section: Option<Section>,
    /// Its error, when it failed.
    pub failure: Option<String>,
    /// Cache repairs recorded while it ran.
    pub cache_notes: Vec<String>,
}

/// An open run of a profile.
pub struct Session {
    /// The profile.
    pub profile: Profile,
    /// SHA-256 of its text.
    pub profile_sha256: String,
    /// The run context.
    pub lab: Lab,
    /// The results folder.
    pub out: PathBuf,
    /// The cache folder.
    pub cache: PathBuf,
    /// The device, in words (`cpu`, `cuda:0`).
    pub device: String,
    /// The code's revision.
    pub git_revision: Option<String>,
}

impl Session {
    /// Reads the profile, checks the folders and the device, and opens the run. With `cached_only`
    /// nothing is trained: a model that is not in the cache is an error naming it.
    pub fn open(args: &RunArgs, cached_only: bool) -> Result<Self> {
        let profile = Profile::load(&args.profile)?;
        check_names(&args.only)?;
        let device = gahb_tensor::parse_device(&args.device)?;
        let out = args
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("results").join(&profile.name));
        let cache = args
            .cache
            .clone()
            .unwrap_or_else(|| PathBuf::from("results").join("cache"));
        lab::io::ensure_writable("--out", &out)?;
        lab::io::ensure_writable("--cache", &cache)?;
        let swept = lab::io::remove_stale_temporaries(&out, 2);
        if swept > 0 {
            eprintln!(
                "removed {swept} temporary file(s) that an interrupted run left in {}",
                out.display()
            );
        }
        if let Some(c) = &args.celeba {
            anyhow::ensure!(
                c.is_dir(),
                "--celeba {}: {}",
                c.display(),
                if c.exists() {
                    "is a file, not a folder: give the img_align_celeba folder that holds the images"
                } else {
                    "no such folder"
                }
            );
        }
        let git_revision = lab::store::git_revision(&std::env::current_dir()?);
        let lab = Lab::new(
            profile.seed,
            device,
            profile.train.clone(),
            profile.sweep.clone(),
            DataEnv::new(cache.clone(), args.celeba.clone()),
            RunSettings {
                git_revision: git_revision.clone(),
                checkpoint_every: args.checkpoint_every,
                cached_only,
                ..RunSettings::default()
            },
        );
        Ok(Self {
            profile_sha256: lab::store::content_key(&profile.text)?,
            profile,
            lab,
            out,
            cache,
            device: match device {
                tch::Device::Cpu => "cpu".to_string(),
                tch::Device::Cuda(i) => format!("cuda:{i}"),
                other => format!("{other:?}").to_lowercase(),
            },
            git_revision,
        })
    }

    /// The profile's experiments among `only` (all when empty), in run order, with their tables;
    /// an experiment that is not in the profile is said and skipped.
    pub fn selected(&self, only: &[String]) -> Vec<(&'static dyn Entry, &toml::Value)> {
        experiments::REGISTRY
            .iter()
            .filter(|e| only.is_empty() || only.iter().any(|o| o == e.name()))
            .filter_map(|e| match self.profile.table(e.name()) {
                Some(t) => Some((*e, t)),
                None => {
                    eprintln!(
                        "  {}: not in profile `{}`, skipped",
                        e.name(),
                        self.profile.name
                    );
                    None
                }
            })
            .collect()
    }

    /// Runs one experiment and writes its record (`<out>/<name>/section.json`); a failure is in
    /// the record, not an error.
    pub fn run(&self, entry: &dyn Entry, table: &toml::Value) -> Result<SectionRecord> {
        let before = self.lab.notes().len();
        let outcome = entry.run(&self.lab, table, &self.out);
        let (section, failure) = match outcome {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(format!("{e:#}"))),
        };
        let record = SectionRecord {
            experiment: entry.name().to_string(),
            profile_sha256: self.profile_sha256.clone(),
            git_revision: self.git_revision.clone(),
            device: self.device.clone(),
            section,
            failure,
            cache_notes: self.lab.notes().split_off(before),
        };
        let path = record_path(&self.out, entry.name());
        std::fs::create_dir_all(path.parent().unwrap_or(&self.out))
            .with_context(|| format!("creating the folder of {}", path.display()))?;
        lab::io::write_json(&path, &record)?;
        Ok(record)
    }

    /// The record that experiment `name` left in the results folder, refused when it belongs to
    /// another profile.
    pub fn read_record(&self, name: &str) -> Result<SectionRecord> {
        let path = record_path(&self.out, name);
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "{name} has no result in {} ({}): run its analysis unit first",
                self.out.display(),
                path.display()
            )
        })?;
        let record: SectionRecord = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "reading {}: run {name}'s analysis unit again",
                path.display()
            )
        })?;
        anyhow::ensure!(
            record.profile_sha256 == self.profile_sha256,
            "{}: made by another version of profile `{}`: run {name}'s analysis unit again",
            path.display(),
            self.profile.name
        );
        Ok(record)
    }

    /// The report of `records`, taking `seconds`.
    pub fn report(&self, records: &[SectionRecord], seconds: f64) -> Report {
        let mut cache_notes: Vec<String> = Vec::new();
        for n in records.iter().flat_map(|r| &r.cache_notes) {
            if !cache_notes.contains(n) {
                cache_notes.push(n.clone());
            }
        }
        Report {
            profile: self.profile.name.clone(),
            description: self.profile.description.clone(),
            seed: self.profile.seed,
            git_revision: self.git_revision.clone(),
            device: self.device.clone(),
            training: self.profile.train.describe(),
            cache_notes,
            sections: records.iter().filter_map(|r| r.section.clone()).collect(),
            failures: records
                .iter()
                .filter_map(|r| Some((r.experiment.clone(), r.failure.clone()?)))
                .collect(),
            seconds,
        }
    }

    /// Writes the profile's text beside the report.
    pub fn write_profile(&self) -> Result<()> {
        lab::io::write_atomic(&self.out.join("profile.toml"), self.profile.text.as_bytes())
    }
}

/// Checks that every name is an experiment's.
pub fn check_names(names: &[String]) -> Result<()> {
    for name in names {
        if experiments::find(name).is_none() {
            anyhow::bail!(
                "unknown experiment `{name}`: choose from {}",
                experiments::names().join(", ")
            );
        }
    }
    Ok(())
}

/// Where experiment `name`'s record is.
pub fn record_path(out: &Path, name: &str) -> PathBuf {
    out.join(name).join("section.json")
}

/// Runs `args`' profile in this process (the experiments among `only`, or all): trains what is not
/// cached, writes each experiment's record and the report after each experiment.
pub fn reproduce(args: &RunArgs, only: &[String]) -> Result<()> {
    let t0 = Instant::now();
    let session = Session::open(args, false)?;
    check_names(only)?;
    session.write_profile()?;
    let selected = session.selected(only);
    let mut records = Vec::new();
    for (i, (entry, table)) in selected.iter().enumerate() {
        let name = entry.name();
        eprintln!(
            "[{}/{}] {name}: {} ({:.0} s elapsed)",
            i + 1,
            selected.len(),
            entry.what(),
            t0.elapsed().as_secs_f64()
        );
        let record = session.run(*entry, table)?;
        say(&record);
        records.push(record);
        crate::report::render::write(
            &session.report(&records, t0.elapsed().as_secs_f64()),
            &session.out,
        )?;
    }
    finish(&session, &records)
}

/// Prints an experiment's outcome.
pub fn say(record: &SectionRecord) {
    let name = &record.experiment;
    match (&record.section, &record.failure) {
        (Some(s), _) => eprintln!(
            "  {name}: {}/{} checks pass, {:.0} s",
            s.checks.iter().filter(|c| c.pass).count(),
            s.checks.len(),
            s.seconds
        ),
        (None, Some(e)) => eprintln!("  {name} FAILED: {e}"),
        (None, None) => eprintln!("  {name}: no outcome"),
    }
}

/// Says where the report is, and fails when an experiment failed.
pub fn finish(session: &Session, records: &[SectionRecord]) -> Result<()> {
    eprintln!("report: {}", session.out.join("REPORT.md").display());
    let failed: Vec<String> = records
        .iter()
        .filter_map(|r| Some(format!("{}: {}", r.experiment, r.failure.as_ref()?)))
        .collect();
    anyhow::ensure!(failed.is_empty(), "{}", failed.join("; "));
    Ok(())
}
