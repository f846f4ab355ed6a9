//! Import of PyTorch `state_dict` files, as `torch.save(model.state_dict(), f)` writes them
//! (PyTorch ≥ 1.6, the zip format), into a [`Model`] — without Python and without running anything
//! from the file.
//!
//! A `.pt` file is a zip (`zip.rs`) holding `<folder>/data.pkl`, a pickle of the dict, and one entry
//! `<folder>/data/<key>` of raw little-endian bytes per storage. The pickle is read by a safe stack
//! machine (`pickle.rs`) that resolves globals against an allowlist and builds plain data only; each
//! tensor is then copied out of its storage honouring its offset and strides, into a contiguous
//! CPU tensor (`float16` and `bfloat16` become `float32`; other dtypes keep theirs).
//!
//! Refused, each with a one-line [`Error::PyTorchFile`] naming the problem: the legacy pre-1.6
//! format (with how to re-save it), big-endian files, compressed or corrupted zip entries, pickle
//! globals outside the allowlist (`os.system`, `builtins.eval`, ... are named, never run), unknown
//! pickle opcodes, a top level that is not a dict, entries that are not tensors (named by key),
//! duplicate keys, and views that reach outside their storage.
//! Weights that do not fit the architecture (missing, unexpected or mis-shaped keys, non-finite
//! values) are an [`Error::CheckpointMismatch`], as in [`crate::checkpoint::load_weights`].
//!
//! The architecture is inferred from the keys and shapes of the reference code's layouts (the
//! names [`Model`]'s variables have): a UNet from `encoder.{b}.{i}.*` (see [`crate::unet`]) or a
//! BF-CNN from `conv_layers.{l}.weight` (see [`crate::bfcnn`]). A `module.` prefix (what
//! `nn.DataParallel` adds) is stripped when every key has it.

mod pickle;
mod zip;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

use tch::{Device, Kind, Tensor};

use crate::bfcnn::BfCnnConfig;
use crate::error::{Error, Result};
use crate::model::{Model, ModelConfig, ParamCounts};
use crate::unet::UNetConfig;

use pickle::{StorageDtype, StorageRef, TensorRef};

/// The prefix `nn.DataParallel` (and `DistributedDataParallel`) puts before every key.
pub const DATA_PARALLEL_PREFIX: &str = "module.";

/// A model imported from a PyTorch `state_dict`, with what was inferred on the way.
#[derive(Debug)]
pub struct Imported {
    /// The network, weights loaded, on the requested device.
    pub model: Model,
    /// The architecture inferred from the keys and shapes (also `model.config()`).
    pub config: ModelConfig,
    /// Whether every key carried the `module.` prefix, which was stripped.
    pub stripped_prefix: bool,
    /// The number of tensors in the file.
    pub n_tensors: usize,
    /// The model's parameter counts (trainable weights and gammas; `running_sd` buffers).
    pub param_counts: ParamCounts,
}

/// Reads a PyTorch `state_dict` file into a [`Model`]: reads the tensors ([`read_state_dict`]),
/// strips a `module.` prefix ([`strip_module_prefix`]), infers the architecture
/// ([`infer_config`]), builds `Model::new(&config, device)`, checks that every key and shape fits
/// exactly and every value is finite, and copies the weights.
///
/// `image_size` is the UNet's training image size (the weights do not hold it; the network is
/// convolutional, so any multiple of 2^n_blocks works). It must be divisible by 2^n_blocks; a
/// BF-CNN ignores it. A BF-CNN is built with `first_layer_linear = false` (the reference
/// `main.py`'s default, which the weights cannot show); for the other case build the model
/// yourself and use [`load_state_dict`].
pub fn import_state_dict(path: &Path, image_size: i64, device: Device) -> Result<Imported> {
    let state_dict = read_state_dict(path)?;
    let (state_dict, stripped_prefix) = strip_module_prefix(state_dict);
    let config = infer_config(&state_dict, image_size).map_err(|e| with_path(e, path))?;
    let mut model = Model::new(&config, device)?;
    copy_checked(&mut model, &state_dict, path)?;
    Ok(Imported {
        param_counts: model.param_counts(),
        model,
        config,
        stripped_prefix,
        n_tensors: state_dict.len(),
    })
}

/// Loads a PyTorch `state_dict` file into an existing `model`, after stripping a `module.` prefix
/// and checking keys, shapes and values as [`import_state_dict`] does. Returns whether the prefix
/// was stripped.
pub fn load_state_dict(model: &mut Model, path: &Path) -> Result<bool> {
    let (state_dict, stripped) = strip_module_prefix(read_state_dict(path)?);
    copy_checked(model, &state_dict, path)?;
    Ok(stripped)
}

/// Reads the tensors of a `torch.save` file whose top level is a dict of tensors, in file order.
///
/// Each tensor is a contiguous CPU tensor of its own (views and shared storages are copied out);
/// `float16` and `bfloat16` are converted to `float32`, other dtypes are kept.
pub fn read_state_dict(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let refuse = |reason: String| Error::PyTorchFile {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path)?;
    if bytes.first() == Some(&0x80) {
        return Err(refuse(
            "this is the legacy (pre-1.6, non-zip) torch.save format, which gahb does not read; \
             re-save it in PyTorch with torch.save(sd, f, _use_new_zipfile_serialization=True)"
                .into(),
        ));
    }
    if !zip::looks_like_zip(&bytes) {
        return Err(refuse(format!(
            "not a torch.save file (a zip); it starts with {:02x?}",
            &bytes[..bytes.len().min(8)]
        )));
    }
    let archive = zip::Archive::parse(&bytes).map_err(&refuse)?;
    let folder = archive_folder(&archive).map_err(&refuse)?;
    if let Some(order) = archive
        .get(&format!("{folder}/byteorder"))
        .map_err(&refuse)?
    {
        if order.trim_ascii() != b"little" {
            return Err(refuse(format!(
                "byte order {:?}: only little-endian files are read (re-save on a little-endian machine)",
                String::from_utf8_lossy(order)
            )));
        }
    }
    if cfg!(target_endian = "big") {
        return Err(refuse(
            "reading on a big-endian machine is not supported".into(),
        ));
    }
    let pkl = archive
        .get(&format!("{folder}/data.pkl"))
        .map_err(&refuse)?
        .ok_or_else(|| refuse(format!("no {folder}/data.pkl")))?;
    let refs = pickle::read_state_dict(pkl).map_err(&refuse)?;
    let mut seen = HashSet::new();
    let mut storages: HashMap<String, Tensor> = HashMap::new();
    let mut out = Vec::with_capacity(refs.len());
    for (key, t) in refs {
        if !seen.insert(key.clone()) {
            return Err(refuse(format!("key {key} appears twice")));
        }
        let storage = match storages.get(&t.storage.key) {
            Some(s) => s.shallow_clone(),
            None => {
                let s = read_storage(&archive, &folder, &t.storage)
                    .map_err(|e| refuse(format!("tensor {key}: {e}")))?;
                storages.insert(t.storage.key.clone(), s.shallow_clone());
                s
            }
        };
        let tensor = materialize(&storage, &t)
            .map_err(|e| refuse(format!("tensor {key}: {e}")))?
            .f_to_kind(output_kind(t.storage.dtype))?;
        out.push((key, tensor));
    }
    Ok(out)
}

/// Strips the `module.` prefix (`nn.DataParallel`) when every key has it; returns whether it did.
/// A file where only some keys have it is left as it is (the key check then names them).
pub fn strip_module_prefix(state_dict: Vec<(String, Tensor)>) -> (Vec<(String, Tensor)>, bool) {
    let all = !state_dict.is_empty()
        && state_dict
            .iter()
            .all(|(k, _)| k.starts_with(DATA_PARALLEL_PREFIX));
    if !all {
        return (state_dict, false);
    }
    let stripped = state_dict
        .into_iter()
        .map(|(k, t)| (k[DATA_PARALLEL_PREFIX.len()..].to_string(), t))
        .collect();
    (stripped, true)
}

/// Infers the architecture from the keys and shapes of a state_dict (without a `module.` prefix).
///
/// - UNet (`encoder.0.0.weight` present): `n_blocks` = the number of distinct `encoder.{b}`,
///   and `encoder.0.0.weight` `[base_channels, image_channels, k, k]` gives the rest.
/// - BF-CNN (`conv_layers.0.weight` present): `n_layers` = the number of distinct
///   `conv_layers.{l}.weight`, and `conv_layers.0.weight` `[channels, image_channels, k, k]` the
///   rest; `first_layer_linear` is false (see [`import_state_dict`]).
///
/// The config is validated (for a UNet, `image_size` must be divisible by 2^n_blocks: an
/// [`Error::InvalidConfig`]); keys that show neither layout are an [`Error::InvalidInput`].
/// Whether every other key fits is checked when the weights are copied.
pub fn infer_config(state_dict: &[(String, Tensor)], image_size: i64) -> Result<ModelConfig> {
    let mismatch = |reason: String| Error::InvalidInput {
        op: "infer_config",
        reason,
    };
    let shape_of = |name: &str| {
        state_dict
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, t)| t.size())
    };
    let first_conv = |name: &str| -> Result<Option<[i64; 3]>> {
        match shape_of(name) {
            None => Ok(None),
            Some(s) if s.len() == 4 && s[2] == s[3] => Ok(Some([s[0], s[1], s[3]])),
            Some(s) => Err(mismatch(format!(
                "{name} has shape {s:?}, expected [out, in, k, k]"
            ))),
        }
    };
    // The distinct indices `i` of keys `{prefix}{i}.` (with `suffix` after the index, if given).
    let indices = |prefix: &str, suffix: &str| -> BTreeSet<usize> {
        state_dict
            .iter()
            .filter_map(|(k, _)| {
                let (i, rest) = k.strip_prefix(prefix)?.split_once('.')?;
                (suffix.is_empty() || rest == suffix)
                    .then(|| i.parse().ok())
                    .flatten()
            })
            .collect()
    };
    let config = if let Some([c, ic, k]) = first_conv("encoder.0.0.weight")? {
        ModelConfig::UNet(UNetConfig {
            n_blocks: indices("encoder.", "").len(),
            base_channels: c,
            image_channels: ic,
            image_size,
            kernel_size: k,
        })
    } else if let Some([c, ic, k]) = first_conv("conv_layers.0.weight")? {
        ModelConfig::BfCnn(BfCnnConfig {
            n_layers: indices("conv_layers.", "weight").len(),
            channels: c,
            image_channels: ic,
            kernel_size: k,
            first_layer_linear: false,
        })
    } else {
        let first: Vec<&str> = state_dict.iter().take(3).map(|(k, _)| k.as_str()).collect();
        return Err(mismatch(format!(
            "neither a UNet (no encoder.0.0.weight) nor a BF-CNN (no conv_layers.0.weight); \
             the first keys are {first:?}"
        )));
    };
    config.validate()?;
    Ok(config)
}

/// Turns an [`infer_config`] error about the keys into a mismatch that names the file.
fn with_path(e: Error, path: &Path) -> Error {
    match e {
        Error::InvalidInput { reason, .. } => Error::CheckpointMismatch {
            path: path.to_path_buf(),
            reason,
        },
        other => other,
    }
}

/// The single top folder of the archive: the `X` of the entry `X/data.pkl`.
fn archive_folder(archive: &zip::Archive<'_>) -> std::result::Result<String, String> {
    let folders: Vec<&str> = archive
        .names()
        .iter()
        .filter_map(|n| n.strip_suffix("/data.pkl"))
        .filter(|f| !f.contains('/'))
        .collect();
    match folders.as_slice() {
        [one] => Ok(one.to_string()),
        [] => Err("a zip without <folder>/data.pkl, so not a torch.save file".into()),
        many => Err(format!(
            "a zip with {} data.pkl entries ({many:?}); torch.save writes one",
            many.len()
        )),
    }
}

/// The kind a storage is read as (bool bytes are read as u8 and checked afterwards).
fn storage_kind(d: StorageDtype) -> Kind {
    match d {
        StorageDtype::F32 => Kind::Float,
        StorageDtype::F64 => Kind::Double,
        StorageDtype::F16 => Kind::Half,
        StorageDtype::BF16 => Kind::BFloat16,
        StorageDtype::I64 => Kind::Int64,
        StorageDtype::I32 => Kind::Int,
        StorageDtype::I16 => Kind::Int16,
        StorageDtype::I8 => Kind::Int8,
        StorageDtype::U8 | StorageDtype::Bool => Kind::Uint8,
    }
}

/// The kind a tensor is returned as.
fn output_kind(d: StorageDtype) -> Kind {
    match d {
        StorageDtype::F16 | StorageDtype::BF16 => Kind::Float,
        StorageDtype::Bool => Kind::Bool,
        other => storage_kind(other),
    }
}

/// Reads `<folder>/data/<key>` as a 1-D tensor of `numel` elements.
fn read_storage(
    archive: &zip::Archive<'_>,
    folder: &str,
    s: &StorageRef,
) -> std::result::Result<Tensor, String> {
    let name = format!("{folder}/data/{}", s.key);
    let data = archive
        .get(&name)?
        .ok_or_else(|| format!("its storage {name} is missing"))?;
    let n_bytes = usize::try_from(s.numel)
        .ok()
        .and_then(|n| n.checked_mul(s.dtype.size()))
        .ok_or_else(|| format!("storage {name} claims {} elements", s.numel))?;
    if data.len() != n_bytes {
        return Err(format!(
            "storage {name} has {} bytes, but {} {} elements need {n_bytes}",
            data.len(),
            s.numel,
            s.dtype.storage_name()
        ));
    }
    Tensor::f_from_data_size(data, &[s.numel], storage_kind(s.dtype)).map_err(|e| e.to_string())
}

/// Copies the strided view `t` of `storage` into a new contiguous tensor, after checking that the
/// view stays inside the storage.
fn materialize(storage: &Tensor, t: &TensorRef) -> std::result::Result<Tensor, String> {
    let numel_storage = i128::from(t.storage.numel);
    if t.offset < 0 || t.size.iter().any(|&s| s < 0) || t.stride.iter().any(|&s| s < 0) {
        return Err(format!(
            "negative offset, size or stride (offset {}, size {:?}, stride {:?})",
            t.offset, t.size, t.stride
        ));
    }
    let numel = t
        .size
        .iter()
        .try_fold(1i128, |acc, &s| acc.checked_mul(i128::from(s)));
    if numel == Some(0) {
        return Tensor::f_empty(
            t.size.as_slice(),
            (output_kind(t.storage.dtype), Device::Cpu),
        )
        .map_err(|e| e.to_string());
    }
    // The last element the view reaches (sizes are > 0 here).
    let last = t
        .size
        .iter()
        .zip(&t.stride)
        .try_fold(i128::from(t.offset), |acc, (&s, &st)| {
            acc.checked_add((i128::from(s) - 1).checked_mul(i128::from(st))?)
        });
    match (numel, last) {
        (Some(_), Some(last)) if last >= numel_storage => Err(format!(
            "size {:?}, stride {:?} and offset {} reach element {last} of a storage of {}",
            t.size, t.stride, t.offset, t.storage.numel
        )),
        (Some(n), Some(_)) if n <= numel_storage => Ok(()),
        _ => Err(format!(
            "a view of size {:?} on a storage of {} elements (a broadcast tensor) is not read",
            t.size, t.storage.numel
        )),
    }?;
    let run = || -> std::result::Result<Tensor, tch::TchError> {
        let view = storage.f_as_strided(t.size.as_slice(), t.stride.as_slice(), t.offset)?;
        let mut out = Tensor::f_empty(t.size.as_slice(), (storage.kind(), Device::Cpu))?;
        out.f_copy_(&view)?;
        Ok(out)
    };
    let out = run().map_err(|e| e.to_string())?;
    if t.storage.dtype == StorageDtype::Bool {
        return out.f_ne(0).map_err(|e| e.to_string());
    }
    Ok(out)
}

/// Checks that `state_dict` has exactly the model's variable names and shapes and only finite
/// values, then copies it in (as [`crate::checkpoint::load_weights`] does for safetensors).
fn copy_checked(model: &mut Model, state_dict: &[(String, Tensor)], path: &Path) -> Result<()> {
    crate::checkpoint::copy_checked(model, state_dict, path, &describe_config(model.config()))
}

fn describe_config(c: &ModelConfig) -> String {
    match c {
        ModelConfig::UNet(u) => format!(
            "UNet ({} blocks, {} channels, kernel {})",
            u.n_blocks, u.base_channels, u.kernel_size
        ),
        ModelConfig::BfCnn(b) => format!(
            "BF-CNN ({} layers, {} channels, kernel {})",
            b.n_layers, b.channels, b.kernel_size
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(numel: i64, offset: i64, size: &[i64], stride: &[i64]) -> TensorRef {
        TensorRef {
            storage: StorageRef {
                key: "0".into(),
                dtype: StorageDtype::F32,
                numel,
            },
            offset,
            size: size.to_vec(),
            stride: stride.to_vec(),
        }
    }

    #[test]
    fn views_must_stay_inside_their_storage() {
        let storage = Tensor::arange(6, (Kind::Float, Device::Cpu));
        let ok = materialize(&storage, &view(6, 1, &[2, 2], &[1, 3])).expect("inside");
        assert_eq!(
            Vec::<f32>::try_from(&ok.view([-1])).expect("vec"),
            [1.0, 4.0, 2.0, 5.0]
        );
        let empty = materialize(&storage, &view(6, 99, &[0, 3], &[3, 1])).expect("empty");
        assert_eq!(empty.size(), [0, 3]);
        for (t, needle) in [
            (view(6, 1, &[2, 3], &[3, 1]), "reach element 6"),
            (view(6, 0, &[2], &[-1]), "negative"),
            (view(6, 0, &[100], &[0]), "broadcast"),
        ] {
            let err = materialize(&storage, &t).expect_err("outside");
            assert!(err.contains(needle), "{err}");
        }
    }
}
