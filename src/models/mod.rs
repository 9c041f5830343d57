//! Networks built from [`crate::nn`].
//!
//! * [`seed`]: the tutorial's first network (`Flatten` + the YOLO-v1 stem `Yolo_v1`).
//! * [`resnet`]: torchvision's ResNet family.
//! * [`registry`]: every model by torchvision name.
//! * [`features`]: outputs of named nodes in one pass, and per-stage feature info.

pub mod features;
pub mod registry;
pub mod resnet;
pub mod seed;
