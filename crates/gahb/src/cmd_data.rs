//! `gahb data`: prepares a dataset and writes a contact sheet and summary (issue 3).

/// Arguments of `gahb data`.
#[derive(clap::Args, Debug)]
pub struct DataArgs {
    /// Dataset name.
    pub name: String,
}

/// Prepares the dataset.
pub fn run(args: &DataArgs) -> anyhow::Result<()> {
    anyhow::bail!("`gahb data {}` is not available yet", args.name)
}
