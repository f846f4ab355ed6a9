//! Fig. 15 (paper §3): the mean train − test PSNR gap against N at several image sizes (Table 1
//! UNets: more blocks for larger images). Larger images need more training images to generalize.

use anyhow::Result;
use gahb_plot::{line_plot_png, Panel, Series};
use serde::{Deserialize, Serialize};

use crate::harness::{Experiment, Page};
use crate::lab::context::Lab;
use crate::lab::eval::mean_gap;
use crate::lab::job::Job;
use crate::lab::sweep::Half;
use crate::report::{Check, Table};

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

/// One resolution's gaps.
#[derive(Debug, Serialize)]
pub struct PerResolution {
    /// Image side.
    pub size: usize,
    /// UNet blocks.
    pub blocks: usize,
    /// (N, mean train − test gap in dB).
    pub gaps: Vec<(f64, f64)>,
}

/// What Fig. 15 measured.
#[derive(Debug, Serialize)]
pub struct Results {
    /// The data's description (at the last resolution).
    pub description: String,
    /// One entry per resolution.
    pub per_resolution: Vec<PerResolution>,
}

/// Fig. 15.
pub struct Fig15;

impl Experiment for Fig15 {
    const NAME: &'static str = "fig15";
    const WHAT: &'static str = "mean train - test PSNR gap against N at several resolutions";
    type Config = Config;
    type Results = Results;

    fn jobs(lab: &Lab, cfg: &Config) -> Result<Vec<Job>> {
        let sweep = lab.sweep(Self::NAME)?;
        let mut jobs = Vec::new();
        for r in &cfg.resolutions {
            let s = sweep.at_resolution(r.size, r.blocks)?;
            jobs.extend(lab.sweep_jobs(&s, &s.ns, &[Half::S1])?);
        }
        Ok(jobs)
    }

    fn measure(lab: &Lab, cfg: &Config) -> Result<Results> {
        let sweep = lab.sweep(Self::NAME)?;
        let mut description = String::new();
        let mut per_resolution = Vec::new();
        for r in &cfg.resolutions {
            let s = sweep.at_resolution(r.size, r.blocks)?;
            let curves = lab.sweep_curves(&s)?;
            description = curves.description.clone();
            per_resolution.push(PerResolution {
                size: r.size,
                blocks: r.blocks,
                gaps: curves
                    .curves
                    .iter()
                    .map(|c| (c.n as f64, mean_gap(&c.train, &c.test)))
                    .collect(),
            });
        }
        Ok(Results {
            description,
            per_resolution,
        })
    }

    fn present(_cfg: &Config, r: &Results, page: &mut Page) -> Result<()> {
        page.title("train − test PSNR gap against N at several resolutions");
        page.dataset(r.description.clone());
        page.summary("The Fig. 1 sweep repeated at each resolution (same N values and recipe), gap averaged over the 15 noise levels.");
        let mut table = Table::new(["size", "N", "gap (dB)"]);
        let mut series = Vec::new();
        for p in &r.per_resolution {
            for (n, g) in &p.gaps {
                table.row(vec![
                    format!("{}²", p.size),
                    format!("{n}"),
                    format!("{g:.2}"),
                ]);
            }
            if let (Some(first), Some(last)) = (p.gaps.first(), p.gaps.last()) {
                page.check(Check::falls(
                    format!(
                        "{}×{}: gap shrinks from N = {} to N = {}",
                        p.size, p.size, first.0, last.0
                    ),
                    first.1,
                    last.1,
                    format!("{:.2} → {:.2} dB", first.1, last.1),
                    "gap falls with N at every resolution",
                ));
            }
            series.push(Series::new(
                format!("{}×{} ({} blocks)", p.size, p.size, p.blocks),
                p.gaps.clone(),
            ));
        }
        page.figure("gap_vs_n.png", "mean train − test gap against N", |path| {
            Ok(line_plot_png(
                path,
                &[Panel {
                    title: "mean train − test PSNR gap".into(),
                    x_label: "N".into(),
                    y_label: "gap (dB)".into(),
                    series,
                    log_x: true,
                    ..Panel::default()
                }],
                (700, 500),
            )?)
        })?;
        page.table(table, None)?;
        page.note("The paper's claim that larger images need more data to close the gap is read from the figure: compare the lines at equal N.");
        Ok(())
    }
}
