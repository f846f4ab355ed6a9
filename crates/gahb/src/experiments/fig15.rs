//! Fig. 15 (paper §3): the mean train − test PSNR gap against N at several image sizes (Table 1
//! UNets: more blocks for larger images). Larger images need more training images to generalize.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use gahb_plot::{line_plot_png, Panel, Series};
use serde::{Deserialize, Serialize};

use super::fig1::sweep_curves;
use crate::ctx::Ctx;
use crate::eval::mean_gap;
use crate::report::{md_table, Check, Section};

/// One resolution of Fig. 15.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    /// Image side.
    pub size: usize,
    /// UNet blocks at that size.
    pub blocks: usize,
}

/// `[fig15]` in a profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The resolutions; the sweep's dataset, N values and recipe are reused.
    pub resolutions: Vec<Resolution>,
}

/// Runs Fig. 15.
pub fn run(ctx: &Ctx) -> Result<Option<Section>> {
    let (Some(cfg), Some(sweep)) = (ctx.profile.fig15.clone(), ctx.profile.sweep.clone()) else {
        return Ok(None);
    };
    let t0 = Instant::now();
    let dir = ctx.exp_dir("fig15")?;
    let mut series = Vec::new();
    let mut rows = Vec::new();
    let mut checks = Vec::new();
    let mut description = String::new();
    for r in &cfg.resolutions {
        let mut s = sweep.clone();
        s.data.size = r.size;
        s.net.blocks = Some(r.blocks);
        let (curves, desc) = sweep_curves(ctx, &s)?;
        description = desc;
        let gaps: Vec<(f64, f64)> = curves
            .iter()
            .map(|c| (c.n as f64, mean_gap(&c.train, &c.test)))
            .collect();
        for (n, g) in &gaps {
            rows.push(vec![
                format!("{}²", r.size),
                format!("{n}"),
                format!("{g:.2}"),
            ]);
        }
        if let (Some(first), Some(last)) = (gaps.first(), gaps.last()) {
            checks.push(Check::new(
                format!(
                    "{}×{}: gap shrinks from N = {} to N = {}",
                    r.size, r.size, first.0, last.0
                ),
                format!("{:.2} → {:.2} dB", first.1, last.1),
                "gap falls with N at every resolution",
                "last < first",
                last.1 < first.1,
            ));
        }
        series.push(Series::new(
            format!("{}×{} ({} blocks)", r.size, r.size, r.blocks),
            gaps,
        ));
    }
    line_plot_png(
        &dir.join("gap_vs_n.png"),
        &[Panel {
            title: "mean train − test PSNR gap".into(),
            x_label: "N".into(),
            y_label: "gap (dB)".into(),
            series,
            log_x: true,
            ..Panel::default()
        }],
        (700, 500),
    )?;
    Ok(Some(Section {
        name: "fig15".into(),
        title: "train − test PSNR gap against N at several resolutions".into(),
        dataset: description,
        summary: "The Fig. 1 sweep repeated at each resolution (same N values and recipe), gap averaged over the 15 noise levels.".into(),
        figures: vec![("mean train − test gap against N".into(), PathBuf::from("fig15/gap_vs_n.png"))],
        tables: vec![md_table(&["size", "N", "gap (dB)"], &rows)],
        checks,
        notes: vec!["The paper's claim that larger images need more data to close the gap is read from the figure: compare the lines at equal N.".into()],
        config: serde_json::to_value(&cfg)?,
        seconds: t0.elapsed().as_secs_f64(),
    }))
}
