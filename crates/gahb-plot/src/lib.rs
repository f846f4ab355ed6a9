//! PNG figures: line plots, histograms, image grids and diverging colour maps.
