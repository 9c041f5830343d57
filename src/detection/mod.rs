//! Object detection with YOLO-v1 (Redmon, Divvala, Girshick and Farhadi 2016, "You Only Look
//! Once: Unified, Real-Time Object Detection", CVPR): everything around the networks of
//! [`crate::detection::yolo`].
//!
//! * [`boxes`]: box areas, IoU ([`box_iou`]) and conversions, with well-defined edge cases.
//! * [`nms`](mod@nms): greedy non-maximum suppression on tensors ([`nms()`], [`batched_nms`]), as
//!   torchvision's, with a documented tie rule.
//! * [`decode`](mod@decode): the output layout ([`YoloLayout`]) and [`decode()`]: scores, thresholds,
//!   per-class NMS, boxes in image pixels.
//! * [`loss`]: the paper's sum-squared-error loss, for fine-tuning.
//! * [`draw`]: boxes and labels drawn on an image with a built-in bitmap font.
//! * [`detect_images`]: files in, annotated PNGs and [`ImageDetections`] out (the `tchvision
//!   detect` command).
//!
//! ```
//! use tch::{Device, Kind, Tensor};
//! use tchvision::detection::{decode, DecodeOptions, YoloLayout, VOC_CLASSES};
//! let layout = YoloLayout::paper();
//! // One image; every number 0 except cell (row 3, col 3), box 0: centred, √w = √h = 0.5,
//! // confidence 0.9, and class 11 ("dog") with probability 1.
//! let out = Tensor::zeros([1, 7, 7, 30], (Kind::Float, Device::Cpu));
//! let cell = out.get(0).get(3).get(3);
//! for (k, v) in [(0, 0.5), (1, 0.5), (2, 0.5), (3, 0.5), (4, 0.9), (10 + 11, 1.0)] {
//!     cell.get(k).fill_(v);
//! }
//! let names: Vec<String> = VOC_CLASSES.iter().map(|s| s.to_string()).collect();
//! let dets = decode(&out, &layout, &[(448.0, 448.0)], &DecodeOptions::default(), &names)?;
//! assert_eq!(dets[0].len(), 1);
//! assert_eq!(dets[0][0].class_name, "dog");
//! assert_eq!(dets[0][0].bbox, [168.0, 168.0, 280.0, 280.0]); // 448·(0.5 ± 0.25/2)
//! # Ok::<(), tchvision::Error>(())
//! ```

pub mod boxes;
pub mod decode;
mod detect;
pub mod draw;
pub mod loss;
pub mod nms;
pub mod yolo;

pub use boxes::{box_area, box_iou, elementwise_box_iou};
pub use decode::{decode, DecodeOptions, YoloLayout};
pub use detect::{detect_images, detect_images_with, output_paths, ImageDetections};
pub use draw::{draw_detections, draw_detections_on_tensor};
pub use loss::{encode_targets, yolo_v1_loss, ConfidenceTarget, LossConfig, TargetBox, YoloLoss};
pub use nms::{batched_nms, nms};

use serde::Serialize;

/// The 20 PASCAL VOC classes, in the order of the VOC devkit (and of YOLO-v1's output).
pub const VOC_CLASSES: [&str; 20] = [
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
];

/// [`VOC_CLASSES`] as owned strings.
pub fn voc_class_names() -> Vec<String> {
    VOC_CLASSES.iter().map(|s| s.to_string()).collect()
}

/// `names[index]`, or `"class{index}"` where `names` has no entry.
pub fn class_name(names: &[String], index: usize) -> String {
    names.get(index).cloned().unwrap_or_else(|| format!("class{index}"))
}

/// One detected object. Serialised as JSON `{"class": "dog", "score": 0.87, "box": [x1, y1, x2,
/// y2]}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Detection {
    /// The class's index in the network's output.
    #[serde(skip)]
    pub class_index: usize,
    /// The class's name.
    #[serde(rename = "class")]
    pub class_name: String,
    /// The class-specific score, Pr(Class | Object) · confidence.
    pub score: f32,
    /// `[x1, y1, x2, y2]` in the image's pixels, clipped to the image (x in `[0, width]`, y in
    /// `[0, height]`).
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
}
