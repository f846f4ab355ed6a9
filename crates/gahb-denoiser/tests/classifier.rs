//! Classifier tests (issue 12, sample quality for paper Fig. 2): a tiny CNN learns a synthetic
//! four-class task (horizontal bars, vertical bars, a centred blob, a ring), training is
//! deterministic, save/load round-trips, and every bad input is a one-line error naming the value.
//! With `GAHB_SLOW_TESTS=1` and the fetched files, one test trains on real Fashion-MNIST.

use std::f64::consts::PI;
use std::path::PathBuf;

use anyhow::{Context, Result};
use gahb_denoiser::{
    class_confidence, classifier_frechet_distance, train_classifier, Classifier, ClassifierConfig,
    ClassifierMeta, Error,
};
use tch::{Device, Kind, Tensor};

/// Training reseeds libtorch's global generator, which the tests of this binary share across
/// threads, so the tests that train or draw from it run one at a time.
static GLOBAL_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    // One libtorch thread: OpenMP spin-waits make 2 threads much slower on a shared 2-core machine,
    // and a fixed thread count keeps CPU results bit-identical.
    tch::set_num_threads(1);
    GLOBAL_RNG.lock().unwrap_or_else(|e| e.into_inner())
}

const SIDE: usize = 16;
const N_CLASSES: i64 = 4;

/// SplitMix64, so the synthetic images do not depend on libtorch's generator.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u = self.uniform().max(1e-300);
        (-2.0 * u.ln()).sqrt() * (2.0 * PI * self.uniform()).cos()
    }
}

/// One 16×16 image of `class` in [0, 1]: 0 horizontal bars, 1 vertical bars, 2 a centred blob,
/// 3 a ring; random period, phase, width, radius and centre, plus Gaussian noise of σ = 0.1.
fn pattern(class: i64, rng: &mut Rng) -> Vec<f32> {
    let s = SIDE as f64;
    let period = if rng.uniform() < 0.5 { 4.0 } else { 6.0 };
    let phase = rng.range(0.0, period);
    let (cy, cx) = (
        s / 2.0 - 0.5 + rng.range(-1.0, 1.0),
        s / 2.0 - 0.5 + rng.range(-1.0, 1.0),
    );
    let width = rng.range(1.5, 2.5);
    let radius = rng.range(4.0, 6.0);
    let mut out = Vec::with_capacity(SIDE * SIDE);
    for r in 0..SIDE {
        for c in 0..SIDE {
            let (y, x) = (r as f64, c as f64);
            let d = ((y - cy).powi(2) + (x - cx).powi(2)).sqrt();
            let p = match class {
                0 => f64::from(u8::from((y + phase) % period < period / 2.0)),
                1 => f64::from(u8::from((x + phase) % period < period / 2.0)),
                2 => (-d * d / (2.0 * width * width)).exp(),
                _ => (-(d - radius).powi(2) / (2.0 * 0.8 * 0.8)).exp(),
            };
            let v = 0.1 + 0.8 * p + 0.1 * rng.normal();
            out.push(v.clamp(0.0, 1.0) as f32);
        }
    }
    out
}

/// `n` images `[n, 1, 16, 16]` with labels `[n]` cycling through the classes.
fn synthetic(n: usize, seed: u64) -> (Tensor, Tensor) {
    let mut rng = Rng(seed);
    let labels: Vec<i64> = (0..n as i64).map(|i| i % N_CLASSES).collect();
    let pixels: Vec<f32> = labels.iter().flat_map(|&k| pattern(k, &mut rng)).collect();
    let images = Tensor::from_slice(&pixels).reshape([n as i64, 1, SIDE as i64, SIDE as i64]);
    (images, Tensor::from_slice(&labels))
}

fn tiny() -> ClassifierConfig {
    ClassifierConfig::tiny(SIDE as i64, N_CLASSES)
}

#[test]
fn learns_the_synthetic_task() -> Result<()> {
    let _g = serial();
    let (x, y) = synthetic(256, 1);
    let (x_test, y_test) = synthetic(200, 2);
    let t0 = std::time::Instant::now();
    let (clf, report) = train_classifier(&x, Some(&y), &tiny(), Device::Cpu)?;
    let secs = t0.elapsed().as_secs_f64();
    let acc = clf.accuracy(&x_test, Some(&y_test))?;
    println!(
        "synthetic: test accuracy {acc:.3}, train accuracy {:.3}, final loss {:.3}, {secs:.2} s",
        report.train_accuracy,
        report.final_loss()
    );
    assert!(acc > 0.9, "held-out accuracy {acc}");
    assert_eq!(report.losses.len(), tiny().steps);
    assert!(
        report.final_loss() < report.losses[0] / 2.0,
        "loss {} → {}",
        report.losses[0],
        report.final_loss()
    );

    // Confident, balanced predictions on held-out images of the four classes.
    let conf = class_confidence(&clf, &x_test)?;
    assert_eq!(conf.n_samples, 200);
    assert_eq!(conf.histogram.iter().sum::<usize>(), 200);
    assert!(conf.mean_max_probability > 0.8, "{conf:?}");
    assert!(
        conf.histogram.iter().all(|&h| (35..=65).contains(&h)),
        "{conf:?}"
    );

    // Images of one class are predicted as that class.
    let rings = x_test.index_select(0, &y_test.eq(3).nonzero().squeeze_dim(1));
    let conf = class_confidence(&clf, &rings)?;
    assert!(
        conf.histogram[3] as f64 >= 0.9 * conf.n_samples as f64,
        "{conf:?}"
    );

    // Held-out real images are nearer the training images in feature space than noise is.
    let noise = Tensor::from_slice(
        &(0..200 * SIDE * SIDE)
            .map({
                let mut rng = Rng(9);
                move |_| rng.uniform() as f32
            })
            .collect::<Vec<_>>(),
    )
    .reshape([200, 1, SIDE as i64, SIDE as i64]);
    let fd_real = classifier_frechet_distance(&clf, &x, &x_test)?;
    let fd_noise = classifier_frechet_distance(&clf, &x, &noise)?;
    assert!(
        fd_real * 5.0 < fd_noise,
        "FD to held-out images {fd_real}, to noise {fd_noise}"
    );
    Ok(())
}

fn short(seed: u64) -> ClassifierConfig {
    ClassifierConfig {
        steps: 12,
        seed,
        ..tiny()
    }
}

#[test]
fn same_seed_same_logits() -> Result<()> {
    let _g = serial();
    let (x, y) = synthetic(64, 3);
    let (a, ra) = train_classifier(&x, Some(&y), &short(5), Device::Cpu)?;
    // Something else draws from the global generator in between.
    let _ = Tensor::randn([100], (Kind::Float, Device::Cpu));
    let (b, rb) = train_classifier(&x, Some(&y), &short(5), Device::Cpu)?;
    let (c, _) = train_classifier(&x, Some(&y), &short(6), Device::Cpu)?;
    assert_eq!(ra.losses, rb.losses);
    assert!(
        a.logits(&x)?.equal(&b.logits(&x)?),
        "same seed, different logits"
    );
    assert!(
        !a.logits(&x)?.equal(&c.logits(&x)?),
        "the seed has no effect"
    );
    Ok(())
}

#[test]
fn save_load_round_trip() -> Result<()> {
    let _g = serial();
    let (x, y) = synthetic(64, 4);
    let (clf, report) = train_classifier(&x, Some(&y), &short(1), Device::Cpu)?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("sub").join("clf.safetensors");
    let meta = clf
        .meta()
        .with_report(&report)
        .with_accuracy(0.5, "test: 64 synthetic images");
    clf.save(&path, &meta)?;
    let mut names: Vec<String> = std::fs::read_dir(path.parent().context("parent")?)?
        .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_>>()?;
    names.sort();
    assert_eq!(
        names,
        ["clf.json", "clf.safetensors"],
        "temporary files left over"
    );

    let (back, back_meta) = Classifier::load(&path, Device::Cpu)?;
    assert_eq!(back_meta.parts.len(), 1, "the weights are sealed");
    assert_eq!(back_meta.seal.len(), 64, "a SHA-256 seal");
    let mut unsealed = back_meta.clone();
    unsealed.parts.clear();
    unsealed.seal.clear();
    assert_eq!(unsealed, meta);
    assert_eq!(back.config(), clf.config());
    assert!(back.logits(&x)?.equal(&clf.logits(&x)?), "logits changed");
    assert!(
        back.features(&x)?.equal(&clf.features(&x)?),
        "features changed"
    );

    // A sidecar edited after it was written (here: another architecture) is refused by its seal
    // before any weight is read.
    let mut edited = back_meta.clone();
    edited.config.channels = vec![8, 12];
    std::fs::write(path.with_extension("json"), serde_json::to_string(&edited)?)?;
    let err = Classifier::load(&path, Device::Cpu).expect_err("mismatched sidecar");
    let text = err.to_string();
    assert!(text.contains("clf.json") && text.contains("seal"), "{text}");
    let mut edited = meta.clone();
    edited.config.channels = vec![8, 12];

    // The file name must say safetensors, and a sidecar for another config is refused.
    let err = clf
        .save(&dir.path().join("clf.pt"), &meta)
        .expect_err("wrong extension");
    assert!(err.to_string().contains(".safetensors"), "{err}");
    let err = clf
        .save(&dir.path().join("other.safetensors"), &edited)
        .expect_err("foreign sidecar");
    assert!(matches!(err, Error::CheckpointMismatch { .. }), "{err}");
    Ok(())
}

#[test]
fn outputs_have_the_documented_shapes_at_every_size() -> Result<()> {
    let _g = serial();
    for side in [16, 28, 32, 40] {
        let mut cfg = ClassifierConfig::fashion_mnist(side);
        cfg.channels = vec![4, 8, 8];
        tch::manual_seed(0);
        let clf = Classifier::new(&cfg, Device::Cpu)?;
        let x = Tensor::rand([3, 1, side, side], (Kind::Float, Device::Cpu));
        assert_eq!(clf.logits(&x)?.size(), [3, 10]);
        assert_eq!(clf.features(&x)?.size(), [3, 128]);
        assert!(
            clf.features(&x)?.min().double_value(&[]) >= 0.0,
            "features after ReLU"
        );
        let p = clf.probabilities(&x)?;
        let row_sums = p.sum_dim_intlist(1, false, Kind::Double);
        assert!(row_sums.allclose(
            &Tensor::ones([3], (Kind::Double, Device::Cpu)),
            1e-6,
            1e-6,
            false
        ));
        assert_eq!(clf.predict(&x)?.size(), [3]);
        // A Double batch is accepted and gives the same logits as Float.
        assert!(clf
            .logits(&x.to_kind(Kind::Double))?
            .equal(&clf.logits(&x)?));
    }
    Ok(())
}

/// Runs `f`, expects an error, checks that it is one line and contains `needle`.
fn check<T: std::fmt::Debug>(r: gahb_denoiser::Result<T>, needle: &str) -> Error {
    let err = r.expect_err("bad input should be rejected");
    let text = err.to_string();
    assert!(
        text.contains(needle),
        "{text:?} does not contain {needle:?}"
    );
    assert!(!text.contains('\n'), "{text:?} is not one line");
    err
}

#[test]
fn bad_inputs_are_named() -> Result<()> {
    let _g = serial();
    let cfg = ClassifierConfig { steps: 1, ..tiny() };
    let (x, y) = synthetic(10, 5);
    let train = |x: &Tensor, y: Option<&Tensor>| train_classifier(x, y, &cfg, Device::Cpu);

    let err = check(train(&x, None), "has no labels");
    assert!(matches!(err, Error::MissingLabels { .. }));

    let mut labels: Vec<i64> = Vec::try_from(&y)?;
    labels[7] = 4;
    let err = check(
        train(&x, Some(&Tensor::from_slice(&labels))),
        "label 4 of image 7 is outside 0..4",
    );
    assert!(matches!(
        err,
        Error::LabelOutOfRange {
            index: 7,
            label: 4,
            ..
        }
    ));
    labels[7] = 0;
    labels[2] = -1;
    check(
        train(&x, Some(&Tensor::from_slice(&labels))),
        "label -1 of image 2",
    );

    let err = check(
        train(&x, Some(&y.narrow(0, 0, 9))),
        "9 labels for 10 images",
    );
    assert!(matches!(
        err,
        Error::LabelCountMismatch {
            images: 10,
            labels: 9,
            ..
        }
    ));
    check(
        train(&x, Some(&y.to_kind(Kind::Float))),
        "labels must be an integer tensor, got Float",
    );
    check(train(&x, Some(&y.reshape([2, 5]))), "[2, 5]");

    let bright = x.copy();
    let _ = bright.get(3).get(0).get(4).get(5).fill_(1.5);
    let err = check(train(&bright, Some(&y)), "image 3 holds the value 1.5");
    assert!(matches!(err, Error::ImageValueOutOfRange { image: 3, .. }));
    let dark = x.copy();
    let _ = dark.get(6).get(0).get(0).get(0).fill_(-0.25);
    check(train(&dark, Some(&y)), "image 6 holds the value -0.25");
    let nan = x.copy();
    let _ = nan.get(9).get(0).get(15).get(15).fill_(f64::NAN);
    check(train(&nan, Some(&y)), "image 9 holds the value NaN");
    let inf = x.copy();
    let _ = inf.get(1).get(0).get(2).get(2).fill_(f64::INFINITY);
    check(train(&inf, Some(&y)), "image 1 holds the value inf");

    let empty = Tensor::zeros([0, 1, 16, 16], (Kind::Float, Device::Cpu));
    let none = Tensor::zeros([0], (Kind::Int64, Device::Cpu));
    let err = check(train(&empty, Some(&none)), "the image set is empty");
    assert!(matches!(err, Error::EmptyDataset { .. }));
    check(
        train(&x.narrow(3, 0, 15), Some(&y)),
        "expected shape [n, 1, 16, 16], got [10, 1, 16, 15]",
    );
    check(
        train_classifier(
            &x,
            Some(&y),
            &ClassifierConfig {
                lr: -1.0,
                ..cfg.clone()
            },
            Device::Cpu,
        ),
        "lr: must be finite and > 0, got -1",
    );

    // The evaluation entry points check the same things.
    let (clf, _) = train(&x, Some(&y))?;
    check(
        clf.accuracy(&x, None),
        "Classifier::accuracy: the dataset has no labels",
    );
    check(
        clf.accuracy(&x, Some(&y.narrow(0, 0, 3))),
        "3 labels for 10 images",
    );
    check(
        clf.logits(&nan),
        "Classifier::logits: image 9 holds the value NaN",
    );
    check(clf.features(&bright), "image 3 holds the value 1.5");
    check(clf.probabilities(&empty), "empty");
    check(class_confidence(&clf, &inf), "image 1 holds the value inf");
    Ok(())
}

/// The raw Fashion-MNIST folder at the workspace root.
fn fashion_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../.gahb/datasets/raw/fashion-mnist/usr/share/datasets/fashion-mnist")
}

/// IDX images `[n, 28, 28]` → `[n, 1, 32, 32]` (zero-padded by 2 on each side, as the
/// experiments pad Fashion-MNIST) and labels `[n]`.
fn fashion_split(dir: &std::path::Path, split: &str) -> Result<(Tensor, Tensor)> {
    let images = gahb_data::read_idx_images(dir.join(format!("{split}-images-idx3-ubyte.gz")))?;
    let labels = gahb_data::read_idx_labels(dir.join(format!("{split}-labels-idx1-ubyte.gz")))?;
    let x = gahb_tensor::convert::array_to_tensor(&images)
        .unsqueeze(1)
        .constant_pad_nd([2, 2, 2, 2]);
    let y = Tensor::from_slice(&labels).to_kind(Kind::Int64);
    Ok((x, y))
}

#[test]
fn fashion_mnist_accuracy_slow() -> Result<()> {
    if std::env::var("GAHB_SLOW_TESTS").as_deref() != Ok("1") {
        println!("skipped: set GAHB_SLOW_TESTS=1 to train on Fashion-MNIST");
        return Ok(());
    }
    let dir = fashion_dir();
    let files = ["train", "t10k"].iter().flat_map(|s| {
        [
            dir.join(format!("{s}-images-idx3-ubyte.gz")),
            dir.join(format!("{s}-labels-idx1-ubyte.gz")),
        ]
    });
    let missing: Vec<PathBuf> = files.filter(|f| !f.exists()).collect();
    if !missing.is_empty() {
        println!(
            "skipped: Fashion-MNIST is not fetched (missing {})",
            missing
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok(());
    }
    let _g = serial();
    let device = Device::cuda_if_available();
    let (x, y) = fashion_split(&dir, "train")?;
    let (x_test, y_test) = fashion_split(&dir, "t10k")?;
    let cfg = ClassifierConfig::fashion_mnist(32);
    let (clf, report) = train_classifier(&x, Some(&y), &cfg, device)?;
    let acc = clf.accuracy(&x_test, Some(&y_test))?;
    let conf = class_confidence(&clf, &x_test)?;
    println!(
        "fashion-mnist 32×32 on {device:?}: test accuracy {acc:.4}, train accuracy {:.4}, final \
         loss {:.3}, {} steps in {:.1} s; t10k mean max-probability {:.3}, histogram {:?}",
        report.train_accuracy,
        report.final_loss(),
        report.steps,
        report.seconds,
        conf.mean_max_probability,
        conf.histogram
    );
    let meta: ClassifierMeta = clf
        .meta()
        .with_report(&report)
        .with_accuracy(acc, "fashion-mnist t10k, 10000 images");
    let out = tempfile::tempdir()?;
    clf.save(&out.path().join("fashion.safetensors"), &meta)?;
    assert!(acc >= 0.85, "test accuracy {acc}");
    Ok(())
}
