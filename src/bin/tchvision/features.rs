//! `tchvision features ARCH [--weights W] IMAGE --nodes layer2,layer3 --out DIR [--json]`: the
//! seed's feature-map pictures: one PNG grid per node, one grayscale tile per channel.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use tchvision::error::{printable, shape_str};
use tchvision::imageio;
use tchvision::models::features::NodeOutputs;
use tchvision::nn::ModuleExt;

use crate::common::{
    build, check_inputs, check_not_an_input, check_out_dir, load_strict, preprocess_for, print_json, progress, usage,
    DeviceArg, WeightsArg,
};

/// Arguments of `tchvision features`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The architecture (see `tchvision list`).
    pub arch: String,
    #[command(flatten)]
    pub weights: WeightsArg,
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
    // Every argument, and every output name, is checked before a file is written.
    check_out_dir(&args.out)?;
    if args.cols.is_some_and(|c| c < 1) {
        return Err(usage(format!("--cols {}: needs at least 1", args.cols.unwrap_or(0))));
    }
    check_inputs(&[&args.image])?;
    let w = args.weights.resolve(&args.arch)?;
    let mut pngs: Vec<PathBuf> = Vec::with_capacity(args.nodes.len());
    for node in &args.nodes {
        let png = args.out.join(format!("{}.png", node.replace('.', "_")));
        if let Some(i) = pngs.iter().position(|p| *p == png) {
            return Err(usage(format!(
                "--nodes: `{}` and `{node}` would both be written to {}",
                args.nodes[i],
                png.display()
            )));
        }
        let mut inputs: Vec<&Path> = vec![&args.image];
        if let Some(w) = &w {
            inputs.push(&w.path);
        }
        check_not_an_input(&png, &format!("the picture of node `{node}`"), &inputs)?;
        pngs.push(png);
    }
    let built = build(&args.arch, None, device)?;
    let model = built.model.as_ref();
    if let Some(w) = &w {
        load_strict(model, &w.path, device)?;
    }
    model.eval();
    let img = imageio::load_rgb(&args.image)?;
    let x = preprocess_for(w.as_ref(), &args.arch).apply(&img)?.f_unsqueeze(0)?.f_to_device(device)?;
    let (_, nodes) = tch::no_grad(|| model.forward_nodes(&x, false, &args.nodes))?;
    // Every node must give a feature map before the first picture is written.
    for (node, t) in &nodes {
        let shape = t.size();
        if shape.len() != 4 {
            return Err(usage(format!(
                "--nodes: node `{node}` outputs shape {}, not a [N, C, H, W] feature map; nothing was written",
                shape_str(&shape)
            )));
        }
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let pb = progress(nodes.len() as u64, "writing feature maps");
    let mut pictures = Vec::new();
    for ((node, t), png) in nodes.into_iter().zip(pngs) {
        let shape = t.size();
        let cols = args.cols.unwrap_or_else(|| (shape[1] as f64).sqrt().ceil() as i64);
        let grid = imageio::feature_grid(&t.f_get(0)?, cols)?;
        imageio::save_png(&png, &grid)?;
        pictures.push(Picture { node, shape, png: png.display().to_string() });
        pb.inc(1);
    }
    pb.finish_and_clear();
    if args.json {
        return print_json(&pictures);
    }
    let mut out = std::io::stdout().lock();
    for p in &pictures {
        writeln!(out, "{} {} -> {}", p.node, shape_str(&p.shape), printable(&p.png))?;
    }
    Ok(())
}
