//! Scale space, Tweedie/Miyasawa score, stochastic coarse-to-fine reverse diffusion sampler.
