//! A safe, restricted unpickler for PyTorch checkpoints.
//!
//! Implements the binary opcodes of Python's pickle protocols 2 to 5 (PEP 307 for protocol 2,
//! PEP 3154 for protocol 4, PEP 574 for protocol 5; the reference is CPython's
//! `Lib/pickle.py`) as a plain stack machine that **runs and imports nothing**. `GLOBAL`,
//! `STACK_GLOBAL`, `INST` and `OBJ` only name a global; a name is accepted when
//! `torch.load(weights_only=True)` would accept it (`torch/_weights_only_unpickler.py`: the
//! storage and tensor classes, dtypes, the `torch._utils._rebuild_*` functions,
//! `torch.nn.Parameter`, `torch.Size`, `torch.device`, `collections.OrderedDict`/`Counter`,
//! `builtins.set`/`bytearray`/`complex`, `_codecs.encode`), and refused with
//! [`Error::ForbiddenGlobal`] otherwise (`os.system`, `builtins.eval`, `subprocess.Popen`, …).
//! Calls (`REDUCE`, `NEWOBJ`, `BUILD`) on accepted globals are *interpreted*: a
//! `_rebuild_tensor_v2` call becomes a [`TensorDesc`] (storage, offset, size, stride), never a
//! tensor, so the unpickler itself allocates no tensor memory; the readers in
//! [`super::pth`] turn the descriptions into `tch` tensors once the storages are known.
//!
//! Objects live in an [`Arena`] and are referenced by index, so memo references (`BINGET`)
//! share one object as Python does (a dict memoized empty and filled later is seen filled),
//! reference cycles cannot leak, and a memo fetch never copies a string or a container.
//!
//! Hostile input is an error, never a panic: every length is checked against the remaining
//! input before anything is allocated, memo indices are looked up in a map (a `LONG_BINPUT`
//! to index 4 000 000 000 allocates nothing), `MARK` nesting is capped at [`MAX_DEPTH`],
//! and recursive helpers carry a depth bound.
//!
//! **Resource budget.** Memo references make it cheap to ask for the same large object many
//! times (`t = (t, t)` thirty times over as a dict key, one long string copied by every
//! persistent id or `_codecs.encode` call, `OrderedDict(memo[0])` a million times), and a small
//! deflated record can inflate to megabytes of opcodes. So every load runs against a
//! [`Budget`] proportional to the size of the *file* (not of the pickle, which may be inflated):
//! each opcode run, each value pushed or memoized, each object, dict-key node, string or byte
//! copied is charged, in approximate bytes of memory, *as it is built* (a key is refused while
//! it is being hashed, not after). Past the budget the load is refused with an
//! [`Error::Format`] naming the limit. Time and memory are thus linear in the file's size.

use std::collections::HashMap;
use std::rc::Rc;

use tch::Kind;

use crate::error::{Error, Result};

/// The deepest `MARK` nesting, tuple-key nesting or nested rebuild call accepted.
pub const MAX_DEPTH: usize = 1000;

/// The most dimensions a tensor may have.
pub const MAX_DIMS: usize = 64;

/// The fixed part of the unpickler's [`Budget`]: 16 MiB.
pub const BUDGET_BASE: u64 = 16 << 20;

/// The part of the unpickler's [`Budget`] per byte of the file: 256 (bytes of memory, roughly).
pub const BUDGET_PER_BYTE: u64 = 256;

/// The cost of one opcode run.
const OP_COST: u64 = 1;
/// The cost of one value on the stack, in the memo or in a container.
const VALUE_COST: u64 = std::mem::size_of::<Value>() as u64;
/// The cost of one object in the arena.
const OBJ_COST: u64 = std::mem::size_of::<Obj>() as u64;
/// The cost of one node of a hashed dict key, and of one index entry.
const KEY_COST: u64 = std::mem::size_of::<Key>() as u64 + 16;
/// The cost of one call of the persistent-load hook, beyond the strings of its id (a storage or
/// tensor description of up to [`MAX_DIMS`] dimensions).
const HOOK_COST: u64 = 1024 + OBJ_COST;

/// The resources one file's unpickling may use: [`BUDGET_BASE`] plus [`BUDGET_PER_BYTE`] for
/// each byte of the file, counted in approximate bytes of memory (each opcode run costs 1).
/// Share one budget between the pickles of one file (the legacy and tar formats hold several).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    limit: u64,
    left: u64,
    file_len: u64,
}

impl Budget {
    /// The budget for a file of `file_len` bytes.
    pub fn for_file_len(file_len: u64) -> Budget {
        let limit = BUDGET_BASE.saturating_add(file_len.saturating_mul(BUDGET_PER_BYTE));
        Budget { limit, left: limit, file_len }
    }

    /// The whole budget.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// What has been spent so far.
    pub fn used(&self) -> u64 {
        self.limit - self.left
    }

    /// Spends `units`; past the limit, the message to refuse the file with.
    pub fn charge(&mut self, units: u64) -> std::result::Result<(), String> {
        match self.left.checked_sub(units) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => {
                self.left = 0;
                Err(format!(
                    "refused: unpickling needs more than its resource budget of {} (16 MiB plus 256 bytes per byte \
                     of the {}-byte file), so the file is a memory or time bomb or not a checkpoint",
                    human_bytes(self.limit),
                    self.file_len
                ))
            }
        }
    }
}

/// A byte count in words: `1536` is `1.5 KiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// A torch dtype: its name as Python prints it (`float32`), its element size in bytes and the
/// `tch` kind, when tch has one (`uint16` and the sub-byte types have none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DType {
    /// The torch name without the `torch.` prefix: `float32`, `int64`, `bfloat16`, …
    pub name: &'static str,
    /// Bytes per element.
    pub size: usize,
    /// The tch kind, `None` for dtypes that tch cannot represent.
    pub kind: Option<Kind>,
}

const fn dt(name: &'static str, size: usize, kind: Option<Kind>) -> DType {
    DType { name, size, kind }
}

/// Every torch dtype a checkpoint can name, with its legacy storage class where it has one.
const DTYPES: &[(DType, Option<&str>)] = &[
    (dt("float32", 4, Some(Kind::Float)), Some("FloatStorage")),
    (dt("float64", 8, Some(Kind::Double)), Some("DoubleStorage")),
    (dt("float16", 2, Some(Kind::Half)), Some("HalfStorage")),
    (dt("bfloat16", 2, Some(Kind::BFloat16)), Some("BFloat16Storage")),
    (dt("int64", 8, Some(Kind::Int64)), Some("LongStorage")),
    (dt("int32", 4, Some(Kind::Int)), Some("IntStorage")),
    (dt("int16", 2, Some(Kind::Int16)), Some("ShortStorage")),
    (dt("int8", 1, Some(Kind::Int8)), Some("CharStorage")),
    (dt("uint8", 1, Some(Kind::Uint8)), Some("ByteStorage")),
    (dt("bool", 1, Some(Kind::Bool)), Some("BoolStorage")),
    (dt("complex32", 4, Some(Kind::ComplexHalf)), None),
    (dt("complex64", 8, Some(Kind::ComplexFloat)), Some("ComplexFloatStorage")),
    (dt("complex128", 16, Some(Kind::ComplexDouble)), Some("ComplexDoubleStorage")),
    (dt("qint8", 1, None), Some("QInt8Storage")),
    (dt("quint8", 1, None), Some("QUInt8Storage")),
    (dt("qint32", 4, None), Some("QInt32Storage")),
    (dt("quint4x2", 1, None), Some("QUInt4x2Storage")),
    (dt("quint2x4", 1, None), Some("QUInt2x4Storage")),
    (dt("float8_e5m2", 1, Some(Kind::Float8e5m2)), None),
    (dt("float8_e4m3fn", 1, Some(Kind::Float8e4m3fn)), None),
    (dt("float8_e5m2fnuz", 1, Some(Kind::Float8e5m2fnuz)), None),
    (dt("float8_e4m3fnuz", 1, Some(Kind::Float8e4m3fnuz)), None),
    (dt("float8_e8m0fnu", 1, None), None),
    (dt("float4_e2m1fn_x2", 1, None), None),
    (dt("uint16", 2, None), None),
    (dt("uint32", 4, None), None),
    (dt("uint64", 8, None), None),
    (dt("bits8", 1, None), None),
    (dt("bits16", 2, None), None),
    (dt("bits1x8", 1, None), None),
    (dt("bits2x4", 1, None), None),
    (dt("bits4x2", 1, None), None),
    (dt("int1", 1, None), None),
    (dt("int2", 1, None), None),
    (dt("int3", 1, None), None),
    (dt("int4", 1, None), None),
    (dt("int5", 1, None), None),
    (dt("int6", 1, None), None),
    (dt("int7", 1, None), None),
    (dt("uint1", 1, None), None),
    (dt("uint2", 1, None), None),
    (dt("uint3", 1, None), None),
    (dt("uint4", 1, None), None),
    (dt("uint5", 1, None), None),
    (dt("uint6", 1, None), None),
    (dt("uint7", 1, None), None),
];

/// The untyped byte storage (`torch.storage.UntypedStorage`): one byte per element.
pub const UINT8: DType = dt("uint8", 1, Some(Kind::Uint8));

impl DType {
    /// The dtype named `torch.<name>` (`float32`, …).
    pub fn from_name(name: &str) -> Option<DType> {
        DTYPES.iter().find(|(d, _)| d.name == name).map(|(d, _)| *d)
    }

    /// The dtype of a storage class (`FloatStorage`, …; `UntypedStorage` is `uint8`).
    pub fn from_storage_class(class: &str) -> Option<DType> {
        if class == "UntypedStorage" {
            return Some(UINT8);
        }
        DTYPES.iter().find(|(_, s)| *s == Some(class)).map(|(d, _)| *d)
    }

    /// The dtype of a tch kind.
    pub fn from_kind(kind: Kind) -> Option<DType> {
        DTYPES.iter().find(|(d, _)| d.kind == Some(kind)).map(|(d, _)| *d)
    }

    /// The legacy storage class torch pickles for this dtype (`FloatStorage`), if any.
    pub fn storage_class(&self) -> Option<&'static str> {
        DTYPES.iter().find(|(d, _)| d.name == self.name).and_then(|(_, s)| *s)
    }

    /// The unit of byte order: the element size, or half of it for complex numbers.
    pub fn swap_unit(&self) -> usize {
        if self.name.starts_with("complex") {
            self.size / 2
        } else {
            self.size
        }
    }
}

/// Whether `module.name` is a global that `torch.load(weights_only=True)` accepts.
pub fn is_allowed_global(full: &str) -> bool {
    const EXACT: &[&str] = &[
        "collections.OrderedDict",
        "collections.Counter",
        "torch.nn.parameter.Parameter",
        "torch.serialization._get_layout",
        "torch.Size",
        "torch.Tensor",
        "torch.device",
        "_codecs.encode",
        "builtins.bytearray",
        "builtins.set",
        "builtins.complex",
        "torch.storage.TypedStorage",
        "torch.storage.UntypedStorage",
        "torch._tensor._rebuild_from_type_v2",
        "torch.per_tensor_affine",
        "torch.per_tensor_symmetric",
        "torch.per_channel_affine",
        "torch.per_channel_symmetric",
        "torch.per_channel_affine_float_qparams",
    ];
    const REBUILD: &[&str] = &[
        "_rebuild_parameter",
        "_rebuild_parameter_with_state",
        "_rebuild_qtensor",
        "_rebuild_tensor",
        "_rebuild_tensor_v2",
        "_rebuild_tensor_v3",
        "_rebuild_sparse_tensor",
        "_rebuild_meta_tensor_no_storage",
        "_rebuild_nested_tensor",
        "_rebuild_wrapper_subclass",
        "_rebuild_device_tensor_from_numpy",
        "_rebuild_device_tensor_from_cpu_tensor",
    ];
    const TENSOR_CLASSES: &[&str] =
        &["BFloat16", "Bool", "Byte", "Char", "Double", "Float", "Half", "Int", "Long", "Short"];
    if EXACT.contains(&full) {
        return true;
    }
    if let Some(f) = full.strip_prefix("torch._utils.") {
        return REBUILD.contains(&f);
    }
    let Some(rest) = full.strip_prefix("torch.") else { return false };
    if DType::from_name(rest).is_some() {
        return true;
    }
    // Storage classes (`torch.FloatStorage`, `torch.cuda.FloatStorage`).
    let storage = rest.strip_prefix("cuda.").unwrap_or(rest);
    if DType::from_storage_class(storage).is_some() && storage != "UntypedStorage" {
        return rest == storage || !storage.starts_with('Q');
    }
    // Tensor classes (`torch.FloatTensor`, `torch.cuda.FloatTensor`, `torch.sparse.FloatTensor`, …).
    let t = rest.strip_prefix("cuda.").unwrap_or(rest);
    let (t, sparse) = match t.strip_prefix("sparse.") {
        Some(t) => (t, true),
        None => (t, false),
    };
    match t.strip_suffix("Tensor") {
        Some(prefix) => TENSOR_CLASSES.contains(&prefix) && !(sparse && prefix == "Bool"),
        None => false,
    }
}

/// Python 2 module names mapped to their Python 3 names, as `torch._utils.IMPORT_MAPPING` does.
fn map_module(module: &str) -> &str {
    match module {
        "__builtin__" => "builtins",
        "copy_reg" => "copyreg",
        "UserDict" | "UserList" | "UserString" => "collections",
        other => other,
    }
}

/// Decodes the argument of the protocol-0 `STRING` opcode: `'text'` or `"text"` with Python
/// escapes (`codecs.escape_decode`), bytes read as Latin-1.
fn unquote(line: &[u8]) -> Option<String> {
    let q = *line.first()?;
    if line.len() < 2 || (q != b'\'' && q != b'"') || line[line.len() - 1] != q {
        return None;
    }
    let body = &line[1..line.len() - 1];
    let mut out = String::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        i += 1;
        if c != b'\\' {
            out.push(c as char);
            continue;
        }
        let e = *body.get(i)?;
        i += 1;
        match e {
            b'n' => out.push('\n'),
            b't' => out.push('\t'),
            b'r' => out.push('\r'),
            b'0' => out.push('\0'),
            b'x' => {
                let hex = std::str::from_utf8(body.get(i..i + 2)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()? as char);
                i += 2;
            }
            b'\\' | b'\'' | b'"' => out.push(e as char),
            other => {
                out.push('\\');
                out.push(other as char);
            }
        }
    }
    Some(out)
}

/// An index into an [`Arena`].
pub type ObjId = usize;

/// A pickled value. Scalars are held inline; containers and objects live in the [`Arena`].
#[derive(Clone, Debug)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An integer of at most 16 bytes.
    Int(i128),
    /// An integer too large for `i128` (its byte length).
    BigInt(usize),
    /// A float.
    Float(f64),
    /// A string.
    Str(Rc<str>),
    /// A bytes object.
    Bytes(Rc<[u8]>),
    /// An allowlisted global, `module.name`.
    Global(Rc<str>),
    /// An object in the arena.
    Obj(ObjId),
}

/// The three kinds of Python dict a checkpoint holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DictKind {
    /// `dict`.
    Dict,
    /// `collections.OrderedDict`.
    OrderedDict,
    /// `collections.Counter`.
    Counter,
}

/// A hashable view of a dict key, for Python's "setting an existing key replaces its value".
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    None,
    Int(i128),
    Float(u64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    Global(Rc<str>),
    Tuple(Vec<Key>),
    Identity(ObjId),
}

/// A dict: its items in insertion order and an index by key, and the instance state a `BUILD`
/// gave it (an `OrderedDict`'s attributes, such as a state dict's `_metadata`).
#[derive(Clone, Debug, Default)]
pub struct Dict {
    items: Vec<(Value, Value)>,
    index: HashMap<Key, usize>,
    state: Option<Value>,
    /// What building the items and the index cost (what a copy costs again).
    cost: u64,
}

impl Dict {
    /// The items in insertion order.
    pub fn items(&self) -> &[(Value, Value)] {
        &self.items
    }

    /// The state of the `BUILD` applied to it, if any (for `torch.save(model.state_dict())`:
    /// a dict `{'_metadata': OrderedDict({module_path: {'version': n}, ...})}`).
    pub fn state(&self) -> Option<&Value> {
        self.state.as_ref()
    }
}

/// A storage, as the format's persistent-load hook described it.
#[derive(Clone, Debug)]
pub struct StorageRef {
    /// The key naming the storage's bytes (`data/<key>` in a zip; the storage keys list in the
    /// legacy format).
    pub key: String,
    /// The dtype of the storage class (`uint8` for `UntypedStorage`).
    pub dtype: DType,
    /// The location tag (`cpu`, `cuda:0`); informational: tensors go to the requested device.
    pub location: String,
    /// The number of `dtype` elements the storage holds.
    pub numel: u64,
    /// For legacy storage views: the element offset into the root storage.
    pub view_offset: u64,
}

/// A tensor, as a rebuild call described it: a strided view of a storage.
#[derive(Clone, Debug)]
pub struct TensorDesc {
    /// The storage.
    pub storage: Rc<StorageRef>,
    /// The tensor's dtype (the storage's, except for `_rebuild_tensor_v3`).
    pub dtype: DType,
    /// Offset into the storage, in elements.
    pub offset: i64,
    /// Size.
    pub size: Vec<i64>,
    /// Stride, in elements.
    pub stride: Vec<i64>,
    /// Whether it was pickled as a `torch.nn.Parameter`.
    pub parameter: bool,
}

/// An object in the arena.
#[derive(Clone, Debug)]
pub enum Obj {
    /// A list.
    List(Vec<Value>),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A dict, OrderedDict or Counter (a `BUILD` state such as `_metadata` is dropped).
    Dict(DictKind, Dict),
    /// A set or frozenset.
    Set(Vec<Value>),
    /// A storage (from a persistent id).
    Storage(Rc<StorageRef>),
    /// A tensor.
    Tensor(TensorDesc),
    /// Any other accepted object, kept opaque: its Python type name (`device`, `Size`,
    /// `complex`, …) and, for tensors tchvision cannot build (quantized, sparse, nested, …),
    /// the rebuild function that made it.
    Opaque {
        /// `type(x).__name__` in Python.
        type_name: String,
        /// The accepted global that built it, when it is an unsupported tensor.
        unsupported: Option<String>,
        /// Arguments, kept for `torch.Size`.
        args: Option<Value>,
    },
}

/// The objects of one pickle.
#[derive(Debug, Default)]
pub struct Arena {
    objs: Vec<Obj>,
}

impl Arena {
    /// Adds an object and returns its value.
    pub fn add(&mut self, obj: Obj) -> Value {
        self.objs.push(obj);
        Value::Obj(self.objs.len() - 1)
    }

    /// The object a value references, if it is one.
    pub fn get(&self, v: &Value) -> Option<&Obj> {
        match v {
            Value::Obj(id) => self.objs.get(*id),
            _ => None,
        }
    }

    /// The elements of a tuple or list value.
    pub fn seq<'a>(&'a self, v: &Value) -> Option<&'a [Value]> {
        match self.get(v)? {
            Obj::Tuple(items) | Obj::List(items) => Some(items),
            Obj::Opaque { type_name, args: Some(args), .. } if type_name == "Size" => self.seq(args),
            _ => None,
        }
    }

    /// The dict a value references, with its kind.
    pub fn dict<'a>(&'a self, v: &Value) -> Option<(DictKind, &'a Dict)> {
        match self.get(v)? {
            Obj::Dict(kind, d) => Some((*kind, d)),
            _ => None,
        }
    }

    /// Python's `type(v).__name__`.
    pub fn type_name(&self, v: &Value) -> String {
        match v {
            Value::None => "NoneType".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) | Value::BigInt(_) => "int".into(),
            Value::Float(_) => "float".into(),
            Value::Str(_) => "str".into(),
            Value::Bytes(_) => "bytes".into(),
            Value::Global(g) => {
                let name = g.rsplit('.').next().unwrap_or(g);
                if DType::from_name(name).is_some() && g.starts_with("torch.") && g.matches('.').count() == 1 {
                    "dtype".into()
                } else if name.starts_with(|c: char| c.is_ascii_uppercase()) {
                    "type".into()
                } else {
                    "function".into()
                }
            }
            Value::Obj(_) => match self.get(v) {
                Some(Obj::List(_)) => "list".into(),
                Some(Obj::Tuple(_)) => "tuple".into(),
                Some(Obj::Dict(DictKind::Dict, _)) => "dict".into(),
                Some(Obj::Dict(DictKind::OrderedDict, _)) => "OrderedDict".into(),
                Some(Obj::Dict(DictKind::Counter, _)) => "Counter".into(),
                Some(Obj::Set(_)) => "set".into(),
                Some(Obj::Storage(_)) => "TypedStorage".into(),
                Some(Obj::Tensor(t)) => if t.parameter { "Parameter" } else { "Tensor" }.into(),
                Some(Obj::Opaque { type_name, .. }) => type_name.clone(),
                None => "object".into(),
            },
        }
    }

    fn key(&self, v: &Value, depth: usize, budget: &mut Budget) -> std::result::Result<Key, String> {
        if depth > 32 {
            return Err("dict key nested too deeply".into());
        }
        budget.charge(KEY_COST)?;
        Ok(match v {
            Value::None => Key::None,
            Value::Bool(b) => Key::Int(*b as i128),
            Value::Int(i) => Key::Int(*i),
            Value::BigInt(n) => Key::Identity(usize::MAX - n),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e30 => Key::Int(*f as i128),
            Value::Float(f) => Key::Float(f.to_bits()),
            Value::Str(s) => Key::Str(s.clone()),
            Value::Bytes(b) => Key::Bytes(b.clone()),
            Value::Global(g) => Key::Global(g.clone()),
            Value::Obj(id) => match self.objs.get(*id) {
                Some(Obj::Tuple(items)) => Key::Tuple(
                    items.iter().map(|i| self.key(i, depth + 1, budget)).collect::<std::result::Result<_, _>>()?,
                ),
                Some(Obj::List(_)) | Some(Obj::Dict(..)) | Some(Obj::Set(_)) => {
                    return Err(format!("unhashable dict key of type {}", self.type_name(v)))
                }
                _ => Key::Identity(*id),
            },
        })
    }

    /// Sets `dict[k] = v`, charging the key's hashing (node by node, as it is built) and the
    /// new entry to `budget`.
    fn set_item(&mut self, dict: ObjId, k: Value, v: Value, budget: &mut Budget) -> std::result::Result<(), String> {
        let before = budget.used();
        let key = self.key(&k, 0, budget)?;
        budget.charge(KEY_COST + 2 * VALUE_COST)?;
        let cost = budget.used() - before;
        match self.objs.get_mut(dict) {
            Some(Obj::Dict(_, d)) => {
                match d.index.get(&key) {
                    Some(&i) => d.items[i].1 = v,
                    None => {
                        d.index.insert(key, d.items.len());
                        d.items.push((k, v));
                        d.cost = d.cost.saturating_add(cost);
                    }
                }
                Ok(())
            }
            _ => Err("SETITEM on a non-dict".into()),
        }
    }
}

/// The result of unpickling: the arena and the root value.
#[derive(Debug)]
pub struct Pickled {
    /// The objects.
    pub arena: Arena,
    /// The unpickled value.
    pub root: Value,
    /// The offset just past the `STOP` opcode.
    pub end: usize,
}

/// The persistent-load hook of a format: turns a persistent id into a value (a storage for the
/// zip and legacy formats, a tensor for the tar format).
pub type PersistentLoad<'h> = dyn FnMut(&mut Arena, Value) -> Result<Value> + 'h;

/// Unpickles one pickle starting at `data[0]`, calling `persistent` for each persistent id,
/// with the [`Budget`] of a file of `data.len()` bytes. `path` names the file in errors.
pub fn load(data: &[u8], path: &str, persistent: &mut PersistentLoad<'_>) -> Result<Pickled> {
    load_with_budget(data, path, &mut Budget::for_file_len(data.len() as u64), persistent)
}

/// [`load`] charging `budget`: the budget of the whole file the pickle came from (its size, not
/// the pickle's, sets the limit: a deflated pickle may be much larger than its file).
pub fn load_with_budget(
    data: &[u8],
    path: &str,
    budget: &mut Budget,
    persistent: &mut PersistentLoad<'_>,
) -> Result<Pickled> {
    Unpickler {
        data,
        pos: 0,
        path,
        arena: Arena::default(),
        memo: HashMap::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        budget,
    }
    .run(persistent)
}

struct Unpickler<'a, 'b> {
    data: &'a [u8],
    pos: usize,
    path: &'a str,
    arena: Arena,
    memo: HashMap<u32, Value>,
    stack: Vec<Value>,
    marks: Vec<Vec<Value>>,
    budget: &'b mut Budget,
}

impl<'a> Unpickler<'a, '_> {
    fn err(&self, msg: impl std::fmt::Display) -> Error {
        Error::Format { path: self.path.to_string(), message: format!("pickle: {msg} (at byte {})", self.pos) }
    }

    /// Charges `units` to the budget.
    fn charge(&mut self, units: u64) -> Result<()> {
        match self.budget.charge(units) {
            Ok(()) => Ok(()),
            Err(m) => Err(self.err(m)),
        }
    }

    /// Charges `n` values' worth.
    fn charge_values(&mut self, n: usize) -> Result<()> {
        self.charge((n as u64).saturating_mul(VALUE_COST))
    }

    /// Adds an object to the arena, charging it.
    fn add(&mut self, obj: Obj) -> Result<Value> {
        self.charge(OBJ_COST)?;
        Ok(self.arena.add(obj))
    }

    /// Charges a value to be memoized and memoizes it.
    fn memoize(&mut self, i: u32, v: Value) -> Result<()> {
        self.charge(VALUE_COST + 16)?;
        self.memo.insert(i, v);
        Ok(())
    }

    /// The bytes of the strings a persistent id holds, directly or as tuple items: what the
    /// hook may copy out of it.
    fn shallow_len(&self, v: &Value) -> u64 {
        let own = |v: &Value| match v {
            Value::Str(s) | Value::Global(s) => s.len() as u64,
            Value::Bytes(b) => b.len() as u64,
            _ => 0,
        };
        own(v) + self.arena.seq(v).map(|items| items.iter().map(own).sum::<u64>()).unwrap_or(0)
    }

    /// Calls the persistent-load hook, charging what it may build.
    fn persistent_load(&mut self, persistent: &mut PersistentLoad<'_>, pid: Value) -> Result<Value> {
        self.charge(HOOK_COST.saturating_add(2 * self.shallow_len(&pid)))?;
        persistent(&mut self.arena, pid)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        match end {
            Some(end) => {
                let s = &self.data[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => {
                Err(self
                    .err(format!("truncated: needs {n} more bytes, {} left", self.data.len().saturating_sub(self.pos))))
            }
        }
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap_or_default()))
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap_or_default()))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap_or_default()))
    }

    fn len_u64(&mut self) -> Result<usize> {
        let n = self.u64()?;
        usize::try_from(n).map_err(|_| self.err(format!("length {n} too large")))
    }

    fn line(&mut self) -> Result<&'a [u8]> {
        let rest = &self.data[self.pos.min(self.data.len())..];
        let Some(n) = rest.iter().position(|&b| b == b'\n') else {
            return Err(self.err("truncated: unterminated line"));
        };
        self.pos += n + 1;
        Ok(&rest[..n])
    }

    fn utf8(&mut self, bytes: &[u8]) -> Result<Rc<str>> {
        self.charge(bytes.len() as u64)?;
        std::str::from_utf8(bytes).map(Rc::from).map_err(|_| self.err("invalid UTF-8 in a string"))
    }

    fn push(&mut self, v: Value) -> Result<()> {
        self.charge(VALUE_COST)?;
        self.stack.push(v);
        Ok(())
    }

    fn pop(&mut self) -> Result<Value> {
        self.stack.pop().ok_or_else(|| self.err("stack underflow"))
    }

    fn top(&self) -> Result<&Value> {
        self.stack.last().ok_or_else(|| self.err("stack underflow"))
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>> {
        let prev = self.marks.pop().ok_or_else(|| self.err("no MARK on the stack"))?;
        Ok(std::mem::replace(&mut self.stack, prev))
    }

    fn global(&mut self, module: &str, name: &str) -> Result<Value> {
        self.charge(module.len() as u64 + name.len() as u64)?;
        let module = map_module(module);
        let full = format!("{module}.{name}");
        if is_allowed_global(&full) {
            Ok(Value::Global(Rc::from(full)))
        } else {
            Err(Error::ForbiddenGlobal { path: self.path.to_string(), global: full })
        }
    }

    fn text_global(&mut self) -> Result<Value> {
        let module = self.line()?;
        let name = self.line()?;
        let module = String::from_utf8_lossy(module).into_owned();
        let name = String::from_utf8_lossy(name).into_owned();
        self.global(&module, &name)
    }

    fn int(&self, bytes: &[u8]) -> Value {
        if bytes.len() > 16 {
            return Value::BigInt(bytes.len());
        }
        if bytes.is_empty() {
            return Value::Int(0);
        }
        let fill = if bytes[bytes.len() - 1] & 0x80 != 0 { 0xff } else { 0 };
        let mut buf = [fill; 16];
        buf[..bytes.len()].copy_from_slice(bytes);
        Value::Int(i128::from_le_bytes(buf))
    }

    fn run(mut self, persistent: &mut PersistentLoad<'_>) -> Result<Pickled> {
        loop {
            let op = self.u8()?;
            self.charge(OP_COST)?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return Err(self.err(format!("unsupported pickle protocol {proto}")));
                    }
                }
                0x95 => {
                    // FRAME: a length hint; the framed opcodes follow inline.
                    let n = self.u64()?;
                    if n > (self.data.len() - self.pos) as u64 {
                        return Err(self.err(format!("FRAME of {n} bytes past the end")));
                    }
                }
                b'.' => {
                    let root = self.pop()?;
                    return Ok(Pickled { arena: self.arena, root, end: self.pos });
                }
                // Stack and memo.
                b'(' => {
                    if self.marks.len() >= MAX_DEPTH {
                        return Err(self.err(format!("MARK nesting deeper than {MAX_DEPTH}")));
                    }
                    let stack = std::mem::take(&mut self.stack);
                    self.marks.push(stack);
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?.clone();
                    self.push(v)?;
                }
                b'q' => {
                    let i = self.u8()? as u32;
                    let v = self.top()?.clone();
                    self.memoize(i, v)?;
                }
                b'r' => {
                    let i = self.u32()?;
                    let v = self.top()?.clone();
                    self.memoize(i, v)?;
                }
                0x94 => {
                    let i = u32::try_from(self.memo.len()).map_err(|_| self.err("memo full"))?;
                    let v = self.top()?.clone();
                    self.memoize(i, v)?;
                }
                b'h' | b'j' => {
                    let i = if op == b'h' { self.u8()? as u32 } else { self.u32()? };
                    let v =
                        self.memo.get(&i).cloned().ok_or_else(|| self.err(format!("memo entry {i} does not exist")))?;
                    self.push(v)?;
                }
                b'p' | b'g' => {
                    let line = self.line()?;
                    let i: u32 = std::str::from_utf8(line)
                        .ok()
                        .and_then(|s| s.trim().parse().ok())
                        .ok_or_else(|| self.err("bad memo index"))?;
                    if op == b'p' {
                        let v = self.top()?.clone();
                        self.memoize(i, v)?;
                    } else {
                        let v = self
                            .memo
                            .get(&i)
                            .cloned()
                            .ok_or_else(|| self.err(format!("memo entry {i} does not exist")))?;
                        self.push(v)?;
                    }
                }
                // Constants and scalars.
                b'N' => self.push(Value::None)?,
                0x88 => self.push(Value::Bool(true))?,
                0x89 => self.push(Value::Bool(false))?,
                b'J' => {
                    let v = i32::from_le_bytes(self.take(4)?.try_into().unwrap_or_default());
                    self.push(Value::Int(v as i128))?;
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(v as i128))?;
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Value::Int(v as i128))?;
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    let b = self.take(n)?;
                    let v = self.int(b);
                    self.push(v)?;
                }
                0x8b => {
                    let n = self.u32()? as usize;
                    let b = self.take(n)?;
                    let v = self.int(b);
                    self.push(v)?;
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.take(8)?.try_into().unwrap_or_default());
                    self.push(Value::Float(v))?;
                }
                b'I' | b'L' | b'F' => {
                    let line = self.line()?;
                    let s = std::str::from_utf8(line).map_err(|_| self.err("bad number"))?.trim().trim_end_matches('L');
                    let v = match (op, s) {
                        (b'I', "00") => Value::Bool(false),
                        (b'I', "01") => Value::Bool(true),
                        (b'F', _) => Value::Float(s.parse().map_err(|_| self.err("bad float"))?),
                        _ => Value::Int(s.parse().map_err(|_| self.err("bad int"))?),
                    };
                    self.push(v)?;
                }
                // Strings and bytes.
                0x8c => {
                    let n = self.u8()? as usize;
                    let b = self.take(n)?;
                    let s = self.utf8(b)?;
                    self.push(Value::Str(s))?;
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let b = self.take(n)?;
                    let s = self.utf8(b)?;
                    self.push(Value::Str(s))?;
                }
                0x8d => {
                    let n = self.len_u64()?;
                    let b = self.take(n)?;
                    let s = self.utf8(b)?;
                    self.push(Value::Str(s))?;
                }
                b'U' | b'T' => {
                    // SHORT_BINSTRING / BINSTRING (Python 2 str): decoded as Latin-1 text.
                    let n = if op == b'U' { self.u8()? as usize } else { self.u32()? as usize };
                    let b = self.take(n)?;
                    self.charge(2 * n as u64)?;
                    let s: String = b.iter().map(|&c| c as char).collect();
                    self.push(Value::Str(Rc::from(s)))?;
                }
                b'S' => {
                    // STRING (protocol 0): a quoted, backslash-escaped Python 2 str.
                    let line = self.line()?;
                    self.charge(line.len() as u64)?;
                    let s = unquote(line).ok_or_else(|| self.err("bad quoted STRING"))?;
                    self.push(Value::Str(Rc::from(s)))?;
                }
                b'V' => {
                    let line = self.line()?;
                    self.charge(line.len() as u64)?;
                    let s = String::from_utf8_lossy(line).into_owned();
                    self.push(Value::Str(Rc::from(s)))?;
                }
                b'C' | b'B' | 0x8e | 0x96 => {
                    let n = match op {
                        b'C' => self.u8()? as usize,
                        b'B' => self.u32()? as usize,
                        _ => self.len_u64()?,
                    };
                    let b = self.take(n)?;
                    self.charge(n as u64)?;
                    self.push(Value::Bytes(Rc::from(b)))?;
                }
                // Containers.
                b')' => {
                    let v = self.add(Obj::Tuple(Vec::new()))?;
                    self.push(v)?;
                }
                b't' => {
                    let items = self.pop_mark()?;
                    let v = self.add(Obj::Tuple(items))?;
                    self.push(v)?;
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err(self.err("stack underflow"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    let v = self.add(Obj::Tuple(items))?;
                    self.push(v)?;
                }
                b']' => {
                    let v = self.add(Obj::List(Vec::new()))?;
                    self.push(v)?;
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    let v = self.add(Obj::List(items))?;
                    self.push(v)?;
                }
                b'a' => {
                    let item = self.pop()?;
                    self.extend_list(vec![item])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.extend_list(items)?;
                }
                b'}' => {
                    let v = self.add(Obj::Dict(DictKind::Dict, Dict::default()))?;
                    self.push(v)?;
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let v = self.add(Obj::Dict(DictKind::Dict, Dict::default()))?;
                    self.push(v)?;
                    self.set_items(items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?;
                }
                0x8f => {
                    let v = self.add(Obj::Set(Vec::new()))?;
                    self.push(v)?;
                }
                0x90 => {
                    let items = self.pop_mark()?;
                    let target = self.top()?.clone();
                    match target {
                        Value::Obj(id) if matches!(self.arena.objs.get(id), Some(Obj::Set(_))) => {
                            if let Some(Obj::Set(s)) = self.arena.objs.get_mut(id) {
                                s.extend(items);
                            }
                        }
                        _ => return Err(self.err("ADDITEMS on a non-set")),
                    }
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    let v = self.add(Obj::Set(items))?;
                    self.push(v)?;
                }
                // Globals and calls.
                b'c' => {
                    let g = self.text_global()?;
                    self.push(g)?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Value::Str(module), Value::Str(name)) = (module, name) else {
                        return Err(self.err("STACK_GLOBAL needs two strings"));
                    };
                    let g = self.global(&module, &name)?;
                    self.push(g)?;
                }
                b'i' => {
                    let g = self.text_global()?;
                    let args = self.pop_mark()?;
                    let args = self.add(Obj::Tuple(args))?;
                    let v = self.call(&g, args, 0)?;
                    self.push(v)?;
                }
                b'o' => {
                    let mut items = self.pop_mark()?;
                    if items.is_empty() {
                        return Err(self.err("OBJ without a class"));
                    }
                    let cls = items.remove(0);
                    let args = self.add(Obj::Tuple(items))?;
                    let v = self.call(&cls, args, 0)?;
                    self.push(v)?;
                }
                b'R' => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let v = self.call(&func, args, 0)?;
                    self.push(v)?;
                }
                0x81 | 0x92 => {
                    if op == 0x92 {
                        let _kwargs = self.pop()?;
                    }
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let v = self.new_obj(&cls, args)?;
                    self.push(v)?;
                }
                b'b' => {
                    let state = self.pop()?;
                    self.build(state)?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = self.persistent_load(persistent, pid)?;
                    self.push(v)?;
                }
                b'P' => {
                    let line = self.line()?;
                    let pid = Value::Str(self.utf8(line)?);
                    let v = self.persistent_load(persistent, pid)?;
                    self.push(v)?;
                }
                0x82..=0x84 => return Err(self.err("extension registry opcodes (EXT1/2/4) are not supported")),
                0x97 | 0x98 => return Err(self.err("out-of-band buffers (pickle protocol 5) are not supported")),
                other => return Err(self.err(format!("unknown opcode 0x{other:02x}"))),
            }
        }
    }

    fn extend_list(&mut self, items: Vec<Value>) -> Result<()> {
        let target = self.top()?.clone();
        if let Value::Obj(id) = target {
            if let Some(Obj::List(l)) = self.arena.objs.get_mut(id) {
                l.extend(items);
                return Ok(());
            }
        }
        Err(self.err(format!("APPEND to a {}", self.arena.type_name(&target))))
    }

    fn set_items(&mut self, items: Vec<Value>) -> Result<()> {
        if !items.len().is_multiple_of(2) {
            return Err(self.err("SETITEMS with an odd number of items"));
        }
        let target = self.top()?.clone();
        let Value::Obj(id) = target else {
            return Err(self.err(format!("SETITEM on a {}", self.arena.type_name(&target))));
        };
        if !matches!(self.arena.objs.get(id), Some(Obj::Dict(..))) {
            return Err(self.err(format!("SETITEM on a {}", self.arena.type_name(&target))));
        }
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            if let Err(m) = self.arena.set_item(id, k, v, self.budget) {
                return Err(self.err(m));
            }
        }
        Ok(())
    }

    fn build(&mut self, state: Value) -> Result<()> {
        let inst = self.top()?.clone();
        match self.arena.get(&inst) {
            // `OrderedDict._metadata` and the like: attributes, kept apart from the items.
            Some(Obj::Dict(..)) => {
                if let Value::Obj(id) = inst {
                    if let Some(Obj::Dict(_, d)) = self.arena.objs.get_mut(id) {
                        d.state = Some(state);
                    }
                }
                Ok(())
            }
            // `Parameter.__setstate__` and tensor attributes: nothing tchvision keeps.
            Some(Obj::Tensor(_)) | Some(Obj::Opaque { .. }) => Ok(()),
            _ => {
                let _ = state;
                Err(self.err(format!("BUILD on a {}", self.arena.type_name(&inst))))
            }
        }
    }

    fn new_obj(&mut self, cls: &Value, args: Value) -> Result<Value> {
        let Value::Global(g) = cls else {
            return Err(self.err(format!("NEWOBJ on a {}", self.arena.type_name(cls))));
        };
        match &**g {
            "collections.OrderedDict" => self.add(Obj::Dict(DictKind::OrderedDict, Dict::default())),
            "collections.Counter" => self.add(Obj::Dict(DictKind::Counter, Dict::default())),
            "builtins.set" => self.add(Obj::Set(Vec::new())),
            "torch.nn.parameter.Parameter" => self.call(cls, args, 0),
            _ => self.call(cls, args, 0),
        }
    }

    fn args(&mut self, func: &str, args: &Value, min: usize, max: usize) -> Result<Vec<Value>> {
        let items = self.arena.seq(args).ok_or_else(|| self.err(format!("{func}: arguments are not a tuple")))?;
        if items.len() < min || items.len() > max {
            return Err(self.err(format!("{func}: expected {min} to {max} arguments, got {}", items.len())));
        }
        let items = items.to_vec();
        self.charge_values(items.len())?;
        Ok(items)
    }

    fn ints(&mut self, what: &str, v: &Value) -> Result<Vec<i64>> {
        let items = self.arena.seq(v).ok_or_else(|| self.err(format!("{what} is not a tuple")))?;
        if items.len() > MAX_DIMS {
            return Err(self.err(format!("{what} has {} dimensions, more than {MAX_DIMS}", items.len())));
        }
        let n = items.len();
        let out = items
            .iter()
            .map(|i| match i {
                Value::Int(n) => i64::try_from(*n).map_err(|_| self.err(format!("{what}: {n} out of range"))),
                Value::Bool(b) => Ok(*b as i64),
                other => Err(self.err(format!("{what}: expected ints, got {}", self.arena.type_name(other)))),
            })
            .collect::<Result<Vec<i64>>>()?;
        self.charge(8 * n as u64)?;
        Ok(out)
    }

    fn int_arg(&self, what: &str, v: &Value) -> Result<i64> {
        match v {
            Value::Int(n) => i64::try_from(*n).map_err(|_| self.err(format!("{what}: {n} out of range"))),
            other => Err(self.err(format!("{what}: expected an int, got {}", self.arena.type_name(other)))),
        }
    }

    fn rebuild_tensor(&mut self, func: &str, a: &[Value], dtype: Option<DType>) -> Result<Value> {
        let storage = match self.arena.get(&a[0]) {
            Some(Obj::Storage(s)) => s.clone(),
            _ => {
                return Err(
                    self.err(format!("{func}: first argument is a {}, not a storage", self.arena.type_name(&a[0])))
                )
            }
        };
        let offset = self.int_arg("storage offset", &a[1])?;
        let size = self.ints("size", &a[2])?;
        let stride = self.ints("stride", &a[3])?;
        if size.len() != stride.len() {
            return Err(self.err(format!(
                "{func}: size {} and stride {} differ in length",
                crate::error::shape_str(&size),
                crate::error::shape_str(&stride)
            )));
        }
        let dtype = dtype.unwrap_or(storage.dtype);
        self.add(Obj::Tensor(TensorDesc { storage, dtype, offset, size, stride, parameter: false }))
    }

    fn opaque(&mut self, type_name: &str, unsupported: Option<&str>, args: Option<Value>) -> Result<Value> {
        self.charge(type_name.len() as u64 + unsupported.map_or(0, |u| u.len() as u64))?;
        self.add(Obj::Opaque { type_name: type_name.to_string(), unsupported: unsupported.map(str::to_string), args })
    }

    fn call(&mut self, func: &Value, args: Value, depth: usize) -> Result<Value> {
        if depth > 16 {
            return Err(self.err("rebuild calls nested too deeply"));
        }
        let Value::Global(g) = func else {
            return Err(self.err(format!("REDUCE on a {}, not a global", self.arena.type_name(func))));
        };
        let g = g.clone();
        let name = &*g;
        match name {
            "collections.OrderedDict" | "collections.Counter" => {
                let kind = if name == "collections.Counter" { DictKind::Counter } else { DictKind::OrderedDict };
                let a = self.args(name, &args, 0, 1)?;
                let v = self.add(Obj::Dict(kind, Dict::default()))?;
                let Value::Obj(id) = v else { return Err(self.err("internal: a dict is not an object")) };
                if let Some(init) = a.first() {
                    // A copy of a dict costs what building it did; pairs are charged as set.
                    let cost = match (self.arena.dict(init), self.arena.seq(init)) {
                        (Some((_, d)), _) => d.cost.saturating_add(d.items.len() as u64 * VALUE_COST),
                        (None, Some(seq)) => seq.len() as u64 * 2 * VALUE_COST,
                        _ => {
                            return Err(self.err(format!("{name}: cannot build from a {}", self.arena.type_name(init))))
                        }
                    };
                    self.charge(cost)?;
                    if let Some((_, d)) = self.arena.dict(init) {
                        // A copy of a dict keeps its items and their index as they are.
                        let copy = d.clone();
                        self.arena.objs[id] = Obj::Dict(kind, copy);
                        return Ok(v);
                    }
                    let pairs: Vec<(Value, Value)> = {
                        let mut out = Vec::new();
                        for p in self.arena.seq(init).unwrap_or_default() {
                            match self.arena.seq(p) {
                                Some([k, v]) => out.push((k.clone(), v.clone())),
                                _ => return Err(self.err(format!("{name}: items are not pairs"))),
                            }
                        }
                        out
                    };
                    for (k, val) in pairs {
                        if let Err(m) = self.arena.set_item(id, k, val, self.budget) {
                            return Err(self.err(m));
                        }
                    }
                }
                Ok(v)
            }
            "builtins.set" => {
                let a = self.args(name, &args, 0, 1)?;
                let items = match a.first() {
                    Some(v) => self.arena.seq(v).ok_or_else(|| self.err("set: argument is not a list"))?.to_vec(),
                    None => Vec::new(),
                };
                self.charge_values(items.len())?;
                self.add(Obj::Set(items))
            }
            "builtins.bytearray" | "builtins.complex" | "torch.device" => {
                let type_name = name.rsplit('.').next().unwrap_or(name).to_string();
                self.opaque(&type_name, None, None)
            }
            "_codecs.encode" => {
                let a = self.args(name, &args, 1, 2)?;
                let Value::Str(s) = &a[0] else { return Err(self.err("_codecs.encode: not a string")) };
                // A new bytes object each call, however often the string is memoized and reused.
                self.charge(s.len() as u64)?;
                let latin1 = match a.get(1) {
                    Some(Value::Str(enc)) => matches!(&**enc, "latin1" | "latin-1" | "iso-8859-1"),
                    _ => false,
                };
                let bytes: Vec<u8> = if s.is_ascii() {
                    s.as_bytes().to_vec()
                } else if latin1 {
                    s.chars()
                        .map(|c| u8::try_from(c as u32).map_err(|_| self.err("latin1: char > 255")))
                        .collect::<Result<_>>()?
                } else {
                    s.as_bytes().to_vec()
                };
                Ok(Value::Bytes(Rc::from(bytes)))
            }
            "torch.Size" => {
                let a = self.args(name, &args, 0, 1)?;
                let inner = match a.first() {
                    Some(v) => v.clone(),
                    None => self.add(Obj::Tuple(Vec::new()))?,
                };
                self.ints("torch.Size", &inner)?;
                self.opaque("Size", None, Some(inner))
            }
            "torch._utils._rebuild_tensor" => {
                let a = self.args(name, &args, 4, 4)?;
                self.rebuild_tensor(name, &a, None)
            }
            "torch._utils._rebuild_tensor_v2" => {
                let a = self.args(name, &args, 6, 7)?;
                self.rebuild_tensor(name, &a, None)
            }
            "torch._utils._rebuild_tensor_v3" => {
                let a = self.args(name, &args, 7, 8)?;
                let dtype = match &a[6] {
                    Value::Global(d) => d.strip_prefix("torch.").and_then(DType::from_name),
                    _ => None,
                };
                let dtype = dtype.ok_or_else(|| self.err(format!("{name}: argument 7 is not a dtype")))?;
                self.rebuild_tensor(name, &a, Some(dtype))
            }
            "torch._utils._rebuild_parameter"
            | "torch._utils._rebuild_parameter_with_state"
            | "torch.nn.parameter.Parameter" => {
                let (min, max) = match name {
                    "torch._utils._rebuild_parameter" => (3, 3),
                    "torch._utils._rebuild_parameter_with_state" => (4, 4),
                    _ => (0, 2),
                };
                let a = self.args(name, &args, min, max)?;
                let Some(data) = a.first().cloned() else {
                    return self.opaque("Parameter", Some(name), None);
                };
                match self.arena.get(&data) {
                    Some(Obj::Tensor(t)) => {
                        let mut t = t.clone();
                        t.parameter = true;
                        self.charge(16 * t.size.len() as u64)?;
                        self.add(Obj::Tensor(t))
                    }
                    Some(Obj::Opaque { unsupported: Some(_), .. }) => Ok(data),
                    _ => Err(self.err(format!("{name}: data is a {}, not a tensor", self.arena.type_name(&data)))),
                }
            }
            "torch._tensor._rebuild_from_type_v2" => {
                let a = self.args(name, &args, 4, 4)?;
                let inner = self.call(&a[0], a[2].clone(), depth + 1)?;
                if let (Value::Global(ty), Some(Obj::Tensor(t))) = (&a[1], self.arena.get(&inner)) {
                    if &**ty == "torch.nn.parameter.Parameter" {
                        let mut t = t.clone();
                        t.parameter = true;
                        self.charge(16 * t.size.len() as u64)?;
                        return self.add(Obj::Tensor(t));
                    }
                }
                Ok(inner)
            }
            f if f.starts_with("torch._utils._rebuild_") => self.opaque("Tensor", Some(f), None),
            other => {
                let type_name = other.rsplit('.').next().unwrap_or(other).to_string();
                self.opaque(&type_name, None, None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(data: &[u8]) -> Result<Pickled> {
        load(data, "<test>", &mut |_, _| Err(Error::InvalidArgument("no persistent ids".into())))
    }

    #[test]
    fn scalars_and_containers() {
        // {'a': [1, -2, 3.5, 'x', None, True], 'b': (1, 2)} written by hand in protocol 2.
        let mut p = vec![0x80, 2, b'}', b'q', 0, b'(', b'X', 1, 0, 0, 0, b'a', b']', b'(', b'K', 1, b'J'];
        p.extend_from_slice(&(-2i32).to_le_bytes());
        p.push(b'G');
        p.extend_from_slice(&3.5f64.to_be_bytes());
        p.extend_from_slice(&[
            0x8c, 1, b'x', b'N', 0x88, b'e', b'X', 1, 0, 0, 0, b'b', b'K', 1, b'K', 2, 0x86, b'u', b'.',
        ]);
        let r = run(&p).unwrap();
        let (kind, d) = r.arena.dict(&r.root).unwrap();
        assert_eq!(kind, DictKind::Dict);
        assert_eq!(d.items().len(), 2);
        let list = r.arena.seq(&d.items()[0].1).unwrap();
        assert!(matches!(list[1], Value::Int(-2)));
        assert!(matches!(list[2], Value::Float(f) if f == 3.5));
        assert_eq!(r.arena.type_name(&d.items()[1].1), "tuple");
    }

    #[test]
    fn forbidden_globals_are_named() {
        for (p, want) in [
            (&b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R."[..], "os.system"),
            (&b"\x80\x02c__builtin__\neval\n."[..], "builtins.eval"),
            (&b"\x80\x04\x8c\x05posix\x8c\x06system\x93."[..], "posix.system"),
            (&b"(ios\nsystem\nX\x02\x00\x00\x00ls."[..], "os.system"),
        ] {
            match run(p) {
                Err(Error::ForbiddenGlobal { global, .. }) => assert_eq!(global, want),
                other => panic!("{want}: {other:?}"),
            }
        }
    }

    #[test]
    fn allowlist() {
        for ok in [
            "torch.FloatStorage",
            "torch.cuda.HalfStorage",
            "torch.BFloat16Storage",
            "torch.storage.UntypedStorage",
            "torch._utils._rebuild_tensor_v2",
            "collections.OrderedDict",
            "torch.float8_e4m3fn",
            "torch.cuda.LongTensor",
            "torch.sparse.FloatTensor",
        ] {
            assert!(is_allowed_global(ok), "{ok}");
        }
        for bad in [
            "torch.load",
            "torch._utils._rebuild_evil",
            "builtins.getattr",
            "torch.cuda.QInt8Storage",
            "torch.sparse.BoolTensor",
            "torch.cuda.UntypedStorage",
            "numpy.core",
        ] {
            assert!(!is_allowed_global(bad), "{bad}");
        }
    }

    /// Asserts `p` is refused by the budget, quickly.
    #[track_caller]
    fn refused_by_budget(p: &[u8]) {
        let start = std::time::Instant::now();
        match run(p) {
            Err(Error::Format { message, .. }) => assert!(message.contains("resource budget of"), "{message}"),
            other => panic!("expected the budget to refuse it, got {other:?}"),
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(20), "{:?}", start.elapsed());
    }

    #[test]
    fn budget_refuses_bombs_as_they_are_built() {
        // {t: None} with t = (t, t) nested 30 times: 2^30 key nodes, refused while hashing.
        let mut p = vec![0x80, 2, b'}', b'K', 1];
        for _ in 0..30 {
            p.extend_from_slice(b"2\x86");
        }
        p.extend_from_slice(b"Ns.");
        refused_by_budget(&p);
        // OrderedDict(memo[0]) copied 100 000 times: each copy costs what building it did.
        let mut p = vec![0x80, 2, b']', b'}', b'q', 0, b'('];
        for i in 0..2000u16 {
            p.push(b'M');
            p.extend_from_slice(&i.to_le_bytes());
            p.push(b'N');
        }
        p.extend_from_slice(b"u0ccollections\nOrderedDict\nq\x01");
        p.push(b'0');
        for _ in 0..100_000 {
            p.extend_from_slice(b"h\x01h\x00\x85Ra");
        }
        p.push(b'.');
        refused_by_budget(&p);
        // _codecs.encode of one memoized 256 KiB string, 10 000 times.
        let mut p = vec![0x80, 2, b']', b'X'];
        p.extend_from_slice(&(1u32 << 18).to_le_bytes());
        p.extend(std::iter::repeat_n(b'a', 1 << 18));
        p.extend_from_slice(b"q\x000c_codecs\nencode\nq\x010");
        for _ in 0..10_000 {
            p.extend_from_slice(b"h\x01h\x00\x85Ra");
        }
        p.push(b'.');
        refused_by_budget(&p);
        // 48 M pushes of None from a file the budget sizes at 1 KiB.
        let mut p = vec![0x80, 2];
        p.extend(std::iter::repeat_n(b'N', 48 << 20));
        p.push(b'.');
        let mut budget = Budget::for_file_len(1024);
        let r = load_with_budget(&p, "<test>", &mut budget, &mut |_, _| Err(Error::InvalidArgument("none".into())));
        assert!(matches!(r, Err(Error::Format { message, .. }) if message.contains("1024-byte file")));
        // A legitimate pickle uses a small part of its budget.
        let p = b"\x80\x02}q\x00(X\x01\x00\x00\x00aK\x01X\x01\x00\x00\x00bK\x02u.";
        let mut budget = Budget::for_file_len(p.len() as u64);
        load_with_budget(p, "<test>", &mut budget, &mut |_, _| Err(Error::InvalidArgument("none".into()))).unwrap();
        assert!(budget.used() < 2048, "{}", budget.used());
    }

    #[test]
    fn memo_shares_objects_and_missing_entries_fail() {
        // d = {}; memo[0] = d; [d, d] with d filled after memoization.
        let p = b"\x80\x02]q\x00(}q\x01h\x01e.";
        let r = run(p).unwrap();
        assert_eq!(r.arena.seq(&r.root).unwrap().len(), 2);
        assert!(run(b"\x80\x02h\x07.").is_err());
        assert!(run(b"\x80\x02j\xff\xff\xff\xff.").is_err());
        assert!(run(b"\x80\x02.").is_err());
        assert!(run(b"\x80\x02t.").is_err());
        assert!(run(b"\x80\x02X\xff\xff\xff\x7f").is_err());
    }
}
