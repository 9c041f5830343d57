//! safetensors files, read from a memory map and written atomically, in pure Rust.
//!
//! The format (the `safetensors` project's specification): an 8-byte little-endian header size
//! `N`, `N` bytes of UTF-8 JSON mapping each tensor name to `{"dtype", "shape", "data_offsets":
//! [begin, end]}` (offsets into the data section that follows the header) plus an optional
//! `"__metadata__"` map of strings, then the data section, every tensor stored contiguous and
//! little-endian.
//!
//! [`read`] maps the file with `memmap2` and builds each tensor straight from the mapped bytes:
//! one copy, from the page cache into libtorch's memory (then one more only when a CUDA device is
//! asked for). Mapped pages already copied are handed back to the kernel as it goes, so the peak
//! resident memory stays near the size of the tensors. Before any tensor is made the whole
//! header is validated, as Python's `safetensors` does: the header size fits the file and a
//! 100 MB bound, the JSON is an object of well-formed entries, each dtype is known, each shape's
//! byte length equals its offsets' span, and the tensors tile the data section exactly (no
//! overlap, no hole, nothing left over). Each failure is an [`Error::Format`] naming the key.
//!
//! **Order.** Many writers (Python's `safetensors` among them) do not keep the order in which
//! tensors were given: they lay the data out by dtype alignment and name and write the header in
//! that layout order. [`read`] returns the tensors in **data-offset order** (ties, which only
//! zero-size tensors can have, keep the header's order). For files written by Python's
//! `safetensors` this is exactly the header's order; for files written by [`save`], which lays
//! the data out in the order it was given, it is the original order, so a state dict saved and
//! read back keeps PyTorch's order.
//!
//! [`read_mapped`] validates the same way but copies nothing: its tensors are views of a private
//! memory map of the file, read on first use (as `torch.load(mmap=True)` and Python's
//! `safetensors.torch.load_file`).
//!
//! [`save`] writes to a temporary file in the destination's folder, syncs it and renames it into
//! place ([`super::files::write_atomically`]), so readers never see a half-written file. Python
//! reads it with `safetensors.torch.load_file`.

use std::io::Write;
use std::path::Path;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use tch::{Device, Kind, Tensor};

use super::load::torch_dtype_name;
use super::{Checkpoint, Format, ReadOptions};
use crate::error::{shape_str, Error, Result};

/// The largest header accepted, as Python's `safetensors` (100 MB).
pub const MAX_HEADER_SIZE: u64 = 100_000_000;

/// The key of the optional string-to-string metadata map in the header.
pub const METADATA_KEY: &str = "__metadata__";

/// The safetensors dtype name of a tch [`Kind`] (`F32`, `BF16`, `I64`, `BOOL`, `C64`, …), or
/// `None` for kinds safetensors cannot store (quantized, complex half and double).
pub fn dtype_of_kind(kind: Kind) -> Option<&'static str> {
    Some(match kind {
        Kind::Double => "F64",
        Kind::Float => "F32",
        Kind::Half => "F16",
        Kind::BFloat16 => "BF16",
        Kind::Int64 => "I64",
        Kind::Int => "I32",
        Kind::Int16 => "I16",
        Kind::Int8 => "I8",
        Kind::Uint8 => "U8",
        Kind::Bool => "BOOL",
        Kind::ComplexFloat => "C64",
        Kind::Float8e4m3fn => "F8_E4M3",
        Kind::Float8e5m2 => "F8_E5M2",
        Kind::Float8e4m3fnuz => "F8_E4M3FNUZ",
        Kind::Float8e5m2fnuz => "F8_E5M2FNUZ",
        _ => return None,
    })
}

/// The tch [`Kind`] of a safetensors dtype name, or `None` for dtypes libtorch (through tch)
/// cannot hold (`U16`, `U32`, `U64`, …).
pub fn kind_of_dtype(dtype: &str) -> Option<Kind> {
    Some(match dtype {
        "F64" => Kind::Double,
        "F32" => Kind::Float,
        "F16" => Kind::Half,
        "BF16" => Kind::BFloat16,
        "I64" => Kind::Int64,
        "I32" => Kind::Int,
        "I16" => Kind::Int16,
        "I8" => Kind::Int8,
        "U8" => Kind::Uint8,
        "BOOL" => Kind::Bool,
        "C64" => Kind::ComplexFloat,
        "F8_E4M3" => Kind::Float8e4m3fn,
        "F8_E5M2" => Kind::Float8e5m2,
        "F8_E4M3FNUZ" => Kind::Float8e4m3fnuz,
        "F8_E5M2FNUZ" => Kind::Float8e5m2fnuz,
        _ => return None,
    })
}

/// One tensor entry of a safetensors header, validated against the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The tensor's name.
    pub key: String,
    /// Its dtype as a tch [`Kind`].
    pub kind: Kind,
    /// Its shape.
    pub shape: Vec<i64>,
    /// Its bytes, as offsets into the data section (after the header): `begin..end`.
    pub data_offsets: [u64; 2],
}

/// A validated safetensors header: the tensor entries in data-offset order, the metadata, and
/// where the data section starts in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The tensor entries in data-offset order (see the module docs).
    pub entries: Vec<Entry>,
    /// The `__metadata__` map, in the header's order.
    pub metadata: Vec<(String, String)>,
    /// The file offset of the data section (`8 + header size`).
    pub data_start: u64,
}

fn format_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Format { path: path.display().to_string(), message: message.into() }
}

fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io { path: path.display().to_string(), source }
}

/// The top-level JSON object of a header, entries kept in the file's order (a plain
/// `serde_json::Map` would sort them), duplicate keys refused.
struct OrderedObject(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for OrderedObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OrderedObject;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<OrderedObject, A::Error> {
                let mut out: Vec<(String, Value)> = Vec::new();
                let mut seen = std::collections::HashSet::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    if !seen.insert(k.clone()) {
                        return Err(serde::de::Error::custom(format!("duplicate key `{k}`")));
                    }
                    out.push((k, v));
                }
                Ok(OrderedObject(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Parses and validates the header of a safetensors file of `file_len` bytes whose first
/// bytes are `bytes` (at least the 8-byte size and the header). `path` only names the file in
/// errors.
pub fn parse_header(path: &Path, bytes: &[u8], file_len: u64) -> Result<Header> {
    if file_len < 8 || bytes.len() < 8 {
        return Err(format_err(
            path,
            format!("not a safetensors file: {file_len} bytes, too short for the 8-byte header size"),
        ));
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    if n > MAX_HEADER_SIZE {
        return Err(format_err(
            path,
            format!("not a safetensors file: header size {n} exceeds the {MAX_HEADER_SIZE}-byte limit"),
        ));
    }
    if 8 + n > file_len {
        return Err(format_err(
            path,
            format!("truncated safetensors file: header size {n} runs past the end of the {file_len}-byte file"),
        ));
    }
    let raw =
        bytes.get(8..8 + n as usize).ok_or_else(|| format_err(path, format!("header of {n} bytes not available")))?;
    let text =
        std::str::from_utf8(raw).map_err(|e| format_err(path, format!("safetensors header is not UTF-8: {e}")))?;
    if !text.trim_start().starts_with('{') {
        return Err(format_err(path, "not a safetensors file: the header is not a JSON object"));
    }
    let OrderedObject(items) = serde_json::from_str(text)
        .map_err(|e| format_err(path, format!("safetensors header is not valid JSON: {e}")))?;
    let data_start = 8 + n;
    let data_len = file_len - data_start;

    let mut metadata = Vec::new();
    let mut entries = Vec::with_capacity(items.len());
    for (key, value) in items {
        if key == METADATA_KEY {
            let Value::Object(map) = value else {
                return Err(format_err(path, "`__metadata__` is not a JSON object of strings"));
            };
            for (k, v) in map {
                let Value::String(s) = v else {
                    return Err(format_err(path, format!("`__metadata__`: value of `{k}` is not a string")));
                };
                metadata.push((k, s));
            }
            continue;
        }
        entries.push(parse_entry(path, key, value, data_len)?);
    }

    // Data-offset order; the sort is stable, so ties (zero-size tensors) keep the header's order.
    entries.sort_by_key(|e| (e.data_offsets[0], e.data_offsets[1]));
    let mut end = 0u64;
    let mut prev: Option<&str> = None;
    for e in &entries {
        let [b, _] = e.data_offsets;
        let after = prev.map(|p| format!(" (after `{p}`)")).unwrap_or_default();
        if b < end {
            return Err(format_err(
                path,
                format!(
                    "tensor `{}`: data offsets [{b}, {}] overlap the previous tensor's bytes{after}",
                    e.key, e.data_offsets[1]
                ),
            ));
        }
        if b > end {
            return Err(format_err(
                path,
                format!(
                    "tensor `{}`: data offsets [{b}, {}] leave bytes {end}..{b} of the data section unused{after}",
                    e.key, e.data_offsets[1]
                ),
            ));
        }
        end = e.data_offsets[1];
        prev = Some(&e.key);
    }
    if end != data_len {
        return Err(format_err(
            path,
            format!("the tensors cover {end} bytes of the {data_len}-byte data section; the rest belongs to no tensor"),
        ));
    }
    Ok(Header { entries, metadata, data_start })
}

/// A JSON value as JSON text (not Rust's debug form), cut to 80 characters.
fn json_text(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

fn parse_entry(path: &Path, key: String, value: Value, data_len: u64) -> Result<Entry> {
    let bad = |what: String| format_err(path, format!("tensor `{key}`: {what}"));
    let Value::Object(obj) = value else {
        return Err(bad("entry is not a JSON object".into()));
    };
    for k in obj.keys() {
        if !matches!(k.as_str(), "dtype" | "shape" | "data_offsets") {
            return Err(bad(format!("unknown field `{k}`")));
        }
    }
    let dtype = obj.get("dtype").and_then(Value::as_str).ok_or_else(|| bad("missing or non-string `dtype`".into()))?;
    let kind = kind_of_dtype(dtype).ok_or_else(|| bad(format!("unsupported dtype `{dtype}`")))?;
    let shape_v =
        obj.get("shape").and_then(Value::as_array).ok_or_else(|| bad("missing or non-array `shape`".into()))?;
    let mut shape = Vec::with_capacity(shape_v.len());
    let mut numel: u64 = 1;
    for d in shape_v {
        let d = d
            .as_u64()
            .filter(|&d| d <= i64::MAX as u64)
            .ok_or_else(|| bad(format!("invalid dimension {} in `shape`", json_text(d))))?;
        numel = numel
            .checked_mul(d)
            .ok_or_else(|| bad(format!("shape {} overflows", json_text(&Value::Array(shape_v.clone())))))?;
        shape.push(d as i64);
    }
    let offs = obj
        .get("data_offsets")
        .and_then(Value::as_array)
        .filter(|a| a.len() == 2)
        .ok_or_else(|| bad("`data_offsets` is not an array of two offsets".into()))?;
    let (Some(b), Some(e)) = (offs[0].as_u64(), offs[1].as_u64()) else {
        return Err(bad(format!("invalid `data_offsets` {}", json_text(&Value::Array(offs.clone())))));
    };
    if b > e {
        return Err(bad(format!("data offsets [{b}, {e}] end before they begin")));
    }
    if e > data_len {
        return Err(bad(format!("data offsets [{b}, {e}] lie outside the {data_len}-byte data section")));
    }
    let nbytes = numel
        .checked_mul(kind.elt_size_in_bytes() as u64)
        .ok_or_else(|| bad(format!("shape {} overflows", shape_str(&shape))))?;
    if nbytes != e - b {
        return Err(bad(format!(
            "shape {} of dtype {dtype} needs {nbytes} bytes, but data offsets [{b}, {e}] span {}",
            shape_str(&shape),
            e - b
        )));
    }
    Ok(Entry { key, kind, shape, data_offsets: [b, e] })
}

/// Reads and validates only the header of a safetensors file (no tensor data is touched).
pub fn read_header(path: impl AsRef<Path>) -> Result<Header> {
    use std::io::Read;
    let path = path.as_ref();
    let mut f = super::files::open_regular(path)?;
    let len = f.metadata().map_err(|e| io_err(path, e))?.len();
    let mut size = [0u8; 8];
    if len < 8 {
        return parse_header(path, &[], len);
    }
    f.read_exact(&mut size).map_err(|e| io_err(path, e))?;
    let n = u64::from_le_bytes(size).min(MAX_HEADER_SIZE + 1).min(len - 8);
    let mut bytes = size.to_vec();
    bytes.resize(8 + n as usize, 0);
    f.read_exact(&mut bytes[8..]).map_err(|e| io_err(path, e))?;
    parse_header(path, &bytes, len)
}

/// Applies [`ReadOptions::state_dict_key`] and [`ReadOptions::strip_module_prefix`] to the keys
/// of a flat file: a state-dict key `k` selects the tensors named `k.…` (and drops `k.`);
/// `strip_module_prefix` removes a leading `module.` (DataParallel's) from every key when all
/// keys have it, as [`read_pth`](super::read_pth) does.
fn select_keys(path: &Path, header: &mut Header, opts: &ReadOptions) -> Result<()> {
    if let Some(k) = &opts.state_dict_key {
        let prefix = format!("{k}.");
        let total = header.entries.len();
        header.entries.retain(|e| e.key.starts_with(&prefix));
        if header.entries.is_empty() {
            return Err(format_err(
                path,
                format!("no tensor under the state-dict key `{k}` (none of the {total} keys starts with `{prefix}`)"),
            ));
        }
        for e in &mut header.entries {
            e.key.drain(..prefix.len());
        }
    }
    if opts.strip_module_prefix
        && !header.entries.is_empty()
        && header.entries.iter().all(|e| e.key.starts_with("module."))
    {
        for e in &mut header.entries {
            e.key.drain(.."module.".len());
        }
    }
    let mut seen = std::collections::HashSet::new();
    for e in &header.entries {
        if !seen.insert(e.key.as_str()) {
            return Err(format_err(path, format!("two tensors are named `{}` once the prefixes are removed", e.key)));
        }
    }
    Ok(())
}

/// A contiguous CPU tensor of `kind` and `shape` holding a copy of `bytes` (native byte order):
/// one uninitialised allocation and one `memcpy`.
///
/// tch's `Tensor::f_from_data_size` zero-fills the tensor before copying, with a parallel
/// libtorch kernel; on a busy machine that fill alone made reading a 100 MB file several times
/// slower (a resnet50 state dict of 100 MB on a busy 2-core machine: 550–940 ms against
/// 130–210 ms with this function).
pub fn tensor_from_bytes(bytes: &[u8], shape: &[i64], kind: Kind) -> Result<Tensor> {
    let numel = shape.iter().try_fold(1u64, |n, &d| if d < 0 { None } else { n.checked_mul(d as u64) });
    let want = numel.and_then(|n| n.checked_mul(kind.elt_size_in_bytes() as u64));
    if want != Some(bytes.len() as u64) {
        return Err(Error::InvalidArgument(format!(
            "{} bytes cannot hold a {} tensor of shape {}",
            bytes.len(),
            torch_dtype_name(kind),
            shape_str(shape)
        )));
    }
    let t = Tensor::f_empty(shape, (kind, Device::Cpu)).map_err(|e| {
        Error::torch(format!("allocating a {} tensor of shape {}", torch_dtype_name(kind), shape_str(shape)), e)
    })?;
    if !bytes.is_empty() {
        // SAFETY: `t` is a fresh contiguous CPU tensor of exactly `bytes.len()` bytes (checked
        // above), so its data pointer is valid for that many writes and cannot overlap `bytes`.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), t.data_ptr() as *mut u8, bytes.len()) };
    }
    Ok(t)
}

/// Reads a safetensors file into a [`Checkpoint`] of format [`Format::Safetensors`]: the
/// tensors in data-offset order (see the module docs) on `opts.device`, and the `__metadata__`
/// entries in `other` as `("__metadata__.<name>", "str")`.
///
/// `opts.state_dict_key` selects the tensors whose names start with `key.` (safetensors files
/// are flat, so a nested state dict can only be stored that way); `opts.strip_module_prefix`
/// removes DataParallel's `module.` when every name has it.
pub fn read(path: impl AsRef<Path>, opts: &ReadOptions) -> Result<Checkpoint> {
    let path = path.as_ref();
    #[cfg(target_endian = "big")]
    return Err(format_err(path, "safetensors files are little-endian; big-endian hosts are not supported"));

    let file = super::files::open_regular(path)?;
    let len = file.metadata().map_err(|e| io_err(path, e))?.len();
    if len < 8 {
        parse_header(path, &[], len)?;
    }
    // SAFETY: the map is read-only; like every reader of a mapped file we rely on the file not
    // being truncated or rewritten while it is read (a concurrent writer of this crate renames
    // a new file into place and never changes an existing one).
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| io_err(path, e))?;
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Sequential);
    let mut header = parse_header(path, &map, len)?;
    select_keys(path, &mut header, opts)?;

    let data = &map[header.data_start as usize..];
    let mut tensors = Vec::with_capacity(header.entries.len());
    for e in &header.entries {
        let [b, end] = e.data_offsets;
        let bytes = &data[b as usize..end as usize];
        let t = tensor_from_bytes(bytes, &e.shape, e.kind).map_err(|err| match err {
            Error::Torch { source, .. } => format_err(path, format!("tensor `{}`: {source}", e.key)),
            err => err,
        })?;
        let t = if opts.device == Device::Cpu {
            t
        } else {
            t.f_to_device(opts.device)
                .map_err(|err| format_err(path, format!("tensor `{}`: moving to the device: {err}", e.key)))?
        };
        // The bytes are in libtorch's memory now: let the kernel drop the mapped pages from this
        // process (they stay in the page cache), so the mapping does not double the peak memory.
        #[cfg(unix)]
        if end > b {
            // SAFETY: the map is a read-only shared file mapping: MADV_DONTNEED only drops this
            // process's page-table entries, and a later read of these addresses faults the same
            // bytes back in from the file, so the contents seen through `data` never change.
            let _ = unsafe {
                map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    header.data_start as usize + b as usize,
                    (end - b) as usize,
                )
            };
        }
        tensors.push((e.key.clone(), t));
    }
    let other = header.metadata.iter().map(|(k, _)| (format!("{METADATA_KEY}.{k}"), "str".to_string())).collect();
    Ok(Checkpoint {
        format: Format::Safetensors,
        tensors,
        other,
        state_dict_key: opts.state_dict_key.clone(),
        versions: Vec::new(),
    })
}

/// Like [`read`], but the tensors are views of a private (copy-on-write) memory map of the file
/// instead of copies: nothing is read until a tensor's values are used, so "loading" takes a
/// millisecond and resident memory grows only with what is touched, as `torch.load(mmap=True)`
/// and Python's `safetensors.torch.load_file` do. The header is validated exactly as by [`read`].
///
/// The map is libtorch's (`torch.from_file(path, shared=False)`), owned by the tensors' storage:
/// it lives as long as any tensor does, and writes to the tensors never reach the file. The file
/// must not be truncated or rewritten in place while the tensors live (replacing it by a rename,
/// as [`save`] does, is safe). A tensor whose offset is not a multiple of its element size (other
/// writers may produce them) is copied; on another `opts.device` every tensor is copied there.
/// Paths that are not UTF-8 fall back to [`read`].
pub fn read_mapped(path: impl AsRef<Path>, opts: &ReadOptions) -> Result<Checkpoint> {
    let path = path.as_ref();
    let Some(path_str) = path.to_str() else { return read(path, opts) };
    let mut header = read_header(path)?;
    select_keys(path, &mut header, opts)?;
    let len = std::fs::metadata(path).map_err(|e| io_err(path, e))?.len();
    let torch_err =
        |key: &str, what: &str, err: tch::TchError| format_err(path, format!("tensor `{key}`: {what}: {err}"));
    let base = Tensor::f_from_file(path_str, false, Some(len as i64), (Kind::Uint8, Device::Cpu))
        .map_err(|e| format_err(path, format!("mapping the file: {e}")))?;
    let mut tensors = Vec::with_capacity(header.entries.len());
    for e in &header.entries {
        let start = header.data_start + e.data_offsets[0];
        let n = e.data_offsets[1] - e.data_offsets[0];
        let elt = e.kind.elt_size_in_bytes() as u64;
        let t = if n == 0 {
            Tensor::f_empty(&e.shape, (e.kind, Device::Cpu)).map_err(|err| torch_err(&e.key, "allocating", err))?
        } else {
            let bytes = base.f_narrow(0, start as i64, n as i64).map_err(|err| torch_err(&e.key, "slicing", err))?;
            let bytes = if start % elt == 0 { bytes } else { bytes.copy() };
            bytes
                .f_view_dtype(e.kind)
                .and_then(|t| t.f_reshape(&e.shape))
                .map_err(|err| torch_err(&e.key, "viewing the mapped bytes", err))?
        };
        let t = if opts.device == Device::Cpu {
            t
        } else {
            t.f_to_device(opts.device).map_err(|err| torch_err(&e.key, "moving to the device", err))?
        };
        tensors.push((e.key.clone(), t));
    }
    let other = header.metadata.iter().map(|(k, _)| (format!("{METADATA_KEY}.{k}"), "str".to_string())).collect();
    Ok(Checkpoint {
        format: Format::Safetensors,
        tensors,
        other,
        state_dict_key: opts.state_dict_key.clone(),
        versions: Vec::new(),
    })
}

/// Writes `tensors` as a safetensors file, atomically (see [`save_with_metadata`]).
pub fn save(path: impl AsRef<Path>, tensors: &[(String, Tensor)]) -> Result<()> {
    save_with_metadata(path, tensors, &[])
}

/// Writes `tensors` (in the given order, which is also the data layout order, so [`read`] gives
/// it back) and an optional `__metadata__` map (omitted when `metadata` is empty) as a
/// safetensors file.
///
/// Tensors on a GPU are copied to the CPU and non-contiguous ones made contiguous. The file is
/// written to a temporary file in the same folder, synced, and renamed over `path`; on error
/// the temporary file is removed and `path` is untouched. Refuses duplicate or empty names, the
/// name `__metadata__`, and dtypes safetensors cannot store (quantized, complex half/double).
pub fn save_with_metadata(
    path: impl AsRef<Path>,
    tensors: &[(String, Tensor)],
    metadata: &[(String, String)],
) -> Result<()> {
    let path = path.as_ref();
    let mut seen = std::collections::HashSet::new();
    let mut prepared = Vec::with_capacity(tensors.len());
    let mut header = String::from("{");
    if !metadata.is_empty() {
        let map: serde_json::Map<String, Value> =
            metadata.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        header.push_str(&format!("{}:{}", json_str(METADATA_KEY), Value::Object(map)));
    }
    let mut offset = 0u64;
    for (key, t) in tensors {
        if key.is_empty() || key == METADATA_KEY {
            return Err(Error::InvalidArgument(format!("{}: cannot store a tensor named `{key}`", path.display())));
        }
        if !seen.insert(key.as_str()) {
            return Err(Error::DuplicateKey(key.clone()));
        }
        let kind = t.f_kind().map_err(|e| Error::torch(format!("{}: tensor `{key}`", path.display()), e))?;
        let dtype = dtype_of_kind(kind).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{}: tensor `{key}`: safetensors cannot store dtype {}",
                path.display(),
                torch_dtype_name(kind)
            ))
        })?;
        let t = t.f_to_device(Device::Cpu).and_then(|t| t.f_contiguous()).map_err(|e| {
            Error::torch(format!("{}: tensor `{key}`: copying to contiguous CPU memory", path.display()), e)
        })?;
        let nbytes = t.numel() as u64 * kind.elt_size_in_bytes() as u64;
        if header.len() > 1 {
            header.push(',');
        }
        header.push_str(&format!(
            "{}:{{\"dtype\":\"{dtype}\",\"shape\":{:?},\"data_offsets\":[{offset},{}]}}",
            json_str(key),
            t.size(),
            offset + nbytes
        ));
        offset += nbytes;
        prepared.push((t, nbytes as usize));
    }
    header.push('}');
    // Pad with spaces so the data section starts 8-byte aligned, as Python's writer does.
    while (8 + header.len()) % 8 != 0 {
        header.push(' ');
    }

    super::files::write_atomically_io(path, |w| {
        w.write_all(&(header.len() as u64).to_le_bytes())?;
        w.write_all(header.as_bytes())?;
        for (t, nbytes) in &prepared {
            if *nbytes > 0 {
                // SAFETY: `t` is a contiguous CPU tensor of `nbytes` bytes starting at its data
                // pointer, alive for the duration of this borrow.
                let bytes = unsafe { std::slice::from_raw_parts(t.data_ptr() as *const u8, *nbytes) };
                w.write_all(bytes)?;
            }
        }
        Ok(())
    })
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file image: header JSON (padded as given) and `data_len` data bytes counting 0, 1, 2, ….
    fn image(header: &str, data_len: usize) -> Vec<u8> {
        let mut b = (header.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(header.as_bytes());
        b.extend((0..data_len).map(|i| i as u8));
        b
    }

    fn parse(bytes: &[u8]) -> Result<Header> {
        parse_header(Path::new("t.safetensors"), bytes, bytes.len() as u64)
    }

    #[track_caller]
    fn fails(bytes: &[u8], needles: &[&str]) {
        let err = parse(bytes).unwrap_err();
        assert!(matches!(err, Error::Format { .. }), "{err:?}");
        let msg = err.to_string();
        for n in needles {
            assert!(msg.contains(n), "`{msg}` should contain `{n}`");
        }
    }

    #[test]
    fn header_order_is_data_offset_order() {
        let h = r#"{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"__metadata__":{"x":"y"},
                    "z":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},
                    "a":{"dtype":"I16","shape":[2],"data_offsets":[0,4]}}  "#;
        let hd = parse(&image(h, 8)).unwrap();
        let keys: Vec<&str> = hd.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["z", "a", "b"]);
        assert_eq!(hd.metadata, [("x".to_string(), "y".to_string())]);
        assert_eq!(hd.entries[1].kind, Kind::Int16);
        assert_eq!(hd.data_start, 8 + h.len() as u64);
    }

    #[test]
    fn malformed_headers_are_format_errors_naming_the_key() {
        fails(&[1, 2, 3], &["too short"]);
        fails(&(u64::MAX).to_le_bytes(), &["exceeds"]);
        let mut b = 100u64.to_le_bytes().to_vec();
        b.extend_from_slice(b"{}");
        fails(&b, &["runs past the end"]);
        fails(&image("[1, 2]", 0), &["not a JSON object"]);
        fails(&image("{\"a\": ", 0), &["not valid JSON"]);
        fails(
            &image(
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                8,
            ),
            &["duplicate key `a`"],
        );
        fails(
            &image(r#"{"w":{"dtype":"U16","shape":[1],"data_offsets":[0,2]}}"#, 2),
            &["`w`", "unsupported dtype `U16`"],
        );
        fails(
            &image(r#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, 8),
            &["`w`", "needs 12 bytes", "span 8"],
        );
        fails(&image(r#"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, 4), &["`w`", "invalid dimension"]);
        fails(
            &image(r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, 4),
            &["`w`", "outside the 4-byte data section"],
        );
        fails(
            &image(r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#, 8),
            &["`w`", "end before they begin"],
        );
        fails(&image(r#"{"w":{"dtype":"F32","shape":[1]}}"#, 0), &["`w`", "data_offsets"]);
        fails(
            &image(r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}"#, 4),
            &["`w`", "unknown field `x`"],
        );
        fails(
            &image(
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                8,
            ),
            &["`b`", "overlap", "after `a`"],
        );
        fails(
            &image(
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#,
                12,
            ),
            &["`b`", "bytes 4..8", "unused"],
        );
        fails(&image(r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, 6), &["cover 4 bytes of the 6-byte"]);
        fails(&image(r#"{"__metadata__":{"k":1}}"#, 0), &["`k` is not a string"]);
        fails(
            &image(r#"{"w":{"dtype":"F32","shape":[4611686018427387904, 4],"data_offsets":[0,4]}}"#, 4),
            &["`w`", "overflows"],
        );
    }

    #[test]
    fn tensor_from_bytes_checks_the_length() {
        let t = tensor_from_bytes(&1.5f32.to_le_bytes(), &[1, 1], Kind::Float).unwrap();
        assert_eq!(t.double_value(&[0, 0]), 1.5);
        assert!(tensor_from_bytes(&[0; 3], &[1], Kind::Float).is_err());
        assert!(tensor_from_bytes(&[], &[-1], Kind::Float).is_err());
        assert_eq!(tensor_from_bytes(&[], &[0, 5], Kind::Double).unwrap().size(), [0, 5]);
    }

    #[test]
    fn reads_values_from_the_data_section() {
        let dir = std::env::temp_dir().join(format!("tchvision-st-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.safetensors");
        // Two little-endian i16 (0x0100 = 256, 0x0302 = 770) then one u8 after them.
        let h = r#"{"a":{"dtype":"I16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[1,1],"data_offsets":[4,5]}}"#;
        std::fs::write(&p, image(h, 5)).unwrap();
        let opts = ReadOptions { device: Device::Cpu, state_dict_key: None, strip_module_prefix: false, mmap: false };
        let ck = read(&p, &opts).unwrap();
        assert_eq!(ck.tensors[0].1.int64_value(&[1]), 770);
        assert_eq!(ck.tensors[0].1.int64_value(&[0]), 256);
        assert_eq!(ck.tensors[1].1.size(), [1, 1]);
        assert_eq!(ck.tensors[1].1.int64_value(&[0, 0]), 4);
        assert_eq!(read_header(&p).unwrap().entries.len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
