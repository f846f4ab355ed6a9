//! Line plots and histograms drawn with plotters on a bitmap, with the embedded DejaVu Sans font.
//!
//! Line plots hold one or more panels side by side (paper Fig. 1: train and test PSNR), each with
//! several labelled series (one per N); a logarithmic axis is drawn by plotting log10 of the values
//! and saying so in the axis label.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::error::{Error, Result};

/// One labelled curve.
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// (x, y) points, drawn in order; non-finite points are skipped.
    pub points: Vec<(f64, f64)>,
    /// Dashed gray reference line (identity lines, theory curves).
    pub reference: bool,
    /// Draw a marker at every point.
    pub markers: bool,
}

impl Series {
    /// A solid series with markers.
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            label: label.into(),
            points,
            reference: false,
            markers: true,
        }
    }

    /// The identity line y = x from `lo` to `hi`, as a reference (a denoiser that returns its
    /// input lies on it in a PSNR plot).
    pub fn identity(lo: f64, hi: f64) -> Self {
        Self::reference("identity", vec![(lo, lo), (hi, hi)])
    }

    /// A gray reference line without markers.
    pub fn reference(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            label: label.into(),
            points,
            reference: true,
            markers: false,
        }
    }
}

/// One panel of a line plot.
#[derive(Debug, Clone, Default)]
pub struct Panel {
    /// Title above the panel.
    pub title: String,
    /// X-axis label.
    pub x_label: String,
    /// Y-axis label.
    pub y_label: String,
    /// The curves.
    pub series: Vec<Series>,
    /// Plot log10(x).
    pub log_x: bool,
    /// Plot log10(y).
    pub log_y: bool,
    /// Fixed x range (in plotted units); automatic when `None`.
    pub x_range: Option<(f64, f64)>,
    /// Fixed y range (in plotted units); automatic when `None`.
    pub y_range: Option<(f64, f64)>,
}

/// One labelled set of values for a histogram.
#[derive(Debug, Clone, Default)]
pub struct HistSeries {
    /// Legend text.
    pub label: String,
    /// The values.
    pub values: Vec<f64>,
}

const FONT: &str = "sans-serif";
static FONT_INIT: Once = Once::new();

fn init_font() {
    FONT_INIT.call_once(|| {
        // The embedded font is valid by construction; a failure only loses text, not the figure.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
    });
}

fn colour(i: usize) -> RGBColor {
    const C: [RGBColor; 10] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
    ];
    C[i % C.len()]
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Plot {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

fn transform(p: &Panel, (x, y): (f64, f64)) -> Option<(f64, f64)> {
    let x = if p.log_x { x.log10() } else { x };
    let y = if p.log_y { y.log10() } else { y };
    (x.is_finite() && y.is_finite()).then_some((x, y))
}

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo { 0.05 * (hi - lo) } else { 0.5 };
    (lo - pad, hi + pad)
}

/// Draws `panels` side by side into a PNG of `size` pixels (width, height).
pub fn line_plot_png(path: &Path, panels: &[Panel], size: (u32, u32)) -> Result<()> {
    if panels.is_empty() {
        return Err(Error::InvalidArgument {
            name: "panels",
            reason: "a line plot needs at least one panel".into(),
        });
    }
    init_font();
    let mut pixels = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        draw_panels(path, &root, panels)?;
        root.present().map_err(|e| plot_err(path, e))?;
    }
    let img = image::RgbImage::from_raw(size.0, size.1, pixels).ok_or_else(|| Error::Plot {
        path: path.display().to_string(),
        reason: "the drawing buffer has the wrong length".into(),
    })?;
    crate::write::png_atomic(path, &img)
}

fn draw_panels(
    path: &Path,
    root: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    panels: &[Panel],
) -> Result<()> {
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let areas = root.split_evenly((1, panels.len()));
    for (panel, area) in panels.iter().zip(areas.iter()) {
        let pts: Vec<Vec<(f64, f64)>> = panel
            .series
            .iter()
            .map(|s| {
                s.points
                    .iter()
                    .filter_map(|&p| transform(panel, p))
                    .collect()
            })
            .collect();
        let xr = panel
            .x_range
            .unwrap_or_else(|| bounds(pts.iter().flatten().map(|p| p.0)));
        let yr = panel
            .y_range
            .unwrap_or_else(|| bounds(pts.iter().flatten().map(|p| p.1)));
        let x_label = if panel.log_x {
            format!("log10 {}", panel.x_label)
        } else {
            panel.x_label.clone()
        };
        let y_label = if panel.log_y {
            format!("log10 {}", panel.y_label)
        } else {
            panel.y_label.clone()
        };
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, (FONT, 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
            .map_err(|e| plot_err(path, e))?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 15))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(|e| plot_err(path, e))?;
        let mut colour_idx = 0;
        for (s, p) in panel.series.iter().zip(pts) {
            let c = if s.reference {
                RGBColor(110, 110, 110)
            } else {
                colour_idx += 1;
                colour(colour_idx - 1)
            };
            let style = if s.reference {
                c.stroke_width(1)
            } else {
                c.stroke_width(2)
            };
            let drawn = if s.reference {
                chart.draw_series(DashedLineSeries::new(p.clone(), 6, 4, style))
            } else {
                chart.draw_series(LineSeries::new(p.clone(), style))
            }
            .map_err(|e| plot_err(path, e))?;
            if !s.label.is_empty() {
                drawn.label(s.label.clone()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
            }
            if s.markers {
                chart
                    .draw_series(p.iter().map(|&(x, y)| Circle::new((x, y), 3, c.filled())))
                    .map_err(|e| plot_err(path, e))?;
            }
        }
        if panel.series.iter().any(|s| !s.label.is_empty()) {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .label_font((FONT, 13))
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(200, 200, 200))
                .draw()
                .map_err(|e| plot_err(path, e))?;
        }
    }
    Ok(())
}

/// Draws normalised histograms (density) of several value sets on one axis, as outlined steps.
pub fn histogram_png(
    path: &Path,
    title: &str,
    x_label: &str,
    series: &[HistSeries],
    bins: usize,
    range: (f64, f64),
    size: (u32, u32),
) -> Result<()> {
    if bins == 0 || range.1.partial_cmp(&range.0) != Some(std::cmp::Ordering::Greater) {
        return Err(Error::InvalidArgument {
            name: "bins/range",
            reason: format!("need bins > 0 and lo < hi, got {bins} bins on {range:?}"),
        });
    }
    let width = (range.1 - range.0) / bins as f64;
    let densities: Vec<Vec<f64>> = series
        .iter()
        .map(|s| {
            let mut counts = vec![0.0; bins];
            let n = s.values.iter().filter(|v| v.is_finite()).count().max(1) as f64;
            for &v in s.values.iter().filter(|v| v.is_finite()) {
                let k =
                    (((v - range.0) / width).floor() as isize).clamp(0, bins as isize - 1) as usize;
                counts[k] += 1.0;
            }
            counts.iter().map(|c| c / (n * width)).collect()
        })
        .collect();
    let panel = Panel {
        title: title.into(),
        x_label: x_label.into(),
        y_label: "density".into(),
        series: series
            .iter()
            .zip(&densities)
            .map(|(s, d)| {
                let mut pts = Vec::with_capacity(2 * bins + 2);
                pts.push((range.0, 0.0));
                for (k, &v) in d.iter().enumerate() {
                    let x0 = range.0 + k as f64 * width;
                    pts.push((x0, v));
                    pts.push((x0 + width, v));
                }
                pts.push((range.1, 0.0));
                Series {
                    label: format!("{} (n = {})", s.label, s.values.len()),
                    points: pts,
                    reference: false,
                    markers: false,
                }
            })
            .collect(),
        x_range: Some(range),
        y_range: Some((
            0.0,
            densities.iter().flatten().fold(0.0f64, |a, &b| a.max(b)) * 1.1 + 1e-9,
        )),
        ..Panel::default()
    };
    line_plot_png(path, &[panel], size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_line_plot_and_histogram() {
        let dir = std::env::temp_dir().join(format!("gahb-plot-test-{}", std::process::id()));
        let line = dir.join("line.png");
        let panel = Panel {
            title: "identity".into(),
            x_label: "input PSNR".into(),
            y_label: "output PSNR".into(),
            series: vec![
                Series::new("N = 1", vec![(0.0, 1.0), (10.0, 12.0), (20.0, 25.0)]),
                Series::reference("identity", vec![(0.0, 0.0), (20.0, 20.0)]),
            ],
            ..Panel::default()
        };
        line_plot_png(&line, &[panel.clone(), panel], (600, 300)).expect("line plot");
        let img = image::open(&line).expect("readable png");
        assert_eq!((img.width(), img.height()), (600, 300));
        let hist = dir.join("hist.png");
        let series = [HistSeries {
            label: "a".into(),
            values: vec![0.1, 0.2, 0.2, 0.9],
        }];
        histogram_png(&hist, "h", "cos", &series, 10, (0.0, 1.0), (400, 300)).expect("hist");
        assert!(hist.exists());
        assert!(histogram_png(&hist, "h", "cos", &series, 0, (0.0, 1.0), (400, 300)).is_err());
        assert!(line_plot_png(&line, &[], (10, 10)).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
