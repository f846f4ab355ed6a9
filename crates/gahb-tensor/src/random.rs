//! Seeded random tensors that do not touch libtorch's global generator.
//!
//! libtorch's CPU generator is one per process, so two threads that seed it and draw from it
//! interleave (the test harness runs tests on parallel threads; a library may be called from
//! several). Everything here is instead a function of its arguments only: row `i` of a draw with
//! seed `s` comes from stream `first_stream + i` of `ChaCha8Rng::seed_from_u64(s)`, drawn on the CPU
//! and then moved to the requested device. Use it for evaluation noise and test fixtures; training
//! keeps libtorch's generator so that noise is drawn on the device.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};

/// The generator of stream `stream` of `seed` (rule 2 of [`crate::seed`]).
pub fn stream_rng(seed: u64, stream: u64) -> ChaCha8Rng {
    crate::seed::stream(seed, stream)
}

/// Fills `out` with standard normal draws from `rng`.
pub fn fill_standard_normal(rng: &mut ChaCha8Rng, out: &mut [f32]) {
    for v in out.iter_mut() {
        *v = StandardNormal.sample(rng);
    }
}

/// An `[n, shape...]` standard normal f32 tensor on `device`, row `i` from stream
/// `first_stream + i` of `seed`. A row does not depend on `n`: rows `k..` of a draw of `n` rows equal
/// a draw of `n - k` rows starting at stream `first_stream + k`.
pub fn standard_normal(
    seed: u64,
    first_stream: u64,
    n: usize,
    row_shape: &[i64],
    device: Device,
) -> Result<Tensor> {
    rows(
        seed,
        first_stream,
        n,
        row_shape,
        device,
        fill_standard_normal,
    )
}

/// An `[n, shape...]` f32 tensor of uniform draws on [0, 1), rows as in [`standard_normal`].
pub fn uniform(
    seed: u64,
    first_stream: u64,
    n: usize,
    row_shape: &[i64],
    device: Device,
) -> Result<Tensor> {
    rows(seed, first_stream, n, row_shape, device, |rng, out| {
        for v in out.iter_mut() {
            *v = rng.gen::<f32>();
        }
    })
}

/// A standard normal tensor of `shape` (first dimension = rows) with seed `seed`, as f64 when
/// `kind` is `Double` and f32 otherwise; on the CPU. Shorthand for fixtures.
pub fn normal_like(seed: u64, shape: &[i64], kind: Kind) -> Result<Tensor> {
    let (n, rest) = split_shape(shape)?;
    standard_normal(seed, 0, n, rest, Device::Cpu)?
        .f_to_kind(kind)
        .map_err(Error::from)
}

/// A uniform [0, 1) tensor of `shape` with seed `seed`, on the CPU (see [`normal_like`]).
pub fn uniform_like(seed: u64, shape: &[i64], kind: Kind) -> Result<Tensor> {
    let (n, rest) = split_shape(shape)?;
    uniform(seed, 0, n, rest, Device::Cpu)?
        .f_to_kind(kind)
        .map_err(Error::from)
}

fn split_shape(shape: &[i64]) -> Result<(usize, &[i64])> {
    match shape.split_first() {
        Some((&n, rest)) if n >= 0 => Ok((n as usize, rest)),
        _ => Err(Error::InvalidArgument {
            name: "shape",
            reason: format!("needs at least one non-negative dimension, got {shape:?}"),
        }),
    }
}

fn rows(
    seed: u64,
    first_stream: u64,
    n: usize,
    row_shape: &[i64],
    device: Device,
    fill: impl Fn(&mut ChaCha8Rng, &mut [f32]),
) -> Result<Tensor> {
    if row_shape.iter().any(|&s| s <= 0) {
        return Err(Error::InvalidArgument {
            name: "row shape",
            reason: format!("every dimension must be > 0, got {row_shape:?}"),
        });
    }
    let d = row_shape.iter().product::<i64>() as usize;
    let mut data = vec![0f32; n * d];
    for (i, row) in data.chunks_mut(d.max(1)).enumerate() {
        fill(&mut stream_rng(seed, first_stream + i as u64), row);
    }
    let mut shape = vec![n as i64];
    shape.extend_from_slice(row_shape);
    Ok(Tensor::from_slice(&data)
        .f_reshape(&shape)?
        .f_to_device(device)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(t: &Tensor) -> Vec<f32> {
        Vec::<f32>::try_from(t.flatten(0, -1)).expect("f32 values")
    }

    #[test]
    fn same_seed_same_values_other_seed_other_values() {
        let a = standard_normal(7, 0, 3, &[2, 2], Device::Cpu).expect("draw");
        let b = standard_normal(7, 0, 3, &[2, 2], Device::Cpu).expect("draw");
        let c = standard_normal(8, 0, 3, &[2, 2], Device::Cpu).expect("draw");
        assert_eq!(a.size(), vec![3, 2, 2]);
        assert_eq!(values(&a), values(&b));
        assert_ne!(values(&a), values(&c));
    }

    #[test]
    fn rows_do_not_depend_on_how_many_are_drawn() {
        let all = standard_normal(3, 10, 5, &[4], Device::Cpu).expect("draw");
        let tail = standard_normal(3, 12, 3, &[4], Device::Cpu).expect("draw");
        assert_eq!(values(&all.narrow(0, 2, 3)), values(&tail));
    }

    #[test]
    fn draws_have_the_right_moments() {
        let z = normal_like(1, &[200, 50], Kind::Double).expect("draw");
        let u = uniform_like(2, &[200, 50], Kind::Double).expect("draw");
        let (zm, zs) = (
            z.mean(Kind::Double).double_value(&[]),
            z.std(true).double_value(&[]),
        );
        let (um, umin, umax) = (
            u.mean(Kind::Double).double_value(&[]),
            u.min().double_value(&[]),
            u.max().double_value(&[]),
        );
        // 10^4 draws: standard errors 0.01 (mean), 0.007 (std), 0.003 (uniform mean).
        assert!(zm.abs() < 0.04, "normal mean {zm}");
        assert!((zs - 1.0).abs() < 0.03, "normal std {zs}");
        assert!((um - 0.5).abs() < 0.012, "uniform mean {um}");
        assert!(umin >= 0.0 && umax < 1.0, "uniform range [{umin}, {umax}]");
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert!(standard_normal(0, 0, 2, &[0, 3], Device::Cpu).is_err());
        assert!(normal_like(0, &[], Kind::Float).is_err());
        assert!(uniform_like(0, &[-1, 2], Kind::Float).is_err());
    }
}
