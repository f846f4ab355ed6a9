//! `manual_seed` reseeds libtorch's process-wide generator. The test lives alone in this binary
//! (its own process), so no other test can draw from the generator between seeding and drawing.

use gahb_tensor::manual_seed;
use tch::{Device, Kind, Tensor};

#[test]
fn seeding_is_deterministic() {
    manual_seed(7);
    let a = Tensor::randn([5], (Kind::Float, Device::Cpu));
    manual_seed(7);
    let b = Tensor::randn([5], (Kind::Float, Device::Cpu));
    assert!(a.equal(&b));
    manual_seed(8);
    let c = Tensor::randn([5], (Kind::Float, Device::Cpu));
    assert!(!a.equal(&c));
}
