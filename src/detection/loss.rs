//! The YOLO-v1 training loss (Redmon et al. 2016, "You Only Look Once", §2.2, equation 3), for
//! users who fine-tune.
//!
//! With `1obj_i` = "an object's centre falls in cell i" and `1obj_ij` = "predictor j of cell i is
//! responsible for that object":
//!
//! ```text
//! λcoord Σ_i Σ_j 1obj_ij [(x_ij − x̂_i)² + (y_ij − ŷ_i)²]
//! + λcoord Σ_i Σ_j 1obj_ij [(√w_ij − √ŵ_i)² + (√h_ij − √ĥ_i)²]
//! + Σ_i Σ_j 1obj_ij (C_ij − Ĉ_ij)²
//! + λnoobj Σ_i Σ_j 1noobj_ij (C_ij − 0)²
//! + Σ_i 1obj_i Σ_c (p_i(c) − p̂_i(c))²
//! ```
//!
//! summed over the batch (the paper's sum-squared error; [`LossConfig::average_over_batch`]
//! divides by N instead), with λcoord = 5 and λnoobj = 0.5. The choices the paper leaves open:
//!
//! * **Targets** are given per image as boxes `[x1, y1, x2, y2]` relative to the image (`0..=1`)
//!   with a class index ([`TargetBox`]) and encoded by [`encode_targets`] into `[N, S, S, 5 + C]`:
//!   per cell `x, y` (the centre relative to the cell), `w, h` (relative to the image), an
//!   object flag, and C one-hot class numbers. An object belongs to the cell containing its
//!   centre (a centre on the image's right or bottom edge goes to the last cell). A cell holds at
//!   most one object (the paper's model predicts one class per cell): when several centres fall
//!   in one cell, the **first** in the list is used and the others are ignored.
//! * **The responsible predictor** is the one of the cell's B boxes with the highest IoU with the
//!   object (ties: the lowest index). When every predictor's IoU is 0 (early in training), the
//!   one whose `(cx, cy, w, h)` is closest (Euclidean, image units) is used, as darknet's
//!   detection layer does. The choice is made without gradient.
//! * **1noobj_ij** is 1 for every predictor that is not responsible, including the other
//!   predictors of a cell that holds an object (darknet's rule).
//! * **The confidence target** of the responsible predictor is its IoU with the object, detached
//!   (the paper: "we want the confidence score to equal the IoU"), or 1 with
//!   [`ConfidenceTarget::One`].
//! * **Width and height** follow the layout's `sqrt_wh` (see
//!   [`crate::detection::decode`](mod@crate::detection::decode)): with
//!   it (the default) the prediction is √w and is compared with √ŵ directly; without it the
//!   prediction is w, and `sign(w)·√(|w| + 1e-6)` is compared with √ŵ (finite gradient at 0).
//! * Predictions are used raw (the paper's last layer is linear): no sigmoid, no softmax.

use tch::{Device, Tensor};

use super::boxes::{cxcywh_to_xyxy, elementwise_box_iou};
use super::decode::YoloLayout;
use crate::error::{Error, Result, TorchResultExt};

/// The target of the responsible predictor's confidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ConfidenceTarget {
    /// Its IoU with the object, detached (the paper).
    #[default]
    Iou,
    /// 1.
    One,
}

/// Options of [`yolo_v1_loss`], the paper's by default.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossConfig {
    /// λcoord, weight of the coordinate terms (5).
    pub lambda_coord: f64,
    /// λnoobj, weight of the confidence of predictors without an object (0.5).
    pub lambda_noobj: f64,
    /// The confidence target of responsible predictors (IoU).
    pub confidence_target: ConfidenceTarget,
    /// Divide every term by the batch size (false: the paper's plain sum).
    pub average_over_batch: bool,
}

impl Default for LossConfig {
    fn default() -> Self {
        LossConfig {
            lambda_coord: 5.0,
            lambda_noobj: 0.5,
            confidence_target: ConfidenceTarget::Iou,
            average_over_batch: false,
        }
    }
}

/// One ground-truth object.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TargetBox {
    /// `[x1, y1, x2, y2]` relative to the image: `0 ≤ x1 < x2 ≤ 1`, `0 ≤ y1 < y2 ≤ 1`.
    pub bbox: [f64; 4],
    /// The class, `0..C`.
    pub class_index: i64,
}

/// The loss and its terms (scalars), each already multiplied by its λ: `total = coord + object +
/// no_object + class`.
#[derive(Debug)]
pub struct YoloLoss {
    /// The sum of the terms; call `backward()` on it.
    pub total: Tensor,
    /// λcoord · (the x, y terms + the √w, √h terms).
    pub coord: Tensor,
    /// The confidence term of responsible predictors.
    pub object: Tensor,
    /// λnoobj · the confidence term of the other predictors.
    pub no_object: Tensor,
    /// The class-probability term of cells with an object.
    pub class: Tensor,
}

/// Encodes per-image ground truth into the `[N, S, S, 5 + C]` target of [`yolo_v1_loss`] (see
/// the module docs: `x, y, w, h, object, one-hot class` per cell), as float32 on `device`.
pub fn encode_targets(targets: &[Vec<TargetBox>], layout: &YoloLayout, device: Device) -> Result<Tensor> {
    layout.validate()?;
    let (s, c) = (layout.grid_size as usize, layout.num_classes as usize);
    let d = 5 + c;
    let n = targets.len();
    let mut data = vec![0f32; n * s * s * d];
    for (i, boxes) in targets.iter().enumerate() {
        for (j, t) in boxes.iter().enumerate() {
            let [x1, y1, x2, y2] = t.bbox;
            let inside = |lo: f64, hi: f64| lo.is_finite() && hi.is_finite() && 0.0 <= lo && lo < hi && hi <= 1.0;
            if !inside(x1, x2) || !inside(y1, y2) {
                return Err(Error::InvalidArgument(format!(
                    "encode_targets: image {i}, box {j}: {:?} is not a box inside the image in relative coordinates (0 <= x1 < x2 <= 1, 0 <= y1 < y2 <= 1)",
                    t.bbox
                )));
            }
            if t.class_index < 0 || t.class_index as usize >= c {
                return Err(Error::InvalidArgument(format!(
                    "encode_targets: image {i}, box {j}: class {} is not in 0..{c}",
                    t.class_index
                )));
            }
            let (cx, cy) = ((x1 + x2) / 2.0 * s as f64, (y1 + y2) / 2.0 * s as f64);
            let col = (cx.floor() as usize).min(s - 1);
            let row = (cy.floor() as usize).min(s - 1);
            let base = ((i * s + row) * s + col) * d;
            if data[base + 4] != 0.0 {
                continue; // first object of the cell wins
            }
            data[base] = (cx - col as f64) as f32;
            data[base + 1] = (cy - row as f64) as f32;
            data[base + 2] = (x2 - x1) as f32;
            data[base + 3] = (y2 - y1) as f32;
            data[base + 4] = 1.0;
            data[base + 5 + t.class_index as usize] = 1.0;
        }
    }
    Tensor::f_from_slice(&data)
        .and_then(|t| t.f_reshape([n as i64, s as i64, s as i64, d as i64]))
        .and_then(|t| t.f_to_device(device))
        .ctx("encode_targets")
}

/// The paper's loss of `predictions` (`[N, S, S, B·5 + C]` or flat, as the network outputs
/// them) against a target encoded by [`encode_targets`] (`[N, S, S, 5 + C]`). See the module
/// docs for every rule.
pub fn yolo_v1_loss(
    predictions: &Tensor,
    target: &Tensor,
    layout: &YoloLayout,
    config: &LossConfig,
) -> Result<YoloLoss> {
    let p = layout.reshape_output(predictions)?;
    let (n, s, b, c) = (p.size()[0], layout.grid_size, layout.num_boxes, layout.num_classes);
    if target.size() != [n, s, s, 5 + c] {
        return Err(Error::ShapeMismatch {
            key: "YOLO-v1 loss target (x, y, w, h, object, C classes per cell)".into(),
            expected: vec![n, s, s, 5 + c],
            actual: target.size(),
        });
    }
    let kind = p.kind();
    let t = target.f_to_kind(kind).and_then(|t| t.f_to_device(p.device())).ctx("yolo_v1_loss: target")?;

    // Which predictor is responsible, and its IoU: no gradient.
    let (resp, iou) = {
        let _guard = tch::no_grad_guard();
        let f = || -> Result<(Tensor, Tensor)> {
            let pred_box = layout.boxes_cxcywh(&p.detach())?; // [N,S,S,B,4]
            let opts = (kind, p.device());
            let cols = Tensor::f_arange(s, opts).and_then(|t| t.f_reshape([1, 1, s])).ctx("loss")?;
            let rows = Tensor::f_arange(s, opts).and_then(|t| t.f_reshape([1, s, 1])).ctx("loss")?;
            let g = || -> std::result::Result<Tensor, tch::TchError> {
                let cx = t.f_select(-1, 0)?.f_add(&cols)?.f_div_scalar(s as f64)?;
                let cy = t.f_select(-1, 1)?.f_add(&rows)?.f_div_scalar(s as f64)?;
                Tensor::f_stack(&[cx, cy, t.f_select(-1, 2)?, t.f_select(-1, 3)?], -1)?.f_unsqueeze(3)
            };
            let true_box = g().ctx("loss: target boxes")?; // [N,S,S,1,4]
            let iou = elementwise_box_iou(&cxcywh_to_xyxy(&pred_box)?, &cxcywh_to_xyxy(&true_box)?)?; // [N,S,S,B]
            let h = || -> std::result::Result<Tensor, tch::TchError> {
                let rmse = pred_box.f_sub(&true_box)?.f_square()?.f_sum_dim_intlist(-1, false, kind)?.f_sqrt()?;
                let best_iou = iou.f_amax(-1, true)?;
                let key = iou.f_where_self(&best_iou.f_gt(0.0)?, &rmse.f_neg()?)?;
                let best = key.f_argmax(-1, false)?; // first maximum on ties
                let obj = t.f_select(-1, 4)?.f_unsqueeze(-1)?;
                best.f_one_hot(b)?.f_to_kind(kind)?.f_mul(&obj)
            };
            Ok((h().ctx("loss: responsible predictors")?, iou))
        };
        f()?
    };

    let f = || -> std::result::Result<YoloLoss, tch::TchError> {
        let raw = p.f_narrow(-1, 0, 5 * b)?.f_reshape([n, s, s, b, 5])?;
        let comp = |k: i64| raw.f_select(-1, k);
        let target = |k: i64| t.f_select(-1, k)?.f_unsqueeze(-1); // [N,S,S,1]
        let noobj = resp.f_neg()?.f_add_scalar(1.0)?;
        let obj_cell = t.f_select(-1, 4)?;
        let sq = |a: &Tensor, b: &Tensor| a.f_sub(b)?.f_square();

        let xy = sq(&comp(0)?, &target(0)?)?.f_add(&sq(&comp(1)?, &target(1)?)?)?;
        let root = |x: Tensor| -> std::result::Result<Tensor, tch::TchError> {
            if layout.sqrt_wh {
                Ok(x)
            } else {
                x.f_sign()?.f_mul(&x.f_abs()?.f_add_scalar(1e-6)?.f_sqrt()?)
            }
        };
        let tw = target(2)?.f_clamp_min(0.0)?.f_sqrt()?;
        let th = target(3)?.f_clamp_min(0.0)?.f_sqrt()?;
        let wh = sq(&root(comp(2)?)?, &tw)?.f_add(&sq(&root(comp(3)?)?, &th)?)?;
        let coord = xy.f_add(&wh)?.f_mul(&resp)?.f_sum(kind)?.f_mul_scalar(config.lambda_coord)?;

        let conf = comp(4)?;
        let conf_target = match config.confidence_target {
            ConfidenceTarget::Iou => iou.shallow_clone(),
            ConfidenceTarget::One => iou.f_ones_like()?,
        };
        let object = sq(&conf, &conf_target)?.f_mul(&resp)?.f_sum(kind)?;
        let no_object = conf.f_square()?.f_mul(&noobj)?.f_sum(kind)?.f_mul_scalar(config.lambda_noobj)?;

        let pcls = p.f_narrow(-1, 5 * b, c)?;
        let tcls = t.f_narrow(-1, 5, c)?;
        let class = sq(&pcls, &tcls)?.f_sum_dim_intlist(-1, false, kind)?.f_mul(&obj_cell)?.f_sum(kind)?;

        let scale = if config.average_over_batch && n > 0 { 1.0 / n as f64 } else { 1.0 };
        let (coord, object, no_object, class) = (
            coord.f_mul_scalar(scale)?,
            object.f_mul_scalar(scale)?,
            no_object.f_mul_scalar(scale)?,
            class.f_mul_scalar(scale)?,
        );
        let total = coord.f_add(&object)?.f_add(&no_object)?.f_add(&class)?;
        Ok(YoloLoss { total, coord, object, no_object, class })
    };
    f().ctx("yolo_v1_loss")
}
