//! A denoiser with its variables: the architecture chosen by config (UNet or BF-CNN, paper §1),
//! built into its own `VarStore` on a device. This is what training, checkpoints and evaluation take.

use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::{Device, Tensor};

use crate::bfcnn::{BfCnn, BfCnnConfig};
use crate::error::Result;
use crate::layers::Mode;
use crate::net::{impl_denoiser, ResidualNet};
use crate::unet::{UNet, UNetConfig};

/// Which network to build. In TOML: `[model] arch = "unet"` followed by the [`UNetConfig`] fields,
/// or `arch = "bf_cnn"` followed by the [`BfCnnConfig`] fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "arch", rename_all = "snake_case")]
pub enum ModelConfig {
    /// The bias-free UNet.
    #[serde(rename = "unet")]
    UNet(UNetConfig),
    /// The bias-free DnCNN.
    BfCnn(BfCnnConfig),
}

impl ModelConfig {
    /// Checks the values.
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::UNet(c) => c.validate(),
            Self::BfCnn(c) => c.validate(),
        }
    }
}

/// Parameter counts, split as in PAPER.md §1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamCounts {
    /// Conv and transposed-conv weights.
    pub conv_weights: i64,
    /// Batch-norm scales (gammas).
    pub bn_gammas: i64,
    /// Everything trainable (the sum of the two).
    pub trainable: i64,
    /// Non-trainable buffers (running_sd).
    pub buffers: i64,
}

enum Net {
    UNet(UNet),
    BfCnn(BfCnn),
}

/// A network plus the var store that owns its variables.
pub struct Model {
    vs: VarStore,
    net: Net,
    config: ModelConfig,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("config", &self.config)
            .field("device", &self.vs.device())
            .finish()
    }
}

impl Model {
    /// Validates `config` and builds a freshly initialised network on `device`.
    /// Initialisation draws from libtorch's global generator: seed it first for reproducibility.
    pub fn new(config: &ModelConfig, device: Device) -> Result<Self> {
        config.validate()?;
        let vs = VarStore::new(device);
        let net = match config {
            ModelConfig::UNet(c) => Net::UNet(UNet::new(&vs.root(), c)?),
            ModelConfig::BfCnn(c) => Net::BfCnn(BfCnn::new(&vs.root(), c)?),
        };
        Ok(Self {
            vs,
            net,
            config: config.clone(),
        })
    }

    /// The architecture.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The var store (names equal the PyTorch reference `state_dict` keys).
    pub fn var_store(&self) -> &VarStore {
        &self.vs
    }

    /// The var store, mutably (for loading).
    pub fn var_store_mut(&mut self) -> &mut VarStore {
        &mut self.vs
    }

    /// Sets every batch-norm scale (`gammas`) to `value`. At initialisation they are at most 0.025,
    /// so the network is nearly the zero map and its Jacobian nearly the identity; analyses and
    /// benchmarks that need a network with the spread spectrum of a trained one set them to 1.
    pub fn set_bn_scales(&self, value: f64) -> Result<()> {
        tch::no_grad(|| -> Result<()> {
            for (name, mut t) in self.named_variables() {
                if name.ends_with("gammas") {
                    let _ = t.f_fill_(value)?;
                }
            }
            Ok(())
        })
    }

    /// The network as a [`ResidualNet`].
    pub fn net(&self) -> &dyn ResidualNet {
        match &self.net {
            Net::UNet(n) => n,
            Net::BfCnn(n) => n,
        }
    }

    /// The predicted noise r(y) in `mode` (with autograd unless the caller disabled it).
    pub fn residual(&self, y: &Tensor, mode: Mode) -> Result<Tensor> {
        crate::net::check_input(self.net(), "residual", y)?;
        self.net().residual(y, mode)
    }

    /// Named variables sorted by name (trainable and buffers).
    pub fn named_variables(&self) -> Vec<(String, Tensor)> {
        let mut v: Vec<_> = self.vs.variables().into_iter().collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Named trainable variables sorted by name.
    pub fn named_trainable(&self) -> Vec<(String, Tensor)> {
        self.named_variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect()
    }

    /// Parameter counts by kind.
    pub fn param_counts(&self) -> ParamCounts {
        let mut c = ParamCounts {
            conv_weights: 0,
            bn_gammas: 0,
            trainable: 0,
            buffers: 0,
        };
        for (name, t) in self.named_variables() {
            let n = t.numel() as i64;
            if name.ends_with(".weight") {
                c.conv_weights += n;
            } else if name.ends_with(".gammas") {
                c.bn_gammas += n;
            }
            if t.requires_grad() {
                c.trainable += n;
            } else {
                c.buffers += n;
            }
        }
        c
    }
}

impl ResidualNet for Model {
    fn residual(&self, y: &Tensor, mode: Mode) -> Result<Tensor> {
        self.net().residual(y, mode)
    }
    fn net_device(&self) -> Device {
        self.vs.device()
    }
    fn image_channels(&self) -> i64 {
        self.net().image_channels()
    }
    fn size_multiple(&self) -> i64 {
        self.net().size_multiple()
    }
    fn label(&self) -> String {
        self.net().label()
    }
}

impl_denoiser!(Model);
