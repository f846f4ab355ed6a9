//! Fig. 6 (paper §3): the closest pairs between the disjoint training sets S1 and S2, the data's own
//! baseline for the similarity of samples in Fig. 2 (cosine of mean-subtracted, normalised images).

use anyhow::{Context, Result};
use gahb_plot::{histogram_png, image_grid_png, GridOptions, HistSeries};
use gahb_tensor::convert::images_to_batch;
use ndarray::{s, Array2};
use serde::{Deserialize, Serialize};

use crate::harness::{Experiment, Page};
use crate::lab::context::Lab;
use crate::lab::job::Job;
use crate::lab::sweep::Half;
use crate::report::check::{Cmp, Num};
use crate::report::Check;

/// `[fig6]` in a profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// At most this many S1 images are matched against all of S2.
    pub max_queries: usize,
    /// Closest pairs shown.
    pub n_pairs: usize,
    /// Largest accepted median closest-pair cosine (distinct images).
    pub max_median_cosine: f64,
}

/// What Fig. 6 measured.
#[derive(Debug, Serialize)]
pub struct Results {
    /// The largest N.
    pub n: usize,
    /// The data's description.
    pub description: String,
    /// (closest S2 index, cosine) per S1 query.
    pub closest: Vec<(usize, f64)>,
    /// The shown pairs: S1 images, then their closest S2 images.
    #[serde(skip)]
    pub tiles: Vec<Array2<f32>>,
}

/// Fig. 6.
pub struct Fig6;

impl Experiment for Fig6 {
    const NAME: &'static str = "fig6";
    const WHAT: &'static str =
        "closest pairs between S1 and S2: the data's own similarity baseline";
    type Config = Config;
    type Results = Results;

    /// Fig. 6 compares the training sets themselves: it trains nothing.
    fn jobs(_lab: &Lab, _cfg: &Config) -> Result<Vec<Job>> {
        Ok(Vec::new())
    }

    fn measure(lab: &Lab, cfg: &Config) -> Result<Results> {
        let sweep = lab.sweep(Self::NAME)?;
        let data = lab.sweep_data(sweep)?;
        let n = *sweep.ns.last().context("sweep.ns is empty")?;
        let s1 = sweep.train_images(&data, n, Half::S1)?;
        let s2 = sweep.train_images(&data, n, Half::S2)?;
        let q = cfg.max_queries.min(n);
        let queries = s1.slice(s![..q, .., ..]).to_owned();
        let closest: Vec<(usize, f64)> =
            gahb_diffusion::nearest_images(&images_to_batch(&queries), &images_to_batch(&s2))?
                .into_iter()
                .map(|n| (n.index, n.cosine))
                .collect();
        let mut order: Vec<usize> = (0..q).collect();
        order.sort_by(|&i, &j| closest[j].1.total_cmp(&closest[i].1));
        let shown: Vec<usize> = order.iter().take(cfg.n_pairs).copied().collect();
        let mut tiles: Vec<Array2<f32>> = shown
            .iter()
            .map(|&i| queries.slice(s![i, .., ..]).to_owned())
            .collect();
        tiles.extend(
            shown
                .iter()
                .map(|&i| s2.slice(s![closest[i].0, .., ..]).to_owned()),
        );
        Ok(Results {
            n,
            description: data.description.clone(),
            closest,
            tiles,
        })
    }

    fn present(cfg: &Config, r: &Results, page: &mut Page) -> Result<()> {
        let q = r.closest.len();
        let values: Vec<f64> = r.closest.iter().map(|b| b.1).collect();
        page.title("closest pairs between the disjoint training sets S1 and S2");
        page.dataset(r.description.clone());
        page.summary(format!("Each of {q} S1 images matched to its closest of the {} S2 images by cosine similarity (PAPER.md §3).", r.n));
        page.figure(
            "closest_pair_hist.png",
            "distribution of the closest-pair similarity",
            |path| {
                Ok(histogram_png(
                    path,
                    &format!("S1 image to its closest S2 image (N = {})", r.n),
                    "cosine similarity",
                    &[HistSeries {
                        label: "closest S1–S2 pair".into(),
                        values: values.clone(),
                    }],
                    40,
                    (0.0, 1.0),
                    (700, 450),
                )?)
            },
        )?;
        let cols = (r.tiles.len() / 2).max(1);
        page.figure(
            "closest_pairs.png",
            "the closest pairs: S1 images (top) and their closest S2 images (bottom)",
            |path| {
                Ok(image_grid_png(
                    path,
                    &r.tiles,
                    cols,
                    &GridOptions::default(),
                )?)
            },
        )?;
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN);
        let above = values.iter().filter(|v| **v > 0.95).count();
        page.check(Check::compare_shown(
            "S1 and S2 are disjoint sets of distinct images: closest-pair cosine median",
            Num::plain(median, 3),
            format!("{median:.3} ({above} of {q} pairs above 0.95)"),
            Cmp::Below(cfg.max_median_cosine),
            "distinct images (near-duplicates removed at cos > 0.95)",
        ));
        page.note("This is the baseline for Fig. 2: samples of two models closer than this are not explained by similar training images.");
        Ok(())
    }
}
