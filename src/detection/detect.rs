//! Detection on image files: the library side of `tchvision detect`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Serialize;
use tch::{Device, Kind, Tensor};

use super::decode::{decode, DecodeOptions};
use super::draw::draw_detections_on_tensor;
use super::Detection;
use crate::detection::yolo::YoloDetector;
use crate::error::{Error, Result, TorchResultExt};
use crate::imageio;
use crate::nn::ModuleExt;

/// The detections of one image. Serialised as JSON `{"image": "dog.jpg", "detections": [...]}`
/// (see [`Detection`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImageDetections {
    /// The image's path, as given.
    pub image: String,
    /// Its detections, by descending score; boxes in the original image's pixels.
    pub detections: Vec<Detection>,
    /// The original image's width in pixels.
    #[serde(skip)]
    pub width: i64,
    /// The original image's height in pixels.
    #[serde(skip)]
    pub height: i64,
    /// The annotated PNG written for it.
    #[serde(skip)]
    pub output: PathBuf,
}

/// The annotated PNG [`detect_images`] writes for each of `paths`, in order: `out_dir/<stem>.png`,
/// and `<stem>_2.png`, `<stem>_3.png`, … for later inputs that share a stem. A caller can check
/// them against its inputs before any work (`tchvision detect` refuses to overwrite an input).
pub fn output_paths<P: AsRef<Path>>(paths: &[P], out_dir: &Path) -> Vec<PathBuf> {
    let mut used: HashSet<String> = HashSet::new();
    paths
        .iter()
        .map(|path| {
            let stem = path.as_ref().file_stem().and_then(|s| s.to_str()).filter(|s| !s.is_empty()).unwrap_or("image");
            let mut name = format!("{stem}.png");
            let mut k = 2;
            while !used.insert(name.clone()) {
                name = format!("{stem}_{k}.png");
                k += 1;
            }
            out_dir.join(name)
        })
        .collect()
}

/// Runs a YOLO-v1 detector on image files and draws the results.
///
/// For each path, in order: the image is read with [`imageio::load_rgb`] (JPEG or PNG;
/// grayscale and RGBA become RGB; an empty or undecodable file is an error naming it), resized to
/// the network's input (`side × side`, bilinear with antialiasing, aspect ratio not kept, as
/// YOLO-v1 was trained), scaled to `[0, 1]` (and normalised where the model asks,
/// [`YoloDetector::input_normalization`]), run in evaluation mode without gradient on the
/// model's device, decoded with [`decode`] (class-specific score `> conf`, per-class NMS with
/// IoU `> iou` suppressing) with boxes mapped back to the original image's pixels, drawn
/// ([`draw_detections_on_tensor`]) and written as `out_dir/<stem>.png` (`<stem>_2.png`, … when
/// two inputs share a stem; see [`output_paths`]). `out_dir` is created when missing; an
/// output that would replace one of the input images is refused before anything is read.
///
/// Returns one [`ImageDetections`] per path; `serde_json::to_string(&result)` gives
/// `[{"image", "detections": [{"class", "score", "box": [x1, y1, x2, y2]}]}]`.
pub fn detect_images<P: AsRef<Path>>(
    model: &dyn YoloDetector,
    paths: &[P],
    conf: f64,
    iou: f64,
    out_dir: &Path,
) -> Result<Vec<ImageDetections>> {
    detect_images_with(model, &mut |x| model.try_forward_t(x, false), paths, conf, iou, out_dir)
}

/// [`detect_images`] with the network's output computed by `forward` (given the batched,
/// preprocessed input) instead of `model`'s own forward pass: for the inference fast path
/// (`tchvision::infer`). `model` still gives the input size, layout, classes and normalisation.
pub fn detect_images_with<P: AsRef<Path>>(
    model: &dyn YoloDetector,
    forward: &mut dyn FnMut(&Tensor) -> Result<Tensor>,
    paths: &[P],
    conf: f64,
    iou: f64,
    out_dir: &Path,
) -> Result<Vec<ImageDetections>> {
    if !(0.0..=1.0).contains(&iou) || !conf.is_finite() {
        return Err(Error::InvalidArgument(format!(
            "detect: the IoU threshold must be in [0, 1] and the score threshold a number, got iou {iou}, conf {conf}"
        )));
    }
    let outputs = output_paths(paths, out_dir);
    for (input, output) in paths.iter().flat_map(|p| outputs.iter().map(move |o| (p.as_ref(), o))) {
        if crate::checkpoint::files::same_file(input, output) {
            return Err(Error::InvalidArgument(format!(
                "detect: the drawing {} would overwrite the input image {}; choose another output folder",
                output.display(),
                input.display()
            )));
        }
    }
    if out_dir.exists() && !out_dir.is_dir() {
        return Err(Error::InvalidArgument(format!("detect: the output folder {} is a file", out_dir.display())));
    }
    std::fs::create_dir_all(out_dir).map_err(|source| Error::Io { path: out_dir.display().to_string(), source })?;
    let (device, kind) =
        model.named_parameters().first().map(|(_, t)| (t.device(), t.kind())).unwrap_or((Device::Cpu, Kind::Float));
    let side = model.input_size();
    let layout = model.layout();
    let names = model.class_names();
    let norm = model.input_normalization();
    let options = DecodeOptions { score_threshold: conf, iou_threshold: iou, max_detections: None };
    let mut results = Vec::with_capacity(paths.len());
    let _guard = tch::no_grad_guard();
    for (path, output) in paths.iter().zip(outputs) {
        let path = path.as_ref();
        let img = imageio::load_rgb(path)?;
        let (h, w) = (img.size()[1], img.size()[2]);
        let ctx = |what: &str| format!("{}: {what}", path.display());
        let x = imageio::resize_to(&img.f_to_device(device).ctx(ctx("moving to the device"))?, side, side)?;
        let mut x = x.f_div_scalar(255.0).and_then(|t| t.f_clamp(0.0, 1.0)).ctx(ctx("scaling"))?;
        if let Some((mean, std)) = norm {
            let m =
                Tensor::f_from_slice(&mean).and_then(|t| t.f_to_kind(Kind::Float)).and_then(|t| t.f_to_device(device));
            let s =
                Tensor::f_from_slice(&std).and_then(|t| t.f_to_kind(Kind::Float)).and_then(|t| t.f_to_device(device));
            let (m, s) = (m.ctx(ctx("normalising"))?, s.ctx(ctx("normalising"))?);
            x = x
                .f_sub(&m.f_view([3, 1, 1]).ctx("view")?)
                .and_then(|t| t.f_div(&s.f_view([3, 1, 1])?))
                .ctx(ctx("normalising"))?;
        }
        let x = x.f_unsqueeze(0).and_then(|t| t.f_to_kind(kind)).ctx(ctx("batching"))?;
        let out = forward(&x)?;
        let dets = decode(&out, &layout, &[(w as f64, h as f64)], &options, &names)?.pop().unwrap_or_default();
        let drawn = draw_detections_on_tensor(&img, &dets)?;
        imageio::save_png(&output, &drawn)?;
        results.push(ImageDetections {
            image: path.display().to_string(),
            detections: dets,
            width: w,
            height: h,
            output,
        });
    }
    Ok(results)
}
