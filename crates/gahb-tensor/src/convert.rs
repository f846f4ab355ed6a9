//! Conversion between `tch::Tensor` and `ndarray` arrays (f32 and f64, any dimension).
//!
//! Data always goes through a contiguous CPU copy, so the functions accept tensors on any device
//! and arrays in any memory layout.

use ndarray::{Array, ArrayD, Dimension, IxDyn};
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};

/// Copies an f32 array into a CPU tensor of the same shape.
pub fn array_to_tensor<D: Dimension>(a: &Array<f32, D>) -> Tensor {
    let shape: Vec<i64> = a.shape().iter().map(|&s| s as i64).collect();
    let data = a.as_standard_layout();
    match data.as_slice() {
        Some(s) => Tensor::from_slice(s).reshape(&shape),
        None => {
            let v: Vec<f32> = data.iter().copied().collect();
            Tensor::from_slice(&v).reshape(&shape)
        }
    }
}

/// Copies an image stack `[n, h, w]` into a `[n, 1, h, w]` CPU tensor (the batch layout of every
/// denoiser).
pub fn images_to_batch(images: &ndarray::Array3<f32>) -> Tensor {
    let (n, h, w) = images.dim();
    array_to_tensor(images).reshape([n as i64, 1, h as i64, w as i64])
}

/// Copies an f64 array into a CPU tensor of the same shape (kind Double).
pub fn array_to_tensor_f64<D: Dimension>(a: &Array<f64, D>) -> Tensor {
    let shape: Vec<i64> = a.shape().iter().map(|&s| s as i64).collect();
    let v: Vec<f64> = a.as_standard_layout().iter().copied().collect();
    Tensor::from_slice(&v).reshape(&shape)
}

/// Copies a tensor (any float kind, any device) into an f32 array of dimension `D`.
pub fn tensor_to_array<D: Dimension>(t: &Tensor) -> Result<Array<f32, D>> {
    let dyn_arr = tensor_to_arrayd(t)?;
    dyn_arr
        .into_dimensionality::<D>()
        .map_err(|_| Error::ShapeMismatch {
            op: "tensor_to_array",
            expected: format!("{} dimensions", D::NDIM.unwrap_or(0)),
            got: t.size(),
        })
}

/// Copies a tensor (any float kind, any device) into a dynamic-dimension f32 array.
pub fn tensor_to_arrayd(t: &Tensor) -> Result<ArrayD<f32>> {
    let shape: Vec<usize> = t.size().iter().map(|&s| s as usize).collect();
    let flat = t
        .f_to_device(Device::Cpu)?
        .f_to_kind(Kind::Float)?
        .f_contiguous()?
        .f_flatten(0, -1)?;
    let v = Vec::<f32>::try_from(&flat)?;
    Ok(ArrayD::from_shape_vec(IxDyn(&shape), v)?)
}

/// Copies a tensor into a dynamic-dimension f64 array.
pub fn tensor_to_arrayd_f64(t: &Tensor) -> Result<ArrayD<f64>> {
    let shape: Vec<usize> = t.size().iter().map(|&s| s as usize).collect();
    let flat = t
        .f_to_device(Device::Cpu)?
        .f_to_kind(Kind::Double)?
        .f_contiguous()?
        .f_flatten(0, -1)?;
    let v = Vec::<f64>::try_from(&flat)?;
    Ok(ArrayD::from_shape_vec(IxDyn(&shape), v)?)
}

/// Reads a scalar tensor (or the single element of a one-element tensor) as f64.
pub fn scalar(t: &Tensor) -> Result<f64> {
    if t.numel() != 1 {
        return Err(Error::ShapeMismatch {
            op: "scalar",
            expected: "one element".into(),
            got: t.size(),
        });
    }
    Ok(t.f_to_kind(Kind::Double)?.f_double_value(&[])?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Array4, Ix2, Ix4};

    #[test]
    fn round_trip_f32_preserves_values_and_layout() {
        let a = Array4::from_shape_fn((2, 1, 3, 4), |(b, c, h, w)| {
            (b * 100 + c * 10 + h * 4 + w) as f32
        });
        let t = array_to_tensor(&a);
        assert_eq!(t.size(), vec![2, 1, 3, 4]);
        // Element [1, 0, 2, 3] is 100 + 8 + 3.
        assert_eq!(t.double_value(&[1, 0, 2, 3]), 111.0);
        let back: Array4<f32> = tensor_to_array::<Ix4>(&t).expect("round trip");
        assert_eq!(a, back);
    }

    #[test]
    fn transposed_arrays_convert_in_logical_order() {
        let a = Array2::from_shape_fn((2, 3), |(i, j)| (i * 3 + j) as f32);
        let at = a.t().to_owned();
        let t = array_to_tensor(&at);
        assert_eq!(t.double_value(&[2, 1]), 5.0);
        let back = tensor_to_array::<Ix2>(&t).expect("round trip");
        assert_eq!(back, at);
    }

    #[test]
    fn wrong_dimension_is_an_error() {
        let t = Tensor::zeros([2, 3], (Kind::Float, Device::Cpu));
        assert!(tensor_to_array::<Ix4>(&t).is_err());
        assert!(scalar(&t).is_err());
        assert_eq!(scalar(&Tensor::from(2.5f64)).ok(), Some(2.5));
    }
}
