//! Bad sizes without a file: resize and padding targets of zero or past
//! [`MAX_OUTPUT_PIXELS`](gahb_data::MAX_OUTPUT_PIXELS), empty inputs, and impossible splits.

use std::path::Path;

use gahb_data::{pad_to, resize_all, resize_bicubic_checked, Split};
use ndarray::{Array2, Array3};

use super::{many, Case, Outcome};

fn small() -> Array3<f32> {
    Array3::from_elem((2, 4, 4), 0.5)
}

fn resize_zero(_: &Path) -> Outcome {
    resize_all(&small(), 0, 4).map(drop)
}

fn resize_zero_width(_: &Path) -> Outcome {
    resize_all(&small(), 4, 0).map(drop)
}

fn resize_huge(_: &Path) -> Outcome {
    resize_all(&small(), 1 << 20, 1 << 20).map(drop)
}

fn resize_empty(_: &Path) -> Outcome {
    resize_all(&Array3::zeros((0, 4, 4)), 8, 8).map(drop)
}

fn resize_flat_input(_: &Path) -> Outcome {
    resize_all(&Array3::zeros((2, 0, 4)), 8, 8).map(drop)
}

fn pad_zero(_: &Path) -> Outcome {
    pad_to(&Array3::zeros((2, 0, 0)), 0, 0, 0.0).map(drop)
}

fn pad_huge(_: &Path) -> Outcome {
    pad_to(&small(), 1 << 16, 1 << 16, 0.0).map(drop)
}

fn pad_shrink(_: &Path) -> Outcome {
    pad_to(&small(), 2, 8, 0.0).map(drop)
}

fn bicubic_zero(_: &Path) -> Outcome {
    resize_bicubic_checked(Array2::zeros((4, 4)).view(), 0, 0, false).map(drop)
}

fn bicubic_huge(_: &Path) -> Outcome {
    resize_bicubic_checked(Array2::zeros((4, 4)).view(), 1 << 16, 1 << 16, false).map(drop)
}

fn bicubic_empty(_: &Path) -> Outcome {
    resize_bicubic_checked(Array2::zeros((0, 4)).view(), 8, 8, false).map(drop)
}

fn split_zero(_: &Path) -> Outcome {
    Split::new(1000, 0, 100).map(drop)
}

fn split_large(_: &Path) -> Outcome {
    Split::new(1000, 451, 100).map(drop)
}

pub fn cases() -> Vec<Case> {
    let huge_all = 2u128 * (1 << 40) * 4;
    vec![
        many(
            "sizes/resize-all-zero-height",
            vec![],
            "",
            resize_zero,
            "resize_all",
            "target height is 0",
        ),
        many(
            "sizes/resize-all-zero-width",
            vec![],
            "",
            resize_zero_width,
            "resize_all",
            "target width is 0",
        ),
        many(
            "sizes/resize-all-huge",
            vec![],
            "",
            resize_huge,
            "resize_all",
            format!("output 2×1048576×1048576 would need {huge_all} bytes (n·h·w·4)"),
        ),
        many(
            "sizes/resize-all-no-images",
            vec![],
            "",
            resize_empty,
            "resize_all",
            "an input dimension is 0 (shape 0×4×4)",
        ),
        many(
            "sizes/resize-all-flat-images",
            vec![],
            "",
            resize_flat_input,
            "resize_all",
            "an input dimension is 0 (shape 2×0×4)",
        ),
        many(
            "sizes/pad-to-zero",
            vec![],
            "",
            pad_zero,
            "pad_to",
            "target height is 0",
        ),
        many(
            "sizes/pad-to-huge",
            vec![],
            "",
            pad_huge,
            "pad_to",
            "would need 34359738368 bytes",
        ),
        many(
            "sizes/pad-to-shrink",
            vec![],
            "",
            pad_shrink,
            "pad target",
            "padding cannot shrink images",
        ),
        many(
            "sizes/bicubic-zero",
            vec![],
            "",
            bicubic_zero,
            "resize_bicubic",
            "target height is 0",
        ),
        many(
            "sizes/bicubic-huge",
            vec![],
            "",
            bicubic_huge,
            "resize_bicubic",
            "would need 17179869184 bytes",
        ),
        many(
            "sizes/bicubic-empty-input",
            vec![],
            "",
            bicubic_empty,
            "resize_bicubic",
            "an input dimension is 0",
        ),
        many(
            "sizes/split-n-zero",
            vec![],
            "",
            split_zero,
            "n = 0",
            "must be at least 1",
        ),
        many(
            "sizes/split-too-large",
            vec![],
            "",
            split_large,
            "N = 451",
            "at most 450",
        ),
    ]
}
