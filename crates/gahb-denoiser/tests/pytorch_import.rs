//! PyTorch import tests: real `torch.save` state_dicts (made by
//! `tests/fixtures/pytorch/make_fixture.py` with torch 2.11.0) load into the UNet and BF-CNN of
//! paper §1, reproduce PyTorch's eval outputs and Jacobian (§5), and bad or malicious files are
//! refused with a message that names the key or the global.

use std::path::{Path, PathBuf};

use anyhow::Result;
use gahb_denoiser::pytorch::{import_state_dict, load_state_dict, read_state_dict, Imported};
use gahb_denoiser::{net, BfCnnConfig, Error, Mode, Model, ModelConfig, UNetConfig};
use tch::{Device, Kind, Tensor};

const TOL: f64 = 1e-5;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pytorch")
        .join(name)
}

/// The tensors `make_fixture.py` computed with PyTorch.
fn expected(name: &str) -> Tensor {
    // One libtorch thread: OpenMP spin-waits make 2 threads much slower on a shared 2-core machine.
    tch::set_num_threads(1);
    let all =
        Tensor::read_safetensors(fixture("expected.safetensors")).expect("expected.safetensors");
    all.into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| t)
        .unwrap_or_else(|| panic!("no {name} in expected.safetensors"))
}

fn import(name: &str) -> Imported {
    import_state_dict(&fixture(name), 16, Device::Cpu).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

/// The residual of `model` in eval mode at the fixed inputs x, against PyTorch's `name`.
fn check_outputs(model: &Model, name: &str) {
    let x = expected("x");
    let ours = tch::no_grad(|| model.residual(&x, Mode::Eval)).expect("forward");
    let diff = max_abs_diff(&ours, &expected(name));
    assert!(diff < TOL, "{name}: max abs difference {diff}");
}

/// The error message of importing fixture `name` (it must fail).
fn import_error(name: &str) -> String {
    let err = import_state_dict(&fixture(name), 16, Device::Cpu).expect_err(name);
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "one line: {msg}");
    msg
}

#[test]
fn unet_matches_pytorch_outputs() {
    let imp = import("unet.pt");
    assert_eq!(imp.config, ModelConfig::UNet(UNetConfig::tiny()));
    assert_eq!(imp.model.config(), &imp.config);
    assert!(!imp.stripped_prefix);
    // Encoder blocks of 4 and 6 tensors, mid 6, 2 upsamples, decoder blocks of 6 and 4.
    assert_eq!(imp.n_tensors, 28);
    assert_eq!(imp.param_counts, imp.model.param_counts());
    check_outputs(&imp.model, "unet_out");
}

#[test]
fn unet_jacobian_matches_pytorch() -> Result<()> {
    let imp = import("unet.pt");
    let x0 = expected("x").narrow(0, 0, 1); // [1, 1, 16, 16]
    let n = 256;
    let basis = Tensor::eye(n, (Kind::Float, Device::Cpu)).view([n, 1, 16, 16]);
    // Row j of `rows` is (I − J_r) e_j, so J_r = (I − rows)ᵀ.
    let rows: Vec<Tensor> = (0..n)
        .step_by(64)
        .map(|j| net::linearized_jvp(&imp.model, &x0, &basis.narrow(0, j, 64)))
        .collect::<gahb_denoiser::Result<_>>()?;
    let rows = Tensor::cat(&rows, 0).view([n, n]);
    let jac = (Tensor::eye(n, (Kind::Float, Device::Cpu)) - rows).tr();
    let want = expected("unet_jacobian");
    assert_eq!(want.size(), [n, n]);
    let diff = max_abs_diff(&jac, &want);
    assert!(diff < TOL, "Jacobian max abs difference {diff}");
    Ok(())
}

#[test]
fn data_parallel_prefix_is_stripped() {
    let plain = import("unet.pt");
    let imp = import("unet_dataparallel.pt");
    assert!(imp.stripped_prefix);
    assert_eq!(imp.config, plain.config);
    for ((a, ta), (b, tb)) in plain
        .model
        .named_variables()
        .iter()
        .zip(imp.model.named_variables().iter())
    {
        assert_eq!(a, b);
        assert!(ta.equal(tb), "{a} differs");
    }
    check_outputs(&imp.model, "unet_out");
}

#[test]
fn bfcnn_matches_pytorch_in_every_encoding() {
    for name in ["bfcnn.pt", "bfcnn_keep_vars.pt", "bfcnn_protocol5.pt"] {
        let imp = import(name);
        assert_eq!(
            imp.config,
            ModelConfig::BfCnn(BfCnnConfig::tiny()),
            "{name}"
        );
        assert_eq!(imp.n_tensors, 5 + 2 * 3, "{name}");
        check_outputs(&imp.model, "bfcnn_out");
    }
    // float16 weights are converted to float32.
    let imp = import("bfcnn_half.pt");
    check_outputs(&imp.model, "bfcnn_half_out");
}

#[test]
fn load_state_dict_fills_an_existing_model() -> Result<()> {
    tch::manual_seed(0);
    let mut model = Model::new(&ModelConfig::BfCnn(BfCnnConfig::tiny()), Device::Cpu)?;
    assert!(!load_state_dict(&mut model, &fixture("bfcnn.pt"))?);
    check_outputs(&model, "bfcnn_out");
    // The wrong architecture is a mismatch that names keys.
    let mut unet = Model::new(&ModelConfig::UNet(UNetConfig::tiny()), Device::Cpu)?;
    let err = load_state_dict(&mut unet, &fixture("bfcnn.pt")).expect_err("bf-cnn into unet");
    assert!(
        err.to_string().contains("missing decoder.0.0.weight"),
        "{err}"
    );
    Ok(())
}

#[test]
fn strided_views_and_dtypes_are_read_exactly() -> Result<()> {
    let sd = read_state_dict(&fixture("views.pt"))?;
    let keys: Vec<&str> = sd.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["t", "s", "c", "h", "bf", "i", "b"]);
    let get = |k: &str| &sd.iter().find(|(n, _)| n == k).expect("key").1;
    for k in ["t", "s", "c"] {
        let want = expected(&format!("views.{k}"));
        assert_eq!(get(k).kind(), Kind::Double);
        assert!(get(k).is_contiguous());
        assert!(get(k).equal(&want), "views.{k}");
    }
    assert_eq!(get("t").size(), [4, 3]);
    assert_eq!(get("c").size(), [3, 2]);
    for k in ["h", "bf"] {
        assert_eq!(get(k).kind(), Kind::Float);
        assert!(get(k).equal(&expected(&format!("views.{k}"))), "views.{k}");
    }
    assert_eq!(Vec::<i64>::try_from(get("i"))?, [-3, 0, 1 << 40]);
    assert_eq!(Vec::<bool>::try_from(get("b"))?, [true, false, true]);
    Ok(())
}

#[test]
fn unfit_weights_are_refused_by_key() {
    let cases = [
        ("bad_missing.pt", "missing BN_layers.1.gammas"),
        ("bad_extra.pt", "unexpected BN_layers.0.num_batches_tracked"),
        (
            "bad_shape.pt",
            "conv_layers.2.weight has shape [8, 8, 5, 5], the model needs [8, 8, 3, 3]",
        ),
        (
            "bad_nan.pt",
            "non-finite values: conv_layers.1.weight (1 of 576)",
        ),
    ];
    for (name, needle) in cases {
        let msg = import_error(name);
        assert!(msg.contains(needle), "{name}: {msg}");
        assert!(
            msg.contains(name),
            "{name}: the message names the file: {msg}"
        );
    }
}

#[test]
fn non_tensor_entries_are_refused_by_key() {
    let msg = import_error("bad_nontensor.pt");
    assert!(
        msg.contains("entry step is an int (7), not a tensor"),
        "{msg}"
    );
    let msg = import_error("bad_nested.pt");
    assert!(msg.contains("entry model is a dict"), "{msg}");
    assert!(
        msg.contains("state_dict()"),
        "the hint says what to save: {msg}"
    );
}

#[test]
fn malicious_pickle_is_refused_without_running() {
    let marker = Path::new("/tmp/gahb_pytorch_import_pwned");
    let _ = std::fs::remove_file(marker);
    let err = import_state_dict(&fixture("malicious.pt"), 16, Device::Cpu).expect_err("malicious");
    assert!(matches!(err, Error::PyTorchFile { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("refused the pickle global posix.system"),
        "{msg}"
    );
    assert!(!marker.exists(), "the pickle's os.system ran");
}

#[test]
fn legacy_format_says_how_to_resave() {
    let msg = import_error("legacy.pt");
    assert!(msg.contains("legacy"), "{msg}");
    assert!(msg.contains("_use_new_zipfile_serialization=True"), "{msg}");
}

#[test]
fn image_size_must_fit_the_unet() {
    let err = import_state_dict(&fixture("unet.pt"), 18, Device::Cpu).expect_err("18 % 4 != 0");
    assert!(
        matches!(
            err,
            Error::InvalidConfig {
                field: "image_size",
                ..
            }
        ),
        "{err}"
    );
    // Any multiple of 2^n_blocks works: the net is convolutional.
    let imp = import_state_dict(&fixture("unet.pt"), 32, Device::Cpu).expect("32");
    assert_eq!(
        imp.config,
        ModelConfig::UNet(UNetConfig {
            image_size: 32,
            ..UNetConfig::tiny()
        })
    );
}

#[test]
fn other_files_are_refused() -> Result<()> {
    let msg = import_error("expected.safetensors");
    assert!(msg.contains("not a torch.save file"), "{msg}");
    let dir = tempfile::tempdir()?;
    let bytes = std::fs::read(fixture("bfcnn.pt"))?;
    // A flipped byte in the pickle fails its CRC-32, naming the entry.
    let path = dir.path().join("corrupt.pt");
    let mut corrupt = bytes.clone();
    let pos = corrupt
        .windows(20)
        .position(|w| w == b"conv_layers.0.weight")
        .expect("a key inside data.pkl");
    corrupt[pos] = b'C';
    std::fs::write(&path, &corrupt)?;
    let err = import_state_dict(&path, 16, Device::Cpu).expect_err("corrupt");
    assert!(
        err.to_string().contains("bfcnn/data.pkl is corrupted"),
        "{err}"
    );
    // Truncated files fail cleanly, wherever they are cut.
    let path = dir.path().join("truncated.pt");
    for cut in [
        0,
        3,
        100,
        bytes.len() / 3,
        bytes.len() - 30,
        bytes.len() - 1,
    ] {
        std::fs::write(&path, &bytes[..cut])?;
        assert!(
            import_state_dict(&path, 16, Device::Cpu).is_err(),
            "cut at {cut}"
        );
    }
    Ok(())
}
