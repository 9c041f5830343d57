//! `tchvision convert IN OUT [--key K] [--json]`: a checkpoint's state dict to .pth or
//! .safetensors, chosen by OUT's extension (`.safetensors`; `.pth`, `.pt`, `.bin`, `.ckpt`).
//!
//! IN is any checkpoint `tchvision inspect` reads; the state dict found in it (a nested one,
//! such as `{'state_dict': …, 'epoch': …}`, resolved, or the one under `--key`) is written with
//! its keys as stored (a DataParallel `module.` prefix is kept) and in its order, with its
//! `_metadata` module versions into a `.pth` (safetensors has no place for them; torchvision's
//! MNASNet needs them). Other non-tensor entries are not carried over. The output is written
//! atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use tchvision::checkpoint::{self, ReadOptions};

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OutFormat {
    Pth,
    Safetensors,
}

fn out_format(path: &Path) -> anyhow::Result<OutFormat> {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    Ok(match ext.as_deref() {
        Some("safetensors") => OutFormat::Safetensors,
        Some("pth" | "pt" | "bin" | "ckpt") => OutFormat::Pth,
        _ => {
            bail!("cannot tell the output format of {}: name it .safetensors, .pth, .pt, .bin or .ckpt", path.display())
        }
    })
}

/// Runs `tchvision convert`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let format = out_format(&args.output)?;
    let opts = ReadOptions {
        state_dict_key: args.key.clone(),
        strip_module_prefix: false,
        mmap: true,
        ..ReadOptions::default()
    };
    let ckpt = checkpoint::read(&args.input, &opts).with_context(|| format!("reading {}", args.input.display()))?;
    let written = || format!("writing {}", args.output.display());
    match format {
        OutFormat::Safetensors => checkpoint::safetensors::save(&args.output, &ckpt.tensors).with_context(written)?,
        OutFormat::Pth => {
            checkpoint::save_pth_with_versions(&args.output, &ckpt.tensors, &ckpt.versions).with_context(written)?
        }
    }
    let bytes: u64 = ckpt.tensors.iter().map(|(_, t)| t.numel() as u64 * t.kind().elt_size_in_bytes() as u64).sum();
    let out_name = match format {
        OutFormat::Pth => "zip",
        OutFormat::Safetensors => "safetensors",
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        let v = serde_json::json!({
            "input": args.input.display().to_string(),
            "input_format": ckpt.format.to_string(),
            "state_dict_key": ckpt.state_dict_key,
            "output": args.output.display().to_string(),
            "output_format": out_name,
            "tensors": ckpt.tensors.len(),
            "bytes": bytes,
        });
        writeln!(out, "{v}")?;
    } else {
        let key = ckpt.state_dict_key.as_ref().map(|k| format!(", key `{k}`")).unwrap_or_default();
        writeln!(
            out,
            "wrote {} ({out_name}): {} tensors, {bytes} bytes, from {} ({}{key})",
            args.output.display(),
            ckpt.tensors.len(),
            args.input.display(),
            ckpt.format
        )?;
    }
    Ok(())
}
