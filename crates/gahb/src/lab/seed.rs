//! The seed-derivation scheme of a run.
//!
//! Every random draw of a run is a function of the profile's master seed through named children:
//! `derive_seed(parent, tag)` gives the seed of the part called `tag` (an experiment, a model, a
//! test set). Parts never share a seed unless they share a tag, so adding an experiment changes no
//! other experiment's numbers.
//!
//! The mixing is FNV-1a over the tag's bytes, started from the parent seed.

/// The seed of the part called `tag` under `parent`.
pub fn derive_seed(parent: u64, tag: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ parent;
    for b in tag.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_differ_by_tag_and_parent() {
        assert_ne!(derive_seed(0, "a"), derive_seed(0, "b"));
        assert_ne!(derive_seed(0, "a"), derive_seed(1, "a"));
        assert_eq!(derive_seed(7, "fig4"), derive_seed(7, "fig4"));
    }
}
