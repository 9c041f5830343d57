//! NumPy `.npy` files, read and validated in pure Rust before a byte reaches libtorch.
//!
//! The format is NumPy's (`numpy/lib/format.py`, NEP 1): the magic `\x93NUMPY`, a major and a
//! minor version byte, the header length (2 bytes little-endian in version 1.0, 4 bytes in 2.0
//! and 3.0), then the header, a Python dict literal such as
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 64, 80), }` padded with spaces to a
//! multiple of 64 bytes and ended by a newline, then the array's bytes.
//!
//! tch's `Tensor::read_npy` trusts the header: a header promising more data than the file holds
//! made it copy past the end of its buffer (a crash, or values read from the heap). Here the
//! header is parsed as data (never evaluated), every field is checked (the three keys and only
//! them, a known dtype, non-negative dimensions whose product and byte count do not overflow),
//! and the data section must hold exactly the bytes the header promises; each failure is an
//! [`Error::Format`] naming the file and what was expected. Then the bytes are copied once into
//! a new tensor ([`super::safetensors::tensor_from_bytes`]), byte-swapped for big-endian files
//! and transposed for `fortran_order` ones, so the tensor equals `torch.from_numpy(np.load(f))`.
//!
//! Supported dtypes: `bool`, `uint8`, `int8`, `int16`, `int32`, `int64`, `float16`, `float32`,
//! `float64`, `complex64`, `complex128` (tch has no unsigned types beyond `uint8`; object,
//! string, record and datetime arrays are not tensors).

use std::path::Path;

use tch::{Kind, Tensor};

use super::files::open_regular;
use super::safetensors::tensor_from_bytes;
use crate::error::{Error, Result};

/// The magic string that starts every `.npy` file.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// The largest header accepted (NumPy itself refuses headers over 10 000 bytes by default).
pub const MAX_HEADER_LEN: usize = 65_536;

/// The most dimensions accepted (NumPy's own limit is 64).
pub const MAX_DIMS: usize = 64;

/// A validated `.npy` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpyHeader {
    /// The format version, `(major, minor)`.
    pub version: (u8, u8),
    /// The dtype as written (`<f4`).
    pub descr: String,
    /// The tensor kind of the dtype.
    pub kind: Kind,
    /// Whether the bytes are big-endian (and must be swapped).
    pub big_endian: bool,
    /// Whether the array is stored in column-major order.
    pub fortran_order: bool,
    /// The shape.
    pub shape: Vec<i64>,
    /// Where the data starts in the file.
    pub data_start: usize,
    /// The bytes of data the header promises.
    pub data_len: u64,
}

fn bad(path: &str, message: impl Into<String>) -> Error {
    Error::Format { path: path.to_string(), message: message.into() }
}

/// The tch kind of a dtype descr (`<f4`, `|b1`, …), with whether it is big-endian; a message
/// in words when it is not one tch can hold.
fn dtype(descr: &str) -> std::result::Result<(Kind, bool), String> {
    let (order, code) = match descr.as_bytes().first() {
        Some(b'<' | b'|' | b'=') => (false, &descr[1..]),
        Some(b'>') => (true, &descr[1..]),
        _ => (false, descr),
    };
    let kind = match code {
        "b1" | "?" => Kind::Bool,
        "u1" | "B" => Kind::Uint8,
        "i1" | "b" => Kind::Int8,
        "i2" | "h" => Kind::Int16,
        "i4" | "i" => Kind::Int,
        "i8" | "q" | "l" => Kind::Int64,
        "f2" | "e" => Kind::Half,
        "f4" | "f" => Kind::Float,
        "f8" | "d" => Kind::Double,
        "c8" | "F" => Kind::ComplexFloat,
        "c16" | "D" => Kind::ComplexDouble,
        "u2" | "u4" | "u8" => {
            return Err(format!("dtype `{descr}` (unsigned {}-bit) has no tensor type in tch", 8 * (code.as_bytes()[1] - b'0') as u32))
        }
        c if c.starts_with('O') => return Err(format!("dtype `{descr}` is an object array (pickled Python objects), not numbers")),
        c if c.starts_with('U') || c.starts_with('S') => return Err(format!("dtype `{descr}` is a string array, not numbers")),
        c if c.starts_with('M') || c.starts_with('m') => return Err(format!("dtype `{descr}` is a date/time array, not supported")),
        _ => return Err(format!("dtype `{descr}` is not supported (bool, uint8, int8 to int64, float16 to float64, complex64, complex128 are)")),
    };
    Ok((kind, order && kind.elt_size_in_bytes() > 1))
}

/// A Python literal of the header dict.
#[derive(Debug)]
enum Lit {
    Str(String),
    Bool(bool),
    Ints(Vec<i128>),
    Other(&'static str),
}

/// Parses the header text: a dict literal of string keys (no evaluation of anything).
struct HeaderParser<'t> {
    s: &'t [u8],
    i: usize,
}

impl HeaderParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn string(&mut self) -> std::result::Result<String, String> {
        self.ws();
        let q = *self.s.get(self.i).ok_or("unexpected end of the header")?;
        if q != b'\'' && q != b'"' {
            return Err("expected a quoted string".into());
        }
        let start = self.i + 1;
        let end = self.s[start..].iter().position(|&c| c == q || c == b'\\').map(|n| start + n);
        match end {
            Some(e) if self.s[e] == q => {
                self.i = e + 1;
                Ok(String::from_utf8_lossy(&self.s[start..e]).into_owned())
            }
            Some(_) => Err("escapes in header strings are not supported".into()),
            None => Err("unterminated string".into()),
        }
    }

    fn int(&mut self) -> std::result::Result<i128, String> {
        self.ws();
        let start = self.i;
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
        let v = text.parse::<i128>().map_err(|_| "expected an integer in `shape`".to_string())?;
        // Python 2 wrote long integers with an `L`.
        if self.s.get(self.i) == Some(&b'L') {
            self.i += 1;
        }
        Ok(v)
    }

    fn value(&mut self) -> std::result::Result<Lit, String> {
        self.ws();
        match self.s.get(self.i) {
            Some(b'\'' | b'"') => Ok(Lit::Str(self.string()?)),
            Some(b'(') => {
                self.i += 1;
                let mut v = Vec::new();
                loop {
                    if self.eat(b')') {
                        return Ok(Lit::Ints(v));
                    }
                    if v.len() >= MAX_DIMS {
                        return Err(format!("`shape` has more than {MAX_DIMS} dimensions"));
                    }
                    v.push(self.int()?);
                    if !self.eat(b',') {
                        if self.eat(b')') {
                            return Ok(Lit::Ints(v));
                        }
                        return Err("expected `,` or `)` in `shape`".into());
                    }
                }
            }
            Some(b'[') => Ok(Lit::Other("a list (a structured dtype)")),
            Some(b'{') => Ok(Lit::Other("a dict")),
            _ if self.s[self.i..].starts_with(b"True") => {
                self.i += 4;
                Ok(Lit::Bool(true))
            }
            _ if self.s[self.i..].starts_with(b"False") => {
                self.i += 5;
                Ok(Lit::Bool(false))
            }
            _ => Err("expected a string, True, False or a tuple".into()),
        }
    }

    fn dict(&mut self) -> std::result::Result<Vec<(String, Lit)>, String> {
        if !self.eat(b'{') {
            return Err("the header is not a Python dict literal".into());
        }
        let mut out: Vec<(String, Lit)> = Vec::new();
        loop {
            if self.eat(b'}') {
                break;
            }
            let k = self.string()?;
            if !self.eat(b':') {
                return Err(format!("expected `:` after `{k}`"));
            }
            let v = self.value()?;
            if let Lit::Other(what) = v {
                return Err(format!("`{k}` is {what}, which is not supported"));
            }
            if out.iter().any(|(o, _)| *o == k) {
                return Err(format!("key `{k}` appears twice"));
            }
            out.push((k, v));
            if !self.eat(b',') {
                if self.eat(b'}') {
                    break;
                }
                return Err("expected `,` or `}` in the header dict".into());
            }
        }
        self.ws();
        if self.i != self.s.len() {
            return Err("text after the header dict".into());
        }
        Ok(out)
    }
}

/// Parses and validates the header of a `.npy` file of `file_len` bytes whose first bytes
/// are `bytes` (at least the whole header). `path` names the file in errors.
pub fn parse_header(path: &str, bytes: &[u8], file_len: u64) -> Result<NpyHeader> {
    if bytes.len() < 10 || !bytes.starts_with(MAGIC) {
        return Err(bad(path, "not a .npy file: it does not start with NumPy's magic `\\x93NUMPY`"));
    }
    let version = (bytes[6], bytes[7]);
    let (header_len, at) = match version.0 {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            let b = bytes.get(8..12).ok_or_else(|| bad(path, "truncated .npy header"))?;
            (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12)
        }
        major => {
            return Err(bad(path, format!("unsupported .npy format version {major}.{} (1.0 to 3.0 are)", version.1)))
        }
    };
    if header_len > MAX_HEADER_LEN {
        return Err(bad(
            path,
            format!("the .npy header claims {header_len} bytes, more than the {MAX_HEADER_LEN} accepted"),
        ));
    }
    let data_start = at + header_len;
    if data_start as u64 > file_len || data_start > bytes.len() {
        return Err(bad(
            path,
            format!("truncated .npy file: its header needs {data_start} bytes, the file has {file_len}"),
        ));
    }
    let text = &bytes[at..data_start];
    if version.0 < 3 && !text.is_ascii() {
        return Err(bad(path, "the .npy header is not ASCII"));
    }
    let items = HeaderParser { s: text, i: 0 }.dict().map_err(|m| bad(path, format!("bad .npy header: {m}")))?;
    let mut descr = None;
    let mut fortran_order = None;
    let mut shape = None;
    for (k, v) in items {
        match (k.as_str(), v) {
            ("descr", Lit::Str(s)) => descr = Some(s),
            ("fortran_order", Lit::Bool(b)) => fortran_order = Some(b),
            ("shape", Lit::Ints(v)) => shape = Some(v),
            ("descr" | "fortran_order" | "shape", _) => {
                return Err(bad(path, format!("bad .npy header: `{k}` has the wrong type")));
            }
            _ => return Err(bad(path, format!("bad .npy header: unknown key `{k}`"))),
        }
    }
    let (Some(descr), Some(fortran_order), Some(shape)) = (descr, fortran_order, shape) else {
        return Err(bad(path, "bad .npy header: it needs the keys `descr`, `fortran_order` and `shape`"));
    };
    let (kind, big_endian) = dtype(&descr).map_err(|m| bad(path, m))?;
    let mut numel: u64 = 1;
    let mut dims = Vec::with_capacity(shape.len());
    for &d in &shape {
        let d = u64::try_from(d)
            .ok()
            .filter(|&d| d <= i64::MAX as u64)
            .ok_or_else(|| bad(path, format!("bad .npy header: dimension {d} in `shape`")))?;
        numel =
            numel.checked_mul(d).ok_or_else(|| bad(path, "bad .npy header: the shape's element count overflows"))?;
        dims.push(d as i64);
    }
    let data_len = numel
        .checked_mul(kind.elt_size_in_bytes() as u64)
        .ok_or_else(|| bad(path, "bad .npy header: the array's byte count overflows"))?;
    let have = file_len - data_start as u64;
    if have != data_len {
        let shape_s = crate::error::shape_str(&dims);
        let message = if have < data_len {
            format!("truncated .npy file: shape {shape_s} of dtype `{descr}` needs {data_len} bytes of data, the file holds only {have}")
        } else {
            format!("corrupt .npy file: shape {shape_s} of dtype `{descr}` needs {data_len} bytes of data, the file holds {have} (bytes after the array)")
        };
        return Err(bad(path, message));
    }
    Ok(NpyHeader { version, descr, kind, big_endian, fortran_order, shape: dims, data_start, data_len })
}

/// Makes the tensor of a validated header from its data bytes (exactly `header.data_len`).
fn tensor(path: &str, header: &NpyHeader, data: &[u8]) -> Result<Tensor> {
    let torch = |e: tch::TchError| Error::torch(format!("{path}: building the tensor"), e);
    let stored: Vec<i64> =
        if header.fortran_order { header.shape.iter().rev().copied().collect() } else { header.shape.clone() };
    let t = if header.big_endian {
        let unit = match header.kind {
            Kind::ComplexFloat | Kind::ComplexDouble => header.kind.elt_size_in_bytes() / 2,
            k => k.elt_size_in_bytes(),
        };
        let mut swapped = data.to_vec();
        for c in swapped.chunks_exact_mut(unit) {
            c.reverse();
        }
        tensor_from_bytes(&swapped, &stored, header.kind)?
    } else {
        tensor_from_bytes(data, &stored, header.kind)?
    };
    if header.fortran_order && stored.len() > 1 {
        let dims: Vec<i64> = (0..stored.len() as i64).rev().collect();
        return t.f_permute(&dims).and_then(|t| t.f_contiguous()).map_err(torch);
    }
    Ok(t)
}

/// Reads a `.npy` file held in memory (`name` names it in errors).
pub fn read_npy_bytes(bytes: &[u8], name: &str) -> Result<Tensor> {
    let header = parse_header(name, bytes, bytes.len() as u64)?;
    tensor(name, &header, &bytes[header.data_start..])
}

/// Reads a `.npy` file into a CPU tensor equal to `torch.from_numpy(np.load(path))`, after
/// validating it (see the module docs). The file must be a regular file.
pub fn read_npy(path: impl AsRef<Path>) -> Result<Tensor> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let io = |source| Error::Io { path: name.clone(), source };
    let file = open_regular(path)?;
    let len = file.metadata().map_err(io)?.len();
    if len == 0 {
        return Err(bad(&name, "empty file, not a .npy file"));
    }
    // SAFETY: a read-only map used only during this call; as for every reader of a mapped file,
    // the file must not be truncated meanwhile (the data length was checked against `len`).
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
    let header = parse_header(&name, &map, len)?;
    tensor(&name, &header, &map[header.data_start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(header: &str, data: &[u8]) -> Vec<u8> {
        let mut h = header.to_string();
        while !(10 + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&[1, 0]);
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
        b.extend_from_slice(h.as_bytes());
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn reads_little_and_big_endian_and_fortran_order() {
        let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let t =
            read_npy_bytes(&npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", &data), "t").unwrap();
        assert_eq!(Vec::<f32>::try_from(t.flatten(0, -1)).unwrap(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let be: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|v| v.to_be_bytes()).collect();
        let t = read_npy_bytes(&npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", &be), "t").unwrap();
        assert_eq!(Vec::<f32>::try_from(t).unwrap(), [1.0, 2.0]);
        // Column-major [[1, 3, 5], [2, 4, 6]].
        let t = read_npy_bytes(&npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", &data), "t").unwrap();
        assert_eq!(t.size(), [2, 3]);
        assert_eq!(Vec::<f32>::try_from(t.flatten(0, -1)).unwrap(), [1.0, 3.0, 5.0, 2.0, 4.0, 6.0]);
        let t =
            read_npy_bytes(&npy("{'descr': '<i8', 'fortran_order': False, 'shape': (), }", &7i64.to_le_bytes()), "t")
                .unwrap();
        assert_eq!(t.size(), Vec::<i64>::new());
        assert_eq!(t.int64_value(&[]), 7);
    }

    #[test]
    fn lies_are_errors() {
        let msg = |b: &[u8]| read_npy_bytes(b, "x.npy").unwrap_err().to_string();
        let m = msg(&npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1000, 1000), }", &[0; 16]));
        assert!(m.contains("truncated") && m.contains("4000000 bytes") && m.contains("only 16"), "{m}");
        let m = msg(&npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", &[0; 5]));
        assert!(m.contains("needs 4 bytes"), "{m}");
        let m = msg(&npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", &[]));
        assert!(m.contains("overflows"), "{m}");
        let m = msg(&npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", &[]));
        assert!(m.contains("dimension -1"), "{m}");
        let m = msg(&npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", &[0; 8]));
        assert!(m.contains("object array"), "{m}");
        let m = msg(&npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", &[0; 4]));
        assert!(m.contains("structured"), "{m}");
        let m = msg(&npy("{'descr': '<u2', 'fortran_order': False, 'shape': (1,), }", &[0; 2]));
        assert!(m.contains("unsigned 16-bit"), "{m}");
        let m = msg(&npy("{'descr': '<f4', 'shape': (1,), }", &[0; 4]));
        assert!(m.contains("needs the keys"), "{m}");
        assert!(msg(b"\x93NUMPY\x01\x00\xff\xff{").contains("truncated"));
        assert!(msg(b"hello world").contains("magic"));
        assert!(msg(b"\x93NUMPY\x09\x00\x00\x00").contains("version 9.0"));
    }
}
