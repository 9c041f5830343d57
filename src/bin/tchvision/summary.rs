//! `tchvision summary ARCH [--num-classes N] [--input-size H,W] [--json]`: named parameters
//! and buffers with shapes and counts (the seed's printing loop), then each module's output
//! shape for an input of that size.

use serde::Serialize;
use tch::{Kind, Tensor};
use tchvision::models::features::NodeOutputs;
use tchvision::nn::ModuleExt;
use tchvision::registry::list_models;

use crate::common::{build, print_json, DeviceArg};

/// Arguments of `tchvision summary`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The architecture (see `tchvision list`).
    pub arch: String,
    #[command(flatten)]
    pub options: crate::common::OptionArgs,
    /// Input height and width for the output shapes (default: the model's).
    #[arg(long, value_delimiter = ',', value_name = "H,W")]
    pub input_size: Option<Vec<i64>>,
    /// Print JSON: `{"arch", "parameters": [{"name","shape","numel"}], "buffers": [...],
    /// "num_parameters", "input", "outputs": [{"module","kind","shape"}]}`.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub device: DeviceArg,
}

#[derive(Serialize)]
struct Entry {
    name: String,
    shape: Vec<i64>,
    numel: i64,
}

#[derive(Serialize)]
struct Output {
    module: String,
    kind: &'static str,
    shape: Vec<i64>,
}

#[derive(Serialize)]
struct Summary {
    arch: String,
    parameters: Vec<Entry>,
    buffers: Vec<Entry>,
    num_parameters: i64,
    input: Vec<i64>,
    outputs: Vec<Output>,
}

fn entries(list: Vec<(String, Tensor)>) -> Vec<Entry> {
    list.into_iter().map(|(name, t)| Entry { name, numel: t.numel() as i64, shape: t.size() }).collect()
}

/// Runs `tchvision summary`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let info = list_models().into_iter().find(|m| m.name == args.arch);
    let device = args.device.get()?;
    let built = build(&args.arch, &args.options.get()?, None, device)?;
    let model = built.model.as_ref();
    model.eval();
    let [h, w] = match args.input_size.as_deref() {
        Some([h, w]) => [*h, *w],
        Some(other) => anyhow::bail!("--input-size needs H,W (two numbers), got {other:?}"),
        None => info.map(|i| i.default_input).unwrap_or([224, 224]),
    };
    let input = [1, 3, h, w];
    let x = Tensor::zeros(input, (Kind::Float, device));
    // Only the modules the forward pass runs have outputs (a backbone's unused `fc` has none).
    let ran = tch::no_grad(|| model.graph_node_names(&x, false))?;
    let runs = |path: &str| ran.iter().any(|n| n == path || n.strip_prefix(path).is_some_and(|r| r.starts_with('.')));
    let modules: Vec<(String, &'static str)> = model
        .named_modules()
        .into_iter()
        .filter(|(p, _)| !p.is_empty() && runs(p))
        .map(|(p, m)| (p, m.kind().name()))
        .collect();
    let names: Vec<&str> = modules.iter().map(|(p, _)| p.as_str()).collect();
    let (out, nodes) = tch::no_grad(|| model.forward_nodes(&x, false, &names))?;
    let mut outputs: Vec<Output> = modules
        .iter()
        .zip(nodes)
        .map(|((path, kind), (_, t))| Output { module: path.clone(), kind, shape: t.size() })
        .collect();
    outputs.push(Output { module: "(output)".into(), kind: "", shape: out.size() });
    let summary = Summary {
        arch: args.arch.clone(),
        parameters: entries(model.named_parameters()),
        buffers: entries(model.named_buffers()),
        num_parameters: model.num_parameters(),
        input: input.to_vec(),
        outputs,
    };
    if args.json {
        return print_json(&summary);
    }
    println!("{} — parameters", summary.arch);
    for e in &summary.parameters {
        println!("  {} {:?} {}", e.name, e.shape, e.numel);
    }
    println!("buffers");
    for e in &summary.buffers {
        println!("  {} {:?} {}", e.name, e.shape, e.numel);
    }
    println!("total parameters: {}", summary.num_parameters);
    println!("output shapes for input {:?}", summary.input);
    for o in &summary.outputs {
        println!("  {:<28} {:<18} {:?}", o.module, o.kind, o.shape);
    }
    Ok(())
}
