//! The N-sweep shared by Figs. 1, 2, 6 and 15: one dataset split into disjoint, nested training
//! sets S1 = first N and S2 = last N (PAPER.md §2) plus a held-out test block, and a denoiser
//! trained on each, cached by content.

use anyhow::{Context, Result};
use gahb_data::Split;
use gahb_denoiser::Model;
use ndarray::{s, Array3, Axis};
use serde::{Deserialize, Serialize};

use crate::ctx::{Ctx, TrainedInfo};
use crate::data::{load, DataSpec};
use crate::experiments::derive_seed;
use crate::profile::{NetSpec, TrainSpec};

/// `[sweep]` in a profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepConfig {
    /// The images.
    pub data: DataSpec,
    /// Training-set sizes N, ascending.
    pub ns: Vec<usize>,
    /// Held-out images (a block in the middle of the set, disjoint from every S1 and S2).
    pub n_test: usize,
    /// Images on which PSNR curves are measured (training images are tiled when N is smaller).
    pub n_eval: usize,
    /// The network.
    pub net: NetSpec,
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

/// The sweep's images.
pub struct SweepData {
    /// All images, in dataset order, and what they are.
    pub loaded: std::rc::Rc<crate::data::Loaded>,
}

impl SweepConfig {
    /// Checks sizes against the data and returns the split for `n`.
    pub fn split(&self, data: &SweepData, n: usize) -> Result<Split> {
        Split::new(data.loaded.images.dim().0, n, self.n_test)
            .with_context(|| format!("sweep N = {n} with {} test images", self.n_test))
    }

    /// Loads the images (synthetic ones from the profile seed).
    pub fn load(&self, ctx: &Ctx) -> Result<SweepData> {
        let l = load(ctx, &self.data, derive_seed(ctx.profile.seed, "sweep-data"))?;
        Ok(SweepData { loaded: l })
    }

    /// The training images of half `half` at size `n`.
    pub fn train_images(&self, data: &SweepData, n: usize, half: Half) -> Result<Array3<f32>> {
        let split = self.split(data, n)?;
        Ok(match half {
            Half::S1 => split.s1_of(data.loaded.images.view())?,
            Half::S2 => split.s2_of(data.loaded.images.view())?,
        })
    }

    /// The first `n_eval` held-out images (the test block is the same for every N).
    pub fn test_images(&self, data: &SweepData) -> Result<Array3<f32>> {
        let n0 = *self.ns.first().context("sweep.ns is empty")?;
        let t = self.split(data, n0)?.test_of(data.loaded.images.view())?;
        let k = self.n_eval.min(t.dim().0);
        Ok(t.slice(s![..k, .., ..]).to_owned())
    }

    /// `n_eval` training images of a set: the set itself, tiled when it is smaller.
    pub fn eval_train_images(&self, train: &Array3<f32>) -> Array3<f32> {
        let n = train.dim().0;
        let idx: Vec<usize> = (0..self.n_eval.max(1)).map(|i| i % n).collect();
        train.select(Axis(0), &idx)
    }

    /// Trains (or loads) the model of size `n` on `half`.
    pub fn model(
        &self,
        ctx: &Ctx,
        data: &SweepData,
        n: usize,
        half: Half,
    ) -> Result<(Model, TrainedInfo, Array3<f32>)> {
        let images = self.train_images(data, n, half)?;
        let seed = derive_seed(ctx.profile.seed, &format!("sweep-{n}-{half:?}"));
        let spec = self
            .train
            .clone()
            .unwrap_or_else(|| ctx.profile.train.clone());
        let train_cfg = spec.to_config(seed)?;
        let model_cfg = self.net.to_model_config(self.data.size)?;
        let split = self.split(data, n)?;
        let desc = format!(
            "{} | N = {n} {half:?} | split {split:?}",
            data.loaded.description
        );
        let (model, info) = ctx.train_cached(
            &format!("{} N={n} {half:?}", self.data.name),
            &model_cfg,
            &train_cfg,
            &images,
            &desc,
        )?;
        Ok((model, info, images))
    }

    /// Validates the sizes.
    pub fn validate(&self, data: &SweepData) -> Result<()> {
        anyhow::ensure!(!self.ns.is_empty(), "sweep.ns is empty");
        anyhow::ensure!(
            self.ns.windows(2).all(|w| w[0] < w[1]),
            "sweep.ns must be strictly ascending, got {:?}",
            self.ns
        );
        for &n in &self.ns {
            self.split(data, n)?;
        }
        Ok(())
    }
}
