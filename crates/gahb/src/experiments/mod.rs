//! The experiments, one module per paper figure, registered by name.
//!
//! Each is a function from the run context (whose profile holds its config table) to a report
//! [`Section`]; it writes its figures and data under `results/<profile>/<name>/`.

pub mod fig1;
pub mod fig15;
pub mod fig2;
pub mod fig21;
pub mod fig3;
pub mod fig4;
pub mod fig5;
pub mod fig6;
pub mod slice;

use anyhow::Result;

use crate::ctx::Ctx;
use crate::report::Section;

/// An experiment's entry point.
pub type RunFn = fn(&Ctx) -> Result<Option<Section>>;

/// (name, one-line description, entry point), in run order.
pub const REGISTRY: &[(&str, &str, RunFn)] = &[
    (
        "slice",
        "bias-free denoiser on C^alpha images: PSNR curve, image grid",
        slice::run,
    ),
    (
        "fig1",
        "train and test PSNR curves across N: memorization to generalization",
        fig1::run,
    ),
    (
        "fig2",
        "S1 and S2 models sampled from the same seed: samples, closest images, histograms",
        fig2::run,
    ),
    (
        "fig3",
        "Jacobian eigen-analysis of a generalizing denoiser (GAHB)",
        fig3::run,
    ),
    (
        "fig4",
        "C^alpha images: PSNR slopes against alpha/(alpha+1), eigenvectors",
        fig4::run,
    ),
    (
        "fig5",
        "disk manifold: eigenvalues against the 5-dimensional optimum",
        fig5::run,
    ),
    (
        "fig6",
        "closest pairs between S1 and S2: the data's own similarity baseline",
        fig6::run,
    ),
    (
        "fig15",
        "mean train - test PSNR gap against N at several resolutions",
        fig15::run,
    ),
    (
        "fig21",
        "shuffled faces against faces: PSNR curves and eigenvectors",
        fig21::run,
    ),
];

/// Looks an experiment up by name.
pub fn find(name: &str) -> Option<RunFn> {
    REGISTRY
        .iter()
        .find(|(n, ..)| *n == name)
        .map(|(_, _, f)| *f)
}

/// Derives an experiment's seed from the master seed and a tag, so experiments do not share noise.
pub fn derive_seed(master: u64, tag: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ master;
    for b in tag.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
