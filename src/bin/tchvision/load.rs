//! `tchvision load ARCH FILE [--num-classes N] [--drop REGEX]… [--rename REGEX=REPL]…
//! [--prefix P] [--strip-prefix P] [--strict] [--json]`: the partial load of a checkpoint into
//! a registry model, and its report. Exits non-zero when a strict load fails, and when nothing
//! at all was loaded (after printing the report that says why). A file named as published
//! weights of the architecture gets their key renames first (DenseNet's old keys).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use tchvision::checkpoint::{self, Checkpoint, LoadOptions, ReadOptions};
use tchvision::error::Error;

use crate::common::{build, check_inputs, print_json, usage, DeviceArg};

/// Arguments of `tchvision load`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The architecture (see `tchvision list`).
    pub arch: String,
    /// The checkpoint (.pth in any torch.save format, or .safetensors).
    pub file: PathBuf,
    #[command(flatten)]
    pub options: crate::common::OptionArgs,
    /// Drop file keys matching this regex before loading (repeatable), e.g. '^fc\.'.
    #[arg(long = "drop", value_name = "REGEX")]
    pub drop: Vec<String>,
    /// Rename file keys: REGEX=REPLACEMENT, captures as $1 (repeatable).
    #[arg(long = "rename", value_name = "REGEX=REPL")]
    pub rename: Vec<String>,
    /// Add this prefix to every file key (load a backbone file into a submodule).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Strip this prefix from file keys that have it.
    #[arg(long)]
    pub strip_prefix: Option<String>,
    /// All or nothing: any missing, unexpected or mismatched key fails and changes nothing.
    #[arg(long)]
    pub strict: bool,
    /// Key of the nested state dict (default: found automatically).
    #[arg(long)]
    pub key: Option<String>,
    /// Print the LoadReport as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub device: DeviceArg,
}

/// Runs `tchvision load`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let device = args.device.get()?;
    check_inputs(&[&args.file])?;
    // The key rules (regular expressions) are checked before anything is built or read.
    for d in &args.drop {
        LoadOptions::partial().drop_keys(d).map_err(|e| usage(format!("--drop: {e}")))?;
    }
    for r in &args.rename {
        let (pat, repl) =
            r.split_once('=').ok_or_else(|| usage(format!("--rename {r}: expected REGEX=REPLACEMENT")))?;
        LoadOptions::partial().rename_keys(pat, repl).map_err(|e| usage(format!("--rename: {e}")))?;
    }
    let built = build(&args.arch, &args.options.get()?, None, device)?;
    let model = built.model.as_ref();
    let mut opts = if args.strict { LoadOptions::strict() } else { LoadOptions::partial() };
    if !args.strict {
        opts = opts.skip_mismatched(true);
    }
    // A file named as one of the architecture's published weights gets their key renames (and
    // drops of keys the model lacks) first, as the model subcommands give it.
    let name = args.file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if let Some(w) = tchvision::registry::model_info(&args.arch)?.weights.iter().find(|w| w.file == name) {
        opts = w.load_options(opts, model)?;
    }
    for d in &args.drop {
        opts = opts.drop_keys(d)?;
    }
    for r in &args.rename {
        let (pat, repl) = r.split_once('=').with_context(|| format!("--rename {r}: expected REGEX=REPLACEMENT"))?;
        opts = opts.rename_keys(pat, repl)?;
    }
    if let Some(p) = &args.strip_prefix {
        opts = opts.strip_prefix(p.clone());
    }
    if let Some(p) = &args.prefix {
        opts = opts.add_prefix(p.clone());
    }
    let ropts = ReadOptions { device, state_dict_key: args.key.clone(), mmap: true, ..ReadOptions::default() };
    let context = || format!("loading {} into {}", args.file.display(), args.arch);
    let ckpt = checkpoint::read(&args.file, &ropts).with_context(context)?;
    // With --json, a failed strict load still prints the whole report (of a partial load into
    // this throwaway model) before the error.
    let again = (args.strict && args.json).then(|| Checkpoint {
        format: ckpt.format,
        tensors: ckpt.tensors.iter().map(|(k, t)| (k.clone(), t.shallow_clone())).collect(),
        other: Vec::new(),
        state_dict_key: None,
        versions: ckpt.versions.clone(),
    });
    let report = match checkpoint::load_checkpoint(model, ckpt, &opts) {
        Ok(r) => r,
        Err(Error::StrictLoad(s)) => {
            if let Some(ckpt) = again {
                let partial = LoadOptions { strict: false, skip_mismatched: true, ..opts.clone() };
                print_json(&checkpoint::load_checkpoint(model, ckpt, &partial).with_context(context)?)?;
            }
            return Err(Error::StrictLoad(format!("{}: {s}", args.file.display()))).with_context(context);
        }
        Err(e) => return Err(e).with_context(context),
    };
    if args.json {
        print_json(&report)?;
    } else {
        write!(std::io::stdout().lock(), "{report}")?;
    }
    if report.loaded.is_empty() && report.model_len() > 0 {
        let why = if report.file_len() == 0 {
            "the file holds no tensors".to_string()
        } else if report.file_len() == report.dropped.len() {
            format!("--drop dropped all {} of the file's keys", report.file_len())
        } else {
            format!(
                "none of the file's {} keys matches a model key (see the report)",
                report.file_len() - report.dropped.len()
            )
        };
        anyhow::bail!("nothing was loaded from {} into {}: {why}", args.file.display(), args.arch);
    }
    Ok(())
}
