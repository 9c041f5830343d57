//! `tchvision run ARCH [--weights FILE] --input IN --output OUT.safetensors [--nodes a,b]`: the
//! model in eval mode on a tensor file; OUT holds `output` and one tensor per requested node,
//! named by its path. This is the parity tool: feed the same tensor to torchvision and compare.
//!
//! The output comes from the optimised form (`tchvision::infer`: frozen TorchScript) unless
//! `--no-optimize`; `--precision bf16` computes in bfloat16 (the output is float32). With
//! `--nodes` the plain model runs (the optimised form has no inner nodes), with a note on
//! stderr.

use std::path::{Path, PathBuf};

use anyhow::Context;
use tch::{Kind, Tensor};
use tchvision::checkpoint::{self, ReadOptions};
use tchvision::models::features::NodeOutputs;
use tchvision::nn::ModuleExt;

use crate::common::{build_loaded, print_json, DeviceArg, OptionArgs, WeightsArg};
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
    /// Where to write the outputs (.safetensors).
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

/// Reads the one tensor of a .safetensors, .npy or .pth file.
pub fn read_input(path: &Path) -> anyhow::Result<Tensor> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if ext == "npy" {
        return Tensor::read_npy(path).with_context(|| format!("reading {}", path.display()));
    }
    let ckpt =
        checkpoint::read(path, &ReadOptions { strip_module_prefix: false, mmap: true, ..ReadOptions::default() })
            .with_context(|| format!("reading {}", path.display()))?;
    match ckpt.tensors.len() {
        1 => Ok(ckpt
            .tensors
            .into_iter()
            .next()
            .map(|(_, t)| t)
            .unwrap_or_else(|| Tensor::zeros([0], (Kind::Float, tch::Device::Cpu)))),
        n => anyhow::bail!("{}: expected exactly one tensor, found {n}", path.display()),
    }
}

#[derive(serde::Serialize)]
struct Written {
    output: String,
    tensors: Vec<(String, Vec<i64>)>,
}

/// Runs `tchvision run`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let device = args.device.get()?;
    let (built, _) = build_loaded(&args.arch, &args.options, &args.weights, device)?;
    let model = built.model.as_ref();
    model.eval();
    let x = read_input(&args.input)?.to_kind(Kind::Float).to_device(device);
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
    let tensors: Vec<(String, Tensor)> = tensors.into_iter().map(|(k, t)| (k, t.to_device(tch::Device::Cpu))).collect();
    checkpoint::safetensors::save(&args.output, &tensors)
        .with_context(|| format!("writing {}", args.output.display()))?;
    let written = Written {
        output: args.output.display().to_string(),
        tensors: tensors.iter().map(|(k, t)| (k.clone(), t.size())).collect(),
    };
    if args.json {
        print_json(&written)
    } else {
        for (k, s) in &written.tensors {
            println!("{k} {s:?}");
        }
        println!("wrote {}", written.output);
        Ok(())
    }
}
