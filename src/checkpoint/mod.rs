//! Checkpoints: PyTorch `.pth` files (zip, legacy and tar formats) and safetensors, read and
//! written in pure Rust; partial loading into a module with a [`LoadReport`].
//!
//! * [`read`] opens any checkpoint, telling the format by content: safetensors
//!   ([`safetensors::read`]), or a `.pth` through [`read_pth`] (the zip format `torch.save`
//!   writes since PyTorch 1.6, the legacy format of `_use_new_zipfile_serialization=False`, and
//!   the tar format of PyTorch < 0.4). The formats are those of `torch/serialization.py`; the
//!   pickles are read by a restricted unpickler ([`pickle`]) that, like
//!   `torch.load(weights_only=True)`, imports and runs nothing and refuses every global but
//!   the tensor-rebuilding ones with [`Error::ForbiddenGlobal`].
//! * [`save_pth`] writes a state dict as `torch.save` does (zip format), atomically.
//! * [`npy::read_npy`] reads NumPy `.npy` arrays, validated before a byte is copied.
//!
//! Every input is opened as a regular file ([`files::open_regular`]: folders, FIFOs and devices
//! are refused at once) and every output is written atomically ([`files::write_atomically`]).
//! Reading is bounded by the file's size: the unpickler's resource budget
//! ([`pickle::Budget`]), the storage bytes (never more than the file holds, or its records
//! inflate to), and [`check_materialized`] for what writing or converting the tensors would
//! allocate (zero-stride views can describe far more elements than their storage holds).
//!
//! The result of a read is a [`Checkpoint`]: the state dict in file order (tensors that shared a
//! storage in the file share one in the result), the non-tensor entries by Python type name, and
//! where the state dict was found in a nested checkpoint.

pub mod files;
pub mod load;
pub mod npy;
pub mod pickle;
pub mod pth;
pub mod safetensors;
pub mod writer;

pub use load::*;
pub use pth::{detect_format, read_pth, read_pth_bytes};
pub use writer::{save_module, save_pth, save_pth_with_versions, write_pth_bytes};

use std::path::Path;

use crate::error::{self, shape_str, Error, Result};

/// The file format of a checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// `torch.save`'s zip archive (PyTorch ≥ 1.6): `<name>/data.pkl` and `<name>/data/<key>`.
    Zip,
    /// `torch.save(..., _use_new_zipfile_serialization=False)`: a run of pickles followed by
    /// the raw storages.
    Legacy,
    /// The tar archive of PyTorch < 0.4 (`storages`, `tensors`, `pickle`, `sys_info`).
    Tar,
    /// A safetensors file.
    Safetensors,
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Zip => "zip",
            Format::Legacy => "legacy",
            Format::Tar => "tar",
            Format::Safetensors => "safetensors",
        })
    }
}

/// The contents of a checkpoint.
#[derive(Debug)]
pub struct Checkpoint {
    /// The file's format.
    pub format: Format,
    /// The state dict, in file order. Tensors that were views of one storage in the file are
    /// views of one storage here.
    pub tensors: Vec<(String, tch::Tensor)>,
    /// The non-tensor entries: key and Python type name (`int`, `dict`, `str`, `OrderedDict`,
    /// …): the other top-level entries of a nested checkpoint (`epoch`, `optimizer`, …) and any
    /// non-tensor value inside the state dict.
    pub other: Vec<(String, String)>,
    /// The key under which the state dict was found (`state_dict`, `model`, …); `None` when the
    /// checkpoint is the state dict itself.
    pub state_dict_key: Option<String>,
    /// The state dict's `_metadata` versions, in file order: for each module path (`""` for
    /// the root) the `version` torch recorded (its class's `_version`: 2 for BatchNorm and
    /// torchvision's MNASNet, else 1). Empty when the file has none (safetensors, a plain dict).
    pub versions: Vec<(String, i64)>,
}

impl Checkpoint {
    /// The tensor stored under `key`.
    pub fn get(&self, key: &str) -> Option<&tch::Tensor> {
        self.tensors.iter().find(|(k, _)| k == key).map(|(_, t)| t)
    }

    /// The state-dict keys, in file order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.tensors.iter().map(|(k, _)| k.as_str())
    }
}

/// How to read a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadOptions {
    /// Where to put the tensors, whatever device the file names (as `torch.load`'s
    /// `map_location` does). Default: CPU.
    pub device: tch::Device,
    /// The key of the state dict in a nested checkpoint (a dotted path such as `ema.model`
    /// reaches into nested dicts). `None`: the first of `state_dict`, `model`,
    /// `model_state_dict` and `net` that holds tensors; else, when the top level holds no tensor
    /// but exactly one of its entries is a dict of tensors (`ema`, `weights`, …), that entry;
    /// else the top level itself.
    pub state_dict_key: Option<String>,
    /// Strip a leading `module.` from every key when all keys have it (checkpoints of
    /// `DataParallel`/`DistributedDataParallel` models). Default: true.
    pub strip_module_prefix: bool,
    /// Load lazily, as `torch.load(mmap=True)`: map the file and make the tensors views of the
    /// map instead of copies, so reading costs little more than parsing the metadata and pages
    /// are read from the file (the page cache) when a tensor's values are first used.
    /// Default: false.
    ///
    /// It applies to zip `.pth` files (what `torch.save` writes) and safetensors files
    /// ([`safetensors::read_mapped`]) read onto the CPU. Legacy and tar `.pth` files, files
    /// written big-endian, deflated records, records whose offset in the file is not a
    /// multiple of their element size, other devices and paths that are not UTF-8 are read
    /// eagerly (copied) as without it.
    ///
    /// The map is libtorch's private, copy-on-write mapping of the whole file (as
    /// `torch.from_file(path, shared=False)`), owned by the tensors' storage: it lives as long
    /// as any of the tensors, and writing into a tensor copies the pages it touches, never
    /// changing the file. All the tensors of a `.pth` file are views of that one storage (the
    /// whole file), not one storage each. Zip CRC-32 checks are skipped for the mapped records
    /// (they would read every page), as torch skips them. **As with `torch.load(mmap=True)`,
    /// the file must not be truncated or rewritten in place while the tensors live**: touching
    /// a page past a truncated file's end kills the process with SIGBUS (replacing the file by
    /// a rename, as [`save_pth`] does, is safe).
    pub mmap: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions { device: tch::Device::Cpu, state_dict_key: None, strip_module_prefix: true, mmap: false }
    }
}

impl ReadOptions {
    /// Sets [`ReadOptions::device`].
    pub fn device(mut self, device: tch::Device) -> Self {
        self.device = device;
        self
    }

    /// Sets [`ReadOptions::state_dict_key`].
    pub fn state_dict_key(mut self, key: impl Into<String>) -> Self {
        self.state_dict_key = Some(key.into());
        self
    }

    /// Sets [`ReadOptions::strip_module_prefix`].
    pub fn strip_module_prefix(mut self, strip: bool) -> Self {
        self.strip_module_prefix = strip;
        self
    }

    /// Sets [`ReadOptions::mmap`].
    pub fn mmap(mut self, mmap: bool) -> Self {
        self.mmap = mmap;
        self
    }
}

/// Reads any checkpoint: safetensors (by its `.safetensors` extension or its header: an
/// 8-byte length followed by `{`) through [`safetensors::read`] (or
/// [`safetensors::read_mapped`] with [`ReadOptions::mmap`]), anything else through
/// [`read_pth`], which tells zip, legacy and tar apart by content.
pub fn read(path: &Path, opts: &ReadOptions) -> Result<Checkpoint> {
    let is_st_ext = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("safetensors"));
    if is_st_ext || looks_like_safetensors(path)? {
        return if opts.mmap { safetensors::read_mapped(path, opts) } else { safetensors::read(path, opts) };
    }
    read_pth(path, opts)
}

fn looks_like_safetensors(path: &Path) -> Result<bool> {
    use std::io::Read;
    let io = |source| Error::Io { path: path.display().to_string(), source };
    let mut f = files::open_regular(path)?;
    let mut head = [0u8; 9];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]).map_err(io)? {
            0 => break,
            k => n += k,
        }
    }
    if n < head.len() {
        return Ok(false);
    }
    let header_len = u64::from_le_bytes(head[..8].try_into().unwrap_or_default());
    let file_len = f.metadata().map_err(io)?.len();
    Ok(head[8] == b'{' && header_len >= 2 && header_len <= file_len.saturating_sub(8))
}

/// The bytes `t` takes once materialised (made contiguous): its element count times its
/// element size, overflow-checked (`None`: more than `u64` counts).
pub fn materialized_bytes(t: &tch::Tensor) -> Option<u64> {
    let numel = t.size().iter().try_fold(1u64, |n, &d| n.checked_mul(u64::try_from(d).ok()?))?;
    numel.checked_mul(t.kind().elt_size_in_bytes() as u64)
}

/// How many bytes materialising the tensors of a file of `file_len` bytes may take at most:
/// [`MATERIALIZE_PER_BYTE`] times the file plus [`MATERIALIZE_BASE`].
pub fn materialize_limit(file_len: u64) -> u64 {
    file_len.saturating_mul(MATERIALIZE_PER_BYTE).saturating_add(MATERIALIZE_BASE)
}

/// See [`materialize_limit`]: tensors may take 4 times their file (tied weights written as
/// copies, dtype conversions)…
pub const MATERIALIZE_PER_BYTE: u64 = 4;
/// …plus 64 MiB.
pub const MATERIALIZE_BASE: u64 = 64 << 20;

/// Refuses to materialise tensors read from the file `path` of `file_len` bytes when together
/// they would take more than [`materialize_limit`]: views that overlap themselves (a zero
/// stride) or share one storage many times can describe gigabytes in a few kilobytes, and
/// writing them out (`convert`), or converting them, would allocate all of it. The error names
/// the largest such tensor, its shape, strides and the bytes it would take. Tensors are kept as
/// views otherwise; only what is written is materialised.
pub fn check_materialized(path: &Path, file_len: u64, tensors: &[(String, tch::Tensor)]) -> Result<()> {
    let limit = materialize_limit(file_len);
    let mut total: u64 = 0;
    let mut largest: Option<(&str, &tch::Tensor, Option<u64>)> = None;
    for (k, t) in tensors {
        let bytes = materialized_bytes(t);
        total = total.saturating_add(bytes.unwrap_or(u64::MAX));
        if largest.is_none_or(|(_, _, b)| bytes.unwrap_or(u64::MAX) > b.unwrap_or(u64::MAX)) {
            largest = Some((k, t, bytes));
        }
    }
    if total <= limit {
        return Ok(());
    }
    let (key, t, bytes) = largest.expect("a total above the limit has a tensor");
    let strides = t.stride();
    let stride = shape_str(&strides);
    let overlapping = strides.iter().zip(t.size()).any(|(&st, n)| st == 0 && n > 1);
    Err(Error::Format {
        path: path.display().to_string(),
        message: format!(
            "refusing to materialise {} from a {}-byte file (at most {}: 4 times the file plus 64 MiB): \
             `{}` alone, shape {} with strides {}, takes {}{}",
            bytes_or_more(Some(total)),
            file_len,
            pickle::human_bytes(limit),
            error::printable(key),
            shape_str(&t.size()),
            stride,
            bytes_or_more(bytes),
            if overlapping { " (a zero-stride view repeating the same elements)" } else { "" }
        ),
    })
}

fn bytes_or_more(b: Option<u64>) -> String {
    match b {
        Some(u64::MAX) | None => "more than 16 EiB".into(),
        Some(b) => pickle::human_bytes(b),
    }
}
