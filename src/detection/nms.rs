//! Non-maximum suppression on tensors, as `torchvision.ops.nms` and `torchvision.ops.batched_nms`.
//!
//! Greedy NMS: boxes are visited by descending score; a visited box that has not been suppressed
//! is kept, and suppresses every later box (of the same class, for [`batched_nms`]) whose IoU
//! with it is **strictly greater** than the threshold (torchvision's rule: an IoU equal to the
//! threshold survives).
//!
//! **Tie rule.** Boxes are ordered by a stable descending sort of the scores, so among equal
//! scores the box that comes first in the input is visited (and kept) first; the result lists
//! the kept boxes' indices by descending score, equal scores in input order. torchvision's CPU
//! kernel sorts stably too, and its `batched_nms` gives the same order on inputs small enough
//! for its coordinate-offset path (where all classes go through one NMS).
//!
//! The IoU matrix is computed with tensor operations on the boxes' device, one class at a time
//! and in blocks of rows (so memory stays bounded for tens of thousands of boxes); only the
//! boolean "suppresses" rows come to the CPU for the greedy pass. IoU is [`box_iou`]'s: a pair
//! whose union is empty has IoU 0 and never suppresses (torchvision's 0/0 = NaN does not
//! either).

use tch::{Device, Kind, Tensor};

use super::boxes::box_iou;
use crate::error::{Error, Result, TorchResultExt};

/// At most this many IoU entries are computed at once (rows × columns of one block).
const BLOCK_ENTRIES: i64 = 1 << 24;

fn check(boxes: &Tensor, scores: &Tensor, idxs: Option<&Tensor>) -> Result<i64> {
    let b = boxes.size();
    if b.len() != 2 || b[1] != 4 {
        return Err(Error::InvalidArgument(format!("nms: expected boxes [K, 4], got {b:?}")));
    }
    let k = b[0];
    if scores.size() != [k] {
        return Err(Error::InvalidArgument(format!(
            "nms: expected scores [{k}] (one per box), got {:?}",
            scores.size()
        )));
    }
    if let Some(i) = idxs {
        if i.size() != [k] {
            return Err(Error::InvalidArgument(format!(
                "batched_nms: expected idxs [{k}] (one category per box), got {:?}",
                i.size()
            )));
        }
        if i.is_floating_point() {
            return Err(Error::InvalidArgument(format!("batched_nms: idxs must be integers, got {:?}", i.kind())));
        }
    }
    Ok(k)
}

/// Greedy NMS over boxes that all share a category, in visiting order; returns the positions
/// (into `order`) that are kept.
fn greedy(boxes: &Tensor, iou_threshold: f64) -> Result<Vec<usize>> {
    let k = boxes.size()[0];
    let mut suppressed = vec![false; k as usize];
    let mut keep = Vec::new();
    let rows_per_block = (BLOCK_ENTRIES / k.max(1)).max(1);
    let mut start = 0;
    while start < k {
        let rows = rows_per_block.min(k - start);
        let block = boxes.f_narrow(0, start, rows).ctx("nms: selecting a block of boxes")?;
        let over = box_iou(&block, boxes)?.f_gt(iou_threshold).ctx("nms: comparing IoUs")?;
        let over = over.f_to_device(Device::Cpu).ctx("nms: copying to the CPU")?;
        let flat: Vec<bool> = Vec::<bool>::try_from(over.f_flatten(0, -1).ctx("nms")?.f_contiguous().ctx("nms")?)
            .map_err(|e| Error::torch("nms: reading the IoU block", e))?;
        for r in 0..rows as usize {
            let i = start as usize + r;
            if suppressed[i] {
                continue;
            }
            keep.push(i);
            let row = &flat[r * k as usize..(r + 1) * k as usize];
            for j in i + 1..k as usize {
                if row[j] {
                    suppressed[j] = true;
                }
            }
        }
        start += rows;
    }
    Ok(keep)
}

fn index_tensor(v: &[i64], device: Device) -> Result<Tensor> {
    Tensor::f_from_slice(v).ctx("nms: building indices")?.f_to_device(device).ctx("nms: moving indices")
}

/// `torchvision.ops.nms`: the indices (int64, on the boxes' device) of the boxes kept by greedy
/// NMS, by descending score (see the module docs for the tie rule).
///
/// `boxes` `[K, 4]` as `x1, y1, x2, y2`; `scores` `[K]`.
pub fn nms(boxes: &Tensor, scores: &Tensor, iou_threshold: f64) -> Result<Tensor> {
    check(boxes, scores, None)?;
    run(boxes, scores, None, iou_threshold)
}

/// `torchvision.ops.batched_nms`: NMS within each category of `idxs` `[K]` (boxes of different
/// categories never suppress each other); the kept indices (int64, on the boxes' device) by
/// descending score, equal scores in input order.
pub fn batched_nms(boxes: &Tensor, scores: &Tensor, idxs: &Tensor, iou_threshold: f64) -> Result<Tensor> {
    check(boxes, scores, Some(idxs))?;
    run(boxes, scores, Some(idxs), iou_threshold)
}

fn run(boxes: &Tensor, scores: &Tensor, idxs: Option<&Tensor>, iou_threshold: f64) -> Result<Tensor> {
    let device = boxes.device();
    let k = boxes.size()[0];
    if k == 0 {
        return Tensor::f_zeros([0], (Kind::Int64, device)).ctx("nms");
    }
    let _guard = tch::no_grad_guard();
    // Stable descending sort: equal scores keep their input order.
    let (_, order) = scores.f_sort_stable(true, 0, true).ctx("nms: sorting scores")?;
    let order_cpu: Vec<i64> =
        Vec::<i64>::try_from(order.f_to_device(Device::Cpu).ctx("nms")?).map_err(|e| Error::torch("nms", e))?;
    // Group the visiting order by category, keeping the order within each group.
    let groups: Vec<Vec<i64>> = match idxs {
        None => vec![(0..k).collect()],
        Some(idxs) => {
            let cats: Vec<i64> = Vec::<i64>::try_from(
                idxs.f_to_kind(Kind::Int64)
                    .ctx("nms")?
                    .f_to_device(Device::Cpu)
                    .ctx("nms")?
                    .f_index_select(0, &Tensor::f_from_slice(&order_cpu).ctx("nms")?)
                    .ctx("nms")?,
            )
            .map_err(|e| Error::torch("batched_nms: reading categories", e))?;
            let mut map: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
            for (pos, c) in cats.into_iter().enumerate() {
                map.entry(c).or_default().push(pos as i64);
            }
            map.into_values().collect()
        }
    };
    // Positions (in visiting order) that survive.
    let mut kept_positions = Vec::new();
    for group in groups {
        let orig: Vec<i64> = group.iter().map(|&p| order_cpu[p as usize]).collect();
        let sel = boxes.f_index_select(0, &index_tensor(&orig, device)?).ctx("nms: selecting boxes")?;
        for g in greedy(&sel, iou_threshold)? {
            kept_positions.push(group[g]);
        }
    }
    // Visiting order is descending score with ties in input order.
    kept_positions.sort_unstable();
    let kept: Vec<i64> = kept_positions.into_iter().map(|p| order_cpu[p as usize]).collect();
    index_tensor(&kept, device)
}
