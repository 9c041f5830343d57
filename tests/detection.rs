//! Detection tools (src/detection/): IoU and NMS against torchvision, decoding and the loss on
//! hand-made cases, drawing, and detect_images on files.

mod common;

use tch::{nn::VarStore, Device, Kind, Tensor};
use tchvision::detection::boxes::{box_area, elementwise_box_iou};
use tchvision::detection::draw::{class_color, glyph, rgb_image_to_tensor, text_size};
use tchvision::detection::yolo::{YoloV1, YoloV1Config};
use tchvision::detection::{
    batched_nms, box_iou, decode, detect_images, draw_detections, draw_detections_on_tensor, encode_targets, nms,
    voc_class_names, yolo_v1_loss, ConfidenceTarget, DecodeOptions, Detection, LossConfig, TargetBox, YoloLayout,
};
use tchvision::nn::ModuleExt;
use tchvision::Error;

fn t(v: &[f32], shape: &[i64]) -> Tensor {
    Tensor::from_slice(v).reshape(shape)
}

fn ints(x: &Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(x.to_device(Device::Cpu)).unwrap()
}

// ----------------------------------------------------------------------------------------------
// IoU

#[test]
fn box_iou_matches_torchvision() {
    let fx = common::tensors("yolo/iou.safetensors");
    let iou = box_iou(&fx["a"], &fx["b"]).unwrap();
    common::assert_close("box_iou", &iou, &fx["iou"], 1e-6, 1e-7);
}

#[test]
fn box_iou_edge_cases() {
    let a = t(&[0., 0., 10., 10.], &[1, 4]);
    let cases: [(&str, [f32; 4], f64); 8] = [
        ("identical", [0., 0., 10., 10.], 1.0),
        ("no overlap", [20., 20., 30., 30.], 0.0),
        ("touching edge", [10., 0., 20., 10.], 0.0),
        ("contained", [2., 2., 4., 4.], 4.0 / 100.0),
        ("containing", [-5., -5., 15., 15.], 100.0 / 400.0),
        ("half overlap", [5., 0., 15., 10.], 50.0 / 150.0),
        ("zero-area inside", [5., 5., 5., 8.], 0.0),
        ("inverted box", [8., 8., 2., 2.], 0.0),
    ];
    for (what, b, want) in cases {
        let iou = box_iou(&a, &t(&b, &[1, 4])).unwrap().double_value(&[0, 0]);
        assert!((iou - want).abs() < 1e-7, "{what}: {iou} != {want}");
        // Symmetric.
        let iou2 = box_iou(&t(&b, &[1, 4]), &a).unwrap().double_value(&[0, 0]);
        assert_eq!(iou, iou2, "{what}");
    }
    // Two zero-area boxes (the union is empty): 0, not torchvision's NaN, and a finite gradient.
    let z = t(&[3., 3., 3., 3.], &[1, 4]).set_requires_grad(true);
    let iou = box_iou(&z, &t(&[3., 3., 3., 3.], &[1, 4])).unwrap();
    assert_eq!(iou.double_value(&[0, 0]), 0.0);
    iou.sum(Kind::Float).backward();
    assert!(z.grad().isfinite().all().int64_value(&[]) == 1, "gradient {:?}", z.grad());
    // Shapes: [N, 4] x [M, 4] -> [N, M]; empty sets work.
    assert_eq!(
        box_iou(&Tensor::zeros([3, 4], (Kind::Float, Device::Cpu)), &Tensor::zeros([5, 4], (Kind::Float, Device::Cpu)))
            .unwrap()
            .size(),
        [3, 5]
    );
    assert_eq!(box_iou(&Tensor::zeros([0, 4], (Kind::Float, Device::Cpu)), &a).unwrap().size(), [0, 1]);
    assert!(box_iou(&Tensor::zeros([3, 5], (Kind::Float, Device::Cpu)), &a).is_err());
    assert!(box_iou(&Tensor::zeros([3, 4], (Kind::Int64, Device::Cpu)), &a).is_err());
    // Broadcasting form and areas.
    let e = elementwise_box_iou(&t(&[0., 0., 10., 10., 0., 0., 1., 1.], &[2, 4]), &a).unwrap();
    assert_eq!(e.size(), [2]);
    assert!((e.double_value(&[1]) - 0.01).abs() < 1e-7);
    let areas = box_area(&t(&[0., 0., 2., 3., 5., 5., 4., 9.], &[2, 4])).unwrap();
    assert_eq!(Vec::<f32>::try_from(areas).unwrap(), [6.0, 0.0]);
}

// ----------------------------------------------------------------------------------------------
// NMS

#[test]
fn nms_matches_torchvision() {
    let fx = common::tensors("yolo/nms.safetensors");
    let meta = common::json("yolo/nms.json");
    for case in meta["cases"].as_array().unwrap() {
        let set = case["set"].as_str().unwrap();
        let thr = case["iou"].as_f64().unwrap();
        let (b, s, i) = (&fx[&format!("{set}/boxes")], &fx[&format!("{set}/scores")], &fx[&format!("{set}/idxs")]);
        // Python writes the thresholds as 0.0, 0.3, … : the same text as serde's f64 Display
        // except for integers.
        let key = if thr.fract() == 0.0 { format!("{set}/{thr:.1}") } else { format!("{set}/{thr}") };
        let want_nms = ints(&fx[&format!("{key}/nms")]);
        let want_b = ints(&fx[&format!("{key}/batched")]);
        assert_eq!(ints(&nms(b, s, thr).unwrap()), want_nms, "nms, {set} boxes, iou {thr}");
        assert_eq!(ints(&batched_nms(b, s, i, thr).unwrap()), want_b, "batched_nms, {set} boxes, iou {thr}");
    }
}

#[test]
fn nms_hand_cases() {
    let none = Tensor::zeros([0, 4], (Kind::Float, Device::Cpu));
    let empty = nms(&none, &Tensor::zeros([0], (Kind::Float, Device::Cpu)), 0.5).unwrap();
    assert_eq!(empty.size(), [0]);
    assert_eq!(empty.kind(), Kind::Int64);

    // Identical boxes with equal scores: the first in the input survives.
    let b = t(&[0., 0., 10., 10., 0., 0., 10., 10., 0., 0., 10., 10.], &[3, 4]);
    assert_eq!(ints(&nms(&b, &t(&[0.5, 0.5, 0.5], &[3]), 0.5).unwrap()), [0]);
    assert_eq!(ints(&nms(&b, &t(&[0.5, 0.7, 0.7], &[3]), 0.5).unwrap()), [1]);

    // Disjoint boxes: all kept, by descending score, equal scores in input order.
    let b = t(&[0., 0., 1., 1., 2., 2., 3., 3., 4., 4., 5., 5., 6., 6., 7., 7.], &[4, 4]);
    assert_eq!(ints(&nms(&b, &t(&[0.3, 0.5, 0.5, 0.1], &[4]), 0.5).unwrap()), [1, 2, 0, 3]);

    // IoU equal to the threshold survives (strictly greater suppresses): IoU 50/100.
    let b = t(&[0., 0., 10., 10., 0., 0., 10., 5.], &[2, 4]);
    let s = t(&[0.9, 0.8], &[2]);
    assert_eq!(ints(&nms(&b, &s, 0.5).unwrap()), [0, 1]);
    assert_eq!(ints(&nms(&b, &s, 0.49).unwrap()), [0]);
    // …unless the boxes are of different categories.
    assert_eq!(ints(&batched_nms(&b, &s, &Tensor::from_slice(&[0i64, 1]), 0.49).unwrap()), [0, 1]);
    assert_eq!(ints(&batched_nms(&b, &s, &Tensor::from_slice(&[3i64, 3]), 0.49).unwrap()), [0]);

    // Chains: A suppresses B, B would have suppressed C but is gone, so C stays.
    let b = t(&[0., 0., 10., 10., 6., 0., 16., 10., 12., 0., 22., 10.], &[3, 4]);
    assert_eq!(ints(&nms(&b, &t(&[0.9, 0.8, 0.7], &[3]), 0.2).unwrap()), [0, 2]);

    // Zero-area boxes never suppress each other.
    let b = t(&[5., 5., 5., 5., 5., 5., 5., 5.], &[2, 4]);
    assert_eq!(ints(&nms(&b, &t(&[0.9, 0.8], &[2]), 0.0).unwrap()), [0, 1]);

    // Bad shapes are errors.
    assert!(nms(&t(&[0., 0., 1., 1.], &[1, 4]), &t(&[0.1, 0.2], &[2]), 0.5).is_err());
    assert!(batched_nms(&t(&[0., 0., 1., 1.], &[1, 4]), &t(&[0.1], &[1]), &t(&[0.0], &[1]), 0.5).is_err());
}

// ----------------------------------------------------------------------------------------------
// Decoding

/// A zero YOLO output for `n` images.
fn zero_output(layout: &YoloLayout, n: i64) -> Tensor {
    Tensor::zeros([n, layout.grid_size, layout.grid_size, layout.cell_len()], (Kind::Float, Device::Cpu))
}

/// Sets output[n, row, col, k] = v.
fn set(out: &Tensor, n: i64, row: i64, col: i64, k: i64, v: f64) {
    let _ = out.get(n).get(row).get(col).get(k).fill_(v);
}

/// Box `b` of cell (row, col): x, y, √w, √h (or w, h), confidence.
fn set_box(out: &Tensor, n: i64, row: i64, col: i64, b: i64, v: [f64; 5]) {
    for (i, x) in v.iter().enumerate() {
        set(out, n, row, col, 5 * b + i as i64, *x);
    }
}

fn set_class(out: &Tensor, layout: &YoloLayout, n: i64, row: i64, col: i64, c: i64, p: f64) {
    set(out, n, row, col, 5 * layout.num_boxes + c, p);
}

fn close(a: [f32; 4], b: [f32; 4]) -> bool {
    a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-3)
}

fn opts(score: f64, iou: f64) -> DecodeOptions {
    DecodeOptions { score_threshold: score, iou_threshold: iou, max_detections: None }
}

#[test]
fn decode_empty_and_errors() {
    let l = YoloLayout::paper();
    let names = voc_class_names();
    let out = zero_output(&l, 2);
    let d = decode(&out, &l, &[(448.0, 448.0), (10.0, 20.0)], &DecodeOptions::default(), &names).unwrap();
    assert_eq!(d.len(), 2);
    assert!(d.iter().all(|v| v.is_empty()));
    // Wrong shapes, sizes and counts.
    let e =
        decode(&Tensor::zeros([1, 7, 7, 29], (Kind::Float, Device::Cpu)), &l, &[(1.0, 1.0)], &opts(0.2, 0.5), &names);
    assert!(matches!(e, Err(Error::ShapeMismatch { .. })), "{e:?}");
    assert!(decode(&out, &l, &[(448.0, 448.0)], &opts(0.2, 0.5), &names).is_err(), "one size for two images");
    assert!(decode(&out, &l, &[(0.0, 448.0), (1.0, 1.0)], &opts(0.2, 0.5), &names).is_err());
    // The flat form is accepted.
    let flat = Tensor::zeros([1, 7 * 7 * 30], (Kind::Float, Device::Cpu));
    assert_eq!(decode(&flat, &l, &[(448.0, 448.0)], &opts(0.2, 0.5), &names).unwrap(), [vec![]]);
}

#[test]
fn decode_a_box_across_cells_on_a_non_square_image() {
    let l = YoloLayout::paper();
    let names = voc_class_names();
    let out = zero_output(&l, 1);
    // Cell (row 2, col 4), box 1: x 0.25, y 0.75, √w 0.6, √h 0.8, confidence 0.9; class 7
    // (cat) with probability 0.5 → score 0.45.
    set_box(&out, 0, 2, 4, 1, [0.25, 0.75, 0.6, 0.8, 0.9]);
    set_class(&out, &l, 0, 2, 4, 7, 0.5);
    let d = decode(&out, &l, &[(700.0, 350.0)], &opts(0.2, 0.5), &names).unwrap();
    assert_eq!(d[0].len(), 1);
    let det = &d[0][0];
    assert_eq!((det.class_index, det.class_name.as_str()), (7, "cat"));
    assert!((det.score - 0.45).abs() < 1e-6);
    // Centre: ((4 + 0.25)/7 · 700, (2 + 0.75)/7 · 350) = (425, 137.5); size 0.6² · 700 = 252 by
    // 0.8² · 350 = 224, so the box is [299, 25.5, 551, 249.5], across columns 2 to 5.
    assert!(close(det.bbox, [299.0, 25.5, 551.0, 249.5]), "{:?}", det.bbox);

    // The same numbers read as w, h (no square root): 0.6 · 700 = 420 by 0.8 · 350 = 280,
    // [215, -2.5, 635, 277.5] clipped to the image → y1 = 0.
    let linear = YoloLayout { sqrt_wh: false, ..l };
    let d = decode(&out, &linear, &[(700.0, 350.0)], &opts(0.2, 0.5), &names).unwrap();
    assert!(close(d[0][0].bbox, [215.0, 0.0, 635.0, 277.5]), "{:?}", d[0][0].bbox);
}

#[test]
fn decode_clips_to_the_image() {
    let l = YoloLayout::paper();
    let out = zero_output(&l, 1);
    // Cell (0, 0): centre (0.1/7, 0.1/7) of a 448 image = (6.4, 6.4), 0.25 · 448 = 112 wide:
    // [-49.6, -49.6, 62.4, 62.4] → [0, 0, 62.4, 62.4].
    set_box(&out, 0, 0, 0, 0, [0.1, 0.1, 0.5, 0.5, 1.0]);
    set_class(&out, &l, 0, 0, 0, 0, 1.0);
    // Cell (6, 6) box 1 placed wholly outside the image (x offset 3): dropped.
    set_box(&out, 0, 6, 6, 1, [3.0, 0.5, 0.1, 0.1, 1.0]);
    set_class(&out, &l, 0, 6, 6, 1, 1.0);
    let d = decode(&out, &l, &[(448.0, 448.0)], &opts(0.2, 0.5), &voc_class_names()).unwrap();
    assert_eq!(d[0].len(), 1, "{:?}", d[0]);
    assert!(close(d[0][0].bbox, [0.0, 0.0, 62.4, 62.4]), "{:?}", d[0][0].bbox);
}

#[test]
fn decode_threshold_edges_and_negative_outputs() {
    let l = YoloLayout::paper();
    let names = voc_class_names();
    let out = zero_output(&l, 1);
    // Score 0.5 · 0.5 = 0.25 exactly.
    set_box(&out, 0, 1, 1, 0, [0.5, 0.5, 0.5, 0.5, 0.5]);
    set_class(&out, &l, 0, 1, 1, 3, 0.5);
    assert_eq!(
        decode(&out, &l, &[(448.0, 448.0)], &opts(0.25, 0.5), &names).unwrap()[0].len(),
        0,
        "score = threshold is out"
    );
    let d = decode(&out, &l, &[(448.0, 448.0)], &opts(0.2499, 0.5), &names).unwrap();
    assert_eq!(d[0].len(), 1);
    assert_eq!(d[0][0].score, 0.25);
    // A negative confidence times a negative probability is not a positive score.
    let out = zero_output(&l, 1);
    set_box(&out, 0, 1, 1, 0, [0.5, 0.5, 0.5, 0.5, -0.9]);
    set_class(&out, &l, 0, 1, 1, 3, -0.9);
    assert!(decode(&out, &l, &[(448.0, 448.0)], &opts(0.2, 0.5), &names).unwrap()[0].is_empty());
}

#[test]
fn decode_per_class_nms_ties_and_order() {
    let l = YoloLayout::paper();
    let names = voc_class_names();
    let out = zero_output(&l, 1);
    // Cell (3, 3): two nearly identical boxes (IoU > 0.5) with equal confidence 0.8, dog (11)
    // 1.0 and cat (7) 0.5 in that cell. Per class NMS keeps box 0 (first in (row, col, b) order)
    // for dog (0.8) and for cat (0.4).
    set_box(&out, 0, 3, 3, 0, [0.5, 0.5, 0.5, 0.5, 0.8]);
    set_box(&out, 0, 3, 3, 1, [0.55, 0.5, 0.5, 0.5, 0.8]);
    set_class(&out, &l, 0, 3, 3, 11, 1.0);
    set_class(&out, &l, 0, 3, 3, 7, 0.5);
    // Cell (3, 4), box 0: overlapping box 0 of (3, 3) heavily but of class horse (12): kept.
    set_box(&out, 0, 3, 4, 0, [-0.45, 0.5, 0.5, 0.5, 0.6]);
    set_class(&out, &l, 0, 3, 4, 12, 1.0);
    // Cell (0, 6), box 0: a far dog with score 0.8 too, later in cell order than (3, 3).
    set_box(&out, 0, 0, 6, 0, [0.5, 0.5, 0.3, 0.3, 0.8]);
    set_class(&out, &l, 0, 0, 6, 11, 1.0);
    let d = decode(&out, &l, &[(448.0, 448.0)], &opts(0.2, 0.5), &names).unwrap();
    let got: Vec<(String, f32, [f32; 4])> = d[0].iter().map(|d| (d.class_name.clone(), d.score, d.bbox)).collect();
    let names_scores: Vec<(&str, f32)> = got.iter().map(|(n, s, _)| (n.as_str(), *s)).collect();
    assert_eq!(names_scores, [("dog", 0.8), ("dog", 0.8), ("horse", 0.6), ("cat", 0.4)], "{got:?}");
    // Equal scores in (row, col) order: (0, 6) comes before (3, 3)... row 0 < row 3.
    assert!(got[0].2[1] < 100.0 && got[1].2[1] > 100.0, "{got:?}");
    // The kept dog of cell (3, 3) is box 0: centred at 224.
    assert!(close(got[1].2, [168.0, 168.0, 280.0, 280.0]), "{:?}", got[1].2);
    assert!(close(got[3].2, [168.0, 168.0, 280.0, 280.0]), "{:?}", got[3].2);
    // An IoU threshold of 1 suppresses nothing: both boxes of both classes come back.
    assert_eq!(decode(&out, &l, &[(448.0, 448.0)], &opts(0.2, 1.0), &names).unwrap()[0].len(), 6);
    // max_detections keeps the best.
    let o = DecodeOptions { max_detections: Some(2), ..opts(0.2, 0.5) };
    assert_eq!(decode(&out, &l, &[(448.0, 448.0)], &o, &names).unwrap()[0].len(), 2);
    // Class names fall back to class<N>.
    let d = decode(&out, &l, &[(448.0, 448.0)], &opts(0.2, 0.5), &[]).unwrap();
    assert_eq!(d[0][0].class_name, "class11");
}

#[test]
fn decode_a_batch_with_different_sizes() {
    let l = YoloLayout { grid_size: 2, num_boxes: 1, num_classes: 2, sqrt_wh: true };
    let out = zero_output(&l, 2);
    // Image 0: cell (1, 0), centre (0.25, 0.75), w = h = 0.25; image 1: cell (0, 1), centre
    // (0.75, 0.25), w = 0.36, h = 0.16.
    set_box(&out, 0, 1, 0, 0, [0.5, 0.5, 0.5, 0.5, 1.0]);
    set_class(&out, &l, 0, 1, 0, 1, 0.9);
    set_box(&out, 1, 0, 1, 0, [0.5, 0.5, 0.6, 0.4, 1.0]);
    set_class(&out, &l, 1, 0, 1, 0, 0.7);
    let names = vec!["a".to_string(), "b".to_string()];
    let d = decode(&out, &l, &[(100.0, 200.0), (50.0, 100.0)], &opts(0.2, 0.5), &names).unwrap();
    assert_eq!(d[0].len(), 1);
    assert_eq!(d[0][0].class_name, "b");
    assert!(close(d[0][0].bbox, [12.5, 125.0, 37.5, 175.0]), "{:?}", d[0][0].bbox);
    assert_eq!(d[1][0].class_name, "a");
    assert!(close(d[1][0].bbox, [28.5, 17.0, 46.5, 33.0]), "{:?}", d[1][0].bbox);
}

// ----------------------------------------------------------------------------------------------
// Loss

fn loss_terms(l: &tchvision::detection::YoloLoss) -> [f64; 5] {
    [
        l.total.double_value(&[]),
        l.coord.double_value(&[]),
        l.object.double_value(&[]),
        l.no_object.double_value(&[]),
        l.class.double_value(&[]),
    ]
}

#[test]
fn loss_hand_computed() {
    // S = 2, B = 2, C = 2, √w/√h, λcoord 5, λnoobj 0.5. One object: [0, 0, 0.5, 0.5], class 1.
    // Its centre (0.25, 0.25) is in cell (0, 0), at (0.5, 0.5) of the cell; w = h = 0.5.
    let l = YoloLayout { grid_size: 2, num_boxes: 2, num_classes: 2, sqrt_wh: true };
    let target =
        encode_targets(&[vec![TargetBox { bbox: [0.0, 0.0, 0.5, 0.5], class_index: 1 }]], &l, Device::Cpu).unwrap();
    assert_eq!(
        Vec::<f32>::try_from(target.get(0).get(0).get(0)).unwrap(),
        [0.5, 0.5, 0.5, 0.5, 1.0, 0.0, 1.0],
        "x, y, w, h, object, one-hot"
    );
    let pred = Tensor::zeros([1, 2, 2, 12], (Kind::Double, Device::Cpu));
    // Cell (0, 0), box 0: centred on the object, √w = √h = 0.5 → [0.125, 0.375]², area
    // 0.0625, inside the object (area 0.25): IoU 0.25. Confidence 0.8.
    set_box(&pred, 0, 0, 0, 0, [0.5, 0.5, 0.5, 0.5, 0.8]);
    // Box 1: centred too, √w = √h = 0.6 → w = 0.36, area 0.1296: IoU 0.5184, the highest, so
    // box 1 is responsible. Confidence 0.3.
    set_box(&pred, 0, 0, 0, 1, [0.5, 0.5, 0.6, 0.6, 0.3]);
    // Class probabilities of cell (0, 0): [0.1, 0.7] against [0, 1].
    set(&pred, 0, 0, 0, 10, 0.1);
    set(&pred, 0, 0, 0, 11, 0.7);
    // Elsewhere: one confidence 0.2 (cell (1, 1), box 0), and junk that must not count:
    // coordinates and class probabilities of cells without objects.
    set_box(&pred, 0, 1, 1, 0, [0.3, 0.9, 0.7, 0.2, 0.2]);
    set(&pred, 0, 1, 0, 10, 0.9);
    set(&pred, 0, 0, 1, 11, 0.9);
    //   coord     = 5 · [(0.5 − 0.5)² + (0.5 − 0.5)² + 2 · (0.6 − √0.5)²]
    //   object    = (0.3 − 0.5184)²                 (target: the responsible box's IoU)
    //   no_object = 0.5 · (0.8² + 0.2²) = 0.34      (box 0 of the object's cell, and (1, 1))
    //   class     = 0.1² + (0.7 − 1)² = 0.10
    let coord = 5.0 * 2.0 * (0.6 - 0.5f64.sqrt()).powi(2);
    let object = (0.3f64 - 0.5184).powi(2);
    let (no_object, class) = (0.34, 0.10);
    let got = loss_terms(&yolo_v1_loss(&pred, &target, &l, &LossConfig::default()).unwrap());
    let want = [coord + object + no_object + class, coord, object, no_object, class];
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-9, "{got:?} != {want:?}");
    }
    assert!((want[0] - 0.602_417_185_76).abs() < 1e-9);
    // With a confidence target of 1: object = (0.3 − 1)² = 0.49.
    let cfg = LossConfig { confidence_target: ConfidenceTarget::One, ..Default::default() };
    let got = loss_terms(&yolo_v1_loss(&pred, &target, &l, &cfg).unwrap());
    assert!((got[2] - 0.49).abs() < 1e-12 && (got[0] - (coord + 0.49 + 0.34 + 0.10)).abs() < 1e-9, "{got:?}");
    // Averaged over a batch of two copies: the same numbers.
    let pred2 = Tensor::cat(&[&pred, &pred], 0);
    let target2 = Tensor::cat(&[&target, &target], 0);
    let cfg = LossConfig { average_over_batch: true, ..Default::default() };
    let got = loss_terms(&yolo_v1_loss(&pred2, &target2, &l, &cfg).unwrap());
    assert!((got[0] - want[0]).abs() < 1e-9);
}

#[test]
fn loss_when_no_predictor_overlaps() {
    // S = 2, B = 2, C = 1. Object [0, 0, 0.1, 0.1] in cell (0, 0): x = y = 0.1 of the cell,
    // w = h = 0.1. Neither predicted box overlaps it (IoU 0 both), so the closer one in
    // (cx, cy, w, h) is responsible: box 0 is centred at (0.45, 0.45), box 1 at (0.25, 0.25)
    // (both 0.01 wide): box 1.
    let l = YoloLayout { grid_size: 2, num_boxes: 2, num_classes: 1, sqrt_wh: true };
    let target =
        encode_targets(&[vec![TargetBox { bbox: [0.0, 0.0, 0.1, 0.1], class_index: 0 }]], &l, Device::Cpu).unwrap();
    let pred = Tensor::zeros([1, 2, 2, 11], (Kind::Double, Device::Cpu));
    set_box(&pred, 0, 0, 0, 0, [0.9, 0.9, 0.1, 0.1, 0.6]);
    set_box(&pred, 0, 0, 0, 1, [0.5, 0.5, 0.1, 0.1, 0.4]);
    set(&pred, 0, 0, 0, 10, 0.7);
    //   coord     = 5 · [(0.5 − 0.1)² · 2 + (0.1 − √0.1)² · 2]
    //   object    = (0.4 − 0)²  (its IoU is 0)
    //   no_object = 0.5 · 0.6²
    //   class     = (0.7 − 1)²
    let coord = 5.0 * (2.0 * 0.4f64.powi(2) + 2.0 * (0.1 - 0.1f64.sqrt()).powi(2));
    let want = [coord + 0.16 + 0.18 + 0.09, coord, 0.16, 0.18, 0.09];
    let got = loss_terms(&yolo_v1_loss(&pred, &target, &l, &LossConfig::default()).unwrap());
    for (g, w) in got.iter().zip(&want) {
        // The encoded target holds 0.1 as a float32.
        assert!((g - w).abs() < 1e-7, "{got:?} != {want:?}");
    }
}

#[test]
fn loss_matches_the_loop_reference() {
    let fx = common::json("yolo/loss.json");
    let pred = &common::tensors("yolo/loss.safetensors")["pred"];
    let targets: Vec<Vec<TargetBox>> = fx["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|img| {
            img.as_array()
                .unwrap()
                .iter()
                .map(|b| {
                    let v: Vec<f64> = b.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
                    TargetBox { bbox: [v[0], v[1], v[2], v[3]], class_index: v[4] as i64 }
                })
                .collect()
        })
        .collect();
    for (case, layout, cfg) in [
        ("paper", YoloLayout::paper(), LossConfig::default()),
        (
            "conf_one",
            YoloLayout::paper(),
            LossConfig { confidence_target: ConfidenceTarget::One, ..Default::default() },
        ),
        ("linear_wh", YoloLayout { sqrt_wh: false, ..YoloLayout::paper() }, LossConfig::default()),
    ] {
        let target = encode_targets(&targets, &layout, Device::Cpu).unwrap();
        let got = loss_terms(&yolo_v1_loss(pred, &target, &layout, &cfg).unwrap());
        let w = &fx["cases"][case];
        let want = ["total", "coord", "object", "no_object", "class"].map(|k| w[k].as_f64().unwrap());
        for (g, w) in got.iter().zip(&want) {
            // Targets are encoded in float32.
            assert!((g - w).abs() < 1e-5 * w.abs().max(1.0), "{case}: {got:?} != {want:?}");
        }
    }
}

#[test]
fn loss_gradients_and_errors() {
    let l = YoloLayout::paper();
    let pred = Tensor::rand([2, 7, 7, 30], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    let targets = vec![vec![TargetBox { bbox: [0.2, 0.2, 0.6, 0.9], class_index: 4 }], vec![]];
    let target = encode_targets(&targets, &l, Device::Cpu).unwrap();
    let loss = yolo_v1_loss(&pred, &target, &l, &LossConfig::default()).unwrap();
    loss.total.backward();
    let g = pred.grad();
    assert!(g.isfinite().all().int64_value(&[]) == 1);
    // An image without objects: only the no-object confidence terms have gradient.
    let g1 = g.get(1);
    let conf_mask = Tensor::zeros([30], (Kind::Bool, Device::Cpu));
    let _ = conf_mask.get(4).fill_(1);
    let _ = conf_mask.get(9).fill_(1);
    assert_eq!(g1.masked_select(&conf_mask.logical_not()).abs().max().double_value(&[]), 0.0);
    assert!(g1.masked_select(&conf_mask).abs().min().double_value(&[]) > 0.0);

    // Errors: boxes outside [0, 1], classes out of range, wrong target shape.
    for bad in [[0.5, 0.2, 0.4, 0.9], [-0.1, 0.2, 0.4, 0.9], [0.1, 0.2, 0.4, 1.5], [0.1, f64::NAN, 0.4, 0.9]] {
        assert!(encode_targets(&[vec![TargetBox { bbox: bad, class_index: 0 }]], &l, Device::Cpu).is_err(), "{bad:?}");
    }
    assert!(
        encode_targets(&[vec![TargetBox { bbox: [0.1, 0.1, 0.2, 0.2], class_index: 20 }]], &l, Device::Cpu).is_err()
    );
    let small = Tensor::zeros([2, 7, 7, 20], (Kind::Float, Device::Cpu));
    assert!(matches!(yolo_v1_loss(&pred, &small, &l, &LossConfig::default()), Err(Error::ShapeMismatch { .. })));

    // Two objects in one cell: the first is used. A centre on the right edge goes to the last
    // column.
    let t = encode_targets(
        &[vec![
            TargetBox { bbox: [0.0, 0.0, 0.2, 0.2], class_index: 1 },
            TargetBox { bbox: [0.05, 0.05, 0.15, 0.15], class_index: 2 },
            TargetBox { bbox: [1.0 - 1e-9, 0.0, 1.0, 0.1], class_index: 3 },
        ]],
        &l,
        Device::Cpu,
    )
    .unwrap();
    let cell = Vec::<f32>::try_from(t.get(0).get(0).get(0)).unwrap();
    assert_eq!(cell[5 + 1], 1.0);
    assert_eq!(cell[5 + 2], 0.0);
    assert!((cell[2] - 0.2).abs() < 1e-7);
    assert_eq!(t.get(0).get(0).get(6).double_value(&[4]), 1.0);
    assert_eq!(t.select(3, 4).sum(Kind::Float).double_value(&[]), 2.0);
}

// ----------------------------------------------------------------------------------------------
// Drawing

fn det(class_index: usize, name: &str, score: f32, bbox: [f32; 4]) -> Detection {
    Detection { class_index, class_name: name.into(), score, bbox }
}

fn px(img: &image::RgbImage, x: u32, y: u32) -> [u8; 3] {
    img.get_pixel(x, y).0
}

#[test]
fn draws_two_pixel_boxes_and_labels() {
    let mut img = image::RgbImage::new(100, 80);
    let d = det(0, "dog", 0.87, [10.0, 20.0, 60.0, 70.0]);
    draw_detections(&mut img, std::slice::from_ref(&d));
    let c = class_color(0);
    let black = [0, 0, 0];
    // Columns 10, 11 and 58, 59; rows 20, 21 and 68, 69.
    for (x, y, want) in [
        (10, 45, c),
        (11, 45, c),
        (12, 45, black),
        (59, 45, c),
        (58, 45, c),
        (57, 45, black),
        (60, 45, black),
        (35, 69, c),
        (35, 68, c),
        (35, 67, black),
        (35, 70, black),
        (35, 21, c),
        (35, 22, black),
        (35, 45, black),
    ] {
        assert_eq!(px(&img, x, y), want, "pixel ({x}, {y})");
    }
    // The label "dog 0.87" above the box: 8 glyphs of 5 + 1 gap = 47 × 7 pixels, 1 pixel of
    // padding: a 49 × 9 band at x 10..59, y 11..20, in the class colour with white text (the
    // colour is dark), as many text pixels as the glyphs have bits.
    assert_eq!(text_size("dog 0.87", 1), (47, 7));
    let ink = [255, 255, 255];
    let mut text_pixels = 0;
    for y in 11..20 {
        for x in 10..59 {
            let p = px(&img, x, y);
            assert!(p == c || p == ink, "({x}, {y}) = {p:?}");
            text_pixels += (p == ink) as u32;
        }
    }
    let bits: u32 = "dog 0.87".chars().map(|ch| glyph(ch).iter().map(|r| r.count_ones()).sum::<u32>()).sum();
    assert_eq!(text_pixels, bits);
    assert_eq!(px(&img, 59, 15), black, "the band ends after 49 pixels");
    assert_eq!(px(&img, 20, 10), black, "nothing above the band");

    // No room above: the label goes inside the box's top.
    let mut img = image::RgbImage::new(100, 80);
    draw_detections(&mut img, &[det(0, "dog", 0.87, [10.0, 2.0, 60.0, 70.0])]);
    assert_eq!(px(&img, 40, 8), c);
    // A box past the image is clipped, a box outside is skipped, no panic.
    let mut img = image::RgbImage::new(30, 30);
    draw_detections(
        &mut img,
        &[det(25, "x", 0.5, [-10.0, -10.0, 100.0, 100.0]), det(1, "y", 0.5, [40.0, 40.0, 50.0, 50.0])],
    );
    assert_eq!(px(&img, 0, 15), class_color(25));
    assert_eq!(px(&img, 29, 15), class_color(25));
}

#[test]
fn draws_on_tensors() {
    let img = Tensor::zeros([3, 80, 100], (Kind::Uint8, Device::Cpu));
    let d = det(3, "boat", 0.5, [10.0, 20.0, 60.0, 70.0]);
    let drawn = draw_detections_on_tensor(&img, std::slice::from_ref(&d)).unwrap();
    assert_eq!(drawn.size(), [3, 80, 100]);
    assert_eq!(drawn.kind(), Kind::Uint8);
    let mut reference = image::RgbImage::new(100, 80);
    draw_detections(&mut reference, &[d]);
    assert!(drawn.equal(&rgb_image_to_tensor(&reference).unwrap()));
    assert_eq!(img.sum(Kind::Int64).int64_value(&[]), 0, "the input is not changed");
    assert!(draw_detections_on_tensor(&Tensor::zeros([4, 8, 8], (Kind::Uint8, Device::Cpu)), &[]).is_err());
    assert!(draw_detections_on_tensor(&Tensor::zeros([3, 8, 8], (Kind::Float, Device::Cpu)), &[]).is_err());
}

#[test]
fn font_table() {
    let chars = "abcdefghijklmnopqrstuvwxyz0123456789 .";
    let mut seen = std::collections::HashSet::new();
    for ch in chars.chars() {
        let g = glyph(ch);
        assert!(g.iter().all(|r| *r < 32), "{ch}: 5 columns");
        assert!(seen.insert(g), "{ch}: a glyph of its own");
        assert_eq!(ch == ' ', g.iter().all(|r| *r == 0), "{ch}");
    }
    assert_eq!(glyph('D'), glyph('d'));
    assert_eq!(glyph('#'), glyph('?'));
    assert_ne!(class_color(0), class_color(1));
    assert_ne!(class_color(20), class_color(21));
}

// ----------------------------------------------------------------------------------------------
// detect_images

/// A small YOLO-v1 (input 64) whose output is the same for every input: conn_layer2's weight
/// is zeroed and its bias holds one dog (11) with score 0.9 at the image's centre, w = h = 0.25.
fn fixed_model(vs: &VarStore) -> YoloV1 {
    let model = YoloV1::new(&vs.root(), &YoloV1Config::paper().input_size(64).hidden(4)).unwrap();
    let l = model.config.layout();
    let out = zero_output(&l, 1);
    set_box(&out, 0, 3, 3, 0, [0.5, 0.5, 0.5, 0.5, 1.0]);
    set_class(&out, &l, 0, 3, 3, 11, 0.9);
    let fc = model.conn_layer2.get(0).unwrap();
    tch::no_grad(|| {
        let _ = fc.parameter("weight").unwrap().zero_();
        fc.parameter("bias").unwrap().copy_(&out.reshape([-1]));
    });
    model
}

#[test]
fn detect_images_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // RGB PNG 200×100, grayscale PNG, RGBA PNG, JPEG (all 200 × 100), and the same stem twice.
    let rgb = image::RgbImage::from_fn(200, 100, |x, y| image::Rgb([x as u8, y as u8, 100]));
    rgb.save(d.join("rgb.png")).unwrap();
    image::GrayImage::from_fn(200, 100, |x, _| image::Luma([x as u8])).save(d.join("gray.png")).unwrap();
    image::RgbaImage::from_fn(200, 100, |x, y| image::Rgba([x as u8, y as u8, 7, 128]))
        .save(d.join("rgba.png"))
        .unwrap();
    rgb.save(d.join("photo.jpg")).unwrap();
    std::fs::create_dir(d.join("other")).unwrap();
    rgb.save(d.join("other/rgb.png")).unwrap();
    let paths =
        [d.join("rgb.png"), d.join("gray.png"), d.join("rgba.png"), d.join("photo.jpg"), d.join("other/rgb.png")];
    let out = d.join("out");

    let vs = VarStore::new(Device::Cpu);
    let model = fixed_model(&vs);
    let res = detect_images(&model, &paths, 0.2, 0.5, &out).unwrap();
    assert_eq!(res.len(), 5);
    // Centre (0.5, 0.5), 0.25 of the image: [75, 37.5, 125, 62.5] in the original's pixels.
    for r in &res {
        assert_eq!(r.detections.len(), 1, "{}", r.image);
        let det = &r.detections[0];
        assert_eq!(det.class_name, "dog");
        assert!((det.score - 0.9).abs() < 1e-6);
        assert!(close(det.bbox, [75.0, 37.5, 125.0, 62.5]), "{:?}", det.bbox);
        assert_eq!((r.width, r.height), (200, 100));
        let drawn = image::open(&r.output).unwrap().to_rgb8();
        assert_eq!(drawn.dimensions(), (200, 100));
        assert_eq!(px(&drawn, 75, 50), class_color(11), "{}", r.output.display());
        assert_eq!(px(&drawn, 124, 50), class_color(11));
    }
    let names: Vec<String> = res.iter().map(|r| r.output.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["rgb.png", "gray.png", "rgba.png", "photo.png", "rgb_2.png"]);
    // Away from the drawing the pixels are the original's (PNG inputs are lossless).
    assert_eq!(px(&image::open(&res[0].output).unwrap().to_rgb8(), 5, 90), [5, 90, 100]);
    assert_eq!(px(&image::open(&res[1].output).unwrap().to_rgb8(), 5, 90), [5, 5, 5]);
    assert_eq!(px(&image::open(&res[2].output).unwrap().to_rgb8(), 5, 90), [5, 90, 7]);

    // JSON: [{"image", "detections": [{"class", "score", "box"}]}].
    let json = serde_json::to_value(&res).unwrap();
    let first = &json[0];
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(first), ["detections", "image"]);
    assert_eq!(first["image"], paths[0].display().to_string());
    assert_eq!(keys(&first["detections"][0]), ["box", "class", "score"]);
    let det = first["detections"][0].as_object().unwrap();
    assert_eq!(det["class"], "dog");
    assert_eq!(det["box"].as_array().unwrap().len(), 4);

    // A high threshold: no detections, the image is still written.
    let res = detect_images(&model, &paths[..1], 0.95, 0.5, &d.join("out2")).unwrap();
    assert!(res[0].detections.is_empty());
    assert!(d.join("out2/rgb.png").exists());
}

#[test]
fn detect_images_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let vs = VarStore::new(Device::Cpu);
    let model = fixed_model(&vs);
    let empty = d.join("empty.jpg");
    std::fs::write(&empty, b"").unwrap();
    let err = detect_images(&model, &[&empty], 0.2, 0.5, &d.join("out")).unwrap_err().to_string();
    assert!(err.contains("empty.jpg") && err.contains("empty"), "{err}");
    let garbage = d.join("garbage.png");
    std::fs::write(&garbage, b"not a png at all").unwrap();
    let err = detect_images(&model, &[&garbage], 0.2, 0.5, &d.join("out")).unwrap_err().to_string();
    assert!(err.contains("garbage.png"), "{err}");
    let err = detect_images(&model, &[d.join("missing.png")], 0.2, 0.5, &d.join("out")).unwrap_err().to_string();
    assert!(err.contains("missing.png"), "{err}");
    assert!(detect_images(&model, &[&empty], 0.2, 1.5, &d.join("out")).is_err());
    model.eval();
    assert!(!model.is_training());
}
