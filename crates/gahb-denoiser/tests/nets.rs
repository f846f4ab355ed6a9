//! Architecture tests: parameter counts and names (paper §1), bias-free identities (§1) and the exact
//! linearization against autograd (§5).

use anyhow::Result;
use gahb_denoiser::{BfCnnConfig, Mode, Model, ModelConfig, UNetConfig};
use gahb_tensor::Denoiser;
use tch::{Device, Kind, Tensor};

/// Gives a fresh model non-trivial gammas and running statistics, so outputs are O(1).
fn randomise(model: &Model) {
    tch::no_grad(|| {
        for (name, mut t) in model.named_variables() {
            if name.ends_with(".gammas") {
                let g = Tensor::rand(t.size(), (Kind::Float, Device::Cpu)) + 0.5;
                t.copy_(&g);
            }
        }
    });
    for _ in 0..3 {
        let y = Tensor::rand([4, 1, 16, 16], (Kind::Float, Device::Cpu));
        let _ = tch::no_grad(|| model.residual(&y, Mode::Train)).expect("train forward");
    }
}

fn tiny_models() -> Vec<Model> {
    // One libtorch thread: OpenMP spin-waits make 2 threads much slower on a shared 2-core machine.
    tch::set_num_threads(1);
    tch::manual_seed(0);
    let configs = [
        ModelConfig::UNet(UNetConfig::tiny()),
        ModelConfig::BfCnn(BfCnnConfig::tiny()),
    ];
    configs
        .iter()
        .map(|c| {
            let m = Model::new(c, Device::Cpu).expect("model");
            randomise(&m);
            m
        })
        .collect()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

fn max_abs(a: &Tensor) -> f64 {
    a.abs().max().double_value(&[])
}

#[test]
fn unet_80x80_has_the_paper_parameter_count() -> Result<()> {
    tch::manual_seed(0);
    let m = Model::new(&ModelConfig::UNet(UNetConfig::paper_80x80()), Device::Cpu)?;
    let c = m.param_counts();
    assert_eq!(c.conv_weights, 7_656_576);
    assert_eq!(c.bn_gammas, 2_688);
    assert_eq!(c.trainable, 7_656_576 + 2_688);
    assert_eq!(c.buffers, 2_688);
    Ok(())
}

#[test]
fn bf_cnn_has_the_paper_parameter_count() -> Result<()> {
    tch::manual_seed(0);
    let m = Model::new(&ModelConfig::BfCnn(BfCnnConfig::paper()), Device::Cpu)?;
    assert_eq!(m.param_counts().trainable, 702_784);
    Ok(())
}

#[test]
fn table_1_block_counts_and_parameter_counts() -> Result<()> {
    // Table 1 of the paper, as counted from the reference code: 366k and 1.825M at 20² and 40² (counted by hand: conv weights plus gammas).
    for (size, blocks, params) in [(20, 1, 366_080i64), (40, 2, 1_825_024)] {
        let cfg = UNetConfig::for_resolution(size)?;
        assert_eq!(cfg.n_blocks, blocks);
        let m = Model::new(&ModelConfig::UNet(cfg), Device::Cpu)?;
        let c = m.param_counts();
        assert_eq!(c.trainable, params, "size {size}: {c:?}");
    }
    assert_eq!(UNetConfig::for_resolution(160)?.n_blocks, 4);
    assert!(UNetConfig::for_resolution(64).is_err());
    Ok(())
}

#[test]
fn variable_names_follow_the_reference_state_dict() -> Result<()> {
    let m = Model::new(&ModelConfig::UNet(UNetConfig::tiny()), Device::Cpu)?;
    let names: Vec<String> = m.named_variables().into_iter().map(|(n, _)| n).collect();
    for key in [
        "encoder.0.0.weight",
        "encoder.0.2.weight",
        "encoder.0.3.gammas",
        "encoder.0.3.running_sd",
        "encoder.1.0.weight",
        "encoder.1.1.gammas",
        "encoder.1.3.weight",
        "encoder.1.4.running_sd",
        "mid_block.0.weight",
        "mid_block.4.gammas",
        "upsample.1.weight",
        "upsample.0.weight",
        "decoder.1.0.weight",
        "decoder.1.4.gammas",
        "decoder.0.0.weight",
        "decoder.0.1.gammas",
        "decoder.0.3.weight",
    ] {
        assert!(names.iter().any(|n| n == key), "missing {key} in {names:?}");
    }
    let b = Model::new(&ModelConfig::BfCnn(BfCnnConfig::tiny()), Device::Cpu)?;
    let names: Vec<String> = b.named_variables().into_iter().map(|(n, _)| n).collect();
    for key in [
        "conv_layers.0.weight",
        "conv_layers.4.weight",
        "BN_layers.0.gammas",
        "BN_layers.2.running_sd",
    ] {
        assert!(names.iter().any(|n| n == key), "missing {key} in {names:?}");
    }
    // Reference shapes: gammas [1, c, 1, 1], ConvTranspose2d [in, out, 2, 2].
    let vars = m.var_store().variables();
    assert_eq!(vars["encoder.0.3.gammas"].size(), [1, 8, 1, 1]);
    assert_eq!(vars["upsample.1.weight"].size(), [32, 16, 2, 2]);
    Ok(())
}

#[test]
fn bad_configs_are_rejected() {
    let mut c = UNetConfig::tiny();
    c.image_size = 18;
    let e = Model::new(&ModelConfig::UNet(c), Device::Cpu).expect_err("18 is not divisible by 4");
    assert!(e.to_string().contains("divisible"), "{e}");
    let mut c = UNetConfig::tiny();
    c.base_channels = 0;
    assert!(Model::new(&ModelConfig::UNet(c), Device::Cpu).is_err());
    assert!(Model::new(&ModelConfig::BfCnn(BfCnnConfig::with(1, 8)), Device::Cpu).is_err());
    let toml_bad = "arch = \"unet\"\nn_blocks = 2\nbase_channels = 8\nimage_channels = 1\nimage_size = 16\nkernel_size = 3\nwidth = 4\n";
    assert!(toml::from_str::<ModelConfig>(toml_bad).is_err());
    let toml_ok = toml_bad.replace("width = 4\n", "");
    assert_eq!(
        toml::from_str::<ModelConfig>(&toml_ok).expect("parse"),
        ModelConfig::UNet(UNetConfig::tiny())
    );
}

#[test]
fn denoise_rejects_wrong_input_shapes() {
    let m = &tiny_models()[0];
    assert!(m
        .denoise(&Tensor::zeros([2, 1, 18, 16], (Kind::Float, Device::Cpu)))
        .is_err());
    assert!(m
        .denoise(&Tensor::zeros([2, 3, 16, 16], (Kind::Float, Device::Cpu)))
        .is_err());
    assert!(m
        .denoise(&Tensor::zeros([16, 16], (Kind::Float, Device::Cpu)))
        .is_err());
    let y = Tensor::zeros([2, 1, 16, 16], (Kind::Float, Device::Cpu));
    assert!(m.linearized(&y, &y).is_err(), "y must be a single image");
}

#[test]
fn networks_are_bias_free_and_homogeneous() -> Result<()> {
    for m in tiny_models() {
        assert!(m.is_bias_free());
        let y = Tensor::rand([3, 1, 16, 16], (Kind::Float, Device::Cpu));
        let f = m.denoise(&y)?;
        for a in [0.1, 2.5, 17.0] {
            let fa = m.denoise(&(&y * a))?;
            let err = max_abs_diff(&fa, &(&f * a));
            assert!(
                err <= 1e-5 * a * max_abs(&f).max(1.0),
                "{}: a = {a}, err {err}",
                m.name()
            );
        }
        // Zero in, zero out (no bias anywhere).
        assert_eq!(
            max_abs(&m.denoise(&Tensor::zeros([1, 1, 16, 16], (Kind::Float, Device::Cpu)))?),
            0.0
        );
    }
    Ok(())
}

#[test]
fn linearization_reproduces_the_output() -> Result<()> {
    // f(y) = ∇f(y)·y for a piecewise-linear bias-free net (paper §1).
    for m in tiny_models() {
        let y = Tensor::rand([1, 1, 16, 16], (Kind::Float, Device::Cpu));
        let f = m.denoise(&y)?;
        let jy = m.linearized(&y, &y)?.expect("bias-free nets linearize");
        let err = max_abs_diff(&f, &jy);
        assert!(err < 1e-5 * max_abs(&f), "{}: err {err}", m.name());
    }
    Ok(())
}

#[test]
fn linearization_matches_autograd() -> Result<()> {
    // Check Uᵀ (∇f·V) = (∇fᵀ U)ᵀ V for 6 random u and 5 random v, with ∇fᵀ u from tch backward.
    for m in tiny_models() {
        let y = Tensor::rand([1, 1, 16, 16], (Kind::Float, Device::Cpu));
        let v = Tensor::randn([5, 1, 16, 16], (Kind::Float, Device::Cpu));
        let jv = m.linearized(&y, &v)?.expect("linearize").reshape([5, 256]);
        for _ in 0..6 {
            let u = Tensor::randn([1, 1, 16, 16], (Kind::Float, Device::Cpu));
            let yg = y.copy().set_requires_grad(true);
            let f = &yg - m.residual(&yg, Mode::Eval)?;
            (&f * &u).sum(Kind::Float).backward();
            let jtu = yg.grad().reshape([256, 1]); // ∇fᵀ u
            let lhs = jv.matmul(&u.reshape([256, 1])); // [5, 1]
            let rhs = v.reshape([5, 256]).matmul(&jtu);
            let err = max_abs_diff(&lhs, &rhs);
            assert!(
                err < 1e-4 * max_abs(&rhs).max(1.0),
                "{}: err {err}",
                m.name()
            );
        }
    }
    Ok(())
}
