//! Real image datasets (PAPER.md §2; DATASETS.md §2–§3): readers for IDX, PGM, `.npy` and image
//! folders, the CelebA pipeline with near-duplicate removal, resizing and padding, S1/S2 splits and a
//! content-hashed cache of prepared datasets.
//!
//! # Conventions
//! - A dataset is an `ndarray::Array3<f32>` of shape `[n, h, w]`: grayscale, values in `[0, 1]`,
//!   row-major images, the same as `gahb-synth`.
//! - Image folders are read in sorted file-name order; the offline sets in the order of
//!   [`sources`](crate::source_files).
//! - Every error names the file or the numbers involved ([`Error`]); nothing is written to the cache
//!   unless a preparation succeeded, and then atomically ([`write_prepared`]).
//!
//! # Entry points
//! - [`load_real`]: a fetched offline set ([`RealSet`]: `fashion-mnist`, `mnist`, `orl-faces`,
//!   `lfw-subset`); [`load_real_labels`]: the class labels of `fashion-mnist` and `mnist`, in the
//!   same order ([`RealSet::class_names`]).
//! - [`prepare_celeba`] and [`read_folder`]: the user's own images; [`read_image_array`]: a
//!   `.npy` array or a `.safetensors` tensor of one's own, and [`encode_image_array`] the way back.
//! - [`Split`]: S1 = first N, S2 = last N, test = a middle block.
//! - [`Cache::load_or_prepare`]: prepare once, then read back; [`Cache::load_or_rebuild`] also says
//!   when a cache file failed its checks and was prepared again ([`Origin`]).
//! - [`check_memory`]: sizes from a user against the machine's memory, before allocating.

mod arrays;
mod cache;
mod celeba;
mod error;
pub mod fault;
mod folder;
mod idx;
mod limits;
mod npy;
mod pgm;
mod resample;
mod sources;
mod split;

pub use arrays::{encode_image_array, read_image_array, ArrayFormat};
pub use cache::{file_sha256, read_prepared, write_prepared, Cache, DatasetMeta, Origin, Prepared};
pub use celeba::{
    near_duplicates, prepare_celeba, preprocess_file, remove_near_duplicates, CelebaConfig,
    CelebaPrepared,
};
pub use error::{Error, Result};
pub use folder::{
    gray_from_planes, list_images, load_rgb, read_folder, rgb_planes, CropMode, FolderConfig,
};
pub use idx::{encode_idx, parse_idx, read_idx, read_idx_images, read_idx_labels, IdxArray};
pub use limits::{check_memory, image_bytes, memory_bytes, FALLBACK_MEMORY_BYTES};
pub use npy::{encode_npy_f32, parse_npy, read_npy, read_npy_images};
pub use pgm::{parse_pgm, read_pgm};
pub use resample::{area_downsample, pad_to, resize_all, resize_bicubic};
pub use sources::{
    default_raw_dir, label_files, load_real, load_real_labels, source_files, RealSet,
    FASHION_MNIST_CLASSES, LABELLED_SETS,
};
pub use split::Split;

pub use npy::{parse_npy_scaled, read_npy_images_scaled, read_npy_scaled};
pub use pgm::{read_pgm_files, read_pgm_folder};
pub use resample::{resize_bicubic_checked, MAX_OUTPUT_PIXELS};
