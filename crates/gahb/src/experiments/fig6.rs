//! Fig. 6 (paper §3): the closest pairs between the disjoint training sets S1 and S2, the data's own
//! baseline for the similarity of samples in Fig. 2 (cosine of mean-subtracted, normalised images).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use gahb_plot::{histogram_png, image_grid_png, GridOptions, HistSeries};
use ndarray::{s, Array2};
use serde::{Deserialize, Serialize};

use crate::ctx::{to_batch, Ctx};
use crate::report::{Check, Section};
use crate::sweep::Half;

/// `[fig6]` in a profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// At most this many S1 images are matched against all of S2.
    pub max_queries: usize,
    /// Closest pairs shown.
    pub n_pairs: usize,
}

/// Runs Fig. 6.
pub fn run(ctx: &Ctx) -> Result<Option<Section>> {
    let (Some(cfg), Some(sweep)) = (ctx.profile.fig6.clone(), ctx.profile.sweep.clone()) else {
        return Ok(None);
    };
    let t0 = Instant::now();
    let dir = ctx.exp_dir("fig6")?;
    let data = sweep.load(ctx)?;
    let n = *sweep.ns.last().context("sweep.ns is empty")?;
    let s1 = sweep.train_images(&data, n, Half::S1)?;
    let s2 = sweep.train_images(&data, n, Half::S2)?;
    let q = cfg.max_queries.min(n);
    let queries = s1.slice(s![..q, .., ..]).to_owned();
    let best: Vec<(usize, f64)> =
        gahb_diffusion::nearest_images(&to_batch(&queries), &to_batch(&s2))?
            .into_iter()
            .map(|n| (n.index, n.cosine))
            .collect();
    let values: Vec<f64> = best.iter().map(|b| b.1).collect();
    histogram_png(
        &dir.join("closest_pair_hist.png"),
        &format!("S1 image to its closest S2 image (N = {n})"),
        "cosine similarity",
        &[HistSeries {
            label: "closest S1–S2 pair".into(),
            values: values.clone(),
        }],
        40,
        (0.0, 1.0),
        (700, 450),
    )?;
    let mut order: Vec<usize> = (0..q).collect();
    order.sort_by(|&i, &j| best[j].1.total_cmp(&best[i].1));
    let mut tiles: Vec<Array2<f32>> = Vec::new();
    let shown: Vec<usize> = order.iter().take(cfg.n_pairs).copied().collect();
    for &i in &shown {
        tiles.push(queries.slice(s![i, .., ..]).to_owned());
    }
    for &i in &shown {
        tiles.push(s2.slice(s![best[i].0, .., ..]).to_owned());
    }
    image_grid_png(
        &dir.join("closest_pairs.png"),
        &tiles,
        shown.len().max(1),
        &GridOptions::default(),
    )?;
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN);
    let above = values.iter().filter(|v| **v > 0.95).count();
    std::fs::write(dir.join("closest.json"), serde_json::to_string(&best)?)?;
    Ok(Some(Section {
        name: "fig6".into(),
        title: "closest pairs between the disjoint training sets S1 and S2".into(),
        dataset: data.loaded.description.clone(),
        summary: format!("Each of {q} S1 images matched to its closest of the {n} S2 images by cosine similarity (PAPER.md §3)."),
        figures: vec![
            ("distribution of the closest-pair similarity".into(), PathBuf::from("fig6/closest_pair_hist.png")),
            ("the closest pairs: S1 images (top) and their closest S2 images (bottom)".into(), PathBuf::from("fig6/closest_pairs.png")),
        ],
        tables: vec![],
        checks: vec![Check::new(
            "S1 and S2 are disjoint sets of distinct images: closest-pair cosine median",
            format!("{median:.3} ({above} of {q} pairs above 0.95)"),
            "distinct images (near-duplicates removed at cos > 0.95)",
            "median < 0.95",
            median < 0.95,
        )],
        notes: vec!["This is the baseline for Fig. 2: samples of two models closer than this are not explained by similar training images.".into()],
        config: serde_json::to_value(&cfg)?,
        seconds: t0.elapsed().as_secs_f64(),
    }))
}
