//! Jacobian eigen-analysis (GAHB), oracle shrinkage in fixed bases, slopes and the density bound.
