//! End-to-end tests of the `gahb` binary: the smoke profile runs every experiment and writes a
//! report, and bad input gets a one-line error that says what to change, never a panic.

use std::path::Path;
use std::process::{Command, Output};

fn gahb(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gahb"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("the gahb binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The error line of a failed run: exactly one line starting with `error:`, and no panic.
fn error_line(o: &Output) -> String {
    assert!(
        !o.status.success(),
        "expected a failure, got success: {}",
        stderr(o)
    );
    let err = stderr(o);
    assert!(
        !err.contains("panicked"),
        "panic instead of an error: {err}"
    );
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "one error line expected: {err}");
    lines[0].to_string()
}

/// Runs the slice experiment with profile file `p` and returns its error line.
fn slice_error(p: &str, dir: &Path) -> String {
    error_line(&gahb(
        &["run", "slice", "--profile", p, "--out", "r", "--cache", "c"],
        dir,
    ))
}

fn write_profile(dir: &Path, patch: impl FnOnce(String) -> String) -> String {
    let base = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/smoke.toml"),
    )
    .expect("smoke profile");
    let path = dir.join("profile.toml");
    std::fs::write(&path, patch(base)).expect("write profile");
    path.display().to_string()
}

#[test]
fn smoke_profile_runs_every_experiment_and_writes_the_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = gahb(
        &[
            "reproduce",
            "--profile",
            "smoke",
            "--out",
            "r",
            "--cache",
            "c",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "smoke failed: {}", stderr(&out));
    let report = std::fs::read_to_string(dir.path().join("r/REPORT.md")).expect("REPORT.md");
    let list = gahb(&["list"], dir.path());
    let names = String::from_utf8_lossy(&list.stdout).into_owned();
    for name in names.lines().filter_map(|l| l.split_whitespace().next()) {
        assert!(
            report.contains(&format!("## {name}:")),
            "section {name} missing from the report"
        );
    }
    assert!(
        report.contains("| claim | ours | paper |"),
        "no comparison table"
    );
    for fig in [
        "slice/psnr.png",
        "slice/grid.png",
        "fig1/psnr_curves.png",
        "fig2/samples.png",
        "fig3/face_eigenvectors.png",
        "fig5/disk_spectrum.png",
    ] {
        let p = dir.path().join("r").join(fig);
        let img = image::open(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(img.width() > 10 && img.height() > 10);
    }
    assert!(
        dir.path().join("r/report.html").exists() && dir.path().join("r/results.json").exists()
    );
    // Prose and tables are written for people: no Rust `Debug` output of configs or options.
    for marker in ["Some(", "None,", "Spec {", "Config {", "UNet("] {
        assert!(
            !report.contains(marker),
            "Debug output `{marker}` in REPORT.md"
        );
    }
    // The HTML report has the same facts as the markdown one, with real tables.
    let html = std::fs::read_to_string(dir.path().join("r/report.html")).expect("report.html");
    assert!(
        html.contains("<table>") && html.contains("git revision"),
        "html"
    );
    let (md_rows, html_rows) = (
        report.lines().filter(|l| l.starts_with("| ")).count(),
        html.matches("<tr>").count(),
    );
    assert_eq!(md_rows, html_rows, "the same table rows in both formats");
    // Every experiment writes its measured results as JSON.
    for name in ["slice", "fig1", "fig5"] {
        let p = dir.path().join("r").join(name).join("results.json");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).expect("results.json"))
                .expect("valid JSON");
        assert!(v.is_object(), "{}", p.display());
    }
    // A second run loads every model from the cache.
    let again = gahb(
        &[
            "run",
            "slice",
            "--profile",
            "smoke",
            "--out",
            "r",
            "--cache",
            "c",
        ],
        dir.path(),
    );
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("cached"),
        "the rerun retrained: {}",
        stderr(&again)
    );
}

#[test]
fn unknown_config_key_is_a_one_line_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write_profile(dir.path(), |t| {
        t.replace("alpha = 3.0\n", "alpha = 3.0\nalpah = 2.0\n")
    });
    let line = error_line(&gahb(&["reproduce", "--profile", &p], dir.path()));
    assert!(line.contains("alpah") && line.contains("line"), "{line}");
}

#[test]
fn negative_noise_level_is_rejected_with_the_field_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write_profile(dir.path(), |t| {
        t.replace("grid_sigmas = [0.1, 0.3]", "grid_sigmas = [-0.1, 0.3]")
    });
    let line = slice_error(&p, dir.path());
    assert!(
        line.contains("grid_sigmas") && line.contains("-0.1"),
        "{line}"
    );
    let p = write_profile(dir.path(), |t| {
        t.replacen("sigma_max = 1.0", "sigma_max = -1.0", 1)
    });
    let line = slice_error(&p, dir.path());
    assert!(line.contains("sigma_max"), "{line}");
}

#[test]
fn image_size_the_net_cannot_take_is_explained() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The data and the net at 18×18: a 2-block UNet needs a multiple of 4.
    let p = write_profile(dir.path(), |t| {
        t.replace("image_size = 16", "image_size = 18")
    });
    let line = slice_error(&p, dir.path());
    assert!(line.contains("18"), "{line}");
    // The net for 16×16 images on 18×18 data: the message says which field to change.
    let p = write_profile(dir.path(), |t| {
        t.replacen("image_size = 16", "image_size = 18", 1)
    });
    let line = slice_error(&p, dir.path());
    assert!(
        line.contains("net.image_size = 16") && line.contains("18×18"),
        "{line}"
    );
}

#[test]
fn unknown_experiment_and_profile_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let line = error_line(&gahb(&["run", "fig99", "--profile", "smoke"], dir.path()));
    assert!(line.contains("fig99") && line.contains("fig1"), "{line}");
    let line = error_line(&gahb(&["reproduce", "--profile", "nope"], dir.path()));
    assert!(line.contains("smoke"), "{line}");
}
