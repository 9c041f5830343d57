//! Decoding a YOLO-v1 output into detections (Redmon et al. 2016, "You Only Look Once: Unified,
//! Real-Time Object Detection", §2 and §2.2).
//!
//! # The output layout
//!
//! A YOLO-v1 head predicts, for each of the S×S cells of a grid laid over the image, B boxes with
//! a confidence each and one set of C class probabilities. [`YoloLayout`] holds S, B, C and how
//! width and height are parametrised. The output is `[N, S, S, B·5 + C]` (or the same numbers
//! flat, `[N, S·S·(B·5 + C)]`), indexed `[n, row, col, k]` with `row` the cell's vertical and
//! `col` its horizontal position (darknet's `row = i / S`, `col = i % S`). Within a cell:
//!
//! | `k`                  | meaning                                                           |
//! |----------------------|-------------------------------------------------------------------|
//! | `5b + 0`, `5b + 1`   | x, y of box `b`'s centre, relative to the cell: `cx = (col + x)/S` |
//! | `5b + 2`, `5b + 3`   | w, h of box `b`, relative to the image (see `sqrt_wh`)            |
//! | `5b + 4`             | box `b`'s confidence, Pr(Object)·IoU                               |
//! | `5B + c`             | Pr(Class c \| Object), shared by the cell's B boxes               |
//!
//! for `b` in `0..B` and `c` in `0..C`. This is the common per-cell form of the paper's
//! S×S×(B·5+C) tensor (darknet's own detection layer stores the same numbers plane by plane:
//! all class probabilities, then all confidences, then all coordinates).
//!
//! With `sqrt_wh` (the default, as the paper and darknet's `yolov1.cfg`, `sqrt=1`) the network
//! predicts √w and √h, so the width is the prediction squared; without it the prediction is the
//! width itself.
//!
//! # Decoding
//!
//! The class-specific score of box `b` for class `c` is Pr(Class c | Object) · confidence (the
//! paper's test-time score). Both factors come from a linear layer and can be negative, so each
//! is clamped at 0 first (two negative outputs would otherwise make a positive score). Boxes are
//! scaled to the image's pixels and clipped to it; boxes left with no width or height are
//! dropped. Every (box, class) pair whose score is **strictly greater** than the score threshold
//! is a candidate; candidates are listed in (row, col, b, c) order and go through per-class NMS
//! ([`batched_nms`], IoU strictly greater than the threshold suppresses; equal scores keep that
//! order). Detections come out by descending score. A box may be reported for more than one class.
//!
//! All of this runs with tensor operations on the output's device; only the final detections
//! (and NMS's boolean suppression rows) are copied to the CPU.

use tch::{Device, Kind, Tensor};

use super::boxes::clip_boxes;
use super::nms::batched_nms;
use super::{class_name, Detection};
use crate::error::{Error, Result, TorchResultExt};

/// The shape and parametrisation of a YOLO-v1 output (see the module docs for the layout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct YoloLayout {
    /// S: the grid is S×S cells.
    pub grid_size: i64,
    /// B: boxes predicted per cell.
    pub num_boxes: i64,
    /// C: classes.
    pub num_classes: i64,
    /// The network predicts √w and √h (the paper's parametrisation) rather than w and h.
    pub sqrt_wh: bool,
}

impl Default for YoloLayout {
    fn default() -> Self {
        YoloLayout::paper()
    }
}

impl YoloLayout {
    /// The paper's PASCAL VOC layout: S = 7, B = 2, C = 20, √w/√h.
    pub fn paper() -> Self {
        YoloLayout { grid_size: 7, num_boxes: 2, num_classes: 20, sqrt_wh: true }
    }

    /// Numbers per cell: B·5 + C.
    pub fn cell_len(&self) -> i64 {
        self.num_boxes * 5 + self.num_classes
    }

    /// Numbers per image: S·S·(B·5 + C).
    pub fn output_len(&self) -> i64 {
        self.grid_size * self.grid_size * self.cell_len()
    }

    /// Refuses non-positive S, B or C.
    pub fn validate(&self) -> Result<()> {
        if self.grid_size <= 0 || self.num_boxes <= 0 || self.num_classes <= 0 {
            return Err(Error::InvalidArgument(format!(
                "YOLO layout: S, B and C must be positive, got S={}, B={}, C={}",
                self.grid_size, self.num_boxes, self.num_classes
            )));
        }
        Ok(())
    }

    /// `output` as `[N, S, S, B·5 + C]`, from that shape or from the flat `[N, S·S·(B·5 + C)]`.
    pub fn reshape_output(&self, output: &Tensor) -> Result<Tensor> {
        self.validate()?;
        let (s, d) = (self.grid_size, self.cell_len());
        let size = output.size();
        let ok = match size.as_slice() {
            [_, a, b, c] => *a == s && *b == s && *c == d,
            [_, flat] => *flat == s * s * d,
            _ => false,
        };
        if !ok {
            return Err(Error::ShapeMismatch {
                key: format!("YOLO-v1 output (S={s}, B={}, C={})", self.num_boxes, self.num_classes),
                expected: vec![size.first().copied().unwrap_or(1), s, s, d],
                actual: size,
            });
        }
        output.f_reshape([size[0], s, s, d]).ctx("reshaping the YOLO-v1 output")
    }

    /// Decodes the box part of an output `[N, S, S, B·5 + C]` into boxes relative to the image:
    /// `[N, S, S, B, 4]` as `cx, cy, w, h`, each in image units (1 = the image's width or height).
    pub fn boxes_cxcywh(&self, output: &Tensor) -> Result<Tensor> {
        let out = self.reshape_output(output)?;
        let (n, s, b) = (out.size()[0], self.grid_size, self.num_boxes);
        let f = || -> std::result::Result<Tensor, tch::TchError> {
            let raw = out.f_narrow(-1, 0, 5 * b)?.f_reshape([n, s, s, b, 5])?;
            let opts = (out.kind(), out.device());
            let cols = Tensor::f_arange(s, opts)?.f_reshape([1, 1, s, 1])?;
            let rows = Tensor::f_arange(s, opts)?.f_reshape([1, s, 1, 1])?;
            let cx = raw.f_select(-1, 0)?.f_add(&cols)?.f_div_scalar(s as f64)?;
            let cy = raw.f_select(-1, 1)?.f_add(&rows)?.f_div_scalar(s as f64)?;
            let (mut w, mut h) = (raw.f_select(-1, 2)?, raw.f_select(-1, 3)?);
            if self.sqrt_wh {
                w = w.f_square()?;
                h = h.f_square()?;
            }
            Tensor::f_stack(&[cx, cy, w, h], -1)
        };
        f().ctx("decoding YOLO-v1 boxes")
    }

    /// The confidences `[N, S, S, B]` of an output.
    pub fn confidences(&self, output: &Tensor) -> Result<Tensor> {
        let out = self.reshape_output(output)?;
        let (n, s, b) = (out.size()[0], self.grid_size, self.num_boxes);
        let f = || out.f_narrow(-1, 0, 5 * b)?.f_reshape([n, s, s, b, 5])?.f_select(-1, 4);
        f().ctx("reading YOLO-v1 confidences")
    }

    /// The class probabilities `[N, S, S, C]` of an output.
    pub fn class_probabilities(&self, output: &Tensor) -> Result<Tensor> {
        let out = self.reshape_output(output)?;
        out.f_narrow(-1, 5 * self.num_boxes, self.num_classes).ctx("reading YOLO-v1 class probabilities")
    }
}

/// Thresholds of [`decode`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DecodeOptions {
    /// Keep (box, class) pairs whose class-specific score is strictly greater than this (0.2).
    pub score_threshold: f64,
    /// NMS suppresses a box whose IoU with a better box of its class is strictly greater than
    /// this (0.5).
    pub iou_threshold: f64,
    /// At most this many detections per image, the best ones (`None`: all).
    pub max_detections: Option<usize>,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions { score_threshold: 0.2, iou_threshold: 0.5, max_detections: None }
    }
}

/// Decodes a YOLO-v1 output `[N, S, S, B·5 + C]` (or flat) into detections per image, in the
/// pixels of each image: `image_sizes[n]` is image `n`'s `(width, height)` (the size of the
/// original image, so that boxes come back in its pixels however it was resized for the
/// network). Class names come from `class_names` (`"class7"` where it has no entry).
///
/// See the module docs for the rules (scores, thresholds, clipping, NMS, order).
pub fn decode(
    output: &Tensor,
    layout: &YoloLayout,
    image_sizes: &[(f64, f64)],
    options: &DecodeOptions,
    class_names: &[String],
) -> Result<Vec<Vec<Detection>>> {
    let _guard = tch::no_grad_guard();
    let out = layout.reshape_output(output)?;
    let out = if out.kind() == Kind::Double { out } else { out.f_to_kind(Kind::Float).ctx("decode")? };
    let n = out.size()[0];
    if image_sizes.len() as i64 != n {
        return Err(Error::InvalidArgument(format!(
            "decode: {} image sizes for a batch of {n} outputs",
            image_sizes.len()
        )));
    }
    if let Some(&(w, h)) = image_sizes.iter().find(|(w, h)| !(w.is_finite() && h.is_finite() && *w > 0.0 && *h > 0.0)) {
        return Err(Error::InvalidArgument(format!("decode: image size {w}×{h} is not a positive size")));
    }
    let (s, b, c) = (layout.grid_size, layout.num_boxes, layout.num_classes);
    let k = s * s * b;
    let cxcywh = layout.boxes_cxcywh(&out)?;
    let xyxy = super::boxes::cxcywh_to_xyxy(&cxcywh)?;
    let scores = {
        let f = || -> std::result::Result<Tensor, tch::TchError> {
            let conf = layout.confidences(&out).map_err(to_tch)?.f_clamp_min(0.0)?;
            let probs = layout.class_probabilities(&out).map_err(to_tch)?.f_clamp_min(0.0)?;
            conf.f_unsqueeze(-1)?.f_mul(&probs.f_unsqueeze(-2)?)
        };
        f().ctx("decode: class-specific scores")?
    };
    let mut all = Vec::with_capacity(n as usize);
    for (i, &(width, height)) in image_sizes.iter().enumerate() {
        let i = i as i64;
        let scale = Tensor::f_from_slice(&[width, height, width, height])
            .and_then(|t| t.f_to_kind(out.kind()))
            .and_then(|t| t.f_to_device(out.device()))
            .ctx("decode")?;
        let f = || -> std::result::Result<(Tensor, Tensor, Tensor), tch::TchError> {
            let boxes = xyxy.f_get(i)?.f_reshape([k, 4])?.f_mul(&scale)?;
            let boxes = clip_boxes(&boxes, width, height).map_err(to_tch)?;
            let valid = boxes
                .f_select(1, 2)?
                .f_gt_tensor(&boxes.f_select(1, 0)?)?
                .f_logical_and(&boxes.f_select(1, 3)?.f_gt_tensor(&boxes.f_select(1, 1)?)?)?;
            let sc = scores.f_get(i)?.f_reshape([k, c])?;
            let mask = sc.f_gt(options.score_threshold)?.f_logical_and(&valid.f_unsqueeze(1)?)?;
            let nz = mask.f_nonzero()?;
            let box_idx = nz.f_select(1, 0)?;
            let cls_idx = nz.f_select(1, 1)?;
            let flat = box_idx.f_mul_scalar(c)?.f_add(&cls_idx)?;
            let cand_scores = sc.f_reshape([k * c])?.f_index_select(0, &flat)?;
            let cand_boxes = boxes.f_index_select(0, &box_idx)?;
            Ok((cand_boxes, cand_scores, cls_idx))
        };
        let (cand_boxes, cand_scores, cls_idx) = f().ctx("decode: selecting candidates")?;
        let keep = batched_nms(&cand_boxes, &cand_scores, &cls_idx, options.iou_threshold)?;
        let keep = match options.max_detections {
            Some(m) if (m as i64) < keep.size()[0] => keep.f_narrow(0, 0, m as i64).ctx("decode")?,
            _ => keep,
        };
        let to_cpu = |t: Tensor| -> Result<Tensor> {
            t.f_index_select(0, &keep).and_then(|t| t.f_to_device(Device::Cpu)).ctx("decode: reading detections")
        };
        let kb: Vec<f64> = read(to_cpu(cand_boxes)?.f_to_kind(Kind::Double).ctx("decode")?)?;
        let ks: Vec<f64> = read(to_cpu(cand_scores)?.f_to_kind(Kind::Double).ctx("decode")?)?;
        let kc: Vec<i64> = read(to_cpu(cls_idx)?)?;
        let dets = ks
            .iter()
            .zip(&kc)
            .enumerate()
            .map(|(j, (&score, &cls))| Detection {
                class_index: cls as usize,
                class_name: class_name(class_names, cls as usize),
                score: score as f32,
                bbox: [kb[4 * j] as f32, kb[4 * j + 1] as f32, kb[4 * j + 2] as f32, kb[4 * j + 3] as f32],
            })
            .collect();
        all.push(dets);
    }
    Ok(all)
}

fn read<T: tch::kind::Element + Copy>(t: Tensor) -> Result<Vec<T>> {
    let t = t.f_flatten(0, -1).ctx("decode")?;
    Vec::<T>::try_from(t).map_err(|e| Error::torch("decode: copying detections", e))
}

fn to_tch(e: Error) -> tch::TchError {
    tch::TchError::Torch(e.to_string())
}
