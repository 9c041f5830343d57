//! `tchvision convert IN OUT [--key K] [--json]`: a checkpoint's state dict to .pth or
//! .safetensors, chosen by OUT's extension (`.safetensors`; `.pth`, `.pt`, `.bin`, `.ckpt`).
//!
//! IN is any checkpoint `tchvision inspect` reads; the state dict found in it (a nested one,
//! such as `{'state_dict': …, 'epoch': …}`, resolved, or the one under `--key`) is written with
//! its keys as stored (a DataParallel `module.` prefix is kept) and in its order, with its
//! `_metadata` module versions into a `.pth` (safetensors has no place for them; torchvision's
//! MNASNet needs them). Other non-tensor entries are not carried over. The output is written
//! atomically, and keeps the mode of a file it replaces; OUT may not be IN. Tensors are written contiguous: views that would materialise
//! far more than the input holds (a zero-stride view of a few bytes claiming gigabytes) are
//! refused, naming the tensor (see `tchvision::checkpoint::check_materialized`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use tchvision::checkpoint::{self, ReadOptions};
use tchvision::error::printable;

use crate::common::{check_not_an_input, OutFormat};

/// Arguments of `tchvision convert`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The checkpoint to read (.pth/.pt/.bin in any of PyTorch's formats, or .safetensors).
    pub input: PathBuf,
    /// The file to write: .safetensors, or .pth/.pt/.bin/.ckpt (PyTorch's zip format).
    pub output: PathBuf,
    /// The key of the nested state dict in IN (default: found automatically).
    #[arg(long)]
    pub key: Option<String>,
    /// Print a JSON summary instead of a sentence.
    #[arg(long)]
    pub json: bool,
}

/// Runs `tchvision convert`.
pub fn run(args: Args) -> anyhow::Result<()> {
    // Every argument is checked before anything is read or written.
    let format = OutFormat::of(&args.output, "OUT")?;
    check_not_an_input(&args.output, "OUT", &[&args.input])?;
    let opts = ReadOptions {
        state_dict_key: args.key.clone(),
        strip_module_prefix: false,
        mmap: true,
        ..ReadOptions::default()
    };
    let ckpt = checkpoint::read(&args.input, &opts).with_context(|| format!("reading {}", args.input.display()))?;
    // Views (zero strides, storages shared many times) are written as contiguous copies:
    // refuse to materialise more than the input's size justifies.
    let file_len = std::fs::metadata(&args.input).map(|m| m.len()).unwrap_or(0);
    checkpoint::check_materialized(&args.input, file_len, &ckpt.tensors)
        .with_context(|| format!("converting {}", args.input.display()))?;
    format.save(&args.output, &ckpt.tensors, &ckpt.versions)?;
    let bytes: u64 = ckpt.tensors.iter().map(|(_, t)| checkpoint::materialized_bytes(t).unwrap_or(0)).sum();
    let mut out = std::io::stdout().lock();
    if args.json {
        let v = serde_json::json!({
            "input": args.input.display().to_string(),
            "input_format": ckpt.format.to_string(),
            "state_dict_key": ckpt.state_dict_key,
            "output": args.output.display().to_string(),
            "output_format": format.name(),
            "tensors": ckpt.tensors.len(),
            "bytes": bytes,
        });
        writeln!(out, "{v}")?;
    } else {
        let key = ckpt.state_dict_key.as_ref().map(|k| format!(", key `{}`", printable(k))).unwrap_or_default();
        writeln!(
            out,
            "wrote {} ({}): {} tensors, {bytes} bytes, from {} ({}{key})",
            printable(&args.output.display().to_string()),
            format.name(),
            ckpt.tensors.len(),
            printable(&args.input.display().to_string()),
            ckpt.format
        )?;
    }
    Ok(())
}
