//! Writing `.pth` checkpoints as `torch.save` does (zip format), in pure Rust.
//!
//! [`save_pth`] writes an ordered name → tensor map the way `torch.save(state_dict, path)`
//! writes an `OrderedDict` of tensors (`torch/serialization.py`, `_save`): a zip archive whose
//! entries sit under `archive/`:
//!
//! * `archive/data.pkl`: a protocol-2 pickle (PEP 307) of `collections.OrderedDict` whose
//!   values are `torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False,
//!   OrderedDict())` calls, each storage a persistent id `('storage', torch.<Type>Storage,
//!   '<n>', 'cpu', numel)`;
//! * `archive/.format_version` (`1`), `archive/.storage_alignment` (`64`),
//!   `archive/byteorder` (`little`);
//! * `archive/data/<n>`: each tensor's bytes, contiguous and little-endian, stored
//!   uncompressed with the data aligned to 64 bytes (padding in a `FB` extra field, as torch's
//!   miniz-based writer does);
//! * `archive/version` (`3`).
//!
//! Python's `torch.load(path, weights_only=True)` reads the result back with the same keys,
//! order, dtypes, shapes and bytes. Every tensor gets its own storage (tensors that shared one
//! are written as copies). Archives of 4 GiB and more use zip64 records.
//!
//! [`save_module`] also writes the state dict's `_metadata` (each module's `version`), as
//! `torch.save(module.state_dict())` does, so that modules whose loading depends on it
//! (torchvision's MNASNet) load the file in torch.
//!
//! The write is atomic ([`super::files::write_atomically`]): the archive goes to a temporary
//! file in the destination's folder, is flushed and fsynced, then renamed over the destination;
//! on any error (or SIGINT/SIGTERM) the temporary file is removed and an existing file at
//! `path` is left as it was, and a replaced file keeps its permission bits.

use std::collections::HashSet;
use std::io::{self, Write};
use std::path::Path;

use tch::{Device, Tensor};

use super::pickle::DType;
use crate::error::{Error, Result, TorchResultExt};

/// The top folder of the archives tchvision writes (torch names it after the file's stem).
pub const ARCHIVE_NAME: &str = "archive";

/// The alignment of each storage's data in the archive, as torch's writer uses.
pub const STORAGE_ALIGNMENT: u64 = 64;

/// Saves tensors as a `.pth` file (zip format) that `torch.load(path, weights_only=True)` reads
/// as an `OrderedDict` with the same keys in the same order. Atomic: on error, an existing
/// file at `path` is left untouched. The dict has no `_metadata`: use [`save_module`] for a
/// model's state dict, or [`save_pth_with_versions`].
pub fn save_pth(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    save_pth_with_versions(path, tensors, &[])
}

/// Saves a module's state dict as `torch.save(module.state_dict(), path)` does: the tensors and
/// the `_metadata` versions of every module ([`ModuleExt::state_dict_versions`]), which torch's
/// `load_state_dict` hands to each module (torchvision's MNASNet refuses a state dict without
/// them).
///
/// [`ModuleExt::state_dict_versions`]: crate::nn::ModuleExt::state_dict_versions
pub fn save_module<M: crate::nn::Module + ?Sized>(path: &Path, module: &M) -> Result<()> {
    use crate::nn::ModuleExt;
    save_pth_with_versions(path, &module.state_dict(), &module.state_dict_versions())
}

/// [`save_pth`] with the dict's `_metadata`: `versions` holds `(module path, version)` pairs
/// (as [`Checkpoint::versions`](super::Checkpoint::versions)), written as torch writes them,
/// `OrderedDict({path: {'version': n}, ...})`; none when empty.
pub fn save_pth_with_versions(path: &Path, tensors: &[(String, Tensor)], versions: &[(String, i64)]) -> Result<()> {
    let shown = path.display().to_string();
    // Everything that can be refused is refused before a byte is written.
    check_tensors(tensors, &shown)?;
    super::files::write_atomically(path, |w| write_archive(w, tensors, versions, &shown))
}

/// Writes the `.pth` archive of `tensors` to memory (the bytes [`save_pth`] writes).
pub fn write_pth_bytes(tensors: &[(String, Tensor)]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    write_archive(&mut out, tensors, &[], "<memory>")?;
    Ok(out)
}

/// The storage class and dtype under which a tensor is pickled.
fn storage_class(path: &str, key: &str, t: &Tensor) -> Result<(&'static str, DType)> {
    let kind = t.f_kind().map_err(|e| Error::torch(format!("{path}: `{key}`"), e))?;
    DType::from_kind(kind).and_then(|d| d.storage_class().map(|c| (c, d))).ok_or_else(|| Error::Format {
        path: path.to_string(),
        message: format!(
            "`{key}`: cannot save tensors of dtype {} (torch has no storage type for it)",
            super::load::torch_dtype_name(kind)
        ),
    })
}

/// Refuses duplicate keys and dtypes torch has no storage type for.
fn check_tensors(tensors: &[(String, Tensor)], path: &str) -> Result<()> {
    let mut seen = HashSet::new();
    for (k, t) in tensors {
        if !seen.insert(k.as_str()) {
            return Err(Error::DuplicateKey(k.clone()));
        }
        storage_class(path, k, t)?;
    }
    Ok(())
}

fn write_archive<W: Write>(
    w: &mut W,
    tensors: &[(String, Tensor)],
    versions: &[(String, i64)],
    path: &str,
) -> Result<()> {
    let io_err = |source| Error::Io { path: path.to_string(), source };
    check_tensors(tensors, path)?;
    let mut zip = ZipWriter::new(w);
    let pkl = state_dict_pickle(tensors, versions, path)?;
    let rec = |name: &str| format!("{ARCHIVE_NAME}/{name}");
    zip.add(&rec("data.pkl"), &pkl).map_err(io_err)?;
    zip.add(&rec(".format_version"), b"1").map_err(io_err)?;
    zip.add(&rec(".storage_alignment"), STORAGE_ALIGNMENT.to_string().as_bytes()).map_err(io_err)?;
    zip.add(&rec("byteorder"), b"little").map_err(io_err)?;
    for (i, (key, t)) in tensors.iter().enumerate() {
        let ctx = || format!("{path}: saving `{key}`");
        let t = t.f_detach().ctx(ctx())?.f_to(Device::Cpu).ctx(ctx())?.f_contiguous().ctx(ctx())?;
        let numel = t.numel();
        let (_, dtype) = storage_class(path, key, &t)?;
        let mut buf = vec![0u8; numel * dtype.size];
        if numel > 0 {
            t.f_copy_data_u8(&mut buf, numel).ctx(ctx())?;
        }
        zip.add(&rec(&format!("data/{i}")), &buf).map_err(io_err)?;
    }
    zip.add(&rec("version"), b"3\n").map_err(io_err)?;
    zip.finish().map_err(io_err)?;
    Ok(())
}

/// Protocol-2 pickle writer for the one shape of object `torch.save(state_dict)` produces.
struct Pickler {
    out: Vec<u8>,
}

impl Pickler {
    fn op(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    fn global(&mut self, module: &str, name: &str) {
        self.out.push(b'c');
        self.op(module.as_bytes());
        self.out.push(b'\n');
        self.op(name.as_bytes());
        self.out.push(b'\n');
    }

    fn str(&mut self, s: &str) {
        self.out.push(b'X');
        self.op(&(s.len() as u32).to_le_bytes());
        self.op(s.as_bytes());
    }

    fn int(&mut self, n: i64) {
        if (0..256).contains(&n) {
            self.op(&[b'K', n as u8]);
        } else if (0..65536).contains(&n) {
            self.out.push(b'M');
            self.op(&(n as u16).to_le_bytes());
        } else if let Ok(v) = i32::try_from(n) {
            self.out.push(b'J');
            self.op(&v.to_le_bytes());
        } else {
            // LONG1: little-endian two's complement, 8 bytes always suffice.
            self.op(&[0x8a, 8]);
            self.op(&n.to_le_bytes());
        }
    }

    fn int_tuple(&mut self, v: &[i64]) {
        match v.len() {
            0 => self.out.push(b')'),
            1..=3 => {
                for &x in v {
                    self.int(x);
                }
                self.out.push(0x84 + v.len() as u8);
            }
            _ => {
                self.out.push(b'(');
                for &x in v {
                    self.int(x);
                }
                self.out.push(b't');
            }
        }
    }
}

fn state_dict_pickle(tensors: &[(String, Tensor)], versions: &[(String, i64)], path: &str) -> Result<Vec<u8>> {
    let mut p = Pickler { out: Vec::new() };
    p.op(&[0x80, 2]);
    p.global("collections", "OrderedDict");
    p.op(&[b'q', 0, b')', b'R', b'q', 1]);
    for (chunk_no, chunk) in tensors.chunks(1000).enumerate() {
        p.out.push(b'(');
        for (j, (key, t)) in chunk.iter().enumerate() {
            let i = chunk_no * 1000 + j;
            let (class, _) = storage_class(path, key, t)?;
            let size = t.size();
            let mut stride = vec![1i64; size.len()];
            for d in (0..size.len().saturating_sub(1)).rev() {
                stride[d] = stride[d + 1] * size[d + 1].max(1);
            }
            let numel: i64 = size.iter().product();
            p.str(key);
            if i == 0 {
                p.global("torch._utils", "_rebuild_tensor_v2");
                p.op(&[b'q', 2]);
            } else {
                p.op(&[b'h', 2]);
            }
            p.op(b"((");
            p.str("storage");
            p.global("torch", class);
            p.str(&i.to_string());
            p.str("cpu");
            p.int(numel);
            p.op(b"tQ");
            p.int(0);
            p.int_tuple(&size);
            p.int_tuple(&stride);
            p.op(&[0x89, b'h', 0, b')', b'R', b't', b'R']);
        }
        p.out.push(b'u');
    }
    if !versions.is_empty() {
        // BUILD with the instance state {'_metadata': OrderedDict({path: {'version': n}})}.
        p.out.push(b'}');
        p.str("_metadata");
        p.op(&[b'h', 0, b')', b'R', b'(']);
        for (module, v) in versions {
            p.str(module);
            p.out.push(b'}');
            p.str("version");
            p.int(*v);
            p.out.push(b's');
        }
        p.op(b"usb");
    }
    p.out.push(b'.');
    Ok(p.out)
}

/// A minimal zip writer: stored entries, 64-byte aligned data, zip64 where needed.
struct ZipWriter<'w, W: Write> {
    w: &'w mut W,
    offset: u64,
    central: Vec<u8>,
    count: u64,
}

const U32_MAX: u64 = 0xFFFF_FFFF;

impl<'w, W: Write> ZipWriter<'w, W> {
    fn new(w: &'w mut W) -> Self {
        ZipWriter { w, offset: 0, central: Vec::new(), count: 0 }
    }

    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.w.write_all(b)?;
        self.offset += b.len() as u64;
        Ok(())
    }

    fn add(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        let crc = crc32fast::hash(data);
        let size = data.len() as u64;
        let header_offset = self.offset;
        let zip64 = size >= U32_MAX || header_offset >= U32_MAX;
        let version: u16 = if zip64 { 45 } else { 20 };

        let mut extra = Vec::new();
        if zip64 {
            extra.extend_from_slice(&1u16.to_le_bytes());
            extra.extend_from_slice(&16u16.to_le_bytes());
            extra.extend_from_slice(&size.to_le_bytes());
            extra.extend_from_slice(&size.to_le_bytes());
        }
        let before = header_offset + 30 + name.len() as u64 + extra.len() as u64 + 4;
        let pad = (STORAGE_ALIGNMENT - before % STORAGE_ALIGNMENT) % STORAGE_ALIGNMENT;
        extra.extend_from_slice(b"FB");
        extra.extend_from_slice(&(pad as u16).to_le_bytes());
        extra.resize(extra.len() + pad as usize, b'Z');

        let small = |v: u64| if zip64 { U32_MAX as u32 } else { v as u32 };
        let mut h = Vec::with_capacity(30 + name.len() + extra.len());
        h.extend_from_slice(b"PK\x03\x04");
        h.extend_from_slice(&version.to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes()); // flags
        h.extend_from_slice(&0u16.to_le_bytes()); // stored
        h.extend_from_slice(&0u32.to_le_bytes()); // time, date
        h.extend_from_slice(&crc.to_le_bytes());
        h.extend_from_slice(&small(size).to_le_bytes());
        h.extend_from_slice(&small(size).to_le_bytes());
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        h.extend_from_slice(name.as_bytes());
        h.extend_from_slice(&extra);
        self.put(&h)?;
        self.put(data)?;

        // Central directory entry; zip64 values for the fields that do not fit 32 bits.
        let mut z64 = Vec::new();
        for v in [size, size, header_offset] {
            if v >= U32_MAX {
                z64.extend_from_slice(&v.to_le_bytes());
            }
        }
        let sat = |v: u64| if v >= U32_MAX { U32_MAX as u32 } else { v as u32 };
        let c = &mut self.central;
        c.extend_from_slice(b"PK\x01\x02");
        c.extend_from_slice(&version.to_le_bytes()); // made by
        c.extend_from_slice(&version.to_le_bytes()); // needed
        c.extend_from_slice(&0u16.to_le_bytes());
        c.extend_from_slice(&0u16.to_le_bytes());
        c.extend_from_slice(&0u32.to_le_bytes());
        c.extend_from_slice(&crc.to_le_bytes());
        c.extend_from_slice(&sat(size).to_le_bytes());
        c.extend_from_slice(&sat(size).to_le_bytes());
        c.extend_from_slice(&(name.len() as u16).to_le_bytes());
        let extra_len = if z64.is_empty() { 0 } else { 4 + z64.len() };
        c.extend_from_slice(&(extra_len as u16).to_le_bytes());
        c.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
        c.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        c.extend_from_slice(&sat(header_offset).to_le_bytes());
        c.extend_from_slice(name.as_bytes());
        if !z64.is_empty() {
            c.extend_from_slice(&1u16.to_le_bytes());
            c.extend_from_slice(&(z64.len() as u16).to_le_bytes());
            c.extend_from_slice(&z64);
        }
        self.count += 1;
        Ok(())
    }

    fn finish(mut self) -> io::Result<()> {
        let cd_offset = self.offset;
        let central = std::mem::take(&mut self.central);
        self.put(&central)?;
        let cd_size = central.len() as u64;
        // Zip64 end of central directory record and locator, as torch writes them.
        let z64_offset = self.offset;
        let mut e = Vec::new();
        e.extend_from_slice(b"PK\x06\x06");
        e.extend_from_slice(&44u64.to_le_bytes());
        e.extend_from_slice(&45u16.to_le_bytes());
        e.extend_from_slice(&45u16.to_le_bytes());
        e.extend_from_slice(&[0; 8]); // disk numbers
        e.extend_from_slice(&self.count.to_le_bytes());
        e.extend_from_slice(&self.count.to_le_bytes());
        e.extend_from_slice(&cd_size.to_le_bytes());
        e.extend_from_slice(&cd_offset.to_le_bytes());
        e.extend_from_slice(b"PK\x06\x07");
        e.extend_from_slice(&0u32.to_le_bytes());
        e.extend_from_slice(&z64_offset.to_le_bytes());
        e.extend_from_slice(&1u32.to_le_bytes());
        let count16 = self.count.min(0xFFFF) as u16;
        e.extend_from_slice(b"PK\x05\x06");
        e.extend_from_slice(&[0; 4]);
        e.extend_from_slice(&count16.to_le_bytes());
        e.extend_from_slice(&count16.to_le_bytes());
        e.extend_from_slice(&(cd_size.min(U32_MAX) as u32).to_le_bytes());
        e.extend_from_slice(&(cd_offset.min(U32_MAX) as u32).to_le_bytes());
        e.extend_from_slice(&0u16.to_le_bytes());
        self.put(&e)?;
        self.w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storages_are_aligned() {
        let t = Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
        let bytes = write_pth_bytes(&[("a".into(), t), ("b".into(), Tensor::from_slice(&[7i64]))]).unwrap();
        for name in ["archive/data/0", "archive/data/1"] {
            let at = bytes.windows(name.len()).position(|w| w == name.as_bytes()).unwrap();
            // Local header: name at +30; the extra field length is at +28.
            let h = at - 30;
            let extra = u16::from_le_bytes([bytes[h + 28], bytes[h + 29]]) as usize;
            assert_eq!((at + name.len() + extra) % 64, 0, "{name}");
        }
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let t = Tensor::from_slice(&[1.0f32]);
        assert!(matches!(
            write_pth_bytes(&[("a".into(), t.shallow_clone()), ("a".into(), t)]),
            Err(Error::DuplicateKey(_))
        ));
    }
}
