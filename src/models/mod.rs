//! Networks built from [`crate::nn`].
//!
//! * [`seed`]: the tutorial's first network (`Flatten` + the YOLO-v1 stem `Yolo_v1`).

pub mod seed;
