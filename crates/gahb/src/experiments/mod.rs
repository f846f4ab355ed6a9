//! The experiments, one module per paper figure, and the registry that binds each profile table to
//! its experiment. Adding an experiment is its module and one line of [`REGISTRY`].

pub mod fig1;
pub mod fig15;
pub mod fig2;
pub mod fig21;
pub mod fig3;
pub mod fig4;
pub mod fig5;
pub mod fig6;
pub mod levers;
pub mod optimality;
pub mod slice;
pub mod spectrum_route;

use crate::harness::{Bind, Entry};

/// Every experiment, in run order: the profile table `[name]` runs experiment `name`.
pub static REGISTRY: &[&dyn Entry] = &[
    &Bind::<slice::Slice>::ENTRY,
    &Bind::<fig1::Fig1>::ENTRY,
    &Bind::<fig2::Fig2>::ENTRY,
    &Bind::<fig3::Fig3>::ENTRY,
    &Bind::<fig4::Fig4>::ENTRY,
    &Bind::<fig5::Fig5>::ENTRY,
    &Bind::<fig6::Fig6>::ENTRY,
    &Bind::<fig15::Fig15>::ENTRY,
    &Bind::<fig21::Fig21>::ENTRY,
    &Bind::<optimality::Optimality>::ENTRY,
    &Bind::<levers::Levers>::ENTRY,
];

/// The experiment called `name`.
pub fn find(name: &str) -> Option<&'static dyn Entry> {
    REGISTRY.iter().copied().find(|e| e.name() == name)
}

/// The names, for messages.
pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|e| e.name()).collect()
}
