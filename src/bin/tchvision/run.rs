//! `tchvision run ARCH [--weights FILE] --input IN --output OUT.safetensors [--nodes a,b] [--json]
//! [--device D]`: the model in eval mode on a tensor file; OUT holds `output` and one tensor per
//! requested node, named by its path; `--json` prints the file, each tensor's name and shape, and
//! the device it ran on. This is the parity tool: feed the same tensor to torchvision and compare.
//! OUT's extension chooses its format (`.safetensors`, or `.pth`/`.pt`/`.bin`/`.ckpt` for
//! PyTorch's zip format); the input must be a batch `[N, C, H, W]`.
//!
//! The output comes from the optimised form (`tchvision::infer`: frozen TorchScript) unless
//! `--no-optimize`; `--precision bf16` computes in bfloat16 (the output is float32). With
//! `--nodes` the plain model runs (the optimised form has no inner nodes), with a note on
//! stderr.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use tch::{Kind, Tensor};
use tchvision::checkpoint::{self, ReadOptions};
use tchvision::error::{printable, shape_str};
use tchvision::models::features::NodeOutputs;
use tchvision::nn::ModuleExt;

use crate::common::{
    build_resolved, check_inputs, check_not_an_input, print_json, usage, DeviceArg, OptionArgs, OutFormat, WeightsArg,
};
use crate::fast::{OptimizeArg, Runner};

/// Arguments of `tchvision run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The architecture (see `tchvision list`).
    pub arch: String,
    #[command(flatten)]
    pub weights: WeightsArg,
    #[command(flatten)]
    pub options: OptionArgs,
    /// The input: .safetensors holding one tensor, .npy, or .pth holding one tensor.
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write the outputs: .safetensors, or .pth/.pt/.bin/.ckpt (PyTorch's zip format).
    #[arg(long)]
    pub output: PathBuf,
    /// Nodes whose outputs to save too, comma-separated (`layer1,layer4,avgpool`).
    #[arg(long, value_delimiter = ',')]
    pub nodes: Vec<String>,
    /// Print a JSON description of what was written.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub device: DeviceArg,
    #[command(flatten)]
    pub optimize: OptimizeArg,
}

/// Reads the one tensor of a .safetensors, .npy or .pth file. `.npy` files are validated by
/// tchvision's own reader before a byte is copied; a `.pth` view that would materialise more
/// than the file justifies (a zero-stride view) is refused.
pub fn read_input(path: &Path) -> anyhow::Result<Tensor> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let reading = || format!("reading {}", path.display());
    if ext == "npy" {
        return checkpoint::npy::read_npy(path).with_context(reading);
    }
    let ckpt =
        checkpoint::read(path, &ReadOptions { strip_module_prefix: false, mmap: true, ..ReadOptions::default() })
            .with_context(reading)?;
    let file_len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    checkpoint::check_materialized(path, file_len, &ckpt.tensors).with_context(reading)?;
    let n = ckpt.tensors.len();
    match ckpt.tensors.into_iter().next() {
        Some((_, t)) if n == 1 => Ok(t),
        _ => anyhow::bail!("{}: expected exactly one tensor, found {n}", path.display()),
    }
}

#[derive(serde::Serialize)]
struct Written {
    output: String,
    /// Where the model ran (`cpu`, `cuda:0`): what `--device auto` chose.
    device: String,
    tensors: Vec<(String, Vec<i64>)>,
}

/// Runs `tchvision run`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let device = args.device.get()?;
    // Every argument is checked before the model is built or anything written.
    let format = OutFormat::of(&args.output, "--output")?;
    let weights = args.weights.resolve(&args.arch)?;
    let mut inputs: Vec<&Path> = vec![&args.input];
    if let Some(w) = &weights {
        inputs.push(&w.path);
    }
    check_not_an_input(&args.output, "--output", &inputs)?;
    check_inputs(&[&args.input])?;
    let mut seen = std::collections::HashSet::new();
    for n in &args.nodes {
        if n == "output" {
            return Err(usage("--nodes: `output` names the model's output, which is always written"));
        }
        if !seen.insert(n.as_str()) {
            return Err(usage(format!("--nodes: `{n}` is given twice")));
        }
    }
    let x = read_input(&args.input)?;
    let size = x.size();
    if size.len() != 4 {
        anyhow::bail!(
            "{}: the input has shape {}; the model needs a batch [N, C, H, W]{}",
            args.input.display(),
            shape_str(&size),
            if size.len() == 3 { " (add a batch dimension: x[None] in Python)" } else { "" }
        );
    }
    let built = build_resolved(&args.arch, &args.options, weights.as_ref(), device)?;
    let model = built.model.as_ref();
    model.eval();
    let x = x.f_to_kind(Kind::Float)?.f_to_device(device)?;
    let tensors = if args.nodes.is_empty() {
        let runner = Runner::new(model.as_dyn_module(), &args.optimize, device)?;
        vec![("output".to_string(), runner.forward(&x)?)]
    } else {
        Runner::plain_for(model.as_dyn_module(), &args.optimize, "--nodes")?;
        let (out, nodes) = tch::no_grad(|| model.forward_nodes(&x, false, &args.nodes))?;
        let mut t = vec![("output".to_string(), out)];
        t.extend(nodes);
        t
    };
    let tensors: Vec<(String, Tensor)> =
        tensors.into_iter().map(|(k, t)| t.f_to_device(tch::Device::Cpu).map(|t| (k, t))).collect::<Result<_, _>>()?;
    format.save(&args.output, &tensors, &[])?;
    let written = Written {
        output: args.output.display().to_string(),
        device: match device {
            tch::Device::Cuda(i) => format!("cuda:{i}"),
            other => format!("{other:?}").to_ascii_lowercase(),
        },
        tensors: tensors.iter().map(|(k, t)| (k.clone(), t.size())).collect(),
    };
    if args.json {
        print_json(&written)
    } else {
        let mut out = std::io::stdout().lock();
        for (k, s) in &written.tensors {
            writeln!(out, "{k} {}", shape_str(s))?;
        }
        writeln!(out, "wrote {} ({}, ran on {})", printable(&written.output), format.name(), written.device)?;
        Ok(())
    }
}
