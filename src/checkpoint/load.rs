//! Loading a state dict into a module: PyTorch's `load_state_dict(strict=...)` and the
//! tutorial's partial-loading recipe, in one call whose options are data, returning a
//! [`LoadReport`].
//!
//! The tutorial loads a pretrained ResNet-50 into its own network like this:
//!
//! ```python
//! pretrained_dict = torch.load('/path/to/resnet50.pth')
//! pretrained_dict.pop('fc.weight'); pretrained_dict.pop('fc.bias')
//! model_dict = model.state_dict()
//! pretrained_dict = {k: v for k, v in pretrained_dict.items() if k in model_dict}
//! model_dict.update(pretrained_dict)
//! model.load_state_dict(model_dict)
//! ```
//!
//! Here that is [`load_file`] with [`LoadOptions::partial`] and a drop rule `^fc\.`. The recipe
//! has a trap the tutorial does not mention: its network holds the backbone as `self.resnet50`,
//! so every model key is `resnet50.conv1.weight`, … while the file says `conv1.weight`; the
//! filter `if k in model_dict` keeps nothing and the recipe silently loads **nothing**. The
//! [`LoadReport`] makes that impossible to miss (its `Display` warns and names the prefix to
//! add), and [`LoadOptions::add_prefix`] `"resnet50."` fixes it.
//!
//! ## Key transforms
//!
//! Each key of the file goes through, in this order:
//! 1. **drop**: a key matching any of [`LoadOptions::drop`] (tested on the key as stored in the
//!    file) is skipped and listed in [`LoadReport::dropped`];
//! 2. **rename**: every rule of [`LoadOptions::rename`] is applied in turn
//!    (`Regex::replace_all`, so `$1` refers to captures);
//! 3. **strip_prefix**: removed from the keys that start with it;
//! 4. **add_prefix**: prepended to every key.
//!
//! Then every module of the model, in pre-order, may upgrade the entries under its prefix
//! ([`Module::upgrade_state_dict`], torch's `_load_from_state_dict`), knowing the version the
//! file's `_metadata` records for it (none for safetensors files and plain dicts, as in torch):
//! rename the keys of an older version of itself (torchvision's ViT `MLPBlock` below version 2:
//! `linear_1.*` → `0.*`) or adapt a value (ViT's position embedding for another image size,
//! listed in [`LoadReport::adapted`]).
//!
//! A key whose final name differs from the file's is listed in [`LoadReport::renamed`].
//!
//! ## All or nothing
//!
//! Every key is matched, every shape checked and every value converted to the model tensor's
//! dtype and device *before* anything is written; only then is each value copied into the
//! model under `no_grad`. So any error (a strict-mode difference, a shape mismatch that is not
//! skipped, a failed conversion) leaves every parameter and buffer unchanged.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

use regex::Regex;
use serde::Serialize;
use tch::{Kind, Tensor};

use super::ReadOptions;
use crate::error::{printable, Error, Result};
use crate::nn::{Module, ModuleExt};

/// How to load a state dict into a module (see the [module docs](self) for the order of the
/// key transforms).
///
/// The default is PyTorch's `load_state_dict(sd)`: strict, no key changes, a shape mismatch is
/// an error.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Fail (changing nothing) if any model key is missing from the file, any file key is not
    /// in the model, or any shape differs, as `strict=True`. Default `true`.
    pub strict: bool,
    /// Skip the file's keys matching any of these (e.g. `^fc\.` for a new classifier).
    pub drop: Vec<Regex>,
    /// Rewrite keys: each `(pattern, replacement)` in turn, replacement with `$1`-style captures.
    pub rename: Vec<(Regex, String)>,
    /// Prepended to every key after the other transforms (`"resnet50."` to load a plain
    /// ResNet-50 file into a network that holds it as `self.resnet50`).
    pub add_prefix: Option<String>,
    /// Removed from the keys that start with it (`"module."` for DataParallel files).
    pub strip_prefix: Option<String>,
    /// A key present in both whose shapes differ: an error (`false`, the default, as PyTorch)
    /// or skipped and listed in [`LoadReport::mismatched`] (`true`, non-strict loads only).
    pub skip_mismatched: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            strict: true,
            drop: Vec::new(),
            rename: Vec::new(),
            add_prefix: None,
            strip_prefix: None,
            skip_mismatched: false,
        }
    }
}

fn regex(pattern: &str) -> Result<Regex> {
    Regex::new(pattern).map_err(|e| Error::InvalidArgument(format!("invalid key pattern `{pattern}`: {e}")))
}

impl LoadOptions {
    /// Strict loading (the default): every key must match with the same shape.
    pub fn strict() -> Self {
        Self::default()
    }

    /// Non-strict loading (`strict=False`): missing and unexpected keys are reported, not errors.
    pub fn partial() -> Self {
        LoadOptions { strict: false, ..Self::default() }
    }

    /// Adds a drop rule (a regular expression on the file's keys).
    pub fn drop_keys(mut self, pattern: &str) -> Result<Self> {
        self.drop.push(regex(pattern)?);
        Ok(self)
    }

    /// Adds a rename rule: keys matching `pattern` are rewritten with `replacement` (`$1`, …).
    pub fn rename_keys(mut self, pattern: &str, replacement: &str) -> Result<Self> {
        self.rename.push((regex(pattern)?, replacement.to_string()));
        Ok(self)
    }

    /// Sets the prefix prepended to every key.
    pub fn add_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.add_prefix = Some(prefix.into());
        self
    }

    /// Sets the prefix removed from the keys that have it.
    pub fn strip_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.strip_prefix = Some(prefix.into());
        self
    }

    /// Skips (and reports) keys whose shapes differ instead of failing.
    pub fn skip_mismatched(mut self, skip: bool) -> Self {
        self.skip_mismatched = skip;
        self
    }

    /// The model module path a module path of the file's `_metadata` becomes: `strip_prefix`
    /// and `add_prefix` applied as to a key (`"module"` → `""` with strip_prefix `"module."`);
    /// renames and drops, written for keys, are not applied.
    pub fn map_module_path(&self, file_path: &str) -> String {
        let mut key = if file_path.is_empty() { String::new() } else { format!("{file_path}.") };
        if let Some(p) = &self.strip_prefix {
            if let Some(rest) = key.strip_prefix(p.as_str()) {
                key = rest.to_string();
            }
        }
        if let Some(p) = &self.add_prefix {
            key.insert_str(0, p);
        }
        key.trim_end_matches('.').to_string()
    }

    /// The model key a file key becomes (`None`: dropped).
    pub fn map_key(&self, file_key: &str) -> Option<String> {
        if self.drop.iter().any(|r| r.is_match(file_key)) {
            return None;
        }
        let mut key = file_key.to_string();
        for (re, rep) in &self.rename {
            key = re.replace_all(&key, rep.as_str()).into_owned();
        }
        if let Some(p) = &self.strip_prefix {
            if let Some(rest) = key.strip_prefix(p.as_str()) {
                key = rest.to_string();
            }
        }
        if let Some(p) = &self.add_prefix {
            key.insert_str(0, p);
        }
        Some(key)
    }
}

/// A key present in the model and in the file with different shapes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// The model's key.
    pub key: String,
    /// The model tensor's shape.
    pub model_shape: Vec<i64>,
    /// The file tensor's shape.
    pub file_shape: Vec<i64>,
}

/// A file key that was loaded (or looked up) under another name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Renamed {
    /// The key in the file.
    pub from: String,
    /// The key after rename, strip_prefix and add_prefix.
    pub to: String,
}

/// What a load did. Serialises (serde) with exactly these fields; `Display` is for people and
/// warns loudly when nothing was loaded, suggesting the prefix that would have matched.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LoadReport {
    /// Model keys that received a value, in the model's order.
    pub loaded: Vec<String>,
    /// Model keys the file had no value for (they keep their current values), model order.
    pub missing: Vec<String>,
    /// File keys (after the transforms) the model does not have, file order.
    pub unexpected: Vec<String>,
    /// Keys in both with different shapes (not loaded), model order.
    pub mismatched: Vec<Mismatch>,
    /// File keys skipped by a drop rule, file order.
    pub dropped: Vec<String>,
    /// File keys whose name changed through the transforms, file order.
    pub renamed: Vec<Renamed>,
    /// Values a module's load hook reshaped to fit it ([`Module::upgrade_state_dict`]: ViT's
    /// position embedding interpolated for another image size), file order: the model key,
    /// the shape it now has (`model_shape`) and the file's (`file_shape`).
    pub adapted: Vec<Mismatch>,
}

/// A prefix difference that explains many of the unmatched keys: the file's keys start with
/// `file_prefix` where the model's start with `model_prefix` (either may be empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrefixHint {
    /// What the file's keys have in front (`""`: nothing).
    pub file_prefix: String,
    /// What the model's keys have in front (`""`: nothing).
    pub model_prefix: String,
    /// How many unexpected keys would match a missing model key after the change.
    pub matches: usize,
}

impl PrefixHint {
    /// The options to set, in words, with the `tchvision load` flags: `add_prefix "resnet50."
    /// (--prefix resnet50.)`, `strip_prefix "module." (--strip-prefix module.)`, or both.
    pub fn advice(&self) -> String {
        match (self.file_prefix.is_empty(), self.model_prefix.is_empty()) {
            (true, _) => format!("add_prefix \"{}\" (--prefix {})", self.model_prefix, self.model_prefix),
            (false, true) => format!("strip_prefix \"{}\" (--strip-prefix {})", self.file_prefix, self.file_prefix),
            (false, false) => format!(
                "strip_prefix \"{}\" and add_prefix \"{}\" (--strip-prefix {} --prefix {})",
                self.file_prefix, self.model_prefix, self.file_prefix, self.model_prefix
            ),
        }
    }
}

/// Every way to split `key` at a dot boundary into (prefix ending in `.` or empty, rest).
fn splits(key: &str) -> impl Iterator<Item = (&str, &str)> {
    std::iter::once((&key[..0], key)).chain(key.match_indices('.').map(move |(i, _)| (&key[..=i], &key[i + 1..])))
}

impl LoadReport {
    /// The number of model tensors (loaded, missing or mismatched).
    pub fn model_len(&self) -> usize {
        self.loaded.len() + self.missing.len() + self.mismatched.len()
    }

    /// The number of tensors in the file (loaded, unexpected, mismatched or dropped).
    pub fn file_len(&self) -> usize {
        self.loaded.len() + self.unexpected.len() + self.mismatched.len() + self.dropped.len()
    }

    /// Whether every model key was loaded and every file key used (dropped keys aside).
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.mismatched.is_empty()
    }

    /// Whether nothing was loaded although both sides had keys: almost always a naming problem.
    pub fn nothing_matched(&self) -> bool {
        self.loaded.is_empty() && self.model_len() > 0 && self.file_len() > self.dropped.len()
    }

    /// The prefix difference between the unexpected file keys and the missing model keys that
    /// explains the most of them (at least half of the smaller list), if any.
    pub fn prefix_hint(&self) -> Option<PrefixHint> {
        if self.missing.is_empty() || self.unexpected.is_empty() {
            return None;
        }
        // rest → the prefixes of missing model keys that end with it.
        let mut by_rest: HashMap<&str, Vec<&str>> = HashMap::new();
        for m in &self.missing {
            for (p, rest) in splits(m) {
                if !rest.is_empty() {
                    by_rest.entry(rest).or_default().push(p);
                }
            }
        }
        // Pairs are counted on at most the first PREFIX_HINT_SAMPLE unexpected keys: a hostile
        // file of a million keys that share a suffix with every missing key would otherwise
        // make millions × model-size pairs.
        const PREFIX_HINT_SAMPLE: usize = 2048;
        let unexpected = &self.unexpected[..self.unexpected.len().min(PREFIX_HINT_SAMPLE)];
        let mut counts: HashMap<(&str, &str), usize> = HashMap::new();
        let mut budget: usize = 1 << 22;
        for u in unexpected {
            let mut seen = HashSet::new();
            for (fp, rest) in splits(u) {
                for mp in by_rest.get(rest).into_iter().flatten() {
                    budget = budget.saturating_sub(1);
                    if (fp, *mp) != ("", "") && seen.insert((fp, *mp)) {
                        *counts.entry((fp, *mp)).or_default() += 1;
                    }
                }
            }
            if budget == 0 {
                break;
            }
        }
        let need = (self.missing.len().min(unexpected.len()) / 2).max(1);
        counts
            .into_iter()
            .filter(|&(_, n)| n >= need)
            .max_by(|a, b| a.1.cmp(&b.1).then((b.0 .0.len() + b.0 .1.len()).cmp(&(a.0 .0.len() + a.0 .1.len()))))
            .map(|((fp, mp), n)| PrefixHint { file_prefix: fp.into(), model_prefix: mp.into(), matches: n })
    }

    /// One line for error messages: the counts and the first keys of each problem.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            parts.push(format!("{} missing key(s): {}", self.missing.len(), list(&self.missing, 5)));
        }
        if !self.unexpected.is_empty() {
            parts.push(format!("{} unexpected key(s): {}", self.unexpected.len(), list(&self.unexpected, 5)));
        }
        if !self.mismatched.is_empty() {
            let items: Vec<String> = self.mismatched.iter().map(mismatch_str).collect();
            parts.push(format!("{} shape mismatch(es): {}", self.mismatched.len(), list(&items, 5)));
        }
        if parts.is_empty() {
            parts.push(format!("loaded all {} keys", self.loaded.len()));
        }
        let mut s = parts.join("; ");
        if self.nothing_matched() {
            s.push_str(&format!(
                "; nothing matched: none of the file's {} keys is a model key",
                self.file_len() - self.dropped.len()
            ));
        }
        if let Some(h) = self.prefix_hint() {
            s.push_str(&format!("; {} keys differ only by a prefix: load with {}", h.matches, h.advice()));
        }
        s
    }
}

fn mismatch_str(m: &Mismatch) -> String {
    format!(
        "{} (model {}, file {})",
        printable(&m.key),
        crate::error::shape_str(&m.model_shape),
        crate::error::shape_str(&m.file_shape)
    )
}

/// Keys for people: control characters escaped, the first `max`, then the count of the rest.
fn list<S: AsRef<str>>(items: &[S], max: usize) -> String {
    let shown: Vec<String> = items.iter().take(max).map(|s| printable(s.as_ref()).into_owned()).collect();
    let mut s = shown.join(", ");
    if items.len() > max {
        s = format!("{s}, … and {} more ({} in all)", items.len() - max, items.len());
    }
    s
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOW: usize = 8;
        if self.nothing_matched() {
            writeln!(
                f,
                "WARNING: NOTHING WAS LOADED: none of the file's {} keys matches one of the model's {} keys; \
                 the model is unchanged.",
                self.file_len() - self.dropped.len(),
                self.model_len()
            )?;
        }
        if let Some(h) = self.prefix_hint() {
            let fp = if h.file_prefix.is_empty() {
                "nothing".to_string()
            } else {
                format!("`{}`", printable(&h.file_prefix))
            };
            let mp = if h.model_prefix.is_empty() {
                "nothing".to_string()
            } else {
                format!("`{}`", printable(&h.model_prefix))
            };
            writeln!(
                f,
                "WARNING: {} file keys differ from model keys only by a prefix: the file has {fp} where the \
                 model has {mp} in front (file `{}` vs model `{}`). Load with {}.",
                h.matches,
                printable(
                    self.unexpected.iter().find(|u| u.starts_with(&h.file_prefix)).map(String::as_str).unwrap_or("")
                ),
                printable(
                    self.missing.iter().find(|m| m.starts_with(&h.model_prefix)).map(String::as_str).unwrap_or("")
                ),
                printable(&h.advice())
            )?;
        }
        writeln!(
            f,
            "loaded {} of {} model tensors from {} file tensors ({} missing, {} unexpected, {} mismatched, \
             {} dropped, {} renamed)",
            self.loaded.len(),
            self.model_len(),
            self.file_len(),
            self.missing.len(),
            self.unexpected.len(),
            self.mismatched.len(),
            self.dropped.len(),
            self.renamed.len()
        )?;
        let section = |f: &mut fmt::Formatter<'_>, name: &str, items: Vec<String>| -> fmt::Result {
            if items.is_empty() {
                return Ok(());
            }
            writeln!(f, "  {name} ({}):", items.len())?;
            for it in items.iter().take(SHOW) {
                writeln!(f, "    {}", printable(it))?;
            }
            if items.len() > SHOW {
                writeln!(
                    f,
                    "    … and {} more (the JSON report, `--json`, lists all {})",
                    items.len() - SHOW,
                    items.len()
                )?;
            }
            Ok(())
        };
        section(f, "missing (kept their values)", self.missing.clone())?;
        section(f, "unexpected (ignored)", self.unexpected.clone())?;
        section(f, "mismatched (skipped)", self.mismatched.iter().map(mismatch_str).collect())?;
        section(f, "dropped", self.dropped.clone())?;
        section(f, "adapted by the model", self.adapted.iter().map(mismatch_str).collect())?;
        section(f, "renamed", self.renamed.iter().map(|r| format!("{} -> {}", r.from, r.to)).collect())?;
        Ok(())
    }
}

/// torch's name of a dtype (`float32`, `bfloat16`, `int64`, …), for messages.
pub fn torch_dtype_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Uint8 => "uint8",
        Kind::Int8 => "int8",
        Kind::Int16 => "int16",
        Kind::Int => "int32",
        Kind::Int64 => "int64",
        Kind::Half => "float16",
        Kind::Float => "float32",
        Kind::Double => "float64",
        Kind::ComplexHalf => "complex32",
        Kind::ComplexFloat => "complex64",
        Kind::ComplexDouble => "complex128",
        Kind::Bool => "bool",
        Kind::QInt8 => "qint8",
        Kind::QUInt8 => "quint8",
        Kind::QInt32 => "qint32",
        Kind::BFloat16 => "bfloat16",
        Kind::Float8e5m2 => "float8_e5m2",
        Kind::Float8e4m3fn => "float8_e4m3fn",
        Kind::Float8e5m2fnuz => "float8_e5m2fnuz",
        Kind::Float8e4m3fnuz => "float8_e4m3fnuz",
    }
}

fn is_complex(k: Kind) -> bool {
    matches!(k, Kind::ComplexHalf | Kind::ComplexFloat | Kind::ComplexDouble)
}

/// Loads `tensors` (a state dict, e.g. [`Checkpoint::tensors`](super::Checkpoint)) into
/// `module`, as PyTorch's `module.load_state_dict(sd, strict=opts.strict)` after the key
/// transforms of `opts` (see the [module docs](self)).
///
/// Each value is converted to its model tensor's dtype and device (as `copy_` would) and
/// copied in under `no_grad`. Errors, all of which leave the model unchanged:
/// * [`Error::StrictLoad`] in strict mode when a key is missing, unexpected or mismatched (the
///   message lists them and suggests a prefix when one explains the difference);
/// * [`Error::ShapeMismatch`] (the first mismatch, in model order) in non-strict mode without
///   [`LoadOptions::skip_mismatched`];
/// * [`Error::InvalidArgument`] when two file keys map to the same model key, or a complex
///   value would be loaded into a real tensor;
/// * [`Error::Torch`] when a conversion fails.
///
/// The state dict has no `_metadata` here, so every module sees version `None`, as in torch
/// for a plain dict: a BatchNorm2d's missing `num_batches_tracked` keeps the model's value (see
/// [`load_checkpoint`]).
pub fn load_state_dict<M: Module + ?Sized>(
    module: &M,
    tensors: Vec<(String, Tensor)>,
    opts: &LoadOptions,
) -> Result<LoadReport> {
    load_versioned(module, tensors, &[], opts)
}

/// Loads a checkpoint ([`read`](super::read)) into `module` as [`load_state_dict`] does, after
/// torch's `_load_from_state_dict` version handling with the file's `_metadata`
/// ([`Checkpoint::versions`](super::Checkpoint::versions), module paths mapped by
/// [`LoadOptions::map_module_path`]):
/// * every module's [`Module::check_version`] sees the version the file records for it (`None`
///   when it records none) and may refuse the load ([`Error::InvalidArgument`] naming the
///   version, e.g. a version-1 MNASNet with alpha ≠ 1), before anything changes;
/// * a BatchNorm2d whose version is `None` or below 2 (files from before torch 0.4.1) and
///   whose `num_batches_tracked` the file lacks keeps the model's value, as torch fills it in;
///   the key counts as loaded. (Only where the file gave that module's `running_mean`: a file
///   whose keys match nothing still reports every key missing.)
pub fn load_checkpoint<M: Module + ?Sized>(
    module: &M,
    ckpt: super::Checkpoint,
    opts: &LoadOptions,
) -> Result<LoadReport> {
    load_versioned(module, ckpt.tensors, &ckpt.versions, opts)
}

fn load_versioned<M: Module + ?Sized>(
    module: &M,
    tensors: Vec<(String, Tensor)>,
    versions: &[(String, i64)],
    opts: &LoadOptions,
) -> Result<LoadReport> {
    let versions: HashMap<String, i64> = versions.iter().map(|(p, v)| (opts.map_module_path(p), *v)).collect();
    for (path, m) in module.named_modules() {
        m.check_version(versions.get(&path).copied())?;
    }
    let model = module.state_dict();
    let index: HashMap<&str, usize> = model.iter().enumerate().map(|(i, (k, _))| (k.as_str(), i)).collect();

    let mut report = LoadReport::default();
    // Per model index: the file value to load, or its mismatch.
    let mut values: Vec<Option<(String, Tensor)>> = (0..model.len()).map(|_| None).collect();
    let mut mismatched: Vec<Option<Mismatch>> = vec![None; model.len()];
    let mut source_of: HashMap<String, String> = HashMap::new();
    let mut file_keys = Vec::new();
    let mut entries = Vec::new();
    for (file_key, value) in tensors {
        match opts.map_key(&file_key) {
            Some(key) => {
                file_keys.push(file_key);
                entries.push((key, value));
            }
            None => report.dropped.push(file_key),
        }
    }
    // The modules' own upgrades (torch's `_load_from_state_dict`), parents first.
    let file_shapes: Vec<Vec<i64>> = entries.iter().map(|(_, t)| t.size()).collect();
    for (path, m) in module.named_modules() {
        let version = versions.get(&path).copied();
        let prefix = if path.is_empty() { path } else { format!("{path}.") };
        m.upgrade_state_dict(&prefix, version, &mut entries)?;
    }
    for ((key, value), file_shape) in entries.iter().zip(file_shapes) {
        if value.size() != file_shape {
            report.adapted.push(Mismatch { key: key.clone(), model_shape: value.size(), file_shape });
        }
    }
    for (file_key, (key, value)) in file_keys.into_iter().zip(entries) {
        if let Some(other) = source_of.get(&key) {
            return Err(Error::InvalidArgument(format!(
                "file keys `{other}` and `{file_key}` both become `{key}`; the model is unchanged"
            )));
        }
        source_of.insert(key.clone(), file_key.clone());
        if key != file_key {
            report.renamed.push(Renamed { from: file_key.clone(), to: key.clone() });
        }
        match index.get(key.as_str()) {
            None => report.unexpected.push(key),
            Some(&i) => {
                let (model_shape, file_shape) = (model[i].1.size(), value.size());
                if model_shape != file_shape {
                    mismatched[i] = Some(Mismatch { key, model_shape, file_shape });
                } else {
                    values[i] = Some((file_key, value));
                }
            }
        }
    }
    // torch's BatchNorm `_load_from_state_dict`: before version 2 there was no
    // num_batches_tracked; a missing one keeps the module's value. Applied only where the file
    // gave that module's running_mean, so a file that matches nothing still says so.
    let fills_in = |key: &str, values: &[Option<(String, Tensor)>]| -> bool {
        let (path, mean) = match key.strip_suffix(".num_batches_tracked") {
            Some(p) => (p, format!("{p}.running_mean")),
            None if key == "num_batches_tracked" => ("", "running_mean".to_string()),
            None => return false,
        };
        let old = versions.get(path).is_none_or(|&v| v < 2);
        let has_stats = index.get(mean.as_str()).is_some_and(|&j| values[j].is_some());
        old && has_stats && module.get_submodule(path).is_ok_and(|m| m.kind() == crate::nn::ModuleKind::BatchNorm2d)
    };
    for (i, (key, _)) in model.iter().enumerate() {
        if values[i].is_some() {
            report.loaded.push(key.clone());
        } else if let Some(m) = mismatched[i].take() {
            report.mismatched.push(m);
        } else if fills_in(key, &values) {
            report.loaded.push(key.clone());
        } else {
            report.missing.push(key.clone());
        }
    }

    if opts.strict && !report.is_complete() {
        return Err(Error::StrictLoad(report.summary()));
    }
    if !opts.skip_mismatched {
        if let Some(m) = report.mismatched.first() {
            return Err(Error::ShapeMismatch {
                key: m.key.clone(),
                expected: m.model_shape.clone(),
                actual: m.file_shape.clone(),
            });
        }
    }

    // Convert every value first; nothing in the model changes until all succeeded.
    let mut ready = Vec::with_capacity(report.loaded.len());
    for (i, v) in values.into_iter().enumerate() {
        let Some((file_key, value)) = v else { continue };
        let (key, target) = &model[i];
        let (want, device) = (target.kind(), target.device());
        let have = value.f_kind().map_err(|e| Error::torch(format!("{file_key}: reading the dtype"), e))?;
        if is_complex(have) && !is_complex(want) {
            return Err(Error::InvalidArgument(format!(
                "{key}: cannot load a {} value into a {} tensor without discarding its imaginary part; the model is unchanged",
                torch_dtype_name(have),
                torch_dtype_name(want)
            )));
        }
        let converted = if have == want && value.device() == device {
            value
        } else {
            value.f_to_device_(device, want, false, false).map_err(|e| {
                Error::torch(
                    format!(
                        "{key}: converting {} {} to {} on the model's device (the model is unchanged)",
                        torch_dtype_name(have),
                        crate::error::shape_str(&value.size()),
                        torch_dtype_name(want)
                    ),
                    e,
                )
            })?
        };
        ready.push((i, converted));
    }

    let _guard = tch::no_grad_guard();
    for (i, value) in ready {
        let (key, target) = &model[i];
        let mut target = target.shallow_clone();
        // Same shape, dtype and device: copy_ cannot fail short of a libtorch internal error.
        target.f_copy_(&value).map_err(|e| Error::torch(format!("{key}: copying the loaded value"), e))?;
    }
    Ok(report)
}

/// Reads a checkpoint (`.pth` in any of PyTorch's formats, or `.safetensors`; see
/// [`read`](super::read)) with `read_opts` and loads its state dict into `module` with
/// [`load_checkpoint`] (its `_metadata` versions included). A strict-load error names the file.
pub fn load_file<M: Module + ?Sized>(
    module: &M,
    path: impl AsRef<Path>,
    read_opts: &ReadOptions,
    opts: &LoadOptions,
) -> Result<LoadReport> {
    let path = path.as_ref();
    let ckpt = super::read(path, read_opts)?;
    load_checkpoint(module, ckpt, opts).map_err(|e| match e {
        Error::StrictLoad(s) => Error::StrictLoad(format!("{}: {s}", path.display())),
        e => e,
    })
}
