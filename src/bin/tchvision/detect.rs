//! `tchvision detect ARCH [--weights FILE] IMAGE… [--conf 0.2] [--iou 0.5] --out DIR`: YOLO-v1
//! detection on image files, drawn into PNGs (see `tchvision::detection::detect_images`). The
//! network runs in its optimised form (`tchvision::infer`) unless `--no-optimize`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use tch::nn::VarStore;
use tchvision::detection::yolo::{create_detector, load_detector_weights, YoloV1Config, DETECTORS};
use tchvision::detection::{detect_images_with, output_paths};
use tchvision::error::printable;

use crate::common::{check_inputs, check_not_an_input, check_out_dir, print_json, usage, DeviceArg};
use crate::fast::{OptimizeArg, Runner};

/// Arguments of `tchvision detect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The detector: yolo_v1 or yolo_v1_resnet50.
    pub arch: String,
    /// Weights: a state dict of the detector, or (yolo_v1_resnet50) a torchvision resnet50 file
    /// for the backbone. Without it the weights are random.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Images (JPEG or PNG).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Keep detections whose class-specific score is above this.
    #[arg(long, default_value_t = 0.2)]
    pub conf: f64,
    /// NMS suppresses boxes of a class overlapping a better one by more than this IoU.
    #[arg(long, default_value_t = 0.5)]
    pub iou: f64,
    /// Where the annotated PNGs go (`<out>/<stem>.png`).
    #[arg(long)]
    pub out: PathBuf,
    /// Print the detections as JSON: `[{"image", "detections": [{"class", "score", "box"}]}]`.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub device: DeviceArg,
    #[command(flatten)]
    pub optimize: OptimizeArg,
}

/// Runs `tchvision detect`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let device = args.device.get()?;
    // Every argument, and every output name, is checked before the model is built.
    check_out_dir(&args.out)?;
    if !(0.0..=1.0).contains(&args.iou) || !args.conf.is_finite() {
        return Err(usage(format!(
            "--iou must be between 0 and 1 and --conf a number, got --iou {} --conf {}",
            args.iou, args.conf
        )));
    }
    check_inputs(&args.images.iter().map(PathBuf::as_path).collect::<Vec<_>>())?;
    let mut inputs: Vec<&Path> = args.images.iter().map(PathBuf::as_path).collect();
    if let Some(w) = &args.weights {
        check_inputs(&[w])?;
        inputs.push(w);
    }
    for (image, png) in args.images.iter().zip(output_paths(&args.images, &args.out)) {
        check_not_an_input(png.as_path(), &format!("the drawing of {}", image.display()), &inputs)?;
    }
    let vs = VarStore::new(device);
    let model = create_detector(&args.arch, &vs.root(), &YoloV1Config::paper())
        .with_context(|| format!("building {} (one of {})", args.arch, DETECTORS.join(", ")))?;
    match &args.weights {
        Some(w) => {
            let report = load_detector_weights(model.as_ref(), w, device)?;
            if !report.is_complete() {
                let _ =
                    writeln!(std::io::stderr(), "tchvision: note: {}: {}", w.display(), printable(&report.summary()));
            }
        }
        None => {
            let _ =
                writeln!(std::io::stderr(), "tchvision: note: no --weights given: {} has random weights", args.arch);
        }
    }
    let runner = Runner::new(model.as_ref(), &args.optimize, device)?;
    let mut forward = |x: &tch::Tensor| match &runner {
        Runner::Plain(m) => tch::no_grad(|| m.try_forward_t(x, false)),
        Runner::Fast(f) => f.forward(x),
    };
    let results = detect_images_with(model.as_ref(), &mut forward, &args.images, args.conf, args.iou, &args.out)?;
    if args.json {
        return print_json(&results);
    }
    let mut out = std::io::stdout().lock();
    for r in &results {
        writeln!(
            out,
            "{}: {} detection(s) -> {}",
            printable(&r.image),
            r.detections.len(),
            printable(&r.output.display().to_string())
        )?;
        for d in &r.detections {
            let [x1, y1, x2, y2] = d.bbox;
            writeln!(out, "  {:<12} {:.3}  [{x1:.1}, {y1:.1}, {x2:.1}, {y2:.1}]", d.class_name, d.score)?;
        }
    }
    Ok(())
}
