//! Bias-free denoisers (UNet, BF-CNN), universal blind training, checkpoints.
pub mod adam;
pub mod bfcnn;
pub mod checkpoint;
pub mod error;
pub mod layers;
pub mod model;
pub mod net;
pub mod train;
pub mod unet;

pub use adam::Adam;
pub use bfcnn::{BfCnn, BfCnnConfig};
pub use checkpoint::CheckpointMeta;
pub use error::{Error, Result};
pub use layers::Mode;
pub use model::{Model, ModelConfig, ParamCounts};
pub use net::ResidualNet;
pub use train::{
    train, NoiseSampling, Plan, RunOptions, ScheduleUnit, StepInfo, TrainConfig, TrainReport,
    Trainer,
};
pub use unet::{UNet, UNetConfig};
