//! `tchvision features ARCH [--weights W] IMAGE --nodes layer2,layer3 --out DIR [--json]`: the
//! seed's feature-map pictures: one PNG grid per node, one grayscale tile per channel.
//! Feature maps are inner nodes, which the optimised form (`tchvision::infer`) does not expose:
//! the plain model runs, with a note on stderr unless `--no-optimize` is given.

use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;
use tchvision::imageio;
use tchvision::models::features::NodeOutputs;
use tchvision::nn::ModuleExt;

use crate::common::{build_loaded, preprocess_for, print_json, progress, DeviceArg, OptionArgs, WeightsArg};
use crate::fast::{OptimizeArg, Runner};

/// Arguments of `tchvision features`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The architecture (see `tchvision list`).
    pub arch: String,
    #[command(flatten)]
    pub weights: WeightsArg,
    #[command(flatten)]
    pub options: OptionArgs,
    /// The image (JPEG or PNG).
    pub image: PathBuf,
    /// Nodes to picture, comma-separated (`layer1,layer2`).
    #[arg(long, value_delimiter = ',', required = true)]
    pub nodes: Vec<String>,
    /// Output folder (created if needed).
    #[arg(long)]
    pub out: PathBuf,
    /// Tiles per row (default: about the square root of the channel count).
    #[arg(long)]
    pub cols: Option<i64>,
    /// Print JSON: `[{"node", "shape", "png"}]`.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub device: DeviceArg,
    #[command(flatten)]
    pub optimize: OptimizeArg,
}

#[derive(Serialize)]
struct Picture {
    node: String,
    shape: Vec<i64>,
    png: String,
}

/// Runs `tchvision features`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let device = args.device.get()?;
    let (built, w) = build_loaded(&args.arch, &args.options, &args.weights, device)?;
    let model = built.model.as_ref();
    model.eval();
    let img = imageio::load_rgb(&args.image)?;
    let x = preprocess_for(w.as_ref(), &args.arch).apply(&img)?.unsqueeze(0).to_device(device);
    Runner::plain_for(model.as_dyn_module(), &args.optimize, "features reads inner nodes")?;
    let (_, nodes) = tch::no_grad(|| model.forward_nodes(&x, false, &args.nodes))?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let pb = progress(nodes.len() as u64, "writing feature maps");
    let mut pictures = Vec::new();
    for (node, t) in nodes {
        let shape = t.size();
        if shape.len() != 4 {
            anyhow::bail!("node {node} outputs shape {shape:?}, not a [N, C, H, W] feature map");
        }
        let cols = args.cols.unwrap_or_else(|| (shape[1] as f64).sqrt().ceil() as i64);
        let grid = imageio::feature_grid(&t.get(0), cols)?;
        let png = args.out.join(format!("{}.png", node.replace('.', "_")));
        imageio::save_png(&png, &grid)?;
        pictures.push(Picture { node, shape, png: png.display().to_string() });
        pb.inc(1);
    }
    pb.finish_and_clear();
    if args.json {
        return print_json(&pictures);
    }
    for p in &pictures {
        println!("{} {:?} -> {}", p.node, p.shape, p.png);
    }
    Ok(())
}
