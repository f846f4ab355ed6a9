//! The BF-CNN of paper §1: a bias-free DnCNN with 21 layers of 64 channels and no downsampling
//! (reference code `network.BF_CNN`).
//!
//! Layer 0 is a conv, followed by a ReLU unless `first_layer_linear` (main.py's default is a ReLU);
//! layers 1..L−2 are conv, BF-BN, ReLU; the last layer is a plain conv giving the residual.
//! Variable names equal the reference keys: `conv_layers.{l}.weight`, `BN_layers.{l−1}.gammas`,
//! `BN_layers.{l−1}.running_sd`.

use serde::{Deserialize, Serialize};
use tch::nn::Path;
use tch::{Device, Tensor};

use crate::error::{check_conv_shape, invalid, Result};
use crate::layers::{relu, BfBatchNorm, Conv2d, Mode};
use crate::net::{impl_denoiser, ResidualNet};

/// The BF-CNN's shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BfCnnConfig {
    /// Number of conv layers (21 in the paper; at least 2).
    pub n_layers: usize,
    /// Channels of the hidden layers (64 in the paper).
    pub channels: i64,
    /// Image channels (1: grayscale).
    #[serde(default = "crate::net::default_image_channels")]
    pub image_channels: i64,
    /// Convolution kernel size (3; odd).
    #[serde(default = "crate::net::default_kernel_size")]
    pub kernel_size: i64,
    /// No ReLU after the first conv (reference `first_layer_linear`; main.py uses false).
    #[serde(default)]
    pub first_layer_linear: bool,
}

impl Default for BfCnnConfig {
    /// The paper's BF-CNN: 21 layers, 64 channels, 702,784 parameters.
    fn default() -> Self {
        Self {
            n_layers: 21,
            channels: 64,
            image_channels: 1,
            kernel_size: 3,
            first_layer_linear: false,
        }
    }
}

impl BfCnnConfig {
    /// The paper's BF-CNN (same as `default()`).
    pub fn paper() -> Self {
        Self::default()
    }

    /// A narrower or shallower BF-CNN.
    pub fn with(n_layers: usize, channels: i64) -> Self {
        Self {
            n_layers,
            channels,
            ..Self::default()
        }
    }

    /// A tiny BF-CNN for tests: 5 layers, 8 channels.
    pub fn tiny() -> Self {
        Self::with(5, 8)
    }

    /// Checks the values; constructors call it.
    pub fn validate(&self) -> Result<()> {
        if self.n_layers < 2 {
            return Err(invalid(
                "n_layers",
                format!("must be at least 2, got {}", self.n_layers),
            ));
        }
        check_conv_shape(
            "channels",
            self.channels,
            self.image_channels,
            self.kernel_size,
        )?;
        Ok(())
    }
}

/// The bias-free DnCNN (paper §1).
#[derive(Debug)]
pub struct BfCnn {
    conv_layers: Vec<Conv2d>,
    bn_layers: Vec<BfBatchNorm>,
    config: BfCnnConfig,
    device: Device,
}

impl BfCnn {
    /// Builds the BF-CNN's variables under `vs`.
    pub fn new(vs: &Path, config: &BfCnnConfig) -> Result<Self> {
        config.validate()?;
        let (l, c, k, ic) = (
            config.n_layers,
            config.channels,
            config.kernel_size,
            config.image_channels,
        );
        let convs = vs / "conv_layers";
        let bns = vs / "BN_layers";
        let mut conv_layers = vec![Conv2d::new(&(&convs / 0), ic, c, k)?];
        let mut bn_layers = Vec::with_capacity(l - 2);
        for i in 1..l - 1 {
            conv_layers.push(Conv2d::new(&(&convs / i), c, c, k)?);
            bn_layers.push(BfBatchNorm::new(&(&bns / (i - 1)), c)?);
        }
        conv_layers.push(Conv2d::new(&(&convs / (l - 1)), c, ic, k)?);
        Ok(Self {
            conv_layers,
            bn_layers,
            config: config.clone(),
            device: vs.device(),
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &BfCnnConfig {
        &self.config
    }
}

impl ResidualNet for BfCnn {
    fn residual(&self, y: &Tensor, mode: Mode) -> Result<Tensor> {
        let l = self.config.n_layers;
        let mut x = self.conv_layers[0].forward(y)?; // [b, c, h, w]
        if !self.config.first_layer_linear {
            x = relu(&x, mode)?;
        }
        for i in 1..l - 1 {
            x = self.conv_layers[i].forward(&x)?;
            x = self.bn_layers[i - 1].forward(&x, mode)?;
            x = relu(&x, mode)?;
        }
        self.conv_layers[l - 1].forward(&x) // [b, 1, h, w]
    }

    fn net_device(&self) -> Device {
        self.device
    }

    fn image_channels(&self) -> i64 {
        self.config.image_channels
    }

    fn label(&self) -> String {
        format!("bfcnn{}l{}c", self.config.n_layers, self.config.channels)
    }
}

impl_denoiser!(BfCnn);
