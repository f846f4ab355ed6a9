//! [`Lab`], what a run gives every experiment: the master seed, the device, the profile's shared
//! tables (`[train]` and `[sweep]`), the data environment, the model store and the run settings;
//! and the measurements several experiments share, done once per run (datasets, sweep models and
//! their PSNR curves).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use anyhow::{Context, Result};
use gahb_denoiser::{Classifier, ClassifierConfig, Model, ModelConfig};
use ndarray::{concatenate, s, Array3, Axis};
use tch::Device;

use crate::lab::data::{self, DataEnv, DataSpec, Loaded};
use crate::lab::eval::{paper_sigmas, psnr_curve};
use crate::lab::job::{ClassifierJob, Job, ModelJob};
use crate::lab::quality::{ClassifierInfo, ClassifierStore};
use crate::lab::recipe::{RunSettings, TrainSpec};
use crate::lab::seed::derive_seed;
use crate::lab::store::{ModelSpec, ModelStore, TrainedInfo};
use crate::lab::sweep::{Curves, Half, SweepCurves, SweepSpec};

/// The run context.
pub struct Lab {
    /// The profile's master seed; every seed of the run derives from it ([`crate::lab::seed`]).
    pub seed: u64,
    /// Where to compute.
    pub device: Device,
    /// The profile's `[train]`: the recipe of every model whose table has no `train` of its own.
    pub recipe: TrainSpec,
    /// The profile's `[sweep]`, when it has one.
    pub sweep: Option<SweepSpec>,
    /// Raw sets, the data cache and the user's CelebA.
    pub data_env: DataEnv,
    /// The content-addressed model store.
    pub store: ModelStore,
    /// The content-addressed store of sample-quality classifiers.
    pub classifiers: ClassifierStore,
    /// How trainings are carried out.
    pub run: RunSettings,
    loaded: RefCell<HashMap<String, Rc<Loaded>>>,
    curves: RefCell<HashMap<String, Rc<SweepCurves>>>,
    notes: RefCell<Vec<String>>,
}

/// A trained (or loaded) model and where it came from.
pub struct Trained {
    /// The model.
    pub model: Model,
    /// Its key, training time and loss.
    pub info: TrainedInfo,
}

impl Lab {
    /// A run context.
    pub fn new(
        seed: u64,
        device: Device,
        recipe: TrainSpec,
        sweep: Option<SweepSpec>,
        data_env: DataEnv,
        run: RunSettings,
    ) -> Self {
        let store = ModelStore::new(&data_env.cache);
        let classifiers = ClassifierStore::new(&data_env.cache);
        Self {
            seed,
            device,
            recipe,
            sweep,
            data_env,
            store,
            classifiers,
            run,
            loaded: RefCell::default(),
            curves: RefCell::default(),
            notes: RefCell::default(),
        }
    }

    /// Records lines about the cache for the report (a refused artefact and what was done).
    pub fn note(&self, lines: impl IntoIterator<Item = String>) {
        self.notes.borrow_mut().extend(lines);
    }

    /// Every line recorded by [`Lab::note`] so far.
    pub fn notes(&self) -> Vec<String> {
        self.notes.borrow().clone()
    }

    /// The seed of the part called `tag` ([`derive_seed`] of the master seed).
    pub fn seed_of(&self, tag: &str) -> u64 {
        derive_seed(self.seed, tag)
    }

    /// An experiment's own recipe, or the profile's.
    pub fn recipe<'a>(&'a self, own: Option<&'a TrainSpec>) -> &'a TrainSpec {
        own.unwrap_or(&self.recipe)
    }

    /// The profile's `[sweep]`, or an error naming the experiment that needs it.
    pub fn sweep(&self, who: &str) -> Result<&SweepSpec> {
        self.sweep
            .as_ref()
            .with_context(|| format!("{who} needs a [sweep] table in the profile"))
    }

    /// Prepares `spec`'s images (generated ones from `seed`) once per run.
    pub fn data(&self, spec: &DataSpec, seed: u64) -> Result<Rc<Loaded>> {
        let key = data::data_key(&self.data_env, spec, seed)?;
        if let Some(l) = self.loaded.borrow().get(&key) {
            return Ok(l.clone());
        }
        let l = Rc::new(data::prepare_keyed(&self.data_env, spec, seed, &key)?);
        if let Some(reason) = &l.rebuilt {
            self.note([format!(
                "dataset `{}`: the cached copy was refused ({reason}); prepared again",
                l.meta.name
            )]);
        }
        self.loaded.borrow_mut().insert(key, l.clone());
        Ok(l)
    }

    /// The training of `model` with `recipe` and `seed` on `images` (what [`Lab::train`] runs, and
    /// what `gahb plan` lists).
    pub fn job(
        &self,
        label: &str,
        model: &ModelConfig,
        recipe: &TrainSpec,
        seed: u64,
        images: Array3<f32>,
        split: &str,
    ) -> Result<ModelJob> {
        Ok(ModelJob {
            label: label.to_string(),
            spec: ModelSpec {
                model: model.clone(),
                train: recipe.to_config(seed).with_context(|| label.to_string())?,
            },
            images,
            split: split.to_string(),
        })
    }

    /// Trains `job`, or loads it from the store.
    pub fn train(&self, job: &ModelJob) -> Result<Trained> {
        let (model, info) = self.store.get_or_train(
            &job.label,
            &job.spec,
            &job.images,
            &job.split,
            &self.run,
            self.device,
        )?;
        self.note(info.notes.iter().map(|n| format!("{}: {n}", job.label)));
        Ok(Trained { model, info })
    }

    /// Runs one job (a training unit of a plan): trains it or finds it cached; a line saying which.
    pub fn run_job(&self, job: &Job) -> Result<String> {
        Ok(match job {
            Job::Model(j) => {
                let t = self.train(j)?;
                format!(
                    "{} ({:.12}): {} after {} steps",
                    j.label,
                    t.info.key,
                    if t.info.cached { "cached" } else { "trained" },
                    t.info.steps
                )
            }
            Job::Classifier(j) => {
                let (_, info) = self.train_classifier(j)?;
                format!(
                    "{} ({:.12}): {}, held-out accuracy {:.3}",
                    j.label,
                    info.key,
                    if info.cached { "cached" } else { "trained" },
                    info.held_out_accuracy
                )
            }
        })
    }

    /// The sweep's images (generated ones from the profile seed), validated against its sizes.
    pub fn sweep_data(&self, sweep: &SweepSpec) -> Result<Rc<Loaded>> {
        let data = self.data(&sweep.data, self.seed_of("sweep-data"))?;
        sweep.validate(&data)?;
        Ok(data)
    }

    /// The training of the sweep model of size `n` on `half`.
    pub fn sweep_job(&self, sweep: &SweepSpec, n: usize, half: Half) -> Result<ModelJob> {
        let data = self.sweep_data(sweep)?;
        let images = sweep.train_images(&data, n, half)?;
        let seed = self.seed_of(&format!("sweep-{n}-{}", half.name()));
        let split = sweep.split(data.images.dim().0, n)?;
        let desc = format!(
            "{} | N = {n} {} | split {split:?}",
            data.description,
            half.name()
        );
        self.job(
            &format!("{} N={n} {}", sweep.data.name(), half.name()),
            &sweep.net,
            self.recipe(sweep.train.as_ref()),
            seed,
            images,
            &desc,
        )
    }

    /// The trainings of the sweep models of every N of `ns` on each of `halves`.
    pub fn sweep_jobs(&self, sweep: &SweepSpec, ns: &[usize], halves: &[Half]) -> Result<Vec<Job>> {
        let mut jobs = Vec::new();
        for &n in ns {
            for &half in halves {
                jobs.push(Job::Model(self.sweep_job(sweep, n, half)?));
            }
        }
        Ok(jobs)
    }

    /// The sweep model of size `n` on `half`, with its training images.
    pub fn sweep_model(
        &self,
        sweep: &SweepSpec,
        n: usize,
        half: Half,
    ) -> Result<(Trained, Array3<f32>)> {
        let job = self.sweep_job(sweep, n, half)?;
        let trained = self.train(&job)?;
        Ok((trained, job.images))
    }

    /// The seed of the noise on the sweep's `set` ("train" or "test") evaluation images: every
    /// denoiser measured with it sees the same noisy images as the sweep models' curves.
    pub fn sweep_noise_seed(&self, set: &str) -> u64 {
        derive_seed(self.seed_of("sweep-curves"), set)
    }

    /// The sample-quality classifier of the sweep's data (issue 12): `ClassifierConfig::fashion_mnist`
    /// at the sweep's image size with the set's classes, `steps` steps when given, seeded from the
    /// profile seed; trained on every labelled image outside the sweep's test block and measured on
    /// that block, which Fig. 2 also takes as its held-out images. Trained once, then loaded from
    /// the classifier store. Data without labels is a one-line error naming the dataset.
    pub fn sweep_classifier(
        &self,
        sweep: &SweepSpec,
        steps: Option<usize>,
    ) -> Result<(Classifier, ClassifierInfo)> {
        self.train_classifier(&self.classifier_job(sweep, steps)?)
    }

    /// The training of [`Lab::sweep_classifier`]'s classifier.
    pub fn classifier_job(&self, sweep: &SweepSpec, steps: Option<usize>) -> Result<ClassifierJob> {
        let classes = sweep.data.classes()?;
        let data = self.sweep_data(sweep)?;
        let labels = data::labels(&self.data_env, &sweep.data)?;
        let total = data.images.dim().0;
        anyhow::ensure!(
            labels.len() == total,
            "{}: {total} images but {} labels",
            sweep.data.name(),
            labels.len()
        );
        let size = sweep.data.size().context("sweep.data needs a size")? as i64;
        let mut cfg = ClassifierConfig::fashion_mnist(size);
        cfg.n_classes = classes.len() as i64;
        cfg.steps = steps.unwrap_or(cfg.steps);
        cfg.seed = self.seed_of("sweep-classifier");
        let n0 = *sweep.ns.first().context("sweep.ns is empty")?;
        let test = sweep.split(total, n0)?.test;
        let images = &data.images;
        let train_images = concatenate(
            Axis(0),
            &[
                images.slice(s![..test.start, .., ..]),
                images.slice(s![test.end.., .., ..]),
            ],
        )?;
        let train_labels = [&labels[..test.start], &labels[test.end..]].concat();
        let held_out = images.slice(s![test.clone(), .., ..]).to_owned();
        Ok(ClassifierJob {
            label: format!("{} classifier", sweep.data.name()),
            cfg,
            train_images,
            train_labels,
            held_out_images: held_out,
            held_out_labels: labels[test].to_vec(),
        })
    }

    /// Trains `job`'s classifier and measures it, or loads it from the classifier store.
    pub fn train_classifier(&self, job: &ClassifierJob) -> Result<(Classifier, ClassifierInfo)> {
        self.classifiers
            .get_or_train(
                &job.label,
                &job.cfg,
                job.train(),
                job.held_out(),
                &self.run,
                self.device,
            )
            .inspect(|(_, info)| {
                self.note(info.notes.iter().map(|n| format!("classifier: {n}")));
            })
    }

    /// The train and test curves of the S1 model of every N of `sweep`, measured once per run
    /// (Fig. 15 reuses Fig. 1's at the sweep's own resolution).
    pub fn sweep_curves(&self, sweep: &SweepSpec) -> Result<Rc<SweepCurves>> {
        let key = serde_json::to_string(sweep)?;
        if let Some(done) = self.curves.borrow().get(&key) {
            return Ok(done.clone());
        }
        let data = self.sweep_data(sweep)?;
        let test = sweep.test_images(&data)?;
        let sigmas = paper_sigmas();
        let mut curves = Vec::new();
        for &n in &sweep.ns {
            let (m, train) = self.sweep_model(sweep, n, Half::S1)?;
            let train_eval = sweep.eval_train_images(&train);
            curves.push(Curves {
                n,
                train: psnr_curve(
                    &m.model,
                    &train_eval,
                    &sigmas,
                    self.sweep_noise_seed("train"),
                )?,
                test: psnr_curve(&m.model, &test, &sigmas, self.sweep_noise_seed("test"))?,
            });
        }
        let measured = Rc::new(SweepCurves {
            curves,
            description: data.description.clone(),
        });
        self.curves.borrow_mut().insert(key, measured.clone());
        Ok(measured)
    }
}
