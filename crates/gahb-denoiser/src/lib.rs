//! Bias-free denoisers (UNet, BF-CNN), universal blind training, checkpoints.
pub mod adam;
pub mod bfcnn;
pub mod checkpoint;
pub mod error;
pub mod eval;
pub mod layers;
pub mod model;
pub mod net;
pub mod profiles;
pub mod train;
pub mod unet;

pub use adam::Adam;
pub use bfcnn::{BfCnn, BfCnnConfig};
pub use checkpoint::CheckpointMeta;
pub use error::{Error, Result};
pub use eval::{paper_sigmas, psnr_curve, rows_to_csv, PsnrRow};
pub use layers::Mode;
pub use model::{Model, ModelConfig, ParamCounts};
pub use net::ResidualNet;
pub use profiles::Profile;
pub use train::{
    train, NoiseSampling, Plan, RunOptions, ScheduleUnit, StepInfo, TrainConfig, TrainReport,
    Trainer,
};
pub use unet::{UNet, UNetConfig};
