//! `tchvision inspect FILE [--json] [--key K]`: what a checkpoint holds.
//!
//! Prints the format found (zip, legacy, tar, safetensors), the state-dict key when the tensors
//! were nested under one, each tensor's key, dtype (torch's name), shape and bytes, the other
//! (non-tensor) entries with their type, and totals. Keys are shown as stored (a DataParallel
//! `module.` prefix is kept). `--json` prints
//! `{"format", "tensors": [{"key", "dtype", "shape", "bytes"}], "other": [{"key", "type"}]}`.
//! The table escapes control characters in keys (`\n`, `\x1b`); the JSON holds them as they are.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;
use tchvision::checkpoint::{self, torch_dtype_name, ReadOptions};
use tchvision::error::{printable, shape_str};

use crate::common::pad;

/// Arguments of `tchvision inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The checkpoint: .pth/.pt/.bin (zip, legacy or tar format) or .safetensors.
    pub file: PathBuf,
    /// The key of the nested state dict (default: found automatically, e.g. `state_dict`).
    #[arg(long)]
    pub key: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct TensorEntry {
    key: String,
    dtype: &'static str,
    shape: Vec<i64>,
    /// `null` when the byte count does not fit 64 bits (a hostile shape).
    bytes: Option<u64>,
}

#[derive(Serialize)]
struct OtherEntry {
    key: String,
    #[serde(rename = "type")]
    ty: String,
}

#[derive(Serialize)]
struct Listing {
    format: String,
    tensors: Vec<TensorEntry>,
    other: Vec<OtherEntry>,
}

/// Runs `tchvision inspect`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let opts = ReadOptions {
        state_dict_key: args.key.clone(),
        strip_module_prefix: false,
        mmap: true,
        ..ReadOptions::default()
    };
    let ckpt = checkpoint::read(&args.file, &opts).with_context(|| format!("inspecting {}", args.file.display()))?;
    let tensors: Vec<TensorEntry> = ckpt
        .tensors
        .iter()
        .map(|(k, t)| TensorEntry {
            key: k.clone(),
            dtype: torch_dtype_name(t.kind()),
            shape: t.size(),
            bytes: checkpoint::materialized_bytes(t),
        })
        .collect();
    let listing = Listing {
        format: ckpt.format.to_string(),
        tensors,
        other: ckpt.other.iter().map(|(k, ty)| OtherEntry { key: k.clone(), ty: ty.clone() }).collect(),
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &listing).map_err(std::io::Error::from)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "{}: {} format", printable(&args.file.display().to_string()), listing.format)?;
    if let Some(k) = &ckpt.state_dict_key {
        writeln!(out, "state dict under key `{}`", printable(k))?;
    }
    let bytes_text = |b: Option<u64>| b.map(|b| b.to_string()).unwrap_or_else(|| "overflow".into());
    // Columns as wide as their widest cell, but keys past 80 characters do not widen theirs.
    let width = |it: &mut dyn Iterator<Item = usize>, min: usize| it.max().unwrap_or(0).max(min);
    let keys: Vec<String> = listing.tensors.iter().map(|t| printable(&t.key).into_owned()).collect();
    let shapes: Vec<String> = listing.tensors.iter().map(|t| shape_str(&t.shape)).collect();
    let kw = width(&mut keys.iter().map(|k| k.chars().count()).filter(|&n| n <= 80), 3);
    let dw = width(&mut listing.tensors.iter().map(|t| t.dtype.len()), 5);
    let sw = width(&mut shapes.iter().map(String::len).filter(|&n| n <= 80), 5);
    writeln!(out, "{}  {}  {}  {:>12}", pad("key", kw), pad("dtype", dw), pad("shape", sw), "bytes")?;
    for ((t, key), shape) in listing.tensors.iter().zip(&keys).zip(&shapes) {
        writeln!(out, "{}  {}  {}  {:>12}", pad(key, kw), pad(t.dtype, dw), pad(shape, sw), bytes_text(t.bytes))?;
    }
    if !listing.other.is_empty() {
        writeln!(out, "other entries:")?;
        let ow = width(&mut listing.other.iter().map(|o| printable(&o.key).chars().count()).filter(|&n| n <= 80), 0);
        for o in &listing.other {
            writeln!(out, "  {}  {}", pad(&o.key, ow), printable(&o.ty))?;
        }
    }
    // Totals in 128 bits: hostile shapes can describe more than 2^64 elements.
    let bytes: Option<u128> = listing.tensors.iter().try_fold(0u128, |n, t| n.checked_add(t.bytes? as u128));
    let numel: Option<u128> = listing.tensors.iter().try_fold(0u128, |n, t| {
        let e = t.shape.iter().try_fold(1u128, |e, &d| e.checked_mul(u128::try_from(d).ok()?))?;
        n.checked_add(e)
    });
    let text = |v: Option<u128>| v.map(|v| v.to_string()).unwrap_or_else(|| "more than 2^64".into());
    let mib = bytes.map(|b| format!(" ({:.1} MiB)", b as f64 / (1024.0 * 1024.0))).unwrap_or_default();
    writeln!(
        out,
        "total: {} tensors, {} elements, {} bytes{mib}; {} other entries",
        listing.tensors.len(),
        text(numel),
        text(bytes),
        listing.other.len()
    )?;
    Ok(())
}
