//! `tchvision features ARCH [--weights W] IMAGE --nodes layer2,layer3 --out DIR [--json]`: the
//! seed's feature-map pictures: one PNG grid per node, one grayscale tile per channel. A
//! transformer's token outputs `[N, L, C]` are pictured as the grid of their patch tokens, and
//! channels-last stages (Swin's NHWC token maps) per channel. Feature maps are inner nodes,
//! which the optimised form (`tchvision::infer`) does not expose: features always runs the
//! plain model.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use tchvision::error::{printable, shape_str};
use tchvision::imageio;
use tchvision::models::features::{Layout, NodeOutputs};
use tchvision::nn::ModuleExt;

use crate::common::{
    build_resolved, check_inputs, check_not_an_input, check_out_dir, preprocess_for, print_json, progress, usage,
    DeviceArg, OptionArgs, WeightsArg,
};

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
}

#[derive(Serialize)]
struct Picture {
    node: String,
    shape: Vec<i64>,
    png: String,
}

/// A transformer's tokens `[L, C]` as a `[C, g, g]` map: `L = g²` patch tokens, or a class token
/// followed by `g²` patch tokens (ViT; the class token is left out).
fn token_map(tokens: &tch::Tensor) -> anyhow::Result<tch::Tensor> {
    let (l, c) = (tokens.size()[0], tokens.size()[1]);
    let side = |n: i64| (1..=n).find(|g| g * g >= n).filter(|g| g * g == n);
    let (skip, g) = match (side(l), side(l - 1)) {
        (Some(g), _) => (0, g),
        (None, Some(g)) => (1, g),
        _ => anyhow::bail!("{l} tokens are neither g² nor 1 + g²"),
    };
    Ok(tokens.f_narrow(0, skip, g * g)?.f_transpose(0, 1)?.f_reshape([c, g, g])?)
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
    let built = build_resolved(&args.arch, &args.options, w.as_ref(), device)?;
    let model = built.model.as_ref();
    model.eval();
    let img = imageio::load_rgb(&args.image)?;
    let x = preprocess_for(w.as_ref(), &args.arch, model).apply(&img)?.f_unsqueeze(0)?.f_to_device(device)?;
    let (_, nodes) = tch::no_grad(|| model.forward_nodes(&x, false, &args.nodes))?;
    // Stages the model reports channels-last (Swin's NHWC token maps) are pictured per channel.
    let nhwc: Vec<String> =
        model.feature_info().into_iter().filter(|f| f.layout == Layout::Nhwc).map(|f| f.module).collect();
    // Every node must give a picture before the first one is written.
    let mut maps = Vec::with_capacity(nodes.len());
    for (node, t) in nodes {
        let shape = t.size();
        let map = if nhwc.contains(&node) { t.f_permute([0, 3, 1, 2])? } else { t };
        let map = match shape.len() {
            4 => map.f_get(0)?,
            3 => token_map(&map.f_get(0)?).map_err(|e| {
                usage(format!(
                    "--nodes: node `{node}` outputs tokens {} that do not form a square grid ({e}); nothing was written",
                    shape_str(&shape)
                ))
            })?,
            _ => {
                return Err(usage(format!(
                    "--nodes: node `{node}` outputs shape {}, not a [N, C, H, W] map or [N, L, C] tokens; \
                     nothing was written",
                    shape_str(&shape)
                )))
            }
        };
        maps.push((node, shape, map));
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let pb = progress(maps.len() as u64, "writing feature maps");
    let mut pictures = Vec::new();
    for ((node, shape, map), png) in maps.into_iter().zip(pngs) {
        let cols = args.cols.unwrap_or_else(|| (map.size()[0] as f64).sqrt().ceil() as i64);
        let grid = imageio::feature_grid(&map, cols)?;
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
