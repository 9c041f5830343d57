//! `tchvision inspect FILE [--json] [--key K]`: what a checkpoint holds.
//!
//! Prints the format found (zip, legacy, tar, safetensors), the state-dict key when the tensors
//! were nested under one, each tensor's key, dtype (torch's name), shape and bytes, the other
//! (non-tensor) entries with their type, and totals. Keys are shown as stored (a DataParallel
//! `module.` prefix is kept). `--json` prints
//! `{"format", "tensors": [{"key", "dtype", "shape", "bytes"}], "other": [{"key", "type"}]}`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;
use tchvision::checkpoint::{self, torch_dtype_name, ReadOptions};

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
    bytes: u64,
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
        .map(|(k, t)| {
            let kind = t.kind();
            TensorEntry {
                key: k.clone(),
                dtype: torch_dtype_name(kind),
                shape: t.size(),
                bytes: t.numel() as u64 * kind.elt_size_in_bytes() as u64,
            }
        })
        .collect();
    let listing = Listing {
        format: ckpt.format.to_string(),
        tensors,
        other: ckpt.other.iter().map(|(k, ty)| OtherEntry { key: k.clone(), ty: ty.clone() }).collect(),
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &listing)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "{}: {} format", args.file.display(), listing.format)?;
    if let Some(k) = &ckpt.state_dict_key {
        writeln!(out, "state dict under key `{k}`")?;
    }
    let kw = listing.tensors.iter().map(|t| t.key.len()).max().unwrap_or(0).max(3);
    let dw = listing.tensors.iter().map(|t| t.dtype.len()).max().unwrap_or(0).max(5);
    let shapes: Vec<String> = listing.tensors.iter().map(|t| format!("{:?}", t.shape)).collect();
    let sw = shapes.iter().map(String::len).max().unwrap_or(0).max(5);
    writeln!(out, "{:kw$}  {:dw$}  {:sw$}  {:>12}", "key", "dtype", "shape", "bytes")?;
    for (t, shape) in listing.tensors.iter().zip(&shapes) {
        writeln!(out, "{:kw$}  {:dw$}  {:sw$}  {:>12}", t.key, t.dtype, shape, t.bytes)?;
    }
    if !listing.other.is_empty() {
        writeln!(out, "other entries:")?;
        let ow = listing.other.iter().map(|o| o.key.len()).max().unwrap_or(0);
        for o in &listing.other {
            writeln!(out, "  {:ow$}  {}", o.key, o.ty)?;
        }
    }
    let bytes: u64 = listing.tensors.iter().map(|t| t.bytes).sum();
    let numel: i64 = listing.tensors.iter().map(|t| t.shape.iter().product::<i64>()).sum();
    writeln!(
        out,
        "total: {} tensors, {numel} elements, {bytes} bytes ({:.1} MiB); {} other entries",
        listing.tensors.len(),
        bytes as f64 / (1024.0 * 1024.0),
        listing.other.len()
    )?;
    Ok(())
}
