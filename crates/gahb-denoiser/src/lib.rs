//! Bias-free denoisers (UNet, BF-CNN), universal blind training, checkpoints.
pub mod bfcnn;
pub mod error;
pub mod layers;
pub mod model;
pub mod net;
pub mod unet;

pub use bfcnn::{BfCnn, BfCnnConfig};
pub use error::{Error, Result};
pub use layers::Mode;
pub use model::{Model, ModelConfig, ParamCounts};
pub use net::ResidualNet;
pub use unet::{UNet, UNetConfig};
