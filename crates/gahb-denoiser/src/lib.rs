//! Bias-free denoisers (UNet, BF-CNN), universal blind training, checkpoints.
