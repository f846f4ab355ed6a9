//! Bias-free building blocks of paper §1: convolutions without bias, the bias-free batch norm
//! (scale only, running standard deviation, no mean, no shift) and ReLU, plus the forward modes
//! that make the exact linearization of §5 possible.
//!
//! Every layer here is positively homogeneous, so a network made of them satisfies
//! f(a·y) = a·f(y) for a > 0 and f(y) = ∇f(y)·y (paper §1).
//! Parameter names follow the PyTorch reference (`weight`, `gammas`, `running_sd`).

use tch::nn::{Init, Path};
use tch::{Kind, Tensor};

use crate::error::Result;

/// Batch-norm epsilon of the reference code's `BF_batchNorm`.
pub const BN_EPS: f64 = 1e-5;
/// Momentum of the running standard deviation: running_sd ← 0.9·running_sd + 0.1·sd.
pub const BN_MOMENTUM: f64 = 0.1;
/// Standard deviation of the gamma initialisation, 2/9/64 as written in the reference code.
pub const GAMMA_INIT_STD: f64 = 2.0 / 9.0 / 64.0;
/// Clamp of the gamma initialisation.
pub const GAMMA_INIT_CLAMP: f64 = 0.025;

/// How a network is run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Batch statistics in the batch norms (and running_sd updated); autograd as the caller set it.
    Train,
    /// Running statistics: each batch norm is a fixed diagonal scaling.
    Eval,
    /// Eval mode with every ReLU replaced by multiplication with the mask `x[0] > 0` of the first
    /// image of the batch. Row 0 is then the ordinary eval output at that image, and rows 1.. are
    /// the Jacobian at row 0 applied to the other rows (exact for a bias-free ReLU net, paper §5).
    Linearized,
}

/// A 2-D convolution without bias, `padding = kernel / 2`, Kaiming-normal (fan_in, a = 0) init.
#[derive(Debug)]
pub struct Conv2d {
    weight: Tensor,
    padding: i64,
}

impl Conv2d {
    /// Creates the variable `weight` `[out_ch, in_ch, k, k]` under `vs`.
    pub fn new(vs: &Path, in_ch: i64, out_ch: i64, kernel: i64) -> Result<Self> {
        let std = (2.0 / (in_ch * kernel * kernel) as f64).sqrt();
        let weight = vs.f_var(
            "weight",
            &[out_ch, in_ch, kernel, kernel],
            Init::Randn {
                mean: 0.0,
                stdev: std,
            },
        )?;
        Ok(Self {
            weight,
            padding: kernel / 2,
        })
    }

    /// # Shapes
    /// `[b, in_ch, h, w]` → `[b, out_ch, h, w]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.f_conv2d(
            &self.weight,
            None::<Tensor>,
            [1, 1],
            [self.padding, self.padding],
            [1, 1],
            1,
        )?)
    }
}

/// A transposed convolution with kernel 2, stride 2 and no bias (the UNet's upsampling).
/// Its weight is `[in_ch, out_ch, 2, 2]` as in PyTorch; the Kaiming fan_in PyTorch computes for that
/// tensor is `out_ch · 4`, which is what is used here.
#[derive(Debug)]
pub struct ConvTranspose2d {
    weight: Tensor,
}

impl ConvTranspose2d {
    /// Creates the variable `weight` `[in_ch, out_ch, 2, 2]` under `vs`.
    pub fn new(vs: &Path, in_ch: i64, out_ch: i64) -> Result<Self> {
        let std = (2.0 / (out_ch * 4) as f64).sqrt();
        let weight = vs.f_var(
            "weight",
            &[in_ch, out_ch, 2, 2],
            Init::Randn {
                mean: 0.0,
                stdev: std,
            },
        )?;
        Ok(Self { weight })
    }

    /// # Shapes
    /// `[b, in_ch, h, w]` → `[b, out_ch, 2h, 2w]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.f_conv_transpose2d(
            &self.weight,
            None::<Tensor>,
            [2, 2],
            [0, 0],
            [0, 0],
            1,
            [1, 1],
        )?)
    }
}

/// The bias-free batch norm of the reference code (`BF_batchNorm`, paper §1).
///
/// Train: x / sqrt(biased var over (N, H, W) + 1e-5) · gamma, the mean not subtracted, and
/// running_sd ← 0.9·running_sd + 0.1·sd. Eval: x / running_sd · gamma.
/// `running_sd` is a non-trainable variable of the var store, so checkpoints include it.
#[derive(Debug)]
pub struct BfBatchNorm {
    gammas: Tensor,
    running_sd: Tensor,
}

impl BfBatchNorm {
    /// Creates `gammas` (trainable) and `running_sd` (not trainable), both `[1, c, 1, 1]`.
    pub fn new(vs: &Path, channels: i64) -> Result<Self> {
        let g = Tensor::f_randn([1, channels, 1, 1], (Kind::Float, vs.device()))?
            .f_mul_scalar(GAMMA_INIT_STD)?
            .f_clamp(-GAMMA_INIT_CLAMP, GAMMA_INIT_CLAMP)?;
        let gammas = vs.f_var_copy("gammas", &g)?;
        let running_sd = vs.ones_no_train("running_sd", &[1, channels, 1, 1]);
        Ok(Self { gammas, running_sd })
    }

    /// # Shapes
    /// `[b, c, h, w]` → `[b, c, h, w]`.
    pub fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        match mode {
            Mode::Train => {
                let var = x.f_var_dim(Some(&[0i64, 2, 3][..]), false, true)?; // [1, c, 1, 1]
                let sd = var.f_add_scalar(BN_EPS)?.f_sqrt()?;
                tch::no_grad(|| -> Result<()> {
                    let new = self
                        .running_sd
                        .f_mul_scalar(1.0 - BN_MOMENTUM)?
                        .f_add(&sd.f_detach()?.f_mul_scalar(BN_MOMENTUM)?)?;
                    let mut rs = self.running_sd.shallow_clone();
                    rs.f_copy_(&new)?;
                    Ok(())
                })?;
                Ok(x.f_div(&sd)?.f_mul(&self.gammas)?)
            }
            Mode::Eval | Mode::Linearized => Ok(x.f_mul(&self.gammas.f_div(&self.running_sd)?)?),
        }
    }
}

/// ReLU in the given mode (see [`Mode::Linearized`]).
pub fn relu(x: &Tensor, mode: Mode) -> Result<Tensor> {
    match mode {
        Mode::Train | Mode::Eval => Ok(x.f_relu()?),
        Mode::Linearized => {
            let mask = x.f_narrow(0, 0, 1)?.f_gt(0.0)?.f_to_kind(x.kind())?; // [1, c, h, w]
            Ok(x.f_mul(&mask)?)
        }
    }
}

/// One entry of a [`Seq`], mirroring a PyTorch `nn.Sequential` entry.
#[derive(Debug)]
pub enum Layer {
    /// A bias-free 3×3 (or k×k) convolution.
    Conv(Conv2d),
    /// A bias-free batch norm.
    Bn(BfBatchNorm),
    /// A ReLU (no parameters, but it takes an index, as in PyTorch).
    Relu,
}

/// What to build at one position of a [`Seq`].
#[derive(Clone, Copy, Debug)]
pub enum LayerSpec {
    /// `Conv(in_ch, out_ch, kernel)`.
    Conv(i64, i64, i64),
    /// `Bn(channels)`.
    Bn(i64),
    /// A ReLU.
    Relu,
}

/// A sequence of layers whose variables are named `{index}.weight`, `{index}.gammas`, ... like the
/// entries of a PyTorch `nn.Sequential`, so that reference `state_dict` keys load unchanged.
#[derive(Debug)]
pub struct Seq {
    layers: Vec<Layer>,
}

impl Seq {
    /// Builds the layers of `specs` under `vs`, the i-th one under `vs / i`.
    pub fn new(vs: &Path, specs: &[LayerSpec]) -> Result<Self> {
        let layers = specs
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let p = vs / i;
                Ok(match *spec {
                    LayerSpec::Conv(cin, cout, k) => Layer::Conv(Conv2d::new(&p, cin, cout, k)?),
                    LayerSpec::Bn(c) => Layer::Bn(BfBatchNorm::new(&p, c)?),
                    LayerSpec::Relu => Layer::Relu,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { layers })
    }

    /// Runs the layers in order.
    pub fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let mut x = x.shallow_clone();
        for layer in &self.layers {
            x = match layer {
                Layer::Conv(c) => c.forward(&x)?,
                Layer::Bn(bn) => bn.forward(&x, mode)?,
                Layer::Relu => relu(&x, mode)?,
            };
        }
        Ok(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::VarStore;
    use tch::Device;

    #[test]
    fn batch_norm_train_and_eval_follow_the_reference() {
        tch::manual_seed(0);
        let vs = VarStore::new(Device::Cpu);
        let bn = BfBatchNorm::new(&vs.root(), 3).expect("bn");
        let x = gahb_tensor::random::normal_like(0, &[4, 3, 5, 5], Kind::Float).expect("draw")
            * 2.0
            + 1.0;
        let y = bn.forward(&x, Mode::Train).expect("train");
        // The mean is not subtracted: the ratio y/x is gamma/sd per channel.
        let sd = (x.var_dim(Some(&[0i64, 2, 3][..]), false, true) + BN_EPS).sqrt();
        let expected = &x / &sd * &bn.gammas;
        assert!(y.allclose(&expected, 1e-6, 1e-7, false));
        let expected_rs = sd * BN_MOMENTUM + (1.0 - BN_MOMENTUM);
        assert!(bn.running_sd.allclose(&expected_rs, 1e-6, 1e-7, false));
        // Eval divides by the running sd.
        let ye = bn.forward(&x, Mode::Eval).expect("eval");
        assert!(ye.allclose(&(&x / &bn.running_sd * &bn.gammas), 1e-6, 1e-7, false));
        // Gammas are small and clamped; running_sd is saved but not trained.
        assert!(bn.gammas.abs().max().double_value(&[]) <= GAMMA_INIT_CLAMP);
        assert_eq!(vs.trainable_variables().len(), 1);
        assert_eq!(vs.variables().len(), 2);
    }

    #[test]
    fn conv_weights_are_kaiming_fan_in() {
        tch::manual_seed(1);
        let vs = VarStore::new(Device::Cpu);
        let c = Conv2d::new(&(vs.root() / "c"), 64, 64, 3).expect("conv");
        let std = f64::try_from(c.weight.std(true)).expect("std");
        assert!((std - (2.0f64 / 576.0).sqrt()).abs() < 0.003, "std {std}");
        assert!(vs.variables().contains_key("c.weight"));
    }
}
