//! Adam, written out over the var store's named variables so that its state (step count, first and
//! second moments) can be saved in checkpoints and training resumes exactly (paper §2: Adam, lr 1e-3).
//!
//! tch's `nn::Optimizer` wraps the C++ optimizer and exposes no way to save or restore its moments,
//! hence this implementation. It follows `torch.optim.Adam` (no weight decay, no amsgrad):
//! m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², p ← p − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε).

use std::collections::HashMap;

use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};

/// Adam's state for a fixed, named list of parameters.
#[derive(Debug)]
pub struct Adam {
    betas: (f64, f64),
    eps: f64,
    t: i64,
    params: Vec<(String, Tensor)>,
    exp_avg: Vec<Tensor>,
    exp_avg_sq: Vec<Tensor>,
}

impl Adam {
    /// Adam over `params` (name, trainable tensor) with zero moments and step 0.
    pub fn new(params: Vec<(String, Tensor)>, betas: (f64, f64), eps: f64) -> Result<Self> {
        let zeros = |p: &Tensor| -> Result<Tensor> { Ok(p.f_zeros_like()?.f_detach()?) };
        let exp_avg = params
            .iter()
            .map(|(_, p)| zeros(p))
            .collect::<Result<Vec<_>>>()?;
        let exp_avg_sq = params
            .iter()
            .map(|(_, p)| zeros(p))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            betas,
            eps,
            t: 0,
            params,
            exp_avg,
            exp_avg_sq,
        })
    }

    /// The number of steps taken.
    pub fn steps_taken(&self) -> i64 {
        self.t
    }

    /// Clears the parameters' gradients.
    pub fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            p.zero_grad();
        }
    }

    /// Rescales the gradients so that their global L2 norm is at most `max`; returns the norm
    /// before rescaling.
    pub fn clip_grad_norm(&mut self, max: f64) -> Result<f64> {
        let mut sq = 0.0;
        for (_, p) in &self.params {
            let g = p.grad();
            if g.defined() {
                sq += g.f_square()?.f_sum(Kind::Double)?.f_double_value(&[])?;
            }
        }
        let norm = sq.sqrt();
        if norm > max {
            let scale = max / norm;
            tch::no_grad(|| -> Result<()> {
                for (_, p) in &self.params {
                    let mut g = p.grad();
                    if g.defined() {
                        let _ = g.f_mul_scalar_(scale)?;
                    }
                }
                Ok(())
            })?;
        }
        Ok(norm)
    }

    /// One Adam update with learning rate `lr`, from the gradients autograd left on the parameters.
    pub fn step(&mut self, lr: f64) -> Result<()> {
        self.t += 1;
        let (b1, b2) = self.betas;
        let bc1 = 1.0 - b1.powi(self.t as i32);
        let bc2_sqrt = (1.0 - b2.powi(self.t as i32)).sqrt();
        let step_size = lr / bc1;
        tch::no_grad(|| -> Result<()> {
            for ((_, p), (m, v)) in self
                .params
                .iter_mut()
                .zip(self.exp_avg.iter_mut().zip(self.exp_avg_sq.iter_mut()))
            {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let _ = m.f_mul_scalar_(b1)?;
                let _ = m.f_add_(&g.f_mul_scalar(1.0 - b1)?)?;
                let _ = v.f_mul_scalar_(b2)?;
                let _ = v.f_add_(&g.f_square()?.f_mul_scalar(1.0 - b2)?)?;
                let denom = v.f_sqrt()?.f_div_scalar(bc2_sqrt)?.f_add_scalar(self.eps)?;
                let _ = p.f_sub_(&m.f_div(&denom)?.f_mul_scalar(step_size)?)?;
            }
            Ok(())
        })
    }

    /// The state as named CPU tensors: `step`, `exp_avg.{name}`, `exp_avg_sq.{name}`.
    pub fn state_tensors(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = vec![("step".to_string(), Tensor::from_slice(&[self.t]))];
        for ((name, _), (m, v)) in self
            .params
            .iter()
            .zip(self.exp_avg.iter().zip(&self.exp_avg_sq))
        {
            out.push((format!("exp_avg.{name}"), m.f_to_device(Device::Cpu)?));
            out.push((format!("exp_avg_sq.{name}"), v.f_to_device(Device::Cpu)?));
        }
        Ok(out)
    }

    /// Restores the state written by [`Adam::state_tensors`]; every moment must be present with the
    /// parameter's shape.
    pub fn load_state(&mut self, tensors: Vec<(String, Tensor)>) -> Result<()> {
        let map: HashMap<String, Tensor> = tensors.into_iter().collect();
        let get = |key: &str| {
            map.get(key).ok_or_else(|| Error::InvalidConfig {
                field: "optimizer state",
                reason: format!("missing tensor {key}"),
            })
        };
        let t = get("step")?.f_to_kind(Kind::Int64)?.f_int64_value(&[0])?;
        tch::no_grad(|| -> Result<()> {
            for ((name, p), (m, v)) in self
                .params
                .iter()
                .zip(self.exp_avg.iter_mut().zip(self.exp_avg_sq.iter_mut()))
            {
                for (prefix, dst) in [("exp_avg", m), ("exp_avg_sq", v)] {
                    let src = get(&format!("{prefix}.{name}"))?;
                    if src.size() != p.size() {
                        return Err(Error::ShapeMismatch {
                            op: "optimizer state",
                            expected: format!("{prefix}.{name} of shape {:?}", p.size()),
                            got: src.size(),
                        });
                    }
                    dst.f_copy_(src)?;
                }
            }
            Ok(())
        })?;
        self.t = t;
        Ok(())
    }
}
