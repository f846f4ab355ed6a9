//! Named training profiles (paper §2): the paper's scale for a GPU, and scales that train in
//! 10-20 minutes on 2 CPU cores (docs/TOOLCHAIN.md speed anchors).

use serde::{Deserialize, Serialize};

use crate::error::{invalid, Result};
use crate::model::ModelConfig;
use crate::train::{NoiseSampling, ScheduleUnit, TrainConfig};
use crate::unet::UNetConfig;

/// A model and how to train it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The profile's name.
    pub name: String,
    /// The architecture.
    pub model: ModelConfig,
    /// The training hyper-parameters.
    pub train: TrainConfig,
}

/// The names [`by_name`] knows.
pub const PROFILE_NAMES: [&str; 3] = ["paper-80x80", "cpu-40x40", "cpu-32x32"];

/// The paper's main setting: UNet 80×80, 3 blocks, 64 channels; batch 512, 1000 epochs of ~250k
/// images, Adam 1e-3 halved every 100 epochs, σ ~ U[0, 1] (a GPU job: ~16 h on 4 A100s).
pub fn paper_80x80() -> Profile {
    Profile {
        name: "paper-80x80".into(),
        model: ModelConfig::UNet(UNetConfig::paper_80x80()),
        train: TrainConfig::default(),
    }
}

/// A CPU-sized profile at `size` (divisible by 4): UNet 2 blocks, 32 channels, batch 64,
/// 4000 steps, lr 1e-3 halved at steps 2000 and 3000.
fn cpu(size: i64) -> Profile {
    Profile {
        name: format!("cpu-{size}x{size}"),
        model: ModelConfig::UNet(UNetConfig {
            n_blocks: 2,
            base_channels: 32,
            image_channels: 1,
            image_size: size,
            kernel_size: 3,
        }),
        train: TrainConfig {
            batch_size: 64,
            epochs: None,
            steps: Some(4000),
            epoch_images: None,
            lr_milestones: vec![2000, 3000],
            milestone_unit: ScheduleUnit::Steps,
            noise: NoiseSampling::Uniform,
            checkpoint_every: 500,
            ..TrainConfig::default()
        },
    }
}

/// 40×40 (Table 1's 2-block size), 32 channels, 4000 steps of 64 images.
pub fn cpu_40x40() -> Profile {
    cpu(40)
}

/// 32×32, 32 channels, 4000 steps of 64 images.
pub fn cpu_32x32() -> Profile {
    cpu(32)
}

/// The profile called `name` (one of [`PROFILE_NAMES`]).
pub fn by_name(name: &str) -> Result<Profile> {
    match name {
        "paper-80x80" => Ok(paper_80x80()),
        "cpu-40x40" => Ok(cpu_40x40()),
        "cpu-32x32" => Ok(cpu_32x32()),
        other => Err(invalid(
            "profile",
            format!(
                "unknown profile {other:?}; known: {}",
                PROFILE_NAMES.join(", ")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_is_valid_and_named() {
        for name in PROFILE_NAMES {
            let p = by_name(name).expect("profile");
            assert_eq!(p.name, name);
            p.model.validate().expect("model");
            p.train.validate().expect("train");
        }
        assert!(by_name("gpu").is_err());
        let p = paper_80x80();
        assert_eq!(p.train.batch_size, 512);
        assert_eq!(p.train.epochs, Some(1000));
    }
}
