//! `tchvision predict ARCH --weights W IMAGE… [--topk 5] [--json]`: ImageNet classification with
//! torchvision's preprocessing for those weights (resize, center crop 224, normalise) and the
//! ImageNet category names shipped in the crate. JPEG and PNG; grayscale and RGBA included.
//! Runs the optimised form (`tchvision::infer`) unless `--no-optimize`; `--precision bf16`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;
use tch::Kind;
use tchvision::error::printable;
use tchvision::imageio;
use tchvision::models::weights::imagenet_categories;
use tchvision::nn::ModuleExt;

use crate::common::{
    build_loaded, check_inputs, preprocess_for, print_json, progress, usage, DeviceArg, OptionArgs, WeightsArg,
};
use crate::fast::{OptimizeArg, Runner};

/// Arguments of `tchvision predict`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The architecture (see `tchvision list`).
    pub arch: String,
    #[command(flatten)]
    pub weights: WeightsArg,
    #[command(flatten)]
    pub options: OptionArgs,
    /// Images (JPEG or PNG).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// How many classes to show per image (1 to the model's class count).
    #[arg(long, default_value_t = 5)]
    pub topk: i64,
    /// Print JSON: `[{"image", "top": [{"index", "label", "probability"}]}]`.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub device: DeviceArg,
    #[command(flatten)]
    pub optimize: OptimizeArg,
}

#[derive(Serialize)]
struct Class {
    index: i64,
    label: String,
    probability: f64,
}

#[derive(Serialize)]
struct Prediction {
    image: String,
    top: Vec<Class>,
}

/// Runs `tchvision predict`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let device = args.device.get()?;
    if args.weights.weights.is_none() {
        return Err(usage("predict needs --weights (a checkpoint file, or imagenet1k_v1 / default found on disk)"));
    }
    if args.topk < 1 {
        return Err(usage(format!("--topk {}: needs at least 1", args.topk)));
    }
    check_inputs(&args.images.iter().map(PathBuf::as_path).collect::<Vec<_>>())?;
    let (built, w) = build_loaded(&args.arch, &args.options, &args.weights, device)?;
    let model = built.model.as_ref();
    model.eval();
    let pre = preprocess_for(w.as_ref(), &args.arch, model);
    let categories = imagenet_categories();
    let classes = model.num_classes();
    if args.topk > classes {
        return Err(usage(format!("--topk {}: {} has only {classes} classes", args.topk, args.arch)));
    }
    let k = args.topk;
    let runner = Runner::new(model.as_dyn_module(), &args.optimize, device)?;
    let pb = progress(args.images.len() as u64, "classifying");
    let mut out = Vec::new();
    for path in &args.images {
        let img = imageio::load_rgb(path)?;
        let x = pre.apply(&img).with_context(|| format!("preprocessing {}", path.display()))?;
        let x = x.unsqueeze(0).to_device(device);
        let logits = runner.forward(&x)?;
        let probs = logits.f_softmax(-1, Kind::Float)?.f_squeeze_dim(0)?.f_to_device(tch::Device::Cpu)?;
        let (p, i) = probs.f_topk(k, -1, true, true)?;
        let p = Vec::<f64>::try_from(p.to_kind(Kind::Double))?;
        let i = Vec::<i64>::try_from(i)?;
        let top = i
            .into_iter()
            .zip(p)
            .map(|(index, probability)| {
                let label = if classes == categories.len() as i64 {
                    categories[index as usize].to_string()
                } else {
                    format!("class {index}")
                };
                Class { index, label, probability }
            })
            .collect();
        out.push(Prediction { image: path.display().to_string(), top });
        pb.inc(1);
    }
    pb.finish_and_clear();
    if args.json {
        return print_json(&out);
    }
    let mut stdout = std::io::stdout().lock();
    for pred in &out {
        writeln!(stdout, "{}", printable(&pred.image))?;
        for c in &pred.top {
            writeln!(stdout, "  {:>6.2}%  {:>4}  {}", c.probability * 100.0, c.index, c.label)?;
        }
    }
    Ok(())
}
