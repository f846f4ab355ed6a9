//! The `gahb` command line: experiments of the paper, figures and the report.
fn main() {}
