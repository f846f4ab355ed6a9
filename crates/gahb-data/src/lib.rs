//! Real image datasets: IDX, PGM, npy, image folders, the CelebA pipeline, splits and a content-hashed cache.
