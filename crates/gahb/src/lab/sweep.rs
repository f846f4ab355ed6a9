//! The N-sweep shared by Figs. 1, 2, 3, 6 and 15 (PAPER.md §2-§3): one dataset split into disjoint,
//! nested training sets S1 = first N and S2 = last N, plus a held-out test block; one denoiser is
//! trained on each ([`crate::lab::context::Lab::sweep_model`]) and its PSNR curves measured once per
//! run ([`crate::lab::context::Lab::sweep_curves`]).

use anyhow::{Context, Result};
use gahb_data::Split;
use gahb_denoiser::{ModelConfig, PsnrRow};
use ndarray::{s, Array3, Axis};
use serde::{Deserialize, Serialize};

use crate::lab::data::{DataSpec, Loaded};
use crate::lab::recipe::TrainSpec;

/// `[sweep]` in a profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// The images.
    pub data: DataSpec,
    /// Training-set sizes N, ascending.
    pub ns: Vec<usize>,
    /// Held-out images (a block in the middle of the set, disjoint from every S1 and S2).
    pub n_test: usize,
    /// Images on which PSNR curves are measured (training images are tiled when N is smaller).
    pub n_eval: usize,
    /// The network (the denoiser crate's config, as it is hashed into each model's key).
    pub net: ModelConfig,
    /// Training recipe; the profile's `[train]` when absent.
    #[serde(default)]
    pub train: Option<TrainSpec>,
}

/// Which half of the split a model trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Half {
    /// S1 = the first N images.
    S1,
    /// S2 = the last N images.
    S2,
}

impl Half {
    /// `S1` or `S2`.
    pub fn name(self) -> &'static str {
        match self {
            Half::S1 => "S1",
            Half::S2 => "S2",
        }
    }
}

/// The train and test PSNR curves of one S1 model.
#[derive(Debug, Clone, Serialize)]
pub struct Curves {
    /// Training-set size.
    pub n: usize,
    /// On training images.
    pub train: Vec<PsnrRow>,
    /// On held-out images.
    pub test: Vec<PsnrRow>,
}

/// The curves of every N of a sweep, and what the data are.
#[derive(Debug, Clone, Serialize)]
pub struct SweepCurves {
    /// One per N, ascending.
    pub curves: Vec<Curves>,
    /// The data's description.
    pub description: String,
}

impl SweepSpec {
    /// The same sweep at another image size and number of UNet blocks (Fig. 15).
    pub fn at_resolution(&self, size: usize, blocks: usize) -> Result<Self> {
        let mut s = self.clone();
        s.data = s.data.with_size(size);
        match &mut s.net {
            ModelConfig::UNet(u) => {
                u.image_size = size as i64;
                u.n_blocks = blocks;
            }
            ModelConfig::BfCnn(_) => {
                anyhow::bail!("fig15 resolutions need a UNet in sweep.net (blocks per size)")
            }
        }
        Ok(s)
    }

    /// The split for `n` over `total` images.
    pub fn split(&self, total: usize, n: usize) -> Result<Split> {
        Split::new(total, n, self.n_test)
            .with_context(|| format!("sweep N = {n} with {} test images", self.n_test))
    }

    /// The training images of half `half` at size `n`.
    pub fn train_images(&self, data: &Loaded, n: usize, half: Half) -> Result<Array3<f32>> {
        let split = self.split(data.images.dim().0, n)?;
        Ok(match half {
            Half::S1 => split.s1_of(data.images.view())?,
            Half::S2 => split.s2_of(data.images.view())?,
        })
    }

    /// The first `n_eval` held-out images (the test block is the same for every N).
    pub fn test_images(&self, data: &Loaded) -> Result<Array3<f32>> {
        let n0 = *self.ns.first().context("sweep.ns is empty")?;
        let t = self
            .split(data.images.dim().0, n0)?
            .test_of(data.images.view())?;
        let k = self.n_eval.min(t.dim().0);
        Ok(t.slice(s![..k, .., ..]).to_owned())
    }

    /// `n_eval` training images of a set: the set itself, tiled when it is smaller.
    pub fn eval_train_images(&self, train: &Array3<f32>) -> Array3<f32> {
        let n = train.dim().0;
        let idx: Vec<usize> = (0..self.n_eval.max(1)).map(|i| i % n).collect();
        train.select(Axis(0), &idx)
    }

    /// Checks the sizes against the data.
    pub fn validate(&self, data: &Loaded) -> Result<()> {
        anyhow::ensure!(!self.ns.is_empty(), "sweep.ns is empty");
        anyhow::ensure!(
            self.ns.windows(2).all(|w| w[0] < w[1]),
            "sweep.ns must be strictly ascending, got {}",
            crate::lab::recipe::list(&self.ns)
        );
        anyhow::ensure!(self.n_test > 0, "sweep.n_test must be at least 1, got 0");
        anyhow::ensure!(self.n_eval > 0, "sweep.n_eval must be at least 1, got 0");
        for &n in &self.ns {
            self.split(data.images.dim().0, n)?;
        }
        Ok(())
    }
}
