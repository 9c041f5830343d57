//! `tchvision load ARCH FILE [--num-classes N] [--drop REGEX]… [--rename REGEX=REPL]…
//! [--prefix P] [--strip-prefix P] [--strict] [--json]`: the partial load of a checkpoint into
//! a registry model, and its report. Exits non-zero when a strict load fails.

use std::path::PathBuf;

use anyhow::Context;
use tchvision::checkpoint::{self, LoadOptions, ReadOptions};

use crate::common::{build, print_json, DeviceArg};

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
    let built = build(&args.arch, &args.options.get()?, None, device)?;
    let mut opts = if args.strict { LoadOptions::strict() } else { LoadOptions::partial() };
    if !args.strict {
        opts = opts.skip_mismatched(true);
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
    let report = checkpoint::load_file(built.model.as_ref(), &args.file, &ropts, &opts)
        .with_context(|| format!("loading {} into {}", args.file.display(), args.arch))?;
    if args.json {
        print_json(&report)
    } else {
        println!("{report}");
        Ok(())
    }
}
