//! Training and checkpoint tests (paper §2): exact resume, NaN handling, config and checkpoint errors.

use anyhow::Result;
use gahb_denoiser::checkpoint::{self, CheckpointMeta};
use gahb_denoiser::{
    noise_loss, train, Error, LossWeight, LrSchedule, Model, ModelConfig, RunOptions, ScheduleUnit,
    TrainConfig, UNetConfig,
};
use tch::{Device, Kind, Tensor};

/// libtorch's global generator is shared by the tests of this binary, which run on parallel
/// threads; training reseeds and draws from it, so exact-replay tests must not interleave.
static GLOBAL_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    GLOBAL_RNG.lock().unwrap_or_else(|e| e.into_inner())
}

fn tiny_config(steps: usize) -> TrainConfig {
    TrainConfig {
        batch_size: 4,
        epochs: None,
        steps: Some(steps),
        epoch_images: None,
        lr: 1e-3,
        lr_gamma: 0.5,
        lr_milestones: vec![3, 6],
        milestone_unit: ScheduleUnit::Steps,
        sigma_max: 1.0,
        seed: 7,
        ..TrainConfig::default()
    }
}

/// 10 smooth-ish 16×16 images in [0, 1] (a random low-resolution image, upsampled).
fn data() -> Tensor {
    // One libtorch thread: OpenMP spin-waits make 2 threads 5-10x slower on a shared 2-core machine.
    tch::set_num_threads(1);
    tch::manual_seed(123);
    Tensor::rand([10, 1, 4, 4], (Kind::Float, Device::Cpu)).upsample_nearest2d([16, 16], None, None)
}

fn model(init_seed: i64) -> Model {
    tch::manual_seed(init_seed);
    Model::new(&ModelConfig::UNet(UNetConfig::tiny()), Device::Cpu).expect("model")
}

fn opts(ckpt: Option<std::path::PathBuf>, stop_after: Option<usize>) -> RunOptions<'static> {
    RunOptions {
        checkpoint: ckpt,
        resume: true,
        data_split: "test: 10 random images".into(),
        git_revision: Some("test".into()),
        stop_after,
        ..RunOptions::default()
    }
}

fn max_param_diff(a: &Model, b: &Model) -> f64 {
    let (va, vb) = (a.named_variables(), b.named_variables());
    assert_eq!(va.len(), vb.len());
    va.iter()
        .zip(&vb)
        .map(|((na, ta), (nb, tb))| {
            assert_eq!(na, nb);
            (ta - tb).abs().max().double_value(&[])
        })
        .fold(0.0, f64::max)
}

#[test]
fn resumed_training_equals_uninterrupted_training() -> Result<()> {
    let _serial = serial();
    let x = data();
    let cfg = tiny_config(8);
    // Uninterrupted: 8 steps (epochs of 3 steps, the last batch of each epoch has 2 images).
    let mut a = model(0);
    let ra = train(&mut a, &x, &cfg, opts(None, None))?;
    assert_eq!(ra.end_step, 8);
    assert_eq!(ra.plan.steps_per_epoch, 3);
    // Interrupted after 4 steps, then resumed into a model initialised differently.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("run/model.safetensors");
    let mut b = model(0);
    let rb = train(&mut b, &x, &cfg, opts(Some(path.clone()), Some(4)))?;
    assert_eq!(rb.end_step, 4);
    assert!(path.exists() && checkpoint::sidecar_path(&path).exists());
    assert_eq!(checkpoint::read_meta(&path)?.step, 4);
    let mut c = model(99);
    assert!(max_param_diff(&a, &c) > 1e-3, "different init must differ");
    let rc = train(&mut c, &x, &cfg, opts(Some(path.clone()), None))?;
    assert_eq!((rc.start_step, rc.end_step), (4, 8));
    // Losses of the resumed half equal those of the uninterrupted run, and so do the parameters and
    // the BN running_sd buffers.
    for ((sa, la), (sc, lc)) in ra.losses[4..].iter().zip(&rc.losses) {
        assert_eq!(sa, sc);
        assert!(
            (la - lc).abs() <= 1e-5 * la.abs(),
            "step {sa}: {la} vs {lc}"
        );
    }
    let d = max_param_diff(&a, &c);
    assert!(d <= 1e-6, "max parameter difference {d}");
    // The sidecar records config, seed, split and revision.
    let meta = checkpoint::read_meta(&path)?;
    assert_eq!(meta.step, 8);
    assert_eq!(meta.seed, Some(7));
    assert_eq!(meta.git_revision.as_deref(), Some("test"));
    assert_eq!(meta.train.as_ref(), Some(&cfg));
    assert!(meta.has_optimizer);
    Ok(())
}

#[test]
fn training_reduces_the_loss() -> Result<()> {
    let _serial = serial();
    let x = data();
    let mut m = model(0);
    let mut losses = Vec::new();
    let mut cfg = tiny_config(20);
    cfg.lr = 1e-2;
    cfg.lr_milestones = vec![];
    let run = RunOptions {
        on_step: Some(Box::new(|s| losses.push(s.loss))),
        ..opts(None, None)
    };
    let report = train(&mut m, &x, &cfg, run)?;
    assert_eq!(losses.len(), 20);
    let first: f64 = losses[..5].iter().sum::<f64>() / 5.0;
    let last: f64 = losses[15..].iter().sum::<f64>() / 5.0;
    assert!(last < 0.7 * first, "loss {first} -> {last}");
    assert!(report.images_per_sec > 0.0);
    Ok(())
}

#[test]
fn nan_loss_stops_with_the_step_and_keeps_the_checkpoint() -> Result<()> {
    let _serial = serial();
    let x = data();
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("model.safetensors");
    let mut m = model(0);
    train(&mut m, &x, &tiny_config(4), opts(Some(path.clone()), None))?;
    let before = std::fs::read(&path)?;
    // The same data with one NaN pixel in every image: the first resumed step fails.
    let bad = x.copy();
    let _ = bad.narrow(2, 0, 1).narrow(3, 0, 1).fill_(f64::NAN);
    let err = train(
        &mut m,
        &bad,
        &tiny_config(8),
        opts(Some(path.clone()), None),
    )
    .expect_err("nan");
    match &err {
        Error::NonFiniteLoss {
            step,
            last_checkpoint,
            ..
        } => {
            assert_eq!(*step, 4);
            assert_eq!(last_checkpoint.as_deref(), Some(path.as_path()));
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(err.to_string().contains("step 4"), "{err}");
    assert_eq!(
        std::fs::read(&path)?,
        before,
        "the good checkpoint is untouched"
    );
    assert_eq!(checkpoint::read_meta(&path)?.step, 4);
    Ok(())
}

#[test]
fn bad_train_configs_give_clear_errors() {
    let _serial = serial();
    let check = |cfg: TrainConfig, field: &str| {
        let e = cfg.validate().expect_err(field);
        assert!(e.to_string().contains(field), "{e}");
        assert!(!e.to_string().contains('\n'));
    };
    check(
        TrainConfig {
            sigma_max: 0.0,
            ..tiny_config(1)
        },
        "sigma_max",
    );
    check(
        TrainConfig {
            sigma_max: -1.0,
            ..tiny_config(1)
        },
        "sigma_max",
    );
    check(
        TrainConfig {
            batch_size: 0,
            ..tiny_config(1)
        },
        "batch_size",
    );
    check(
        TrainConfig {
            epochs: Some(3),
            ..tiny_config(1)
        },
        "epochs/steps",
    );
    check(
        TrainConfig {
            steps: Some(0),
            ..tiny_config(1)
        },
        "steps",
    );
    check(
        TrainConfig {
            lr_milestones: vec![5, 3],
            ..tiny_config(1)
        },
        "lr_milestones",
    );
    for bad in [0.0, -0.1, f64::NAN] {
        check(
            TrainConfig {
                loss_weight: LossWeight::InversePower {
                    power: 1.0,
                    floor: bad,
                },
                ..tiny_config(1)
            },
            "loss_weight.floor",
        );
        check(
            TrainConfig {
                loss_weight: LossWeight::InversePower {
                    power: bad,
                    floor: 0.01,
                },
                ..tiny_config(1)
            },
            "loss_weight.power",
        );
    }
    TrainConfig::default()
        .validate()
        .expect("the paper's config is valid");
    // TOML round trip; unknown keys are rejected.
    let text = toml::to_string(&tiny_config(3)).expect("toml");
    assert_eq!(
        toml::from_str::<TrainConfig>(&text).expect("parse"),
        tiny_config(3)
    );
    assert!(toml::from_str::<TrainConfig>(&format!("{text}\nlearning_rate = 1.0\n")).is_err());
}

#[test]
fn paper_schedule_halves_the_rate_every_100_epochs() -> Result<()> {
    let _serial = serial();
    let cfg = TrainConfig::default();
    let plan = cfg.plan(99_325)?;
    assert_eq!(plan.tiles, 2);
    assert_eq!(plan.steps_per_epoch, (2 * 99_325usize).div_ceil(512));
    assert_eq!(plan.total_steps, 1000 * plan.steps_per_epoch);
    assert_eq!(cfg.lr_at(&plan, 0), 1e-3);
    assert_eq!(cfg.lr_at(&plan, 100 * plan.steps_per_epoch - 1), 1e-3);
    assert_eq!(cfg.lr_at(&plan, 100 * plan.steps_per_epoch), 5e-4);
    assert!((cfg.lr_at(&plan, plan.total_steps - 1) - 1e-3 / 512.0).abs() < 1e-12);
    // N = 1 is tiled 250,000 times per epoch.
    assert_eq!(cfg.plan(1)?.tiles, 250_000);
    Ok(())
}

#[test]
fn mismatched_checkpoints_are_rejected() -> Result<()> {
    let _serial = serial();
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("m.safetensors");
    let m = model(0);
    checkpoint::save(
        &path,
        &m,
        &CheckpointMeta::new(&m, None, "none", None, 0),
        None,
    )?;
    // Same architecture: loads, and the loaded weights are the saved ones (running_sd included).
    let (loaded, meta) = checkpoint::load(&path, Device::Cpu)?;
    assert_eq!(meta.step, 0);
    assert_eq!(max_param_diff(&m, &loaded), 0.0);
    // A wider UNet: the sidecar's architecture differs.
    let wide_cfg = UNetConfig {
        base_channels: 16,
        ..UNetConfig::tiny()
    };
    let mut wide = Model::new(&ModelConfig::UNet(wide_cfg), Device::Cpu)?;
    let e = checkpoint::load_into(&mut wide, &path).expect_err("architecture");
    assert!(e.to_string().contains("architecture differs"), "{e}");
    // Weights alone: names and shapes are checked.
    let e = checkpoint::load_weights(&mut wide, &path).expect_err("shapes");
    assert!(e.to_string().contains("has shape"), "{e}");
    // A file name that is not .safetensors is refused.
    let e = checkpoint::save(&dir.path().join("m.pt"), &m, &meta, None).expect_err("extension");
    assert!(e.to_string().contains(".safetensors"), "{e}");
    Ok(())
}

/// Two images with known per-image squared errors: 4 pixels of error 0.1 at σ = 0.005, and
/// 4 pixels of error 1 at σ = 0.5. The unweighted loss is the batch mean of the sums; the weighted
/// one divides each sum by max(σ, floor)^power first.
#[test]
fn the_loss_weights_each_image_by_its_noise_level() -> Result<()> {
    let noise = Tensor::zeros([2, 1, 2, 2], (Kind::Float, Device::Cpu));
    let residual = Tensor::cat(
        &[
            Tensor::full([1, 1, 2, 2], 0.1, (Kind::Float, Device::Cpu)),
            Tensor::full([1, 1, 2, 2], 1.0, (Kind::Float, Device::Cpu)),
        ],
        0,
    );
    let sigma = Tensor::from_slice(&[0.005f32, 0.5]).reshape([2, 1, 1, 1]);
    let (e0, e1) = (4.0 * 0.01, 4.0 * 1.0);
    let plain = noise_loss(&residual, &noise, &sigma, LossWeight::None)?.double_value(&[]);
    assert!((plain - (e0 + e1) / 2.0).abs() < 1e-6, "{plain}");
    let floor: f64 = 0.01;
    for power in [1.0, 2.0] {
        let weighted = noise_loss(
            &residual,
            &noise,
            &sigma,
            LossWeight::InversePower { power, floor },
        )?
        .double_value(&[]);
        let want = (e0 / floor.powf(power) + e1 / 0.5f64.powf(power)) / 2.0;
        assert!(
            (weighted - want).abs() < 1e-4 * want,
            "power {power}: {weighted} vs {want}"
        );
    }
    Ok(())
}

/// The paper's loss serialises without a `loss_weight` key, so the content keys of models cached
/// before the option existed stay valid; the weighted one round-trips through TOML.
#[test]
fn the_loss_weight_is_serialised_only_when_set() {
    let plain = toml::to_string(&tiny_config(3)).expect("toml");
    assert!(!plain.contains("loss_weight"), "{plain}");
    let weighted = TrainConfig {
        loss_weight: LossWeight::InversePower {
            power: 1.0,
            floor: 0.01,
        },
        ..tiny_config(3)
    };
    let text = toml::to_string(&weighted).expect("toml");
    assert!(text.contains("inverse_power"), "{text}");
    assert_eq!(
        toml::from_str::<TrainConfig>(&text).expect("parse"),
        weighted
    );
}

#[test]
fn the_cosine_schedule_warms_up_then_decays_to_its_final_fraction() -> Result<()> {
    let cfg = TrainConfig {
        schedule: LrSchedule::Cosine {
            warmup: 9,
            final_fraction: 0.1,
        },
        ..tiny_config(110)
    };
    let plan = cfg.plan(10)?;
    let lr = |s| cfg.lr_at(&plan, s);
    assert!((lr(0) - 1e-4).abs() < 1e-15, "{}", lr(0));
    assert!((lr(8) - 9e-4).abs() < 1e-15, "{}", lr(8));
    assert!((lr(9) - 1e-3).abs() < 1e-15, "peak {}", lr(9));
    // Halfway through the decay, the mean of peak and floor; at the last step, the floor.
    assert!((lr(9 + 50) - 0.55e-3).abs() < 1e-12, "{}", lr(59));
    assert!((lr(109) - 1e-4).abs() < 1e-15, "{}", lr(109));
    assert!((1..110).all(|s| s < 10 || lr(s) <= lr(s - 1)));
    // A cosine run cannot be extended (its decay depends on the length); a milestone run can.
    assert!(!cfg.same_training_as(&TrainConfig {
        steps: Some(220),
        ..cfg.clone()
    }));
    assert!(tiny_config(8).same_training_as(&tiny_config(16)));
    let bad = TrainConfig {
        schedule: LrSchedule::Cosine {
            warmup: 0,
            final_fraction: 1.5,
        },
        ..tiny_config(8)
    };
    assert!(bad
        .validate()
        .expect_err("fraction")
        .to_string()
        .contains("final_fraction"));
    for (ema, clip) in [(Some(1.0), None), (Some(0.0), None), (None, Some(0.0))] {
        let bad = TrainConfig {
            ema,
            clip_grad_norm: clip,
            ..tiny_config(8)
        };
        let e = bad.validate().expect_err("bad lever").to_string();
        assert!(e.contains("ema") || e.contains("clip_grad_norm"), "{e}");
    }
    // Neither lever changes the serialised paper config (so cache keys stay).
    let text = serde_json::to_string(&tiny_config(8))?;
    assert!(!text.contains("schedule") && !text.contains("ema") && !text.contains("clip"));
    Ok(())
}

#[test]
fn a_weight_average_resumes_exactly_and_is_the_model_returned() -> Result<()> {
    let _serial = serial();
    let x = data();
    let cfg = TrainConfig {
        ema: Some(0.9),
        clip_grad_norm: Some(5.0),
        lr: 1e-2,
        ..tiny_config(8)
    };
    let mut a = model(0);
    train(&mut a, &x, &cfg, opts(None, None))?;
    // The same run without the average ends elsewhere: the returned model is the average.
    let mut raw = model(0);
    train(
        &mut raw,
        &x,
        &TrainConfig {
            ema: None,
            ..cfg.clone()
        },
        opts(None, None),
    )?;
    assert!(
        max_param_diff(&a, &raw) > 1e-4,
        "the average equals the last iterate"
    );
    // Interrupted at 4 (with an intermediate checkpoint at 2), resumed into another init.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("m.safetensors");
    let mut b = model(0);
    let every = RunOptions {
        checkpoint_every: 2,
        ..opts(Some(path.clone()), Some(4))
    };
    train(&mut b, &x, &cfg, every)?;
    let (saved, _) = checkpoint::load(&path, Device::Cpu)?;
    assert_eq!(
        max_param_diff(&b, &saved),
        0.0,
        "the file holds the returned model"
    );
    let mut c = model(99);
    train(&mut c, &x, &cfg, opts(Some(path.clone()), None))?;
    let d = max_param_diff(&a, &c);
    assert!(d <= 1e-6, "max parameter difference {d}");
    // Resuming a finished run trains nothing and returns the same average.
    let mut e = model(5);
    let re = train(&mut e, &x, &cfg, opts(Some(path.clone()), None))?;
    assert_eq!(re.start_step, re.end_step);
    assert_eq!(max_param_diff(&a, &e), 0.0);
    Ok(())
}

#[test]
fn gradient_clipping_rescales_to_the_given_norm() -> Result<()> {
    let _serial = serial();
    let p = Tensor::from_slice(&[1.0f32, 2.0, 2.0]).set_requires_grad(true);
    let mut adam =
        gahb_denoiser::Adam::new(vec![("p".into(), p.shallow_clone())], (0.9, 0.999), 1e-8)?;
    // d/dp of sum(p²)·0.5·... : gradient (3, 6, 6), norm 9.
    (p.square().sum(Kind::Float) * 1.5).backward();
    let before = adam.clip_grad_norm(3.0)?;
    assert!((before - 9.0).abs() < 1e-5, "{before}");
    let g = p.grad();
    let norm = g.square().sum(Kind::Double).double_value(&[]).sqrt();
    assert!((norm - 3.0).abs() < 1e-5, "{norm}");
    assert!((g.double_value(&[0]) - 1.0).abs() < 1e-5);
    // Under the limit: untouched.
    assert!((adam.clip_grad_norm(10.0)? - 3.0).abs() < 1e-5);
    assert!((p.grad().double_value(&[1]) - 2.0).abs() < 1e-5);
    Ok(())
}
