//! `tchvision export ARCH [--weights FILE] [--option k=v] --out model.pt [--input-size H,W]
//! [--batch N] [--optimize] [--precision P] [--device D] [--json]`: the model traced (eval mode) through
//! libtorch's tracer and saved as TorchScript, for `torch.jit.load`, Triton Inference Server's
//! PyTorch backend and TorchServe (see the README's "Serving").
//!
//! Without `--optimize` the file holds each parameter and buffer once, under torchvision's
//! state-dict key (`torch.jit.load(f).state_dict()` has the keys of
//! `torchvision.models.<arch>().state_dict()`); with it the graph is frozen (weights inlined,
//! Conv+BatchNorm folded) and, with `--precision bf16|fp16`, computes in that type while still
//! taking and returning float32. The graph is traced for `--batch` × 3 × H × W inputs.

use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;
use tch::{Kind, Tensor};
use tchvision::infer::{export, ExportOptions, Precision};
use tchvision::nn::ModuleExt;
use tchvision::registry::model_info;

use crate::common::{build_loaded, print_json, DeviceArg, OptionArgs, WeightsArg};

/// Arguments of `tchvision export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The architecture (see `tchvision list`).
    pub arch: String,
    #[command(flatten)]
    pub weights: WeightsArg,
    #[command(flatten)]
    pub options: OptionArgs,
    /// Where to write the TorchScript file.
    #[arg(long)]
    pub out: PathBuf,
    /// Input height and width traced (default: the model's).
    #[arg(long, value_delimiter = ',', value_name = "H,W")]
    pub input_size: Option<Vec<i64>>,
    /// Batch size traced.
    #[arg(long, default_value_t = 1)]
    pub batch: i64,
    /// Freeze and optimise (weights inlined, Conv+BatchNorm folded).
    #[arg(long)]
    pub optimize: bool,
    /// Number type inside an optimised export: fp32, bf16, fp16 (fp16 with --device cuda).
    #[arg(long, default_value = "fp32")]
    pub precision: Precision,
    /// Device the model is traced on (the file's tensors live there).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Print JSON: `{"out", "bytes", "input", "optimized", "precision", "state_dict_entries"}`.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Exported {
    out: String,
    bytes: u64,
    input: Vec<i64>,
    optimized: bool,
    precision: String,
    state_dict_entries: usize,
}

/// Runs `tchvision export`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let device = DeviceArg { device: args.device.clone() }.get()?;
    let info = model_info(&args.arch)?;
    if args.batch < 1 {
        anyhow::bail!("--batch must be at least 1, got {}", args.batch);
    }
    let [h, w] = match args.input_size.as_deref() {
        Some([h, w]) if *h > 0 && *w > 0 => [*h, *w],
        Some(other) => anyhow::bail!("--input-size needs H,W (two positive numbers), got {other:?}"),
        None => info.default_input,
    };
    let (built, resolved) = build_loaded(&args.arch, &args.options, &args.weights, device)?;
    let model = built.model.as_ref();
    if resolved.is_none() {
        eprintln!("tchvision: note: no --weights given: the export holds {}'s random initialisation", args.arch);
    }
    model.eval();
    let x = Tensor::f_randn([args.batch, 3, h, w], (Kind::Float, device))?;
    let opts = ExportOptions { optimize: args.optimize, precision: args.precision };
    let sm = export(model.as_dyn_module(), &x, &args.out, &opts)
        .with_context(|| format!("exporting {} to {}", args.arch, args.out.display()))?;
    let bytes = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    let written = Exported {
        out: args.out.display().to_string(),
        bytes,
        input: x.size(),
        optimized: args.optimize,
        precision: args.precision.to_string(),
        state_dict_entries: sm.state_names()?.len(),
    };
    if args.json {
        return print_json(&written);
    }
    println!(
        "wrote {} ({:.1} MB): input {:?}, {}{}, {} state-dict entries",
        written.out,
        bytes as f64 / 1e6,
        written.input,
        if args.optimize { "frozen" } else { "traced" },
        if args.optimize { format!(" {}", args.precision) } else { String::new() },
        written.state_dict_entries
    );
    Ok(())
}
