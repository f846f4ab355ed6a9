//! Device choice, seeding and a summary of the libtorch runtime (used by `gahb doctor`).

use tch::Device;

use crate::error::{Error, Result};

/// Seeds libtorch's global generators (CPU and CUDA).
pub fn manual_seed(seed: u64) {
    // libtorch takes an i64; the bit pattern is what matters.
    tch::manual_seed(seed as i64);
}

/// Parses `cpu`, `cuda`, `cuda:N` or `auto` (CUDA when available, else CPU).
pub fn parse_device(s: &str) -> Result<Device> {
    match s {
        "cpu" => Ok(Device::Cpu),
        "auto" => Ok(Device::cuda_if_available()),
        "cuda" => cuda(0),
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(i)) => cuda(i),
            _ => Err(Error::InvalidArgument {
                name: "device",
                reason: format!("`{other}` is not one of cpu, cuda, cuda:N, auto"),
            }),
        },
    }
}

fn cuda(i: usize) -> Result<Device> {
    if tch::Cuda::is_available() && (i as i64) < tch::Cuda::device_count() {
        Ok(Device::Cuda(i))
    } else {
        Err(Error::InvalidArgument {
            name: "device",
            reason: format!(
                "cuda:{i} is not available (libtorch sees {} CUDA devices); install the CUDA wheel \
                 with `cargo xtask setup --cuda` or use --device cpu",
                tch::Cuda::device_count()
            ),
        })
    }
}

/// What libtorch reports about the machine.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    /// Whether CUDA is usable.
    pub cuda_available: bool,
    /// Number of CUDA devices.
    pub cuda_devices: i64,
    /// Whether cuDNN is usable.
    pub cudnn_available: bool,
    /// Intra-op threads libtorch uses on CPU.
    pub threads: i32,
}

/// Queries libtorch for devices and threads.
pub fn device_summary() -> DeviceInfo {
    DeviceInfo {
        cuda_available: tch::Cuda::is_available(),
        cuda_devices: tch::Cuda::device_count(),
        cudnn_available: tch::Cuda::cudnn_is_available(),
        threads: tch::get_num_threads(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_devices() {
        assert_eq!(parse_device("cpu").ok(), Some(Device::Cpu));
        assert!(parse_device("gpu").is_err());
        assert!(parse_device("cuda:x").is_err());
        let auto = parse_device("auto").ok();
        assert!(auto.is_some());
    }
}
