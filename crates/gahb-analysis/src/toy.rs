//! A tiny bias-free convolutional ReLU denoiser with an exact forward linearization, for tests and
//! benchmarks of the Jacobian code (PAPER.md §1 bias-free networks, §5 "Cheaper route").
//!
//! f(y) = W_L ∗ relu(… relu(W_1 ∗ y)): no additive constants, so f(a·y) = a·f(y) for a > 0 and
//! f(y) = ∇f(y)·y. With the ReLU masks fixed at y the network is linear, and pushing directions
//! through it gives ∇f(y)·v exactly. Weights are random (seeded by the caller's `tch::manual_seed`):
//! this is a stand-in with the right algebraic structure, not a trained denoiser.

use gahb_tensor::{check_batch, Denoiser};
use tch::{nn, Device, Kind, Tensor};

use crate::error::{Error, Result};

/// A bias-free conv+ReLU stack: `channels` 3×3 convolutions, `depth` layers (≥ 2).
#[derive(Debug)]
pub struct BiasFreeConvNet {
    _vs: nn::VarStore,
    convs: Vec<nn::Conv2D>,
    device: Device,
}

impl BiasFreeConvNet {
    /// Builds the net for `image_channels`-channel images with `channels` hidden channels.
    pub fn new(image_channels: i64, channels: i64, depth: usize, device: Device) -> Result<Self> {
        if depth < 2 || channels < 1 || image_channels < 1 {
            return Err(Error::InvalidArgument {
                name: "BiasFreeConvNet",
                reason: format!(
                    "needs depth ≥ 2 and positive channels, got depth {depth}, channels \
                     {channels}, image channels {image_channels}"
                ),
            });
        }
        let vs = nn::VarStore::new(device);
        let cfg = nn::ConvConfig {
            padding: 1,
            bias: false,
            ..Default::default()
        };
        let root = vs.root();
        let mut convs = Vec::with_capacity(depth);
        for l in 0..depth {
            let cin = if l == 0 { image_channels } else { channels };
            let cout = if l + 1 == depth {
                image_channels
            } else {
                channels
            };
            convs.push(nn::conv2d(&root / format!("conv{l}"), cin, cout, 3, cfg));
        }
        Ok(Self {
            _vs: vs,
            convs,
            device,
        })
    }

    fn check(&self, t: &Tensor, op: &'static str) -> gahb_tensor::Result<()> {
        let (_, c, ..) = check_batch(op, t)?;
        let want = self.convs[0].ws.size()[1];
        if c != want {
            return Err(gahb_tensor::Error::ShapeMismatch {
                op,
                expected: format!("[b, {want}, h, w]"),
                got: t.size(),
            });
        }
        Ok(())
    }
}

impl Denoiser for BiasFreeConvNet {
    fn denoise(&self, y: &Tensor) -> gahb_tensor::Result<Tensor> {
        self.check(y, "BiasFreeConvNet::denoise")?;
        let mut h = y.f_to_kind(Kind::Float)?;
        let last = self.convs.len() - 1;
        for (l, conv) in self.convs.iter().enumerate() {
            h = h.f_conv2d(&conv.ws, None::<Tensor>, [1], [1], [1], 1)?;
            if l < last {
                h = h.f_relu()?;
            }
        }
        Ok(h)
    }

    fn linearized(&self, y: &Tensor, v: &Tensor) -> gahb_tensor::Result<Option<Tensor>> {
        self.check(y, "BiasFreeConvNet::linearized")?;
        self.check(v, "BiasFreeConvNet::linearized")?;
        let mut h = y.f_to_kind(Kind::Float)?;
        let mut g = v.f_to_kind(Kind::Float)?;
        let last = self.convs.len() - 1;
        for (l, conv) in self.convs.iter().enumerate() {
            h = h.f_conv2d(&conv.ws, None::<Tensor>, [1], [1], [1], 1)?;
            g = g.f_conv2d(&conv.ws, None::<Tensor>, [1], [1], [1], 1)?;
            if l < last {
                // The ReLU mask at y, [1, ch, h, w], broadcast over the k directions.
                let mask = h.f_gt(0.0)?.f_to_kind(Kind::Float)?;
                g = g.f_mul(&mask)?;
                h = h.f_relu()?;
            }
        }
        Ok(Some(g))
    }

    fn is_bias_free(&self) -> bool {
        true
    }

    fn device(&self) -> Device {
        self.device
    }

    fn name(&self) -> String {
        format!(
            "bias-free conv net ({} layers, {} channels)",
            self.convs.len(),
            self.convs[0].ws.size()[0]
        )
    }
}

/// The same net without its linearization, so that only the autograd routes can run.
#[derive(Debug)]
pub struct NoLinearization<D>(pub D);

impl<D: Denoiser> Denoiser for NoLinearization<D> {
    fn denoise(&self, y: &Tensor) -> gahb_tensor::Result<Tensor> {
        self.0.denoise(y)
    }
    fn is_bias_free(&self) -> bool {
        self.0.is_bias_free()
    }
    fn device(&self) -> Device {
        self.0.device()
    }
    fn name(&self) -> String {
        format!("{} (no linearization)", self.0.name())
    }
}
