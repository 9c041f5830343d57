//! Box geometry on tensors: areas, intersection over union, format conversion and clipping.
//!
//! Boxes are `[x1, y1, x2, y2]` (torchvision's `xyxy`), on any device and in any float kind. The
//! functions follow `torchvision.ops.boxes` (`box_area`, `box_iou`, `box_convert`,
//! `clip_boxes_to_image`) with one deliberate difference: degenerate boxes are well defined here.
//! A box with `x2 ≤ x1` or `y2 ≤ y1` has area 0 (torchvision computes a negative area for an
//! inverted box), and the IoU of two boxes whose union is empty is 0, not torchvision's NaN
//! (0/0). For ordinary boxes the results are torchvision's, computed with the same operations in
//! the same order (`inter / (area1 + area2 − inter)`).

use tch::Tensor;

use crate::error::{Error, Result, TorchResultExt};

fn check_boxes(what: &str, boxes: &Tensor) -> Result<()> {
    let size = boxes.size();
    if size.last() != Some(&4) {
        return Err(Error::InvalidArgument(format!(
            "{what}: expected boxes of shape [..., 4] (x1, y1, x2, y2), got {size:?}"
        )));
    }
    if !boxes.is_floating_point() {
        return Err(Error::InvalidArgument(format!(
            "{what}: expected a floating-point tensor of boxes, got {:?}",
            boxes.kind()
        )));
    }
    Ok(())
}

/// The area of each box, `[...]` for boxes `[..., 4]`; boxes with `x2 ≤ x1` or `y2 ≤ y1` have
/// area 0.
pub fn box_area(boxes: &Tensor) -> Result<Tensor> {
    check_boxes("box_area", boxes)?;
    let f = || -> std::result::Result<Tensor, tch::TchError> {
        let w = boxes.f_select(-1, 2)?.f_sub(&boxes.f_select(-1, 0)?)?.f_clamp_min(0.0)?;
        let h = boxes.f_select(-1, 3)?.f_sub(&boxes.f_select(-1, 1)?)?.f_clamp_min(0.0)?;
        w.f_mul(&h)
    };
    f().ctx("box_area")
}

/// Intersection over union of boxes `a` `[..., 4]` and `b` `[..., 4]`, elementwise with
/// broadcasting over the leading dimensions (`[N, 1, 4]` against `[1, M, 4]` gives `[N, M]`).
///
/// No overlap gives 0, a box inside another gives the ratio of their areas, identical boxes
/// give 1, and a pair whose union has zero area (two zero-area boxes) gives 0, never NaN.
pub fn elementwise_box_iou(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    check_boxes("box_iou (first argument)", a)?;
    check_boxes("box_iou (second argument)", b)?;
    let area_a = box_area(a)?;
    let area_b = box_area(b)?;
    let f = || -> std::result::Result<Tensor, tch::TchError> {
        let a_lt = a.f_narrow(-1, 0, 2)?;
        let a_rb = a.f_narrow(-1, 2, 2)?;
        let b_lt = b.f_narrow(-1, 0, 2)?;
        let b_rb = b.f_narrow(-1, 2, 2)?;
        let lt = a_lt.f_maximum(&b_lt)?;
        let rb = a_rb.f_minimum(&b_rb)?;
        let wh = rb.f_sub(&lt)?.f_clamp_min(0.0)?;
        let inter = wh.f_select(-1, 0)?.f_mul(&wh.f_select(-1, 1)?)?;
        let union = area_a.f_add(&area_b)?.f_sub(&inter)?;
        let positive = union.f_gt(0.0)?;
        // Divide by 1 where the union is empty (the intersection is 0 there too), so no NaN
        // appears, not even in a gradient.
        let safe = union.f_where_self(&positive, &union.f_ones_like()?)?;
        inter.f_div(&safe)?.f_mul(&positive.f_to_kind(inter.kind())?)
    };
    f().ctx("box_iou")
}

/// `torchvision.ops.box_iou`: the `[N, M]` matrix of IoUs between boxes `a` `[N, 4]` and `b`
/// `[M, 4]` (see [`elementwise_box_iou`] for the edge cases).
pub fn box_iou(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    check_boxes("box_iou (first argument)", a)?;
    check_boxes("box_iou (second argument)", b)?;
    if a.dim() != 2 || b.dim() != 2 {
        return Err(Error::InvalidArgument(format!(
            "box_iou: expected boxes [N, 4] and [M, 4], got {:?} and {:?}",
            a.size(),
            b.size()
        )));
    }
    let a = a.f_unsqueeze(1).ctx("box_iou")?;
    let b = b.f_unsqueeze(0).ctx("box_iou")?;
    elementwise_box_iou(&a, &b)
}

/// Converts `[cx, cy, w, h]` boxes to `[x1, y1, x2, y2]` (`box_convert(..., "cxcywh", "xyxy")`).
pub fn cxcywh_to_xyxy(boxes: &Tensor) -> Result<Tensor> {
    check_boxes("cxcywh_to_xyxy", boxes)?;
    let f = || -> std::result::Result<Tensor, tch::TchError> {
        let c = boxes.f_narrow(-1, 0, 2)?;
        let half = boxes.f_narrow(-1, 2, 2)?.f_mul_scalar(0.5)?;
        Tensor::f_cat(&[c.f_sub(&half)?, c.f_add(&half)?], -1)
    };
    f().ctx("cxcywh_to_xyxy")
}

/// Converts `[x1, y1, x2, y2]` boxes to `[cx, cy, w, h]`.
pub fn xyxy_to_cxcywh(boxes: &Tensor) -> Result<Tensor> {
    check_boxes("xyxy_to_cxcywh", boxes)?;
    let f = || -> std::result::Result<Tensor, tch::TchError> {
        let lt = boxes.f_narrow(-1, 0, 2)?;
        let rb = boxes.f_narrow(-1, 2, 2)?;
        Tensor::f_cat(&[lt.f_add(&rb)?.f_mul_scalar(0.5)?, rb.f_sub(&lt)?], -1)
    };
    f().ctx("xyxy_to_cxcywh")
}

/// `torchvision.ops.clip_boxes_to_image`: clamps x to `[0, width]` and y to `[0, height]`.
pub fn clip_boxes(boxes: &Tensor, width: f64, height: f64) -> Result<Tensor> {
    check_boxes("clip_boxes", boxes)?;
    let f = || -> std::result::Result<Tensor, tch::TchError> {
        let x1 = boxes.f_select(-1, 0)?.f_clamp(0.0, width)?;
        let y1 = boxes.f_select(-1, 1)?.f_clamp(0.0, height)?;
        let x2 = boxes.f_select(-1, 2)?.f_clamp(0.0, width)?;
        let y2 = boxes.f_select(-1, 3)?.f_clamp(0.0, height)?;
        Tensor::f_stack(&[x1, y1, x2, y2], -1)
    };
    f().ctx("clip_boxes")
}
