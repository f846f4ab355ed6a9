//! Image stacks from array files of one's own: a `.npy` array or a tensor of a `.safetensors` file,
//! `[n, h, w]` or `[n, 1, h, w]`, float, values in `[0, 1]`; and the way back, a prepared set written
//! as `.npy` or `.safetensors` for numpy and PyTorch.
//!
//! Every value is checked as the `.npy` reader checks it: finite, inside `[0, 1]` (the error says
//! how many are not), and the sizes against the file's length before anything is allocated.

use std::path::Path;

use ndarray::{Array3, ArrayD, IxDyn};
use safetensors::{Dtype, SafeTensors};

use crate::error::{unravel, Error, Result};
use crate::npy::{encode_npy_f32, read_npy};

/// The kinds of array file read and written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArrayFormat {
    /// NumPy `.npy`.
    Npy,
    /// A `.safetensors` file (one tensor of it).
    Safetensors,
}

impl ArrayFormat {
    /// The format of a file name by its extension (`.npy`, `.safetensors`), or an error naming it.
    pub fn of(path: &Path) -> Result<Self> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("npy") => Ok(ArrayFormat::Npy),
            Some("safetensors") => Ok(ArrayFormat::Safetensors),
            _ => Err(Error::format(
                path,
                "unknown array format: the file name must end in .npy or .safetensors",
            )),
        }
    }
}

/// Reads an image stack `[n, h, w]` from `path` (`.npy`, or `.safetensors` with the tensor named
/// `tensor`, which may be left out when the file holds one tensor).
pub fn read_image_array(
    path: &Path,
    format: ArrayFormat,
    tensor: Option<&str>,
) -> Result<Array3<f32>> {
    let a = match format {
        ArrayFormat::Npy => {
            if tensor.is_some() {
                return Err(Error::format(
                    path,
                    "a .npy file holds one array: `tensor` applies only to .safetensors files",
                ));
            }
            read_npy(path)?
        }
        ArrayFormat::Safetensors => read_safetensor(path, tensor)?,
    };
    into_stack(a, path)
}

/// `[n, h, w]` as it is, `[n, 1, h, w]` without its channel axis; any other shape is an error.
fn into_stack(a: ArrayD<f32>, path: &Path) -> Result<Array3<f32>> {
    let shape = a.shape().to_vec();
    let wrong = || {
        Error::format(
            path,
            format!(
                "an image stack must be [n, h, w] or [n, 1, h, w] (grayscale), got shape {shape:?}"
            ),
        )
    };
    let a = match shape.len() {
        3 => a,
        4 if shape[1] == 1 => a
            .into_shape_with_order(IxDyn(&[shape[0], shape[2], shape[3]]))
            .map_err(|_| wrong())?,
        _ => return Err(wrong()),
    };
    if a.is_empty() {
        return Err(Error::format(
            path,
            format!("the image stack is empty (shape {shape:?})"),
        ));
    }
    a.into_dimensionality().map_err(|_| wrong())
}

/// One float tensor of a `.safetensors` file, checked finite and inside `[0, 1]`.
fn read_safetensor(path: &Path, tensor: Option<&str>) -> Result<ArrayD<f32>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::format(path, format!("not a safetensors file: {e}")))?;
    let mut names: Vec<String> = st.names().into_iter().cloned().collect();
    names.sort();
    let name = match tensor {
        Some(t) => {
            if !names.iter().any(|n| n == t) {
                return Err(Error::format(
                    path,
                    format!("no tensor named {t:?}; the file has {}", list(&names)),
                ));
            }
            t.to_string()
        }
        None => match names.as_slice() {
            [only] => only.clone(),
            [] => return Err(Error::format(path, "the file holds no tensor")),
            _ => {
                return Err(Error::format(
                    path,
                    format!(
                        "the file holds {} tensors ({}): say which with `tensor`",
                        names.len(),
                        list(&names)
                    ),
                ))
            }
        },
    };
    let view = st
        .tensor(&name)
        .map_err(|e| Error::format(path, format!("tensor {name:?}: {e}")))?;
    let shape = view.shape().to_vec();
    let data = view.data();
    let values: Vec<f64> = match view.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|c| f16_to_f64(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16) as f64)
            .collect(),
        other => {
            return Err(Error::format(
                path,
                format!(
                    "tensor {name:?} has dtype {other:?}: images must be float (F32, F64, F16 or \
                     BF16) in [0, 1]; divide integer images by their maximum (255 for 8 bits)"
                ),
            ))
        }
    };
    let n: usize = shape.iter().product();
    if values.len() != n {
        return Err(Error::format(
            path,
            format!(
                "tensor {name:?} holds {} values for shape {shape:?}",
                values.len()
            ),
        ));
    }
    check_unit_range(&values, &shape, path)?;
    let vals: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    ArrayD::from_shape_vec(IxDyn(&shape), vals).map_err(|e| Error::format(path, e.to_string()))
}

/// Every value finite and inside `[0, 1]`, or the errors the `.npy` reader gives.
fn check_unit_range(values: &[f64], shape: &[usize], path: &Path) -> Result<()> {
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite {
            path: path.into(),
            count: values.iter().filter(|v| !v.is_finite()).count(),
            first_value: format!("{}", values[i]),
            first_index: unravel(i, shape),
        });
    }
    let out = values.iter().filter(|v| !(0.0..=1.0).contains(*v)).count();
    if out > 0 {
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        return Err(Error::OutOfRange {
            path: path.into(),
            count: out,
            min,
            max,
            hint: if min >= 0.0 && max > 2.0 && max <= 255.0 {
                " (8-bit images: divide by 255)".into()
            } else {
                String::new()
            },
        });
    }
    Ok(())
}

fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let frac = (h & 0x3ff) as f64;
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 if frac == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}

fn list(names: &[String]) -> String {
    let shown: Vec<String> = names.iter().take(8).map(|n| format!("{n:?}")).collect();
    let more = names.len().saturating_sub(8);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// The bytes of an image stack as `format`: a `.npy` `<f4` array `[n, h, w]`, or a `.safetensors`
/// file with one F32 tensor `images` of shape `[n, 1, h, w]` (what a PyTorch model takes).
pub fn encode_image_array(images: &Array3<f32>, format: ArrayFormat) -> Result<Vec<u8>> {
    let (n, h, w) = images.dim();
    let data: Vec<f32> = images.iter().copied().collect();
    match format {
        ArrayFormat::Npy => Ok(encode_npy_f32(&[n, h, w], &data)),
        ArrayFormat::Safetensors => {
            let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
            let view = safetensors::tensor::TensorView::new(Dtype::F32, vec![n, 1, h, w], &bytes)
                .map_err(|e| Error::format("images", format!("safetensors: {e}")))?;
            safetensors::serialize([("images", view)], &None)
                .map_err(|e| Error::format("images", format!("safetensors: {e}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack() -> Array3<f32> {
        Array3::from_shape_fn((3, 4, 5), |(i, r, c)| ((i * 20 + r * 5 + c) as f32) / 60.0)
    }

    #[test]
    fn both_formats_round_trip_an_image_stack() {
        let dir = tempfile::tempdir().expect("tempdir");
        let x = stack();
        for (name, format) in [
            ("a.npy", ArrayFormat::Npy),
            ("a.safetensors", ArrayFormat::Safetensors),
        ] {
            let p = dir.path().join(name);
            assert_eq!(ArrayFormat::of(&p).expect("format"), format);
            std::fs::write(&p, encode_image_array(&x, format).expect("encode")).expect("write");
            let back = read_image_array(&p, format, None).expect("read");
            assert_eq!(back, x, "{name}");
        }
    }

    #[test]
    fn a_channel_axis_of_one_is_dropped_and_other_ranks_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("c.npy");
        let data: Vec<f32> = (0..2 * 9).map(|i| i as f32 / 18.0).collect();
        std::fs::write(&p, encode_npy_f32(&[2, 1, 3, 3], &data)).expect("write");
        let x = read_image_array(&p, ArrayFormat::Npy, None).expect("read");
        assert_eq!(x.dim(), (2, 3, 3));
        assert_eq!(x[[1, 2, 2]], 17.0 / 18.0);
        for shape in [vec![18], vec![2, 9], vec![2, 3, 1, 3], vec![1, 2, 1, 3, 3]] {
            std::fs::write(&p, encode_npy_f32(&shape, &data)).expect("write");
            let e = read_image_array(&p, ArrayFormat::Npy, None)
                .expect_err("wrong rank")
                .to_string();
            assert!(
                e.contains("[n, h, w] or [n, 1, h, w]") && e.contains(&format!("{shape:?}")),
                "{e}"
            );
        }
    }

    #[test]
    fn values_outside_the_unit_interval_are_counted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut x = stack();
        x[[0, 0, 0]] = 1.5;
        x[[2, 3, 4]] = -0.25;
        for (name, format) in [
            ("o.npy", ArrayFormat::Npy),
            ("o.safetensors", ArrayFormat::Safetensors),
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, encode_image_array(&x, format).expect("encode")).expect("write");
            let e = read_image_array(&p, format, None)
                .expect_err("range")
                .to_string();
            assert!(e.contains("2 value(s) outside [0, 1]"), "{name}: {e}");
        }
    }

    #[test]
    fn safetensors_tensor_choice_and_dtype_are_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("m.safetensors");
        let a: Vec<u8> = [0.5f32; 8].iter().flat_map(|v| v.to_le_bytes()).collect();
        let ints: Vec<u8> = [7u8; 8].to_vec();
        let va = safetensors::tensor::TensorView::new(Dtype::F32, vec![2, 2, 2], &a).expect("view");
        let vb =
            safetensors::tensor::TensorView::new(Dtype::U8, vec![2, 2, 2], &ints).expect("view");
        let bytes = safetensors::serialize([("a", va), ("b", vb)], &None).expect("serialize");
        std::fs::write(&p, bytes).expect("write");
        let e = read_image_array(&p, ArrayFormat::Safetensors, None)
            .expect_err("ambiguous")
            .to_string();
        assert!(e.contains("2 tensors") && e.contains("\"a\", \"b\""), "{e}");
        let x = read_image_array(&p, ArrayFormat::Safetensors, Some("a")).expect("a");
        assert_eq!(x.dim(), (2, 2, 2));
        let e = read_image_array(&p, ArrayFormat::Safetensors, Some("b"))
            .expect_err("u8")
            .to_string();
        assert!(e.contains("dtype U8"), "{e}");
        let e = read_image_array(&p, ArrayFormat::Safetensors, Some("c"))
            .expect_err("missing")
            .to_string();
        assert!(e.contains("no tensor named \"c\""), "{e}");
        std::fs::write(&p, b"not a safetensors file").expect("write");
        let e = read_image_array(&p, ArrayFormat::Safetensors, None)
            .expect_err("garbage")
            .to_string();
        assert!(e.contains("not a safetensors file"), "{e}");
    }

    #[test]
    fn half_precision_values_decode() {
        assert_eq!(f16_to_f64(0x3c00), 1.0);
        assert_eq!(f16_to_f64(0x3800), 0.5);
        assert_eq!(f16_to_f64(0x0000), 0.0);
        assert!(f16_to_f64(0x7e00).is_nan());
        assert_eq!(f16_to_f64(0xbc00), -1.0);
    }
}
