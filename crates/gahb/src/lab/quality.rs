//! Sample quality as numbers (issue 12, for paper Fig. 2): a small classifier trained on a
//! labelled set's classes, kept in `<cache>/classifiers/` under a content key, and what it says of
//! a set of images: how confidently it puts each one in a class ([`confidence`]) and its
//! penultimate-layer features, for the Fréchet distance to held-out images
//! (`gahb_denoiser::frechet_distance`).
//!
//! A classifier's key is the SHA-256 of its config (seed included), its training images' bytes and
//! labels, and the held-out images and labels its accuracy is measured on, as a model's key is in
//! [`crate::lab::store`]. Its weights and sealed sidecar are one unit written by `Classifier::save`
//! (gahb-denoiser `commit`); the training report beside them is a sealed JSON of its own. A unit
//! that does not verify is removed and retrained, and the report says so; one writer per key
//! ([`crate::lab::lock`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use gahb_denoiser::{train_classifier, Classifier, ClassifierConfig};
use gahb_tensor::convert::images_to_batch;
use ndarray::{Array2, Array3, ArrayView2};
use serde::Serialize;
use tch::{Device, Kind, Tensor};

use crate::lab::lock::KeyLock;
use crate::lab::recipe::RunSettings;
use crate::lab::store::{array_hash, content_key};

/// Bumped when a change to the code invalidates cached classifiers.
const CLASSIFIER_CACHE_VERSION: &str = "gahb-classifier-v1";

/// How far a probability row's sum may be from 1 (the softmax is computed in f32).
const ROW_SUM_TOLERANCE: f64 = 1e-3;

/// Where a classifier came from and how good it is.
#[derive(Debug, Clone, Serialize)]
pub struct ClassifierInfo {
    /// The cache key.
    pub key: String,
    /// True when it was loaded, not trained, in this run.
    pub cached: bool,
    /// The architecture and training recipe.
    pub config: ClassifierConfig,
    /// Training images.
    pub n_train: usize,
    /// Accuracy on its training images after the last step.
    pub train_accuracy: Option<f64>,
    /// Held-out images its accuracy was measured on.
    pub n_held_out: usize,
    /// Accuracy on the held-out images.
    pub held_out_accuracy: f64,
    /// Seconds its training took (in this run or the one that trained it, when recorded).
    pub train_seconds: Option<f64>,
    /// What was wrong with the cached files and what was done.
    pub notes: Vec<String>,
}

/// A labelled image stack: `[n, h, w]` in [0, 1] and one label per image.
#[derive(Debug, Clone, Copy)]
pub struct Labelled<'a> {
    /// The images.
    pub images: &'a Array3<f32>,
    /// Their labels, in 0..n_classes.
    pub labels: &'a [u8],
}

impl Labelled<'_> {
    fn check(&self, what: &str) -> Result<()> {
        let n = self.images.dim().0;
        anyhow::ensure!(n > 0, "no {what} images for the classifier");
        anyhow::ensure!(
            self.labels.len() == n,
            "{n} {what} images but {} labels",
            self.labels.len()
        );
        Ok(())
    }

    fn label_tensor(&self) -> Tensor {
        Tensor::from_slice(self.labels).to_kind(Kind::Int64)
    }
}

/// The classifier store in one folder.
#[derive(Debug, Clone)]
pub struct ClassifierStore {
    dir: PathBuf,
}

impl ClassifierStore {
    /// The store under `cache` (`<cache>/classifiers`).
    pub fn new(cache: &Path) -> Self {
        Self {
            dir: cache.join("classifiers"),
        }
    }

    /// The checkpoint file of a cache key.
    pub fn path_of(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.safetensors"))
    }

    /// The cache key of `cfg` trained on `train` and measured on `held_out`.
    pub fn key(
        cfg: &ClassifierConfig,
        train: Labelled<'_>,
        held_out: Labelled<'_>,
    ) -> Result<String> {
        content_key(&(
            CLASSIFIER_CACHE_VERSION,
            cfg,
            array_hash(train.images),
            content_key(&train.labels)?,
            array_hash(held_out.images),
            content_key(&held_out.labels)?,
        ))
    }

    /// Trains `cfg` on `train` and measures its accuracy on `held_out`, or loads the stored
    /// result. `label` is shown in progress lines; `run`'s git revision is recorded in the
    /// sidecar, and with its `cached_only` a classifier that is not cached is an error naming it.
    pub fn get_or_train(
        &self,
        label: &str,
        cfg: &ClassifierConfig,
        train: Labelled<'_>,
        held_out: Labelled<'_>,
        run: &RunSettings,
        device: Device,
    ) -> Result<(Classifier, ClassifierInfo)> {
        train.check("training")?;
        held_out.check("held-out")?;
        cfg.validate().with_context(|| label.to_string())?;
        let key = Self::key(cfg, train, held_out)?;
        let path = self.dir.join(format!("{key}.safetensors"));
        let report_path = self.dir.join(format!("{key}.report.json"));
        let lock = KeyLock::acquire(&self.dir, &key, label)?;
        let mut notes = lock.broke.clone();
        if gahb_denoiser::commit::remove_temporaries(&self.dir, &key) > 0 {
            notes.push(format!(
                "temporaries of {key:.12} left by an interrupted run were removed"
            ));
        }
        let sidecar = gahb_denoiser::classifier::sidecar_path(&path);
        let loaded = match Classifier::load(&path, device) {
            Ok(c) => Some(c),
            Err(e) if path.exists() || sidecar.exists() => {
                gahb_denoiser::commit::discard(&sidecar, &[path.clone(), report_path.clone()]);
                notes.push(format!(
                    "cached classifier {} was refused ({e}); it is retrained",
                    path.display()
                ));
                None
            }
            Err(_) => None,
        };
        for n in &notes {
            eprintln!("  {label}: {n}");
        }
        let info =
            |cached: bool, train_accuracy, held_out_accuracy, train_seconds| ClassifierInfo {
                key: key.clone(),
                cached,
                config: cfg.clone(),
                n_train: train.images.dim().0,
                train_accuracy,
                n_held_out: held_out.images.dim().0,
                held_out_accuracy,
                train_seconds,
                notes: notes.clone(),
            };
        let done = loaded.filter(|(_, meta)| meta.config == *cfg);
        if let Some((classifier, meta)) = done {
            if let Some(accuracy) = meta.accuracy {
                eprintln!("  {label}: cached ({key:.12})");
                // The training report is a sealed JSON of its own: a damaged one is not read.
                let seconds = gahb_denoiser::commit::verify(&report_path, false)
                    .ok()
                    .and_then(|v| v.get("seconds").and_then(serde_json::Value::as_f64));
                return Ok((
                    classifier,
                    info(true, meta.train_accuracy, accuracy, seconds),
                ));
            }
        }
        anyhow::ensure!(
            !run.cached_only,
            "{label} ({key:.12}) is not in the cache {}: this run only assembles; train it first \
             (its unit in `gahb plan`, run by `gahb run --task`)",
            self.dir.display()
        );
        eprintln!(
            "  {label}: training on {} images for {} steps ({key:.12})",
            train.images.dim().0,
            cfg.steps
        );
        let (classifier, report) = train_classifier(
            &images_to_batch(train.images),
            Some(&train.label_tensor()),
            cfg,
            device,
        )
        .with_context(|| format!("training {label}"))?;
        let accuracy = classifier
            .accuracy(
                &images_to_batch(held_out.images),
                Some(&held_out.label_tensor()),
            )
            .with_context(|| format!("measuring {label}"))?;
        let mut meta = classifier.meta().with_report(&report).with_accuracy(
            accuracy,
            format!("{} held-out images", held_out.images.dim().0),
        );
        meta.git_revision = run.git_revision.clone();
        gahb_denoiser::commit::commit(&report_path, serde_json::to_value(&report)?, &[])?;
        classifier
            .save(&path, &meta)
            .with_context(|| format!("saving {label} to {}", path.display()))?;
        Ok((
            classifier,
            info(
                false,
                Some(report.train_accuracy),
                accuracy,
                Some(report.seconds),
            ),
        ))
    }
}

/// How confidently a classifier puts a set of images in its classes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confidence {
    /// Images.
    pub n: usize,
    /// Mean over the images of the largest class probability.
    pub mean: f64,
    /// The threshold of `confident_fraction`.
    pub threshold: f64,
    /// Fraction of images whose largest class probability is at least `threshold`.
    pub confident_fraction: f64,
    /// How many images fall in each class (the class of the largest probability; ties go to the
    /// first).
    pub class_counts: Vec<usize>,
}

impl Confidence {
    /// The class most images fall in, with its count (the first on ties).
    pub fn top_class(&self) -> Option<(usize, usize)> {
        self.class_counts
            .iter()
            .copied()
            .enumerate()
            .fold(None, |best, (k, c)| match best {
                Some((_, b)) if b >= c => best,
                _ => Some((k, c)),
            })
    }
}

/// The confidence of probability rows `[n, k]` (each finite, in [0, 1], summing to 1): the mean of
/// each row's largest entry, the fraction of rows whose largest entry is at least `threshold`, and
/// the count of rows per class.
pub fn confidence(probs: ArrayView2<'_, f64>, threshold: f64) -> Result<Confidence> {
    let (n, k) = probs.dim();
    anyhow::ensure!(
        n > 0 && k > 0,
        "confidence of an empty [{n}, {k}] set of probabilities"
    );
    anyhow::ensure!(
        threshold.is_finite(),
        "the confidence threshold must be finite, got {threshold}"
    );
    let mut class_counts = vec![0usize; k];
    let (mut sum, mut confident) = (0.0, 0usize);
    for (i, row) in probs.outer_iter().enumerate() {
        if let Some(bad) = row.iter().find(|p| !(0.0..=1.0).contains(*p)) {
            anyhow::bail!("probability row {i} has the entry {bad}, outside [0, 1]");
        }
        let total: f64 = row.sum();
        anyhow::ensure!(
            (total - 1.0).abs() <= ROW_SUM_TOLERANCE,
            "probability row {i} sums to {total}, not 1"
        );
        let (best, p) =
            row.iter()
                .copied()
                .enumerate()
                .fold(
                    (0, f64::NEG_INFINITY),
                    |b, (j, p)| if p > b.1 { (j, p) } else { b },
                );
        class_counts[best] += 1;
        sum += p;
        confident += usize::from(p >= threshold);
    }
    Ok(Confidence {
        n,
        mean: sum / n as f64,
        threshold,
        confident_fraction: confident as f64 / n as f64,
        class_counts,
    })
}

/// What `classifier` says of `images` (`[n, 1, s, s]`, any values: they are clamped to [0, 1]
/// first, as a sampler's output may leave that range): the confidence at `threshold` and the
/// penultimate-layer features `[n, f]`.
pub fn assess(
    classifier: &Classifier,
    images: &Tensor,
    threshold: f64,
) -> Result<(Confidence, Tensor)> {
    let x = images.f_clamp(0.0, 1.0)?;
    let probs = classifier
        .probabilities(&x)?
        .f_to_device(Device::Cpu)?
        .f_to_kind(Kind::Double)?; // [n, k]
    let size = probs.size();
    let rows = Vec::<f64>::try_from(probs.f_reshape([-1])?)?;
    let probs = Array2::from_shape_vec((size[0] as usize, size[1] as usize), rows)?;
    let conf = confidence(probs.view(), threshold)?;
    Ok((conf, classifier.features(&x)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn check(got: f64, want: f64) {
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }

    #[test]
    fn the_confidence_of_known_rows() {
        let probs = array![
            [0.9, 0.1, 0.0],
            [0.5, 0.5, 0.0],
            [0.2, 0.8, 0.0],
            [0.0, 0.3, 0.7],
        ];
        let c = confidence(probs.view(), 0.8).expect("confidence");
        check(c.mean, (0.9 + 0.5 + 0.8 + 0.7) / 4.0);
        check(c.confident_fraction, 0.5); // 0.9 and 0.8 (≥ counts the equal one)
        assert_eq!(c.class_counts, vec![2, 1, 1]); // the 0.5/0.5 tie goes to class 0
        assert_eq!((c.n, c.top_class()), (4, Some((0, 2))));
        let c = confidence(probs.view(), 0.95).expect("confidence");
        check(c.confident_fraction, 0.0);
        let uniform = Array2::from_elem((3, 4), 0.25);
        let c = confidence(uniform.view(), 0.8).expect("confidence");
        check(c.mean, 0.25);
        assert_eq!(c.class_counts, vec![3, 0, 0, 0]);
    }

    #[test]
    fn bad_probability_rows_are_refused() {
        let empty = Array2::<f64>::zeros((0, 3));
        for (probs, want) in [
            (array![[0.6, 0.6]], "sums to 1.2"),
            (array![[1.5, -0.5]], "outside [0, 1]"),
            (array![[f64::NAN, 1.0]], "outside [0, 1]"),
            (empty, "empty [0, 3]"),
        ] {
            let e = format!("{:#}", confidence(probs.view(), 0.8).expect_err(want));
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn the_key_follows_the_config_the_images_and_the_labels() {
        let cfg = ClassifierConfig::tiny(8, 2);
        let x = Array3::<f32>::zeros((2, 8, 8));
        let mut x2 = x.clone();
        x2[[0, 1, 1]] = 0.5;
        let (y, y2) = ([0u8, 1], [1u8, 1]);
        let l = |images, labels| Labelled { images, labels };
        let k = ClassifierStore::key(&cfg, l(&x, &y), l(&x, &y)).expect("key");
        assert_eq!(
            k,
            ClassifierStore::key(&cfg, l(&x, &y), l(&x, &y)).expect("key")
        );
        assert_ne!(
            k,
            ClassifierStore::key(&cfg, l(&x2, &y), l(&x, &y)).expect("key")
        );
        assert_ne!(
            k,
            ClassifierStore::key(&cfg, l(&x, &y2), l(&x, &y)).expect("key")
        );
        assert_ne!(
            k,
            ClassifierStore::key(&cfg, l(&x, &y), l(&x, &y2)).expect("key")
        );
        let other = ClassifierConfig {
            seed: 1,
            ..cfg.clone()
        };
        assert_ne!(
            k,
            ClassifierStore::key(&other, l(&x, &y), l(&x, &y)).expect("key")
        );
    }

    #[test]
    fn a_classifier_is_trained_once_then_loaded() {
        // Two classes that differ in brightness: any classifier separates them.
        let n = 16;
        let x = Array3::from_shape_fn((n, 8, 8), |(i, r, c)| {
            let base = if i % 2 == 0 { 0.15 } else { 0.85 };
            base + 0.01 * ((r + c + i) % 5) as f32
        });
        let y: Vec<u8> = (0..n).map(|i| (i % 2) as u8).collect();
        let cfg = ClassifierConfig {
            steps: 30,
            ..ClassifierConfig::tiny(8, 2)
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ClassifierStore::new(dir.path());
        let data = Labelled {
            images: &x,
            labels: &y,
        };
        let (first, a) = store
            .get_or_train(
                "test classifier",
                &cfg,
                data,
                data,
                &RunSettings::default(),
                Device::Cpu,
            )
            .expect("train");
        assert!(!a.cached && a.train_seconds.is_some());
        let (second, b) = store
            .get_or_train(
                "test classifier",
                &cfg,
                data,
                data,
                &RunSettings::default(),
                Device::Cpu,
            )
            .expect("load");
        assert!(b.cached, "the second call loads");
        assert_eq!(
            (a.key.as_str(), a.held_out_accuracy),
            (b.key.as_str(), b.held_out_accuracy)
        );
        let batch = images_to_batch(&x);
        let (ca, fa) = assess(&first, &batch, 0.8).expect("assess");
        let (cb, fb) = assess(&second, &batch, 0.8).expect("assess");
        assert_eq!(ca, cb);
        assert!(fa.allclose(&fb, 0.0, 0.0, false), "same weights");
        let short = Labelled {
            images: &x,
            labels: &y[..3],
        };
        let e = format!(
            "{:#}",
            store
                .get_or_train(
                    "test classifier",
                    &cfg,
                    short,
                    data,
                    &RunSettings::default(),
                    Device::Cpu
                )
                .expect_err("3 labels for 16 images")
        );
        assert!(e.contains("16 training images but 3 labels"), "{e}");
    }
}
