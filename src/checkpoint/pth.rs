//! PyTorch `.pth` checkpoints, read in pure Rust: no Python at run time.
//!
//! The three formats of `torch/serialization.py`, told apart by content, not by extension:
//!
//! * **zip** (`torch.save` since PyTorch 1.6, [`Format::Zip`]): a zip archive whose entries
//!   sit under one top folder, whatever it is called (`archive/`, or the file's stem):
//!   `data.pkl` (the pickled object, storages as persistent ids
//!   `('storage', storage_type, key, location, numel)`), `data/<key>` (each storage's raw
//!   bytes, stored uncompressed and 64-byte aligned), `byteorder` (`little` or `big`),
//!   `version`, `.format_version`, `.storage_alignment`, `.data/serialization_id`. The
//!   metadata (zip directory, local headers, `data.pkl`) is read through a memory map; each
//!   stored storage record is read with `pread` straight into its tensor's memory (one copy,
//!   from the page cache, no page faults on the mapped data), its CRC-32 checked on the copy.
//!   With [`ReadOptions::mmap`] the records become views of a private mapping instead (lazy,
//!   as `torch.load(mmap=True)`). Deflated entries (archives rebuilt by other zip tools) are
//!   inflated with a bound.
//! * **legacy** (`_use_new_zipfile_serialization=False`, [`Format::Legacy`]): the pickles of
//!   the magic number `0x1950a86a20f9469cfc6c`, the protocol version 1001 and `sys_info`, the
//!   main pickle (persistent ids `('storage', storage_type, key, location, numel,
//!   view_metadata)`), the sorted list of storage keys, then each storage: an 8-byte
//!   little-endian element count and the raw bytes.
//! * **tar** (PyTorch < 0.4, [`Format::Tar`]): a tar archive with members `sys_info`,
//!   `storages` (a count, then per storage the pickle of `(key, location, storage_type)`, an
//!   8-byte count and the bytes, then the pickle of the storage views), `tensors` (a count, then
//!   per tensor the pickle of `(key, storage_key, tensor_type)`, `ndim` as 4+4 bytes, sizes,
//!   strides and offset as 8-byte integers) and `pickle` (the main pickle, tensors as persistent
//!   ids naming their key).
//!
//! Every storage location (`cpu`, `cuda:0`, …) is mapped to [`ReadOptions::device`], as
//! `torch.load(map_location=device)` does. One base tensor is made per storage, and every
//! tensor is an `as_strided` view of it, so offsets, strides and shared storages (tied
//! weights) are kept; the storage is checked to hold `offset + Σ (size_i − 1)·stride_i + 1`
//! elements first.
//!
//! The state dict is then located ([`ReadOptions::state_dict_key`], else `state_dict`,
//! `model`, `model_state_dict`, `net`, else the top level), `module.` prefixes are stripped,
//! and the other entries are listed by Python type name in [`Checkpoint::other`].
//!
//! Hostile and corrupt files give errors, never panics: every offset and length is checked
//! against the input, the bytes materialized are bounded by the input's size, and the
//! unpickler ([`super::pickle`]) accepts only the globals `torch.load(weights_only=True)`
//! accepts.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use tch::{Device, Kind, Tensor};

use super::pickle::{self, Arena, Budget, DType, Obj, ObjId, Pickled, StorageRef, TensorDesc, Value};
use super::{Checkpoint, Format, ReadOptions};
use crate::error::{shape_str, Error, Result};

/// The keys under which nested checkpoints commonly keep their state dict, tried in order.
pub const STATE_DICT_KEYS: &[&str] = &["state_dict", "model", "model_state_dict", "net"];

/// The legacy format's magic number, the first pickle of the file.
pub const MAGIC_NUMBER: i128 = 0x1950A86A20F9469CFC6C;
/// The legacy format's protocol version, the second pickle.
pub const PROTOCOL_VERSION: i128 = 1001;

/// The most a deflated zip entry may expand per input byte (deflate's own limit is 1032).
const MAX_INFLATE_RATIO: u64 = 1032;

fn fmt_err(path: &str, message: impl Into<String>) -> Error {
    Error::Format { path: path.to_string(), message: message.into() }
}

/// Tells the `.pth` format of some bytes: zip (`PK\x03\x04`), tar (`ustar` at offset 257),
/// or legacy (a pickle: first byte `0x80`). `None` when it is none of them.
pub fn detect_format(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        Some(Format::Zip)
    } else if bytes.get(257..262) == Some(b"ustar") {
        Some(Format::Tar)
    } else if bytes.first() == Some(&0x80) {
        Some(Format::Legacy)
    } else {
        None
    }
}

/// Reads a `.pth` checkpoint (zip, legacy or tar, told by content) from a file.
///
/// By default every storage is copied once into libtorch's memory: the metadata is parsed
/// through a read-only memory map, and each storage's bytes are read with `pread` straight into
/// a fresh, uninitialised tensor (no zero-fill, no intermediate buffer, no page faults on the
/// mapped data), so the resident memory peaks near the tensors' size. With
/// [`ReadOptions::mmap`] a zip file read onto the CPU is instead mapped once (privately,
/// copy-on-write) and its tensors are views of the map; see there.
pub fn read_pth(path: &Path, opts: &ReadOptions) -> Result<Checkpoint> {
    let name = path.display().to_string();
    let io = |source| Error::Io { path: name.clone(), source };
    let file = super::files::open_regular(path)?;
    let len = file.metadata().map_err(io)?.len();
    if len == 0 {
        return Err(fmt_err(&name, "empty file, not a PyTorch checkpoint"));
    }
    if opts.mmap && opts.device == Device::Cpu {
        if let Some(ck) = read_pth_mapped(path, &file, len, &name, opts)? {
            return Ok(ck);
        }
    }
    // SAFETY: the map is read-only and lives for this call; only the metadata is read through
    // it (storages are read with `pread`). As with any memory map, a file truncated by another
    // process while it is parsed is outside what we can guard against.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
    read_impl(&map, &name, opts, &Source::File { file: &file, map: &map })
}

/// The lazy read of [`ReadOptions::mmap`]: `None` when it does not apply (not a zip file, a
/// path that is not UTF-8, a big-endian host), and the file is to be read eagerly.
fn read_pth_mapped(
    path: &Path,
    file: &std::fs::File,
    len: u64,
    name: &str,
    opts: &ReadOptions,
) -> Result<Option<Checkpoint>> {
    if cfg!(target_endian = "big") {
        return Ok(None);
    }
    let Some(path_str) = path.to_str() else { return Ok(None) };
    let mut head = [0u8; 4];
    {
        use std::io::Read;
        let mut f = file;
        if f.read_exact(&mut head).is_err() || detect_format(&head) != Some(Format::Zip) {
            return Ok(None);
        }
    }
    let (Ok(len_i64), Ok(len_usize)) = (i64::try_from(len), usize::try_from(len)) else { return Ok(None) };
    // libtorch's `at::from_file(path, shared=false)`: a MAP_PRIVATE, PROT_READ|PROT_WRITE
    // mapping of the whole file, owned by the returned tensor's storage (as `torch.load(mmap=True)`
    // makes with `UntypedStorage.from_file(path, shared=False)`). It refuses a file shorter than
    // `len` (one truncated since it was measured).
    let map = Tensor::f_from_file(path_str, false, Some(len_i64), (Kind::Uint8, Device::Cpu))
        .map_err(|e| Error::torch(format!("{name}: mapping the file"), e))?;
    if map.numel() != len_usize || map.data_ptr().is_null() {
        return Err(fmt_err(name, format!("mapping the file gave {} bytes, not {len}", map.numel())));
    }
    // SAFETY: `map` is a contiguous uint8 tensor of `len_usize` bytes backed by a file mapping
    // (initialised memory: the file's bytes); it outlives `bytes`, which is used only during
    // this call. Nothing writes through the mapping while `bytes` lives: the tensors made from
    // it are views that are not returned (so not written) before `bytes` is dropped. A file
    // truncated by another process meanwhile would raise SIGBUS on access: the same caveat as
    // `torch.load(mmap=True)`, documented on `ReadOptions::mmap`.
    let bytes = unsafe { std::slice::from_raw_parts(map.data_ptr() as *const u8, len_usize) };
    let ck = read_impl(bytes, name, opts, &Source::Mapped { tensor: &map, map: bytes })?;
    // Hand back the pages the parser touched (the zip directory, `data.pkl`, the records'
    // local headers, with their neighbours) and any record copied out, in one call, so the
    // tensors start with nothing resident, as after `torch.load(mmap=True)`.
    #[cfg(unix)]
    // SAFETY: nothing has written to this private mapping (it was made by this call, and the
    // views of it are not returned yet), so every page in it is a clean page of the file:
    // MADV_DONTNEED only drops page-table entries, and a later access faults the same bytes back
    // in from the file. `bytes` is not used after this.
    unsafe {
        libc::madvise(map.data_ptr(), len_usize, libc::MADV_DONTNEED);
    }
    Ok(Some(ck))
}

/// Reads a `.pth` checkpoint from memory (errors name the file `<memory>`).
pub fn read_pth_bytes(bytes: &[u8], opts: &ReadOptions) -> Result<Checkpoint> {
    read_impl(bytes, "<memory>", opts, &Source::Memory)
}

/// Where the storages' bytes are copied from (or, lazily, viewed in).
enum Source<'s> {
    /// The input slice itself, in memory: copy from it.
    Memory,
    /// The input is `map`, a read-only memory map of `file`: a storage (a slice of `map`) is
    /// read from the file with `pread` into its tensor, without touching the mapped pages.
    File { file: &'s std::fs::File, map: &'s [u8] },
    /// The input is `map`, the bytes of `tensor`: libtorch's private (copy-on-write) mapping of
    /// the whole file. Stored records become views of `tensor`.
    Mapped { tensor: &'s Tensor, map: &'s [u8] },
}

/// The byte offset of `inner` within `outer`, when it lies within it.
fn offset_in(outer: &[u8], inner: &[u8]) -> Option<usize> {
    let off = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    (off.checked_add(inner.len())? <= outer.len()).then_some(off)
}

impl Source<'_> {
    /// Writes the bytes of `src`, a slice of the input, to `dst`.
    ///
    /// # Safety
    ///
    /// `dst` must be valid for `src.len()` bytes of writes and must not overlap `src`.
    unsafe fn copy(&self, src: &[u8], dst: *mut u8, path: &str) -> Result<()> {
        #[cfg(unix)]
        if let Source::File { file, map } = self {
            if let Some(off) = offset_in(map, src) {
                return pread_exact(file, dst, src.len(), off as u64)
                    .map_err(|source| Error::Io { path: path.to_string(), source });
            }
        }
        let _ = path;
        std::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len());
        Ok(())
    }
}

/// `pread` until `len` bytes of `file` from `offset` are at `dst` (a raw pointer, so the
/// tensor's uninitialised memory is never seen as a Rust slice before it is written).
///
/// # Safety
///
/// `dst` must be valid for `len` bytes of writes.
#[cfg(unix)]
unsafe fn pread_exact(file: &std::fs::File, dst: *mut u8, len: usize, offset: u64) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    let fd = file.as_raw_fd();
    let mut done = 0usize;
    while done < len {
        let at = offset
            .checked_add(done as u64)
            .and_then(|o| libc::off_t::try_from(o).ok())
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "file offset out of range"))?;
        // At most 1 GiB per call (Linux returns at most ~2 GiB anyway).
        let want = (len - done).min(1 << 30);
        let n = libc::pread(fd, dst.add(done) as *mut libc::c_void, want, at);
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file ended before the storage (truncated while read?)",
            ));
        }
        done += n as usize;
    }
    Ok(())
}

/// A storage's bytes, as found in the input.
enum Record<'a> {
    /// A slice of the input: a stored zip record, with the name and CRC-32 to check its bytes
    /// against, or a legacy or tar storage.
    Input { bytes: &'a [u8], crc: Option<(String, u32)> },
    /// Inflated from a deflated zip record (its CRC-32 checked).
    Inflated(Vec<u8>),
}

impl Record<'_> {
    fn len(&self) -> usize {
        match self {
            Record::Input { bytes, .. } => bytes.len(),
            Record::Inflated(v) => v.len(),
        }
    }
}

/// Where the bytes of each storage are.
enum Storages<'a> {
    Zip { zip: ZipArchive<'a>, prefix: String },
    Map(HashMap<String, &'a [u8]>),
}

impl<'a> Storages<'a> {
    fn get(&self, key: &str, path: &str) -> Result<Record<'a>> {
        match self {
            Storages::Zip { zip, prefix } => {
                let name = format!("{prefix}/data/{key}");
                let entry =
                    zip.find(&name).ok_or_else(|| fmt_err(path, format!("storage record `{name}` is missing")))?;
                if let Some(bytes) = zip.stored(entry, path)? {
                    // Its CRC-32 is checked on the copy (or not at all when it is only mapped);
                    // 0 means none was computed, as in `ZipArchive::read`.
                    let crc = (entry.crc != 0).then(|| (entry.name.clone(), entry.crc));
                    return Ok(Record::Input { bytes, crc });
                }
                Ok(match zip.read(entry, path)? {
                    Cow::Borrowed(bytes) => Record::Input { bytes, crc: None },
                    Cow::Owned(v) => Record::Inflated(v),
                })
            }
            Storages::Map(m) => m
                .get(key)
                .map(|b| Record::Input { bytes: b, crc: None })
                .ok_or_else(|| fmt_err(path, format!("storage `{key}` is not in the file"))),
        }
    }
}

struct Parsed<'a> {
    format: Format,
    pickled: Pickled,
    storages: Storages<'a>,
    big_endian: bool,
}

fn read_impl(bytes: &[u8], path: &str, opts: &ReadOptions, source: &Source<'_>) -> Result<Checkpoint> {
    // One budget for all the unpickling of the file, proportional to the file's size.
    let budget = &mut Budget::for_file_len(bytes.len() as u64);
    let parsed = match detect_format(bytes) {
        Some(Format::Zip) => parse_zip(bytes, path, budget)?,
        Some(Format::Tar) => parse_tar(bytes, path, budget)?,
        _ => parse_legacy(bytes, path, budget)?,
    };
    materialize(parsed, bytes.len() as u64, path, opts, source)
}

// ---------------------------------------------------------------------------------------------
// Persistent ids.

fn as_str(v: &Value) -> Option<String> {
    match v {
        Value::Str(s) => Some(s.to_string()),
        Value::Bytes(b) => std::str::from_utf8(b).ok().map(str::to_string),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn storage_dtype(v: &Value) -> Option<DType> {
    match v {
        Value::Global(g) => DType::from_storage_class(g.rsplit('.').next()?),
        _ => None,
    }
}

/// Parses `('storage', storage_type, key, location, numel[, view_metadata])`.
fn storage_pid(arena: &Arena, pid: &Value, path: &str) -> Result<StorageRef> {
    let items = arena.seq(pid).ok_or_else(|| fmt_err(path, "persistent id is not a tuple"))?;
    let tag = items.first().and_then(as_str);
    if tag.as_deref() == Some("module") {
        return Err(fmt_err(path, "the checkpoint pickles an nn.Module class, not a state dict"));
    }
    if tag.as_deref() != Some("storage") || !(5..=6).contains(&items.len()) {
        return Err(fmt_err(path, "persistent id is not a storage ('storage', type, key, location, numel)"));
    }
    let dtype = storage_dtype(&items[1]).ok_or_else(|| fmt_err(path, "persistent id: unknown storage type"))?;
    let key = as_str(&items[2]).ok_or_else(|| fmt_err(path, "persistent id: storage key is not a string"))?;
    let location = as_str(&items[3]).ok_or_else(|| fmt_err(path, "persistent id: location is not a string"))?;
    let numel = match items[4] {
        Value::Int(n) if n >= 0 => u64::try_from(n).map_err(|_| fmt_err(path, "storage size out of range"))?,
        _ => return Err(fmt_err(path, format!("storage `{key}`: size is not a non-negative int"))),
    };
    let mut storage = StorageRef { key, dtype, location, numel, view_offset: 0 };
    if let Some(view) = items.get(5) {
        if !matches!(view, Value::None) {
            // (view_key, offset, view_size): a view of the root storage (PyTorch < 1.0).
            let v =
                arena.seq(view).filter(|v| v.len() == 3).ok_or_else(|| fmt_err(path, "bad storage view metadata"))?;
            match (&v[1], &v[2]) {
                (Value::Int(off), Value::Int(size)) if *off >= 0 && *size >= 0 => {
                    storage.view_offset = u64::try_from(*off).map_err(|_| fmt_err(path, "view offset out of range"))?;
                    storage.numel = u64::try_from(*size).map_err(|_| fmt_err(path, "view size out of range"))?;
                }
                _ => return Err(fmt_err(path, "bad storage view metadata")),
            }
        }
    }
    Ok(storage)
}

/// A persistent-load hook for the zip and legacy formats: records every storage, by key.
fn storage_hook<'h>(
    path: &'h str,
    seen: &'h mut HashMap<String, (DType, u64)>,
) -> impl FnMut(&mut Arena, Value) -> Result<Value> + 'h {
    move |arena, pid| {
        let s = storage_pid(arena, &pid, path)?;
        let end = s.view_offset.checked_add(s.numel).ok_or_else(|| fmt_err(path, "storage size overflows"))?;
        let e = seen.entry(s.key.clone()).or_insert((s.dtype, end));
        e.1 = e.1.max(end);
        Ok(arena.add(Obj::Storage(Rc::new(s))))
    }
}

// ---------------------------------------------------------------------------------------------
// Zip.

#[derive(Debug, Clone)]
struct ZipEntry {
    name: String,
    method: u16,
    flags: u16,
    crc: u32,
    comp_size: u64,
    size: u64,
    header_offset: u64,
}

struct ZipArchive<'a> {
    data: &'a [u8],
    entries: Vec<ZipEntry>,
    by_name: HashMap<String, usize>,
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at.checked_add(2)?)?.try_into().ok()?))
}
fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}
fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

impl<'a> ZipArchive<'a> {
    fn parse(data: &'a [u8], path: &str) -> Result<Self> {
        let bad = |m: &str| fmt_err(path, format!("broken zip archive: {m}"));
        // End of central directory: 22 bytes plus a comment of up to 65535 bytes.
        let lo = data.len().saturating_sub(22 + 65535);
        let eocd = (lo..data.len().saturating_sub(21))
            .rev()
            .find(|&i| data[i..].starts_with(b"PK\x05\x06"))
            .ok_or_else(|| bad("no end of central directory (truncated file?)"))?;
        let mut count = le16(data, eocd + 10).ok_or_else(|| bad("short end record"))? as u64;
        let mut cd_size = le32(data, eocd + 12).ok_or_else(|| bad("short end record"))? as u64;
        let mut cd_offset = le32(data, eocd + 16).ok_or_else(|| bad("short end record"))? as u64;
        if count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF {
            // Zip64: the locator sits just before the end record.
            let loc = eocd.checked_sub(20).ok_or_else(|| bad("missing zip64 locator"))?;
            if !data[loc..].starts_with(b"PK\x06\x07") {
                return Err(bad("missing zip64 locator"));
            }
            let at = le64(data, loc + 8).ok_or_else(|| bad("short zip64 locator"))?;
            let at = usize::try_from(at).map_err(|_| bad("zip64 end record out of range"))?;
            if !data.get(at..).is_some_and(|d| d.starts_with(b"PK\x06\x06")) {
                return Err(bad("zip64 end record not found"));
            }
            count = le64(data, at + 32).ok_or_else(|| bad("short zip64 end record"))?;
            cd_size = le64(data, at + 40).ok_or_else(|| bad("short zip64 end record"))?;
            cd_offset = le64(data, at + 48).ok_or_else(|| bad("short zip64 end record"))?;
        }
        let cd_start = usize::try_from(cd_offset).map_err(|_| bad("central directory out of range"))?;
        let cd_end = cd_offset
            .checked_add(cd_size)
            .and_then(|e| usize::try_from(e).ok())
            .filter(|&e| e <= data.len())
            .ok_or_else(|| bad("central directory past the end of the file"))?;
        let cd = &data[cd_start.min(cd_end)..cd_end];
        let mut entries = Vec::new();
        let mut by_name = HashMap::new();
        let mut p = 0usize;
        while p < cd.len() {
            if !cd[p..].starts_with(b"PK\x01\x02") {
                return Err(bad("bad central directory entry"));
            }
            let f = |o: usize| le16(cd, p + o).ok_or_else(|| bad("short central directory entry"));
            let g = |o: usize| le32(cd, p + o).ok_or_else(|| bad("short central directory entry"));
            let (flags, method, crc) = (f(8)?, f(10)?, g(16)?);
            let (mut comp_size, mut size) = (g(20)? as u64, g(24)? as u64);
            let (name_len, extra_len, comment_len) = (f(28)? as usize, f(30)? as usize, f(32)? as usize);
            let mut header_offset = g(42)? as u64;
            let name_at = p + 46;
            let extra_at = name_at + name_len;
            let next = extra_at + extra_len + comment_len;
            if next > cd.len() {
                return Err(bad("central directory entry past its end"));
            }
            let name = String::from_utf8_lossy(&cd[name_at..extra_at]).into_owned();
            // Zip64 extended information: 64-bit values for the fields saturated above.
            let extra = &cd[extra_at..extra_at + extra_len];
            let mut q = 0usize;
            while q + 4 <= extra.len() {
                let (id, n) = (le16(extra, q).unwrap_or(0), le16(extra, q + 2).unwrap_or(0) as usize);
                let body = extra.get(q + 4..q + 4 + n).ok_or_else(|| bad("bad extra field"))?;
                if id == 1 {
                    let mut r = 0usize;
                    for v in [&mut size, &mut comp_size, &mut header_offset] {
                        if *v == 0xFFFF_FFFF {
                            *v = le64(body, r).ok_or_else(|| bad("short zip64 extra field"))?;
                            r += 8;
                        }
                    }
                }
                q += 4 + n;
            }
            by_name.entry(name.clone()).or_insert(entries.len());
            entries.push(ZipEntry { name, method, flags, crc, comp_size, size, header_offset });
            p = next;
        }
        if entries.len() as u64 != count {
            return Err(bad(&format!("central directory lists {} entries, the end record {count}", entries.len())));
        }
        Ok(ZipArchive { data, entries, by_name })
    }

    fn find(&self, name: &str) -> Option<&ZipEntry> {
        self.by_name.get(name).map(|&i| &self.entries[i])
    }

    /// The byte range of an entry's (possibly compressed) data.
    fn range(&self, e: &ZipEntry, path: &str) -> Result<std::ops::Range<usize>> {
        let bad = |m: &str| fmt_err(path, format!("broken zip archive: entry `{}`: {m}", e.name));
        let h = usize::try_from(e.header_offset).map_err(|_| bad("offset out of range"))?;
        if !self.data.get(h..).is_some_and(|d| d.starts_with(b"PK\x03\x04")) {
            return Err(bad("local header not found"));
        }
        let n = le16(self.data, h + 26).ok_or_else(|| bad("short local header"))? as usize;
        let m = le16(self.data, h + 28).ok_or_else(|| bad("short local header"))? as usize;
        let start = h + 30 + n + m;
        let end = u64::try_from(start)
            .ok()
            .and_then(|s| s.checked_add(e.comp_size))
            .and_then(|e| usize::try_from(e).ok())
            .filter(|&end| end <= self.data.len())
            .ok_or_else(|| bad("data past the end of the file (truncated?)"))?;
        Ok(start..end)
    }

    /// A stored (uncompressed, unencrypted) entry's bytes, borrowed from the input, its CRC-32
    /// not checked: the caller checks it on the copy it makes, or does not read the bytes at
    /// all. `None` for any other entry (read it with [`ZipArchive::read`]).
    fn stored(&self, e: &ZipEntry, path: &str) -> Result<Option<&'a [u8]>> {
        if e.method != 0 || e.flags & 1 != 0 || e.size != e.comp_size {
            return Ok(None);
        }
        let data: &'a [u8] = self.data;
        Ok(Some(&data[self.range(e, path)?]))
    }

    /// An entry's bytes: borrowed from the input when stored, inflated when deflated.
    fn read(&self, e: &ZipEntry, path: &str) -> Result<Cow<'a, [u8]>> {
        let bad = |m: String| fmt_err(path, format!("broken zip archive: entry `{}`: {m}", e.name));
        if e.flags & 1 != 0 {
            return Err(bad("encrypted".into()));
        }
        let raw = &self.data[self.range(e, path)?];
        let out: Cow<'a, [u8]> = match e.method {
            0 => {
                if e.size != e.comp_size {
                    return Err(bad(format!("stored entry of {} bytes claims {} uncompressed", e.comp_size, e.size)));
                }
                Cow::Borrowed(raw)
            }
            8 => {
                let max = (raw.len() as u64).saturating_mul(MAX_INFLATE_RATIO).saturating_add(64);
                if e.size > max {
                    return Err(bad(format!("claims {} bytes inflated from {}", e.size, raw.len())));
                }
                let limit = usize::try_from(e.size).map_err(|_| bad("too large".into()))?;
                let v = miniz_oxide::inflate::decompress_to_vec_with_limit(raw, limit).map_err(|err| {
                    use miniz_oxide::inflate::TINFLStatus;
                    bad(match err.status {
                        TINFLStatus::HasMoreOutput => format!("inflates to more than the {} bytes it claims", e.size),
                        TINFLStatus::FailedCannotMakeProgress => "the deflated data ends too early (truncated)".into(),
                        _ => "the deflated data is corrupt".into(),
                    })
                })?;
                if v.len() != limit {
                    return Err(bad(format!("inflated to {} bytes, expected {}", v.len(), e.size)));
                }
                Cow::Owned(v)
            }
            m => return Err(bad(format!("unsupported compression method {m}"))),
        };
        // A CRC-32 of 0 means none was computed: `torch.save` writes 0 for every record under
        // `torch.serialization.set_crc32_options(False)`, and `torch.load` reads such files.
        if e.crc != 0 {
            let crc = crc32fast::hash(&out);
            if crc != e.crc {
                return Err(bad(format!("CRC-32 mismatch (stored {:08x}, computed {crc:08x}): corrupt file", e.crc)));
            }
        }
        Ok(out)
    }
}

/// Reads a metadata record of the archive (`data.pkl`, `byteorder`), charging what a
/// deflated one inflates to against the file's unpickling budget.
fn read_charged<'a>(zip: &ZipArchive<'a>, e: &ZipEntry, path: &str, budget: &mut Budget) -> Result<Cow<'a, [u8]>> {
    if e.method != 0 {
        budget.charge(e.size).map_err(|m| fmt_err(path, format!("record `{}` (deflated): {m}", e.name)))?;
    }
    zip.read(e, path)
}

fn parse_zip<'a>(bytes: &'a [u8], path: &str, budget: &mut Budget) -> Result<Parsed<'a>> {
    let zip = ZipArchive::parse(bytes, path)?;
    // As torch's PyTorchStreamReader: the archive's name is the first entry's top folder.
    let first = zip.entries.first().ok_or_else(|| fmt_err(path, "empty zip archive"))?;
    let mut prefix = first.name.split('/').next().unwrap_or_default().to_string();
    if zip.find(&format!("{prefix}/data.pkl")).is_none() {
        match zip.entries.iter().find(|e| e.name.ends_with("/data.pkl") && e.name.matches('/').count() == 1) {
            Some(e) => prefix = e.name.trim_end_matches("/data.pkl").to_string(),
            None => return Err(fmt_err(path, "zip archive without a `<name>/data.pkl` record: not a torch.save file")),
        }
    }
    if zip.find(&format!("{prefix}/constants.pkl")).is_some()
        || zip.entries.iter().any(|e| e.name.starts_with(&format!("{prefix}/code/")))
    {
        return Err(fmt_err(path, "a TorchScript archive (torch.jit.save), not a torch.save checkpoint"));
    }
    let big_endian = match zip.find(&format!("{prefix}/byteorder")) {
        None => false,
        Some(e) => match &*read_charged(&zip, e, path, budget)? {
            b"little" => false,
            b"big" => true,
            other => {
                let shown: String = String::from_utf8_lossy(other).chars().take(40).collect();
                return Err(fmt_err(
                    path,
                    format!(
                        "the byteorder record says `{}`, expected `little` or `big`",
                        crate::error::printable(&shown)
                    ),
                ));
            }
        },
    };
    let pkl_entry = zip.find(&format!("{prefix}/data.pkl")).cloned().ok_or_else(|| fmt_err(path, "no data.pkl"))?;
    let pkl = read_charged(&zip, &pkl_entry, path, budget)?;
    let mut seen = HashMap::new();
    let pickled = pickle::load_with_budget(&pkl, path, budget, &mut storage_hook(path, &mut seen))?;
    Ok(Parsed { format: Format::Zip, pickled, storages: Storages::Zip { zip, prefix }, big_endian })
}

// ---------------------------------------------------------------------------------------------
// Legacy.

fn simple_pickle(bytes: &[u8], path: &str, what: &str, budget: &mut Budget) -> Result<Pickled> {
    pickle::load_with_budget(bytes, path, budget, &mut |_, _| {
        Err(fmt_err(path, format!("unexpected persistent id in the {what}")))
    })
}

/// A pickled scalar in words, for messages: `1002`, `'text'`, or `a dict`.
fn describe(arena: &Arena, v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::Str(s) if s.len() <= 40 => format!("'{}'", crate::error::printable(s)),
        other => format!("a {}", arena.type_name(other)),
    }
}

fn parse_legacy<'a>(bytes: &'a [u8], path: &str, budget: &mut Budget) -> Result<Parsed<'a>> {
    let not_pth = |e: Error| match e {
        Error::Format { message, .. } => {
            fmt_err(path, format!("not a PyTorch checkpoint (neither zip, tar nor legacy pickle): {message}"))
        }
        other => other,
    };
    let magic = simple_pickle(bytes, path, "magic number", budget).map_err(not_pth)?;
    if !matches!(magic.root, Value::Int(MAGIC_NUMBER)) {
        return Err(fmt_err(path, "not a PyTorch checkpoint: invalid magic number"));
    }
    let mut pos = magic.end;
    let version = simple_pickle(&bytes[pos..], path, "protocol version", budget)?;
    if !matches!(version.root, Value::Int(PROTOCOL_VERSION)) {
        return Err(fmt_err(
            path,
            format!(
                "unsupported legacy protocol version {} (torch writes {PROTOCOL_VERSION})",
                describe(&version.arena, &version.root)
            ),
        ));
    }
    pos += version.end;
    let sys_info = simple_pickle(&bytes[pos..], path, "sys_info", budget)?;
    if let Some((_, d)) = sys_info.arena.dict(&sys_info.root) {
        for (k, v) in d.items() {
            if matches!(k, Value::Str(s) if &**s == "little_endian") && matches!(v, Value::Bool(false)) {
                return Err(fmt_err(path, "unsupported: legacy checkpoint written on a big-endian machine"));
            }
        }
    }
    pos += sys_info.end;
    let mut seen = HashMap::new();
    let pickled = pickle::load_with_budget(&bytes[pos..], path, budget, &mut storage_hook(path, &mut seen))?;
    pos += pickled.end;
    let keys = simple_pickle(&bytes[pos..], path, "storage keys", budget)?;
    pos += keys.end;
    let key_list = keys.arena.seq(&keys.root).ok_or_else(|| fmt_err(path, "storage keys are not a list"))?;
    let mut map = HashMap::new();
    for k in key_list {
        let key = as_str(k).ok_or_else(|| fmt_err(path, "storage key is not a string"))?;
        let &(dtype, _) =
            seen.get(&key).ok_or_else(|| fmt_err(path, format!("storage `{key}` is not referenced by the pickle")))?;
        let count = le64(bytes, pos).ok_or_else(|| fmt_err(path, format!("storage `{key}`: truncated file")))?;
        pos += 8;
        let nbytes =
            count.checked_mul(dtype.size as u64).filter(|&n| n <= (bytes.len() - pos) as u64).ok_or_else(|| {
                fmt_err(
                    path,
                    format!("storage `{key}`: {count} elements of {} bytes past the end of the file", dtype.size),
                )
            })? as usize;
        map.insert(key, &bytes[pos..pos + nbytes]);
        pos += nbytes;
    }
    Ok(Parsed { format: Format::Legacy, pickled, storages: Storages::Map(map), big_endian: false })
}

// ---------------------------------------------------------------------------------------------
// Tar.

fn octal(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        // GNU base-256.
        let mut v: u64 = 0;
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(b as u64)?;
        }
        return Some(v);
    }
    let s = std::str::from_utf8(field).ok()?.trim_matches(|c: char| c == '\0' || c == ' ');
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, 8).ok()
}

fn cstr(field: &[u8]) -> String {
    let n = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..n]).into_owned()
}

fn tar_members<'a>(bytes: &'a [u8], path: &str) -> Result<HashMap<String, &'a [u8]>> {
    let bad = |m: String| fmt_err(path, format!("broken tar archive: {m}"));
    let mut members = HashMap::new();
    let mut pos = 0usize;
    let mut long_name: Option<String> = None;
    while pos + 512 <= bytes.len() {
        let h = &bytes[pos..pos + 512];
        if h.iter().all(|&b| b == 0) {
            break;
        }
        let mut name = cstr(&h[..100]);
        if &h[257..262] == b"ustar" {
            let prefix = cstr(&h[345..500]);
            if !prefix.is_empty() {
                name = format!("{prefix}/{name}");
            }
        }
        let size = octal(&h[124..136]).ok_or_else(|| bad(format!("bad size of member `{name}`")))?;
        let start = pos + 512;
        let end = u64::try_from(start)
            .ok()
            .and_then(|s| s.checked_add(size))
            .and_then(|e| usize::try_from(e).ok())
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| bad(format!("member `{name}` past the end of the file (truncated?)")))?;
        let body = &bytes[start..end];
        match h[156] {
            b'x' => {
                // PAX extended header: `<len> key=value\n` records; keep `path`.
                for rec in body.split(|&b| b == b'\n') {
                    let rec = String::from_utf8_lossy(rec);
                    if let Some((_, kv)) = rec.split_once(' ') {
                        if let Some(p) = kv.strip_prefix("path=") {
                            long_name = Some(p.to_string());
                        }
                    }
                }
            }
            b'L' => long_name = Some(cstr(body)),
            b'g' => {}
            b'0' | 0 => {
                let name = long_name.take().unwrap_or(name);
                members.insert(name.trim_start_matches("./").to_string(), body);
            }
            _ => long_name = None,
        }
        pos = end.checked_add((512 - end % 512) % 512).ok_or_else(|| bad("offset overflow".into()))?;
    }
    Ok(members)
}

fn parse_tar<'a>(bytes: &'a [u8], path: &str, budget: &mut Budget) -> Result<Parsed<'a>> {
    let members = tar_members(bytes, path)?;
    let member = |name: &str| {
        members.get(name).copied().ok_or_else(|| {
            fmt_err(path, format!("tar archive without a `{name}` member: not a PyTorch < 0.4 checkpoint"))
        })
    };
    let (storages_b, tensors_b, pickle_b) = (member("storages")?, member("tensors")?, member("pickle")?);
    let count = |p: &Pickled, what: &str| match p.root {
        Value::Int(n) if n >= 0 => Ok(n as u128),
        _ => Err(fmt_err(path, format!("tar `{what}`: the count is not an int"))),
    };

    // `storages`: count, then (key, location, storage_type) + 8-byte count + bytes, then views.
    let mut roots: HashMap<String, (DType, &'a [u8], String)> = HashMap::new();
    let p = simple_pickle(storages_b, path, "storages", budget)?;
    let n = count(&p, "storages")?;
    let mut pos = p.end;
    let mut i: u128 = 0;
    while i < n {
        let rec = simple_pickle(&storages_b[pos..], path, "storages", budget)?;
        pos += rec.end;
        let items =
            rec.arena.seq(&rec.root).filter(|s| s.len() == 3).ok_or_else(|| fmt_err(path, "bad storage record"))?;
        let key = as_str(&items[0]).ok_or_else(|| fmt_err(path, "bad storage key"))?;
        let location = as_str(&items[1]).unwrap_or_default();
        let dtype = storage_dtype(&items[2]).ok_or_else(|| fmt_err(path, format!("storage `{key}`: unknown type")))?;
        let numel = le64(storages_b, pos).ok_or_else(|| fmt_err(path, format!("storage `{key}`: truncated")))?;
        pos += 8;
        let nbytes = numel
            .checked_mul(dtype.size as u64)
            .filter(|&b| b <= (storages_b.len() - pos) as u64)
            .ok_or_else(|| fmt_err(path, format!("storage `{key}`: {numel} elements past the end of the member")))?
            as usize;
        roots.insert(key, (dtype, &storages_b[pos..pos + nbytes], location));
        pos += nbytes;
        i += 1;
    }
    let views_p = simple_pickle(&storages_b[pos..], path, "storage views", budget)?;
    let mut views: HashMap<String, (String, u64, u64)> = HashMap::new();
    for v in views_p.arena.seq(&views_p.root).ok_or_else(|| fmt_err(path, "storage views are not a list"))? {
        let t = views_p.arena.seq(v).filter(|t| t.len() == 4).ok_or_else(|| fmt_err(path, "bad storage view"))?;
        let (Some(target), Some(root)) = (as_str(&t[0]), as_str(&t[1])) else {
            return Err(fmt_err(path, "bad storage view"));
        };
        let (Value::Int(off), Value::Int(numel)) = (&t[2], &t[3]) else {
            return Err(fmt_err(path, "bad storage view"));
        };
        let off = u64::try_from(*off).map_err(|_| fmt_err(path, "bad storage view"))?;
        let numel = u64::try_from(*numel).map_err(|_| fmt_err(path, "bad storage view"))?;
        views.insert(target, (root, off, numel));
    }
    let storage_ref = |key: &str| -> Result<StorageRef> {
        let (root, off, numel) = match views.get(key) {
            Some((root, off, numel)) => (root.as_str(), *off, Some(*numel)),
            None => (key, 0, None),
        };
        let (dtype, bytes, location) =
            roots.get(root).ok_or_else(|| fmt_err(path, format!("tensor storage `{key}` not in `storages`")))?;
        let numel = numel.unwrap_or((bytes.len() / dtype.size) as u64);
        Ok(StorageRef { key: root.to_string(), dtype: *dtype, location: location.clone(), numel, view_offset: off })
    };

    // `tensors`: count, then (key, storage_key, type) + ndim (4+4 bytes) + sizes, strides, offset.
    let mut tensors: HashMap<String, TensorDesc> = HashMap::new();
    let p = simple_pickle(tensors_b, path, "tensors", budget)?;
    let n = count(&p, "tensors")?;
    let mut pos = p.end;
    let mut i: u128 = 0;
    while i < n {
        let rec = simple_pickle(&tensors_b[pos..], path, "tensors", budget)?;
        pos += rec.end;
        let items =
            rec.arena.seq(&rec.root).filter(|s| s.len() == 3).ok_or_else(|| fmt_err(path, "bad tensor record"))?;
        let key = as_str(&items[0]).ok_or_else(|| fmt_err(path, "bad tensor key"))?;
        let skey = as_str(&items[1]).ok_or_else(|| fmt_err(path, "bad tensor storage key"))?;
        // ndim: a 4-byte int and 4 bytes of padding (older writers stored it in 8 bytes).
        if le64(tensors_b, pos).is_none() {
            return Err(fmt_err(path, format!("tensor `{key}`: truncated")));
        }
        let ndim = le32(tensors_b, pos).unwrap_or_default() as usize;
        if ndim > pickle::MAX_DIMS {
            return Err(fmt_err(path, format!("tensor `{key}`: {ndim} dimensions")));
        }
        pos += 8;
        let need = ndim.checked_mul(16).and_then(|n| n.checked_add(8)).filter(|&n| n <= tensors_b.len() - pos);
        let Some(_) = need else { return Err(fmt_err(path, format!("tensor `{key}`: {ndim} dims past the end"))) };
        let read = |at: usize| le64(tensors_b, at).unwrap_or_default() as i64;
        let size: Vec<i64> = (0..ndim).map(|d| read(pos + 8 * d)).collect();
        let stride: Vec<i64> = (0..ndim).map(|d| read(pos + 8 * (ndim + d))).collect();
        let offset = read(pos + 16 * ndim);
        pos += 16 * ndim + 8;
        let storage = Rc::new(storage_ref(&skey)?);
        tensors.insert(key, TensorDesc { dtype: storage.dtype, storage, offset, size, stride, parameter: false });
        i += 1;
    }

    // `pickle`: the object, tensors as persistent ids naming their key.
    let pickled = pickle::load_with_budget(pickle_b, path, budget, &mut |arena: &mut Arena, pid: Value| {
        if arena.seq(&pid).is_some() {
            return Err(fmt_err(path, "the checkpoint pickles an nn.Module class, not a state dict"));
        }
        let key = as_str(&pid).ok_or_else(|| fmt_err(path, "tensor persistent id is not a key"))?;
        let t = tensors.get(&key).ok_or_else(|| fmt_err(path, format!("tensor `{key}` not in `tensors`")))?;
        Ok(arena.add(Obj::Tensor(t.clone())))
    })?;
    let map = roots.into_iter().map(|(k, (_, b, _))| (k, b)).collect();
    Ok(Parsed { format: Format::Tar, pickled, storages: Storages::Map(map), big_endian: false })
}

// ---------------------------------------------------------------------------------------------
// State dict and tensors.

/// A dict key as text: strings as they are, other scalars as Python prints them, tuples of
/// scalars as `(1, 'a')`, anything else as `<type>`; at most [`MAX_KEY_REPR`] characters for
/// keys that are not strings (a key that shares sub-tuples could print exponentially long).
fn key_string(arena: &Arena, v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        _ => {
            let mut out = String::new();
            key_repr(arena, v, &mut out, 0);
            out
        }
    }
}

/// The longest text [`key_string`] makes of a key that is not a string.
const MAX_KEY_REPR: usize = 256;

fn key_repr(arena: &Arena, v: &Value, out: &mut String, depth: usize) {
    if out.len() >= MAX_KEY_REPR || depth > 8 {
        if !out.ends_with('…') {
            out.push('…');
        }
        return;
    }
    match v {
        Value::Str(s) => {
            out.push('\'');
            out.extend(s.chars().take(MAX_KEY_REPR));
            out.push('\'');
        }
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
        Value::None => out.push_str("None"),
        Value::Float(f) => out.push_str(&f.to_string()),
        other => match arena.get(other) {
            Some(Obj::Tuple(items)) => {
                out.push('(');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    key_repr(arena, item, out, depth + 1);
                    if out.len() >= MAX_KEY_REPR {
                        break;
                    }
                }
                out.push(')');
            }
            _ => {
                out.push('<');
                out.push_str(&arena.type_name(other));
                out.push('>');
            }
        },
    }
}

fn dict_get<'v>(arena: &'v Arena, dict: &Value, key: &str) -> Option<&'v Value> {
    let (_, d) = arena.dict(dict)?;
    d.items().iter().find(|(k, _)| matches!(k, Value::Str(s) if &**s == key)).map(|(_, v)| v)
}

/// The `version` of each module path in a state dict's `_metadata` (an `OrderedDict`
/// attribute, restored by `BUILD`), in file order; entries without an integer version are
/// skipped. Each entry's dict is searched once however many entries share it (linear time).
fn metadata_versions(arena: &Arena, dict: &pickle::Dict) -> Vec<(String, i64)> {
    let Some(meta) = dict.state().and_then(|s| dict_get(arena, s, "_metadata")) else {
        return Vec::new();
    };
    let Some((_, meta)) = arena.dict(meta) else {
        return Vec::new();
    };
    let mut seen: HashMap<ObjId, Option<i64>> = HashMap::new();
    meta.items()
        .iter()
        .filter_map(|(k, v)| {
            let version = |v: &Value| match dict_get(arena, v, "version") {
                Some(Value::Int(n)) => i64::try_from(*n).ok(),
                _ => None,
            };
            let n = match v {
                Value::Obj(id) => *seen.entry(*id).or_insert_with(|| version(v)),
                _ => None,
            }?;
            Some((key_string(arena, k), n))
        })
        .collect()
}

/// Whether `dict` is a dict holding a tensor, remembered per object: top-level entries may
/// all share one big dict, and each is looked at only once (linear time overall).
fn has_tensor(arena: &Arena, dict: &Value, seen: &mut HashMap<ObjId, bool>) -> bool {
    let Value::Obj(id) = dict else { return false };
    if let Some(&known) = seen.get(id) {
        return known;
    }
    let found = arena
        .dict(dict)
        .is_some_and(|(_, d)| d.items().iter().any(|(_, v)| matches!(arena.get(v), Some(Obj::Tensor(_)))));
    seen.insert(*id, found);
    found
}

/// The state dict: the dict, the key it was found under, and the other top-level entries.
type Located<'v> = (&'v Value, Option<String>, Vec<(String, String)>);

/// The key under which a file holding one bare tensor (`torch.save(t)`) lists it.
pub const BARE_TENSOR_KEY: &str = "tensor";

/// Finds the state dict.
fn locate<'v>(arena: &'v Arena, root: &'v Value, opts: &ReadOptions, path: &str) -> Result<Located<'v>> {
    let Some((_, top)) = arena.dict(root) else {
        return Err(fmt_err(path, format!("the checkpoint holds a {}, not a dict of tensors", arena.type_name(root))));
    };
    let others = |skip: &str| {
        top.items()
            .iter()
            .filter(|(k, _)| !matches!(k, Value::Str(s) if &**s == skip))
            .map(|(k, v)| (key_string(arena, k), arena.type_name(v)))
            .collect::<Vec<_>>()
    };
    if let Some(want) = &opts.state_dict_key {
        let found = dict_get(arena, root, want).or_else(|| {
            let mut cur = root;
            for part in want.split('.') {
                cur = dict_get(arena, cur, part)?;
            }
            Some(cur)
        });
        let keys: Vec<String> = top.items().iter().map(|(k, _)| key_string(arena, k)).collect();
        return match found {
            Some(v) if arena.dict(v).is_some() => {
                let first = want.split('.').next().unwrap_or(want);
                let skip = if dict_get(arena, root, want).is_some() { want.as_str() } else { first };
                Ok((v, Some(want.clone()), others(skip)))
            }
            Some(v) => {
                Err(fmt_err(path, format!("checkpoint entry `{want}` is a {}, not a state dict", arena.type_name(v))))
            }
            None => Err(fmt_err(
                path,
                format!(
                    "no entry `{want}` in the checkpoint (top-level keys: {}; `tchvision inspect` lists them all)",
                    crate::error::cut_list(&keys, 20)
                ),
            )),
        };
    }
    let mut seen = HashMap::new();
    for key in STATE_DICT_KEYS {
        if let Some(v) = dict_get(arena, root, key) {
            if has_tensor(arena, v, &mut seen) {
                return Ok((v, Some(key.to_string()), others(key)));
            }
        }
    }
    if !has_tensor(arena, root, &mut seen) {
        // No tensor at the top: a single dict of tensors there is the state dict (`ema`, …).
        let nested: Vec<&(Value, Value)> =
            top.items().iter().filter(|(_, v)| has_tensor(arena, v, &mut seen)).collect();
        if let [(Value::Str(k), v)] = nested.as_slice() {
            return Ok((v, Some(k.to_string()), others(k)));
        }
    }
    Ok((root, None, Vec::new()))
}

/// The base tensor of one storage, made once and shared by all its views.
struct Base {
    /// The storage's bytes, as a one-dimensional uint8 tensor.
    tensor: Tensor,
    /// The byte offset of `tensor` in its libtorch storage: 0 for a copy, the record's offset
    /// in the file for a view of the mapped file.
    offset: u64,
    swap_unit: usize,
}

fn materialize(
    parsed: Parsed<'_>,
    input_len: u64,
    path: &str,
    opts: &ReadOptions,
    source: &Source<'_>,
) -> Result<Checkpoint> {
    let Parsed { format, pickled, storages, big_endian } = parsed;
    let arena = &pickled.arena;
    let mut builder = Builder {
        storages: &storages,
        bases: HashMap::new(),
        borrowed_budget: input_len,
        owned_budget: input_len.saturating_mul(MAX_INFLATE_RATIO),
        big_endian,
        path,
        device: opts.device,
        source,
    };
    // `torch.save(tensor)`: one bare tensor, read as a single entry named `tensor`.
    if let Some(Obj::Tensor(t)) = arena.get(&pickled.root) {
        let tensor = builder.tensor(BARE_TENSOR_KEY, t)?;
        return Ok(Checkpoint {
            format,
            tensors: vec![(BARE_TENSOR_KEY.to_string(), tensor)],
            other: Vec::new(),
            state_dict_key: None,
            versions: Vec::new(),
        });
    }
    let (sd, state_dict_key, mut other) = locate(arena, &pickled.root, opts, path)?;
    let (_, dict) = arena.dict(sd).ok_or_else(|| fmt_err(path, "the state dict is not a dict"))?;

    let mut descs: Vec<(String, &TensorDesc)> = Vec::new();
    let mut inner_other = Vec::new();
    for (k, v) in dict.items() {
        let key = key_string(arena, k);
        match arena.get(v) {
            Some(Obj::Tensor(t)) => descs.push((key, t)),
            Some(Obj::Opaque { unsupported: Some(f), .. }) => {
                return Err(fmt_err(path, format!("`{key}`: unsupported tensor type (built by {f})")))
            }
            _ => inner_other.push((key, arena.type_name(v))),
        }
    }
    let stripped = opts.strip_module_prefix && !descs.is_empty() && descs.iter().all(|(k, _)| k.starts_with("module."));
    if stripped {
        for (k, _) in descs.iter_mut() {
            k.drain(..7);
        }
        for (k, _) in inner_other.iter_mut() {
            if let Some(s) = k.strip_prefix("module.") {
                *k = s.to_string();
            }
        }
    }
    other.extend(inner_other);
    let mut versions = metadata_versions(arena, dict);
    if stripped {
        for (k, _) in versions.iter_mut() {
            if k == "module" {
                k.clear();
            } else if let Some(s) = k.strip_prefix("module.") {
                *k = s.to_string();
            }
        }
    }

    let mut tensors = Vec::with_capacity(descs.len().min(input_len as usize));
    for (key, t) in descs {
        let tensor = builder.tensor(&key, t)?;
        tensors.push((key, tensor));
    }
    Ok(Checkpoint { format, tensors, other, state_dict_key, versions })
}

/// Makes the tensors: one base per storage, every tensor a checked `as_strided` view of it.
struct Builder<'s, 'a> {
    storages: &'s Storages<'a>,
    bases: HashMap<String, Base>,
    /// Bytes that may still be copied out of the input (stored records never overlap).
    borrowed_budget: u64,
    /// Bytes that may still be inflated.
    owned_budget: u64,
    big_endian: bool,
    path: &'s str,
    device: Device,
    source: &'s Source<'s>,
}

impl Builder<'_, '_> {
    fn tensor(&mut self, key: &str, t: &TensorDesc) -> Result<Tensor> {
        let (path, device, big_endian) = (self.path, self.device, self.big_endian);
        let err = |m: String| fmt_err(path, format!("`{key}`: {m}"));
        let torch = |e: tch::TchError| Error::torch(format!("{path}: building tensor `{key}`"), e);
        let kind = t.dtype.kind.ok_or_else(|| err(format!("dtype torch.{} is not supported by tch", t.dtype.name)))?;
        let s = &t.storage;

        // Bounds: the storage (in the tensor's dtype) must hold every element the view reaches.
        let sbytes = s.numel.checked_mul(s.dtype.size as u64).ok_or_else(|| err("storage size overflows".into()))?;
        let elems = (sbytes / t.dtype.size as u64) as i128;
        let mut extent: i128 = 0;
        let mut numel: i128 = 1;
        for (&n, &st) in t.size.iter().zip(&t.stride) {
            if n < 0 || st < 0 {
                return Err(err(format!(
                    "negative size or stride (size {}, stride {})",
                    shape_str(&t.size),
                    shape_str(&t.stride)
                )));
            }
            numel = numel.saturating_mul(n as i128);
            if n > 0 {
                extent = extent.saturating_add((n as i128 - 1).saturating_mul(st as i128));
            }
        }
        if t.offset < 0 {
            return Err(err(format!("negative storage offset {}", t.offset)));
        }
        if numel > i64::MAX as i128 {
            return Err(err(format!("size {} has more elements than a tensor can hold", shape_str(&t.size))));
        }
        if numel == 0 {
            return Tensor::f_empty(&t.size, (kind, device)).map_err(torch);
        }
        let needed = extent.saturating_add(t.offset as i128).saturating_add(1);
        if needed > elems {
            return Err(err(format!(
                "storage `{}` holds {elems} elements, but size {}, stride {} and offset {} need {needed}",
                s.key,
                shape_str(&t.size),
                shape_str(&t.stride),
                t.offset
            )));
        }

        let unit = t.dtype.swap_unit();
        let swap = big_endian && unit > 1;
        let start =
            s.view_offset.checked_mul(s.dtype.size as u64).ok_or_else(|| err("view offset overflows".into()))?;
        // The storage's bytes in the file must hold the storage the pickle declares (checked
        // against the record's length before a byte of it is read, then again for each view).
        let check_have = |have: u64| {
            if start.checked_add(sbytes).is_none_or(|e| e > have) {
                return Err(err(format!(
                    "storage `{}` has {have} bytes in the file, but is declared to hold {} elements of torch.{} ({sbytes} bytes)",
                    s.key, s.numel, s.dtype.name
                )));
            }
            Ok(())
        };
        if !self.bases.contains_key(&s.key) {
            let record = self.storages.get(&s.key, path)?;
            let len = record.len();
            // A byte-swapped storage keeps only whole elements.
            let have = if swap { len - len % unit } else { len };
            check_have(have as u64)?;
            let budget = match record {
                Record::Input { .. } => &mut self.borrowed_budget,
                Record::Inflated(_) => &mut self.owned_budget,
            };
            *budget =
                budget.checked_sub(len as u64).ok_or_else(|| err("storages larger than the file allows".into()))?;
            let base = self.base(record, have, s.dtype.size, swap.then_some(unit)).map_err(|e| match e {
                Error::Format { message, .. } => err(message),
                e => e,
            })?;
            let base = if device != Device::Cpu {
                Base { tensor: base.tensor.f_to(device).map_err(torch)?, offset: 0, ..base }
            } else {
                base
            };
            self.bases.insert(s.key.clone(), Base { swap_unit: unit, ..base });
        }
        let base = &self.bases[&s.key];
        if big_endian && base.swap_unit != unit && unit > 1 {
            return Err(err(format!("storage `{}` is viewed with dtypes of different byte order units", s.key)));
        }
        let have = base.tensor.size()[0] as u64;
        check_have(have)?;
        // `as_strided` offsets count from the start of the base's libtorch storage, in the
        // tensor's dtype.
        let el = t.dtype.size as u64;
        if start % el != 0 {
            return Err(err(format!("storage view offset {start} is not a multiple of the element size {el}")));
        }
        let usable = start + sbytes - sbytes % el;
        let mut bytes = if usable == have {
            base.tensor.shallow_clone()
        } else {
            base.tensor.f_narrow(0, 0, usable as i64).map_err(torch)?
        };
        let mut base_offset = base.offset;
        if !base_offset.is_multiple_of(el) {
            // A view of the mapped file whose elements would be misaligned (a record placed
            // by another zip writer, viewed with a dtype wider than its storage's): a copy.
            let copy = Tensor::f_empty([usable as i64], (Kind::Uint8, bytes.device())).map_err(torch)?;
            let mut dst = copy.shallow_clone();
            dst.f_copy_(&bytes).map_err(torch)?;
            (bytes, base_offset) = (copy, 0);
        }
        let typed = if kind == Kind::Uint8 { bytes } else { bytes.f_view_dtype(kind).map_err(torch)? };
        typed.f_as_strided(&t.size, &t.stride, Some(t.offset + ((base_offset + start) / el) as i64)).map_err(torch)
    }

    /// Makes the base tensor of a storage from its record: a view of the mapped file when
    /// reading lazily and the record allows it, else a fresh tensor holding a copy of the
    /// record's first `have` bytes (`swap`: byte-swapped in units of that many bytes).
    /// `elem_size`: the storage's element size, which a view's offset must be a multiple of.
    fn base(&self, record: Record<'_>, have: usize, elem_size: usize, swap: Option<usize>) -> Result<Base> {
        let path = self.path;
        let torch = |e: tch::TchError| Error::torch(format!("{path}: allocating a storage of {have} bytes"), e);
        if let (Source::Mapped { tensor, map }, Record::Input { bytes, .. }, None) = (self.source, &record, swap) {
            if let Some(off) = offset_in(map, bytes).filter(|off| off.is_multiple_of(elem_size.max(1))) {
                // Lazy: a view of the private map; nothing is read now, nor the CRC checked
                // (as `torch.load(mmap=True)`, which reads no record either).
                let view = tensor.f_narrow(0, off as i64, have as i64).map_err(torch)?;
                return Ok(Base { tensor: view, offset: off as u64, swap_unit: 1 });
            }
        }
        let tensor = Tensor::f_empty([have as i64], (Kind::Uint8, Device::Cpu)).map_err(torch)?;
        if have == 0 {
            return Ok(Base { tensor, offset: 0, swap_unit: 1 });
        }
        let dst = tensor.data_ptr() as *mut u8;
        if dst.is_null() {
            return Err(fmt_err(path, format!("libtorch gave no memory for a storage of {have} bytes")));
        }
        // SAFETY (for every use of `dst` below): `tensor` is a fresh contiguous uint8 CPU tensor
        // of exactly `have` bytes, so `dst` is valid for `have` bytes of reads and writes; no
        // other handle on that memory exists until `tensor` is returned, and it cannot overlap
        // the input (libtorch just allocated it). Slices of it are made only over bytes already
        // written (initialised), and `have` never exceeds the record's length.
        match &record {
            Record::Input { bytes, crc } => {
                let src = &bytes[..have];
                // Copied in chunks, each CRC-summed while it is still in the CPU's cache.
                const CHUNK: usize = 1 << 20;
                let mut hasher = crc.as_ref().map(|_| crc32fast::Hasher::new());
                let mut done = 0;
                while done < have {
                    let n = CHUNK.min(have - done);
                    unsafe { self.source.copy(&src[done..done + n], dst.add(done), path)? };
                    if let Some(h) = hasher.as_mut() {
                        h.update(unsafe { std::slice::from_raw_parts(dst.add(done), n) });
                    }
                    done += n;
                }
                if let (Some(mut h), Some((name, want))) = (hasher, crc) {
                    // The whole record is summed, with the tail a byte-swapped copy leaves out.
                    h.update(&bytes[have..]);
                    check_crc(path, name, *want, h.finalize())?;
                }
            }
            Record::Inflated(v) => unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), dst, have) },
        }
        if let Some(unit) = swap {
            // SAFETY: see above; all `have` bytes are written.
            let all = unsafe { std::slice::from_raw_parts_mut(dst, have) };
            for c in all.chunks_exact_mut(unit) {
                c.reverse();
            }
        }
        Ok(Base { tensor, offset: 0, swap_unit: 1 })
    }
}

fn check_crc(path: &str, name: &str, want: u32, got: u32) -> Result<()> {
    if got != want {
        return Err(fmt_err(
            path,
            format!("broken zip archive: entry `{name}`: CRC-32 mismatch (stored {want:08x}, computed {got:08x}): corrupt file"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats() {
        assert_eq!(detect_format(b"PK\x03\x04rest"), Some(Format::Zip));
        assert_eq!(detect_format(b"\x80\x02"), Some(Format::Legacy));
        let mut tar = vec![0u8; 600];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(detect_format(&tar), Some(Format::Tar));
        assert_eq!(detect_format(b"hello"), None);
    }

    #[test]
    fn garbage_is_an_error() {
        let opts = ReadOptions::default();
        for bytes in [&b""[..], b"hello world", b"PK\x03\x04", b"\x80\x02K\x01.", b"\x80"] {
            assert!(read_pth_bytes(bytes, &opts).is_err(), "{bytes:?}");
        }
    }
}
