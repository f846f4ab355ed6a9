//! The building blocks as commands (issue 14), through the `gahb` binary on tiny seeded data:
//! `data --export`, `train`, `models`, `eval`, `sample` and `spectrum`, each checked against an
//! invariant it must keep (the same noise per σ, the same sample per noise stream, the dense and
//! the Lanczos spectrum agreeing, an orthonormal basis), and the bad inputs of the issue as
//! one-line errors that write nothing. About 10 s in all.

mod common;

use std::path::Path;
use std::process::Output;

use ndarray::{ArrayD, Axis, Ix2};

/// Runs the binary on one thread (libtorch's two threads spin on a shared 2-core machine).
fn gahb(args: &[&str], dir: &Path) -> Output {
    common::command(args, dir)
        .env("OMP_NUM_THREADS", "1")
        .output()
        .expect("the gahb binary runs")
}

fn ok(args: &[&str], dir: &Path) -> String {
    let o = gahb(args, dir);
    assert!(
        o.status.success(),
        "gahb {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The one error line of a failed run (exit 1, no panic).
fn error_line(args: &[&str], dir: &Path) -> String {
    common::error_line(&gahb(args, dir))
}

/// A `<f4` C-order `.npy` file of any values (gahb-data's reader refuses images outside [0, 1];
/// eigenvalues and samples may be).
fn npy(path: &Path) -> ArrayD<f32> {
    let bytes = std::fs::read(path).expect("npy file");
    assert_eq!(&bytes[..6], b"\x93NUMPY", "not npy");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).expect("header");
    assert!(header.contains("'descr': '<f4'") && header.contains("'fortran_order': False"));
    let dims = header
        .split("'shape': (")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .expect("shape");
    let shape: Vec<usize> = dims
        .split(',')
        .filter(|d| !d.trim().is_empty())
        .map(|d| d.trim().parse().expect("dim"))
        .collect();
    let data: Vec<f32> = bytes[10 + header_len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    ArrayD::from_shape_vec(shape, data).expect("shape and data agree")
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("json file")).expect("json")
}

fn csv_rows(path: &Path) -> Vec<Vec<f64>> {
    std::fs::read_to_string(path)
        .expect("csv")
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|v| v.parse().expect("number")).collect())
        .collect()
}

/// `gahb train` of a tiny UNet on the first 48 images of `ca.npy` (add `--out`).
const TRAIN_CA: [&str; 17] = [
    "train",
    "--data",
    "npy",
    "--path",
    "ca.npy",
    "--take",
    "48",
    "--blocks",
    "2",
    "--channels",
    "8",
    "--steps",
    "60",
    "--batch-size",
    "8",
    "--cache",
    "c",
];

/// 64 C^α images of 16×16 exported to `ca.npy`, and a UNet trained on the first 48 of them.
fn trained(dir: &Path) {
    ok(
        &[
            "data", "calpha", "--alpha", "2", "--size", "16", "--n", "64", "--export", "ca.npy",
            "--out", "dat", "--cache", "c",
        ],
        dir,
    );
    ok(
        &[&TRAIN_CA[..], &["--out", "m/ca.safetensors"]].concat(),
        dir,
    );
}

#[test]
fn train_models_eval_and_sample_round_trip() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    trained(dir);
    let exported = npy(&dir.join("ca.npy"));
    assert_eq!(exported.shape(), &[64, 16, 16]);
    for f in ["ca.safetensors", "ca.json", "ca.summary.json"] {
        assert!(dir.join("m").join(f).is_file(), "{f} missing");
    }
    let s = json(&dir.join("m/ca.summary.json"));
    assert_eq!(s["n_images"], 48);
    assert_eq!(s["steps"], 60);
    let key = s["cache_key"].as_str().expect("key").to_string();

    // The cache lists the model with its data and recipe; a second train is served from it.
    let listing = ok(&["models", "--cache", "c"], dir);
    assert!(listing.contains(&key[..12]), "{listing}");
    assert!(
        listing.contains("ca.npy") && listing.contains("48 images"),
        "{listing}"
    );
    let again = ok(
        &[&TRAIN_CA[..], &["--out", "m/again.safetensors"]].concat(),
        dir,
    );
    assert!(again.contains("from the cache"), "{again}");

    // Eval on the 16 held-out images: 15 σ; the trained net beats its input at large σ; one σ
    // at a time is the same numbers (image i's noise is stream i at every σ). A cache-key
    // prefix works as --model.
    ok(
        &[
            "eval",
            "--model",
            "m/ca.safetensors",
            "--data",
            "npy",
            "--path",
            "ca.npy",
            "--skip",
            "48",
            "--cache",
            "c",
            "--out",
            "ev",
        ],
        dir,
    );
    let rows = csv_rows(&dir.join("ev/psnr.csv"));
    assert_eq!(rows.len(), 15);
    assert!(
        rows[0][2] > rows[0][1] + 3.0,
        "no gain at the largest σ: {:?}",
        rows[0]
    );
    let sigma0 = format!("{}", gahb_denoiser::paper_sigmas()[0]);
    ok(
        &[
            "eval",
            "--model",
            &key[..10],
            "--data",
            "npy",
            "--path",
            "ca.npy",
            "--skip",
            "48",
            "--cache",
            "c",
            "--out",
            "ev1",
            "--sigmas",
            &sigma0,
        ],
        dir,
    );
    let one = csv_rows(&dir.join("ev1/psnr.csv"));
    assert_eq!(one.len(), 1);
    assert!(
        (one[0][2] - rows[0][2]).abs() < 1e-3,
        "{one:?} vs {:?}",
        rows[0]
    );
    assert_eq!(json(&dir.join("ev/summary.json"))["n_images"], 16);

    // Samples: sample i uses noise stream first_index + i, so samples 1..3 of a run of 3 are
    // the run of 2 that starts at index 1.
    let base = [
        "sample",
        "--model",
        "m/ca.safetensors",
        "--cache",
        "c",
        "--max-steps",
        "400",
        "--seed",
        "5",
    ];
    ok(&[&base[..], &["--n", "3", "--out", "s3"]].concat(), dir);
    ok(
        &[
            &base[..],
            &[
                "--n",
                "2",
                "--first-index",
                "1",
                "--chunk",
                "1",
                "--out",
                "s2",
            ],
        ]
        .concat(),
        dir,
    );
    let s3 = npy(&dir.join("s3/samples.npy"));
    let s2 = npy(&dir.join("s2/samples.npy"));
    assert_eq!(s3.shape(), &[3, 16, 16]);
    assert!(s3.iter().all(|v| v.is_finite()));
    let tail = s3.slice_axis(Axis(0), (1..3).into());
    let diff = (&tail - &s2).mapv(f32::abs).fold(0.0f32, |a, &b| a.max(b));
    assert!(
        diff < 1e-4,
        "the same noise streams gave samples {diff} apart"
    );
    let summary = json(&dir.join("s3/summary.json"));
    assert_eq!(summary["sampler"]["h0"], 0.01);
    assert_eq!(summary["sampler"]["seed"], 5);
    assert!(dir.join("s3/samples.png").is_file());
}

#[test]
fn spectrum_by_the_dense_and_the_lanczos_route_agree() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    trained(dir);
    let common = [
        "spectrum",
        "--model",
        "m/ca.safetensors",
        "--data",
        "npy",
        "--path",
        "ca.npy",
        "--index",
        "50",
        "--sigma",
        "0.1",
        "--cache",
        "c",
    ];
    ok(&[&common[..], &["--out", "dense"]].concat(), dir);
    ok(
        &[
            &common[..],
            &[
                "--route",
                "lanczos",
                "--k",
                "6",
                "--format",
                "safetensors",
                "--out",
                "lz",
            ],
        ]
        .concat(),
        dir,
    );
    let values = npy(&dir.join("dense/eigenvalues.npy"));
    assert_eq!(values.shape(), &[256]);
    let v: Vec<f32> = values.iter().copied().collect();
    assert!(v.windows(2).all(|w| w[0] >= w[1]), "not descending");
    // The basis is orthonormal: BᵀB = I on its first 20 vectors.
    let basis = npy(&dir.join("dense/basis.npy"));
    assert_eq!(basis.shape(), &[256, 16, 16]);
    let b = basis
        .into_shape_with_order((256, 256))
        .expect("reshape")
        .into_dimensionality::<Ix2>()
        .expect("2-d");
    let b20 = b.slice(ndarray::s![0..20, ..]);
    let gram = b20.dot(&b20.t());
    for i in 0..20 {
        for j in 0..20 {
            let want = if i == j { 1.0 } else { 0.0 };
            assert!(
                (gram[[i, j]] - want).abs() < 1e-4,
                "gram[{i},{j}] = {}",
                gram[[i, j]]
            );
        }
    }
    // Lanczos: its top 6 are the dense top 6; Hutch++ tr ∇f is within 5% of the exact trace.
    let lz = tch::Tensor::read_safetensors(dir.join("lz/spectrum.safetensors")).expect("read");
    let lv = lz
        .iter()
        .find(|(n, _)| n == "eigenvalues")
        .map(|(_, t)| Vec::<f64>::try_from(t).expect("f64"))
        .expect("eigenvalues tensor");
    assert_eq!(lv.len(), 6);
    for (i, (a, b)) in lv.iter().zip(&v).enumerate() {
        assert!(
            (a - f64::from(*b)).abs() < 2e-3,
            "λ_{i}: lanczos {a}, dense {b}"
        );
    }
    let dense = json(&dir.join("dense/summary.json"));
    let lanczos = json(&dir.join("lz/summary.json"));
    let exact = dense["effective_dimension"]["value"].as_f64().expect("tr");
    let est = lanczos["effective_dimension"]["value"]
        .as_f64()
        .expect("tr");
    assert!((exact - f64::from(v.iter().sum::<f32>())).abs() < 1e-2 * exact.abs().max(1.0));
    assert!(
        (est - exact).abs() < 0.05 * exact,
        "Hutch++ {est} vs exact {exact}"
    );
    assert_eq!(lanczos["route_details"]["lanczos"]["converged"], true);
    for f in ["spectrum.png", "eigenvectors.png", "images.png"] {
        assert!(dir.join("dense").join(f).is_file(), "{f}");
    }
}

#[test]
fn bad_inputs_are_one_line_errors_and_write_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    trained(dir);
    // A checkpoint for another image size than the data.
    ok(
        &[
            "data", "calpha", "--alpha", "2", "--size", "32", "--n", "4", "--export", "big.npy",
            "--out", "dat32", "--cache", "c",
        ],
        dir,
    );
    let e = error_line(
        &[
            "eval",
            "--model",
            "m/ca.safetensors",
            "--data",
            "npy",
            "--path",
            "big.npy",
            "--cache",
            "c",
            "--out",
            "never",
        ],
        dir,
    );
    assert!(
        e.contains("16×16") && e.contains("32×32") && e.contains("--size 16"),
        "{e}"
    );
    assert!(!dir.join("never").exists(), "an output folder was made");

    // Arrays of the wrong rank or with values outside [0, 1], counted.
    let bad = gahb_data::encode_npy_f32(&[2, 2, 2], &[0.5, 1.5, -0.1, 0.2, 0.3, 2.0, 0.0, 1.0]);
    std::fs::write(dir.join("bad.npy"), bad).expect("write");
    let e = error_line(
        &[
            "data", "npy", "--path", "bad.npy", "--cache", "c", "--out", "x",
        ],
        dir,
    );
    assert!(e.contains("bad.npy") && e.contains('3'), "{e}");
    let flat = gahb_data::encode_npy_f32(&[8], &[0.5; 8]);
    std::fs::write(dir.join("flat.npy"), flat).expect("write");
    let e = error_line(
        &[
            "data", "npy", "--path", "flat.npy", "--cache", "c", "--out", "x",
        ],
        dir,
    );
    assert!(e.contains("flat.npy") && e.contains("[8]"), "{e}");

    // A model that is not there, an unknown route, a PyTorch file that is not one.
    let e = error_line(&["sample", "--model", "nothing.safetensors"], dir);
    assert!(e.contains("nothing.safetensors"), "{e}");
    let e = error_line(
        &[
            "spectrum",
            "--model",
            "m/ca.safetensors",
            "--data",
            "npy",
            "--path",
            "ca.npy",
            "--sigma",
            "0.1",
            "--route",
            "svd",
            "--cache",
            "c",
            "--out",
            "never",
        ],
        dir,
    );
    assert!(e.contains("--route") && e.contains("svd"), "{e}");
    std::fs::write(dir.join("fake.pt"), b"not a zip").expect("write");
    let e = error_line(
        &[
            "import",
            "fake.pt",
            "--image-size",
            "16",
            "--out",
            "never/fake.safetensors",
        ],
        dir,
    );
    assert!(e.contains("fake.pt"), "{e}");
    assert!(!dir.join("never/fake.safetensors").exists());
    let e = error_line(
        &[
            "train", "--data", "npy", "--path", "ca.npy", "--steps", "5", "--out", "m/x.pt",
            "--cache", "c",
        ],
        dir,
    );
    assert!(e.contains("--out") && e.contains(".safetensors"), "{e}");
}

#[test]
fn a_pytorch_state_dict_is_imported_or_used_directly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../gahb-denoiser/tests/fixtures/pytorch");
    let pt = fixtures.join("unet_dataparallel.pt");
    let pt = pt.to_str().expect("utf-8 path");
    let out = ok(
        &[
            "import",
            pt,
            "--image-size",
            "16",
            "--out",
            "imp/unet.safetensors",
        ],
        dir,
    );
    assert!(
        out.contains("prefix stripped") && out.contains("UNet (2 blocks, 8 channels"),
        "{out}"
    );
    let s = json(&dir.join("imp/unet.summary.json"));
    assert_eq!(s["stripped_module_prefix"], true);
    assert_eq!(s["model"]["n_blocks"], 2);
    ok(
        &[
            "data", "calpha", "--alpha", "2", "--size", "16", "--n", "8", "--export", "ca.npy",
            "--out", "dat", "--cache", "c",
        ],
        dir,
    );
    // The imported checkpoint and the .pt file itself give the same PSNR curve.
    let eval = |model: &str, out: &str| {
        ok(
            &[
                "eval", "--model", model, "--data", "npy", "--path", "ca.npy", "--cache", "c",
                "--out", out, "--sigmas", "0.05,0.2",
            ],
            dir,
        );
        csv_rows(&dir.join(out).join("psnr.csv"))
    };
    let a = eval("imp/unet.safetensors", "ev_imported");
    let b = eval(pt, "ev_pt");
    assert_eq!(a, b);
    // Random weights: a spectrum is still taken, by either route, straight from the .pt file.
    ok(
        &[
            "spectrum", "--model", pt, "--data", "npy", "--path", "ca.npy", "--sigma", "0.1",
            "--cache", "c", "--out", "sp",
        ],
        dir,
    );
    assert_eq!(npy(&dir.join("sp/eigenvalues.npy")).shape(), &[256]);
    // Refused files write nothing: a pickle that asks for os.system, a missing key.
    for (file, want) in [
        ("malicious.pt", "system"),
        ("bad_missing.pt", "BN_layers.1.gammas"),
    ] {
        let f = fixtures.join(file);
        let e = error_line(
            &[
                "import",
                f.to_str().expect("utf-8"),
                "--image-size",
                "16",
                "--out",
                "no/x.safetensors",
            ],
            dir,
        );
        assert!(e.contains(want), "{e}");
        assert!(
            !dir.join("no").exists(),
            "{file}: an output folder was made"
        );
    }
    // A UNet .pt needs the size it runs at when no data gives it.
    let e = error_line(&["sample", "--model", pt, "--n", "1"], dir);
    assert!(e.contains("--image-size"), "{e}");
}

#[test]
fn a_profile_sweep_runs_on_an_npy_array_of_ones_own() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    ok(
        &[
            "data", "calpha", "--alpha", "2", "--size", "16", "--n", "400", "--seed", "3",
            "--export", "mine.npy", "--out", "dat", "--cache", "c",
        ],
        dir,
    );
    let smoke = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/smoke.toml"),
    )
    .expect("smoke profile");
    let mine = dir.join("mine.npy");
    let profile = smoke.replace(
        "data = { name = \"calpha\", size = 16, alpha = 2.0, n = 400 }",
        &format!(
            "data = {{ name = \"npy\", path = {:?} }}",
            mine.display().to_string()
        ),
    );
    assert_ne!(
        profile, smoke,
        "the smoke profile's sweep data line changed: update this test"
    );
    std::fs::write(
        dir.join("mine.toml"),
        profile.replace("name = \"smoke\"", "name = \"mine\""),
    )
    .expect("write profile");
    ok(
        &[
            "run",
            "fig1",
            "--profile",
            "mine.toml",
            "--out",
            "r",
            "--cache",
            "c",
        ],
        dir,
    );
    let results = json(&dir.join("r/fig1/results.json"));
    let text = results.to_string();
    assert!(
        text.contains("npy"),
        "the results do not say which data: {text:.400}"
    );
    let report = std::fs::read_to_string(dir.join("r/REPORT.md")).expect("report");
    assert!(
        report.contains("mine.npy") || report.contains("npy"),
        "{report:.600}"
    );
}
