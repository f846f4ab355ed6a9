//! The bias-free UNet of paper §1 (App. A, Table 1) and of the reference code's `network.UNet`.
//!
//! Layout for `n_blocks = 3`, `c = base_channels = 64`, 80×80 input:
//! - encoder b = 0: conv 1→c, ReLU; conv c→c, BN, ReLU; encoder b > 0: conv, BN, ReLU twice,
//!   doubling the channels; after each block a 2×2 average pool (the pre-pool output is the skip);
//! - mid: conv c·2^(n−1)→c·2^n, BN, ReLU; conv, BN, ReLU;
//! - decoder b = n−1..0: transposed conv (k = 2, s = 2) halving the channels, concatenation
//!   (upsampled first, then skip), conv 2c_b→c_b, BN, ReLU, and for b > 0 conv c_b→c_b, BN, ReLU;
//!   for b = 0 a final conv c→1 with no BN and no ReLU.
//!
//! The output is the residual (predicted noise); the denoised image is y − net(y).
//! Variable names equal the reference `state_dict` keys: `encoder.{b}.{i}.weight`,
//! `encoder.{b}.{i}.gammas`, `encoder.{b}.{i}.running_sd`, `mid_block.{i}.*`, `upsample.{b}.weight`,
//! `decoder.{b}.{i}.*`, where `i` is the position in the reference's `nn.Sequential`.

use serde::{Deserialize, Serialize};
use tch::nn::Path;
use tch::{Device, Tensor};

use crate::error::{check_conv_shape, invalid, Result};
use crate::layers::{ConvTranspose2d, LayerSpec, Mode, Seq};
use crate::net::{impl_denoiser, ResidualNet};

/// The UNet's shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UNetConfig {
    /// Number of encoder (and decoder) blocks: 1, 2, 3, 4 for 20², 40², 80², 160² (Table 1).
    pub n_blocks: usize,
    /// Channels of the first block (64 in the paper); block b has `base_channels · 2^b`.
    pub base_channels: i64,
    /// Image channels (1: grayscale, the default).
    #[serde(default = "crate::net::default_image_channels")]
    pub image_channels: i64,
    /// Training image size (height = width); must be divisible by 2^n_blocks.
    pub image_size: i64,
    /// Convolution kernel size (3 in the paper and by default; odd).
    #[serde(default = "crate::net::default_kernel_size")]
    pub kernel_size: i64,
}

impl UNetConfig {
    /// The paper's main model: 80×80, 3 blocks, 64 channels (7,656,576 conv weights + 2,688 gammas).
    pub fn paper_80x80() -> Self {
        Self::for_resolution(80).expect("invariant: 80 is a Table 1 resolution")
    }

    /// The Table 1 model for a size of 20, 40, 80 or 160 (1, 2, 3, 4 blocks), 64 channels.
    pub fn for_resolution(size: i64) -> Result<Self> {
        let n_blocks = match size {
            20 => 1,
            40 => 2,
            80 => 3,
            160 => 4,
            other => {
                return Err(invalid(
                    "image_size",
                    format!("Table 1 has sizes 20, 40, 80 and 160, got {other}"),
                ))
            }
        };
        Ok(Self {
            n_blocks,
            base_channels: 64,
            image_channels: 1,
            image_size: size,
            kernel_size: 3,
        })
    }

    /// A tiny UNet for tests: 16×16, 2 blocks, 8 channels.
    pub fn tiny() -> Self {
        Self {
            n_blocks: 2,
            base_channels: 8,
            image_channels: 1,
            image_size: 16,
            kernel_size: 3,
        }
    }

    /// Checks the values; constructors call it.
    pub fn validate(&self) -> Result<()> {
        if self.n_blocks == 0 || self.n_blocks > 8 {
            return Err(invalid(
                "n_blocks",
                format!("must be in 1..=8, got {}", self.n_blocks),
            ));
        }
        check_conv_shape(
            "base_channels",
            self.base_channels,
            self.image_channels,
            self.kernel_size,
        )?;
        let m = 1i64 << self.n_blocks;
        if self.image_size <= 0 || self.image_size % m != 0 {
            return Err(invalid(
                "image_size",
                format!(
                    "{} is not divisible by 2^n_blocks = {m} (n_blocks = {})",
                    self.image_size, self.n_blocks
                ),
            ));
        }
        Ok(())
    }

    /// Channels of block `b` (b = n_blocks is the mid block).
    fn ch(&self, b: usize) -> i64 {
        self.base_channels << b
    }
}

/// The bias-free UNet (paper §1).
#[derive(Debug)]
pub struct UNet {
    encoder: Vec<Seq>,
    mid_block: Seq,
    upsample: Vec<ConvTranspose2d>,
    decoder: Vec<Seq>,
    config: UNetConfig,
    device: Device,
}

impl UNet {
    /// Builds the UNet's variables under `vs` (use the var store's root for reference key names).
    pub fn new(vs: &Path, config: &UNetConfig) -> Result<Self> {
        use LayerSpec::{Bn, Conv, Relu};
        config.validate()?;
        let k = config.kernel_size;
        let n = config.n_blocks;
        let mut encoder = Vec::with_capacity(n);
        for b in 0..n {
            let c = config.ch(b);
            let specs = if b == 0 {
                vec![
                    Conv(config.image_channels, c, k),
                    Relu,
                    Conv(c, c, k),
                    Bn(c),
                    Relu,
                ]
            } else {
                let cin = config.ch(b - 1);
                vec![Conv(cin, c, k), Bn(c), Relu, Conv(c, c, k), Bn(c), Relu]
            };
            encoder.push(Seq::new(&(vs / "encoder" / b), &specs)?);
        }
        let (cin, cm) = (config.ch(n - 1), config.ch(n));
        let mid_block = Seq::new(
            &(vs / "mid_block"),
            &[
                Conv(cin, cm, k),
                Bn(cm),
                Relu,
                Conv(cm, cm, k),
                Bn(cm),
                Relu,
            ],
        )?;
        // The reference builds the decoder from b = n−1 down to 0; creation order does not change names.
        let mut upsample = Vec::with_capacity(n);
        let mut decoder = Vec::with_capacity(n);
        for b in 0..n {
            let c = config.ch(b);
            upsample.push(ConvTranspose2d::new(&(vs / "upsample" / b), 2 * c, c)?);
            let specs = if b == 0 {
                vec![
                    Conv(2 * c, c, k),
                    Bn(c),
                    Relu,
                    Conv(c, config.image_channels, k),
                ]
            } else {
                vec![Conv(2 * c, c, k), Bn(c), Relu, Conv(c, c, k), Bn(c), Relu]
            };
            decoder.push(Seq::new(&(vs / "decoder" / b), &specs)?);
        }
        Ok(Self {
            encoder,
            mid_block,
            upsample,
            decoder,
            config: config.clone(),
            device: vs.device(),
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &UNetConfig {
        &self.config
    }
}

impl ResidualNet for UNet {
    fn residual(&self, y: &Tensor, mode: Mode) -> Result<Tensor> {
        let n = self.config.n_blocks;
        let mut skips = Vec::with_capacity(n);
        let mut x = y.shallow_clone(); // [b, 1, h, w]
        for enc in &self.encoder {
            let unpooled = enc.forward(&x, mode)?; // [b, c_b, h_b, w_b]
            x = unpooled.f_avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None)?; // [b, c_b, h_b/2, w_b/2]
            skips.push(unpooled);
        }
        x = self.mid_block.forward(&x, mode)?; // [b, c_n, h/2^n, w/2^n]
        for b in (0..n).rev() {
            let up = self.upsample[b].forward(&x)?; // [b, c_b, h_b, w_b]
            let cat = Tensor::f_cat(&[&up, &skips[b]], 1)?; // [b, 2 c_b, h_b, w_b]
            x = self.decoder[b].forward(&cat, mode)?;
        }
        Ok(x) // [b, 1, h, w]
    }

    fn net_device(&self) -> Device {
        self.device
    }

    fn image_channels(&self) -> i64 {
        self.config.image_channels
    }

    fn size_multiple(&self) -> i64 {
        1 << self.config.n_blocks
    }

    fn label(&self) -> String {
        format!(
            "unet{}b{}c",
            self.config.n_blocks, self.config.base_channels
        )
    }
}

impl_denoiser!(UNet);
