//! Synthetic image classes with known optimal bases: C^alpha images, disks, pixel shuffling.
