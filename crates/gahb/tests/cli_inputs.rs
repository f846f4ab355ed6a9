//! Bad input through the `gahb` binary (issue 13, items 1, 5 and 8): each case is a one-line error
//! naming the field, option or file and what to change, never a panic or an abort, and a damaged
//! dataset cache file is prepared again and said on stderr. Every case runs in well under a second.

mod common;

use std::path::Path;

use common::{error_line, gahb, stderr};

fn png(path: &Path, w: u32, h: u32, value: u8) {
    image::RgbImage::from_pixel(w, h, image::Rgb([value, value / 2, 255 - value]))
        .save(path)
        .expect("write png");
}

#[test]
fn a_damaged_dataset_cache_file_is_prepared_again_and_said() {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = [
        "data", "disks", "--size", "16", "--n", "3", "--cache", "c", "--out", "o",
    ];
    let first = gahb(&args, dir.path());
    assert!(first.status.success(), "{}", stderr(&first));
    let summary = |d: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(d.join("o/summary.json")).expect("summary"))
            .expect("json")
    };
    let good = summary(dir.path());
    let cached: Vec<_> = std::fs::read_dir(dir.path().join("c/datasets"))
        .expect("cache folder")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    let mut bytes = std::fs::read(&cached[0]).expect("cache file");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x10;
    std::fs::write(&cached[0], &bytes).expect("damage");
    let again = gahb(&args, dir.path());
    let err = stderr(&again);
    assert!(again.status.success(), "{err}");
    assert!(
        err.contains("the cached copy was not used") && err.contains("sha256"),
        "not said on stderr: {err}"
    );
    let rebuilt = summary(dir.path());
    assert_eq!(rebuilt["mean"], good["mean"], "the data are the right ones");
    assert_eq!(rebuilt["from_cache"], false);
    assert!(rebuilt["cache_rebuilt"]
        .as_str()
        .is_some_and(|r| r.contains("sha256")));
    let third = gahb(&args, dir.path());
    assert!(!stderr(&third).contains("not used"), "{}", stderr(&third));
    assert_eq!(summary(dir.path())["from_cache"], true);
}

#[test]
fn data_command_mistakes_name_the_option() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::create_dir(d.join("imgs")).expect("mkdir");
    png(&d.join("imgs/a.png"), 20, 20, 30);
    std::fs::write(d.join("plain.txt"), b"a file").expect("write");
    for (args, want) in [
        (
            vec!["data", "disks", "--size", "4", "--cache", "c"],
            vec!["data.size must be at least 11 for disks"],
        ),
        (
            vec![
                "data", "folder", "--path", "imgs", "--limit", "0", "--cache", "c",
            ],
            vec!["data.limit must be at least 1"],
        ),
        (
            vec![
                "data", "folder", "--path", "imgs", "--size", "100000", "--cache", "c",
            ],
            vec!["bytes", "100000×100000"],
        ),
        (
            vec!["data", "folder", "--path", "plain.txt", "--cache", "c"],
            vec!["plain.txt", "is a file"],
        ),
        (
            vec!["data", "disks", "--size", "16", "--cache", "plain.txt/c"],
            vec!["--cache", "plain.txt/c"],
        ),
        (
            vec![
                "data",
                "disks",
                "--size",
                "16",
                "--cache",
                "c",
                "--out",
                "plain.txt/o",
            ],
            vec!["--out", "plain.txt/o"],
        ),
        (
            vec!["data", "disks", "--size", "16", "--cache", "plain.txt"],
            vec!["--cache", "plain.txt", "is a file"],
        ),
        (
            vec!["data", "lfw-subset", "--cache", "c"],
            vec!["lfw-subset", "cargo xtask datasets fetch lfw-subset"],
        ),
    ] {
        let line = error_line(&gahb(&args, d));
        for w in want {
            assert!(line.contains(w), "{args:?}: {line}");
        }
        for weak in ["unsupported operation", "r_max", "<stack>", "thumb"] {
            assert!(!line.contains(weak), "{args:?}: {line}");
        }
    }
}

/// CelebA at a side below the 20×20 dedup thumbnails works (the thumbnails shrink to the side),
/// instead of failing on `thumb`, an option no user sets.
#[test]
fn celeba_below_the_thumbnail_size_is_prepared() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::create_dir(d.join("celeba")).expect("mkdir");
    for (i, v) in [20u8, 120, 220].into_iter().enumerate() {
        png(&d.join(format!("celeba/{i:06}.png")), 178, 218, v);
    }
    let o = gahb(
        &[
            "data", "celeba", "--path", "celeba", "--size", "16", "--cache", "c", "--out", "o",
        ],
        d,
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn run_options_that_are_files_or_unwritable_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("plain.txt"), b"a file").expect("write");
    for (args, want) in [
        (
            vec![
                "run",
                "slice",
                "--profile",
                "smoke",
                "--celeba",
                "plain.txt",
            ],
            vec!["--celeba plain.txt", "is a file, not a folder"],
        ),
        (
            vec!["run", "slice", "--profile", "smoke", "--celeba", "nowhere"],
            vec!["--celeba nowhere", "no such folder"],
        ),
        (
            vec!["run", "slice", "--profile", "smoke", "--out", "plain.txt/r"],
            vec!["--out plain.txt/r"],
        ),
        (
            vec![
                "run",
                "slice",
                "--profile",
                "smoke",
                "--out",
                "r",
                "--cache",
                "plain.txt/c",
            ],
            vec!["--cache plain.txt/c"],
        ),
    ] {
        let line = error_line(&gahb(&args, d));
        for w in want {
            assert!(line.contains(w), "{args:?}: {line}");
        }
    }
}

/// Profile values that used to abort the process or fail late are refused before anything runs.
#[test]
fn huge_and_out_of_range_profile_values_are_refused_up_front() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let smoke = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/smoke.toml"),
    )
    .expect("smoke profile");
    for (from, to, want) in [
        (
            "steps = 30\n",
            "steps = 1000000000000\n",
            vec!["steps", "bytes"],
        ),
        (
            "image_size = 16\n",
            "image_size = 100000\n",
            vec!["slice.", "bytes"],
        ),
        (
            "n_train = 64",
            "n_train = 100000000000",
            vec!["slice.n_train", "bytes"],
        ),
        (
            "sigma_max = 1.0",
            "sigma_max = 1e300",
            vec!["sigma_max", "(0, 10]"],
        ),
        (
            "batch_size = 16\n",
            "batch_size = 16\nlr = 1e30\n",
            vec!["lr", "(0, 1]"],
        ),
        ("n_eval = 20", "n_eval = 0", vec!["sweep.n_eval"]),
        (
            "batch_size = 16\n",
            "batch_size = 1000000000000000\n",
            vec!["batch_size", "bytes"],
        ),
    ] {
        assert!(smoke.contains(from), "{from}");
        std::fs::write(d.join("p.toml"), smoke.replacen(from, to, 1)).expect("write");
        let line = error_line(&gahb(
            &[
                "run",
                "slice",
                "--profile",
                "p.toml",
                "--out",
                "r",
                "--cache",
                "c",
            ],
            d,
        ));
        for w in want {
            assert!(line.contains(w), "{from} -> {to}: {line}");
        }
        assert!(!line.contains("non-finite training loss"), "{line}");
    }
}
