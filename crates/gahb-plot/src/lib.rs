//! PNG figures for the gahb experiments: line plots (PSNR curves, spectra), histograms (similarity
//! distributions, paper Fig. 2) and image grids (samples, eigenvectors with a diverging colour map,
//! paper Figs. 3-5).
//!
//! The crate takes plain `ndarray` arrays and `Vec<(f64, f64)>` series; it has no tch dependency.
//! Text is drawn with the embedded DejaVu Sans font, so no system font is needed.

pub mod chart;
pub mod error;
pub mod grid;
pub mod write;

pub use chart::{histogram_png, line_plot_png, HistSeries, Panel, Series};
pub use error::{Error, Result};
pub use grid::{image_grid_png, image_grid_rgb, ColorMap, GridOptions, ValueRange};
